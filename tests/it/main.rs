//! mockrig's integration tests, as one binary so the suite links once: each module is a
//! feature, talking to a mock started on 127.0.0.1:0 over real sockets with real clients.

mod admin;
mod architecture;
mod browser;
mod channels;
mod cli;
mod common;
mod computed;
mod contract;
mod dashboard;
mod dynamic;
mod hardening;
mod harness;
mod http;
mod include;
mod init;
mod journal;
mod json_server;
mod json_server_suite;
mod long_poll;
mod matching;
mod memory;
mod openapi;
mod persistence;
mod prism;
mod properties;
mod proxy;
mod readme;
mod reload;
mod resources;
mod schema_and_examples;
mod security;
mod sessions;
mod static_files;
mod stubs;
mod todo_example;
