//! The `mockrig` binary: the command line, all of it in the library.

fn main() -> std::process::ExitCode {
    mockrig::run_cli()
}
