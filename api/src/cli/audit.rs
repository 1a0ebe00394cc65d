//! `gridproof audit`: `keygen` writes the service's head-signing key; `verify` checks a running
//! service's audit log against a head kept from an earlier run and the head anchored on
//! RevenueOracle (docs/audit-log.md).

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::files::{
    ensure_absent, pretty_json, read_to_string, write_atomically, PUBLIC_FILE_MODE,
};
use super::serve::runtime;
use super::CliError;
use crate::audit::verify::{verify_log, VerifyOptions};
use crate::audit::wire::TreeHeadView;
use crate::audit::AuditKey;

/// `gridproof audit ...`.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Write a new Ed25519 key for signing the audit log's heads (mode 0600) and print its
    /// public key (64 hex) on stdout. Give it to `serve --audit-key FILE`.
    Keygen(KeygenArgs),
    /// Check a service's audit log: the current head's signature and key, its consistency with
    /// an older head (--since) and with the head anchored on-chain (--rpc-url, --oracle), every
    /// entry, and the inclusion proofs of the new entries. Exits non-zero naming the check that
    /// failed.
    Verify(VerifyArgs),
}

/// Options of `gridproof audit keygen`.
#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Where to write the key (64 hex characters of the seed, mode 0600).
    #[arg(long)]
    pub out: PathBuf,
}

/// Options of `gridproof audit verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The service, e.g. http://127.0.0.1:8080.
    #[arg(long)]
    pub url: String,
    /// A head kept from an earlier run (the JSON of GET /v1/audit/head). Without it the current
    /// head's key is trusted on first use and no consistency is checked.
    #[arg(long, value_name = "HEAD.json")]
    pub since: Option<PathBuf>,
    /// A bearer token of any role. Prefer the environment variable to the command line.
    #[arg(long, env = "GRIDPROOF_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// The public key heads must be signed with (64 hex; default: the key of --since).
    #[arg(long)]
    pub public_key: Option<String>,
    /// Write the verified current head here for next time (may be the --since file). Without
    /// it, the head is printed on stdout after the checks.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Inclusion proofs to fetch and check for the newest entries since --since (the root is
    /// recomputed from every entry in any case).
    #[arg(long, default_value_t = 1000)]
    pub inclusion_proofs: u64,
    /// JSON-RPC endpoint of the chain: also check the head anchored on RevenueOracle (its
    /// signature with the service's key, and that the current log extends it).
    #[arg(long, value_name = "URL", requires = "oracle")]
    pub rpc_url: Option<String>,
    /// With --rpc-url: the RevenueOracle address.
    #[arg(long, value_name = "ADDR", requires = "rpc_url")]
    pub oracle: Option<String>,
}

/// Runs an `audit` subcommand.
pub fn run(command: AuditCommand) -> Result<(), CliError> {
    match command {
        AuditCommand::Keygen(args) => keygen(&args),
        AuditCommand::Verify(args) => verify(&args),
    }
}

fn keygen(args: &KeygenArgs) -> Result<(), CliError> {
    ensure_absent(&args.out, false)?;
    let key = AuditKey::create_file(&args.out)?;
    eprintln!(
        "wrote the audit key to {} (mode 0600; keep it out of the database and backups of it)",
        args.out.display()
    );
    println!("{}", key.public_key_hex());
    Ok(())
}

fn verify(args: &VerifyArgs) -> Result<(), CliError> {
    let since = match &args.since {
        Some(path) => {
            let text = read_to_string(path)?;
            let head: TreeHeadView = serde_json::from_str(&text).map_err(|e| {
                CliError::Input(format!(
                    "{} is not a head of GET /v1/audit/head: {e}",
                    path.display()
                ))
            })?;
            Some(head)
        }
        None => None,
    };
    let public_key = match &args.public_key {
        Some(hex_key) => {
            Some(crate::audit::wire::parse_hash(hex_key, "--public-key").map_err(CliError::Input)?)
        }
        None => None,
    };
    let oracle = match &args.oracle {
        Some(text) => Some(
            text.parse::<alloy::primitives::Address>()
                .map_err(|e| CliError::Input(format!("--oracle: not an address: {e}")))?,
        ),
        None => None,
    };
    let rt = runtime()?;
    let on_chain = match (&args.rpc_url, oracle) {
        (Some(url), Some(oracle)) => {
            match rt.block_on(crate::chain::read_audit_head(url, oracle)) {
                Ok(head) => Some(head),
                Err(e) => {
                    let detail = format!("cannot read RevenueOracle {oracle} at {url}: {e}");
                    println!("FAIL  on-chain head: {detail}");
                    return Err(crate::audit::verify::AuditVerifyError::Fetch {
                        what: "the on-chain audit head".into(),
                        detail,
                    }
                    .into());
                }
            }
        }
        _ => None,
    };
    let options = VerifyOptions {
        url: args.url.clone(),
        token: args.token.clone(),
        since,
        public_key,
        inclusion_proofs: args.inclusion_proofs,
        on_chain,
    };
    let head = rt.block_on(verify_log(&options, |check| {
        println!("ok    {}: {}", check.name, check.detail);
    }));
    let head = match head {
        Ok(head) => head,
        Err(e) => {
            if let crate::audit::verify::AuditVerifyError::Failed { check, detail } = &e {
                println!("FAIL  {check}: {detail}");
            }
            return Err(e.into());
        }
    };
    match &args.out {
        Some(path) => {
            write_atomically(path, pretty_json(&head).as_bytes(), PUBLIC_FILE_MODE)?;
            println!(
                "the verified head of {} entries is in {}",
                head.tree_size,
                path.display()
            );
        }
        None => println!("{}", pretty_json(&head).trim_end()),
    }
    Ok(())
}
