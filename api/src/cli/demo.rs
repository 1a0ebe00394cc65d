//! `gridproof demo`: the whole pipeline on a local chain in one command. Sets up (or reuses)
//! development keys, simulates a realistic epoch for sites in Illinois and Massachusetts, proves
//! it with `prove`'s code, starts anvil on 127.0.0.1 (unless `--rpc-url` names a chain), compiles
//! and deploys the verifier of these keys with RevenueOracle, a mock GRID and SGridVault, opens the
//! epoch, submits every batch, shows the epoch final, funds and releases the investors' yield.
//!
//! Progress goes to stderr; stdout gets a short report, or with `--json` the summary (chain id,
//! addresses, per batch its public inputs, transaction, calldata and gas, the epoch's state, the
//! yield). Anvil, when started here, is killed on exit, also on error.

use std::path::{Path, PathBuf};
use std::time::Instant;

use alloy::primitives::utils::format_units;
use alloy::primitives::U256;
use clap::Args;
use gridproof_circuits::statement::{BatchCircuit, BatchShape};
use gridproof_prover::batch::DEFAULT_MIN_SITES_PER_BATCH;
use gridproof_prover::ProofsFile;

use super::export_verifier::ExportVerifierArgs;
use super::prove::ProveArgs;
use super::setup::SetupArgs;
use super::simulate::{seed_bytes, simulate, SimulationParams};
use super::{parse_count, parse_u64, CliError};
use crate::chain::{
    batch_words, toolchain, Anvil, Chain, ChainError, EpochOpening, TempDir, VaultParams,
    ANVIL_DEV_PRIVATE_KEY,
};

/// Options of `demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// A JSON-RPC endpoint to use instead of starting anvil (e.g. an anvil you started).
    #[arg(long, value_name = "URL", requires = "private_key")]
    pub rpc_url: Option<String>,
    /// The deployer's and submitter's private key (hex) for --rpc-url; it becomes the
    /// contracts' admin and registrar. Default with the demo's own anvil: anvil's first dev key.
    #[arg(
        long,
        value_name = "KEY",
        env = "GRIDPROOF_PRIVATE_KEY",
        hide_env_values = true
    )]
    pub private_key: Option<String>,
    /// Print a JSON summary on stdout instead of the report.
    #[arg(long)]
    pub json: bool,
    /// Sites to simulate (spread over IL and MA).
    #[arg(long, default_value_t = 12, value_parser = parse_count)]
    pub sites: usize,
    /// S: sites per batch (a power of two).
    #[arg(long, default_value_t = 4, value_parser = parse_count)]
    pub sites_per_batch: usize,
    /// T: hourly readings per site.
    #[arg(long, default_value_t = 24, value_parser = parse_count)]
    pub readings_per_site: usize,
    /// The epoch (days since 1970-01-01; 20300 is 2025-07-31).
    #[arg(long, default_value_t = 20300, value_parser = parse_u64)]
    pub epoch: u64,
    /// Seed of the simulation (the same seed gives the same readings).
    #[arg(long, default_value = "demo")]
    pub seed: String,
    /// Where development keys are cached between runs. Default: $GRIDPROOF_CACHE_DIR, else
    /// $XDG_CACHE_HOME/gridproof, else ~/.cache/gridproof.
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// The Foundry project with the npm toolchain (default: verifier-contract/ of this checkout,
    /// or $GRIDPROOF_CONTRACTS_DIR). `npm ci` runs there if node_modules is missing.
    #[arg(long, value_name = "DIR")]
    pub contracts_dir: Option<PathBuf>,
}

/// Where keys are cached: the option, $GRIDPROOF_CACHE_DIR, $XDG_CACHE_HOME/gridproof,
/// ~/.cache/gridproof, else the temporary directory.
fn cache_root(option: &Option<PathBuf>) -> PathBuf {
    if let Some(dir) = option {
        return dir.clone();
    }
    let env = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(dir) = env("GRIDPROOF_CACHE_DIR") {
        return PathBuf::from(dir);
    }
    if let Some(dir) = env("XDG_CACHE_HOME") {
        return PathBuf::from(dir).join("gridproof");
    }
    if let Some(home) = env("HOME") {
        return PathBuf::from(home).join(".cache/gridproof");
    }
    std::env::temp_dir().join("gridproof-cache")
}

/// Progress on stderr: a numbered step with the time since the start.
struct Progress {
    started: Instant,
    step: usize,
}

impl Progress {
    const STEPS: usize = 10;

    fn step(&mut self, what: &str) {
        self.step += 1;
        eprintln!(
            "demo [{}/{}] {what} (at {:.1} s)",
            self.step,
            Self::STEPS,
            self.started.elapsed().as_secs_f64()
        );
    }

    fn note(&self, what: &str) {
        eprintln!("demo       {what}");
    }
}

fn chain_err(e: ChainError) -> CliError {
    CliError::Chain(e)
}

/// Keys for `shape` from the cache, made (with `setup`'s code) if absent or stale. The cache
/// key is the shape and a hash of the circuit's constraint system (`circuit_digest`): any change
/// of the circuit's code that changes a constraint makes new keys.
fn cached_keys(shape: &BatchShape, cache: &Path, progress: &Progress) -> Result<PathBuf, CliError> {
    let (constraints, digest) = gridproof_prover::keys::circuit_digest(BatchCircuit::blank(*shape))
        .map_err(|e| CliError::Input(format!("cannot synthesize the circuit: {e}")))?;
    let dir = cache.join("demo-keys").join(format!(
        "s{}-t{}-p{}-c{constraints}-{}",
        shape.sites,
        shape.readings_per_site,
        shape.price_slots,
        hex::encode(&digest[..8])
    ));
    let usable = gridproof_prover::read_shape(&dir)
        .map(|(s, m)| s == *shape && m.num_constraints == constraints as u64)
        .unwrap_or(false)
        && dir.join(gridproof_prover::keys::PROVING_KEY_FILE).is_file();
    if usable {
        progress.note(&format!("reusing development keys {}", dir.display()));
        return Ok(dir);
    }
    std::fs::create_dir_all(cache.join("demo-keys")).map_err(|source| CliError::Io {
        action: "create",
        path: cache.join("demo-keys"),
        source,
    })?;
    progress.note(&format!(
        "making development keys ({constraints} constraints) into {}",
        dir.display()
    ));
    let force = dir.join(gridproof_prover::keys::MANIFEST_FILE).is_file();
    super::setup::make_keys(&SetupArgs {
        sites: shape.sites,
        readings_per_site: shape.readings_per_site,
        price_slots: shape.price_slots,
        out: dir.clone(),
        force,
    })?;
    Ok(dir)
}

/// Runs `demo`.
pub fn run(args: &DemoArgs) -> Result<(), CliError> {
    let mut progress = Progress {
        started: Instant::now(),
        step: 0,
    };
    let shape = BatchShape::new(
        args.sites_per_batch,
        args.readings_per_site,
        BatchShape::DEFAULT_PRICE_SLOTS,
    )?;
    let contracts_dir = args
        .contracts_dir
        .clone()
        .unwrap_or_else(toolchain::default_contracts_dir);
    let work = TempDir::new("demo").map_err(chain_err)?;

    progress.step(&format!(
        "development keys for S = {} sites x T = {} hourly readings",
        shape.sites, shape.readings_per_site
    ));
    let keys = cached_keys(&shape, &cache_root(&args.cache_dir), &progress)?;

    progress.step(&format!(
        "simulating epoch {} for {} sites in Illinois and Massachusetts (seed {:?})",
        args.epoch, args.sites, args.seed
    ));
    let sim = simulate(
        &SimulationParams {
            sites: args.sites,
            epoch: args.epoch,
            interval_seconds: 3600,
            readings_per_site: args.readings_per_site,
        },
        seed_bytes(&args.seed),
    )?;
    let batch_path = work.path().join("batch.json");
    std::fs::write(&batch_path, sim.batch.to_json_pretty()).map_err(|source| CliError::Io {
        action: "write",
        path: batch_path.clone(),
        source,
    })?;

    progress.step("proving every batch (gridproof prove)");
    let proofs_path = work.path().join("proofs.json");
    super::prove::prove_to_files(&ProveArgs {
        keys: keys.clone(),
        batch: batch_path,
        out: proofs_path.clone(),
        private_out: None,
        min_sites_per_batch: DEFAULT_MIN_SITES_PER_BATCH,
        dry_run: false,
        force: true,
        witness_dir: None,
        msm: Default::default(),
    })?;
    let proofs = ProofsFile::read(&proofs_path)?;

    progress.step("generating and compiling the verifier of these keys (forge + solc-js from npm)");
    toolchain::ensure_npm_toolchain(&contracts_dir).map_err(chain_err)?;
    let verifier_path = work.path().join("Groth16Verifier.sol");
    super::export_verifier::run(&ExportVerifierArgs {
        keys: keys.clone(),
        out: verifier_path.clone(),
        force: true,
    })?;
    let source = std::fs::read_to_string(&verifier_path).map_err(|source| CliError::Io {
        action: "read",
        path: verifier_path.clone(),
        source,
    })?;
    let verifier_code = toolchain::compile_verifier(&contracts_dir, &source).map_err(chain_err)?;

    // Declared before the runtime so that it is dropped (killed) after everything using it.
    let anvil;
    let (rpc_url, private_key, chain_label) = match &args.rpc_url {
        Some(url) => {
            progress.step(&format!("using the chain at {url}"));
            let key = args.private_key.clone().ok_or_else(|| {
                CliError::Input("--rpc-url needs --private-key (or GRIDPROOF_PRIVATE_KEY)".into())
            })?;
            (url.clone(), key, url.clone())
        }
        None => {
            progress.step("starting anvil on 127.0.0.1");
            anvil = Anvil::start(&contracts_dir).map_err(chain_err)?;
            let url = anvil.endpoint();
            progress.note(&format!("anvil listening on {url}"));
            let key = args
                .private_key
                .clone()
                .unwrap_or_else(|| ANVIL_DEV_PRIVATE_KEY.to_string());
            (
                url.clone(),
                key,
                format!("anvil started by the demo ({url})"),
            )
        }
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|source| CliError::Io {
            action: "start",
            path: PathBuf::from("the async runtime"),
            source,
        })?;
    let summary = runtime.block_on(publish(
        &mut progress,
        &rpc_url,
        &private_key,
        &chain_label,
        verifier_code,
        &proofs,
    ))?;
    let total = progress.started.elapsed().as_secs_f64();
    eprintln!("demo: done in {total:.1} s");
    if args.json {
        let mut summary = summary;
        summary["wall_seconds"] = serde_json::json!((total * 10.0).round() / 10.0);
        println!(
            "{}",
            serde_json::to_string_pretty(&summary).expect("a JSON value always serializes")
        );
    } else {
        print_report(&summary);
    }
    Ok(())
}

fn decimal(v: U256) -> serde_json::Value {
    serde_json::Value::String(v.to_string())
}

fn grid(v: U256) -> String {
    format_units(v, 18).unwrap_or_else(|_| v.to_string())
}

/// Deploys, opens the epoch, submits every batch, funds and releases the yield; returns the
/// `--json` summary.
async fn publish(
    progress: &mut Progress,
    rpc_url: &str,
    private_key: &str,
    chain_label: &str,
    verifier_code: alloy::primitives::Bytes,
    proofs: &ProofsFile,
) -> Result<serde_json::Value, CliError> {
    let chain = Chain::connect(rpc_url, private_key)
        .await
        .map_err(chain_err)?;
    progress.note(&format!(
        "chain id {}, sender {}",
        chain.chain_id(),
        chain.sender()
    ));

    progress.step("deploying Groth16Verifier, RevenueOracle, MockGRID, SGridVault");
    let params = VaultParams::default();
    let d = chain
        .deploy(verifier_code, &params)
        .await
        .map_err(chain_err)?;
    progress.note(&format!(
        "verifier {}, oracle {}, GRID {}, vault {}",
        d.verifier, d.oracle, d.grid, d.vault
    ));
    // Investors: 10,000 GRID in the vault before the epoch's yield arrives.
    let deposit = U256::from(10_000u64) * U256::from(10u64).pow(U256::from(18u64));
    chain.deposit(&d, deposit).await.map_err(chain_err)?;
    let (assets_before, price_before) = chain.share_price(&d).await.map_err(chain_err)?;

    let words = proofs
        .batches
        .iter()
        .map(batch_words)
        .collect::<Result<Vec<_>, _>>()
        .map_err(chain_err)?;
    let first = words
        .first()
        .ok_or_else(|| CliError::Input("the proofs file has no batch".into()))?;
    let batch_count =
        u32::try_from(words.len()).map_err(|_| CliError::Input("too many batches".into()))?;
    let opening = EpochOpening::from_inputs(&first.0, batch_count).map_err(chain_err)?;
    progress.step(&format!(
        "opening epoch {} ({} batches) as registrar",
        opening.epoch, batch_count
    ));
    let opened = chain
        .open_epoch(d.oracle, &opening)
        .await
        .map_err(chain_err)?;

    progress.step(&format!("submitting {batch_count} batch proofs"));
    let mut batches = Vec::new();
    for (i, (inputs, proof)) in words.iter().enumerate() {
        let s = chain
            .submit_batch(d.oracle, *inputs, *proof)
            .await
            .map_err(chain_err)?;
        progress.note(&format!(
            "batch {}/{batch_count} accepted: {} Wh, {} nano-USD, gas {}, tx {}{}",
            i + 1,
            s.total_energy_wh,
            s.total_revenue_nusd,
            s.tx.gas_used,
            s.tx.tx_hash,
            if s.finalized.is_some() {
                " -> epoch final"
            } else {
                ""
            }
        ));
        let named: serde_json::Map<String, serde_json::Value> =
            gridproof_circuits::statement::PublicInputs::NAMES
                .iter()
                .zip(inputs.iter())
                .map(|(name, v)| (name.to_string(), decimal(*v)))
                .collect();
        batches.push(serde_json::json!({
            "batch_index": proofs.batches[i].batch_index,
            "public_inputs": named,
            "tx_hash": s.tx.tx_hash,
            "block_number": s.tx.block_number,
            "gas_used": s.tx.gas_used,
            "calldata": s.calldata,
            "finalized_epoch": s.finalized.is_some(),
        }));
    }
    let totals = chain
        .epoch_totals(d.oracle, opening.epoch)
        .await
        .map_err(chain_err)?;
    progress.step(&format!(
        "epoch {} final: {} ({} of {} batches): {} Wh, {} nano-USD (${:.2})",
        opening.epoch,
        totals.is_final,
        totals.batches_accepted,
        totals.batch_count,
        totals.total_energy_wh,
        totals.total_revenue_nusd,
        u128::try_from(totals.total_revenue_nusd).map_or(f64::NAN, |v| v as f64) / 1e9
    ));

    progress.step(&format!(
        "funding and releasing the investors' yield ({} bps of verified revenue)",
        params.investor_share_bps
    ));
    let release = chain
        .fund_and_release(&d, opening.epoch)
        .await
        .map_err(chain_err)?;
    let (assets_after, price_after) = chain.share_price(&d).await.map_err(chain_err)?;
    progress.note(&format!(
        "released {} GRID, streamed into the share price until unix time {}",
        grid(release.amount_grid_wei),
        release.stream_end
    ));

    Ok(serde_json::json!({
        "chain": chain_label,
        "chain_id": chain.chain_id(),
        "sender": chain.sender(),
        "contracts": {
            "verifier": d.verifier,
            "revenue_oracle": d.oracle,
            "grid": d.grid,
            "sgrid_vault": d.vault,
            "deployment_gas": d.transactions.iter().map(|t| t.gas_used).collect::<Vec<_>>(),
        },
        "epoch": {
            "epoch": decimal(opening.epoch),
            "registry_root": decimal(opening.registry_root),
            "schedule_hash": decimal(opening.schedule_hash),
            "interval_seconds": opening.interval_seconds,
            "batch_count": opening.batch_count,
            "open_tx_hash": opened.tx_hash,
            "open_gas_used": opened.gas_used,
        },
        "batches": batches,
        "epoch_state": {
            "is_final": totals.is_final,
            "batches_accepted": decimal(totals.batches_accepted),
            "batch_count": decimal(totals.batch_count),
            "total_energy_wh": decimal(totals.total_energy_wh),
            "total_revenue_nusd": decimal(totals.total_revenue_nusd),
        },
        "yield": {
            "investor_share_bps": params.investor_share_bps,
            "released_grid_wei": decimal(release.amount_grid_wei),
            "released_grid": grid(release.amount_grid_wei),
            "stream_end_unix": release.stream_end,
            "fund_tx_hash": release.funded.tx_hash,
            "release_tx_hash": release.released.tx_hash,
            "release_gas_used": release.released.gas_used,
            "vault_assets_before_grid_wei": decimal(assets_before),
            "vault_assets_after_grid_wei": decimal(assets_after),
            "share_price_before_grid_wei": decimal(price_before),
            "share_price_after_grid_wei": decimal(price_after),
        },
    }))
}

/// The report printed without `--json`.
fn print_report(s: &serde_json::Value) {
    let text = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    println!(
        "gridproof demo on {} (chain id {})",
        text(&s["chain"]),
        s["chain_id"]
    );
    println!(
        "  contracts: verifier {}, RevenueOracle {}, GRID {}, sGRID vault {}",
        text(&s["contracts"]["verifier"]),
        text(&s["contracts"]["revenue_oracle"]),
        text(&s["contracts"]["grid"]),
        text(&s["contracts"]["sgrid_vault"])
    );
    if let Some(batches) = s["batches"].as_array() {
        for b in batches {
            println!(
                "  batch {}: {} Wh, {} nano-USD; gas {}; tx {}",
                b["batch_index"],
                text(&b["public_inputs"]["total_energy_wh"]),
                text(&b["public_inputs"]["total_revenue_nusd"]),
                b["gas_used"],
                text(&b["tx_hash"])
            );
        }
    }
    println!(
        "  epoch {}: final {}, {} Wh, {} nano-USD",
        text(&s["epoch"]["epoch"]),
        s["epoch_state"]["is_final"],
        text(&s["epoch_state"]["total_energy_wh"]),
        text(&s["epoch_state"]["total_revenue_nusd"])
    );
    println!(
        "  yield released: {} GRID ({} bps of the verified revenue), streaming until unix time {}",
        text(&s["yield"]["released_grid"]),
        s["yield"]["investor_share_bps"],
        s["yield"]["stream_end_unix"]
    );
    println!("  (--json prints the full summary: public inputs, calldata, transactions)");
}
