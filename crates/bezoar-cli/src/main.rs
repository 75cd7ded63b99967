//! `bezoar`: scan ML training datasets for data poisoning.

mod cli;
mod cli_gov;
mod cli_probe;
mod commands;
mod progress;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    restore_default_sigpipe();
    let cli = cli::Cli::parse();
    match commands::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", commands::error_message(&e));
            ExitCode::from(commands::EXIT_BAD_INPUT)
        }
    }
}

/// Rust ignores SIGPIPE, so printing into a closed pipe (`bezoar log | head`) would panic. A
/// command-line tool should end quietly instead, as `cat` does: restore the default action.
fn restore_default_sigpipe() {
    #[cfg(unix)]
    // SAFETY: called first thing in main, before any other thread exists; SIG_DFL is a valid
    // disposition for SIGPIPE.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
