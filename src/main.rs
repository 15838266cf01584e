//! The `vault` binary: parse, run, map the error to an exit code.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = vault::cli::Cli::parse();
    match vault::cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vault: {}", vault::sanitize_message(&e.to_string()));
            ExitCode::from(e.exit_code() as u8)
        }
    }
}
