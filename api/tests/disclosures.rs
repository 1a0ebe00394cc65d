//! Regulators and disclosures over real HTTP (api/src/http/disclosures.rs; docs/service-api.md,
//! "Disclosures"), each run on both backends (SQLite in a temporary folder, PostgreSQL in a
//! fresh database on `GRIDPROOF_TEST_DATABASE_URL`; see support/db.rs): an epoch proved for real
//! at the tiny shape of support/proving.rs, a regulator registered, its request granted and its
//! bundle opened with its secret key and checked link by link; and every refusal. Every
//! response body, every audit entry and every log line of the process is scanned for the sites'
//! locations and salts: none may appear outside the sealed bundle.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use ark_ff::{BigInteger, PrimeField};
use gridproof_api::http::{self, AppState, HttpConfig};
use gridproof_api::store::{EpochStatus, LocationCipher, NewEpoch, Role, Store};
use gridproof_api::worker::stored_proofs_file;
use gridproof_circuits::encoding::field_to_decimal;
use gridproof_prover::disclosure::{
    check, open, read_binding, DisclosureVerifier, PublicRecord, RegulatorSecretKey,
};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

#[macro_use]
mod support;
use support::cli;
use support::db::TestDb;
use support::http::{assert_problem, Reply};
use support::proving::{
    closed_epoch, config, keys, location, run_until_idle, salt, INTERVAL_SECONDS, LOCATION_KEY,
    OPERATOR, SLOTS,
};

both_backends!(
    a_granted_disclosure_reaches_its_regulator_alone,
    requests_and_decisions_are_refused_when_they_must_be,
    regulator_tokens_from_the_command_line_and_the_regulator_list,
);

// ---------------------------------------------------------------------------------------------
// Captured logs

/// Every log line of this test process (all tests share one subscriber).
fn logs() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&buffer);
        let _ = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .with_writer(move || LogSink(Arc::clone(&sink)))
            .try_init();
        buffer
    })
}

struct LogSink(Arc<Mutex<Vec<u8>>>);

impl Write for LogSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn captured_logs() -> String {
    String::from_utf8_lossy(&logs().lock().unwrap_or_else(|e| e.into_inner())).into_owned()
}

/// What must never appear outside a sealed bundle: each site's location fields and salt (as
/// decimal and as hex).
fn secrets_of(sites: &[u64]) -> Vec<String> {
    let mut out = vec!["US-IL".to_string(), "87629799".to_string()];
    for &s in sites {
        let l = location(s);
        out.push(l.latitude_microdeg.to_string());
        let salt = salt(s);
        out.push(field_to_decimal(&salt));
        out.push(hex::encode(salt.into_bigint().to_bytes_be()));
    }
    out
}

#[track_caller]
fn assert_no_secret(what: &str, text: &str, secrets: &[String]) {
    for s in secrets {
        assert!(
            !text.contains(s.as_str()),
            "{what} holds the secret {s:?}:\n{text}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The server under test

struct Server {
    base: String,
    client: reqwest::Client,
    /// Every response body, for the final scan.
    bodies: Mutex<Vec<String>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl Server {
    /// The API over `store`, knowing the proving keys' shape (as `serve --keys` does).
    async fn start(store: &Store) -> Server {
        let state = AppState::new(
            store.clone(),
            LocationCipher::from_key(&LOCATION_KEY),
            HttpConfig::default(),
        )
        .with_batch_shape(Some(keys().0.shape));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(http::serve(listener, http::router(state), async move {
            let _ = stopped.await;
        }));
        Server {
            base,
            client: reqwest::Client::new(),
            bodies: Mutex::new(Vec::new()),
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// A request with a bearer token and an optional JSON body; the body is kept for the scan.
    async fn call(&self, method: Method, path: &str, token: &str, body: Option<&Value>) -> Reply {
        let mut req = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token);
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap();
        self.bodies.lock().unwrap().push(text.clone());
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, headers, value)
    }

    /// `GET /v1/disclosures/{id}/bundle`: the bytes on success, the problem otherwise.
    async fn bundle(&self, id: &str, token: &str) -> Result<Vec<u8>, Reply> {
        let resp = self
            .client
            .get(format!("{}/v1/disclosures/{id}/bundle", self.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await.unwrap().to_vec();
        if status == StatusCode::OK {
            assert_eq!(
                headers.get("content-type").unwrap(),
                "application/octet-stream"
            );
            return Ok(bytes);
        }
        let text = String::from_utf8_lossy(&bytes).into_owned();
        self.bodies.lock().unwrap().push(text.clone());
        Err((status, headers, serde_json::from_str(&text).unwrap()))
    }

    fn all_bodies(&self) -> String {
        self.bodies.lock().unwrap().join("\n")
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

// ---------------------------------------------------------------------------------------------
// Fixtures

/// Tokens of every kind, made in the store as `gridproof token create` does.
struct Tokens {
    admin: String,
    /// The operator of every site of [`closed_epoch`].
    operator: String,
    other_operator: String,
    protocol: String,
    /// A regulator token bound to no registered regulator.
    unbound_regulator: String,
}

async fn tokens(store: &Store) -> Tokens {
    let op = store.ensure_operator(OPERATOR).await.unwrap();
    let other = store.ensure_operator("other co").await.unwrap();
    let make =
        |role, operator| async move { store.create_token(role, operator, "test").await.unwrap().1 };
    Tokens {
        admin: make(Role::Admin, None).await,
        operator: make(Role::Operator, Some(op)).await,
        other_operator: make(Role::Operator, Some(other)).await,
        protocol: make(Role::Protocol, None).await,
        unbound_regulator: make(Role::Regulator, None).await,
    }
}

/// A registered regulator: its id, bound token and secret key.
struct Reg {
    name: String,
    token: String,
    secret: RegulatorSecretKey,
}

async fn register_regulator(srv: &Server, admin: &str, name: &str) -> Reg {
    let secret = RegulatorSecretKey::generate();
    let got = srv
        .call(
            Method::POST,
            "/v1/regulators",
            admin,
            Some(&json!({ "name": name, "public_key": secret.public_key().to_hex() })),
        )
        .await;
    assert_eq!(got.0, StatusCode::CREATED, "{}", got.2);
    assert_eq!(got.2["name"], name);
    assert_eq!(got.2["public_key"], secret.public_key().to_hex());
    assert!(got.2["id"].as_i64().is_some(), "{}", got.2);
    let token = got.2["token"].as_str().unwrap().to_string();
    assert!(token.starts_with("gp_"), "{token}");
    Reg {
        name: name.to_string(),
        token,
        secret,
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn request_body(site_id: u64, epoch: u64) -> Value {
    json!({
        "site_id": site_id,
        "epoch": epoch,
        "legal_basis": "FERC CEII request 2026-0117",
        "reason": "outage investigation, feeder 12",
        "expires_at": unix_now() + 3600,
    })
}

/// Asks for `site_id` in `epoch` as `regulator`; returns the new request's id.
async fn ask(srv: &Server, regulator: &str, site_id: u64, epoch: u64) -> String {
    let got = srv
        .call(
            Method::POST,
            "/v1/disclosures",
            regulator,
            Some(&request_body(site_id, epoch)),
        )
        .await;
    assert_eq!(got.0, StatusCode::CREATED, "{}", got.2);
    assert_eq!(got.2["state"], "pending", "{}", got.2);
    let id = got.2["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("dsc_") && id.len() == 36, "{id}");
    id
}

async fn decide(srv: &Server, admin: &str, id: &str, decision: &str) -> Reply {
    srv.call(
        Method::POST,
        &format!("/v1/disclosures/{id}/{decision}"),
        admin,
        Some(&json!({ "reason": format!("{decision}: basis checked by counsel") })),
    )
    .await
}

/// Moves a request's expiry into the past behind the store's back (time passing).
async fn expire(db: &TestDb, id: &str) {
    let past = unix_now() - 10;
    let sql = format!("UPDATE disclosures SET expires_at_s = {past} WHERE id = '{id}'");
    assert_eq!(db.raw_execute(&sql).await, 1);
}

// ---------------------------------------------------------------------------------------------
// Tests

async fn a_granted_disclosure_reaches_its_regulator_alone(db: &TestDb) {
    logs();
    let store = &db.store;
    let epoch = 20_400;
    // Site 104 is registered but sends no readings: it is in no batch of the epoch.
    let proved = [101, 102, 103];
    closed_epoch(store, epoch, &[101, 102, 103, 104], &proved, 3).await;
    run_until_idle(store, config(1)).await;
    let e = store.epoch(epoch).await.unwrap().unwrap();
    assert_eq!(e.status, EpochStatus::Proved, "{:?}", e.error);

    let t = tokens(store).await;
    let srv = Server::start(store).await;
    let a = register_regulator(&srv, &t.admin, "Illinois Commerce Commission").await;
    let b = register_regulator(&srv, &t.admin, "FERC Office of Enforcement").await;

    let id = ask(&srv, &a.token, 101, epoch).await;
    // Pending: nothing to download yet.
    let got = srv.bundle(&id, &a.token).await.unwrap_err();
    let problem = assert_problem(&got, 409, "disclosure-pending");
    assert_eq!(problem["state"], "pending");

    // Who sees the request: its regulator, admins, the site's operator (without the reasons).
    for token in [&a.token, &t.admin] {
        let got = srv
            .call(Method::GET, &format!("/v1/disclosures/{id}"), token, None)
            .await;
        assert_eq!(got.0, StatusCode::OK, "{}", got.2);
        assert_eq!(got.2["state"], "pending");
        assert_eq!(got.2["site_id"], 101);
        assert_eq!(got.2["regulator"], a.name);
        assert_eq!(got.2["reason"], "outage investigation, feeder 12");
    }
    let got = srv
        .call(
            Method::GET,
            &format!("/v1/disclosures/{id}"),
            &t.operator,
            None,
        )
        .await;
    assert_eq!(got.0, StatusCode::OK, "{}", got.2);
    assert_eq!(got.2["regulator"], a.name);
    assert_eq!(got.2["legal_basis"], "FERC CEII request 2026-0117");
    assert!(got.2.get("reason").is_none(), "{}", got.2);
    // Anyone else: the same 404 as an unknown id; protocol tokens are refused by role.
    for token in [&b.token, &t.other_operator, &t.unbound_regulator] {
        let got = srv
            .call(Method::GET, &format!("/v1/disclosures/{id}"), token, None)
            .await;
        let problem = assert_problem(&got, 404, "not-found");
        assert!(!problem.to_string().contains("101"), "{problem}");
    }
    let got = srv
        .call(
            Method::GET,
            &format!("/v1/disclosures/{id}"),
            &t.protocol,
            None,
        )
        .await;
    assert_problem(&got, 403, "forbidden");

    // Only an admin decides.
    for token in [&a.token, &t.operator, &t.protocol] {
        let got = decide(&srv, token, &id, "grant").await;
        assert_problem(&got, 403, "forbidden");
    }
    let got = decide(&srv, &t.admin, &id, "grant").await;
    assert_eq!(got.0, StatusCode::OK, "{}", got.2);
    assert_eq!(got.2["state"], "granted");
    assert!(got.2["decided_at_ms"].as_i64().is_some());
    // A decision is final.
    for decision in ["grant", "refuse"] {
        let got = decide(&srv, &t.admin, &id, decision).await;
        let problem = assert_problem(&got, 409, "disclosure-decided");
        assert_eq!(problem["state"], "granted");
    }

    // The bundle: for regulator A alone.
    for token in [&t.admin, &t.operator, &t.protocol, &t.unbound_regulator] {
        let got = srv.bundle(&id, token).await.unwrap_err();
        assert_eq!(got.0, StatusCode::FORBIDDEN, "{}", got.2);
    }
    let got = srv.bundle(&id, &b.token).await.unwrap_err();
    let problem = assert_problem(&got, 404, "not-found");
    assert!(!problem.to_string().contains("101"), "{problem}");
    let bytes = srv.bundle(&id, &a.token).await.unwrap();
    let secrets = secrets_of(&[101, 102, 103, 104]);
    assert_no_secret(
        "the sealed bundle",
        &String::from_utf8_lossy(&bytes),
        &secrets,
    );
    let binding = read_binding(&bytes).unwrap();
    assert_eq!(
        (
            binding.disclosure_id.as_str(),
            binding.site_id,
            binding.epoch
        ),
        (id.as_str(), 101, epoch)
    );
    assert!(open(&bytes, &b.secret).is_err(), "another key opens it");
    let (binding, bundle) = open(&bytes, &a.secret).unwrap();
    assert_eq!(binding.site_id, 101);
    assert_eq!(bundle.site.site_id, 101);
    assert_eq!(bundle.epoch, epoch);
    assert_eq!(bundle.site.location.to_location(), location(101));
    assert_eq!(bundle.site.location_salt, salt(101));
    // The scanned strings are what a leak would look like: the bundle in clear holds them.
    let clear = String::from_utf8(bundle.to_json()).unwrap();
    for s in &secrets_of(&[101])[..4] {
        assert!(clear.contains(s.as_str()), "{s} not in the bundle in clear");
    }
    // Checked link by link against the epoch's public proofs, as `gridproof verify` does.
    let batches = store.batches(epoch).await.unwrap();
    let proofs = stored_proofs_file(&e, &batches).unwrap();
    let verifier = DisclosureVerifier::new(keys().0.shape, &keys().0.verifying_key);
    let report = check(
        &bundle,
        &binding,
        &verifier,
        Some(PublicRecord::ProofsFile(&proofs)),
        unix_now(),
    );
    assert!(report.passed(), "{:?}", report.first_failure());
    // A second download is a fresh seal of the same bundle; both are counted.
    let again = srv.bundle(&id, &a.token).await.unwrap();
    assert_ne!(again, bytes);
    assert_eq!(open(&again, &a.secret).unwrap().1, bundle);
    let got = srv
        .call(
            Method::GET,
            &format!("/v1/disclosures/{id}"),
            &t.admin,
            None,
        )
        .await;
    assert_eq!(got.2["downloads"], 2, "{}", got.2);

    // The operator sees that its site was disclosed, and to whom.
    let got = srv
        .call(
            Method::GET,
            "/v1/installations/101/disclosures",
            &t.operator,
            None,
        )
        .await;
    assert_eq!(got.0, StatusCode::OK, "{}", got.2);
    let items = got.2["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{}", got.2);
    assert_eq!(items[0]["id"], id.as_str());
    assert_eq!(items[0]["regulator"], a.name);
    assert_eq!(items[0]["state"], "granted");
    assert!(items[0].get("reason").is_none(), "{}", got.2);
    let got = srv
        .call(
            Method::GET,
            "/v1/installations/101/disclosures",
            &t.admin,
            None,
        )
        .await;
    assert_eq!(got.0, StatusCode::OK, "{}", got.2);
    for token in [&t.other_operator, &a.token, &t.protocol] {
        let got = srv
            .call(
                Method::GET,
                "/v1/installations/101/disclosures",
                token,
                None,
            )
            .await;
        assert_problem(&got, 403, "forbidden");
    }

    // Refused: no bundle, ever.
    let refused = ask(&srv, &a.token, 102, epoch).await;
    let got = decide(&srv, &t.admin, &refused, "refuse").await;
    assert_eq!(got.0, StatusCode::OK, "{}", got.2);
    assert_eq!(got.2["state"], "refused");
    let got = srv.bundle(&refused, &a.token).await.unwrap_err();
    assert_problem(&got, 403, "disclosure-refused");
    let got = decide(&srv, &t.admin, &refused, "grant").await;
    assert_problem(&got, 409, "disclosure-decided");

    // Expired after the grant: no bundle, and the state says so.
    expire(db, &id).await;
    let got = srv.bundle(&id, &a.token).await.unwrap_err();
    assert_problem(&got, 410, "disclosure-expired");
    let got = srv
        .call(
            Method::GET,
            &format!("/v1/disclosures/{id}"),
            &a.token,
            None,
        )
        .await;
    assert_eq!(got.2["state"], "expired", "{}", got.2);

    // A site without readings in the epoch: nothing to disclose.
    let absent = ask(&srv, &a.token, 104, epoch).await;
    assert_eq!(
        decide(&srv, &t.admin, &absent, "grant").await.0,
        StatusCode::OK
    );
    let got = srv.bundle(&absent, &a.token).await.unwrap_err();
    assert_problem(&got, 409, "site-not-in-epoch");

    // An epoch not proved yet: granted, but no bundle until its proof exists.
    store
        .open_epoch(&NewEpoch {
            epoch: epoch + 1,
            interval_seconds: INTERVAL_SECONDS,
            slots: SLOTS.to_vec(),
        })
        .await
        .unwrap();
    let early = ask(&srv, &a.token, 101, epoch + 1).await;
    assert_eq!(
        decide(&srv, &t.admin, &early, "grant").await.0,
        StatusCode::OK
    );
    let got = srv.bundle(&early, &a.token).await.unwrap_err();
    assert_problem(&got, 409, "epoch-not-proved");

    // Every step is in the audit log, in order, without a secret.
    let size = store.audit_size().await.unwrap();
    let entries = store.audit_entries(0, size).await.unwrap();
    let kinds: Vec<&str> = entries.iter().map(|e| e.kind.as_str()).collect();
    for kind in [
        "regulator_registered",
        "disclosure_requested",
        "disclosure_granted",
        "disclosure_refused",
        "bundle_downloaded",
    ] {
        assert!(kinds.contains(&kind), "{kind} missing from {kinds:?}");
    }
    assert_eq!(
        kinds.iter().filter(|k| **k == "bundle_downloaded").count(),
        2,
        "{kinds:?}"
    );
    let audit_text: Vec<String> = entries.iter().map(|e| e.leaf()).collect();
    assert_no_secret("the audit log", &audit_text.join("\n"), &secrets);
    assert!(
        !audit_text.join("\n").contains("outage investigation"),
        "the regulator's free-text reason is not public"
    );

    let bodies = srv.all_bodies();
    srv.stop().await;
    assert_no_secret("a response body", &bodies, &secrets);
    assert_no_secret("the logs", &captured_logs(), &secrets);
    // The logs did capture this test's requests (the scan above is not vacuous).
    assert!(captured_logs().contains("disclosure bundle downloaded"));
}

async fn requests_and_decisions_are_refused_when_they_must_be(db: &TestDb) {
    logs();
    let store = &db.store;
    let epoch = 30_100;
    // Registered and open, never proved: requests and decisions need no proof.
    closed_epoch(store, epoch, &[201, 202], &[201, 202], 3).await;
    let t = tokens(store).await;
    let srv = Server::start(store).await;

    // Registering regulators: admins only, a name, a usable key of 64 hex characters.
    let key = RegulatorSecretKey::generate().public_key().to_hex();
    for token in [&t.operator, &t.protocol, &t.unbound_regulator] {
        let got = srv
            .call(
                Method::POST,
                "/v1/regulators",
                token,
                Some(&json!({ "name": "x", "public_key": key })),
            )
            .await;
        assert_problem(&got, 403, "forbidden");
    }
    for bad in [
        &key[..63],
        &format!("{key}00"),
        &format!("zz{}", &key[2..]),
        &"0".repeat(64),
    ] {
        let got = srv
            .call(
                Method::POST,
                "/v1/regulators",
                &t.admin,
                Some(&json!({ "name": "x", "public_key": bad })),
            )
            .await;
        assert_problem(&got, 422, "invalid-public-key");
    }
    let got = srv
        .call(
            Method::POST,
            "/v1/regulators",
            &t.admin,
            Some(&json!({ "name": "  ", "public_key": key })),
        )
        .await;
    assert_problem(&got, 422, "invalid-text");
    let got = srv
        .call(
            Method::POST,
            "/v1/regulators",
            &t.admin,
            Some(&json!({ "name": "x", "public_key": key, "role": "admin" })),
        )
        .await;
    assert_problem(&got, 422, "invalid-body");
    let a = register_regulator(&srv, &t.admin, "State PUC").await;
    let got = srv
        .call(
            Method::POST,
            "/v1/regulators",
            &t.admin,
            Some(&json!({ "name": "State PUC", "public_key": key })),
        )
        .await;
    assert_problem(&got, 409, "conflict");

    // Requests: regulators bound to a registered regulator only, whatever the body.
    for token in [&t.admin, &t.operator, &t.protocol] {
        let got = srv
            .call(
                Method::POST,
                "/v1/disclosures",
                token,
                Some(&request_body(201, epoch)),
            )
            .await;
        let problem = assert_problem(&got, 403, "forbidden");
        assert!(!problem.to_string().contains("201"), "{problem}");
        // Not even a body error tells an operator anything.
        let got = srv
            .call(
                Method::POST,
                "/v1/disclosures",
                token,
                Some(&json!({ "nonsense": true })),
            )
            .await;
        assert_problem(&got, 403, "forbidden");
    }
    let got = srv
        .call(
            Method::POST,
            "/v1/disclosures",
            &t.unbound_regulator,
            Some(&request_body(201, epoch)),
        )
        .await;
    assert_problem(&got, 403, "unbound-regulator-token");
    let mut body = request_body(201, epoch);
    body["legal_basis"] = json!(" ");
    let got = srv
        .call(Method::POST, "/v1/disclosures", &a.token, Some(&body))
        .await;
    assert_problem(&got, 422, "invalid-text");
    for past in [
        json!(unix_now() - 1),
        json!(0),
        json!(unix_now().to_string()),
    ] {
        let mut body = request_body(201, epoch);
        body["expires_at"] = past;
        let got = srv
            .call(Method::POST, "/v1/disclosures", &a.token, Some(&body))
            .await;
        assert_problem(&got, 422, "invalid-expiry");
    }
    let mut body = request_body(201, epoch);
    body["expires_at"] = json!("2026-12-31T00:00:00Z");
    let got = srv
        .call(Method::POST, "/v1/disclosures", &a.token, Some(&body))
        .await;
    assert_problem(&got, 422, "invalid-body");
    let got = srv
        .call(
            Method::POST,
            "/v1/disclosures",
            &a.token,
            Some(&request_body(999, epoch)),
        )
        .await;
    let problem = assert_problem(&got, 422, "unknown-site");
    assert!(problem["detail"].as_str().unwrap().contains("site 999"));
    let got = srv
        .call(
            Method::POST,
            "/v1/disclosures",
            &a.token,
            Some(&request_body(201, 77)),
        )
        .await;
    assert_problem(&got, 422, "unknown-epoch");
    // Expiry as a decimal string is accepted.
    let mut body = request_body(201, epoch);
    body["expires_at"] = json!((unix_now() + 600).to_string());
    let got = srv
        .call(Method::POST, "/v1/disclosures", &a.token, Some(&body))
        .await;
    assert_eq!(got.0, StatusCode::CREATED, "{}", got.2);

    // Decisions: unknown or malformed ids, empty reasons, expiry before the decision.
    for id in ["dsc_00000000000000000000000000000000", "nope", "dsc_%27"] {
        let got = decide(&srv, &t.admin, id, "grant").await;
        assert_problem(&got, 404, "not-found");
        let got = srv
            .call(
                Method::GET,
                &format!("/v1/disclosures/{id}"),
                &t.admin,
                None,
            )
            .await;
        assert_problem(&got, 404, "not-found");
        let got = srv.bundle(id, &a.token).await.unwrap_err();
        assert_problem(&got, 404, "not-found");
    }
    let id = ask(&srv, &a.token, 202, epoch).await;
    let got = srv
        .call(
            Method::POST,
            &format!("/v1/disclosures/{id}/grant"),
            &t.admin,
            Some(&json!({ "reason": "" })),
        )
        .await;
    assert_problem(&got, 422, "invalid-text");
    expire(db, &id).await;
    let got = decide(&srv, &t.admin, &id, "grant").await;
    let problem = assert_problem(&got, 410, "disclosure-expired");
    assert_eq!(problem["state"], "expired");
    let got = decide(&srv, &t.admin, &id, "refuse").await;
    assert_problem(&got, 410, "disclosure-expired");
    let got = srv.bundle(&id, &a.token).await.unwrap_err();
    assert_problem(&got, 410, "disclosure-expired");
    let got = srv
        .call(
            Method::GET,
            &format!("/v1/disclosures/{id}"),
            &a.token,
            None,
        )
        .await;
    assert_eq!(got.2["state"], "expired", "{}", got.2);

    // Two admins granting at once: exactly one wins.
    let id = ask(&srv, &a.token, 201, epoch).await;
    let (x, y) = tokio::join!(
        decide(&srv, &t.admin, &id, "grant"),
        decide(&srv, &t.admin, &id, "refuse")
    );
    let mut statuses = [x.0.as_u16(), y.0.as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 409], "{} {}", x.2, y.2);

    let bodies = srv.all_bodies();
    srv.stop().await;
    let secrets = secrets_of(&[201, 202]);
    assert_no_secret("a response body", &bodies, &secrets);
    assert_no_secret("the logs", &captured_logs(), &secrets);
}

/// `gridproof token create ARGS --database-url` of `db` (run off the async workers).
async fn token_create(db: &TestDb, args: &[&str]) -> std::process::Output {
    let mut all: Vec<String> = ["token", "create", "--database-url"]
        .iter()
        .map(|a| a.to_string())
        .collect();
    all.insert(3, db.database_url());
    all.extend(args.iter().map(|a| a.to_string()));
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = all.iter().map(String::as_str).collect();
        cli::gridproof(&args)
    })
    .await
    .unwrap()
}

/// Asserts a clean refusal (exit status 1 or 2, no panic) whose stderr holds `needle`.
#[track_caller]
fn assert_refused(out: &std::process::Output, needle: &str) {
    let stderr = cli::text(&out.stderr);
    assert!(
        matches!(out.status.code(), Some(1) | Some(2)),
        "should fail cleanly, exited with {}: {stderr}",
        out.status
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(stderr.contains(needle), "{needle:?} not in {stderr}");
    assert!(out.stdout.is_empty(), "{}", cli::text(&out.stdout));
}

async fn regulator_tokens_from_the_command_line_and_the_regulator_list(db: &TestDb) {
    logs();
    let store = &db.store;
    let epoch = 30_300;
    closed_epoch(store, epoch, &[301], &[301], 3).await;
    let t = tokens(store).await;
    let srv = Server::start(store).await;

    // GET /v1/regulators: admins only, never a token.
    let got = srv
        .call(Method::GET, "/v1/regulators", &t.admin, None)
        .await;
    assert_eq!(got.0, StatusCode::OK, "{}", got.2);
    assert_eq!(got.2, json!({ "items": [] }));
    let a = register_regulator(&srv, &t.admin, "State PUC").await;
    let b = register_regulator(&srv, &t.admin, "FERC Office of Enforcement").await;
    let got = srv
        .call(Method::GET, "/v1/regulators", &t.admin, None)
        .await;
    assert_eq!(got.0, StatusCode::OK, "{}", got.2);
    let items = got.2["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{}", got.2);
    for (item, reg) in items.iter().zip([&a, &b]) {
        let mut keys: Vec<&str> = item
            .as_object()
            .unwrap()
            .keys()
            .map(|k| k.as_str())
            .collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            ["created_at_ms", "id", "name", "public_key"],
            "{item}"
        );
        assert_eq!(item["name"], reg.name.as_str());
        assert_eq!(item["public_key"], reg.secret.public_key().to_hex());
        assert!(item["created_at_ms"].as_i64().unwrap() > 0, "{item}");
    }
    let listed = got.2.to_string();
    assert!(
        !listed.contains(&a.token) && !listed.contains("gp_"),
        "{listed}"
    );
    let a_id = items[0]["id"].as_i64().unwrap();
    let b_id = items[1]["id"].as_i64().unwrap();
    assert!(a_id < b_id, "oldest first: {listed}");
    for token in [&t.operator, &t.protocol, &a.token, &t.unbound_regulator] {
        let got = srv.call(Method::GET, "/v1/regulators", token, None).await;
        let problem = assert_problem(&got, 403, "forbidden");
        assert!(!problem.to_string().contains("State PUC"), "{problem}");
    }
    let resp = srv
        .client
        .get(format!("{}/v1/regulators", srv.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    // ... and it is in the OpenAPI document, beside the registration.
    let doc: Value = srv
        .client
        .get(format!("{}/openapi.json", srv.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let route = &doc["paths"]["/v1/regulators"];
    assert!(route.get("post").is_some(), "{route}");
    assert_eq!(
        route["get"]["responses"]["200"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/RegulatorList",
        "{route}"
    );
    assert!(route["get"]["responses"].get("403").is_some(), "{route}");
    assert!(doc["components"]["schemas"].get("RegulatorView").is_some());

    // `token create --role regulator` needs --regulator, of a registered regulator; other
    // roles refuse it. A refusal writes nothing.
    let audit_before = store.audit_size().await.unwrap();
    let tokens_before = store.list_tokens().await.unwrap().len();
    let a_arg = a_id.to_string();
    let out = token_create(db, &["--role", "regulator"]).await;
    assert_refused(&out, "--role regulator needs --regulator ID");
    for role in ["admin", "protocol"] {
        let out = token_create(db, &["--role", role, "--regulator", &a_arg]).await;
        assert_refused(
            &out,
            &format!("--regulator is only for --role regulator, not {role}"),
        );
    }
    let out = token_create(
        db,
        &[
            "--role",
            "operator",
            "--operator",
            "x",
            "--regulator",
            &a_arg,
        ],
    )
    .await;
    assert_refused(&out, "--regulator is only for --role regulator");
    let out = token_create(db, &["--role", "regulator", "--regulator", "999"]).await;
    assert_refused(&out, "no regulator 999 is registered");
    for bad in ["0", "-1", "abc", ""] {
        let arg = format!("--regulator={bad}");
        let out = token_create(db, &["--role", "regulator", &arg]).await;
        assert_refused(&out, "invalid value");
    }
    assert_eq!(store.audit_size().await.unwrap(), audit_before);
    assert_eq!(store.list_tokens().await.unwrap().len(), tokens_before);
    assert_eq!(store.operator_by_name("x").await.unwrap(), None);

    // A second token of regulator A, from the command line: it acts for A.
    let out = token_create(
        db,
        &[
            "--role",
            "regulator",
            "--regulator",
            &a_arg,
            "--label",
            "second desk",
        ],
    )
    .await;
    let stderr = cli::text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("for regulator {a_id} (\"State PUC\")")),
        "{stderr}"
    );
    let second = cli::text(&out.stdout).trim().to_string();
    assert!(second.starts_with("gp_") && second.len() == 67, "{second}");
    assert!(!stderr.contains(&second), "the secret is on stdout only");
    let id = ask(&srv, &second, 301, epoch).await;
    let got = srv
        .call(Method::GET, &format!("/v1/disclosures/{id}"), &second, None)
        .await;
    assert_eq!(got.0, StatusCode::OK, "{}", got.2);
    assert_eq!(got.2["regulator"], "State PUC");
    // The request is regulator A's: its first token sees it, B's does not.
    let got = srv
        .call(
            Method::GET,
            &format!("/v1/disclosures/{id}"),
            &a.token,
            None,
        )
        .await;
    assert_eq!(got.0, StatusCode::OK, "{}", got.2);
    let got = srv
        .call(
            Method::GET,
            &format!("/v1/disclosures/{id}"),
            &b.token,
            None,
        )
        .await;
    assert_problem(&got, 404, "not-found");
    // Without --label, the route's label.
    let out = token_create(
        db,
        &["--role", "regulator", "--regulator", &b_id.to_string()],
    )
    .await;
    assert!(out.status.success(), "{}", cli::text(&out.stderr));
    let third = cli::text(&out.stdout).trim().to_string();
    let got = srv
        .call(
            Method::POST,
            "/v1/disclosures",
            &third,
            Some(&request_body(301, epoch)),
        )
        .await;
    assert_eq!(got.0, StatusCode::CREATED, "{}", got.2);
    assert_eq!(got.2["regulator"], b.name.as_str());

    // Both creations are in the store and the audit log, with the regulator, without secrets.
    let made: Vec<_> = store.list_tokens().await.unwrap();
    let labels: Vec<&str> = made[tokens_before..]
        .iter()
        .map(|t| {
            assert_eq!(t.role, Role::Regulator);
            assert_eq!(t.operator_id, None);
            t.label.as_str()
        })
        .collect();
    assert_eq!(
        labels,
        ["second desk", "regulator FERC Office of Enforcement"]
    );
    let size = store.audit_size().await.unwrap();
    let entries = store.audit_entries(audit_before, size).await.unwrap();
    let created: Vec<Value> = entries
        .iter()
        .filter(|e| e.kind.as_str() == "token_created")
        .map(|e| {
            assert_eq!(e.actor, None, "made on the command line");
            let leaf = e.leaf();
            assert!(!leaf.contains(&second) && !leaf.contains(&third), "{leaf}");
            serde_json::from_str(&e.details_json).unwrap()
        })
        .collect();
    assert_eq!(created.len(), 2, "{entries:?}");
    assert_eq!(created[0]["role"], "regulator");
    assert_eq!(created[0]["regulator_id"], a_id);
    assert_eq!(created[0]["label"], "second desk");
    assert_eq!(created[0]["token_id"], made[tokens_before].id.0);
    assert_eq!(created[1]["regulator_id"], b_id);

    let bodies = srv.all_bodies();
    srv.stop().await;
    assert_no_secret("a response body", &bodies, &secrets_of(&[301]));
}
