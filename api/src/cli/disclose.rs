//! `gridproof disclose`: the disclosure bundle of one site, made without the service from
//! `prove`'s private output and proofs file, sealed to a regulator's public key.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use clap::Args;
use gridproof_prover::disclosure::{
    seal, BundleBinding, DisclosureBundle, RegulatorPublicKey, TxHash,
};
use gridproof_prover::private_output::PrivateOutput;
use gridproof_prover::ProofsFile;

use super::files::{ensure_absent, write_secret};
use super::{parse_u64, CliError};

/// Default validity of a bundle made on the command line, in days.
const DEFAULT_EXPIRES_IN_DAYS: u64 = 30;

/// Options of `disclose`.
#[derive(Debug, Args)]
pub struct DiscloseArgs {
    /// The private output that `gridproof prove` wrote beside its proofs file (SECRET).
    #[arg(long, value_name = "PRIVATE.json")]
    pub private: PathBuf,
    /// The proofs file of the same `prove` run. Default: beside --private, PROOFS.json for
    /// PROOFS.private.json.
    #[arg(long, value_name = "PROOFS.json")]
    pub proofs: Option<PathBuf>,
    /// The site to disclose.
    #[arg(long, value_name = "ID", value_parser = parse_u64)]
    pub site: u64,
    /// The regulator's X25519 public key, 64 hex characters (`gridproof regulator keygen`).
    #[arg(long, value_name = "PUBHEX")]
    pub regulator_key: String,
    /// Where to write the sealed bundle (BUNDLE file).
    #[arg(long, value_name = "BUNDLE")]
    pub out: PathBuf,
    /// When the disclosure expires, unix seconds.
    #[arg(long, value_name = "UNIX", value_parser = parse_u64, conflicts_with = "expires_in")]
    pub expires_at: Option<u64>,
    /// When the disclosure expires, in days from now (default 30).
    #[arg(long, value_name = "DAYS", value_parser = parse_u64)]
    pub expires_in: Option<u64>,
    /// The disclosure's id (bound to the bundle). Default: local-<epoch>-<site>-<unix time>.
    #[arg(long, value_name = "ID")]
    pub disclosure_id: Option<String>,
    /// The transaction that published the site's batch, if any (0x + 64 hex).
    #[arg(long, value_name = "0xHASH")]
    pub tx_hash: Option<String>,
    /// Replace an existing --out.
    #[arg(long)]
    pub force: bool,
}

/// The proofs file beside a private output named by `default_private_output_path`'s
/// convention (`X.private.json` -> `X.json`), if the name follows it.
pub fn proofs_beside(private: &Path) -> Option<PathBuf> {
    let name = private.file_name()?.to_str()?;
    let stem = name.strip_suffix(".private.json")?;
    Some(private.with_file_name(format!("{stem}.json")))
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Runs `disclose`: writes the BUNDLE file and prints a summary (no location) on stdout.
pub fn run(args: &DiscloseArgs) -> Result<(), CliError> {
    let regulator = RegulatorPublicKey::from_hex(&args.regulator_key)
        .map_err(|e| CliError::Input(format!("--regulator-key: {e}")))?;
    let tx_hash = args
        .tx_hash
        .as_deref()
        .map(str::parse::<TxHash>)
        .transpose()
        .map_err(|e| CliError::Input(format!("--tx-hash: {e}")))?;
    let proofs_path = match &args.proofs {
        Some(p) => p.clone(),
        None => proofs_beside(&args.private).ok_or_else(|| {
            CliError::Input(format!(
                "give --proofs: {} is not named PROOFS.private.json, so its proofs file cannot \
                 be found beside it",
                args.private.display()
            ))
        })?,
    };
    if args.out == args.private || args.out == proofs_path {
        return Err(CliError::Input(
            "--out must not replace the private output or the proofs file".into(),
        ));
    }
    ensure_absent(&args.out, args.force)?;
    let now = now_unix();
    let expires_at = match (args.expires_at, args.expires_in) {
        (Some(at), _) => at,
        (None, days) => days
            .unwrap_or(DEFAULT_EXPIRES_IN_DAYS)
            .checked_mul(86_400)
            .and_then(|s| s.checked_add(now))
            .ok_or_else(|| CliError::Input("--expires-in is too large".into()))?,
    };
    if expires_at <= now {
        return Err(CliError::Input(format!(
            "the disclosure would already have expired (expires at {expires_at}, now {now})"
        )));
    }

    let private = PrivateOutput::read(&args.private)?;
    let proofs = ProofsFile::read(&proofs_path)?;
    if proofs.epoch != private.epoch {
        return Err(CliError::Input(format!(
            "{} is for epoch {}, {} for epoch {}",
            proofs_path.display(),
            proofs.epoch,
            args.private.display(),
            private.epoch
        )));
    }
    let site = private
        .sites
        .iter()
        .find(|s| s.site_id == args.site)
        .ok_or_else(|| {
            CliError::Input(format!(
                "site {} is not in {} (epoch {})",
                args.site,
                args.private.display(),
                private.epoch
            ))
        })?;
    let batch = proofs
        .batches
        .iter()
        .find(|b| b.batch_index == site.batch_index)
        .ok_or_else(|| {
            CliError::Input(format!(
                "{} has no batch {}, the batch of site {}",
                proofs_path.display(),
                site.batch_index,
                args.site
            ))
        })?;
    let bundle = DisclosureBundle::from_private_output(&private, batch, tx_hash, args.site)?;
    let binding = BundleBinding {
        disclosure_id: args
            .disclosure_id
            .clone()
            .unwrap_or_else(|| format!("local-{}-{}-{now}", private.epoch, args.site)),
        site_id: args.site,
        epoch: private.epoch,
        expires_at,
    };
    let sealed = seal(&bundle, &binding, &regulator)?;
    write_secret(&args.out, &sealed)?;
    println!(
        "{}",
        serde_json::json!({
            "bundle": args.out.display().to_string(),
            "bytes": sealed.len(),
            "disclosure_id": binding.disclosure_id,
            "site_id": binding.site_id,
            "epoch": binding.epoch,
            "batch_index": bundle.batch.batch_index,
            "expires_at": binding.expires_at,
            "regulator_key": regulator.to_hex(),
        })
    );
    eprintln!(
        "disclose: site {} of epoch {} sealed to regulator key {} in {}",
        binding.site_id,
        binding.epoch,
        regulator,
        args.out.display()
    );
    Ok(())
}

/// `gridproof verify --disclosure`: opens the bundle with the regulator's key, matches it
/// against the proofs file or the chain (or says plainly it did not), checks every link, prints
/// the site's data and one line per check (or JSON with timings), and fails naming the first
/// broken link.
pub fn verify_disclosure(
    args: &super::verify::VerifyArgs,
    bundle_path: &Path,
) -> Result<(), CliError> {
    use gridproof_prover::disclosure::{
        check, open, Check, DisclosureVerifier, Outcome, PublicRecord,
    };
    use gridproof_prover::fs::{read_bounded, BoundedReadError};
    use gridproof_prover::{load_verifying_key, read_manifest};
    use std::time::Instant;

    let key_path = args.regulator_key.as_ref().ok_or_else(|| {
        CliError::Input(
            "--disclosure needs --regulator-key KEYFILE (the regulator's secret key)".into(),
        )
    })?;
    let loading = Instant::now();
    let manifest = read_manifest(&args.keys)?;
    if let Some(warning) = manifest.provenance.warning() {
        eprintln!("note: {warning}");
    }
    let (shape, vk) = load_verifying_key(&args.keys)?;
    let verifier = DisclosureVerifier::new(shape, &vk);
    let secret = gridproof_prover::disclosure::RegulatorSecretKey::read(key_path)?;
    let keys_ms = ms(loading);

    let started = Instant::now();
    let bytes =
        read_bounded(bundle_path, gridproof_prover::disclosure::MAX_BUNDLE_BYTES).map_err(|e| {
            match e {
                BoundedReadError::Io(source) => CliError::Io {
                    action: "read",
                    path: bundle_path.to_path_buf(),
                    source,
                },
                BoundedReadError::TooLarge { size, limit } => CliError::Input(format!(
                    "{} is {size} bytes, more than the {limit} bytes of any bundle",
                    bundle_path.display()
                )),
            }
        })?;
    let (binding, bundle) = open(&bytes, &secret)?;
    let open_ms = ms(started);

    let fetching = Instant::now();
    let proofs;
    let chain;
    // A chain that cannot be read (no contract at --oracle, not a RevenueOracle, endpoint down)
    // is a broken "public record" link: every other link is still checked and listed.
    let mut unreadable = None;
    let public = match (&args.proofs, &args.rpc_url, &args.oracle) {
        (Some(path), _, _) => {
            proofs = ProofsFile::read(path)?;
            Some(PublicRecord::ProofsFile(&proofs))
        }
        (None, Some(url), Some(oracle)) => {
            let oracle: alloy::primitives::Address = oracle
                .parse()
                .map_err(|e| CliError::Input(format!("--oracle: not an address: {e}")))?;
            let rt = super::serve::runtime()?;
            match rt.block_on(crate::chain::read::read_oracle_batch(
                url,
                oracle,
                bundle.epoch,
                bundle.batch.batch_index,
            )) {
                Ok(read) => {
                    chain = read;
                    Some(PublicRecord::Chain(&chain))
                }
                Err(e) => {
                    unreadable = Some(format!(
                        "cannot read batch {} of epoch {} from RevenueOracle {oracle}: {e}",
                        bundle.batch.batch_index, bundle.epoch
                    ));
                    None
                }
            }
        }
        _ => None,
    };
    let record_ms = ms(fetching);

    let checking = Instant::now();
    let mut report = check(&bundle, &binding, &verifier, public, now_unix());
    if let Some(why) = unreadable {
        for r in &mut report.results {
            if r.check == Check::PublicRecord {
                r.outcome = Outcome::Failed(why.clone());
            }
        }
    }
    let check_ms = ms(checking);
    let after_keys_ms = ms(started);

    let status = |o: &Outcome| match o {
        Outcome::Passed(d) => ("ok", d.clone()),
        Outcome::Failed(d) => ("FAILED", d.clone()),
        Outcome::NotChecked(d) => ("NOT CHECKED", d.clone()),
    };
    let site = &bundle.site;
    if args.json {
        let checks: Vec<serde_json::Value> = report
            .results
            .iter()
            .map(|r| {
                let (s, detail) = status(&r.outcome);
                serde_json::json!({ "check": r.check.name(), "status": s, "detail": detail })
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "binding": binding,
                "bundle": bundle,
                "passed": report.passed(),
                "checks": checks,
                "timings_ms": {
                    "load_keys": keys_ms,
                    "open": open_ms,
                    "public_record": record_ms,
                    "check": check_ms,
                    "after_keys": after_keys_ms,
                },
            }))
            .expect("a JSON value serializes")
        );
    } else {
        let loc = &site.location;
        println!(
            "disclosure {}: site {} of epoch {}, batch {} (position {}, registry leaf {}); \
             expires at {} (unix)",
            binding.disclosure_id,
            site.site_id,
            bundle.epoch,
            bundle.batch.batch_index,
            bundle.readings_path.index,
            bundle.registry_path.index,
            binding.expires_at
        );
        println!(
            "  location: {}, {} ({})",
            microdeg(loc.latitude_microdeg),
            microdeg(loc.longitude_microdeg),
            loc.region
        );
        println!("  capacity: {} W", site.capacity_w);
        println!(
            "  tariff (uUSD/kWh per slot): {}",
            join(&site.prices_uusd_per_kwh)
        );
        println!(
            "  readings (Wh per {} s): {}",
            bundle.interval_seconds,
            join(&site.readings_wh)
        );
        println!(
            "  energy: {} Wh, revenue: {} nUSD",
            site.energy_wh, site.revenue_nusd
        );
        println!(
            "  transaction: {}",
            bundle
                .batch
                .tx_hash
                .map(|t| t.to_string())
                .unwrap_or_else(|| "not published (none in the bundle)".into())
        );
        for r in &report.results {
            let (s, detail) = status(&r.outcome);
            println!("{s:<11} {}: {detail}", r.check.name());
        }
    }
    eprintln!(
        "verify: keys loaded in {keys_ms:.1} ms; then opened in {open_ms:.1} ms, public record \
         in {record_ms:.1} ms, checked in {check_ms:.1} ms ({after_keys_ms:.1} ms after the keys)"
    );
    if let Some(first) = report.first_failure() {
        let failed = report
            .results
            .iter()
            .filter(|r| matches!(r.outcome, Outcome::Failed(_)))
            .count();
        return Err(CliError::DisclosureRejected {
            check: first.check.name(),
            reason: status(&first.outcome).1,
            failed,
        });
    }
    Ok(())
}

fn ms(since: std::time::Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}

fn join(values: &[u32]) -> String {
    values
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Millionths of a degree as a decimal number of degrees.
fn microdeg(v: i64) -> String {
    let sign = if v < 0 { "-" } else { "" };
    let a = v.unsigned_abs();
    format!("{sign}{}.{:06}", a / 1_000_000, a % 1_000_000)
}
