//! The tamper-evident audit log (api/src/audit, api/src/store/audit.rs, api/src/http/audit.rs),
//! each test on both backends: appends (single, batched, concurrent, with token creation) give
//! RFC 6962 proofs that verify; the routes serve them to any token; `gridproof audit verify
//! --since` (the real binary, and the library function behind it) detects a rewritten entry, a
//! truncated log (with or without different entries appended after), a tampered head and a
//! head signed by another key. The ignored `million_entries_*` tests measure proof latency over
//! HTTP at 1,000,000 entries (docs/audit-log.md has the numbers).

use std::time::{Duration, Instant};

use gridproof_api::audit::tree::{self, Hash};
use gridproof_api::audit::verify::{verify_log, AuditVerifyError, VerifyOptions};
use gridproof_api::audit::wire::{
    parse_hash, parse_hashes, ConsistencyProofView, EntriesPage, InclusionProofView, TreeHeadView,
};
use gridproof_api::audit::{AuditKey, AuditKind};
use gridproof_api::http::{self, AppState, HttpConfig};
use gridproof_api::store::{AuditEvent, LocationCipher, Role, Store, TokenId};
use reqwest::StatusCode;
use serde_json::{json, Value};

#[macro_use]
mod support;
use support::cli::{p, scratch, text};
use support::db::TestDb;

both_backends!(
    appends_give_proofs_that_verify,
    routes_serve_signed_heads_and_proofs,
    a_rewritten_entry_is_detected,
    a_truncated_log_is_detected,
    tampered_heads_and_other_keys_are_refused,
);

// ---------------------------------------------------------------------------------------------
// Helpers

struct Server {
    base: String,
    client: reqwest::Client,
    token: String,
    public_key: [u8; 32],
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl Server {
    async fn start(store: &Store, key: AuditKey) -> Server {
        let public_key = key.public_key();
        let state = AppState::new(
            store.clone(),
            LocationCipher::from_key(&[0x42; 32]),
            HttpConfig::default(),
        )
        .with_audit_key(key);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(http::serve(listener, http::router(state), async move {
            let _ = stopped.await;
        }));
        let (_, token) = store
            .create_token(Role::Protocol, None, "audit reader")
            .await
            .unwrap();
        Server {
            base,
            client: reqwest::Client::new(),
            token,
            public_key,
            stop: Some(stop),
            task: Some(task),
        }
    }

    async fn get(&self, path: &str, token: Option<&str>) -> (StatusCode, String, Value) {
        let mut req = self.client.get(format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let content_type = resp
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        let body = resp.text().await.unwrap();
        (
            status,
            content_type,
            serde_json::from_str(&body).unwrap_or(Value::String(body)),
        )
    }

    async fn ok<T: serde::de::DeserializeOwned>(&self, path: &str) -> T {
        let (status, _, body) = self.get(path, Some(&self.token)).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        serde_json::from_value(body).unwrap()
    }

    fn options(&self, since: Option<TreeHeadView>) -> VerifyOptions {
        VerifyOptions {
            url: self.base.clone(),
            token: Some(self.token.clone()),
            since,
            public_key: None,
            inclusion_proofs: 1000,
            on_chain: None,
        }
    }

    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap().unwrap();
        }
    }
}

fn event(i: usize) -> AuditEvent {
    let kind = AuditKind::ALL[i % AuditKind::ALL.len()];
    AuditEvent::new(
        kind,
        Some(TokenId(1 + (i % 3) as i64)),
        json!({ "n": i, "site_id": 100 + i, "reason": format!("request {i}") }),
    )
}

/// The leaf hashes of every entry, recomputed from the rows the store returns.
async fn leaf_hashes(store: &Store) -> Vec<Hash> {
    let size = store.audit_size().await.unwrap();
    store
        .audit_entries(0, size)
        .await
        .unwrap()
        .iter()
        .map(|e| e.leaf_hash())
        .collect()
}

/// Runs `gridproof audit verify` (the real binary) off the async threads.
async fn verify_binary(args: Vec<String>) -> std::process::Output {
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_gridproof"))
            .args(&args)
            .env_remove("GRIDPROOF_TOKEN")
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

fn verify_args(
    server: &Server,
    since: &std::path::Path,
    out: Option<&std::path::Path>,
) -> Vec<String> {
    let mut args = vec![
        "audit".to_string(),
        "verify".into(),
        "--url".into(),
        server.base.clone(),
        "--token".into(),
        server.token.clone(),
        "--since".into(),
        p(since).into(),
    ];
    if let Some(out) = out {
        args.extend(["--out".to_string(), p(out).into()]);
    }
    args
}

async fn expect_failure(server: &Server, since: TreeHeadView, check: &str) -> String {
    let mut passed = Vec::new();
    let err = verify_log(&server.options(Some(since)), |c| passed.push(c.name))
        .await
        .expect_err("verification must fail");
    match &err {
        AuditVerifyError::Failed { check: name, .. } => {
            assert_eq!(*name, check, "{err} (passed: {passed:?})")
        }
        other => panic!("expected the check {check} to fail, got {other}"),
    }
    err.to_string()
}

// ---------------------------------------------------------------------------------------------
// Tests

async fn appends_give_proofs_that_verify(db: &TestDb) {
    let store = &db.store;
    assert_eq!(store.audit_size().await.unwrap(), 0);
    assert_eq!(
        store.audit_head().await.unwrap().root_hash,
        tree::empty_root()
    );
    // Single appends, a batch, and token creation (which appends in its own transaction).
    for i in 0..5 {
        let entry = store.append_audit(&event(i)).await.unwrap();
        assert_eq!(entry.index, i as u64);
    }
    let batch: Vec<AuditEvent> = (5..17).map(event).collect();
    let root = store.append_audit_batch(&batch).await.unwrap();
    assert_eq!(root.tree_size, 17);
    let (token, _) = store.create_token(Role::Admin, None, "ops").await.unwrap();
    let op = store.ensure_operator("Prairie Solar").await.unwrap();
    store
        .create_token_by(Some(token), Role::Operator, Some(op), "gateway")
        .await
        .unwrap();
    assert!(store.revoke_token(token).await.unwrap());
    // Concurrent appends are serialised: no index twice, no gap.
    let tasks: Vec<_> = (0..4)
        .map(|t| {
            let store = store.clone();
            tokio::spawn(async move {
                for i in 0..6 {
                    store.append_audit(&event(100 + 10 * t + i)).await.unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let size = store.audit_size().await.unwrap();
    assert_eq!(size, 17 + 3 + 24);
    let entries = store.audit_entries(0, size).await.unwrap();
    assert_eq!(
        entries.iter().map(|e| e.index).collect::<Vec<_>>(),
        (0..size).collect::<Vec<_>>()
    );
    let created = &entries[17];
    assert_eq!(created.kind, AuditKind::TokenCreated);
    assert_eq!(created.actor, None);
    assert_eq!(created.details().unwrap()["role"], "admin");
    assert_eq!(entries[18].actor, Some(token));
    assert_eq!(entries[19].kind, AuditKind::TokenRevoked);
    // No token secret anywhere in the log.
    let log = String::from_utf8_lossy(&db.raw_bytes("audit_entries").await).into_owned();
    assert!(!log.contains("gp_"));

    // Roots at every size agree with the recursive definition over the recomputed leaves.
    let leaves = leaf_hashes(store).await;
    assert_eq!(
        store.audit_head().await.unwrap().root_hash,
        tree::root_of(&leaves)
    );
    for n in 1..=size {
        let root = store.audit_root(n).await.unwrap().root_hash;
        assert_eq!(root, tree::root_of(&leaves[..n as usize]), "root of {n}");
        for m in 0..n {
            let proof = store.audit_inclusion(m, n).await.unwrap();
            assert_eq!(proof.leaf_hash, leaves[m as usize]);
            assert_eq!(proof.root_hash, root);
            tree::verify_inclusion(&leaves[m as usize], m, n, &proof.path, &root).unwrap();
        }
        for m in 1..=n {
            let proof = store.audit_consistency(m, n).await.unwrap();
            let old = tree::root_of(&leaves[..m as usize]);
            tree::verify_consistency(m, n, &old, &root, &proof).unwrap();
        }
    }
    // Out of range asks are refused, secrets in details too.
    assert!(store.audit_inclusion(size, size).await.is_err());
    assert!(store.audit_inclusion(0, size + 1).await.is_err());
    assert!(store.audit_consistency(0, size).await.is_err());
    assert!(store.audit_consistency(3, size + 1).await.is_err());
    let secret = AuditEvent::new(
        AuditKind::DisclosureGranted,
        None,
        json!({"site_id": 1, "salt": "x"}),
    );
    assert!(store.append_audit(&secret).await.is_err());
    assert_eq!(store.audit_size().await.unwrap(), size);
}

async fn routes_serve_signed_heads_and_proofs(db: &TestDb) {
    let store = &db.store;
    store
        .append_audit_batch(&(0..30).map(event).collect::<Vec<_>>())
        .await
        .unwrap();
    let server = Server::start(store, AuditKey::generate()).await;
    // The reader's token creation is entry 30.
    let head: TreeHeadView = server.ok("/v1/audit/head").await;
    assert_eq!(head.tree_size, 31);
    let signed = head.to_signed().unwrap();
    signed.verify().unwrap();
    assert_eq!(signed.public_key, server.public_key);

    let page: EntriesPage = server.ok("/v1/audit/entries?from=3&to=8").await;
    assert_eq!((page.from, page.to, page.entries.len()), (3, 8, 5));
    assert_eq!(page.entries[0].index, 3);
    assert_eq!(
        parse_hash(&page.entries[0].leaf_hash, "leaf_hash").unwrap(),
        tree::leaf_hash(page.entries[0].leaf.as_bytes())
    );
    let default_page: EntriesPage = server.ok("/v1/audit/entries").await;
    assert_eq!(default_page.entries.len(), 31);
    let clamped: EntriesPage = server.ok("/v1/audit/entries?from=29&to=500").await;
    assert_eq!((clamped.to, clamped.entries.len()), (31, 2));
    assert_eq!(clamped.entries[1].kind, "token_created");

    for index in [0u64, 7, 30] {
        let proof: InclusionProofView = server
            .ok(&format!("/v1/audit/proof/inclusion?index={index}"))
            .await;
        assert_eq!(proof.tree_size, 31);
        let leaf = parse_hash(&proof.leaf_hash, "leaf").unwrap();
        let path = parse_hashes(&proof.inclusion_path, "path").unwrap();
        tree::verify_inclusion(&leaf, index, 31, &path, &signed.root_hash).unwrap();
    }
    let old: InclusionProofView = server
        .ok("/v1/audit/proof/inclusion?index=2&tree_size=5")
        .await;
    assert_eq!(old.inclusion_path.len(), 3);
    let proof: ConsistencyProofView = server
        .ok("/v1/audit/proof/consistency?from_size=6&to_size=31")
        .await;
    let old_root = store.audit_root(6).await.unwrap().root_hash;
    let path = parse_hashes(&proof.consistency_path, "path").unwrap();
    tree::verify_consistency(6, 31, &old_root, &signed.root_hash, &path).unwrap();
    let same: ConsistencyProofView = server.ok("/v1/audit/proof/consistency?from_size=31").await;
    assert!(same.consistency_path.is_empty());

    // Refusals are problems: no token, bad or out-of-range parameters, too large a page.
    let (status, _, _) = server.get("/v1/audit/head", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    for bad in [
        "/v1/audit/entries?from=5&to=2",
        "/v1/audit/entries?from=0&to=1001",
        "/v1/audit/entries?from=x",
        "/v1/audit/entries?frm=1",
        "/v1/audit/proof/inclusion",
        "/v1/audit/proof/inclusion?index=31",
        "/v1/audit/proof/inclusion?index=0&tree_size=32",
        "/v1/audit/proof/inclusion?index=-1",
        "/v1/audit/proof/consistency?from_size=0",
        "/v1/audit/proof/consistency?from_size=5&to_size=4",
        "/v1/audit/proof/consistency?from_size=5&to_size=99",
    ] {
        let (status, content_type, body) = server.get(bad, Some(&server.token)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert_eq!(content_type, "application/problem+json", "{bad}");
        assert!(body["type"]
            .as_str()
            .unwrap()
            .starts_with("urn:gridproof:problem:"));
    }

    // The OpenAPI document lists the routes.
    let (_, _, doc) = server.get("/openapi.json", None).await;
    for route in [
        "/v1/audit/head",
        "/v1/audit/entries",
        "/v1/audit/proof/inclusion",
        "/v1/audit/proof/consistency",
    ] {
        assert!(doc["paths"][route]["get"].is_object(), "{route} missing");
    }

    // And the client accepts the log from scratch and from an older head.
    let fresh = verify_log(&server.options(None), |_| {}).await.unwrap();
    assert_eq!(fresh.tree_size, 31);
    store.append_audit(&event(99)).await.unwrap();
    let later = verify_log(&server.options(Some(fresh)), |_| {})
        .await
        .unwrap();
    assert_eq!(later.tree_size, 32);
    server.stop().await;
}

async fn a_rewritten_entry_is_detected(db: &TestDb) {
    let store = &db.store;
    store
        .append_audit_batch(&(0..12).map(event).collect::<Vec<_>>())
        .await
        .unwrap();
    let server = Server::start(store, AuditKey::generate()).await;
    let dir = scratch(&format!("audit-rewrite-{}", db.is_postgres()));
    let head_file = dir.join("head.json");

    // The real binary: a first run keeps the head, a second run checks against it.
    let first = verify_binary(vec![
        "audit".into(),
        "verify".into(),
        "--url".into(),
        server.base.clone(),
        "--token".into(),
        server.token.clone(),
        "--out".into(),
        p(&head_file).into(),
    ])
    .await;
    assert!(first.status.success(), "{}", text(&first.stderr));
    let stdout = text(&first.stdout);
    assert!(stdout.contains("trusted on first use"), "{stdout}");
    store.append_audit(&event(50)).await.unwrap();
    let next = dir.join("next.json");
    let second = verify_binary(verify_args(&server, &head_file, Some(&next))).await;
    assert!(second.status.success(), "{}", text(&second.stderr));
    let stdout = text(&second.stdout);
    for check in [
        "ok    head signature",
        "ok    consistency",
        "ok    inclusion",
        "ok    root from entries",
    ] {
        assert!(stdout.contains(check), "{check}: {stdout}");
    }
    let old: TreeHeadView =
        serde_json::from_str(&std::fs::read_to_string(&head_file).unwrap()).unwrap();
    assert_eq!(old.tree_size, 13);

    // Rewrite one old entry behind the store's back: same nodes, other content.
    let changed = db
        .raw_execute(
            "UPDATE audit_entries SET details = '{\"n\":4,\"site_id\":999,\"reason\":\"forged\"}' \
             WHERE idx = 4",
        )
        .await;
    assert_eq!(changed, 1);
    let out = verify_binary(verify_args(&server, &head_file, None)).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    let stdout = text(&out.stdout);
    let stderr = text(&out.stderr);
    assert!(stdout.contains("FAIL  old root from entries"), "{stdout}");
    assert!(stderr.contains("old root from entries"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    expect_failure(&server, old.clone(), "old root from entries").await;

    // A thorough forger also recomputes every stored node from the rewritten entries: the log
    // is then well-formed on its own, but its root differs, and no consistency proof leads from
    // the head shown before to it.
    let leaves = leaf_hashes(store).await;
    let size = leaves.len() as u64;
    let mut rewritten = 0;
    for level in 0..8u32 {
        for index in 0..(size >> level) {
            let s = tree::Subtree { level, index };
            let hash = hex::encode(tree::root_of(&leaves[s.start() as usize..s.end() as usize]));
            let literal = if db.is_postgres() {
                format!("'\\x{hash}'")
            } else {
                format!("X'{hash}'")
            };
            rewritten += db
                .raw_execute(&format!(
                    "UPDATE audit_nodes SET hash = {literal} WHERE level = {level} AND idx = {index}"
                ))
                .await;
        }
    }
    assert_eq!(rewritten, 2 * size - u64::from(size.count_ones()));
    verify_log(&server.options(None), |_| {}).await.unwrap();
    let err = expect_failure(&server, old, "consistency").await;
    assert!(err.contains("rewritten or truncated"), "{err}");
    server.stop().await;
}

async fn a_truncated_log_is_detected(db: &TestDb) {
    let store = &db.store;
    store
        .append_audit_batch(&(0..20).map(event).collect::<Vec<_>>())
        .await
        .unwrap();
    let server = Server::start(store, AuditKey::generate()).await;
    let old = verify_log(&server.options(None), |_| {}).await.unwrap();
    assert_eq!(old.tree_size, 21);

    // Drop the last 4 entries and every node that covers them.
    let keep = 17;
    assert_eq!(
        db.raw_execute(&format!("DELETE FROM audit_entries WHERE idx >= {keep}"))
            .await,
        4
    );
    db.raw_execute(&format!(
        "DELETE FROM audit_nodes WHERE ((idx + 1) << level) > {keep}"
    ))
    .await;
    // Truncated alone: the log shrank.
    let err = expect_failure(&server, old.clone(), "consistency").await;
    assert!(err.contains("truncated"), "{err}");

    // Truncated, then other entries appended to the old size and beyond.
    store
        .append_audit_batch(&(200..206).map(event).collect::<Vec<_>>())
        .await
        .unwrap();
    assert_eq!(store.audit_size().await.unwrap(), 23);
    // The log is well-formed on its own (a fresh client sees nothing wrong)...
    verify_log(&server.options(None), |_| {}).await.unwrap();
    // ... but not as an extension of the head shown before.
    let err = expect_failure(&server, old.clone(), "consistency").await;
    assert!(err.contains("21 -> 23"), "{err}");
    let dir = scratch(&format!("audit-truncate-{}", db.is_postgres()));
    let head_file = dir.join("head.json");
    std::fs::write(&head_file, serde_json::to_string(&old).unwrap()).unwrap();
    let out = verify_binary(verify_args(&server, &head_file, None)).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stdout).contains("FAIL  consistency"),
        "{}",
        text(&out.stdout)
    );
    server.stop().await;
}

async fn tampered_heads_and_other_keys_are_refused(db: &TestDb) {
    let store = &db.store;
    store
        .append_audit_batch(&(0..9).map(event).collect::<Vec<_>>())
        .await
        .unwrap();
    let server = Server::start(store, AuditKey::generate()).await;
    let head = verify_log(&server.options(None), |_| {}).await.unwrap();

    // A kept head whose signature no longer matches its content.
    let mut bad = head.clone();
    bad.tree_size -= 1;
    expect_failure(&server, bad, "old head signature").await;
    let mut bad = head.clone();
    let mut sig = hex::decode(&bad.signature).unwrap();
    sig[10] ^= 1;
    bad.signature = hex::encode(sig);
    expect_failure(&server, bad, "old head signature").await;
    // A head of the right shape signed by another key: the service's key is not the pinned one.
    let other = AuditKey::generate();
    let forged = TreeHeadView::from(&other.sign_head(
        head.tree_size,
        parse_hash(&head.root_hash, "root").unwrap(),
        head.timestamp_ms,
    ));
    let err = expect_failure(&server, forged, "public key").await;
    assert!(err.contains(&other.public_key_hex()), "{err}");
    let mut pinned = server.options(None);
    pinned.public_key = Some(other.public_key());
    let err = verify_log(&pinned, |_| {}).await.unwrap_err();
    assert!(
        matches!(
            err,
            AuditVerifyError::Failed {
                check: "public key",
                ..
            }
        ),
        "{err}"
    );
    server.stop().await;

    // The same database served with another key: a client holding the old head refuses it.
    let impostor = Server::start(store, AuditKey::generate()).await;
    expect_failure(&impostor, head, "public key").await;
    impostor.stop().await;
}

#[test]
fn keygen_writes_a_private_key_and_serve_needs_one_for_postgres() {
    use support::cli::{fails, ok};
    let dir = scratch("audit-keygen");
    let key_file = dir.join("audit.key");
    let public = ok(&["audit", "keygen", "--out", p(&key_file)]);
    let public = public.trim();
    assert_eq!(public.len(), 64, "{public}");
    assert_eq!(AuditKey::load(&key_file).unwrap().public_key_hex(), public);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    fails(
        &["audit", "keygen", "--out", p(&key_file)],
        "already exists",
    );
    fails(&["audit", "verify"], "--url");

    use gridproof_api::cli::serve::audit_key;
    assert!(audit_key(None, "postgres://127.0.0.1/x").is_err());
    let db = dir.join("g.db");
    let made = audit_key(None, p(&db)).unwrap();
    assert!(dir.join("g.db.audit-key").exists());
    let again = audit_key(None, p(&db)).unwrap();
    assert_eq!(made.public_key(), again.public_key());
    assert_eq!(
        audit_key(Some(&key_file), "postgres://x/y")
            .unwrap()
            .public_key_hex(),
        public
    );
}

// ---------------------------------------------------------------------------------------------
// 1,000,000 entries: bulk append, then p99 of proofs over loopback HTTP.

/// Entries of the timing run (`GRIDPROOF_AUDIT_BENCH_ENTRIES`, default 1,000,000).
fn bench_entries() -> u64 {
    std::env::var("GRIDPROOF_AUDIT_BENCH_ENTRIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000)
}

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort_unstable();
    let i = ((samples.len() as f64 * p).ceil() as usize).clamp(1, samples.len()) - 1;
    samples[i]
}

async fn million_entries(db: &TestDb) {
    let store = &db.store;
    let n = bench_entries();
    let started = Instant::now();
    let chunk = 50_000u64;
    let mut at = 0u64;
    while at < n {
        let k = chunk.min(n - at);
        let events: Vec<AuditEvent> = (at..at + k)
            .map(|i| {
                AuditEvent::new(
                    AuditKind::DisclosureRequested,
                    Some(TokenId(7)),
                    json!({"disclosure_id": format!("dsc_{i:032x}"), "site_id": i % 5000, "epoch": 20300}),
                )
            })
            .collect();
        store.append_audit_batch(&events).await.unwrap();
        at += k;
    }
    let appended = started.elapsed();
    let server = Server::start(store, AuditKey::generate()).await;
    let head: TreeHeadView = server.ok("/v1/audit/head").await;
    let size = head.tree_size;
    let root = parse_hash(&head.root_hash, "root").unwrap();
    let mut rng = rand::random::<u64>() | 1;
    let mut next = |bound: u64| {
        // xorshift: cheap, uniform enough for picking indices.
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng % bound
    };
    let rounds = 1000;
    let mut inclusion = Vec::with_capacity(rounds);
    let mut consistency = Vec::with_capacity(rounds);
    let mut heads = Vec::with_capacity(rounds / 10);
    for _ in 0..rounds {
        let index = next(size);
        let t = Instant::now();
        let proof: InclusionProofView = server
            .ok(&format!(
                "/v1/audit/proof/inclusion?index={index}&tree_size={size}"
            ))
            .await;
        inclusion.push(t.elapsed());
        let leaf = parse_hash(&proof.leaf_hash, "leaf").unwrap();
        let path = parse_hashes(&proof.inclusion_path, "path").unwrap();
        tree::verify_inclusion(&leaf, index, size, &path, &root).unwrap();

        let from = 1 + next(size - 1);
        let t = Instant::now();
        let _: ConsistencyProofView = server
            .ok(&format!(
                "/v1/audit/proof/consistency?from_size={from}&to_size={size}"
            ))
            .await;
        consistency.push(t.elapsed());
    }
    for _ in 0..rounds / 10 {
        let t = Instant::now();
        let _: TreeHeadView = server.ok("/v1/audit/head").await;
        heads.push(t.elapsed());
    }
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let line = format!(
        "audit log, {} backend, {size} entries (bulk append {:.1} s): inclusion p50 {:.2} ms \
         p99 {:.2} ms; consistency p50 {:.2} ms p99 {:.2} ms; head p50 {:.2} ms p99 {:.2} ms \
         ({rounds} requests each, loopback HTTP)",
        if db.is_postgres() {
            "PostgreSQL"
        } else {
            "SQLite"
        },
        appended.as_secs_f64(),
        ms(percentile(&mut inclusion, 0.5)),
        ms(percentile(&mut inclusion, 0.99)),
        ms(percentile(&mut consistency, 0.5)),
        ms(percentile(&mut consistency, 0.99)),
        ms(percentile(&mut heads, 0.5)),
        ms(percentile(&mut heads, 0.99)),
    );
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{line}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "timing run: bulk-appends 1,000,000 entries (docs/audit-log.md)"]
async fn million_entries_sqlite() {
    let db = support::db::sqlite_db().await;
    million_entries(&db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "timing run: bulk-appends 1,000,000 entries (docs/audit-log.md)"]
async fn million_entries_postgres() {
    if let Some(db) = support::db::postgres_db("million_entries").await {
        million_entries(&db).await;
    }
}
