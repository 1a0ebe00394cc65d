//! HTTP API tests (api/src/http) over real HTTP on loopback, each run on both backends: SQLite in
//! a temporary folder and PostgreSQL in a fresh database `gridproof_test_<random>` on the server
//! of `GRIDPROOF_TEST_DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/`), dropped
//! afterwards. Without a server the PostgreSQL variants print a loud SKIP line and pass, unless
//! `GRIDPROOF_REQUIRE_POSTGRES=1` (CI), which makes them fail instead.

use std::time::{Duration, Instant};

use gridproof_api::http::readings::check_reading;
use gridproof_api::http::wire::ReadingBody;
use gridproof_api::http::{self, AppState, HttpConfig};
use gridproof_api::store::{JobKind, LocationCipher, NewBatch, Role};
use gridproof_circuits::eddsa::{PrivateKey, PublicKey};
use gridproof_circuits::encoding::field_to_decimal;
use gridproof_circuits::meter::MeterMessage;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

#[macro_use]
mod support;
use support::db::TestDb;
use support::http::assert_problem;

both_backends!(
    tokens_and_roles_are_enforced,
    installations_never_return_locations,
    readings_are_checked_stored_and_refused,
    reading_batches_decide_per_item,
    epochs_open_close_and_show_proofs,
    every_error_is_a_problem,
    operations_routes_work,
);

// ---------------------------------------------------------------------------------------------
// The server under test

/// Body limits small enough to test cheaply.
const TEST_MAX_BODY: usize = 64 << 10;
const TEST_MAX_BATCH_BODY: usize = 512 << 10;

struct Server {
    base: String,
    client: reqwest::Client,
    admin: String,
    operator_a: String,
    operator_b: String,
    protocol: String,
    regulator: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl Server {
    async fn start(db: &TestDb) -> Server {
        let store = db.store.clone();
        let config = HttpConfig {
            max_body_bytes: TEST_MAX_BODY,
            max_batch_body_bytes: TEST_MAX_BATCH_BODY,
            plan_max_attempts: 2,
        };
        let state = AppState::new(store.clone(), LocationCipher::from_key(&[0x42; 32]), config);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(http::serve(listener, http::router(state), async move {
            let _ = stopped.await;
        }));
        let a = store.ensure_operator("operator-a").await.unwrap();
        let b = store.ensure_operator("operator-b").await.unwrap();
        let token = |role, op| {
            let store = store.clone();
            async move { store.create_token(role, op, "test").await.unwrap().1 }
        };
        Server {
            base,
            client: reqwest::Client::new(),
            admin: token(Role::Admin, None).await,
            operator_a: token(Role::Operator, Some(a)).await,
            operator_b: token(Role::Operator, Some(b)).await,
            protocol: token(Role::Protocol, None).await,
            regulator: token(Role::Regulator, None).await,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// A request with an optional bearer token and JSON body; returns status, headers, body.
    async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap();
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, headers, value)
    }

    async fn raw(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        content_type: &str,
        body: Vec<u8>,
    ) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        let mut req = self
            .client
            .request(method, format!("{}{path}", self.base))
            .header("content-type", content_type)
            .body(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap();
        (
            status,
            headers,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// Stops the server gracefully and waits for it.
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

const SECRET_REGION: &str = "XX-SECRETREGION";
const SECRET_LATITUDE: i64 = 41_878_113;
const CAPACITY_W: u32 = 10_000; // 10 kWh per hour: the bound of an hourly reading
const SLOTS: [u32; 8] = [0, 0, 1, 1, 2, 2, 3, 3];

fn meter(site_id: u64) -> PrivateKey {
    PrivateKey::from_bytes([(site_id % 250) as u8 + 1; 32])
}

fn key_json(pk: &PublicKey) -> Value {
    json!([field_to_decimal(&pk.x), field_to_decimal(&pk.y)])
}

fn installation(site_id: u64) -> Value {
    json!({
        "site_id": site_id,
        "meter_public_key": key_json(&meter(site_id).public_key()),
        "capacity_w": CAPACITY_W,
        "prices_uusd_per_kwh": [60000, 90000, 180000, 75000],
        "location": {
            "latitude_microdeg": SECRET_LATITUDE,
            "longitude_microdeg": -87_629_799,
            "region": SECRET_REGION,
        }
    })
}

/// A reading body signed by the site's meter (interval 3600 s unless given).
fn signed(site_id: u64, epoch: u64, interval_seconds: u32, readings: &[u32]) -> Value {
    let message = MeterMessage {
        site_id,
        epoch,
        interval_seconds,
        readings_wh: readings.to_vec(),
    };
    let sig = meter(site_id).sign(message.hash());
    json!({
        "site_id": site_id,
        "epoch": epoch,
        "interval_seconds": interval_seconds,
        "readings_wh": readings,
        "signature": {
            "r8": [field_to_decimal(&sig.r8_x), field_to_decimal(&sig.r8_y)],
            "s": field_to_decimal(&sig.s),
        }
    })
}

fn day(base: u32) -> Vec<u32> {
    (0..SLOTS.len() as u32).map(|i| base + i * 100).collect()
}

async fn open_epoch(srv: &Server, epoch: u64) {
    let got = srv
        .call(
            Method::PUT,
            &format!("/v1/epochs/{epoch}"),
            Some(&srv.admin),
            Some(&json!({ "interval_seconds": 3600, "slots": SLOTS })),
        )
        .await;
    assert_eq!(got.0, StatusCode::CREATED, "{}", got.2);
}

async fn register(srv: &Server, token: &str, site_id: u64) {
    let got = srv
        .call(
            Method::POST,
            "/v1/installations",
            Some(token),
            Some(&installation(site_id)),
        )
        .await;
    assert_eq!(got.0, StatusCode::CREATED, "{}", got.2);
}

/// A 32-byte big-endian integer in decimal (via the field, which holds it: the top byte is 0).
fn num_bigint_decimal(be: &[u8; 32]) -> String {
    field_to_decimal(&gridproof_circuits::encoding::field_from_be_bytes(be))
}

// ---------------------------------------------------------------------------------------------
// Tests

async fn tokens_and_roles_are_enforced(db: &TestDb) {
    let srv = Server::start(db).await;
    // No token, a malformed header, an unknown token: 401 with a challenge.
    let got = srv.call(Method::GET, "/v1/epochs", None, None).await;
    assert_problem(&got, 401, "unauthorized");
    assert!(got.1.get("www-authenticate").is_some());
    let got = srv
        .raw(Method::GET, "/v1/epochs", None, "application/json", vec![])
        .await;
    assert_problem(&got, 401, "unauthorized");
    let resp = srv
        .client
        .get(format!("{}/v1/epochs", srv.base))
        .header("authorization", "Basic Zm9vOmJhcg==")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let got = srv
        .call(Method::GET, "/v1/epochs", Some("gp_0000"), None)
        .await;
    assert_problem(&got, 401, "unauthorized");
    // A revoked token stops working.
    let (id, secret) = db
        .store
        .create_token(Role::Protocol, None, "revoked")
        .await
        .unwrap();
    let got = srv
        .call(Method::GET, "/v1/epochs", Some(&secret), None)
        .await;
    assert_eq!(got.0, StatusCode::OK);
    db.store.revoke_token(id).await.unwrap();
    let got = srv
        .call(Method::GET, "/v1/epochs", Some(&secret), None)
        .await;
    assert_problem(&got, 401, "unauthorized");

    // Wrong roles: 403.
    let schedule = json!({ "interval_seconds": 3600, "slots": SLOTS });
    for token in [&srv.operator_a, &srv.protocol, &srv.regulator] {
        let got = srv
            .call(Method::PUT, "/v1/epochs/5", Some(token), Some(&schedule))
            .await;
        assert_problem(&got, 403, "forbidden");
        let got = srv
            .call(Method::POST, "/v1/epochs/5/close", Some(token), None)
            .await;
        assert_problem(&got, 403, "forbidden");
    }
    for token in [&srv.admin, &srv.protocol, &srv.regulator] {
        let got = srv
            .call(
                Method::POST,
                "/v1/installations",
                Some(token),
                Some(&installation(1)),
            )
            .await;
        assert_problem(&got, 403, "forbidden");
        let got = srv
            .call(
                Method::POST,
                "/v1/readings",
                Some(token),
                Some(&signed(1, 5, 3600, &day(1))),
            )
            .await;
        assert_problem(&got, 403, "forbidden");
        let got = srv
            .call(
                Method::POST,
                "/v1/readings/batch",
                Some(token),
                Some(&json!({ "readings": [] })),
            )
            .await;
        assert_problem(&got, 403, "forbidden");
    }
    let got = srv
        .call(Method::GET, "/v1/installations", Some(&srv.protocol), None)
        .await;
    assert_problem(&got, 403, "forbidden");
    // The right roles pass.
    open_epoch(&srv, 5).await;
    for token in [&srv.admin, &srv.operator_a, &srv.protocol, &srv.regulator] {
        let got = srv
            .call(Method::GET, "/v1/epochs/5", Some(token), None)
            .await;
        assert_eq!(got.0, StatusCode::OK, "{}", got.2);
    }
    srv.stop().await;
}

async fn installations_never_return_locations(db: &TestDb) {
    let srv = Server::start(db).await;
    let mut bodies = Vec::new();
    let got = srv
        .call(
            Method::POST,
            "/v1/installations",
            Some(&srv.operator_a),
            Some(&installation(101)),
        )
        .await;
    assert_eq!(got.0, StatusCode::CREATED, "{}", got.2);
    assert_eq!(got.2["site_id"], 101);
    assert_eq!(got.2["capacity_w"], CAPACITY_W);
    assert!(got.2.get("location").is_none());
    bodies.push(got.2.to_string());
    // The same registration again: 200, idempotent.
    let got = srv
        .call(
            Method::POST,
            "/v1/installations",
            Some(&srv.operator_a),
            Some(&installation(101)),
        )
        .await;
    assert_eq!(got.0, StatusCode::OK, "{}", got.2);
    bodies.push(got.2.to_string());
    // Other content under the same site id: 409 (another operator too).
    let mut other = installation(101);
    other["capacity_w"] = json!(99);
    let got = srv
        .call(
            Method::POST,
            "/v1/installations",
            Some(&srv.operator_a),
            Some(&other),
        )
        .await;
    bodies.push(assert_problem(&got, 409, "conflict").to_string());
    let got = srv
        .call(
            Method::POST,
            "/v1/installations",
            Some(&srv.operator_b),
            Some(&installation(101)),
        )
        .await;
    bodies.push(assert_problem(&got, 409, "conflict").to_string());
    // Refusals of the content: 422 with a precise type.
    let mut bad_key = installation(102);
    bad_key["meter_public_key"] = json!(["1", "2"]);
    let mut bad_tariff = installation(102);
    bad_tariff["prices_uusd_per_kwh"] = json!([1, 2, 3]);
    let mut bad_location = installation(102);
    bad_location["location"]["longitude_microdeg"] = json!(180_000_001);
    let mut bad_region = installation(102);
    bad_region["location"]["region"] = json!("XX SECRET\u{7f}");
    let mut zero_capacity = installation(102);
    zero_capacity["capacity_w"] = json!(0);
    let mut unknown_field = installation(102);
    unknown_field["location"]["altitude_m"] = json!(3);
    for (body, slug) in [
        (bad_key, "invalid-meter-key"),
        (bad_tariff, "invalid-tariff"),
        (bad_location, "invalid-location"),
        (bad_region, "invalid-location"),
        (zero_capacity, "invalid-capacity"),
        (unknown_field, "invalid-body"),
    ] {
        let got = srv
            .call(
                Method::POST,
                "/v1/installations",
                Some(&srv.operator_a),
                Some(&body),
            )
            .await;
        bodies.push(assert_problem(&got, 422, slug).to_string());
    }
    register(&srv, &srv.operator_a, 103).await;
    register(&srv, &srv.operator_b, 201).await;

    // Operators see only their own sites; admins and regulators see all.
    let got = srv
        .call(
            Method::GET,
            "/v1/installations",
            Some(&srv.operator_a),
            None,
        )
        .await;
    let ids: Vec<&Value> = got.2["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| &i["site_id"])
        .collect();
    assert_eq!(ids, [&json!(101), &json!(103)]);
    bodies.push(got.2.to_string());
    let got = srv
        .call(
            Method::GET,
            "/v1/installations",
            Some(&srv.operator_b),
            None,
        )
        .await;
    assert_eq!(got.2["items"].as_array().unwrap().len(), 1);
    for token in [&srv.admin, &srv.regulator] {
        let got = srv
            .call(Method::GET, "/v1/installations", Some(token), None)
            .await;
        assert_eq!(got.2["items"].as_array().unwrap().len(), 3);
        bodies.push(got.2.to_string());
    }
    // Pagination.
    let got = srv
        .call(
            Method::GET,
            "/v1/installations?limit=2",
            Some(&srv.admin),
            None,
        )
        .await;
    assert_eq!(got.2["items"].as_array().unwrap().len(), 2);
    let next = got.2["next_after"].as_str().unwrap().to_string();
    assert_eq!(next, "103");
    let got = srv
        .call(
            Method::GET,
            &format!("/v1/installations?limit=2&after={next}"),
            Some(&srv.admin),
            None,
        )
        .await;
    assert_eq!(got.2["items"][0]["site_id"], 201);
    assert!(got.2.get("next_after").is_none());
    // One site: the owner and admins, not another operator.
    let got = srv
        .call(
            Method::GET,
            "/v1/installations/101",
            Some(&srv.operator_a),
            None,
        )
        .await;
    assert_eq!(got.0, StatusCode::OK);
    bodies.push(got.2.to_string());
    let got = srv
        .call(
            Method::GET,
            "/v1/installations/101",
            Some(&srv.operator_b),
            None,
        )
        .await;
    assert_problem(&got, 403, "forbidden");
    let got = srv
        .call(Method::GET, "/v1/installations/999", Some(&srv.admin), None)
        .await;
    assert_problem(&got, 404, "not-found");

    // The location was sealed at rest and no answer holds it.
    let opened = db
        .store
        .open_location(101, &LocationCipher::from_key(&[0x42; 32]))
        .await
        .unwrap();
    assert_eq!(opened.location.region, SECRET_REGION);
    for body in &bodies {
        assert!(!body.contains(SECRET_REGION), "{body}");
        assert!(!body.contains(&SECRET_LATITUDE.to_string()), "{body}");
        assert!(!body.contains("latitude\":"), "{body}");
        assert!(!body.contains("180000001"), "{body}");
        assert!(!body.contains("SECRET"), "{body}");
    }
    srv.stop().await;
}

async fn readings_are_checked_stored_and_refused(db: &TestDb) {
    let srv = Server::start(db).await;
    let e = 20300;
    open_epoch(&srv, e).await;
    register(&srv, &srv.operator_a, 1).await;
    register(&srv, &srv.operator_a, 2).await;
    register(&srv, &srv.operator_b, 3).await;
    let post = |body: Value| {
        let srv = &srv;
        async move {
            srv.call(
                Method::POST,
                "/v1/readings",
                Some(&srv.operator_a),
                Some(&body),
            )
            .await
        }
    };

    // Stored, then the same body again (numbers as strings this time): a duplicate.
    let good = signed(1, e, 3600, &day(1000));
    let got = post(good.clone()).await;
    assert_eq!(got.0, StatusCode::CREATED, "{}", got.2);
    assert_eq!(got.2["result"], "stored");
    let mut same = good.clone();
    same["epoch"] = json!(e.to_string());
    let got = post(same).await;
    assert_eq!(got.0, StatusCode::OK, "{}", got.2);
    assert_eq!(got.2["result"], "duplicate");
    // Other (validly signed) readings for the same (site, epoch): 409.
    let got = post(signed(1, e, 3600, &day(2000))).await;
    assert_problem(&got, 409, "reading-conflict");

    // A signature over other readings: 422 bad-signature.
    let mut forged = signed(2, e, 3600, &day(1000));
    forged["readings_wh"][0] = json!(1001);
    assert_problem(&post(forged).await, 422, "bad-signature");
    // Signed by another meter: 422.
    let mut other_meter = signed(2, e, 3600, &day(1000));
    other_meter["signature"] = signed(1, e, 3600, &day(1000))["signature"].clone();
    assert_problem(&post(other_meter).await, 422, "bad-signature");
    // A validly signed reading over the capacity bound (10,000 Wh per hour).
    let mut over = day(1000);
    over[5] = 10_001;
    let p = assert_problem(&post(signed(2, e, 3600, &over)).await, 422, "over-capacity");
    assert_eq!(p["index"], 5);
    assert_eq!(p["bound_wh"], 10_000);
    let mut at_bound = day(1000);
    at_bound[5] = 10_000;
    // Wrong count and wrong interval.
    assert_problem(
        &post(signed(2, e, 3600, &day(1000)[..7])).await,
        422,
        "wrong-count",
    );
    assert_problem(
        &post(signed(2, e, 900, &day(10))).await,
        422,
        "wrong-interval",
    );
    // Unknown site, another operator's site, unknown epoch.
    assert_problem(
        &post(signed(77, e, 3600, &day(1))).await,
        404,
        "unknown-site",
    );
    assert_problem(
        &post(signed(3, e, 3600, &day(1))).await,
        403,
        "foreign-site",
    );
    assert_problem(
        &post(signed(2, e + 1, 3600, &day(1))).await,
        404,
        "unknown-epoch",
    );
    // Nothing refused was stored.
    assert!(db.store.reading(2, e).await.unwrap().is_none());
    // At the bound is fine.
    let got = post(signed(2, e, 3600, &at_bound)).await;
    assert_eq!(got.0, StatusCode::CREATED, "{}", got.2);

    // Close: new readings are refused with 409 epoch-closed, a retry of a stored one is 200.
    let got = srv
        .call(
            Method::POST,
            &format!("/v1/epochs/{e}/close"),
            Some(&srv.admin),
            None,
        )
        .await;
    assert_eq!(got.0, StatusCode::ACCEPTED, "{}", got.2);
    register(&srv, &srv.operator_a, 4).await;
    let p = assert_problem(
        &post(signed(4, e, 3600, &day(1))).await,
        409,
        "epoch-closed",
    );
    assert_eq!(p["epoch_status"], "proving");
    let got = post(good).await;
    assert_eq!(got.0, StatusCode::OK, "{}", got.2);
    assert_eq!(db.store.count_readings(e).await.unwrap(), 2);

    // The metrics counted acceptances and refusals by reason.
    let metrics = srv
        .client
        .get(format!("{}/metrics", srv.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for needle in [
        "gridproof_readings_accepted_total{outcome=\"stored\"}",
        "gridproof_readings_refused_total{reason=\"bad-signature\"}",
        "gridproof_readings_refused_total{reason=\"epoch-closed\"}",
    ] {
        assert!(
            metrics.contains(needle),
            "{needle} missing from:\n{metrics}"
        );
    }
    srv.stop().await;
}

async fn reading_batches_decide_per_item(db: &TestDb) {
    let srv = Server::start(db).await;
    let e = 31;
    open_epoch(&srv, e).await;
    let n = 40u64;
    for site in 1..=n {
        register(&srv, &srv.operator_a, site).await;
    }
    register(&srv, &srv.operator_b, 500).await;
    let mut items: Vec<Value> = (1..=n)
        .map(|s| signed(s, e, 3600, &day(s as u32)))
        .collect();

    // The arrival check of each reading passes, one core, timed (signature verification
    // dominates; docs/service-api.md records the numbers).
    let epoch_row = db.store.epoch(e).await.unwrap();
    let operator = db
        .store
        .operator_by_name("operator-a")
        .await
        .unwrap()
        .unwrap();
    let sites: Vec<u64> = (1..=n).collect();
    let installed = db.store.installations(&sites).await.unwrap();
    let bodies: Vec<ReadingBody> = items
        .iter()
        .map(|v| serde_json::from_value(v.clone()).unwrap())
        .collect();
    let started = Instant::now();
    for (body, inst) in bodies.into_iter().zip(&installed) {
        check_reading(body, epoch_row.as_ref(), Some(inst), operator).unwrap();
    }
    eprintln!(
        "check_reading: {:?} per reading of T = {} (one core)",
        started.elapsed() / n as u32,
        SLOTS.len()
    );
    let mut forged = signed(1, e, 3600, &day(5));
    forged["site_id"] = json!(2); // the signature is site 1's meter message
    items.push(forged); // index 40: bad signature for site 2... but site 2 is stored by item 1
    items.push(signed(500, e, 3600, &day(1))); // 41: foreign
    items.push(signed(999, e, 3600, &day(1))); // 42: unknown site
    items.push(items[0].clone()); // 43: a repeat inside the batch: duplicate
    items.push(signed(3, e, 3600, &day(777))); // 44: conflicts with item 2
    let body = json!({ "readings": items });
    let started = Instant::now();
    let got = srv
        .call(
            Method::POST,
            "/v1/readings/batch",
            Some(&srv.operator_a),
            Some(&body),
        )
        .await;
    let elapsed = started.elapsed();
    assert_eq!(got.0, StatusCode::OK, "{}", got.2);
    let results = got.2["results"].as_array().unwrap();
    assert_eq!(results.len(), items.len());
    for (i, r) in results.iter().enumerate().take(n as usize) {
        assert_eq!(r["index"], i);
        assert_eq!(r["status"], 201, "{r}");
        assert_eq!(r["result"], "stored");
    }
    let problem_type = |i: usize| results[i]["problem"]["type"].as_str().unwrap().to_string();
    assert_eq!(results[40]["status"], 422);
    assert_eq!(problem_type(40), "urn:gridproof:problem:bad-signature");
    assert_eq!(results[41]["status"], 403);
    assert_eq!(problem_type(41), "urn:gridproof:problem:foreign-site");
    assert_eq!(results[42]["status"], 404);
    assert_eq!(problem_type(42), "urn:gridproof:problem:unknown-site");
    assert_eq!(results[43]["status"], 200);
    assert_eq!(results[43]["result"], "duplicate");
    assert_eq!(results[44]["status"], 409);
    assert_eq!(problem_type(44), "urn:gridproof:problem:reading-conflict");
    assert_eq!(got.2["stored"], n);
    assert_eq!(got.2["duplicates"], 1);
    assert_eq!(got.2["refused"], 4);
    assert_eq!(db.store.count_readings(e).await.unwrap(), n);
    eprintln!(
        "batch of {} signed readings (debug build, loopback, {:?} backend): {:?}",
        items.len(),
        db.store.backend_kind(),
        elapsed
    );

    // Retrying the whole batch is safe: stored items come back as duplicates.
    let got = srv
        .call(
            Method::POST,
            "/v1/readings/batch",
            Some(&srv.operator_a),
            Some(&body),
        )
        .await;
    assert_eq!(got.2["stored"], 0);
    assert_eq!(got.2["duplicates"], n + 1);
    assert_eq!(got.2["refused"], 4);
    assert_eq!(db.store.count_readings(e).await.unwrap(), n);

    // An empty batch is fine; a malformed item refuses the whole request (nothing stored).
    let got = srv
        .call(
            Method::POST,
            "/v1/readings/batch",
            Some(&srv.operator_a),
            Some(&json!({ "readings": [] })),
        )
        .await;
    assert_eq!(got.0, StatusCode::OK);
    let mut bad = signed(1, e, 3600, &day(1));
    bad["readings_wh"][0] = json!(-1);
    let got = srv
        .call(
            Method::POST,
            "/v1/readings/batch",
            Some(&srv.operator_a),
            Some(&json!({ "readings": [bad] })),
        )
        .await;
    assert_problem(&got, 422, "invalid-body");
    srv.stop().await;
}

async fn epochs_open_close_and_show_proofs(db: &TestDb) {
    let srv = Server::start(db).await;
    let schedule = json!({ "interval_seconds": 3600, "slots": SLOTS });
    let got = srv
        .call(
            Method::PUT,
            "/v1/epochs/7",
            Some(&srv.admin),
            Some(&schedule),
        )
        .await;
    assert_eq!(got.0, StatusCode::CREATED, "{}", got.2);
    assert_eq!(got.2["status"], "open");
    assert_eq!(got.2["slots"], json!(SLOTS));
    let got = srv
        .call(
            Method::PUT,
            "/v1/epochs/7",
            Some(&srv.admin),
            Some(&schedule),
        )
        .await;
    assert_eq!(got.0, StatusCode::OK);
    let got = srv
        .call(
            Method::PUT,
            "/v1/epochs/7",
            Some(&srv.admin),
            Some(&json!({ "interval_seconds": 900, "slots": SLOTS })),
        )
        .await;
    assert_problem(&got, 409, "conflict");
    for bad in [
        json!({ "interval_seconds": 0, "slots": SLOTS }),
        json!({ "interval_seconds": 3600, "slots": [] }),
        json!({ "interval_seconds": 3600, "slots": [0, 11] }),
    ] {
        let got = srv
            .call(Method::PUT, "/v1/epochs/8", Some(&srv.admin), Some(&bad))
            .await;
        assert_problem(&got, 422, "invalid-schedule");
    }
    for e in [1u64, 2, 3] {
        open_epoch(&srv, e).await;
    }
    // Lists: newest first, paginated.
    let got = srv
        .call(Method::GET, "/v1/epochs?limit=2", Some(&srv.protocol), None)
        .await;
    let epochs: Vec<u64> = got.2["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["epoch"].as_u64().unwrap())
        .collect();
    assert_eq!(epochs, [7, 3]);
    assert_eq!(got.2["next_before"], "3");
    let got = srv
        .call(
            Method::GET,
            "/v1/epochs?limit=2&before=3",
            Some(&srv.protocol),
            None,
        )
        .await;
    assert_eq!(got.2["items"].as_array().unwrap().len(), 2);
    assert!(got.2["items"][0].get("batches").is_none());

    // Readings, close (202, idempotent), then a plan and a proof as the workers would store
    // them: the epoch shows the batch's public inputs, proof, calldata and the totals.
    for site in 1..=3 {
        register(&srv, &srv.operator_a, site).await;
        let got = srv
            .call(
                Method::POST,
                "/v1/readings",
                Some(&srv.operator_a),
                Some(&signed(site, 7, 3600, &day(site as u32))),
            )
            .await;
        assert_eq!(got.0, StatusCode::CREATED);
    }
    for _ in 0..2 {
        let got = srv
            .call(Method::POST, "/v1/epochs/7/close", Some(&srv.admin), None)
            .await;
        assert_eq!(got.0, StatusCode::ACCEPTED, "{}", got.2);
        assert_eq!(got.2["status"], "proving");
        assert_eq!(got.2["readings"], 3);
    }
    let got = srv
        .call(Method::POST, "/v1/epochs/99/close", Some(&srv.admin), None)
        .await;
    assert_problem(&got, 404, "not-found");
    let got = srv
        .call(Method::GET, "/v1/epochs/99", Some(&srv.protocol), None)
        .await;
    assert_problem(&got, 404, "not-found");

    let s = &db.store;
    let plan = s
        .claim_job("test", &[JobKind::PlanEpoch], Duration::from_secs(60))
        .await
        .unwrap()
        .expect("the plan job queued by the close");
    let mut root = [7u8; 32];
    root[0] = 0;
    let batches = [NewBatch {
        batch_index: 0,
        site_ids: vec![1, 2, 3],
    }];
    s.complete_plan_epoch(&plan, &root, &batches, 2)
        .await
        .unwrap();
    let got = srv
        .call(Method::GET, "/v1/epochs/7", Some(&srv.protocol), None)
        .await;
    assert_eq!(got.2["batches"][0]["status"], "pending");
    assert_eq!(got.2["batches"][0]["site_count"], 3);
    assert!(got.2["batches"][0]["calldata"].is_null());
    assert!(got.2["batches"][0].get("site_ids").is_none());
    assert!(got.2.get("totals").is_none());
    let prove = s
        .claim_job("test", &[JobKind::ProveBatch], Duration::from_secs(60))
        .await
        .unwrap()
        .expect("the prove job");
    let inputs = json!({
        "epoch": "7", "registry_root": "123", "batch_index": "0",
        "total_energy_wh": "12345", "total_revenue_nusd": "18446744073709551616000",
        "readings_root": "99", "interval_seconds": "3600", "schedule_hash": "5"
    });
    // A proof of points on the curves (generators of G1 and G2): enough for calldata.
    let proof = json!({
        "a": ["1", "2"],
        "b": [["10857046999023057135944570762232829481370756359578518086990519993285655852781",
               "11559732032986387107991004021392285783925812861821192530917403151452391805634"],
              ["8495653923123431417604973247489272438418190587263600148770280649306958101930",
               "4082367875863433681332203403145435568316851327593401208105741076214120093531"]],
        "c": ["1", "2"]
    });
    s.complete_prove_batch(&prove, &inputs.to_string(), &proof.to_string())
        .await
        .unwrap();
    let got = srv
        .call(Method::GET, "/v1/epochs/7", Some(&srv.protocol), None)
        .await;
    assert_eq!(got.0, StatusCode::OK);
    let epoch = &got.2;
    assert_eq!(epoch["status"], "proved");
    // The root as a decimal: 0x00 07 07 ... 07 read big-endian.
    let root_decimal = num_bigint_decimal(&root);
    assert_eq!(epoch["registry_root"], root_decimal);
    let batch = &epoch["batches"][0];
    assert_eq!(batch["status"], "proved");
    assert_eq!(batch["public_inputs"], inputs);
    assert_eq!(batch["proof"], proof);
    let calldata = batch["calldata"]
        .as_str()
        .expect("calldata of a proved batch");
    // submitBatch(uint256[8],uint256[8]): selector and 16 words.
    assert_eq!(calldata.len(), 2 + 8 + 16 * 64, "{calldata}");
    assert!(calldata.ends_with(&format!("{:064x}", 2)), "{calldata}");
    assert_eq!(
        &calldata[10..74],
        format!("{:064x}", 7),
        "first input: the epoch"
    );
    assert_eq!(epoch["totals"]["total_energy_wh"], "12345");
    assert_eq!(
        epoch["totals"]["total_revenue_nusd"],
        "18446744073709551616000"
    );
    assert_eq!(epoch["totals"]["batches_proved"], 1);
    assert_eq!(epoch["totals"]["batches"], 1);
    srv.stop().await;
}

async fn every_error_is_a_problem(db: &TestDb) {
    let srv = Server::start(db).await;
    let op = Some(srv.operator_a.as_str());
    // Not JSON, wrong media type, unknown and missing fields.
    let got = srv
        .raw(
            Method::POST,
            "/v1/readings",
            op,
            "application/json",
            b"{\"site_id\": ".to_vec(),
        )
        .await;
    assert_problem(&got, 400, "malformed-json");
    let got = srv
        .raw(
            Method::POST,
            "/v1/readings",
            op,
            "text/plain",
            b"{}".to_vec(),
        )
        .await;
    assert_problem(&got, 415, "unsupported-media-type");
    let mut unknown = signed(1, 1, 3600, &day(1));
    unknown["gateway"] = json!("x");
    let got = srv
        .call(Method::POST, "/v1/readings", op, Some(&unknown))
        .await;
    let p = assert_problem(&got, 422, "invalid-body");
    assert!(p["detail"].as_str().unwrap().contains("gateway"), "{p}");
    let got = srv
        .call(
            Method::POST,
            "/v1/readings",
            op,
            Some(&json!({ "site_id": 1 })),
        )
        .await;
    assert_problem(&got, 422, "invalid-body");
    // Oversize bodies: the ordinary limit and the batch route's larger one.
    let big = vec![b' '; TEST_MAX_BODY + 1];
    let got = srv
        .raw(
            Method::POST,
            "/v1/readings",
            op,
            "application/json",
            big.clone(),
        )
        .await;
    let p = assert_problem(&got, 413, "payload-too-large");
    assert_eq!(p["limit_bytes"], TEST_MAX_BODY);
    let mut batch = b"{\"readings\": []".to_vec();
    batch.extend(vec![b' '; TEST_MAX_BODY + 10]);
    batch.push(b'}');
    let got = srv
        .raw(
            Method::POST,
            "/v1/readings/batch",
            op,
            "application/json",
            batch,
        )
        .await;
    assert_eq!(got.0, StatusCode::OK, "{}", got.2);
    let got = srv
        .raw(
            Method::POST,
            "/v1/readings/batch",
            op,
            "application/json",
            vec![b' '; TEST_MAX_BATCH_BODY + 1],
        )
        .await;
    let p = assert_problem(&got, 413, "payload-too-large");
    assert_eq!(p["limit_bytes"], TEST_MAX_BATCH_BODY);
    // Wrong methods, unknown routes, malformed path and query parameters.
    let got = srv.call(Method::DELETE, "/v1/readings", op, None).await;
    assert_problem(&got, 405, "method-not-allowed");
    let got = srv.call(Method::GET, "/v1/readings", op, None).await;
    assert_problem(&got, 405, "method-not-allowed");
    let got = srv.call(Method::PATCH, "/healthz", None, None).await;
    assert_problem(&got, 405, "method-not-allowed");
    let got = srv.call(Method::GET, "/v2/nothing", op, None).await;
    assert_problem(&got, 404, "no-route");
    let got = srv.call(Method::GET, "/v1/epochs/abc", op, None).await;
    assert_problem(&got, 400, "invalid-path");
    let got = srv.call(Method::GET, "/v1/epochs?limit=0", op, None).await;
    assert_problem(&got, 400, "invalid-query");
    let got = srv.call(Method::GET, "/v1/epochs?limit=x", op, None).await;
    assert_problem(&got, 400, "invalid-query");
    let got = srv
        .call(Method::GET, "/v1/installations?colour=red", op, None)
        .await;
    assert_problem(&got, 400, "invalid-query");
    srv.stop().await;
}

async fn operations_routes_work(db: &TestDb) {
    let srv = Server::start(db).await;
    for path in ["/healthz", "/readyz"] {
        let got = srv.call(Method::GET, path, None, None).await;
        assert_eq!(got.0, StatusCode::OK);
        assert_eq!(got.2["status"], "ok");
    }
    // Request ids: generated when absent, echoed when given.
    let got = srv.call(Method::GET, "/healthz", None, None).await;
    let generated = got.1.get("x-request-id").unwrap().to_str().unwrap();
    assert_eq!(generated.len(), 36, "{generated}");
    let resp = srv
        .client
        .get(format!("{}/v1/nothing", srv.base))
        .header("x-request-id", "req-42")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    assert_eq!(resp.headers()["x-request-id"], "req-42");
    // The OpenAPI document lists the routes and the bearer scheme.
    let got = srv.call(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(got.0, StatusCode::OK);
    let doc = &got.2;
    for path in [
        "/v1/installations",
        "/v1/installations/{site_id}",
        "/v1/readings",
        "/v1/readings/batch",
        "/v1/epochs",
        "/v1/epochs/{epoch}",
        "/v1/epochs/{epoch}/close",
        "/healthz",
        "/readyz",
        "/metrics",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} missing");
    }
    assert!(doc["paths"]["/v1/epochs/{epoch}"].get("put").is_some());
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    assert!(doc["components"]["schemas"].get("ReadingBody").is_some());
    assert!(doc["components"]["schemas"].get("Problem").is_some());
    // Metrics: requests and the job gauges (read from the store).
    open_epoch(&srv, 1).await;
    srv.call(Method::POST, "/v1/epochs/1/close", Some(&srv.admin), None)
        .await;
    let metrics = srv
        .client
        .get(format!("{}/metrics", srv.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(
            "gridproof_http_requests_total{method=\"GET\",route=\"/healthz\",status=\"200\"}"
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains("gridproof_jobs{kind=\"plan_epoch\",state=\"queued\"} 1")
            || metrics.contains("gridproof_jobs{kind=\"plan_epoch\",state=\"queued\"}"),
        "{metrics}"
    );
    srv.stop().await;
}
