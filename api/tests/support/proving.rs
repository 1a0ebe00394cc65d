//! Epochs proved for real at a tiny shape (S = 4, T = 8, P = 4, development keys made once per
//! test process): the installations, signed readings and workers that api/tests/worker.rs and
//! api/tests/disclosures.rs share.

use std::future::pending;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use gridproof_api::store::{
    CloseOutcome, LocationCipher, LocationSecret, NewEpoch, NewInstallation, NewReading,
    OperatorId, ReadingOutcome, Store,
};
use gridproof_api::worker::{run_workers, WorkerConfig};
use gridproof_circuits::eddsa::PrivateKey;
use gridproof_circuits::meter::MeterMessage;
use gridproof_circuits::registry::Location;
use gridproof_circuits::statement::BatchShape;
use gridproof_circuits::Fr;
use gridproof_prover::{setup_development, Keys};

/// The location key of every store of these tests.
pub const LOCATION_KEY: [u8; 32] = [0x42; 32];
/// The epochs' interval.
pub const INTERVAL_SECONDS: u32 = 3600;
/// The epochs' time-of-use schedule (T = 8).
pub const SLOTS: [u8; 8] = [0, 0, 1, 1, 2, 2, 3, 3];
/// The base tariff (P = 4); site `s` pays `PRICES[i] + s`.
pub const PRICES: [u32; 4] = [60_000, 90_000, 180_000, 75_000];
/// The operator that owns every installation of [`closed_epoch`].
pub const OPERATOR: &str = "acme solar";

/// Development keys for S = 4, T = 8, P = 4, made once per test process and saved to a folder
/// (for `gridproof worker` processes).
pub fn keys() -> &'static (Arc<Keys>, PathBuf) {
    static KEYS: OnceLock<(Arc<Keys>, PathBuf)> = OnceLock::new();
    KEYS.get_or_init(|| {
        let shape = BatchShape::new(4, SLOTS.len(), PRICES.len()).unwrap();
        let keys = setup_development(&shape, &mut rand::rngs::OsRng).unwrap();
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("gridproof-worker-keys-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        keys.save(&dir).unwrap();
        (Arc::new(keys), dir)
    })
}

/// The location cipher of [`LOCATION_KEY`].
pub fn cipher() -> Arc<LocationCipher> {
    Arc::new(LocationCipher::from_key(&LOCATION_KEY))
}

/// A one-shot worker configuration with `workers` workers and short leases and polls.
pub fn config(workers: usize) -> WorkerConfig {
    let mut c = WorkerConfig::new(Arc::clone(&keys().0), cipher());
    c.workers = workers;
    c.lease = Duration::from_secs(5);
    c.retry_delay = Duration::from_millis(50);
    c.poll_interval = Duration::from_millis(50);
    c.once = true;
    c
}

/// The meter key of a site.
pub fn meter(site_id: u64) -> PrivateKey {
    let mut seed = [7u8; 32];
    seed[..8].copy_from_slice(&site_id.to_be_bytes());
    PrivateKey::from_bytes(seed)
}

/// The secret location of a site (CEII: tests scan outputs for it).
pub fn location(site_id: u64) -> Location {
    Location {
        latitude_microdeg: 41_878_113 + site_id as i64,
        longitude_microdeg: -87_629_799,
        region: "US-IL".into(),
    }
}

/// The location salt of a site.
pub fn salt(site_id: u64) -> Fr {
    Fr::from(site_id) * Fr::from(0x1234_5678_9abc_def1u64)
}

/// The installation of a site, owned by `operator`.
pub fn installation(site_id: u64, operator: OperatorId) -> NewInstallation {
    NewInstallation {
        site_id,
        operator_id: operator,
        meter_public_key: meter(site_id).public_key(),
        capacity_w: 250_000,
        prices_uusd_per_kwh: PRICES.iter().map(|p| p + site_id as u32).collect(),
        location: LocationSecret {
            location: location(site_id),
            salt: salt(site_id),
        },
    }
}

/// Signed readings of a site: within its capacity bound, different per site.
pub fn signed_reading(site_id: u64, epoch: u64) -> NewReading {
    let readings_wh: Vec<u32> = (0..SLOTS.len() as u32)
        .map(|i| (site_id as u32 * 1_013 + i * 7_919) % 200_000)
        .collect();
    sign_readings(
        &meter(site_id),
        site_id,
        epoch,
        INTERVAL_SECONDS,
        readings_wh,
    )
}

/// `readings_wh` of a site-epoch as its meter `key` signs them (meter message v1).
pub fn sign_readings(
    key: &PrivateKey,
    site_id: u64,
    epoch: u64,
    interval_seconds: u32,
    readings_wh: Vec<u32>,
) -> NewReading {
    let message = MeterMessage {
        site_id,
        epoch,
        interval_seconds,
        readings_wh: readings_wh.clone(),
    }
    .hash();
    NewReading {
        site_id,
        epoch,
        interval_seconds,
        readings_wh,
        signature: key.sign(message),
    }
}

/// Energy (Wh) and revenue (nano-USD) of a reading at its site's tariff.
pub fn totals_of(reading: &NewReading) -> (u128, u128) {
    let prices: Vec<u32> = installation(reading.site_id, OperatorId(0)).prices_uusd_per_kwh;
    reading
        .readings_wh
        .iter()
        .enumerate()
        .fold((0, 0), |(e, r), (i, &wh)| {
            let price = prices[SLOTS[i] as usize];
            (e + u128::from(wh), r + u128::from(wh) * u128::from(price))
        })
}

/// Registers `registered` (owned by [`OPERATOR`]), opens `epoch`, stores signed readings of
/// `with_readings` and closes it (plan job with `plan_attempts`). Returns the readings stored.
pub async fn closed_epoch(
    store: &Store,
    epoch: u64,
    registered: &[u64],
    with_readings: &[u64],
    plan_attempts: u32,
) -> Vec<NewReading> {
    let op = store.ensure_operator(OPERATOR).await.unwrap();
    for &s in registered {
        store
            .register_installation(&installation(s, op), &cipher())
            .await
            .unwrap();
    }
    store
        .open_epoch(&NewEpoch {
            epoch,
            interval_seconds: INTERVAL_SECONDS,
            slots: SLOTS.to_vec(),
        })
        .await
        .unwrap();
    let readings: Vec<NewReading> = with_readings
        .iter()
        .map(|&s| signed_reading(s, epoch))
        .collect();
    let outcomes = store.insert_readings(&readings).await.unwrap();
    assert!(outcomes.iter().all(|o| *o == ReadingOutcome::Stored));
    let closed = store.close_epoch(epoch, plan_attempts).await.unwrap();
    assert!(matches!(closed, CloseOutcome::Closed { .. }), "{closed:?}");
    readings
}

/// Runs one-shot workers until no job is left (at most 5 minutes).
pub async fn run_until_idle(store: &Store, config: WorkerConfig) {
    tokio::time::timeout(
        Duration::from_secs(300),
        run_workers(store.clone(), config, pending()),
    )
    .await
    .expect("the workers finish within 5 minutes")
    .expect("the workers run");
}
