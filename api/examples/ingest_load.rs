//! Bounded ingest load test over real HTTP on loopback (issue 5, "Tests and targets"): signed
//! readings through `POST /v1/readings/batch`, signature checks included, then a check that no
//! acknowledged reading is missing from the store.
//!
//! ```text
//! cargo run --release -p gridproof-api --example ingest_load -- [DATABASE_URL] \
//!     --readings N --batch B --concurrency C [--t T] [--sites S]
//! ```
//! DATABASE_URL: a `postgres://` server URL (a fresh database `gridproof_load_<random>` is
//! created there and dropped afterwards) or a SQLite path; default a SQLite file in a temporary
//! folder. The server runs in this process on 127.0.0.1:0 (the router of `gridproof serve`).
//! S sites (default min(N, 2000)) are registered over HTTP, ceil(N / S) epochs of T readings per
//! site (default 24, hourly) are opened, and the N readings are signed **before the clock
//! starts** (signing is the meter's cost), in parallel. Then C clients post batches of B and the
//! run reports readings/s, per-request p50/p99 latency and CPU seconds, and the arrival check of
//! one reading timed alone on one core (message hash, EdDSA verification, the whole check).

use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use gridproof_api::http::readings::check_reading;
use gridproof_api::http::wire::{BatchResults, ReadingBatchBody, ReadingBody, SignatureBody};
use gridproof_api::http::{self, AppState, HttpConfig};
use gridproof_api::store::{LocationCipher, Role, Store, StoreOptions};
use gridproof_circuits::eddsa::PrivateKey;
use gridproof_circuits::encoding::field_to_decimal;
use gridproof_circuits::meter::MeterMessage;
use rayon::prelude::*;
use serde_json::json;
use sqlx::{Connection, Executor};

/// Capacity of every site: 250 kW, so an hourly bound of 250,000 Wh and a 15-minute one of 62,500.
const CAPACITY_W: u32 = 250_000;

struct Args {
    url: Option<String>,
    readings: usize,
    batch: usize,
    concurrency: usize,
    t: usize,
    sites: Option<usize>,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut args = Args {
        url: None,
        readings: 100_000,
        batch: 1000,
        concurrency: 4,
        t: 24,
        sites: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut num = |name: &str| -> anyhow::Result<usize> {
            it.next()
                .with_context(|| format!("{name} needs a value"))?
                .parse()
                .with_context(|| format!("{name} takes a number"))
        };
        match a.as_str() {
            "--readings" => args.readings = num("--readings")?,
            "--batch" => args.batch = num("--batch")?,
            "--concurrency" => args.concurrency = num("--concurrency")?,
            "--t" => args.t = num("--t")?,
            "--sites" => args.sites = Some(num("--sites")?),
            s if s.starts_with("--") => bail!("unknown option {s}"),
            s => args.url = Some(s.to_owned()),
        }
    }
    ensure!(args.readings > 0 && args.batch > 0 && args.concurrency > 0);
    ensure!(
        (1..=96).contains(&args.t),
        "--t must be 1..=96 (24 hourly or 96 quarter-hourly)"
    );
    Ok(args)
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    let n = args.readings;
    let sites = args.sites.unwrap_or(n.min(2000)).clamp(1, n);
    let epochs = n.div_ceil(sites);
    // T readings per site: hourly for T <= 24, quarter-hourly above.
    let interval_seconds: u32 = if args.t > 24 { 900 } else { 3600 };
    let bound_wh = CAPACITY_W * (interval_seconds / 900) / 4;

    // The database: a fresh PostgreSQL database or a SQLite file.
    let dir = tempfile::tempdir()?;
    let mut drop_pg: Option<(sqlx::postgres::PgConnectOptions, String)> = None;
    let options = StoreOptions::default();
    let store = match args.url.as_deref() {
        Some(u) if u.starts_with("postgres") => {
            let admin = sqlx::postgres::PgConnectOptions::from_str(u)?;
            let name = format!("gridproof_load_{:08x}", rand::random::<u32>());
            let mut c = sqlx::PgConnection::connect_with(&admin).await?;
            c.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .await?;
            drop_pg = Some((admin.clone(), name.clone()));
            Store::open_postgres(admin.database(&name), &options).await?
        }
        Some(path) => Store::open(path, &options).await?,
        None => Store::open_sqlite(dir.path().join("load.db"), &options).await?,
    };
    let result = run(&store, &args, sites, epochs, interval_seconds, bound_wh).await;
    store.close().await;
    if let Some((admin, name)) = drop_pg {
        let mut c = sqlx::PgConnection::connect_with(&admin).await?;
        c.execute(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE {name} WITH (FORCE)"
        )))
        .await?;
    }
    result
}

async fn run(
    store: &Store,
    args: &Args,
    sites: usize,
    epochs: usize,
    interval_seconds: u32,
    bound_wh: u32,
) -> anyhow::Result<()> {
    let n = args.readings;
    let state = AppState::new(
        store.clone(),
        LocationCipher::from_key(&[0x42; 32]),
        HttpConfig::default(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(http::serve(listener, http::router(state), async move {
        let _ = stopped.await;
    }));
    let op = store.ensure_operator("load").await?;
    let (_, operator) = store.create_token(Role::Operator, Some(op), "load").await?;
    let (_, admin) = store.create_token(Role::Admin, None, "load").await?;
    let client = reqwest::Client::new();

    // Meter keys and registration over HTTP, 8 requests at a time.
    let t = Instant::now();
    let keys: Arc<Vec<PrivateKey>> = Arc::new(
        (0..sites)
            .into_par_iter()
            .map(|i| {
                let mut b = [0u8; 32];
                b[..8].copy_from_slice(&(i as u64).to_le_bytes());
                b[31] = 0x5a;
                PrivateKey::from_bytes(b)
            })
            .collect(),
    );
    let public: Vec<_> = keys.par_iter().map(|k| k.public_key()).collect();
    let public = Arc::new(public);
    let next = Arc::new(AtomicUsize::new(0));
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let (client, base, operator, public, next) = (
            client.clone(),
            base.clone(),
            operator.clone(),
            public.clone(),
            next.clone(),
        );
        set.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(pk) = public.get(i) else { break };
                let body = json!({
                    "site_id": site_id(i),
                    "meter_public_key": [field_to_decimal(&pk.x), field_to_decimal(&pk.y)],
                    "capacity_w": CAPACITY_W,
                    "prices_uusd_per_kwh": [60000, 90000, 180000, 75000],
                    "location": {"latitude_microdeg": 41_878_113 + i as i64,
                                 "longitude_microdeg": -87_629_799, "region": "US-IL"},
                });
                let resp = client
                    .post(format!("{base}/v1/installations"))
                    .bearer_auth(&operator)
                    .json(&body)
                    .send()
                    .await?;
                ensure!(resp.status() == 201, "registration: {}", resp.status());
            }
            anyhow::Ok(())
        });
    }
    while let Some(r) = set.join_next().await {
        r??;
    }
    let slots: Vec<u8> = (0..args.t).map(|i| (i % 4) as u8).collect();
    for e in 0..epochs {
        let resp = client
            .put(format!("{base}/v1/epochs/{}", epoch_id(e)))
            .bearer_auth(&admin)
            .json(&json!({"interval_seconds": interval_seconds, "slots": slots}))
            .send()
            .await?;
        ensure!(resp.status() == 201, "open epoch: {}", resp.status());
    }
    eprintln!(
        "registered {sites} sites and opened {epochs} epochs (T = {}) in {:.1?}",
        args.t,
        t.elapsed()
    );

    // Pre-sign every reading (the meters' work), in parallel, before the clock starts.
    let t = Instant::now();
    let t_len = args.t;
    let bodies: Vec<ReadingBody> = (0..n)
        .into_par_iter()
        .map(|i| {
            let (site, epoch) = (i % sites, i / sites);
            let message = MeterMessage {
                site_id: site_id(site),
                epoch: epoch_id(epoch),
                interval_seconds,
                readings_wh: (0..t_len as u32)
                    .map(|h| (i as u32).wrapping_mul(7919).wrapping_add(h * 131) % (bound_wh + 1))
                    .collect(),
            };
            let sig = keys[site].sign(message.hash());
            ReadingBody {
                site_id: message.site_id,
                epoch: message.epoch,
                interval_seconds,
                readings_wh: message.readings_wh,
                signature: SignatureBody {
                    r8: [sig.r8_x, sig.r8_y],
                    s: sig.s,
                },
            }
        })
        .collect();
    let requests: Vec<Vec<u8>> = bodies
        .par_chunks(args.batch)
        .map(|c| {
            serde_json::to_vec(&ReadingBatchBody {
                readings: c.to_vec(),
            })
            .expect("a batch serializes")
        })
        .collect();
    let body_bytes: usize = requests.iter().map(Vec::len).sum();
    eprintln!(
        "signed {n} readings in {:.1?}; {} requests of up to {} readings ({:.0} bytes per reading)",
        t.elapsed(),
        requests.len(),
        args.batch,
        body_bytes as f64 / n as f64
    );

    // The measured part: C clients post the batches.
    let requests = Arc::new(requests);
    let next = Arc::new(AtomicUsize::new(0));
    let cpu_before = (process_cpu_seconds("self"), postgres_cpu_seconds());
    let start = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..args.concurrency {
        let (client, base, operator, requests, next) = (
            client.clone(),
            base.clone(),
            operator.clone(),
            requests.clone(),
            next.clone(),
        );
        set.spawn(async move {
            let mut latencies = Vec::new();
            let mut acked: Vec<(usize, usize)> = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(body) = requests.get(i) else { break };
                let t = Instant::now();
                let resp = client
                    .post(format!("{base}/v1/readings/batch"))
                    .bearer_auth(&operator)
                    .header("content-type", "application/json")
                    .body(body.clone())
                    .send()
                    .await?;
                let status = resp.status();
                let bytes = resp.bytes().await?;
                latencies.push(t.elapsed());
                ensure!(
                    status == 200,
                    "batch {i}: {status}: {}",
                    String::from_utf8_lossy(&bytes)
                );
                let results: BatchResults = serde_json::from_slice(&bytes)?;
                acked.push((i, results.stored));
                if results.refused > 0 || results.duplicates > 0 {
                    let first = results.results.iter().find(|r| r.status != 201);
                    bail!("batch {i}: not every item stored: {first:?}");
                }
            }
            anyhow::Ok((latencies, acked))
        });
    }
    let mut latencies: Vec<Duration> = Vec::new();
    let mut acked_batches = Vec::new();
    while let Some(r) = set.join_next().await {
        let (l, a) = r??;
        latencies.extend(l);
        acked_batches.extend(a);
    }
    let elapsed = start.elapsed();
    let cpu_self = process_cpu_seconds("self") - cpu_before.0;
    let cpu_pg = postgres_cpu_seconds() - cpu_before.1;
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() - 1) as f64 * p).round() as usize];
    let acked: usize = acked_batches.iter().map(|(_, s)| s).sum();
    println!(
        "{:?}: {n} readings (T = {}, {sites} sites x {epochs} epochs) in batches of {} from {} \
         clients in {:.2?}: {:.0} readings/s; request latency p50 {:.1?}, p99 {:.1?}, max {:.1?}",
        store.backend_kind(),
        args.t,
        args.batch,
        args.concurrency,
        elapsed,
        n as f64 / elapsed.as_secs_f64(),
        pct(0.5),
        pct(0.99),
        latencies.last().copied().unwrap_or_default(),
    );
    println!(
        "  CPU during the run: this process (server + clients) {cpu_self:.2} s ({:.1} us/reading), \
         PostgreSQL processes {cpu_pg:.2} s ({:.1} us/reading); load average {}",
        cpu_self * 1e6 / n as f64,
        cpu_pg * 1e6 / n as f64,
        loadavg()
    );

    // No acknowledged reading lost: counts per epoch and a sample compared field by field.
    ensure!(acked == n, "acknowledged {acked} of {n}");
    let mut stored = 0u64;
    for e in 0..epochs {
        stored += store.count_readings(epoch_id(e)).await?;
    }
    ensure!(
        stored == n as u64,
        "the store holds {stored} of {n} acknowledged readings"
    );
    let step = (n / 1000).max(1);
    let mut compared = 0;
    for i in (0..n).step_by(step).chain([n - 1]) {
        let b = &bodies[i];
        let got = store
            .reading(b.site_id, b.epoch)
            .await?
            .with_context(|| format!("acknowledged reading {i} is missing"))?;
        ensure!(
            got.readings_wh == b.readings_wh
                && got.interval_seconds == b.interval_seconds
                && got.signature == b.signature.to_signature(),
            "reading {i} differs from what was acknowledged"
        );
        compared += 1;
    }
    println!(
        "  store: {stored} readings = {acked} acknowledged; {compared} sampled readings identical"
    );

    // Where the time goes: the arrival check alone, one core, on the first readings.
    let sample = bodies.len().min(2000);
    let epoch = store.epoch(epoch_id(0)).await?.context("epoch 0 is open")?;
    let site_ids: Vec<u64> = (0..sites.min(sample)).map(site_id).collect();
    let installations = store.installations(&site_ids).await?;
    let by_site: std::collections::HashMap<u64, _> =
        installations.iter().map(|i| (i.site_id, i)).collect();
    let items: Vec<&ReadingBody> = bodies[..sample]
        .iter()
        .filter(|b| b.epoch == epoch_id(0))
        .collect();
    let t = ThreadClock::start();
    let mut messages = Vec::with_capacity(items.len());
    for b in &items {
        messages.push(
            MeterMessage {
                site_id: b.site_id,
                epoch: b.epoch,
                interval_seconds: b.interval_seconds,
                readings_wh: b.readings_wh.clone(),
            }
            .hash(),
        );
    }
    let hash_us = t.us_per(items.len());
    let t = ThreadClock::start();
    for (b, m) in items.iter().zip(&messages) {
        by_site[&b.site_id]
            .meter_public_key
            .verify(*m, &b.signature.to_signature())
            .map_err(|e| anyhow::anyhow!("sample verify: {e}"))?;
    }
    let verify_us = t.us_per(items.len());
    let t = ThreadClock::start();
    for b in &items {
        check_reading((*b).clone(), Some(&epoch), Some(by_site[&b.site_id]), op)
            .map_err(|e| anyhow::anyhow!("sample check: {e:?}"))?;
    }
    let check_us = t.us_per(items.len());
    let http_cpu_us = cpu_self * 1e6 / n as f64;
    println!(
        "  one thread's CPU time, {} readings: meter message hash {hash_us:.1} us, EdDSA verify \
         (incl. the challenge hash) {verify_us:.1} us, whole check_reading {check_us:.1} us per \
         reading; the check is {:.0}% of this process's CPU per reading ({http_cpu_us:.1} us)",
        items.len(),
        100.0 * check_us / http_cpu_us
    );

    let _ = stop.send(());
    server.await??;
    Ok(())
}

/// Site ids start at 1 (0 is allowed, but a 1-based id reads better in a failure).
fn site_id(i: usize) -> u64 {
    1 + i as u64
}

fn epoch_id(e: usize) -> u64 {
    30_000 + e as u64
}

/// CPU time of the calling thread (`/proc/thread-self/stat`, 10 ms ticks): on a shared machine
/// wall time measures the neighbours too.
struct ThreadClock(f64);

impl ThreadClock {
    fn start() -> Self {
        ThreadClock(process_cpu_seconds("thread-self"))
    }

    /// Microseconds of this thread's CPU per item since `start`.
    fn us_per(&self, items: usize) -> f64 {
        (process_cpu_seconds("thread-self") - self.0) * 1e6 / items.max(1) as f64
    }
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

/// User + system CPU seconds of `/proc/<pid>/stat` (Linux; 0 elsewhere).
fn process_cpu_seconds(pid: &str) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // Fields after the command name (which may contain spaces): utime is field 14, stime 15.
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
        return 0.0;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11).and_then(|x| x.parse::<f64>().ok()).unwrap_or(0.0)
        + f.get(12).and_then(|x| x.parse::<f64>().ok()).unwrap_or(0.0);
    ticks / 100.0 // USER_HZ is 100 on Linux
}

/// CPU seconds of every local `postgres` process (the server, when it runs on this machine).
fn postgres_cpu_seconds() -> f64 {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    dir.filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|name| name.bytes().all(|b| b.is_ascii_digit()))
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .map(|c| c.trim() == "postgres")
                .unwrap_or(false)
        })
        .map(|pid| process_cpu_seconds(&pid))
        .sum()
}
