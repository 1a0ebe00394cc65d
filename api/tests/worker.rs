//! Proving workers (api/src/worker, `gridproof worker`) at a tiny shape (S = 4, T = 8, P = 4,
//! development keys made once per test process): epochs planned and proved through the job
//! queue on SQLite (temporary folder) and PostgreSQL (a fresh database `gridproof_test_<random>`
//! on `GRIDPROOF_TEST_DATABASE_URL`, default `postgres://postgres@127.0.0.1:5432/`, dropped
//! afterwards; without a server the PostgreSQL variants print a loud SKIP line and pass unless
//! `GRIDPROOF_REQUIRE_POSTGRES=1`), and a worker process killed with SIGKILL mid-proof.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gridproof_api::store::{
    BatchStatus, EpochStatus, JobKind, JobState, LocationCipher, NewReading, Store, StoreOptions,
};
use gridproof_api::worker::plan::build_plan;
use gridproof_api::worker::stored_proofs_file;
use gridproof_circuits::statement::PublicInputs;
use gridproof_circuits::Fr;
use gridproof_prover::verify_proofs_file;

impl TestDb {
    /// Overwrites a stored reading's values behind the store's back (an edited database).
    async fn tamper_reading(&self, reading: &NewReading) {
        let bytes: Vec<u8> = reading
            .readings_wh
            .iter()
            .flat_map(|r| r.to_be_bytes())
            .collect();
        let hex = hex::encode(&bytes);
        let (epoch, site) = (reading.epoch, reading.site_id);
        let value = if self.is_postgres() {
            format!("decode('{hex}', 'hex')")
        } else {
            format!("x'{hex}'")
        };
        let sql = format!(
            "UPDATE readings SET readings_wh = {value} WHERE epoch = {epoch} AND site_id = {site}"
        );
        assert_eq!(self.raw_execute(&sql).await, 1);
    }
}

#[macro_use]
mod support;
use support::db::TestDb;
use support::proving::{
    cipher, closed_epoch, config, keys, run_until_idle, signed_reading, totals_of, LOCATION_KEY,
};

both_backends!(
    an_epoch_is_planned_reproducibly_and_proved,
    too_few_sites_for_k_anonymity_fail_the_epoch,
    a_job_that_keeps_failing_ends_failed_with_its_error,
);

// ---------------------------------------------------------------------------------------------
// Fixtures

/// Checks every proof of a proved epoch with the verifying key and returns the epoch totals.
async fn verified_totals(store: &Store, epoch: u64) -> (u128, u128) {
    let e = store.epoch(epoch).await.unwrap().unwrap();
    let batches = store.batches(epoch).await.unwrap();
    let file = stored_proofs_file(&e, &batches).unwrap();
    let report = verify_proofs_file(&keys().0.verifying_key, &file).unwrap();
    assert!(report.all_verified(), "{:?}", report.batches.len());
    file.batches
        .iter()
        .map(|b| PublicInputs::from_field_elements(&b.public_inputs).unwrap())
        .fold((0, 0), |(e, r), p| {
            (e + p.total_energy_wh, r + p.total_revenue_nusd)
        })
}

// ---------------------------------------------------------------------------------------------
// Tests

async fn an_epoch_is_planned_reproducibly_and_proved(db: &TestDb) {
    let store = &db.store;
    let epoch = 20_300;
    // Site 77 is registered but sends no readings: it is left out of the epoch.
    let with_readings = [900, 5, 17, 300, 42, 8, 1000];
    let registered = [900, 5, 17, 300, 42, 8, 1000, 77];
    let readings = closed_epoch(store, epoch, &registered, &with_readings, 3).await;

    // The plan is a pure function of the stored data.
    let shape = keys().0.shape;
    let first = build_plan(store, epoch, &shape, 3, &cipher())
        .await
        .unwrap();
    let again = build_plan(store, epoch, &shape, 3, &cipher())
        .await
        .unwrap();
    assert_eq!(first, again);
    let sites: Vec<Vec<u64>> = first.batches.iter().map(|b| b.site_ids.clone()).collect();
    assert_eq!(sites, vec![vec![5, 8, 17, 42], vec![300, 900, 1000]]);

    run_until_idle(store, config(2)).await;

    let e = store.epoch(epoch).await.unwrap().unwrap();
    assert_eq!(e.status, EpochStatus::Proved, "{:?}", e.error);
    let root = e.registry_root.unwrap();
    use ark_ff::PrimeField;
    assert_eq!(Fr::from_be_bytes_mod_order(&root), first.registry_root);
    let batches = store.batches(epoch).await.unwrap();
    assert_eq!(
        batches
            .iter()
            .map(|b| b.site_ids.clone())
            .collect::<Vec<_>>(),
        sites
    );
    assert!(batches.iter().all(|b| b.status == BatchStatus::Proved));
    assert_eq!(store.site_position(epoch, 77).await.unwrap(), None);
    // Planning again after the fact still gives the recorded plan.
    assert_eq!(
        build_plan(store, epoch, &shape, 3, &cipher())
            .await
            .unwrap(),
        first
    );

    let expected = readings
        .iter()
        .map(totals_of)
        .fold((0, 0), |(e, r), (a, b)| (e + a, r + b));
    assert!(expected.0 > 0 && expected.1 > 0);
    assert_eq!(verified_totals(store, epoch).await, expected);

    let jobs = store.jobs_of_epoch(epoch).await.unwrap();
    assert_eq!(jobs.len(), 3);
    for j in &jobs {
        assert_eq!(j.state, JobState::Succeeded, "{j:?}");
        assert_eq!(j.attempts, 1, "{j:?}");
    }
    assert_eq!(jobs[0].kind, JobKind::PlanEpoch);
}

async fn too_few_sites_for_k_anonymity_fail_the_epoch(db: &TestDb) {
    let store = &db.store;
    // Two sites in all, fewer than k = 3.
    closed_epoch(store, 1, &[1, 2, 3], &[1, 2], 3).await;
    run_until_idle(store, config(1)).await;
    let e = store.epoch(1).await.unwrap().unwrap();
    assert_eq!(e.status, EpochStatus::Failed);
    let error = e.error.unwrap();
    assert!(error.contains("too few sites for k-anonymity"), "{error}");
    assert!(error.contains("2 site(s)"), "{error}");
    let jobs = store.jobs_of_epoch(1).await.unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].state, JobState::Failed);
    assert_eq!(jobs[0].attempts, 1, "a data error is not retried");
    assert!(store.batches(1).await.unwrap().is_empty());

    // Five sites at S = 4: two batches of 3 and 2, or none; 2 < 3, so the epoch fails and says
    // why (no arrangement can do better).
    let sites = [11, 12, 13, 14, 15];
    closed_epoch(store, 2, &sites, &sites, 3).await;
    run_until_idle(store, config(1)).await;
    let e = store.epoch(2).await.unwrap().unwrap();
    assert_eq!(e.status, EpochStatus::Failed);
    let error = e.error.unwrap();
    assert!(error.contains("smallest batch"), "{error}");

    // A lower k-anonymity minimum proves those five sites in batches of 3 and 2.
    let sites = [21, 22, 23, 24, 25];
    closed_epoch(store, 3, &sites, &sites, 3).await;
    let mut c = config(1);
    c.min_sites_per_batch = 2;
    run_until_idle(store, c).await;
    let e = store.epoch(3).await.unwrap().unwrap();
    assert_eq!(e.status, EpochStatus::Proved, "{:?}", e.error);
    let sizes: Vec<usize> = store
        .batches(3)
        .await
        .unwrap()
        .iter()
        .map(|b| b.site_ids.len())
        .collect();
    assert_eq!(sizes, [3, 2]);
}

async fn a_job_that_keeps_failing_ends_failed_with_its_error(db: &TestDb) {
    let store = &db.store;
    let sites = [1, 2, 3];
    closed_epoch(store, 7, &sites, &sites, 2).await;
    // A worker with the wrong location key cannot open the locations: retried (another worker
    // could have the right key), then failed for good after the job's 2 attempts.
    let mut c = config(1);
    c.cipher = Arc::new(LocationCipher::from_key(&[0x24; 32]));
    run_until_idle(store, c).await;
    let e = store.epoch(7).await.unwrap().unwrap();
    assert_eq!(e.status, EpochStatus::Failed);
    let error = e.error.unwrap();
    assert!(error.contains("attempt 2 of 2"), "{error}");
    assert!(error.contains("sealed with key"), "{error}");
    let jobs = store.jobs_of_epoch(7).await.unwrap();
    assert_eq!((jobs[0].state, jobs[0].attempts), (JobState::Failed, 2));

    // A stored reading altered after planning: the prove job refuses it (permanent), and the
    // batch and the epoch fail with the reason naming the site.
    let sites = [31, 32, 33];
    closed_epoch(store, 8, &sites, &sites, 2).await;
    // Plan by hand (as the plan job does), so that the data can change before the proof.
    let lease = store
        .claim_job(
            "test-planner",
            &[JobKind::PlanEpoch],
            Duration::from_secs(30),
        )
        .await
        .unwrap()
        .unwrap();
    let plan = build_plan(store, 8, &keys().0.shape, 3, &cipher())
        .await
        .unwrap();
    store
        .complete_plan_epoch(&lease, &fr_bytes(&plan.registry_root), &plan.batches, 3)
        .await
        .unwrap();
    let mut forged = signed_reading(32, 8);
    forged.readings_wh[0] += 1;
    db.tamper_reading(&forged).await;
    run_until_idle(store, config(1)).await;
    let e = store.epoch(8).await.unwrap().unwrap();
    assert_eq!(e.status, EpochStatus::Failed);
    let error = e.error.unwrap();
    assert!(
        error.contains("site 32") && error.contains("bad signature"),
        "{error}"
    );
    let batches = store.batches(8).await.unwrap();
    assert_eq!(batches[0].status, BatchStatus::Failed);
    let jobs = store.jobs_of_epoch(8).await.unwrap();
    let prove = jobs.iter().find(|j| j.kind == JobKind::ProveBatch).unwrap();
    assert_eq!((prove.state, prove.attempts), (JobState::Failed, 1));
}

fn fr_bytes(x: &Fr) -> [u8; 32] {
    use ark_ff::{BigInteger, PrimeField};
    let b = x.into_bigint().to_bytes_be();
    let mut out = [0u8; 32];
    out[32 - b.len()..].copy_from_slice(&b);
    out
}

// ---------------------------------------------------------------------------------------------
// Crash test

/// Runs `gridproof worker` on `db` with a short lease; its logs go to `log`.
fn spawn_worker(db: &Path, log: &Path) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_gridproof"))
        .args([
            "worker",
            "--keys",
            keys().1.to_str().unwrap(),
            "--lease-secs",
            "3",
            "--poll-ms",
            "50",
            "--retry-secs",
            "1",
            "--once",
        ])
        .env("DATABASE_URL", db)
        .env("GRIDPROOF_LOCATION_KEY", hex::encode(LOCATION_KEY))
        .env_remove("GRIDPROOF_LOCATION_KEY_FILE")
        .env_remove("GRIDPROOF_KEYS")
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .expect("the gridproof binary starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_proof_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("gridproof.db");
    let store = Store::open_sqlite(db.clone(), &StoreOptions::default())
        .await
        .unwrap();
    let epoch = 4242;
    let sites: Vec<u64> = (1..=12).collect();
    let readings = closed_epoch(&store, epoch, &sites, &sites, 3).await;
    let _ = keys();

    let first_log = dir.path().join("first.log");
    let mut first = spawn_worker(&db, &first_log);
    // Wait until the first worker holds a prove job, then kill it outright (SIGKILL).
    let started = Instant::now();
    let victim = loop {
        if let Some(status) = first.try_wait().unwrap() {
            panic!(
                "the first worker exited ({status}) before a prove job was seen running:\n{}",
                std::fs::read_to_string(&first_log).unwrap_or_default()
            );
        }
        let jobs = store.jobs_of_epoch(epoch).await.unwrap();
        if let Some(j) = jobs
            .iter()
            .find(|j| j.kind == JobKind::ProveBatch && j.state == JobState::Running)
        {
            first.kill().unwrap();
            first.wait().unwrap();
            break j.clone();
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "no prove job started:\n{}",
            std::fs::read_to_string(&first_log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let after_kill = store.job(victim.id).await.unwrap().unwrap();
    assert_eq!(
        (after_kill.state, after_kill.attempts),
        (JobState::Running, 1),
        "the killed worker should have died holding the job (it finished first?)"
    );

    let second_log = dir.path().join("second.log");
    let mut second = spawn_worker(&db, &second_log);
    let deadline = Instant::now() + Duration::from_secs(300);
    let status = loop {
        if let Some(status) = second.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = second.kill();
            panic!(
                "the second worker did not finish:\n{}",
                std::fs::read_to_string(&second_log).unwrap_or_default()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let second_text = std::fs::read_to_string(&second_log).unwrap_or_default();
    assert!(status.success(), "{status}:\n{second_text}");

    let e = store.epoch(epoch).await.unwrap().unwrap();
    assert_eq!(
        e.status,
        EpochStatus::Proved,
        "{:?}\n{second_text}",
        e.error
    );
    let batches = store.batches(epoch).await.unwrap();
    assert_eq!(batches.len(), 3);
    assert!(batches.iter().all(|b| b.status == BatchStatus::Proved));
    let jobs = store.jobs_of_epoch(epoch).await.unwrap();
    let proves: Vec<_> = jobs
        .iter()
        .filter(|j| j.kind == JobKind::ProveBatch)
        .collect();
    assert_eq!(proves.len(), 3, "one prove job per batch, each proved once");
    for j in &proves {
        assert_eq!(j.state, JobState::Succeeded, "{j:?}");
        if j.id == victim.id {
            assert_eq!(j.attempts, 2, "the killed attempt and the takeover: {j:?}");
            assert_ne!(
                j.lease_owner, victim.lease_owner,
                "taken over by the second worker"
            );
        }
    }
    let expected = readings
        .iter()
        .map(totals_of)
        .fold((0, 0), |(e, r), (a, b)| (e + a, r + b));
    assert_eq!(verified_totals(&store, epoch).await, expected);
    assert!(
        second_text.contains("claimed") && second_text.contains("proved"),
        "{second_text}"
    );
}
