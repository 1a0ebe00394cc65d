//! Measures the storage part of reading ingest: `Store::insert_readings` of signed-reading rows
//! (24 hourly readings and a 96-byte signature each) in batches, on a fresh database.
//!
//! ```text
//! cargo run --release -p gridproof-api --example store_ingest -- [URL] [ROWS] [BATCH] [TASKS]
//! ```
//! URL: a SQLite path (default: a file in a temporary folder) or a `postgres://` server URL, in
//! which case a database `gridproof_ingest_<random>` is created there and dropped afterwards.
//! ROWS (default 200000) readings in batches of BATCH (default 1000) from TASKS concurrent
//! submitters (default 4). Signatures are arbitrary field elements: the store does not verify.

use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gridproof_api::store::{
    LocationCipher, LocationSecret, NewEpoch, NewInstallation, NewReading, ReadingOutcome, Store,
    StoreOptions,
};
use gridproof_circuits::eddsa::{PrivateKey, Signature};
use gridproof_circuits::registry::Location;
use gridproof_circuits::Fr;
use sqlx::{Connection, Executor};

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let url = args.first().cloned();
    let rows: u64 = args
        .get(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(200_000);
    let batch: usize = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(1000);
    let tasks: usize = args.get(3).map(|s| s.parse()).transpose()?.unwrap_or(4);

    let dir = tempfile::tempdir()?;
    let mut drop_pg: Option<(sqlx::postgres::PgConnectOptions, String)> = None;
    let options = StoreOptions::default();
    let store = match url.as_deref() {
        Some(u) if u.starts_with("postgres") => {
            let admin = sqlx::postgres::PgConnectOptions::from_str(u)?;
            let name = format!("gridproof_ingest_{:08x}", rand::random::<u32>());
            let mut c = sqlx::PgConnection::connect_with(&admin).await?;
            c.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .await?;
            drop_pg = Some((admin.clone(), name.clone()));
            Store::open_postgres(admin.database(&name), &options).await?
        }
        Some(path) => Store::open(path, &options).await?,
        None => Store::open_sqlite(dir.path().join("ingest.db"), &options).await?,
    };

    // Sites: as many as one epoch's readings need (one reading per site and epoch).
    let epochs = 4u64;
    let sites = rows.div_ceil(epochs);
    let op = store.ensure_operator("bench").await?;
    let cipher = LocationCipher::from_key(&[9; 32]);
    let key = PrivateKey::from_bytes([3; 32]).public_key();
    let t = Instant::now();
    // Registration is one transaction per site (as over HTTP): 8 at a time.
    let mut set = tokio::task::JoinSet::new();
    for worker in 0..8u64 {
        let (store, cipher) = (store.clone(), cipher.clone());
        set.spawn(async move {
            let mut site = 1 + worker;
            while site <= sites {
                store
                    .register_installation(
                        &NewInstallation {
                            site_id: site,
                            operator_id: op,
                            meter_public_key: key,
                            capacity_w: 250_000,
                            prices_uusd_per_kwh: vec![60_000, 90_000, 180_000, 75_000],
                            location: LocationSecret {
                                location: Location {
                                    latitude_microdeg: 41_000_000,
                                    longitude_microdeg: -87_000_000,
                                    region: "US-IL".into(),
                                },
                                salt: Fr::from(site),
                            },
                        },
                        &cipher,
                    )
                    .await?;
                site += 8;
            }
            anyhow::Ok(())
        });
    }
    while let Some(r) = set.join_next().await {
        r??;
    }
    eprintln!("registered {sites} sites in {:.1?}", t.elapsed());
    for e in 0..epochs {
        store
            .open_epoch(&NewEpoch {
                epoch: e,
                interval_seconds: 3600,
                slots: vec![0; 24],
            })
            .await?;
    }

    let all: Vec<NewReading> = (0..rows)
        .map(|i| NewReading {
            site_id: 1 + i % sites,
            epoch: i / sites,
            interval_seconds: 3600,
            readings_wh: (0..24)
                .map(|h| (i as u32).wrapping_add(h) % 60_000)
                .collect(),
            signature: Signature {
                r8_x: Fr::from(i) * Fr::from(0x1234_5678_9abc_def1u64),
                r8_y: Fr::from(i + 1) * Fr::from(0x0fed_cba9_8765_4321u64),
                s: Fr::from(i + 2) * Fr::from(0x1111_2222_3333_4444u64),
            },
        })
        .collect();
    let chunks: Vec<Vec<NewReading>> = all.chunks(batch).map(|c| c.to_vec()).collect();
    let chunks = Arc::new(chunks);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));

    let cpu_before = (process_cpu_seconds("self"), postgres_cpu_seconds());
    let start = Instant::now();
    let mut handles = Vec::new();
    for _ in 0..tasks {
        let (store, chunks, next) = (store.clone(), chunks.clone(), next.clone());
        handles.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(chunk) = chunks.get(i) else { break };
                let t = Instant::now();
                let out = store.insert_readings(chunk).await?;
                latencies.push(t.elapsed());
                anyhow::ensure!(out.iter().all(|o| *o == ReadingOutcome::Stored));
            }
            anyhow::Ok(latencies)
        }));
    }
    let mut latencies: Vec<Duration> = Vec::new();
    for h in handles {
        latencies.extend(h.await??);
    }
    let elapsed = start.elapsed();
    let cpu_self = process_cpu_seconds("self") - cpu_before.0;
    let cpu_pg = postgres_cpu_seconds() - cpu_before.1;
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() - 1) as f64 * p) as usize];
    let mut stored = 0;
    for e in 0..epochs {
        stored += store.count_readings(e).await?;
    }
    anyhow::ensure!(stored == rows, "stored {stored} of {rows}");
    println!(
        "{:?}: {rows} readings in batches of {batch} from {tasks} tasks in {:.2?}: {:.0} rows/s \
         (batch latency p50 {:.1?}, p99 {:.1?})",
        store.backend_kind(),
        elapsed,
        rows as f64 / elapsed.as_secs_f64(),
        pct(0.5),
        pct(0.99)
    );
    // CPU per row is what matters on a shared machine (wall time depends on the neighbours).
    println!(
        "  CPU during the ingest: this process {:.2} s ({:.1} us/row), PostgreSQL server \
         processes {:.2} s ({:.1} us/row)",
        cpu_self,
        cpu_self * 1e6 / rows as f64,
        cpu_pg,
        cpu_pg * 1e6 / rows as f64
    );
    store.close().await;
    if let Some((admin, name)) = drop_pg {
        let mut c = sqlx::PgConnection::connect_with(&admin).await?;
        c.execute(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE {name} WITH (FORCE)"
        )))
        .await?;
    }
    Ok(())
}

/// User + system CPU seconds of `/proc/<pid>/stat` (Linux; 0 elsewhere).
fn process_cpu_seconds(pid: &str) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // Fields after the command name (which may contain spaces): state is field 3, utime 14, stime 15.
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
