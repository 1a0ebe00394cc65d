//! The `gridproof` binary end to end: meter keygen / sign / simulate, setup + prove + verify at a
//! tiny shape (S = 4, T = 8), refusals of bad input (exit status != 0, a message naming the
//! problem, never a panic, never a partial output), and circomlibjs interoperability.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use gridproof_circuits::eddsa::{PrivateKey, PublicKey, Signature};
use gridproof_circuits::encoding::parse_field;
use gridproof_circuits::meter::MeterMessage;
use gridproof_circuits::registry::reading_bound_wh;
use gridproof_circuits::statement::BatchShape;
use gridproof_prover::batch::{validate, BatchFile, ValidationPolicy};

mod support;
use support::cli::{fails, gridproof, ok, p, scratch, text};

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn signature_of(json: &serde_json::Value) -> Signature {
    let f = |v: &serde_json::Value| parse_field(v.as_str().unwrap()).unwrap();
    Signature {
        r8_x: f(&json["r8"][0]),
        r8_y: f(&json["r8"][1]),
        s: f(&json["s"]),
    }
}

fn public_key_of(json: &serde_json::Value) -> PublicKey {
    let f = |v: &serde_json::Value| parse_field(v.as_str().unwrap()).unwrap();
    PublicKey::new(f(&json[0]), f(&json[1])).unwrap()
}

#[test]
fn help_explains_every_command() {
    let help = ok(&["--help"]);
    for command in ["setup", "prove", "verify", "meter", "bench"] {
        assert!(help.contains(command), "{help}");
    }
    let meter = ok(&["meter", "--help"]);
    for command in ["keygen", "sign", "simulate"] {
        assert!(meter.contains(command), "{meter}");
    }
    let prove = ok(&["prove", "--help"]);
    for flag in [
        "--keys",
        "--batch",
        "--out",
        "--private-out",
        "--min-sites-per-batch",
        "--msm",
    ] {
        assert!(prove.contains(flag), "{prove}");
    }
    fails(&["frobnicate"], "unrecognized subcommand");
    fails(&["setup", "--sites", "4"], "--readings-per-site");
}

#[test]
fn meter_keygen_and_sign_make_signatures_that_verify() {
    let dir = scratch("meter");
    let printed: serde_json::Value = serde_json::from_str(&ok(&["meter", "keygen"])).unwrap();
    let hex = printed["private_key_hex"].as_str().unwrap();
    assert_eq!(hex.len(), 64);
    let key = PrivateKey::from_bytes(<[u8; 32]>::try_from(hex::decode(hex).unwrap()).unwrap());
    assert_eq!(public_key_of(&printed["public_key"]), key.public_key());

    // keygen --out writes a 0600 key file and prints only the public key.
    let key_file = dir.join("meter.key");
    let out = ok(&["meter", "keygen", "--out", p(&key_file)]);
    assert!(!out.contains("private_key_hex"), "{out}");
    #[cfg(unix)]
    assert_eq!(mode(&key_file), 0o600);
    fails(
        &["meter", "keygen", "--out", p(&key_file)],
        "already exists",
    );

    let signed_text = ok(&[
        "meter",
        "sign",
        "--key-file",
        p(&key_file),
        "--site-id",
        "101",
        "--epoch",
        "20300",
        "--interval-seconds",
        "3600",
        "--readings",
        "0,0,4200,51000,120000,7,8,9",
    ]);
    let signed: serde_json::Value = serde_json::from_str(&signed_text).unwrap();
    let message = MeterMessage {
        site_id: 101,
        epoch: 20300,
        interval_seconds: 3600,
        readings_wh: vec![0, 0, 4200, 51000, 120000, 7, 8, 9],
    };
    assert_eq!(
        signed["message"].as_str().unwrap(),
        gridproof_circuits::encoding::field_to_decimal(&message.hash())
    );
    let public_key = public_key_of(&signed["meter_public_key"]);
    public_key
        .verify(message.hash(), &signature_of(&signed["signature"]))
        .unwrap();

    // The same key given as hex, and readings from a file, give the same (deterministic) output.
    let file_json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&key_file).unwrap()).unwrap();
    let readings_file = dir.join("readings.json");
    std::fs::write(&readings_file, "[0, 0, \"4200\", 51000, 120000, 7, 8, 9]").unwrap();
    let again = ok(&[
        "meter",
        "sign",
        "--key",
        file_json["private_key_hex"].as_str().unwrap(),
        "--site-id",
        "101",
        "--epoch",
        "20300",
        "--interval-seconds",
        "3600",
        "--readings-file",
        p(&readings_file),
    ]);
    assert_eq!(again, signed_text);
}

#[test]
fn meter_sign_refuses_bad_input() {
    let dir = scratch("sign-bad");
    let key = "11".repeat(32);
    let base = [
        "meter",
        "sign",
        "--site-id",
        "1",
        "--epoch",
        "2",
        "--interval-seconds",
        "3600",
    ];
    let with = |extra: &[&str]| -> Vec<String> {
        base.iter()
            .chain(extra.iter())
            .map(|s| s.to_string())
            .collect()
    };
    let run = |extra: &[&str], needle: &str| {
        let args = with(extra);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        fails(&args, needle);
    };
    run(&["--key", "abcd", "--readings", "1,2"], "32");
    run(&["--key", "zz", "--readings", "1,2"], "not hex");
    run(&["--key", &key, "--readings", "1,-2"], "reading 1");
    run(&["--key", &key, "--readings", "1,2.5"], "reading 1");
    run(&["--key", &key, "--readings", "4294967296"], "reading 0");
    run(&["--key", &key, "--readings", ""], "no readings");
    run(&["--readings", "1"], "--key");
    run(
        &["--key", &key, "--key-file", "x", "--readings", "1"],
        "cannot be used with",
    );
    let missing = dir.join("missing.key");
    run(
        &["--key-file", p(&missing), "--readings", "1"],
        "cannot read",
    );
    let bad = dir.join("bad.key");
    std::fs::write(&bad, "{\"private_key_hex\": 5}").unwrap();
    run(
        &["--key-file", p(&bad), "--readings", "1"],
        "not a meter key file",
    );
    fails(
        &[
            "meter",
            "sign",
            "--key",
            &key,
            "--site-id",
            "1",
            "--epoch",
            "2",
            "--interval-seconds",
            "0",
            "--readings",
            "1",
        ],
        "at least 1 second",
    );
    fails(
        &[
            "meter",
            "sign",
            "--key",
            &key,
            "--site-id",
            "-1",
            "--epoch",
            "2",
            "--interval-seconds",
            "1",
            "--readings",
            "1",
        ],
        "--site-id",
    );
}

fn simulate(dir: &Path, name: &str, extra: &[&str]) -> PathBuf {
    let out = dir.join(name);
    let mut args = vec!["meter", "simulate", "--epoch", "20300", "--out", p(&out)];
    args.extend_from_slice(extra);
    ok(&args);
    out
}

#[test]
fn simulate_writes_a_realistic_valid_batch_file() {
    let dir = scratch("simulate");
    let keys_out = dir.join("meters.json");
    let batch = simulate(
        &dir,
        "batch.json",
        &[
            "--sites",
            "9",
            "--seed",
            "unit-test",
            "--keys-out",
            p(&keys_out),
        ],
    );
    #[cfg(unix)]
    {
        assert_eq!(mode(&batch), 0o600);
        assert_eq!(mode(&keys_out), 0o600);
    }
    let file = BatchFile::read(&batch).unwrap();
    assert_eq!(
        file.slots,
        [0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 3, 3, 3]
    );
    let shape = BatchShape::new(4, 24, 4).unwrap();
    let validated = validate(&file, &shape, &ValidationPolicy::default()).unwrap();
    assert_eq!(validated.plan().len(), 3);
    for site in &file.sites {
        assert!(
            (50_000..=2_000_000).contains(&site.capacity_w),
            "{}",
            site.capacity_w
        );
        assert!(["US-IL", "US-MA"].contains(&site.location.region.as_str()));
        let lat = site.location.latitude_microdeg;
        assert!((39_500_000..42_600_000).contains(&lat), "{lat}");
        let bound = reading_bound_wh(site.capacity_w, 3600);
        assert!(site.readings_wh.iter().all(|&r| u64::from(r) <= bound));
        // Dark at 2 am, producing at 1 pm (summer).
        assert_eq!(site.readings_wh[2], 0);
        assert!(site.readings_wh[13] > 0, "{:?}", site.readings_wh);
        assert!(site.prices_uusd_per_kwh[2] > site.prices_uusd_per_kwh[0]);
    }
    // The meters' keys match the public keys in the file.
    let keys: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&keys_out).unwrap()).unwrap();
    let first = &keys["meters"][0];
    assert_eq!(first["site_id"], 101);
    let key = PrivateKey::from_bytes(
        <[u8; 32]>::try_from(hex::decode(first["private_key_hex"].as_str().unwrap()).unwrap())
            .unwrap(),
    );
    assert_eq!(key.public_key().x, file.sites[0].meter_public_key[0]);

    // Deterministic with --seed; another seed gives another file.
    let same = simulate(&dir, "same.json", &["--sites", "9", "--seed", "unit-test"]);
    assert_eq!(
        std::fs::read(&batch).unwrap(),
        std::fs::read(&same).unwrap()
    );
    let other = simulate(&dir, "other.json", &["--sites", "9", "--seed", "another"]);
    assert_ne!(
        std::fs::read(&batch).unwrap(),
        std::fs::read(&other).unwrap()
    );

    // Winter at 15-minute intervals: shorter days, still within bounds and valid.
    let winter = dir.join("winter.json");
    ok(&[
        "meter",
        "simulate",
        "--sites",
        "3",
        "--epoch",
        "20443",
        "--interval-seconds",
        "900",
        "--readings-per-site",
        "96",
        "--seed",
        "w",
        "--out",
        p(&winter),
    ]);
    let file = BatchFile::read(&winter).unwrap();
    validate(
        &file,
        &BatchShape::new(4, 96, 4).unwrap(),
        &ValidationPolicy::default(),
    )
    .unwrap();
    for site in &file.sites {
        assert_eq!(site.readings_wh[4 * 6], 0, "6 am in December is dark");
        assert!(site.readings_wh[4 * 12] > 0, "noon: {:?}", site.readings_wh);
        // 6 pm is dark too, but a battery may export then: at most the evening share.
        assert!(site.readings_wh[4 * 18] <= site.readings_wh[4 * 12] * 2);
    }

    // Refusals.
    fails(
        &[
            "meter",
            "simulate",
            "--sites",
            "0",
            "--epoch",
            "1",
            "--out",
            p(&dir.join("x.json")),
        ],
        "at least 1",
    );
    fails(
        &[
            "meter",
            "simulate",
            "--sites",
            "3",
            "--epoch",
            "1",
            "--out",
            p(&batch),
        ],
        "already exists",
    );
    fails(
        &[
            "meter",
            "simulate",
            "--sites",
            "3",
            "--epoch",
            "1",
            "--out",
            p(&dir.join("nodir/x.json")),
        ],
        "cannot write",
    );
}

#[test]
fn simulate_refuses_epochs_too_long_to_simulate_or_prove() {
    let dir = scratch("simulate-long");
    let out = dir.join("x.json");
    let run = |interval: &str, readings: &str, needle: &str| {
        fails(
            &[
                "meter",
                "simulate",
                "--sites",
                "3",
                "--epoch",
                "1",
                "--interval-seconds",
                interval,
                "--readings-per-site",
                readings,
                "--out",
                p(&out),
            ],
            needle,
        );
        assert!(!out.exists());
    };
    // 2^32 - 1 s x 2^16 readings would be days of weather for 8.9 million years: refused at once.
    run(
        "4294967295",
        "65536",
        "covers 281474976645120 s (about 3257812229 days); a simulated epoch covers at most 366 days",
    );
    run("86400", "367", "at most 366 days");
    // One interval of 90 days fits the cap, but a 2 MW site's bound would not fit 32 bits.
    run("7776000", "1", "capacity bound");
    // Exactly 366 days is accepted.
    ok(&[
        "meter",
        "simulate",
        "--sites",
        "3",
        "--epoch",
        "1",
        "--interval-seconds",
        "86400",
        "--readings-per-site",
        "366",
        "--seed",
        "year",
        "--out",
        p(&out),
    ]);
}

/// Development keys for S = 4, T = 8, made once for all tests of this binary.
fn tiny_keys() -> &'static Path {
    static KEYS: OnceLock<PathBuf> = OnceLock::new();
    KEYS.get_or_init(|| {
        let dir = scratch("keys");
        let keys = dir.join("keys");
        let out = gridproof(&[
            "setup",
            "--sites",
            "4",
            "--readings-per-site",
            "8",
            "--out",
            p(&keys),
        ]);
        let stderr = text(&out.stderr);
        assert!(out.status.success(), "setup failed:\n{stderr}");
        assert!(stderr.contains("DEVELOPMENT SETUP"), "{stderr}");
        keys
    })
}

/// A tiny epoch: 7 sites, 8 readings of 3 hours (a whole day).
fn tiny_batch(dir: &Path, name: &str, sites: &str) -> PathBuf {
    simulate(
        dir,
        name,
        &[
            "--sites",
            sites,
            "--readings-per-site",
            "8",
            "--interval-seconds",
            "10800",
            "--seed",
            "tiny",
        ],
    )
}

#[test]
fn setup_prove_verify_and_a_tampered_proofs_file() {
    let keys = tiny_keys();
    let dir = scratch("e2e");
    let batch = tiny_batch(&dir, "batch.json", "7");
    let proofs = dir.join("proofs.json");
    let stdout = ok(&[
        "prove",
        "--keys",
        p(keys),
        "--batch",
        p(&batch),
        "--out",
        p(&proofs),
    ]);
    let summary: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(summary["batches"].as_array().unwrap().len(), 2);
    let private = dir.join("proofs.private.json");
    #[cfg(unix)]
    assert_eq!(mode(&private), 0o600);
    let private_json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&private).unwrap()).unwrap();
    assert_eq!(private_json["sites"].as_array().unwrap().len(), 7);
    assert!(private_json["sites"][0]["location_salt"].is_string());
    // The proofs file reveals no location, salt or site id.
    let proofs_text = std::fs::read_to_string(&proofs).unwrap();
    for secret in ["location", "salt", "site_id", "US-IL", "US-MA"] {
        assert!(!proofs_text.contains(secret), "{secret} in the proofs file");
    }

    let verified = ok(&["verify", "--keys", p(keys), "--proofs", p(&proofs)]);
    assert_eq!(
        verified.lines().filter(|l| l.contains("verified")).count(),
        2,
        "{verified}"
    );

    // Refuses to overwrite outputs without --force.
    fails(
        &[
            "prove",
            "--keys",
            p(keys),
            "--batch",
            p(&batch),
            "--out",
            p(&proofs),
        ],
        "already exists",
    );

    // A tampered total fails verification (exit 1, the batch named).
    let mut tampered: serde_json::Value = serde_json::from_str(&proofs_text).unwrap();
    let energy = &mut tampered["batches"][1]["public_inputs"]["total_energy_wh"];
    let bumped = energy.as_str().unwrap().parse::<u128>().unwrap() + 1;
    *energy = serde_json::json!(bumped.to_string());
    let tampered_path = dir.join("tampered.json");
    std::fs::write(
        &tampered_path,
        serde_json::to_string_pretty(&tampered).unwrap(),
    )
    .unwrap();
    let out = gridproof(&["verify", "--keys", p(keys), "--proofs", p(&tampered_path)]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("batch 0: verified"), "{stdout}");
    assert!(stdout.contains("batch 1: FAILED"), "{stdout}");
    assert!(text(&out.stderr).contains("1 of 2 batch proof(s) did not verify"));

    // A proof point off the curve is refused as malformed.
    let mut bad_point: serde_json::Value = serde_json::from_str(&proofs_text).unwrap();
    bad_point["batches"][0]["proof"]["a"][0] = serde_json::json!("1");
    std::fs::write(&tampered_path, bad_point.to_string()).unwrap();
    let out = gridproof(&["verify", "--keys", p(keys), "--proofs", p(&tampered_path)]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));

    // Not a proofs file; a missing one; keys that do not exist.
    std::fs::write(&tampered_path, "{").unwrap();
    fails(
        &["verify", "--keys", p(keys), "--proofs", p(&tampered_path)],
        "not valid JSON",
    );
    fails(
        &[
            "verify",
            "--keys",
            p(keys),
            "--proofs",
            p(&dir.join("none.json")),
        ],
        "none.json",
    );
    fails(
        &[
            "verify",
            "--keys",
            p(&dir.join("nokeys")),
            "--proofs",
            p(&proofs),
        ],
        "nokeys",
    );
}

/// `--msm` picks the prover's MSM backend: every backend's proofs verify, an unknown name is
/// refused before any work, and `bench` reports the backend it measured.
#[test]
fn prove_and_bench_take_an_msm_backend() {
    let keys = tiny_keys();
    let dir = scratch("msm");
    let batch = tiny_batch(&dir, "batch.json", "7");
    for backend in ["stock", "arkworks"] {
        let proofs = dir.join(format!("proofs-{backend}.json"));
        let prove = [
            "prove",
            "--keys",
            p(keys),
            "--batch",
            p(&batch),
            "--out",
            p(&proofs),
            "--msm",
            backend,
        ];
        ok(&prove);
        let verified = ok(&["verify", "--keys", p(keys), "--proofs", p(&proofs)]);
        assert_eq!(
            verified.lines().filter(|l| l.contains("verified")).count(),
            2,
            "{backend}: {verified}"
        );
    }
    let proofs = dir.join("proofs-bad.json");
    fails(
        &[
            "prove",
            "--keys",
            p(keys),
            "--batch",
            p(&batch),
            "--out",
            p(&proofs),
            "--msm",
            "rapidsnark",
        ],
        "unknown MSM backend 'rapidsnark'",
    );
    assert!(!proofs.exists());

    let out = ok(&[
        "bench",
        "--sites",
        "1",
        "--readings-per-site",
        "1",
        "--no-epoch",
        "--json",
        "--msm",
        "stock",
    ]);
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["backend"], "stock", "{report}");
    let out = ok(&[
        "bench",
        "--sites",
        "1",
        "--readings-per-site",
        "1",
        "--no-epoch",
    ]);
    assert!(out.contains("hybrid MSM backend"), "{out}");
}

/// Rewrites a batch file's JSON.
fn edit_batch(from: &Path, to: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let mut value: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(from).unwrap()).unwrap();
    edit(&mut value);
    std::fs::write(to, serde_json::to_string_pretty(&value).unwrap()).unwrap();
}

#[test]
fn prove_refuses_bad_batch_files_and_writes_nothing() {
    let keys = tiny_keys();
    let dir = scratch("refusals");
    let good = tiny_batch(&dir, "good.json", "6");
    let proofs = dir.join("proofs.json");
    let bad = dir.join("bad.json");
    let prove = |batch: &Path, needles: &[&str]| {
        let stderr = fails(
            &[
                "prove",
                "--keys",
                p(keys),
                "--batch",
                p(batch),
                "--out",
                p(&proofs),
            ],
            needles[0],
        );
        for needle in &needles[1..] {
            assert!(
                stderr.contains(needle),
                "stderr lacks {needle:?}:\n{stderr}"
            );
        }
        assert!(!proofs.exists(), "a proofs file was written");
        assert!(
            !dir.join("proofs.private.json").exists(),
            "a private output was written"
        );
    };

    // Dry run: valid.
    let plan = ok(&[
        "prove",
        "--keys",
        p(keys),
        "--batch",
        p(&good),
        "--out",
        p(&proofs),
        "--dry-run",
    ]);
    assert!(plan.contains("\"valid\":true"), "{plan}");

    // A reading changed after signing: bad signature of that site.
    edit_batch(&good, &bad, |v| {
        let r = &mut v["sites"][2]["readings_wh"][4];
        *r = serde_json::json!(r.as_u64().unwrap() + 1);
    });
    prove(&bad, &["site 103 (sites[2])", "bad signature"]);

    // Over the capacity bound (and so also a bad signature), plus a duplicate id: all listed.
    edit_batch(&good, &bad, |v| {
        v["sites"][1]["readings_wh"][3] = serde_json::json!(4_000_000_000u64);
        v["sites"][4]["site_id"] = serde_json::json!(101);
    });
    prove(
        &bad,
        &[
            "readings_wh[3] = 4000000000 Wh is over the capacity bound",
            "site 101 (sites[4]): duplicate site_id",
            "site 102 (sites[1])",
        ],
    );

    // Too few sites for k-anonymity: 5 sites over 2 batches of 4.
    let five = tiny_batch(&dir, "five.json", "5");
    prove(&five, &["too few sites for k-anonymity", "minimum of 3"]);
    // ... unless the minimum is lowered explicitly.
    ok(&[
        "prove",
        "--keys",
        p(keys),
        "--batch",
        p(&five),
        "--out",
        p(&proofs),
        "--min-sites-per-batch",
        "2",
        "--dry-run",
    ]);

    // Wrong T for these keys.
    let day = simulate(&dir, "t24.json", &["--sites", "6", "--seed", "tiny"]);
    prove(
        &day,
        &[
            "slots has 24 entries; the keys prove T = 8",
            "has 24 readings",
        ],
    );

    // Not JSON; numbers as floats; unknown field; non-canonical field element; missing file.
    std::fs::write(&bad, "{\"version\": 1,").unwrap();
    prove(&bad, &["not valid JSON"]);
    edit_batch(&good, &bad, |v| {
        v["sites"][0]["capacity_w"] = serde_json::json!(2.5)
    });
    prove(&bad, &["site 101 (sites[0])", "not an integer"]);
    edit_batch(&good, &bad, |v| {
        v["sites"][5]["colour"] = serde_json::json!("red")
    });
    prove(&bad, &["site 106 (sites[5])", "unknown field `colour`"]);
    edit_batch(&good, &bad, |v| {
        v["sites"][0]["signature"]["s"] = serde_json::json!(
            "21888242871839275222246405745257275088548364400416034343698204186575808495617"
        )
    });
    prove(&bad, &["non-canonical field element"]);
    prove(&dir.join("missing.json"), &["cannot read the batch file"]);

    // Keys that do not exist, and setup refusing to overwrite keys.
    fails(
        &[
            "prove",
            "--keys",
            p(&dir.join("nokeys")),
            "--batch",
            p(&good),
            "--out",
            p(&proofs),
        ],
        "nokeys",
    );
    fails(
        &[
            "setup",
            "--sites",
            "4",
            "--readings-per-site",
            "8",
            "--out",
            p(keys),
        ],
        "already exists",
    );
    fails(
        &[
            "setup",
            "--sites",
            "3",
            "--readings-per-site",
            "8",
            "--out",
            p(&dir.join("k3")),
        ],
        "power of two",
    );
}

#[test]
fn prove_says_which_output_was_written_when_the_proofs_file_cannot_be() {
    let keys = tiny_keys();
    let dir = scratch("half-written");
    let batch = tiny_batch(&dir, "batch.json", "3");
    // The proofs file's path is a directory: staging beside it works, renaming over it fails,
    // after the private output was renamed into place.
    let proofs = dir.join("proofs.json");
    std::fs::create_dir(&proofs).unwrap();
    std::fs::write(proofs.join("keep"), "x").unwrap();
    let private = dir.join("secret.json");
    let stderr = fails(
        &[
            "prove",
            "--keys",
            p(keys),
            "--batch",
            p(&batch),
            "--out",
            p(&proofs),
            "--private-out",
            p(&private),
            "--force",
        ],
        &format!("cannot write {}", proofs.display()),
    );
    assert!(
        stderr.contains(&format!("{} WAS written", private.display())),
        "{stderr}"
    );
    assert!(private.is_file() && proofs.join("keep").is_file());
    // No temporary file is left beside the outputs.
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["batch.json", "proofs.json", "secret.json"]);
}

#[test]
fn setup_force_replaces_a_key_directory_and_leaves_nothing_else() {
    let dir = scratch("setup-force");
    // Old keys (S = 4, T = 8) to replace: a copy of the shared ones, to save a setup.
    let keys = dir.join("keys");
    std::fs::create_dir(&keys).unwrap();
    for entry in std::fs::read_dir(tiny_keys()).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), keys.join(entry.file_name())).unwrap();
    }
    let out: serde_json::Value = serde_json::from_str(&ok(&[
        "setup",
        "--sites",
        "1",
        "--readings-per-site",
        "1",
        "--out",
        p(&keys),
        "--force",
    ]))
    .unwrap();
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(keys.join("manifest.json")).unwrap())
            .unwrap();
    assert_eq!(
        manifest["shape"]["sites"], 1,
        "the new keys replace the old"
    );
    assert_eq!(
        manifest["verifying_key"]["sha256"],
        out["verifying_key_sha256"]
    );
    let names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["keys"], "no staging or backup directory is left");

    // A directory that is not a key directory is never replaced, even with --force.
    let other = dir.join("other");
    std::fs::create_dir(&other).unwrap();
    std::fs::write(other.join("notes.txt"), "mine").unwrap();
    fails(
        &[
            "setup",
            "--sites",
            "1",
            "--readings-per-site",
            "1",
            "--out",
            p(&other),
            "--force",
        ],
        "not a gridproof key directory",
    );
    assert_eq!(
        std::fs::read_to_string(other.join("notes.txt")).unwrap(),
        "mine"
    );
}

#[test]
fn circomlibjs_accepts_our_signatures_and_we_accept_theirs() {
    if std::env::var("GRIDPROOF_NODE_INTEROP").as_deref() != Ok("1") {
        eprintln!(
            "circomlibjs interop test did not run: set GRIDPROOF_NODE_INTEROP=1 with \
             circomlibjs@0.1.7 installed (tools/node or NODE_PATH) to run it"
        );
        return;
    }
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let script = manifest.join("tests/interop/interop.js");
    let workspace = manifest.parent().unwrap();
    let mut node_path: Vec<PathBuf> = vec![
        workspace.join("tools/node/node_modules"),
        workspace.join("node_modules"),
        manifest.join("tests/interop/node_modules"),
    ];
    if let Some(existing) = std::env::var_os("NODE_PATH") {
        node_path.extend(std::env::split_paths(&existing));
    }
    let node_path = std::env::join_paths(node_path).unwrap();
    let node = |args: &[&str]| -> Output {
        Command::new("node")
            .arg(&script)
            .args(args)
            .env("NODE_PATH", &node_path)
            .output()
            .expect("GRIDPROOF_NODE_INTEROP=1 but `node` cannot be run")
    };

    // Ours -> circomlibjs.
    let dir = scratch("interop");
    let key_hex = "0d8a8e99b2a0709b0c3950b2b8a58bfc1a85c1eeabd3ba81ee7e62c76aaa1c17";
    let readings = "0,0,0,0,0,0,4200,51000,120000,180000,200000,4294967295,7,1,2";
    let signed = ok(&[
        "meter",
        "sign",
        "--key",
        key_hex,
        "--site-id",
        "9000000001",
        "--epoch",
        "20300",
        "--interval-seconds",
        "900",
        "--readings",
        readings,
    ]);
    let signed_path = dir.join("signed.json");
    std::fs::write(&signed_path, &signed).unwrap();
    let out = node(&["verify", p(&signed_path), key_hex]);
    assert!(
        out.status.success(),
        "circomlibjs did not accept gridproof's signature (or circomlibjs@0.1.7 is not \
         installed):\n{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );

    // circomlibjs -> ours.
    let out = node(&["sign", key_hex, "101", "20301", "3600", readings]);
    assert!(
        out.status.success(),
        "circomlibjs failed to sign:\n{}",
        text(&out.stderr)
    );
    let theirs: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let message = MeterMessage {
        site_id: 101,
        epoch: 20301,
        interval_seconds: 3600,
        readings_wh: readings.split(',').map(|r| r.parse().unwrap()).collect(),
    };
    assert_eq!(
        theirs["message"].as_str().unwrap(),
        gridproof_circuits::encoding::field_to_decimal(&message.hash())
    );
    let public_key = public_key_of(&theirs["public_key"]);
    let key = PrivateKey::from_bytes(<[u8; 32]>::try_from(hex::decode(key_hex).unwrap()).unwrap());
    assert_eq!(public_key, key.public_key());
    let signature = signature_of(&theirs["signature"]);
    public_key.verify(message.hash(), &signature).unwrap();
    assert_eq!(
        signature,
        key.sign(message.hash()),
        "signPoseidon is deterministic; ours must match"
    );
    let mut tampered = message.clone();
    tampered.readings_wh[0] = 1;
    assert!(public_key.verify(tampered.hash(), &signature).is_err());
}

#[test]
fn bench_reports_json_and_refuses_bad_shapes() {
    let out = ok(&[
        "bench",
        "--sites",
        "1",
        "--readings-per-site",
        "1",
        "--json",
    ]);
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["shape"]["sites"], 1);
    assert!(report["constraints"].as_u64().unwrap() > 0, "{report}");
    fails(&["bench", "--sites", "3"], "power of two");
    fails(
        &["bench", "--sites", "1", "--keys", p(tiny_keys())],
        "the keys are for",
    );
}
