use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    mockrig::cli::run(mockrig::cli::Cli::parse())
}
