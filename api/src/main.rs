//! The `gridproof` binary: parses the command line and runs it (see `gridproof --help`).

use std::process::ExitCode;

use clap::Parser;
use gridproof_api::cli::{run, Cli};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).map_err(anyhow::Error::from) {
        Ok(code) => code,
        Err(error) => {
            // Every CliError message already includes its cause; print it once.
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
