//! `gridproof demo`: the whole pipeline through the attestation service in one command:
//! meters -> API -> jobs -> proofs -> chain -> yield.
//!
//! Sets up (or reuses) development keys, simulates a realistic epoch for sites in Illinois and
//! Massachusetts, compiles the verifier of these keys, starts anvil on 127.0.0.1 (unless
//! `--rpc-url` names a chain) and deploys it with RevenueOracle, a mock GRID and SGridVault.
//! Then it starts the service in this process, with the code `gridproof serve` runs
//! ([`super::serve::start_service`]: the API, a proving worker with the development keys, the
//! publisher against the deployed oracle) on an ephemeral port of 127.0.0.1 over SQLite in a
//! temporary folder, and acts as its clients over real HTTP: the admin opens the epoch, the
//! operator registers the simulated installations and submits each meter's signed readings, the
//! admin closes the epoch and follows `GET /v1/epochs/{epoch}` while the worker proves its
//! batches as jobs and the publisher puts them on-chain, until the epoch is `final`. Last, the
//! investors' yield is funded and released.
//!
//! Progress goes to stderr (with the service's warnings and errors; `RUST_LOG` shows more);
//! stdout gets a short report, or with `--json` the summary (chain id, addresses, per batch its
//! public inputs, transaction, calldata and gas, the epoch's state, the yield). The service and
//! anvil, when started here, are stopped on exit, also on error; the temporary folder is
//! removed unless `--keep DIR` names where the database is to stay.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use alloy::primitives::utils::format_units;
use alloy::primitives::{B256, U256};
use alloy::providers::Provider;
use alloy::rpc::types::Filter;
use alloy::sol_types::SolEvent;
use clap::Args;
use gridproof_circuits::statement::{BatchCircuit, BatchShape, PublicInputs};
use gridproof_prover::batch::BatchFile;

use super::export_verifier::ExportVerifierArgs;
use super::serve::{start_service, RunningService, ServiceError};
use super::setup::SetupArgs;
use super::simulate::{seed_bytes, simulate, SimulationParams};
use super::{parse_count, parse_u64, CliError};
use crate::chain::bindings::RevenueOracle;
use crate::chain::{
    toolchain, Anvil, Chain, ChainError, Deployment, EpochOpening, TempDir, VaultParams,
    ANVIL_DEV_PRIVATE_KEY,
};
use crate::http::wire::{
    BatchView, EpochView, InstallationBody, LocationBody, OpenEpochBody, ReadingBody, SignatureBody,
};
use crate::http::{AppState, HttpConfig};
use crate::publisher::{Publisher, PublisherConfig};
use crate::store::{LocationCipher, Role, Store, StoreOptions};
use crate::worker::WorkerConfig;

/// How long the demo follows an epoch to `final` before it gives up.
const FOLLOW_TIMEOUT: Duration = Duration::from_secs(15 * 60);

/// How often the demo asks the service about the epoch (and the worker and publisher poll).
const POLL: Duration = Duration::from_millis(200);

/// Options of `demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// A JSON-RPC endpoint to use instead of starting anvil (e.g. an anvil you started).
    #[arg(long, value_name = "URL", requires = "private_key")]
    pub rpc_url: Option<String>,
    /// The deployer's and publisher's private key (hex) for --rpc-url; it becomes the
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
    /// Keep the service's SQLite database (`DIR/gridproof.db`) and its location key
    /// (`DIR/location.key`) in DIR instead of a temporary folder removed at the end; DIR must
    /// not hold a database yet. `gridproof serve --database-url DIR/gridproof.db
    /// --location-key-file DIR/location.key` opens it again.
    #[arg(long, value_name = "DIR")]
    pub keep: Option<PathBuf>,
}

/// Why the demo's service steps failed (the on-chain ones are [`ChainError`]s).
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// A request did not reach the service or its answer could not be read.
    #[error("{step}: {source}")]
    Http {
        /// What the demo was doing.
        step: String,
        /// The client's error.
        #[source]
        source: reqwest::Error,
    },
    /// The service refused a request (its RFC 9457 problem is quoted).
    #[error("{step}: the service answered {status}: {problem}")]
    Refused {
        /// What the demo was doing.
        step: String,
        /// The HTTP status.
        status: u16,
        /// The body of the answer.
        problem: String,
    },
    /// An answer of the service is not what its API describes.
    #[error("{step}: unexpected answer: {what}")]
    Unexpected {
        /// What the demo was doing.
        step: String,
        /// What is wrong.
        what: String,
    },
    /// The service failed the epoch (a job failed for good).
    #[error("epoch {epoch} failed in the service: {error}")]
    EpochFailed {
        /// The epoch.
        epoch: u64,
        /// The epoch's error as the service reports it.
        error: String,
    },
    /// The epoch did not become final in time.
    #[error("epoch {epoch} is still {status} after {} s; the service's log above says why", .waited.as_secs())]
    Timeout {
        /// The epoch.
        epoch: u64,
        /// Its last status.
        status: String,
        /// How long the demo waited.
        waited: Duration,
    },
    /// The in-process service ended before the epoch was final.
    #[error("the service stopped before the epoch was final")]
    ServiceStopped,
    /// The data folder cannot be used.
    #[error("{0}")]
    DataDir(String),
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
    // The service's warnings and errors, without the development-key warning of the workers'
    // key loading (the verifier step prints it once) and sqlx's slow-statement notes.
    super::serve::init_tracing_at("warn,sqlx=error,gridproof_api::cli::worker=error");
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
    let data_dir = match &args.keep {
        Some(dir) => kept_data_dir(dir)?,
        None => work.path().to_path_buf(),
    };

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
    // Dropped before anvil and the folders: every task of the service ends with it.
    let runtime = super::serve::runtime()?;
    let summary = runtime.block_on(on_service(
        &mut progress,
        Setting {
            rpc_url: &rpc_url,
            private_key: &private_key,
            chain_label: &chain_label,
            keys: &keys,
            data_dir: &data_dir,
            kept: args.keep.is_some(),
        },
        verifier_code,
        &sim.batch,
    ))?;
    drop(runtime);
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

/// `--keep DIR`: created if missing; refused if it already holds a database (the demo's epoch
/// would meet the state of an earlier run on a new chain).
fn kept_data_dir(dir: &Path) -> Result<PathBuf, CliError> {
    std::fs::create_dir_all(dir).map_err(|source| CliError::Io {
        action: "create",
        path: dir.to_path_buf(),
        source,
    })?;
    for name in ["gridproof.db", "location.key"] {
        if dir.join(name).exists() {
            return Err(DemoError::DataDir(format!(
                "--keep {}: {name} exists there already (from an earlier run?); name an empty \
                 or new folder",
                dir.display()
            ))
            .into());
        }
    }
    Ok(dir.to_path_buf())
}

/// What the service part of the demo runs against.
struct Setting<'a> {
    rpc_url: &'a str,
    private_key: &'a str,
    chain_label: &'a str,
    keys: &'a Path,
    data_dir: &'a Path,
    kept: bool,
}

fn decimal(v: U256) -> serde_json::Value {
    serde_json::Value::String(v.to_string())
}

fn grid(v: U256) -> String {
    format_units(v, 18).unwrap_or_else(|_| v.to_string())
}

/// Deploys the contracts, runs the service and its clients until the epoch is final, stops the
/// service, funds and releases the yield; returns the `--json` summary.
async fn on_service(
    progress: &mut Progress,
    setting: Setting<'_>,
    verifier_code: alloy::primitives::Bytes,
    batch: &BatchFile,
) -> Result<serde_json::Value, CliError> {
    let chain = Chain::connect(setting.rpc_url, setting.private_key)
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

    let database = setting.data_dir.join("gridproof.db");
    progress.step(&format!(
        "starting the service in this process (`gridproof serve`'s code: API, proving worker, \
         publisher) on 127.0.0.1, SQLite {}",
        if setting.kept {
            database.display().to_string()
        } else {
            "in a temporary folder".to_string()
        }
    ));
    let service = start_demo_service(progress, &setting, &database, d.oracle).await?;
    let base = format!("http://{}", service.service.address());
    progress.note(&format!("API listening on {base}"));
    // The clients run while the service runs; the service is stopped whatever they come to,
    // and the first error wins.
    let followed = clients(progress, &service, &base, batch).await;
    let stopped = service.service.stop().await;
    let (view, readings_stored) = followed?;
    stopped?;
    progress.note("service stopped");

    let epoch_number = U256::from(batch.epoch);
    let totals = chain
        .epoch_totals(d.oracle, epoch_number)
        .await
        .map_err(chain_err)?;
    progress.note(&format!(
        "on-chain: final {} ({} of {} batches): {} Wh, {} nano-USD (${:.2})",
        totals.is_final,
        totals.batches_accepted,
        totals.batch_count,
        totals.total_energy_wh,
        totals.total_revenue_nusd,
        u128::try_from(totals.total_revenue_nusd).map_or(f64::NAN, |v| v as f64) / 1e9
    ));
    let published = published_batches(&chain, &d, &view).await?;

    progress.step(&format!(
        "funding and releasing the investors' yield ({} bps of verified revenue)",
        params.investor_share_bps
    ));
    let release = chain
        .fund_and_release(&d, epoch_number)
        .await
        .map_err(chain_err)?;
    let (assets_after, price_after) = chain.share_price(&d).await.map_err(chain_err)?;
    progress.note(&format!(
        "released {} GRID, streamed into the share price until unix time {}",
        grid(release.amount_grid_wei),
        release.stream_end
    ));

    let opening = &published.opening;
    Ok(serde_json::json!({
        "chain": setting.chain_label,
        "chain_id": chain.chain_id(),
        "sender": chain.sender(),
        "contracts": {
            "verifier": d.verifier,
            "revenue_oracle": d.oracle,
            "grid": d.grid,
            "sgrid_vault": d.vault,
            "deployment_gas": d.transactions.iter().map(|t| t.gas_used).collect::<Vec<_>>(),
        },
        "service": {
            "api": base,
            "database": if setting.kept { serde_json::json!(database) } else { serde_json::Value::Null },
            "installations": batch.sites.len(),
            "readings_stored": readings_stored,
            "epoch_status": view.status,
        },
        "epoch": {
            "epoch": decimal(opening.epoch),
            "registry_root": decimal(opening.registry_root),
            "schedule_hash": decimal(opening.schedule_hash),
            "interval_seconds": opening.interval_seconds,
            "batch_count": opening.batch_count,
            "open_tx_hash": published.open_tx_hash,
            "open_gas_used": published.open_gas_used,
        },
        "batches": published.batches,
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

/// The running service and the clients' tokens.
struct DemoService {
    service: RunningService,
    admin: String,
    operator: String,
}

/// Opens the store in `database` with a fresh location key beside it, makes the admin's and
/// the operator's tokens (as `gridproof token create` does), and starts what `gridproof serve
/// --keys ... --rpc-url ... --oracle ...` runs, on an ephemeral port of 127.0.0.1.
async fn start_demo_service(
    progress: &Progress,
    setting: &Setting<'_>,
    database: &Path,
    oracle: alloy::primitives::Address,
) -> Result<DemoService, CliError> {
    let cipher = LocationCipher::create_key_file(&setting.data_dir.join("location.key"))
        .map_err(ServiceError::from)?;
    let url = database
        .to_str()
        .ok_or_else(|| CliError::Input(format!("{} is not UTF-8", database.display())))?;
    let store = Store::open(url, &StoreOptions::default())
        .await
        .map_err(ServiceError::from)?;
    let (_, admin) = store
        .create_token(Role::Admin, None, "demo admin")
        .await
        .map_err(ServiceError::from)?;
    let operator_id = store
        .ensure_operator("Prairie & Bay Solar (demo)")
        .await
        .map_err(ServiceError::from)?;
    let (_, operator) = store
        .create_token(Role::Operator, Some(operator_id), "demo gateway")
        .await
        .map_err(ServiceError::from)?;
    progress.note("made an admin token and an operator token (stored hashed)");

    let keys = super::worker::load_keys(setting.keys).await?;
    let mut workers = WorkerConfig::new(keys, Arc::new(cipher.clone()));
    workers.poll_interval = POLL;
    let mut chain = PublisherConfig::new(setting.rpc_url, setting.private_key, oracle);
    // A local chain: a transaction is final once mined (anvil mines no block without one, so
    // a second confirmation would never come).
    chain.confirmations = 1;
    chain.poll_interval = POLL;
    let publisher = Publisher::connect(store.clone(), chain)
        .await
        .map_err(ServiceError::from)?;
    let state = AppState::new(store, cipher, HttpConfig::default());
    let service = start_service(
        ([127, 0, 0, 1], 0).into(),
        state,
        Some(workers),
        Some(publisher),
    )
    .await?;
    Ok(DemoService {
        service,
        admin,
        operator,
    })
}

/// A client of the service's API.
struct Api {
    http: reqwest::Client,
    base: String,
}

impl Api {
    /// Sends one request and returns its status and JSON answer; a non-2xx answer is
    /// [`DemoError::Refused`].
    async fn call(
        &self,
        step: &str,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<serde_json::Value>,
    ) -> Result<(u16, serde_json::Value), DemoError> {
        let http = |source| DemoError::Http {
            step: step.to_string(),
            source,
        };
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.map_err(http)?;
        let status = response.status();
        let text = response.text().await.map_err(http)?;
        if !status.is_success() {
            return Err(DemoError::Refused {
                step: step.to_string(),
                status: status.as_u16(),
                problem: text,
            });
        }
        let value = if text.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_str(&text).map_err(|e| DemoError::Unexpected {
                step: step.to_string(),
                what: format!("not JSON: {e}"),
            })?
        };
        Ok((status.as_u16(), value))
    }

    async fn epoch(&self, epoch: u64, token: &str) -> Result<EpochView, DemoError> {
        let step = format!("GET /v1/epochs/{epoch}");
        let (_, value) = self
            .call(
                &step,
                reqwest::Method::GET,
                &format!("/v1/epochs/{epoch}"),
                token,
                None,
            )
            .await?;
        serde_json::from_value(value).map_err(|e| DemoError::Unexpected {
            step,
            what: e.to_string(),
        })
    }
}

fn to_json(step: &str, body: &impl serde::Serialize) -> Result<serde_json::Value, DemoError> {
    serde_json::to_value(body).map_err(|e| DemoError::Unexpected {
        step: step.to_string(),
        what: format!("cannot encode the request: {e}"),
    })
}

/// The clients: the admin opens the epoch, the operator registers the sites and submits each
/// meter's signed readings, the admin closes the epoch and follows it until `final`. Returns
/// the final epoch and the number of readings the service stored.
async fn clients(
    progress: &mut Progress,
    service: &DemoService,
    base: &str,
    batch: &BatchFile,
) -> Result<(EpochView, usize), CliError> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .map_err(|source| DemoError::Http {
            step: "starting the HTTP client".into(),
            source,
        })?;
    let api = Api {
        http,
        base: base.to_string(),
    };
    let epoch = batch.epoch;
    let interval_seconds = u32::try_from(batch.interval_seconds)
        .map_err(|_| CliError::Input("the simulated interval does not fit 32 bits".into()))?;

    progress.step(&format!(
        "admin: opening epoch {epoch} ({} hourly intervals, time-of-use schedule) with PUT \
         /v1/epochs/{epoch}",
        batch.slots.len()
    ));
    let step = format!("PUT /v1/epochs/{epoch}");
    let body = to_json(
        &step,
        &OpenEpochBody {
            interval_seconds,
            slots: batch.slots.clone(),
        },
    )?;
    api.call(
        &step,
        reqwest::Method::PUT,
        &format!("/v1/epochs/{epoch}"),
        &service.admin,
        Some(body),
    )
    .await?;

    progress.step(&format!(
        "operator: registering {} installations (POST /v1/installations) and submitting each \
         meter's signed readings (POST /v1/readings)",
        batch.sites.len()
    ));
    for site in &batch.sites {
        let step = format!("POST /v1/installations (site {})", site.site_id);
        let body = to_json(
            &step,
            &InstallationBody {
                site_id: site.site_id,
                meter_public_key: site.meter_public_key,
                capacity_w: site.capacity_w,
                prices_uusd_per_kwh: site.prices_uusd_per_kwh.clone(),
                location: LocationBody {
                    latitude_microdeg: site.location.latitude_microdeg,
                    longitude_microdeg: site.location.longitude_microdeg,
                    region: site.location.region.clone(),
                },
            },
        )?;
        api.call(
            &step,
            reqwest::Method::POST,
            "/v1/installations",
            &service.operator,
            Some(body),
        )
        .await?;
    }
    let mut stored = 0;
    for site in &batch.sites {
        let step = format!("POST /v1/readings (site {})", site.site_id);
        let body = to_json(
            &step,
            &ReadingBody {
                site_id: site.site_id,
                epoch,
                interval_seconds,
                readings_wh: site.readings_wh.clone(),
                signature: SignatureBody {
                    r8: site.signature.r8,
                    s: site.signature.s,
                },
            },
        )?;
        let (status, _) = api
            .call(
                &step,
                reqwest::Method::POST,
                "/v1/readings",
                &service.operator,
                Some(body),
            )
            .await?;
        if status == 201 {
            stored += 1;
        }
    }
    progress.note(&format!(
        "{} installations registered, {stored} readings stored (signatures checked on arrival)",
        batch.sites.len()
    ));

    progress.step(&format!(
        "admin: closing the epoch (POST /v1/epochs/{epoch}/close) and following GET \
         /v1/epochs/{epoch}: planning and proving jobs, then the publisher on-chain"
    ));
    let step = format!("POST /v1/epochs/{epoch}/close");
    api.call(
        &step,
        reqwest::Method::POST,
        &format!("/v1/epochs/{epoch}/close"),
        &service.admin,
        None,
    )
    .await?;
    let view = follow(progress, &api, service, epoch).await?;
    Ok((view, stored))
}

/// Polls the epoch until it is `final` (or failed, or the service stopped), printing each change.
async fn follow(
    progress: &Progress,
    api: &Api,
    service: &DemoService,
    epoch: u64,
) -> Result<EpochView, DemoError> {
    let started = Instant::now();
    let mut last = String::new();
    loop {
        if service.service.is_finished() {
            return Err(DemoError::ServiceStopped);
        }
        let view = api.epoch(epoch, &service.admin).await?;
        let line = match view.batches.as_deref().unwrap_or_default() {
            [] => format!("{}: planning", view.status),
            batches => {
                let count = |f: fn(&BatchView) -> bool| batches.iter().filter(|b| f(b)).count();
                format!(
                    "{}: {} batches planned, {} proved, {} published",
                    view.status,
                    batches.len(),
                    count(|b| b.status == "proved" || b.status == "published"),
                    count(|b| b.status == "published"),
                )
            }
        };
        if line != last {
            progress.note(&format!(
                "epoch {epoch} {line} (at {:.1} s)",
                progress.started.elapsed().as_secs_f64()
            ));
            last = line;
        }
        match view.status.as_str() {
            "final" => return Ok(view),
            "failed" => {
                return Err(DemoError::EpochFailed {
                    epoch,
                    error: view.error.unwrap_or_default(),
                })
            }
            _ => {}
        }
        if started.elapsed() > FOLLOW_TIMEOUT {
            return Err(DemoError::Timeout {
                epoch,
                status: view.status,
                waited: started.elapsed(),
            });
        }
        tokio::time::sleep(POLL).await;
    }
}

/// What the chain shows of the published epoch.
struct Published {
    opening: EpochOpening,
    open_tx_hash: Option<B256>,
    open_gas_used: Option<u64>,
    batches: Vec<serde_json::Value>,
}

/// The public inputs of a batch as the service shows them (by name, decimal strings), in
/// proof order.
fn inputs_of(batch: &BatchView) -> Result<[U256; 8], DemoError> {
    let unexpected = |what: String| DemoError::Unexpected {
        step: format!("batch {} of the final epoch", batch.batch_index),
        what,
    };
    let named = batch
        .public_inputs
        .as_ref()
        .ok_or_else(|| unexpected("no public inputs".into()))?;
    let mut inputs = [U256::ZERO; 8];
    for (slot, name) in inputs.iter_mut().zip(PublicInputs::NAMES) {
        *slot = named[name]
            .as_str()
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| unexpected(format!("public input {name} is not a decimal string")))?;
    }
    Ok(inputs)
}

/// Per batch of the final epoch (as the service shows it): its public inputs, calldata and
/// transaction with the receipt's gas and block; and the epoch's opening transaction (sent by
/// the publisher, found by the oracle's `EpochOpened` event).
async fn published_batches(
    chain: &Chain,
    d: &Deployment,
    view: &EpochView,
) -> Result<Published, CliError> {
    let batches = view.batches.as_deref().unwrap_or_default();
    let first = batches.first().ok_or_else(|| DemoError::Unexpected {
        step: format!("GET /v1/epochs/{}", view.epoch),
        what: "the final epoch has no batch".into(),
    })?;
    let batch_count =
        u32::try_from(batches.len()).map_err(|_| CliError::Input("too many batches".into()))?;
    let opening = EpochOpening::from_inputs(&inputs_of(first)?, batch_count).map_err(chain_err)?;
    let receipt = |hash: B256| async move {
        chain
            .provider()
            .get_transaction_receipt(hash)
            .await
            .map_err(|e| chain_err(ChainError::from(e)))
    };

    let opened = chain
        .provider()
        .get_logs(
            &Filter::new()
                .address(d.oracle)
                .event_signature(RevenueOracle::EpochOpened::SIGNATURE_HASH)
                .topic1(B256::from(opening.epoch))
                .from_block(0u64),
        )
        .await
        .map_err(|e| chain_err(ChainError::from(e)))?;
    let open_tx_hash = opened.last().and_then(|l| l.transaction_hash);
    let open_gas_used = match open_tx_hash {
        Some(h) => receipt(h).await?.map(|r| r.gas_used),
        None => None,
    };

    let mut out = Vec::with_capacity(batches.len());
    for b in batches {
        let inputs = inputs_of(b)?;
        let named: serde_json::Map<String, serde_json::Value> = PublicInputs::NAMES
            .iter()
            .zip(inputs.iter())
            .map(|(name, v)| (name.to_string(), decimal(*v)))
            .collect();
        let tx_hash: Option<B256> = b.tx_hash.as_deref().and_then(|h| h.parse().ok());
        let mined = match tx_hash {
            Some(h) => receipt(h).await?,
            None => None,
        };
        out.push(serde_json::json!({
            "batch_index": b.batch_index,
            "public_inputs": named,
            "tx_hash": tx_hash,
            "block_number": mined.as_ref().and_then(|r| r.block_number),
            "gas_used": mined.as_ref().map(|r| r.gas_used),
            "calldata": b.calldata,
            "finalized_epoch": mined
                .as_ref()
                .is_some_and(|r| r.decoded_log::<RevenueOracle::EpochFinalized>().is_some()),
        }));
    }
    Ok(Published {
        opening,
        open_tx_hash,
        open_gas_used,
        batches: out,
    })
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
    println!(
        "  through the service at {}: {} installations registered, {} signed readings stored, \
         epoch {}",
        text(&s["service"]["api"]),
        s["service"]["installations"],
        s["service"]["readings_stored"],
        text(&s["service"]["epoch_status"])
    );
    println!("  (--json prints the full summary: public inputs, calldata, transactions)");
}
