//! mockrig: a mock API server driven by one YAML file.
//!
//! # Layout
//!
//! Data flows one way: YAML → validated [`spec::Spec`] → compiled, immutable
//! [`runtime::Runtime`] → request handling in [`server`].
//!
//! - [`spec`]: the spec's types, loading with located errors (`diagnose`, `report`), semantic
//!   checks (`validate`) and the JSON Schema.
//! - [`router`]: path patterns and the segment tree that finds routes most specific first.
//! - [`matcher`]: `match:` conditions and why they failed.
//! - [`response`]: responses compiled once, sent many times; sequences, negotiation, faults.
//! - [`runtime`]: a spec compiled for serving; swapped whole on reload.
//! - [`server`]: actix-web with one default service over the current runtime.
//! - [`resources`]: stateful REST resources; their data lives outside the runtime.
//! - [`reload`]: watching the spec and swapping in a new runtime when it is saved.
//! - [`harness`]: [`MockServer`], mockrig inside `cargo test`.
//! - [`session`]: `X-Mockrig-Session`, a private copy of the data and journal per test.
//! - [`journal`]: the last requests answered, for verification in tests.
//! - [`admin`]: mockrig's own endpoints under `/__mockrig/`.
//! - [`template`]: templated JSON and text, compiled once per runtime, and the functions and
//!   fake data templates call.
//! - [`progress`]: answer counts (sequences) and scenario states, per session, across reloads.
//! - [`cors`]: cross-origin requests from browsers.
//! - [`channels`]: WebSocket and SSE channels, their connections and pushes.
//! - [`tls`]: HTTPS with rustls, from PEM files or a certificate made at start.
//! - [`files`]: keeping every served file inside its folder.
//! - [`logs`]: the pretty and JSON log formats.
//! - [`cli`]: the command line; `main.rs` only calls [`cli::run`].

pub mod admin;
pub mod channels;
pub mod cli;
pub mod cors;
pub mod files;
pub mod harness;
pub mod journal;
pub mod logs;
pub mod matcher;
pub mod progress;
pub mod reload;
pub mod resources;
pub mod response;
pub mod router;
pub mod runtime;
pub mod server;
pub mod session;
pub mod spec;
pub mod template;
pub mod tls;

pub use harness::MockServer;

// The README's Rust examples are compiled as doctests, so they follow the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
pub use server::{Background, Limits, ServeConfig, Server, StartError};
