//! `gridproof regulator keygen`: a regulator's X25519 key pair for disclosure bundles.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use gridproof_prover::disclosure::RegulatorSecretKey;

use super::files::ensure_absent;
use super::CliError;

/// Regulator commands.
#[derive(Debug, Subcommand)]
pub enum RegulatorCommand {
    /// Make an X25519 key pair: the secret key goes to --out (mode 0600), the public key (64
    /// hex characters, to register with the service or give to `gridproof disclose`) to stdout.
    Keygen(KeygenArgs),
}

/// Options of `regulator keygen`.
#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Where to write the secret key (64 hex characters; mode 0600).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Replace an existing key file (the bundles sealed to the old key can no longer be opened).
    #[arg(long)]
    pub force: bool,
}

/// Runs a `regulator` subcommand.
pub fn run(command: RegulatorCommand) -> Result<(), CliError> {
    match command {
        RegulatorCommand::Keygen(args) => {
            ensure_absent(&args.out, args.force)?;
            let secret = RegulatorSecretKey::generate();
            secret.write(&args.out)?;
            println!("{}", secret.public_key());
            eprintln!(
                "regulator keygen: secret key written to {} (mode 0600); the public key above is \
                 what bundles are sealed to",
                args.out.display()
            );
            Ok(())
        }
    }
}
