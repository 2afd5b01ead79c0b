use std::process::ExitCode;

use clap::Parser;

// glibc's allocator spent more per request than the request journal's own work (free-list
// consolidation across workers); mimalloc, measured with bench/run, wins it back.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    mockrig::cli::run(mockrig::cli::Cli::parse())
}
