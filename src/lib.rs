//! mockrig: a mock API server driven by one YAML file.
//!
//! Use it from the command line (`mockrig serve api.yaml`), or inside `cargo test` through
//! [`MockServer`]. The rest of this page is the map of the code.
//!
//! # Layout
//!
//! Data flows one way: YAML → [`spec::Spec`] → one compile pass → an immutable compiled spec,
//! swapped whole on reload → the request pipeline. Five layers, each importing only from the
//! layers before it in this list (a test, `tests/it/architecture.rs`, checks it, and that no
//! files import each other in a cycle; `docs/architecture.md` draws the paths):
//!
//! 1. **leaf**: `error` (the one HTTP error type, `ApiError`), `files` (paths
//!    kept inside a folder), `duration`, `hash`, `random` (per-answer generators for
//!    `--seed`), `suggest` (did-you-mean), `sync` (locks that outlive a panic).
//! 2. **spec**: [`spec`]: the types, loading with every problem located, the JSON Schema.
//! 3. **model**: `model` (the one compile pass: router, conditions, compiled responses,
//!    channels, resources, CORS, cross-item checks and warnings) and `template` (compiled
//!    minijinja templates and the functions they call).
//! 4. **engine**: `engine`: what answering takes beyond the model, and the state that
//!    outlives a reload beside it: resource data, open connections, answer counts and
//!    scenario states, the request journal, sessions; finding a route, explaining a miss,
//!    rendering a response, CORS decisions.
//! 5. **app**: `app`: the request pipeline (`pipeline`, one module per action under
//!    `actions`), the admin API, the live spec and reload, startup, the command line, and
//!    [`MockServer`].
//!
//! Everything below the public surface is `pub(crate)`: [`MockServer`], [`Server`],
//! [`ServeConfig`], [`Limits`], [`StartError`], [`TlsSource`], [`check_file`], [`VerifyError`], the
//! [`spec`] types and [`run_cli`] are what a user of the crate sees.

#![warn(missing_docs)]

mod app;
mod duration;
mod engine;
mod error;
mod files;
mod hash;
mod model;
mod random;
pub mod spec;
mod suggest;
mod sync;
mod template;

pub use app::check::{Checked, check_file, check_text};
pub use app::config::{Limits, ServeConfig};
pub use app::harness::{MockServer, VerifyError};
pub use app::server::{Server, StartError};
pub use app::tls::TlsSource;
pub use engine::recording::RecordOptions;
pub use engine::upstream::client::UpstreamTls;

/// The `mockrig` command line, as the binary runs it: parses the arguments of this process and
/// returns its exit code.
pub fn run_cli() -> std::process::ExitCode {
    use clap::Parser;
    app::cli::run(app::cli::Cli::parse())
}

// The README's Rust examples are compiled as doctests, so they follow the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
