//! Storage tests (api/src/store), each run on both backends: SQLite in a temporary folder and
//! PostgreSQL in a fresh database `gridproof_test_<random>` on the server of
//! `GRIDPROOF_TEST_DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/`), dropped
//! afterwards. Without a server the PostgreSQL variants print a loud SKIP line and pass, unless
//! `GRIDPROOF_REQUIRE_POSTGRES=1` (CI), which makes them fail instead.

use std::collections::HashSet;
use std::time::Duration;

use gridproof_api::store::tokens::token_sha256;
use gridproof_api::store::{
    BatchStatus, CloseOutcome, EpochStatus, JobKind, JobState, LocationCipher, LocationError,
    LocationSecret, NewBatch, NewEpoch, NewInstallation, NewJob, NewReading, OpenOutcome,
    ReadingOutcome, RegisterOutcome, Retry, Role, StoreError,
};
use gridproof_circuits::eddsa::{PrivateKey, PublicKey, Signature};
use gridproof_circuits::registry::Location;
use gridproof_circuits::Fr;

#[macro_use]
mod support;
use support::db::TestDb;

both_backends!(
    migrations_apply_twice,
    tokens_are_stored_hashed,
    installations_round_trip_with_sealed_locations,
    epochs_open_and_close_idempotently,
    readings_are_idempotent_and_conflicts_are_refused,
    readings_batch_decides_per_item,
    plan_prove_publish_an_epoch,
    expired_lease_is_taken_over_and_the_old_worker_is_fenced,
    failing_job_ends_failed_after_max_attempts,
    concurrent_claimers_never_share_a_job,
);

// ---------------------------------------------------------------------------------------------
// Fixtures

fn cipher() -> LocationCipher {
    LocationCipher::from_key(&[0x42; 32])
}

fn meter_key(seed: u8) -> (PrivateKey, PublicKey) {
    let sk = PrivateKey::from_bytes([seed; 32]);
    let pk = sk.public_key();
    (sk, pk)
}

const SECRET_REGION: &str = "XX-SECRETPLACE";
const SECRET_LAT: i64 = 41_878_113;

fn installation(site_id: u64, operator: gridproof_api::store::OperatorId) -> NewInstallation {
    NewInstallation {
        site_id,
        operator_id: operator,
        meter_public_key: meter_key((site_id % 200) as u8 + 1).1,
        capacity_w: 250_000,
        prices_uusd_per_kwh: vec![60_000, 90_000, 180_000, 75_000],
        location: LocationSecret {
            location: Location {
                latitude_microdeg: SECRET_LAT,
                longitude_microdeg: -87_629_799,
                region: SECRET_REGION.into(),
            },
            salt: Fr::from(site_id) * Fr::from(0x1234_5678_9abc_def1u64),
        },
    }
}

/// A reading whose signature fields are arbitrary field elements (the store does not verify).
fn reading(site_id: u64, epoch: u64, base: u32) -> NewReading {
    NewReading {
        site_id,
        epoch,
        interval_seconds: 3600,
        readings_wh: (0..24).map(|i| base + i).collect(),
        signature: Signature {
            r8_x: Fr::from(site_id + 1),
            r8_y: Fr::from(epoch + 2),
            s: Fr::from(u64::from(base) + 3),
        },
    }
}

fn hourly_epoch(epoch: u64) -> NewEpoch {
    NewEpoch {
        epoch,
        interval_seconds: 3600,
        slots: (0..24).map(|i| (i / 6) as u8).collect(),
    }
}

/// An open epoch with `sites` registered sites 1..=n.
async fn setup(db: &TestDb, epoch: u64, sites: u64) -> gridproof_api::store::OperatorId {
    let op = db.store.ensure_operator("acme solar").await.unwrap();
    for s in 1..=sites {
        db.store
            .register_installation(&installation(s, op), &cipher())
            .await
            .unwrap();
    }
    db.store.open_epoch(&hourly_epoch(epoch)).await.unwrap();
    op
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

// ---------------------------------------------------------------------------------------------
// Tests

async fn migrations_apply_twice(db: &TestDb) {
    db.store.migrate().await.unwrap();
    db.store.migrate().await.unwrap();
    let again = db.reopen().await;
    again.migrate().await.unwrap();
    // The schema is usable after all that.
    let op = again.ensure_operator("o").await.unwrap();
    assert_eq!(db.store.operator_by_name("o").await.unwrap(), Some(op));
    again.ping().await.unwrap();
}

async fn tokens_are_stored_hashed(db: &TestDb) {
    let s = &db.store;
    let op = s.ensure_operator("acme").await.unwrap();
    assert_eq!(s.ensure_operator("acme").await.unwrap(), op, "idempotent");
    let other = s.ensure_operator("other").await.unwrap();
    assert_ne!(op, other);

    assert!(matches!(
        s.create_token(Role::Operator, None, "x").await,
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(
        s.create_token(Role::Admin, Some(op), "x").await,
        Err(StoreError::Invalid(_))
    ));

    let (admin_id, admin_secret) = s.create_token(Role::Admin, None, "root").await.unwrap();
    let (op_id, op_secret) = s
        .create_token(Role::Operator, Some(op), "gw-1")
        .await
        .unwrap();
    assert_ne!(admin_secret, op_secret);

    let rec = s
        .authenticate(&op_secret)
        .await
        .unwrap()
        .expect("token found");
    assert_eq!(
        (rec.id, rec.role, rec.operator_id, rec.label.as_str()),
        (op_id, Role::Operator, Some(op), "gw-1")
    );
    let rec = s
        .token_by_sha256(&token_sha256(&admin_secret))
        .await
        .unwrap()
        .expect("found by hash");
    assert_eq!(
        (rec.id, rec.role, rec.operator_id),
        (admin_id, Role::Admin, None)
    );

    // A near miss finds nothing.
    let mut wrong = op_secret.clone();
    wrong.pop();
    wrong.push(if op_secret.ends_with('0') { '1' } else { '0' });
    assert!(s.authenticate(&wrong).await.unwrap().is_none());

    // Only hashes are in the database.
    let raw = db.raw_bytes("api_tokens").await;
    for secret in [&admin_secret, &op_secret] {
        assert!(
            !contains(&raw, secret.as_bytes()),
            "a token secret is stored in clear"
        );
        let hex_part = &secret[gridproof_api::store::tokens::TOKEN_PREFIX.len()..];
        assert!(!contains(&raw, hex_part.as_bytes()));
    }

    assert!(s.revoke_token(op_id).await.unwrap());
    assert!(!s.revoke_token(op_id).await.unwrap(), "already revoked");
    assert!(s.authenticate(&op_secret).await.unwrap().is_none());
    let all = s.list_tokens().await.unwrap();
    assert_eq!(all.len(), 2);
    assert!(all[1].revoked_at_ms.is_some());
}

async fn installations_round_trip_with_sealed_locations(db: &TestDb) {
    let s = &db.store;
    let op = s.ensure_operator("acme").await.unwrap();
    let other_op = s.ensure_operator("rival").await.unwrap();
    let big_id = u64::MAX - 5; // ids above i64::MAX survive the round trip
    for id in [101, 102, big_id] {
        assert_eq!(
            s.register_installation(&installation(id, op), &cipher())
                .await
                .unwrap(),
            RegisterOutcome::Created
        );
    }
    s.register_installation(&installation(7, other_op), &cipher())
        .await
        .unwrap();

    // Same content again (even with a fresh salt): idempotent.
    let mut again = installation(101, op);
    again.location.salt = Fr::from(5u64);
    assert_eq!(
        s.register_installation(&again, &cipher()).await.unwrap(),
        RegisterOutcome::AlreadyRegistered
    );
    // Different content under the same id: conflict.
    let mut changed = installation(101, op);
    changed.capacity_w += 1;
    assert!(matches!(
        s.register_installation(&changed, &cipher()).await,
        Err(StoreError::Conflict { .. })
    ));
    let mut moved = installation(101, op);
    moved.location.location.latitude_microdeg += 1;
    assert!(matches!(
        s.register_installation(&moved, &cipher()).await,
        Err(StoreError::Conflict { .. })
    ));

    for id in [101, big_id] {
        let want = installation(id, op);
        let got = s.installation(id).await.unwrap().expect("stored");
        assert_eq!(got.site_id, id);
        assert_eq!(got.operator_id, op);
        assert_eq!(got.meter_public_key, want.meter_public_key);
        assert_eq!(got.capacity_w, want.capacity_w);
        assert_eq!(got.prices_uusd_per_kwh, want.prices_uusd_per_kwh);
        assert_eq!(got.location.key_id, cipher().key_id());
        // The right key opens it (the first salt is kept).
        assert_eq!(s.open_location(id, &cipher()).await.unwrap(), want.location);
    }
    assert!(s.installation(999).await.unwrap().is_none());

    // The wrong key: a typed error, not garbage.
    let wrong = LocationCipher::from_key(&[0x43; 32]);
    assert!(matches!(
        s.open_location(101, &wrong).await,
        Err(StoreError::Location(LocationError::WrongKey {
            site_id: 101,
            ..
        }))
    ));

    // Listing and paging.
    let mine = s.list_installations(Some(op), None, 100).await.unwrap();
    let ids: HashSet<u64> = mine.iter().map(|i| i.site_id).collect();
    assert_eq!(ids, HashSet::from([101, 102, big_id]));
    let page = s.list_installations(None, None, 2).await.unwrap();
    assert_eq!(page.len(), 2);
    let rest = s
        .list_installations(None, Some(page[1].site_id), 100)
        .await
        .unwrap();
    assert_eq!(page.len() + rest.len(), 4);
    let some = s.installations(&[102, 5, 101, 102]).await.unwrap();
    assert_eq!(
        some.iter().map(|i| i.site_id).collect::<Vec<_>>(),
        vec![101, 102]
    );

    // No plaintext location anywhere in the stored bytes.
    let raw = db.raw_bytes("installations").await;
    assert!(
        !contains(&raw, SECRET_REGION.as_bytes()),
        "region stored in clear"
    );
    assert!(!contains(&raw, hex::encode(SECRET_REGION).as_bytes()));
    assert!(
        !contains(&raw, &SECRET_LAT.to_be_bytes()),
        "latitude stored in clear"
    );
    assert!(!contains(
        &raw,
        hex::encode(SECRET_LAT.to_be_bytes()).as_bytes()
    ));
    assert!(!contains(&raw, SECRET_LAT.to_string().as_bytes()));

    // A sealed location copied onto another site's row does not open there.
    db.raw_execute(
        "UPDATE installations SET location_sealed = \
         (SELECT location_sealed FROM installations WHERE site_id = 101) WHERE site_id = 102",
    )
    .await;
    assert!(matches!(
        s.open_location(102, &cipher()).await,
        Err(StoreError::Location(LocationError::Tampered {
            site_id: 102
        }))
    ));
}

async fn epochs_open_and_close_idempotently(db: &TestDb) {
    let s = &db.store;
    let e = 20300;
    assert_eq!(
        s.open_epoch(&hourly_epoch(e)).await.unwrap(),
        OpenOutcome::Opened
    );
    assert_eq!(
        s.open_epoch(&hourly_epoch(e)).await.unwrap(),
        OpenOutcome::AlreadyExists
    );
    let mut other = hourly_epoch(e);
    other.slots[0] = 3;
    assert!(matches!(
        s.open_epoch(&other).await,
        Err(StoreError::Conflict { .. })
    ));
    let got = s.epoch(e).await.unwrap().unwrap();
    assert_eq!(
        (
            got.status,
            got.interval_seconds,
            got.slots.len(),
            got.closed_at_ms
        ),
        (EpochStatus::Open, 3600, 24, None)
    );
    assert!(matches!(
        s.close_epoch(e + 1, 3).await,
        Err(StoreError::NotFound { .. })
    ));
    let CloseOutcome::Closed { plan_job_id } = s.close_epoch(e, 3).await.unwrap() else {
        panic!("first close must close");
    };
    assert_eq!(
        s.close_epoch(e, 3).await.unwrap(),
        CloseOutcome::AlreadyClosed(EpochStatus::Proving)
    );
    let got = s.epoch(e).await.unwrap().unwrap();
    assert_eq!(got.status, EpochStatus::Proving);
    assert!(got.closed_at_ms.is_some());
    let jobs = s.jobs_of_epoch(e).await.unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!(
        (
            jobs[0].id,
            jobs[0].kind,
            jobs[0].state,
            jobs[0].max_attempts
        ),
        (plan_job_id, JobKind::PlanEpoch, JobState::Queued, 3)
    );
    // Compare-and-set names what it found.
    match s
        .set_epoch_status(e, EpochStatus::Proved, EpochStatus::Published)
        .await
    {
        Err(StoreError::State { actual, .. }) => assert_eq!(actual, "proving"),
        other => panic!("expected a state error, got {other:?}"),
    }
    s.open_epoch(&hourly_epoch(e + 5)).await.unwrap();
    let list = s.list_epochs(None, 10).await.unwrap();
    assert_eq!(
        list.iter().map(|x| x.epoch).collect::<Vec<_>>(),
        vec![e + 5, e]
    );
    assert_eq!(s.list_epochs(Some(e + 5), 10).await.unwrap().len(), 1);
}

async fn readings_are_idempotent_and_conflicts_are_refused(db: &TestDb) {
    let s = &db.store;
    let e = 7;
    setup(db, e, 3).await;
    let r1 = reading(1, e, 100);
    assert_eq!(s.insert_reading(&r1).await.unwrap(), ReadingOutcome::Stored);
    assert_eq!(
        s.insert_reading(&r1).await.unwrap(),
        ReadingOutcome::Duplicate
    );
    let mut other_body = r1.clone();
    other_body.readings_wh[5] += 1;
    assert_eq!(
        s.insert_reading(&other_body).await.unwrap(),
        ReadingOutcome::Conflict
    );
    let mut other_sig = r1.clone();
    other_sig.signature.s += Fr::from(1u64);
    assert_eq!(
        s.insert_reading(&other_sig).await.unwrap(),
        ReadingOutcome::Conflict
    );
    assert_eq!(
        s.insert_reading(&reading(99, e, 1)).await.unwrap(),
        ReadingOutcome::UnknownSite
    );
    assert_eq!(
        s.insert_reading(&reading(1, e + 1, 1)).await.unwrap(),
        ReadingOutcome::EpochNotOpen(None)
    );

    // What was stored is what was sent, and a fresh connection sees it (committed).
    let stored = db
        .reopen()
        .await
        .reading(1, e)
        .await
        .unwrap()
        .expect("stored");
    assert_eq!(
        (stored.site_id, stored.epoch, stored.interval_seconds),
        (1, e, 3600)
    );
    assert_eq!(stored.readings_wh, r1.readings_wh);
    assert_eq!(stored.signature, r1.signature);
    assert_eq!(stored.body_sha256, r1.body_sha256());

    // After the close: no new readings, but a resubmission is still recognised.
    s.close_epoch(e, 3).await.unwrap();
    assert_eq!(
        s.insert_reading(&reading(2, e, 5)).await.unwrap(),
        ReadingOutcome::EpochNotOpen(Some(EpochStatus::Proving))
    );
    assert_eq!(
        s.insert_reading(&r1).await.unwrap(),
        ReadingOutcome::Duplicate
    );
    assert_eq!(
        s.insert_reading(&other_body).await.unwrap(),
        ReadingOutcome::Conflict
    );
    assert_eq!(s.count_readings(e).await.unwrap(), 1);
}

async fn readings_batch_decides_per_item(db: &TestDb) {
    let s = &db.store;
    let e = 8;
    setup(db, e, 6).await;
    let old = reading(1, e, 10);
    s.insert_reading(&old).await.unwrap();
    let mut old_changed = old.clone();
    old_changed.readings_wh[0] = 0;
    let a = reading(2, e, 20);
    let mut a_changed = a.clone();
    a_changed.readings_wh[1] = 0;
    let b = reading(3, e, 30);
    let batch = vec![
        a.clone(),          // new
        old.clone(),        // already stored, same
        old_changed,        // already stored, different
        reading(77, e, 1),  // unknown site
        b.clone(),          // new
        a.clone(),          // repeated in the batch, same
        a_changed,          // repeated in the batch, different
        reading(4, 999, 1), // unknown epoch
    ];
    let out = s.insert_readings(&batch).await.unwrap();
    use ReadingOutcome::*;
    assert_eq!(
        out,
        vec![
            Stored,
            Duplicate,
            Conflict,
            UnknownSite,
            Stored,
            Duplicate,
            Conflict,
            EpochNotOpen(None)
        ]
    );
    // The same batch again: everything stored is now a duplicate, refusals stay refusals.
    let again = s.insert_readings(&batch).await.unwrap();
    assert_eq!(
        again,
        vec![
            Duplicate,
            Duplicate,
            Conflict,
            UnknownSite,
            Duplicate,
            Duplicate,
            Conflict,
            EpochNotOpen(None)
        ]
    );
    let all = s.epoch_readings(e).await.unwrap();
    assert_eq!(
        all.iter().map(|r| r.site_id).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    assert_eq!(all[1].readings_wh, a.readings_wh);

    // A large batch (several multi-row statements on SQLite), all in one transaction.
    let op = s.ensure_operator("acme solar").await.unwrap();
    let e2 = 9;
    s.open_epoch(&hourly_epoch(e2)).await.unwrap();
    let n = 2_345u64;
    for site in 7..7 + n {
        s.register_installation(&installation(site, op), &cipher())
            .await
            .unwrap();
    }
    let many: Vec<NewReading> = (7..7 + n)
        .map(|site| reading(site, e2, site as u32))
        .collect();
    let out = s.insert_readings(&many).await.unwrap();
    assert!(out.iter().all(|o| *o == Stored));
    assert_eq!(s.count_readings(e2).await.unwrap(), n);
    let out = s.insert_readings(&many).await.unwrap();
    assert!(out.iter().all(|o| *o == Duplicate));
}

async fn plan_prove_publish_an_epoch(db: &TestDb) {
    let s = &db.store;
    let e = 11;
    setup(db, e, 6).await;
    for site in 1..=6 {
        s.insert_reading(&reading(site, e, site as u32))
            .await
            .unwrap();
    }
    s.close_epoch(e, 2).await.unwrap();
    // Prove workers do not take plan jobs.
    assert!(s
        .claim_job("w1", &[JobKind::ProveBatch], Duration::from_secs(30))
        .await
        .unwrap()
        .is_none());
    let plan = s
        .claim_job("w1", &[JobKind::PlanEpoch], Duration::from_secs(30))
        .await
        .unwrap()
        .expect("the plan job");
    assert_eq!(
        (plan.job.kind, plan.job.epoch, plan.attempt),
        (JobKind::PlanEpoch, e, 1)
    );
    let root = [7u8; 32];
    let batches = vec![
        NewBatch {
            batch_index: 0,
            site_ids: vec![4, 2, 6],
        },
        NewBatch {
            batch_index: 1,
            site_ids: vec![1, 3, 5],
        },
    ];
    // A malformed plan is refused before anything changes.
    let bad = vec![batches[1].clone()];
    assert!(matches!(
        s.complete_plan_epoch(&plan, &root, &bad, 3).await,
        Err(StoreError::Invalid(_))
    ));
    let prove_ids = s
        .complete_plan_epoch(&plan, &root, &batches, 3)
        .await
        .unwrap();
    assert_eq!(prove_ids.len(), 2);
    assert!(matches!(
        s.complete_plan_epoch(&plan, &root, &batches, 3).await,
        Err(StoreError::LeaseLost { .. })
    ));
    assert_eq!(s.epoch(e).await.unwrap().unwrap().registry_root, Some(root));
    assert_eq!(s.site_position(e, 6).await.unwrap(), Some((0, 2)));
    assert_eq!(s.site_position(e, 1).await.unwrap(), Some((1, 0)));
    assert_eq!(s.site_position(e, 99).await.unwrap(), None);

    let mut leases = Vec::new();
    while let Some(l) = s
        .claim_job("w2", &[JobKind::ProveBatch], Duration::from_secs(30))
        .await
        .unwrap()
    {
        leases.push(l);
    }
    assert_eq!(
        leases.iter().map(|l| l.job.batch_index).collect::<Vec<_>>(),
        vec![Some(0), Some(1)]
    );
    assert!(!s
        .complete_prove_batch(&leases[1], "{\"b\":1}", "{\"p\":1}")
        .await
        .unwrap());
    assert_eq!(
        s.epoch(e).await.unwrap().unwrap().status,
        EpochStatus::Proving
    );
    assert!(s
        .complete_prove_batch(&leases[0], "{\"b\":0}", "{\"p\":0}")
        .await
        .unwrap());
    assert_eq!(
        s.epoch(e).await.unwrap().unwrap().status,
        EpochStatus::Proved
    );
    let stored = s.batches(e).await.unwrap();
    assert_eq!(stored.len(), 2);
    assert_eq!(stored[0].site_ids, vec![4, 2, 6]);
    assert_eq!(stored[1].site_ids, vec![1, 3, 5]);
    assert_eq!(stored[0].status, BatchStatus::Proved);
    assert_eq!(stored[0].proof.as_deref(), Some("{\"p\":0}"));
    assert_eq!(stored[1].public_inputs.as_deref(), Some("{\"b\":1}"));

    assert!(!s.set_batch_published(e, 0, &[0xaa; 32]).await.unwrap());
    assert!(s.set_batch_published(e, 1, &[0xbb; 32]).await.unwrap());
    assert_eq!(
        s.epoch(e).await.unwrap().unwrap().status,
        EpochStatus::Published
    );
    s.set_epoch_status(e, EpochStatus::Published, EpochStatus::Final)
        .await
        .unwrap();
    let counts = s.job_counts().await.unwrap();
    assert!(counts.contains(&(JobKind::ProveBatch, JobState::Succeeded, 2)));
    assert!(counts.contains(&(JobKind::PlanEpoch, JobState::Succeeded, 1)));
}

async fn expired_lease_is_taken_over_and_the_old_worker_is_fenced(db: &TestDb) {
    let s = &db.store;
    let e = 12;
    setup(db, e, 0).await;
    let id = s
        .enqueue_job(&NewJob {
            kind: JobKind::ProveBatch,
            epoch: e,
            batch_index: Some(0),
            max_attempts: 5,
        })
        .await
        .unwrap();
    // Queuing the same work again gives the same job.
    assert_eq!(
        s.enqueue_job(&NewJob {
            kind: JobKind::ProveBatch,
            epoch: e,
            batch_index: Some(0),
            max_attempts: 5,
        })
        .await
        .unwrap(),
        id
    );
    let kinds = [JobKind::ProveBatch];
    let mut old = s
        .claim_job("old", &kinds, Duration::from_millis(800))
        .await
        .unwrap()
        .expect("claimed");
    assert_eq!((old.job.id, old.attempt), (id, 1));
    assert!(s
        .claim_job("new", &kinds, Duration::from_secs(30))
        .await
        .unwrap()
        .is_none());

    // Heartbeats keep it.
    let first_expiry = old.expires_at_ms;
    tokio::time::sleep(Duration::from_millis(500)).await;
    s.heartbeat(&mut old, Duration::from_millis(800))
        .await
        .unwrap();
    assert!(old.expires_at_ms > first_expiry);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(
        s.claim_job("new", &kinds, Duration::from_secs(30))
            .await
            .unwrap()
            .is_none(),
        "the heartbeat extended the lease"
    );

    // Silence: the lease expires and another worker takes the job over.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let mut new = s
        .claim_job("new", &kinds, Duration::from_secs(30))
        .await
        .unwrap()
        .expect("taken over");
    assert_eq!(
        (new.job.id, new.attempt, new.worker.as_str()),
        (id, 2, "new")
    );

    // The old worker is fenced off from everything.
    assert!(matches!(
        s.heartbeat(&mut old, Duration::from_secs(30)).await,
        Err(StoreError::LeaseLost { attempt: 1, .. })
    ));
    assert!(matches!(
        s.complete_job(&old).await,
        Err(StoreError::LeaseLost { .. })
    ));
    assert!(matches!(
        s.fail_job(&old, "late", Retry::Never).await,
        Err(StoreError::LeaseLost { .. })
    ));
    // Even a worker with the same name but the old attempt.
    let mut same_name = old.clone();
    same_name.worker = "new".into();
    assert!(s.complete_job(&same_name).await.is_err());

    s.heartbeat(&mut new, Duration::from_secs(30))
        .await
        .unwrap();
    s.complete_job(&new).await.unwrap();
    let job = s.job(id).await.unwrap().unwrap();
    assert_eq!((job.state, job.attempts), (JobState::Succeeded, 2));
    assert!(job.finished_at_ms.is_some());
    assert!(matches!(
        s.complete_job(&new).await,
        Err(StoreError::LeaseLost { .. })
    ));
}

async fn failing_job_ends_failed_after_max_attempts(db: &TestDb) {
    let s = &db.store;
    let e = 13;
    setup(db, e, 3).await;
    for site in 1..=3 {
        s.insert_reading(&reading(site, e, 1)).await.unwrap();
    }
    s.close_epoch(e, 1).await.unwrap();
    let kinds = [JobKind::PlanEpoch, JobKind::ProveBatch];
    let plan = s
        .claim_job("w", &kinds, Duration::from_secs(30))
        .await
        .unwrap()
        .unwrap();
    let batches = [NewBatch {
        batch_index: 0,
        site_ids: vec![1, 2, 3],
    }];
    s.complete_plan_epoch(&plan, &[1; 32], &batches, 2)
        .await
        .unwrap();

    // Attempt 1 fails and is retried (not before its delay).
    let l1 = s
        .claim_job("w", &kinds, Duration::from_secs(30))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        s.fail_job(
            &l1,
            "prover ran out of memory",
            Retry::After(Duration::from_millis(300))
        )
        .await
        .unwrap(),
        JobState::Queued
    );
    let job = s.job(l1.job.id).await.unwrap().unwrap();
    assert_eq!(job.state, JobState::Queued);
    assert_eq!(job.last_error.as_deref(), Some("prover ran out of memory"));
    assert!(s
        .claim_job("w", &kinds, Duration::from_secs(30))
        .await
        .unwrap()
        .is_none());
    tokio::time::sleep(Duration::from_millis(400)).await;

    // Attempt 2 of 2 fails: the job, its batch and its epoch end failed with the error.
    let l2 = s
        .claim_job("w", &kinds, Duration::from_secs(30))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((l2.job.id, l2.attempt), (l1.job.id, 2));
    assert_eq!(
        s.fail_job(
            &l2,
            "constraint 'capacity bound' unsatisfied",
            Retry::After(Duration::ZERO)
        )
        .await
        .unwrap(),
        JobState::Failed
    );
    let job = s.job(l1.job.id).await.unwrap().unwrap();
    assert_eq!((job.state, job.attempts), (JobState::Failed, 2));
    assert_eq!(
        job.last_error.as_deref(),
        Some("constraint 'capacity bound' unsatisfied")
    );
    let epoch = s.epoch(e).await.unwrap().unwrap();
    assert_eq!(epoch.status, EpochStatus::Failed);
    assert!(epoch.error.unwrap().contains("capacity bound"));
    let batch = &s.batches(e).await.unwrap()[0];
    assert_eq!(batch.status, BatchStatus::Failed);
    assert!(s
        .claim_job("w", &kinds, Duration::from_secs(30))
        .await
        .unwrap()
        .is_none());

    // A job whose worker dies on its last attempt ends failed at the next claim.
    let e2 = 14;
    s.open_epoch(&hourly_epoch(e2)).await.unwrap();
    let id = s
        .enqueue_job(&NewJob {
            kind: JobKind::ProveBatch,
            epoch: e2,
            batch_index: Some(0),
            max_attempts: 1,
        })
        .await
        .unwrap();
    let dying = s
        .claim_job("dies", &kinds, Duration::from_millis(150))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(dying.job.id, id);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(s
        .claim_job("w", &kinds, Duration::from_secs(30))
        .await
        .unwrap()
        .is_none());
    let job = s.job(id).await.unwrap().unwrap();
    assert_eq!(job.state, JobState::Failed);
    let err = job.last_error.unwrap();
    assert!(err.contains("dies") && err.contains("expired"), "{err}");

    // Retry::Never fails at once even with attempts left.
    let id = s
        .enqueue_job(&NewJob {
            kind: JobKind::ProveBatch,
            epoch: e2,
            batch_index: Some(1),
            max_attempts: 9,
        })
        .await
        .unwrap();
    let l = s
        .claim_job("w", &kinds, Duration::from_secs(30))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(l.job.id, id);
    assert_eq!(
        s.fail_job(&l, "no readings", Retry::Never).await.unwrap(),
        JobState::Failed
    );
}

async fn concurrent_claimers_never_share_a_job(db: &TestDb) {
    let e = 15;
    setup(db, e, 0).await;
    let jobs = 60u32;
    let mut all = HashSet::new();
    for b in 0..jobs {
        all.insert(
            db.store
                .enqueue_job(&NewJob {
                    kind: JobKind::ProveBatch,
                    epoch: e,
                    batch_index: Some(b),
                    max_attempts: 3,
                })
                .await
                .unwrap(),
        );
    }
    // Two stores on the same database (two processes or machines), eight workers each.
    let stores = [db.store.clone(), db.reopen().await];
    let mut tasks = Vec::new();
    for w in 0..16 {
        let store = stores[w % 2].clone();
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            while let Some(lease) = store
                .claim_job(
                    &format!("w{w}"),
                    &[JobKind::ProveBatch],
                    Duration::from_secs(60),
                )
                .await
                .unwrap()
            {
                mine.push(lease.job.id);
                tokio::task::yield_now().await;
                store.complete_job(&lease).await.unwrap();
            }
            mine
        }));
    }
    let mut claimed = Vec::new();
    for t in tasks {
        claimed.extend(t.await.unwrap());
    }
    let distinct: HashSet<i64> = claimed.iter().copied().collect();
    assert_eq!(claimed.len(), distinct.len(), "a job was claimed twice");
    assert_eq!(distinct, all, "every job claimed exactly once");
    for j in db.store.jobs_of_epoch(e).await.unwrap() {
        assert_eq!((j.state, j.attempts), (JobState::Succeeded, 1));
    }
}
