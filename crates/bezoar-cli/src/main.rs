//! `bezoar`: scan ML training datasets for data poisoning.

mod cli;
mod cli_gov;
mod commands;
mod progress;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match commands::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", commands::error_message(&e));
            ExitCode::from(commands::EXIT_BAD_INPUT)
        }
    }
}
