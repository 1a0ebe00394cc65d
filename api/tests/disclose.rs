//! Selective disclosure on the command line, with the real binary: `setup` (S = 4, T = 8),
//! `meter simulate`, `prove`, `regulator keygen`, `disclose`, and `verify --disclosure` against
//! the proofs file, without a public record, with another regulator's key, on a changed byte
//! and against another run's proofs file.

mod support;

use std::path::Path;

use support::cli::{fails, gridproof, ok, p, scratch, text};

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn keygen(dir: &Path, name: &str) -> (std::path::PathBuf, String) {
    let key = dir.join(name);
    let public = ok(&["regulator", "keygen", "--out", p(&key)]);
    let public = public.trim().to_string();
    assert_eq!(public.len(), 64, "{public}");
    assert!(public.bytes().all(|b| b.is_ascii_hexdigit()), "{public}");
    #[cfg(unix)]
    assert_eq!(mode(&key), 0o600);
    // The file holds the secret key, not the public one.
    assert!(!std::fs::read_to_string(&key).unwrap().contains(&public));
    (key, public)
}

#[test]
fn disclose_and_verify_end_to_end() {
    let dir = scratch("disclose");
    let keys = dir.join("keys");
    ok(&[
        "setup",
        "--sites",
        "4",
        "--readings-per-site",
        "8",
        "--out",
        p(&keys),
    ]);
    let batch = dir.join("batch.json");
    ok(&[
        "meter",
        "simulate",
        "--sites",
        "7",
        "--readings-per-site",
        "8",
        "--interval-seconds",
        "10800",
        "--epoch",
        "20300",
        "--seed",
        "disclose",
        "--out",
        p(&batch),
    ]);
    let proofs = dir.join("proofs.json");
    ok(&[
        "prove",
        "--keys",
        p(&keys),
        "--batch",
        p(&batch),
        "--out",
        p(&proofs),
    ]);
    let private = dir.join("proofs.private.json");
    let private_json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&private).unwrap()).unwrap();
    // A site of the second batch.
    let site_json = &private_json["sites"][5];
    let site = site_json["site_id"].to_string();
    let region = site_json["location"]["region"]
        .as_str()
        .unwrap()
        .to_string();

    let (reg_key, reg_public) = keygen(&dir, "regulator.key");
    fails(
        &["regulator", "keygen", "--out", p(&reg_key)],
        "already exists",
    );
    let (other_key, _) = keygen(&dir, "other.key");

    // disclose finds the proofs file beside the private output.
    let bundle = dir.join("site.bundle");
    let summary = ok(&[
        "disclose",
        "--private",
        p(&private),
        "--site",
        &site,
        "--regulator-key",
        &reg_public,
        "--out",
        p(&bundle),
        "--disclosure-id",
        "req-7",
        "--expires-in",
        "2",
    ]);
    let summary: serde_json::Value = serde_json::from_str(&summary).unwrap();
    assert_eq!(summary["batch_index"], 1);
    assert_eq!(summary["disclosure_id"], "req-7");
    let sealed = std::fs::read(&bundle).unwrap();
    assert_eq!(&sealed[..8], b"GPBUNDLE");
    let sealed_text = String::from_utf8_lossy(&sealed);
    for secret in [region.as_str(), "latitude", "salt"] {
        assert!(
            !sealed_text.contains(secret),
            "{secret} readable in the bundle"
        );
    }

    // Checked against the proofs file: every link holds.
    let verify = |extra: &[&str]| {
        let mut args = vec![
            "verify",
            "--keys",
            p(&keys),
            "--disclosure",
            p(&bundle),
            "--regulator-key",
            p(&reg_key),
        ];
        args.extend_from_slice(extra);
        args.into_iter().map(String::from).collect::<Vec<_>>()
    };
    let args = verify(&["--proofs", p(&proofs)]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = ok(&args);
    assert!(out.contains(&format!("site {site} of epoch")), "{out}");
    assert!(out.contains(&region), "{out}");
    for check in [
        "binding",
        "statement",
        "meter signature",
        "capacity bound",
        "revenue",
        "location commitment",
        "registry path",
        "readings path",
        "proof",
        "public record",
        "expiry",
    ] {
        assert!(
            out.lines()
                .any(|l| l.starts_with("ok") && l.contains(&format!(" {check}: "))),
            "{check} not ok:\n{out}"
        );
    }

    // Without a public record: passes, and says plainly what was not matched.
    let args = verify(&[]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = ok(&args);
    assert!(
        out.lines()
            .any(|l| l.starts_with("NOT CHECKED public record") && l.contains("NOT matched")),
        "{out}"
    );

    // JSON with the timings of the check.
    let args = verify(&["--proofs", p(&proofs), "--json"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let report: serde_json::Value = serde_json::from_str(&ok(&args)).unwrap();
    assert_eq!(report["passed"], true);
    assert_eq!(report["checks"].as_array().unwrap().len(), 11);
    assert!(report["timings_ms"]["check"].as_f64().unwrap() > 0.0);
    assert_eq!(report["binding"]["disclosure_id"], "req-7");

    // Another regulator's key cannot open it.
    fails(
        &[
            "verify",
            "--keys",
            p(&keys),
            "--disclosure",
            p(&bundle),
            "--regulator-key",
            p(&other_key),
            "--proofs",
            p(&proofs),
        ],
        "cannot be opened with this regulator key",
    );

    // A changed byte anywhere is refused (first, in the binding, in the ciphertext, last).
    for at in [0, 20, sealed.len() / 2, sealed.len() - 1] {
        let mut bad = sealed.clone();
        bad[at] ^= 0x01;
        let bad_path = dir.join("bad.bundle");
        std::fs::write(&bad_path, &bad).unwrap();
        let out = gridproof(&[
            "verify",
            "--keys",
            p(&keys),
            "--disclosure",
            p(&bad_path),
            "--regulator-key",
            p(&reg_key),
        ]);
        assert_eq!(
            out.status.code(),
            Some(1),
            "byte {at}: {}",
            text(&out.stderr)
        );
        assert!(
            text(&out.stderr).contains("disclosure:"),
            "{}",
            text(&out.stderr)
        );
    }

    // Another run's proofs file (same sites, other salts): the public record does not match,
    // and the exit names that link.
    let proofs2 = dir.join("proofs2.json");
    ok(&[
        "prove",
        "--keys",
        p(&keys),
        "--batch",
        p(&batch),
        "--out",
        p(&proofs2),
    ]);
    let args = verify(&["--proofs", p(&proofs2)]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = gridproof(&args);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("disclosure REJECTED: public record failed"),
        "{stderr}"
    );
    assert!(text(&out.stdout).contains("FAILED      public record"));

    // Refusals of disclose: an unknown site, a bad key, a private output of another run.
    fails(
        &[
            "disclose",
            "--private",
            p(&private),
            "--site",
            "424242",
            "--regulator-key",
            &reg_public,
            "--out",
            p(&dir.join("x.bundle")),
        ],
        "site 424242 is not in",
    );
    fails(
        &[
            "disclose",
            "--private",
            p(&private),
            "--site",
            &site,
            "--regulator-key",
            "abcd",
            "--out",
            p(&dir.join("x.bundle")),
        ],
        "64 hex",
    );
    fails(
        &[
            "disclose",
            "--private",
            p(&dir.join("proofs2.private.json")),
            "--proofs",
            p(&proofs),
            "--site",
            &site,
            "--regulator-key",
            &reg_public,
            "--out",
            p(&dir.join("x.bundle")),
        ],
        "different runs",
    );
    fails(
        &[
            "disclose",
            "--private",
            p(&private),
            "--site",
            &site,
            "--regulator-key",
            &reg_public,
            "--out",
            p(&dir.join("x.bundle")),
            "--expires-at",
            "1000",
        ],
        "already have expired",
    );
}
