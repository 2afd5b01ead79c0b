//! Stateful resources: records that POST, PUT, PATCH and DELETE change. The data lives here, beside
//! the compiled spec rather than in it, so a reload keeps it: `data` is one resource's records
//! (each kept as its JSON text, `record`), `store` holds them behind a lock, `stores` all of them
//! across reloads, `wal` the state file and its write-ahead log, `query` json-server's list
//! parameters, `computed` the ids and fields the spec has the server set on writes, and `ops` what
//! each REST endpoint does.

pub(crate) mod change;
pub(crate) mod computed;
mod copy;
pub(crate) mod data;
mod group_commit;
pub(crate) mod index;
pub(crate) mod ops;
pub(crate) mod query;
pub(crate) mod record;
pub(crate) mod redis;
pub(crate) mod store;
pub(crate) mod stores;
pub(crate) mod wal;
