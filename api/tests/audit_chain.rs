//! The audit log anchored on-chain (docs/audit-log.md, "On-chain heads"), on both backends, each
//! with its own anvil (from verifier-contract/node_modules, started and killed by the test) and
//! the protocol deployed with the committed development verifier (no proof is needed here):
//!
//! - the publisher of the in-process service (`start_service`, as `gridproof serve` runs it)
//!   puts the signed head on RevenueOracle, and again once the log grew; `/metrics` shows it;
//! - `gridproof audit verify --rpc-url --oracle` (the real binary) checks the on-chain head's
//!   signature and the log's consistency with it;
//! - a restarted publisher neither duplicates a head (the interval is kept across restarts; a
//!   head `sent` before the restart is followed to its receipt, never sent again) nor loses it;
//! - a log rewritten after publishing (one entry changed; truncated; truncated and refilled past
//!   the on-chain size, which a client without an old head cannot see otherwise) and a head
//!   on-chain signed by another key are each detected, with a non-zero exit naming the check.

use std::sync::Arc;
use std::time::{Duration, Instant};

use alloy::providers::Provider;
use alloy::rpc::types::Filter;
use alloy::sol_types::SolEvent;
use gridproof_api::audit::{AuditKey, AuditKind};
use gridproof_api::chain::bindings::{Groth16Verifier, RevenueOracle};
use gridproof_api::chain::{read_audit_head, OnChainAuditHead};
use gridproof_api::cli::serve::{start_service, RunningService};
use gridproof_api::http::{AppState, HttpConfig};
use gridproof_api::publisher::{AuditHeadProgress, Publisher, PublisherConfig};
use gridproof_api::store::{
    AuditEvent, LocationCipher, PublicationKind, PublicationState, Role, Store, TokenId,
};
use serde_json::json;

#[macro_use]
mod support;
use support::chain::TestChain;
use support::cli::{gridproof, text};
use support::db::TestDb;

both_backends!(a_published_head_catches_a_rewritten_log);

fn event(i: u64) -> AuditEvent {
    AuditEvent::new(
        AuditKind::DisclosureRequested,
        Some(TokenId(1)),
        json!({ "disclosure_id": i, "site_id": 100 + i, "legal_basis": format!("CEII-{i}") }),
    )
}

/// The audit tests' own calls on the chain.
impl TestChain {
    fn config_with(&self, audit_head_interval: Duration) -> PublisherConfig {
        let mut c = self.config();
        c.audit_head_interval = audit_head_interval;
        c
    }

    async fn head(&self) -> OnChainAuditHead {
        read_audit_head(&self.anvil.endpoint(), self.oracle)
            .await
            .unwrap()
    }

    /// The tree sizes of every `AuditHeadPublished`, in order.
    async fn published_sizes(&self) -> Vec<u64> {
        let filter = Filter::new()
            .address(self.oracle)
            .event_signature(RevenueOracle::AuditHeadPublished::SIGNATURE_HASH)
            .from_block(0u64);
        self.deployer
            .provider()
            .get_logs(&filter)
            .await
            .unwrap()
            .iter()
            .map(|l| {
                RevenueOracle::AuditHeadPublished::decode_log(&l.inner)
                    .unwrap()
                    .data
                    .treeSize
            })
            .collect()
    }

    async fn nonce(&self) -> u64 {
        self.deployer
            .provider()
            .get_transaction_count(self.deployer.sender())
            .latest()
            .await
            .unwrap()
    }

    async fn rpc(&self, method: &'static str, params: serde_json::Value) {
        self.deployer
            .provider()
            .raw_request::<_, serde_json::Value>(method.into(), params)
            .await
            .unwrap_or_else(|e| panic!("{method}: {e}"));
    }
}

/// The service over `store` signing heads with `key`, with `publisher` beside it (if any).
async fn service(store: Store, key: AuditKey, publisher: Option<Publisher>) -> RunningService {
    let state = AppState::new(
        store,
        LocationCipher::from_key(&[0x42; 32]),
        HttpConfig::default(),
    )
    .with_audit_key(key);
    // As `gridproof serve` does: the publisher signs with the service's own key.
    let publisher =
        publisher.map(|p| p.with_audit_key(Arc::clone(state.audit_key.as_ref().unwrap())));
    start_service("127.0.0.1:0".parse().unwrap(), state, None, publisher)
        .await
        .unwrap()
}

/// Waits until the oracle holds a head of `size` entries and its row is `confirmed` (the
/// publisher records the confirmation a pass after the event is on-chain).
async fn wait_published(chain: &TestChain, store: &Store, size: u64) -> OnChainAuditHead {
    let started = Instant::now();
    loop {
        let head = chain.head().await;
        let row = store.audit_head_publication(size).await.unwrap();
        let confirmed = row.is_some_and(|r| r.state == PublicationState::Confirmed);
        if head.tree_size == size && confirmed {
            return head;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no confirmed head of {size} entries after 30 s (the oracle holds {})",
            head.tree_size
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `gridproof audit verify` against the service and the oracle (off the async threads); the
/// process's output.
async fn audit_verify(
    service: &RunningService,
    token: &str,
    chain: Option<&TestChain>,
) -> std::process::Output {
    let mut args = vec![
        "audit".to_string(),
        "verify".into(),
        "--url".into(),
        format!("http://{}", service.address()),
        "--token".into(),
        token.into(),
    ];
    if let Some(chain) = chain {
        args.extend([
            "--rpc-url".to_string(),
            chain.anvil.endpoint(),
            "--oracle".into(),
            chain.oracle.to_string(),
        ]);
    }
    tokio::task::spawn_blocking(move || {
        gridproof(&args.iter().map(String::as_str).collect::<Vec<_>>())
    })
    .await
    .unwrap()
}

/// Expects `audit verify` to fail with exit status 1 at `check`, whose line contains `needle`.
async fn expect_failure(
    service: &RunningService,
    token: &str,
    chain: &TestChain,
    check: &str,
    needle: &str,
) {
    let out = audit_verify(service, token, Some(chain)).await;
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    let line = stdout
        .lines()
        .find(|l| l.starts_with("FAIL"))
        .unwrap_or_else(|| panic!("no FAIL line:\n{stdout}"));
    assert!(
        line.starts_with(&format!("FAIL  {check}:")) && line.contains(needle),
        "expected `{check}` failing with {needle:?}, got:\n{stdout}"
    );
    assert!(stderr.contains(check), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

async fn a_published_head_catches_a_rewritten_log(db: &TestDb) {
    let chain = TestChain::start(Groth16Verifier::BYTECODE.clone()).await;
    let store = &db.store;
    store
        .append_audit_batch(&(0..5).map(event).collect::<Vec<_>>())
        .await
        .unwrap();
    // Token creation is itself an entry: 6 entries.
    let (_, token) = store
        .create_token(Role::Protocol, None, "audit reader")
        .await
        .unwrap();
    let seed = [0x5a; 32];
    let public_key = AuditKey::from_seed(&seed).public_key();

    // 1. The service's publisher anchors the head, then the grown log's head. (The service runs
    // on its own handle of the database: stopping it closes that one.)
    let publisher = Publisher::connect(db.reopen().await, chain.config_with(Duration::ZERO))
        .await
        .unwrap();
    let running = service(
        db.reopen().await,
        AuditKey::from_seed(&seed),
        Some(publisher),
    )
    .await;
    let first = wait_published(&chain, store, 6).await;
    first.signed_by(public_key).unwrap().verify().unwrap();
    assert_eq!(
        first.root_hash,
        store.audit_root(6).await.unwrap().root_hash
    );
    let out = audit_verify(&running, &token, Some(&chain)).await;
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    for check in [
        "ok    on-chain head signature: head of 6 entries",
        "ok    on-chain consistency: the log of 6 entries extends the on-chain head of 6",
        "ok    on-chain root from entries: entries 0..6 hash to the on-chain head's root",
    ] {
        assert!(stdout.contains(check), "{check}:\n{stdout}");
    }
    store
        .append_audit_batch(&(5..8).map(event).collect::<Vec<_>>())
        .await
        .unwrap();
    wait_published(&chain, store, 9).await;
    let metrics = reqwest::get(format!("http://{}/metrics", running.address()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("gridproof_audit_head_onchain_tree_size")
            && metrics.contains("kind=\"audit_head\""),
        "{metrics}"
    );
    running.stop().await.unwrap();
    assert_eq!(chain.published_sizes().await, vec![6, 9]);
    let row = store.audit_head_publication(9).await.unwrap().unwrap();
    assert_eq!(row.kind, PublicationKind::AuditHead);
    assert_eq!((row.epoch, row.batch_index), (None, None));
    assert_eq!(row.state, PublicationState::Confirmed, "{row:?}");
    assert!(!row.accepted_elsewhere && row.tx.is_some(), "{row:?}");

    // 2. Restarts. Within the interval, a grown log waits (the last row's time is in the
    // database, not in the process).
    store.append_audit(&event(8)).await.unwrap();
    let nonce = chain.nonce().await;
    let paced = Publisher::connect(store.clone(), chain.config_with(Duration::from_secs(3600)))
        .await
        .unwrap()
        .with_audit_key(Arc::new(AuditKey::from_seed(&seed)));
    assert_eq!(
        paced.advance_audit_head().await.unwrap(),
        AuditHeadProgress::Idle
    );
    // A head sent while the node does not mine, then a new publisher: it follows the recorded
    // transaction to its receipt and sends nothing else.
    chain.rpc("evm_setAutomine", json!([false])).await;
    let due = || async {
        Publisher::connect(store.clone(), chain.config_with(Duration::ZERO))
            .await
            .unwrap()
            .with_audit_key(Arc::new(AuditKey::from_seed(&seed)))
    };
    assert_eq!(
        due().await.advance_audit_head().await.unwrap(),
        AuditHeadProgress::Waiting { tree_size: 10 }
    );
    let sent = store.audit_head_publication(10).await.unwrap().unwrap();
    assert_eq!(sent.state, PublicationState::Sent);
    let restarted = due().await;
    assert_eq!(
        restarted.advance_audit_head().await.unwrap(),
        AuditHeadProgress::Waiting { tree_size: 10 }
    );
    chain.rpc("evm_mine", json!([])).await;
    chain.rpc("evm_setAutomine", json!([true])).await;
    assert_eq!(
        restarted.advance_audit_head().await.unwrap(),
        AuditHeadProgress::Published { tree_size: 10 }
    );
    let done = store.audit_head_publication(10).await.unwrap().unwrap();
    assert_eq!(done.tx.unwrap().tx_hash, sent.tx.unwrap().tx_hash);
    assert_eq!(chain.nonce().await, nonce + 1);
    assert_eq!(chain.published_sizes().await, vec![6, 9, 10]);
    // Nothing new: nothing sent.
    assert_eq!(
        restarted.advance_audit_head().await.unwrap(),
        AuditHeadProgress::Idle
    );

    // 3. The log rewritten after publishing, seen by clients that kept no head of their own.
    let running = service(db.reopen().await, AuditKey::from_seed(&seed), None).await;
    assert!(audit_verify(&running, &token, Some(&chain))
        .await
        .status
        .success());
    // An oracle that cannot be read is a failure too, never a silent skip.
    let no_oracle = tokio::task::spawn_blocking({
        let (url, rpc) = (
            format!("http://{}", running.address()),
            chain.anvil.endpoint(),
        );
        let (token, eoa) = (token.clone(), chain.deployer.sender().to_string());
        move || {
            gridproof(&[
                "audit",
                "verify",
                "--url",
                &url,
                "--token",
                &token,
                "--rpc-url",
                &rpc,
                "--oracle",
                &eoa,
            ])
        }
    })
    .await
    .unwrap();
    assert_eq!(no_oracle.status.code(), Some(1));
    assert!(
        text(&no_oracle.stdout).contains("FAIL  on-chain head: cannot read RevenueOracle")
            && text(&no_oracle.stderr).contains("no contract at the oracle address"),
        "{}\n{}",
        text(&no_oracle.stdout),
        text(&no_oracle.stderr)
    );
    // One old entry changed in place.
    let original = store.audit_entries(2, 3).await.unwrap().remove(0);
    let forged = "UPDATE audit_entries SET details = '{\"disclosure_id\":2,\"site_id\":999}' \
                  WHERE idx = 2";
    assert_eq!(db.raw_execute(forged).await, 1);
    expect_failure(
        &running,
        &token,
        &chain,
        "on-chain root from entries",
        "entries were rewritten",
    )
    .await;
    let restore = format!(
        "UPDATE audit_entries SET details = '{}' WHERE idx = 2",
        original.details_json.replace('\'', "''")
    );
    assert_eq!(db.raw_execute(&restore).await, 1);
    assert!(audit_verify(&running, &token, Some(&chain))
        .await
        .status
        .success());
    // Truncated to 4 entries (and every node covering the rest).
    let keep = 4;
    db.raw_execute(&format!("DELETE FROM audit_entries WHERE idx >= {keep}"))
        .await;
    db.raw_execute(&format!(
        "DELETE FROM audit_nodes WHERE ((idx + 1) << level) > {keep}"
    ))
    .await;
    expect_failure(
        &running,
        &token,
        &chain,
        "on-chain consistency",
        "shrank from 10 entries (the on-chain head) to 4",
    )
    .await;
    // ... and refilled with other entries past the on-chain size: well-formed on its own, so a
    // client without an old head and without the chain sees nothing wrong.
    store
        .append_audit_batch(&(100..108).map(event).collect::<Vec<_>>())
        .await
        .unwrap();
    let alone = audit_verify(&running, &token, None).await;
    assert!(alone.status.success(), "{}", text(&alone.stdout));
    expect_failure(
        &running,
        &token,
        &chain,
        "on-chain consistency",
        "10 -> 12 entries",
    )
    .await;

    // 4. A head on-chain that the service's key did not sign.
    let other = AuditKey::from_seed(&[0x77; 32]);
    let root = store.audit_root(12).await.unwrap().root_hash;
    chain
        .deployer
        .publish_audit_head(chain.oracle, &other.sign_head(12, root, 1))
        .await
        .unwrap();
    expect_failure(
        &running,
        &token,
        &chain,
        "on-chain head signature",
        &format!(
            "does not verify with the service key {}",
            hex::encode(public_key)
        ),
    )
    .await;
    running.stop().await.unwrap();
}
