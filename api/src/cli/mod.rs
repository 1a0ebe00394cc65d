//! The `gridproof` command line: argument definitions (clap derive) and the code behind each
//! command. `main.rs` only parses and calls [`run`]; everything here is testable as a library.
//!
//! Conventions: results go to stdout, progress and warnings to stderr; every failure is a
//! [`CliError`] whose message names the file, the site or the batch and the reason, and the
//! process exits with status 1 (2 for a usage error reported by clap). Files are written
//! atomically (temporary file, fsync, rename); secret ones with mode 0600.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub mod audit;
pub mod bench;
mod bench_peer;
pub mod ceremony;
pub mod circuit;
pub mod demo;
pub mod disclose;
pub mod export_verifier;
pub mod files;
pub mod keys;
pub mod meter;
pub mod proof;
pub mod prove;
pub mod regulator;
pub mod serve;
pub mod setup;
pub mod simulate;
pub mod token;
pub mod verify;
pub mod worker;

/// Proofs of renewable revenue that reveal no single site: Groth16 (BN254) proofs of each
/// batch's total energy and revenue, from meter-signed readings.
#[derive(Debug, Parser)]
#[command(
    name = "gridproof",
    version,
    about = "Zero-knowledge proofs of renewable energy revenue per batch of sites",
    long_about = "gridproof proves, for each batch of S registered sites, the total energy and \
revenue of one epoch from meter-signed readings, revealing nothing about any single site \
(Groth16 on BN254). Typical use:\n\n  \
gridproof setup --sites 4 --readings-per-site 24 --out keys\n  \
gridproof meter simulate --sites 8 --epoch 20300 --seed demo --out batch.json\n  \
gridproof prove --keys keys --batch batch.json --out proofs.json\n  \
gridproof verify --keys keys --proofs proofs.json",
    after_help = "Run `gridproof <command> --help` for each command's options."
)]
pub struct Cli {
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands of the binary.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Make development Groth16 keys for S sites x T readings (single-party setup: the person
    /// who runs it could forge proofs; for development and tests only).
    Setup(setup::SetupArgs),
    /// Validate a batch file v1 and prove each batch of its sites; writes the proofs file and a
    /// secret private output (salts, leaves, locations) for later disclosure.
    Prove(prove::ProveArgs),
    /// Verify every batch proof of a proofs file with the verifying key; exit 0 only if all
    /// verify.
    Verify(verify::VerifyArgs),
    /// Test meters: make keys, sign readings (compatible with circomlibjs), simulate an epoch.
    #[command(subcommand)]
    Meter(meter::MeterCommand),
    /// Measure constraints, proving and verifying time, key sizes and memory for one shape.
    Bench(bench::BenchArgs),
    /// Write the Solidity Groth16 verifier of a key directory (generated from the repository's
    /// template; rejects public inputs >= r and malformed proofs).
    ExportVerifier(export_verifier::ExportVerifierArgs),
    /// The whole pipeline through the service on a local chain: dev keys (cached), a simulated
    /// epoch of sites in IL and MA, anvil and the contracts, the service in this process (API,
    /// proving worker, publisher) fed by its clients over HTTP, the epoch proved and final
    /// on-chain, and the investors' yield, step by step.
    Demo(demo::DemoArgs),
    /// Key directories: import the final .zkey of a snarkjs phase-2 ceremony, show a key
    /// directory's shape and provenance.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Phase-2 ceremony tools (CEREMONY.md); `ceremony insecure-ptau` writes an INSECURE,
    /// TEST-ONLY powers-of-tau file from a known seed.
    #[command(subcommand)]
    Ceremony(ceremony::CeremonyCommand),
    /// The statement's constraint system in iden3's .r1cs format, for snarkjs' phase-2
    /// ceremony and rapidsnark (docs/iden3.md).
    #[command(subcommand)]
    Circuit(circuit::CircuitCommand),
    /// Convert a batch proof of a proofs file to snarkjs' proof.json and public.json.
    #[command(subcommand)]
    Proof(proof::ProofCommand),
    /// The attestation service's HTTP API (docs/service-api.md) over the store of DATABASE_URL,
    /// until SIGINT or SIGTERM.
    Serve(serve::ServeArgs),
    /// API tokens: `token create --role admin|operator|regulator|protocol` prints a secret once.
    #[command(subcommand)]
    Token(token::TokenCommand),
    /// Proving workers of the service: plan closed epochs and prove their batches as jobs of
    /// the database's queue (DATABASE_URL; several workers and machines may share it).
    Worker(worker::WorkerArgs),
    /// Regulators: `regulator keygen` makes the X25519 key pair that disclosure bundles are
    /// sealed to.
    #[command(subcommand)]
    Regulator(regulator::RegulatorCommand),
    /// Seal one site's disclosure bundle (docs/disclosure.md) to a regulator's public key, from
    /// `prove`'s private output and proofs file; `verify --disclosure` opens and checks it.
    Disclose(disclose::DiscloseArgs),
    /// The tamper-evident audit log: `audit keygen` makes the head-signing key, `audit verify`
    /// checks a service's log against a head kept from last time.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
}

/// Why a command failed. Each message is complete on its own (it includes its cause).
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A file could not be read or written.
    #[error("cannot {action} {path}: {source}")]
    Io {
        /// "read", "write", ...
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The reason.
        #[source]
        source: std::io::Error,
    },
    /// An output exists and `--force` was not given.
    #[error("{0} already exists; pass --force to replace it")]
    Exists(PathBuf),
    /// A command-line value or small input file is malformed.
    #[error("{0}")]
    Input(String),
    /// The batch file is not batch file v1.
    #[error(transparent)]
    BatchFile(#[from] gridproof_prover::batch::BatchFileError),
    /// The batch file does not pass validation; every problem is listed.
    #[error(transparent)]
    Validation(#[from] gridproof_prover::batch::ValidationErrors),
    /// The epoch could not be placed in the registry.
    #[error("cannot prepare the epoch: {0}")]
    Epoch(#[from] gridproof_prover::epoch::EpochError),
    /// The shape requested is not a valid statement shape.
    #[error("invalid shape: {0}")]
    Shape(#[from] gridproof_circuits::statement::StatementError),
    /// The keys could not be made, loaded or saved.
    #[error("keys: {0}")]
    Keys(#[from] gridproof_prover::KeysError),
    /// A ceremony's zkey could not be imported.
    #[error("keys import: {0}")]
    Import(#[from] gridproof_prover::ImportError),
    /// Proving a batch failed.
    #[error("batch {batch_index}: {source}")]
    Prove {
        /// The batch.
        batch_index: u64,
        /// Why.
        #[source]
        source: gridproof_prover::ProveError,
    },
    /// The proofs file is malformed.
    #[error("proofs file: {0}")]
    ProofsFile(#[from] gridproof_prover::ProofsFileError),
    /// An iden3 file (.r1cs, .wtns) or a snarkjs JSON file could not be written or read.
    #[error("{}: {source}", path.display())]
    Iden3 {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        #[source]
        source: gridproof_prover::iden3::Iden3Error,
    },
    /// The proofs file does not fit the verifying key.
    #[error("verify: {0}")]
    Verify(#[from] gridproof_prover::VerifyError),
    /// Some batches did not verify (each was listed on stdout).
    #[error("{failed} of {total} batch proof(s) did not verify")]
    VerificationFailed {
        /// Batches that failed.
        failed: usize,
        /// Batches in the file.
        total: usize,
    },
    /// The benchmark failed.
    #[error("bench: {0}")]
    Bench(#[from] gridproof_prover::BenchError),
    /// The private output could not be written.
    #[error("private output: {0}")]
    PrivateOutput(#[from] gridproof_prover::private_output::PrivateOutputError),
    /// `prove` could not rename one of its two outputs into place. The private output is renamed
    /// first, so either nothing was written or only the private output was.
    #[error(
        "cannot write {}: {source}; {}",
        failed.display(),
        match written {
            None => "nothing was written".to_string(),
            Some(written) => format!(
                "{} WAS written but belongs to no proofs file (anything at {} is from an \
                 earlier run and does not match it); run prove again",
                written.display(),
                failed.display()
            ),
        }
    )]
    OutputsIncomplete {
        /// The file that could not be renamed into place.
        failed: PathBuf,
        /// The file that was renamed into place before, if any.
        written: Option<PathBuf>,
        /// The reason.
        #[source]
        source: std::io::Error,
    },
    /// An on-chain step of `demo` failed (revert reasons decoded).
    #[error("on-chain: {0}")]
    Chain(#[from] crate::chain::ChainError),
    /// A directory could not be replaced (`setup --force`); the message says where the old and
    /// the new one are.
    #[error("cannot replace the key directory: {0}")]
    ReplaceDir(#[from] gridproof_prover::fs::ReplaceDirError),
    /// `serve` or `token` failed (store, location key, socket).
    #[error("{0}")]
    Service(#[from] serve::ServiceError),
    /// The proving workers could not run.
    #[error("worker: {0}")]
    Worker(#[from] crate::worker::WorkerError),
    /// A disclosure bundle could not be made, sealed or opened, or a regulator key read.
    #[error("disclosure: {0}")]
    Disclosure(#[from] gridproof_prover::disclosure::DisclosureError),
    /// A disclosure bundle opened, but a link of its chain is broken: the first one is named
    /// (every check was listed on stdout).
    #[error("disclosure REJECTED: {check} failed: {reason} ({failed} check(s) failed)")]
    DisclosureRejected {
        /// The first broken link.
        check: &'static str,
        /// Why it is broken.
        reason: String,
        /// Number of failed checks.
        failed: usize,
    },
    /// The audit key could not be made or loaded.
    #[error("audit key: {0}")]
    AuditKey(#[from] crate::audit::AuditKeyError),
    /// `audit verify` could not fetch the log or a check failed (named in the message).
    #[error("audit verify: {0}")]
    AuditVerify(#[from] crate::audit::verify::AuditVerifyError),
    /// `demo`'s clients or the service it runs failed.
    #[error("demo: {0}")]
    Demo(#[from] demo::DemoError),
}

/// Runs one parsed command line.
pub fn run(cli: Cli) -> Result<ExitCode, CliError> {
    match cli.command {
        Command::Setup(args) => setup::run(&args),
        Command::Prove(args) => prove::run(&args),
        Command::Verify(args) => verify::run(&args),
        Command::Meter(command) => meter::run(command),
        Command::Bench(args) => bench::run(&args),
        Command::ExportVerifier(args) => export_verifier::run(&args),
        Command::Demo(args) => demo::run(&args),
        Command::Keys(command) => keys::run(command),
        Command::Ceremony(command) => ceremony::run(command),
        Command::Circuit(command) => circuit::run(command),
        Command::Proof(command) => proof::run(command),
        Command::Serve(args) => serve::run(&args),
        Command::Token(command) => token::run(command),
        Command::Worker(args) => worker::run(&args),
        Command::Regulator(command) => regulator::run(command),
        Command::Disclose(args) => disclose::run(&args),
        Command::Audit(command) => audit::run(command),
    }?;
    Ok(ExitCode::SUCCESS)
}

/// clap value parser: a canonical unsigned decimal of at most 64 bits.
pub(crate) fn parse_u64(s: &str) -> Result<u64, String> {
    gridproof_circuits::encoding::parse_uint(s, 64).map_err(|e| e.to_string())
}

/// clap value parser: an interval length in seconds, 1..=2^32-1.
pub(crate) fn parse_interval_seconds(s: &str) -> Result<u32, String> {
    let v = gridproof_circuits::encoding::parse_uint(s, 32).map_err(|e| e.to_string())?;
    if v == 0 {
        return Err("must be at least 1 second".to_string());
    }
    Ok(v as u32)
}

/// clap value parser: a positive count (sites, readings) up to 2^32-1.
pub(crate) fn parse_count(s: &str) -> Result<usize, String> {
    let v = gridproof_circuits::encoding::parse_uint(s, 32).map_err(|e| e.to_string())?;
    if v == 0 {
        return Err("must be at least 1".to_string());
    }
    usize::try_from(v).map_err(|_| "too large for this machine".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn value_parsers_are_strict() {
        assert_eq!(parse_u64("20300"), Ok(20300));
        assert!(parse_u64("-1").is_err());
        assert!(parse_u64("01").is_err());
        assert!(parse_interval_seconds("0").is_err());
        assert!(parse_interval_seconds("4294967296").is_err());
        assert_eq!(parse_interval_seconds("900"), Ok(900));
        assert!(parse_count("0").is_err());
    }
}
