//! The application: the request pipeline (`pipeline`, one module per step and per action),
//! the admin API (`admin`), the live spec and how it changes (`live`, `reload`, `watch`,
//! and `shared`: what replicas sharing state through Redis read before routing),
//! startup (`server`, `config`, `tls`, `transport`: the guard on each connection,
//! following its requests with `head_watch`), the command line (`cli`, `check`, `init`, `logs`) and
//! mockrig inside a test (`harness`, `background`).

pub(crate) mod actions;
pub(crate) mod admin;
pub(crate) mod background;
pub(crate) mod changes;
pub(crate) mod check;
pub(crate) mod cli;
pub(crate) mod config;
pub(crate) mod context;
pub(crate) mod harness;
pub(crate) mod head_watch;
pub(crate) mod import;
pub(crate) mod init;
pub(crate) mod limits;
pub(crate) mod live;
pub(crate) mod logs;
pub(crate) mod outcome;
pub(crate) mod pipeline;
pub(crate) mod record;
pub(crate) mod reload;
pub(crate) mod server;
pub(crate) mod shared;
pub(crate) mod state;
pub(crate) mod tls;
pub(crate) mod transport;
pub(crate) mod watch;
