//! The publisher (api/src/publisher) against RevenueOracle on a local anvil (started and killed
//! by the test, from verifier-contract/node_modules), with epochs proved through the store's
//! job queue by the proving workers at S = 4, T = 8, P = 4 (development keys made in the test
//! process; the verifier generated from them and compiled with the npm forge). Each scenario
//! runs on SQLite (temporary folder) and on PostgreSQL (a fresh database on
//! `GRIDPROOF_TEST_DATABASE_URL`, default `postgres://postgres@127.0.0.1:5432/`, dropped
//! afterwards; without a server the variant prints a loud SKIP line and passes unless
//! `GRIDPROOF_REQUIRE_POSTGRES=1`).
//!
//! - A proved epoch of two batches goes to `final`: the epoch is opened on-chain, both batches
//!   accepted once, the totals on-chain equal the stored ones.
//! - A publisher stopped after `sent` (automining off, so the transaction waits in the pool)
//!   and started again does not send twice: the node's nonce, the single `BatchAccepted` and
//!   the recorded hash show one transaction; a transaction the node forgot is broadcast again
//!   with the same hash; a stuck one is replaced under the same nonce with fees >= +12.5 %.
//! - A batch someone else submitted first counts as success, with their transaction recorded.
//! - After the first scenario, `/metrics` shows the prove-seconds and publish-latency
//!   histograms.

use std::future::pending;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use alloy::primitives::{Address, B256, U256};
use alloy::providers::Provider;
use alloy::rpc::types::Filter;
use alloy::sol_types::SolEvent;
use gridproof_api::chain::bindings::RevenueOracle;
use gridproof_api::chain::{batch_words, toolchain, Chain, EpochOpening};
use gridproof_api::publisher::{EpochProgress, Publisher};
use gridproof_api::store::{
    BatchStatus, CloseOutcome, EpochStatus, LocationCipher, LocationSecret, NewEpoch,
    NewInstallation, NewReading, PublicationKind, PublicationState, ReadingOutcome, Store,
};
use gridproof_api::worker::{run_workers, stored_proofs_file, WorkerConfig};
use gridproof_circuits::eddsa::PrivateKey;
use gridproof_circuits::registry::Location;
use gridproof_circuits::statement::BatchShape;
use gridproof_circuits::Fr;
use gridproof_prover::{setup_development, Keys};

const LOCATION_KEY: [u8; 32] = [0x24; 32];
const INTERVAL_SECONDS: u32 = 3600;
const SLOTS: [u8; 8] = [0, 0, 1, 1, 2, 2, 3, 3];
const PRICES: [u32; 4] = [60_000, 90_000, 180_000, 75_000];
/// anvil's second default account: a submitter that is not the publisher.
const OTHER_KEY: &str = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";

// ---------------------------------------------------------------------------------------------
// Keys, verifier, databases, chain

/// Development keys (S = 4, T = 8, P = 4) and their verifier's creation code, made once.
fn keys_and_verifier() -> &'static (Arc<Keys>, alloy::primitives::Bytes) {
    static ONCE: OnceLock<(Arc<Keys>, alloy::primitives::Bytes)> = OnceLock::new();
    ONCE.get_or_init(|| {
        let shape = BatchShape::new(4, SLOTS.len(), PRICES.len()).unwrap();
        let keys = setup_development(&shape, &mut rand::rngs::OsRng).unwrap();
        let source =
            gridproof_prover::solidity::render_verifier(&keys.verifying_key, "publisher test")
                .unwrap();
        let code = toolchain::compile_verifier(&contracts_dir(), &source).unwrap();
        (Arc::new(keys), code)
    })
}

fn cipher() -> Arc<LocationCipher> {
    Arc::new(LocationCipher::from_key(&LOCATION_KEY))
}

mod support;
use support::chain::{contracts_dir, TestChain};
use support::db::{postgres_db, sqlite_db, TestDb};
use support::proving::sign_readings;

/// The publisher's tests' own calls on the chain.
impl TestChain {
    async fn rpc(&self, method: &'static str, params: serde_json::Value) -> serde_json::Value {
        self.deployer
            .provider()
            .raw_request(method.into(), params)
            .await
            .unwrap_or_else(|e| panic!("{method}: {e}"))
    }

    async fn automine(&self, on: bool) {
        let _ = self.rpc("evm_setAutomine", serde_json::json!([on])).await;
    }

    async fn mine(&self) {
        let _ = self.rpc("evm_mine", serde_json::json!([])).await;
    }

    async fn mined_nonce(&self, who: Address) -> u64 {
        self.deployer
            .provider()
            .get_transaction_count(who)
            .latest()
            .await
            .unwrap()
    }

    /// Every `BatchAccepted` of (epoch, batch): (submitter, transaction).
    async fn acceptances(&self, epoch: u64, batch: u32) -> Vec<(Address, B256)> {
        let filter = Filter::new()
            .address(self.oracle)
            .event_signature(RevenueOracle::BatchAccepted::SIGNATURE_HASH)
            .topic1(B256::from(U256::from(epoch)))
            .topic2(B256::from(U256::from(batch)))
            .from_block(0u64);
        self.deployer
            .provider()
            .get_logs(&filter)
            .await
            .unwrap()
            .into_iter()
            .map(|l| {
                (
                    Address::from_word(l.topics()[3]),
                    l.transaction_hash.unwrap(),
                )
            })
            .collect()
    }
}

// ---------------------------------------------------------------------------------------------
// Epochs

fn meter(site_id: u64) -> PrivateKey {
    let mut seed = [9u8; 32];
    seed[..8].copy_from_slice(&site_id.to_be_bytes());
    PrivateKey::from_bytes(seed)
}

fn installation(site_id: u64, operator: gridproof_api::store::OperatorId) -> NewInstallation {
    NewInstallation {
        site_id,
        operator_id: operator,
        meter_public_key: meter(site_id).public_key(),
        capacity_w: 250_000,
        prices_uusd_per_kwh: PRICES.iter().map(|p| p + site_id as u32).collect(),
        location: LocationSecret {
            location: Location {
                latitude_microdeg: 42_360_000 + site_id as i64,
                longitude_microdeg: -71_058_000,
                region: "US-MA".into(),
            },
            salt: Fr::from(site_id) * Fr::from(0x0fed_cba9_8765_4321u64),
        },
    }
}

fn signed_reading(site_id: u64, epoch: u64) -> NewReading {
    let readings_wh: Vec<u32> = (0..SLOTS.len() as u32)
        .map(|i| (site_id as u32 * 997 + i * 6_007 + epoch as u32) % 200_000)
        .collect();
    sign_readings(
        &meter(site_id),
        site_id,
        epoch,
        INTERVAL_SECONDS,
        readings_wh,
    )
}

/// Registers `sites`, stores their signed readings for `epoch`, closes it and proves it with
/// the workers: the epoch ends `proved`.
async fn proved_epoch(store: &Store, epoch: u64, sites: &[u64]) {
    let op = store.ensure_operator("publisher test").await.unwrap();
    for &s in sites {
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
    let readings: Vec<NewReading> = sites.iter().map(|&s| signed_reading(s, epoch)).collect();
    let outcomes = store.insert_readings(&readings).await.unwrap();
    assert!(outcomes.iter().all(|o| *o == ReadingOutcome::Stored));
    let closed = store.close_epoch(epoch, 3).await.unwrap();
    assert!(matches!(closed, CloseOutcome::Closed { .. }), "{closed:?}");
    let mut config = WorkerConfig::new(Arc::clone(&keys_and_verifier().0), cipher());
    config.lease = Duration::from_secs(30);
    config.poll_interval = Duration::from_millis(50);
    config.once = true;
    run_workers(store.clone(), config, pending()).await.unwrap();
    let e = store.epoch(epoch).await.unwrap().unwrap();
    assert_eq!(e.status, EpochStatus::Proved, "{:?}", e.error);
}

/// Calls `advance_epoch` until it says final (automining on: nothing waits long).
async fn publish_to_final(publisher: &Publisher, epoch: u64) {
    for _ in 0..50 {
        match publisher.advance_epoch(epoch).await.unwrap() {
            EpochProgress::Final => return,
            EpochProgress::Waiting | EpochProgress::Published => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            other => panic!("epoch {epoch}: {other:?}"),
        }
    }
    panic!("epoch {epoch} not final after 50 passes");
}

// ---------------------------------------------------------------------------------------------
// Scenarios

/// Two batches (sites 1..=7: batches of 4 and 3) go to final through `Publisher::run`.
async fn a_proved_epoch_is_published_to_final(db: &TestDb, chain: &TestChain) {
    let store = &db.store;
    let epoch = 20_400;
    proved_epoch(store, epoch, &[1, 2, 3, 4, 5, 6, 7]).await;
    let publisher = Publisher::connect(store.clone(), chain.config())
        .await
        .unwrap();
    let sender = publisher.sender();
    let nonce_before = chain.mined_nonce(sender).await;

    // The running publisher (as `gridproof serve` runs it), stopped once the epoch is final.
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let run = tokio::spawn(publisher.run(async move {
        let _ = stop_rx.wait_for(|s| *s).await;
    }));
    let mut status = EpochStatus::Proved;
    for _ in 0..200 {
        status = store.epoch(epoch).await.unwrap().unwrap().status;
        if status == EpochStatus::Final {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop_tx.send(true).unwrap();
    run.await.unwrap().unwrap();
    assert_eq!(status, EpochStatus::Final);

    // One opening and two submissions, each confirmed once, from the publisher.
    assert_eq!(chain.mined_nonce(sender).await, nonce_before + 3);
    let rows = store.publications_of_epoch(epoch).await.unwrap();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0].kind, PublicationKind::OpenEpoch);
    let batches = store.batches(epoch).await.unwrap();
    for (b, row) in batches.iter().zip(&rows[1..]) {
        assert_eq!(row.state, PublicationState::Confirmed, "{row:?}");
        assert!(!row.accepted_elsewhere, "{row:?}");
        let tx = row.tx.as_ref().unwrap();
        assert!(row.block_number.is_some() && tx.max_fee_per_gas > 0 && tx.gas_limit > 0);
        assert_eq!(b.status, BatchStatus::Published);
        assert_eq!(b.tx_hash.as_deref(), Some(&tx.tx_hash[..]));
        let accepted = chain.acceptances(epoch, b.batch_index).await;
        assert_eq!(accepted, vec![(sender, B256::from(tx.tx_hash))]);
    }
    // The oracle's totals are the stored proofs' totals.
    let e = store.epoch(epoch).await.unwrap().unwrap();
    let file = stored_proofs_file(&e, &batches).unwrap();
    let (energy, revenue) = file
        .batches
        .iter()
        .fold((U256::ZERO, U256::ZERO), |(e, r), b| {
            let (inputs, _) = batch_words(b).unwrap();
            (e + inputs[3], r + inputs[4])
        });
    let totals = chain
        .deployer
        .epoch_totals(chain.oracle, U256::from(epoch))
        .await
        .unwrap();
    assert!(totals.is_final);
    assert_eq!(
        (totals.total_energy_wh, totals.total_revenue_nusd),
        (energy, revenue)
    );
    assert!(energy > U256::ZERO);

    // `/metrics` of a server on this store shows the proofs and the publications just made.
    let text = scrape_metrics(store).await;
    assert!(
        text.contains("# TYPE gridproof_prove_seconds histogram"),
        "{text}"
    );
    assert!(
        text.contains("# TYPE gridproof_publish_latency_seconds histogram"),
        "{text}"
    );
    // At least this epoch's (the other backend's variant may run in the same process).
    assert!(histogram_count(&text, "gridproof_prove_seconds", &[]) >= 2.0);
    assert!(
        text.contains("gridproof_prove_seconds_bucket{le=\"0.1\"}"),
        "the slow buckets: {text}"
    );
    for (kind, stage, at_least) in [
        ("open_epoch", "mined", 1.0),
        ("open_epoch", "confirmed", 1.0),
        ("submit_batch", "mined", 2.0),
        ("submit_batch", "confirmed", 2.0),
    ] {
        let labels = [format!("kind=\"{kind}\""), format!("stage=\"{stage}\"")];
        let labels: Vec<&str> = labels.iter().map(String::as_str).collect();
        let n = histogram_count(&text, "gridproof_publish_latency_seconds", &labels);
        assert!(n >= at_least, "{kind} {stage}: {n} in {text}");
    }
    assert!(
        text.contains("gridproof_jobs{kind=\"prove_batch\",state=\"succeeded\"}"),
        "{text}"
    );
}

/// `GET /metrics` of the service's router on `store`, over loopback.
async fn scrape_metrics(store: &Store) -> String {
    use gridproof_api::http::{router, serve, AppState, HttpConfig};
    let state = AppState::new(store.clone(), (*cipher()).clone(), HttpConfig::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let server = tokio::spawn(serve(listener, router(state), async move {
        let _ = stop_rx.wait_for(|s| *s).await;
    }));
    let response = reqwest::get(format!("http://{address}/metrics"))
        .await
        .unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    let text = response.text().await.unwrap();
    stop_tx.send(true).unwrap();
    server.await.unwrap().unwrap();
    text
}

/// The sum of `name_count` over the series whose labels include every one of `labels`.
fn histogram_count(text: &str, name: &str, labels: &[&str]) -> f64 {
    let prefix = format!("{name}_count");
    text.lines()
        .filter(|l| l.starts_with(&prefix) && labels.iter().all(|x| l.contains(x)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Stopped after `sent`, started again (twice): one transaction in all.
async fn a_restarted_publisher_does_not_send_twice(db: &TestDb, chain: &TestChain) {
    let store = &db.store;
    let epoch = 20_401;
    proved_epoch(store, epoch, &[11, 12, 13, 14]).await;
    chain.automine(false).await;
    let first = Publisher::connect(store.clone(), chain.config())
        .await
        .unwrap();
    let sender = first.sender();
    let nonce_before = chain.mined_nonce(sender).await;
    // The opening waits in the pool; mine it, then the submission is sent and waits.
    assert_eq!(
        first.advance_epoch(epoch).await.unwrap(),
        EpochProgress::Waiting
    );
    chain.mine().await;
    assert_eq!(
        first.advance_epoch(epoch).await.unwrap(),
        EpochProgress::Waiting
    );
    let sent = store
        .publication(epoch, PublicationKind::SubmitBatch, Some(0))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(sent.state, PublicationState::Sent);
    let tx = sent.tx.clone().unwrap();
    assert_eq!(tx.nonce, nonce_before + 1);
    drop(first); // "stopped after sending"

    // Restart 1: the node forgot the transaction (dropped from its pool): the same bytes go
    // out again, under the same hash.
    let _ = chain
        .rpc(
            "anvil_dropTransaction",
            serde_json::json!([B256::from(tx.tx_hash)]),
        )
        .await;
    let second = Publisher::connect(store.clone(), chain.config())
        .await
        .unwrap();
    assert_eq!(
        second.advance_epoch(epoch).await.unwrap(),
        EpochProgress::Waiting
    );
    let row = store
        .publication(epoch, PublicationKind::SubmitBatch, Some(0))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.state, PublicationState::Sent);
    assert_eq!(row.tx.as_ref(), Some(&tx), "nothing new was signed");
    let pooled = chain
        .rpc(
            "eth_getTransactionByHash",
            serde_json::json!([B256::from(tx.tx_hash)]),
        )
        .await;
    assert!(
        !pooled.is_null(),
        "the same transaction is back in the pool"
    );
    drop(second);

    // Restart 2, with a short replacement timeout: the stuck transaction is replaced under the
    // same nonce with fees raised by at least 12.5 %.
    let mut config = chain.config();
    config.replace_after = Duration::from_millis(300);
    tokio::time::sleep(Duration::from_millis(400)).await;
    let third = Publisher::connect(store.clone(), config).await.unwrap();
    assert_eq!(
        third.advance_epoch(epoch).await.unwrap(),
        EpochProgress::Waiting
    );
    let row = store
        .publication(epoch, PublicationKind::SubmitBatch, Some(0))
        .await
        .unwrap()
        .unwrap();
    let replacement = row.tx.clone().unwrap();
    assert_eq!(row.replacements, 1);
    assert_eq!(row.previous_tx_hashes, vec![tx.tx_hash]);
    assert_eq!(replacement.nonce, tx.nonce);
    assert_ne!(replacement.tx_hash, tx.tx_hash);
    assert!(replacement.max_fee_per_gas * 8 >= tx.max_fee_per_gas * 9);
    assert!(replacement.max_priority_fee_per_gas * 8 >= tx.max_priority_fee_per_gas * 9);

    chain.mine().await;
    chain.automine(true).await;
    publish_to_final(&third, epoch).await;
    let accepted = chain.acceptances(epoch, 0).await;
    assert_eq!(accepted, vec![(sender, B256::from(replacement.tx_hash))]);
    assert_eq!(
        chain.mined_nonce(sender).await,
        nonce_before + 2,
        "opening + one submission"
    );
    let batch = &store.batches(epoch).await.unwrap()[0];
    assert_eq!(batch.tx_hash.as_deref(), Some(&replacement.tx_hash[..]));
    assert_eq!(
        store.epoch(epoch).await.unwrap().unwrap().status,
        EpochStatus::Final
    );
}

/// Opened by the registrar and submitted by someone else before the publisher runs: success,
/// with the other submitter's transaction recorded and nothing sent.
async fn a_batch_accepted_elsewhere_counts_as_success(db: &TestDb, chain: &TestChain) {
    let store = &db.store;
    let epoch = 20_402;
    proved_epoch(store, epoch, &[21, 22, 23]).await;
    let e = store.epoch(epoch).await.unwrap().unwrap();
    let batches = store.batches(epoch).await.unwrap();
    let file = stored_proofs_file(&e, &batches).unwrap();
    let (inputs, proof) = batch_words(&file.batches[0]).unwrap();
    chain
        .deployer
        .open_epoch(
            chain.oracle,
            &EpochOpening::from_inputs(&inputs, 1).unwrap(),
        )
        .await
        .unwrap();
    let other = Chain::connect(&chain.anvil.endpoint(), OTHER_KEY)
        .await
        .unwrap();
    let theirs = other
        .submit_batch(chain.oracle, inputs, proof)
        .await
        .unwrap();

    let publisher = Publisher::connect(store.clone(), chain.config())
        .await
        .unwrap();
    let nonce_before = chain.mined_nonce(publisher.sender()).await;
    publish_to_final(&publisher, epoch).await;
    assert_eq!(
        chain.mined_nonce(publisher.sender()).await,
        nonce_before,
        "nothing sent"
    );
    let row = store
        .publication(epoch, PublicationKind::SubmitBatch, Some(0))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.state, PublicationState::Confirmed);
    assert!(row.accepted_elsewhere && row.tx.is_none());
    assert!(
        store
            .publication(epoch, PublicationKind::OpenEpoch, None)
            .await
            .unwrap()
            .is_none(),
        "the oracle knew the epoch: no opening row"
    );
    let batch = &store.batches(epoch).await.unwrap()[0];
    assert_eq!(batch.status, BatchStatus::Published);
    assert_eq!(batch.tx_hash.as_deref(), Some(&theirs.tx.tx_hash[..]));
}

async fn all_scenarios(db: &TestDb) {
    // The process-wide metrics recorder, installed before anything is proved or published.
    gridproof_api::http::prometheus();
    if let Err(e) = toolchain::foundry_binary(&contracts_dir(), "anvil") {
        panic!("the publisher test needs the npm Foundry toolchain: {e}");
    }
    let chain = TestChain::start(keys_and_verifier().1.clone()).await;
    tokio::time::timeout(Duration::from_secs(240), async {
        a_proved_epoch_is_published_to_final(db, &chain).await;
        a_restarted_publisher_does_not_send_twice(db, &chain).await;
        a_batch_accepted_elsewhere_counts_as_success(db, &chain).await;
    })
    .await
    .expect("the scenarios finish within 4 minutes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publisher_on_anvil_sqlite() {
    let db = tokio::task::spawn_blocking(keys_and_verifier);
    db.await.unwrap();
    all_scenarios(&sqlite_db().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publisher_on_anvil_postgres() {
    tokio::task::spawn_blocking(keys_and_verifier)
        .await
        .unwrap();
    if let Some(db) = postgres_db("publisher_on_anvil").await {
        all_scenarios(&db).await;
    }
}
