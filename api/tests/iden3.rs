//! iden3 and snarkjs formats through the `gridproof` binary, at the smallest shape (S = 2,
//! T = 8): `circuit export` (.r1cs), `prove --witness-dir` (.wtns), `proof to-snarkjs` and
//! `verify --snarkjs-proof`. The files are checked with gridproof's own readers always, and with
//! snarkjs 0.7.6 (`r1cs info`, `wtns check`) when GRIDPROOF_NODE_INTEROP=1.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use gridproof_prover::iden3::{read_r1cs, read_wtns, CircuitR1cs};
use gridproof_prover::ProofsFile;

mod support;
use support::cli::{fails, ok, p, scratch, text};

/// Everything made once for all tests: keys, the exported .r1cs, a proved epoch of one batch
/// of 2 sites with its witness.
struct Fixture {
    dir: PathBuf,
    keys: PathBuf,
    r1cs_path: PathBuf,
    r1cs: CircuitR1cs,
    export: serde_json::Value,
    proofs: PathBuf,
    witness_dir: PathBuf,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let dir = scratch("fixture");
        let keys = dir.join("keys");
        ok(&[
            "setup",
            "--sites",
            "2",
            "--readings-per-site",
            "8",
            "--out",
            p(&keys),
        ]);
        let r1cs_path = dir.join("batch.r1cs");
        let export: serde_json::Value = serde_json::from_str(&ok(&[
            "circuit",
            "export",
            "--sites",
            "2",
            "--readings-per-site",
            "8",
            "--out",
            p(&r1cs_path),
        ]))
        .unwrap();
        let r1cs = read_r1cs(std::fs::File::open(&r1cs_path).unwrap()).unwrap();

        let batch = dir.join("batch.json");
        ok(&[
            "meter",
            "simulate",
            "--epoch",
            "20300",
            "--sites",
            "2",
            "--readings-per-site",
            "8",
            "--interval-seconds",
            "10800",
            "--seed",
            "iden3",
            "--out",
            p(&batch),
        ]);
        let proofs = dir.join("proofs.json");
        let witness_dir = dir.join("witness");
        ok(&[
            "prove",
            "--keys",
            p(&keys),
            "--batch",
            p(&batch),
            "--out",
            p(&proofs),
            "--min-sites-per-batch",
            "2",
            "--witness-dir",
            p(&witness_dir),
        ]);
        Fixture {
            dir,
            keys,
            r1cs_path,
            r1cs,
            export,
            proofs,
            witness_dir,
        }
    })
}

#[test]
fn exported_r1cs_and_witness_agree_with_the_keys_and_the_proof() {
    let f = fixture();
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(f.keys.join("manifest.json")).unwrap())
            .unwrap();
    assert_eq!(
        f.r1cs.num_constraints() as u64,
        manifest["num_constraints"].as_u64().unwrap()
    );
    assert_eq!(f.r1cs.num_public_inputs(), 8);
    assert_eq!(f.export["num_constraints"], f.r1cs.num_constraints());
    assert_eq!(f.export["num_public_inputs"], 8);
    assert_eq!(f.export["num_wires"], f.r1cs.num_wires());
    let power = f.export["ptau_power"].as_u64().unwrap();
    assert!(1u64 << power > (f.r1cs.num_constraints() + 8) as u64);
    assert!(1u64 << (power - 1) <= (f.r1cs.num_constraints() + 8) as u64);

    // The witness satisfies the exported constraint system, and its public part is the proof's.
    let wtns = f.witness_dir.join("batch-0.wtns");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&wtns), 0o600);
        assert_eq!(mode(&f.witness_dir), 0o700);
    }
    let z = read_wtns(std::fs::File::open(&wtns).unwrap()).unwrap();
    assert_eq!(f.r1cs.first_unsatisfied(&z).unwrap(), None);
    let proofs = ProofsFile::read(&f.proofs).unwrap();
    assert_eq!(proofs.batches.len(), 1);
    assert_eq!(
        &z[1..f.r1cs.num_instance],
        &proofs.batches[0].public_inputs[..]
    );

    // Outputs are not replaced without --force.
    fails(
        &[
            "circuit",
            "export",
            "--sites",
            "2",
            "--readings-per-site",
            "8",
            "--out",
            p(&f.r1cs_path),
        ],
        "already exists",
    );
    fails(
        &[
            "prove",
            "--keys",
            p(&f.keys),
            "--batch",
            p(&f.dir.join("batch.json")),
            "--out",
            p(&f.dir.join("other-proofs.json")),
            "--min-sites-per-batch",
            "2",
            "--witness-dir",
            p(&f.witness_dir),
        ],
        "batch-0.wtns already exists",
    );
    assert!(!f.dir.join("other-proofs.json").exists());
    fails(
        &[
            "circuit",
            "export",
            "--sites",
            "3",
            "--readings-per-site",
            "8",
            "--out",
            p(&f.dir.join("bad.r1cs")),
        ],
        "invalid shape",
    );
}

#[test]
fn snarkjs_json_proofs_convert_and_verify() {
    let f = fixture();
    let dir = scratch("snarkjs-json");
    let out = dir.join("sj");
    ok(&[
        "proof",
        "to-snarkjs",
        "--proofs",
        p(&f.proofs),
        "--batch",
        "0",
        "--out",
        p(&out),
    ]);
    let proof_path = out.join("proof.json");
    let public_path = out.join("public.json");
    let proof: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&proof_path).unwrap()).unwrap();
    assert_eq!(proof["protocol"], "groth16");
    assert_eq!(proof["curve"], "bn128");
    assert_eq!(proof["pi_a"][2], "1");
    assert_eq!(proof["pi_b"][2], serde_json::json!(["1", "0"]));
    let file = ProofsFile::read(&f.proofs).unwrap();
    let ours = serde_json::to_value(gridproof_prover::ProofJson::from_proof(
        &file.batches[0].proof,
    ))
    .unwrap();
    assert_eq!(proof["pi_a"][0], ours["a"][0]);
    assert_eq!(proof["pi_b"][0], ours["b"][0]);
    let public: Vec<String> =
        serde_json::from_str(&std::fs::read_to_string(&public_path).unwrap()).unwrap();
    assert_eq!(public.len(), 8);
    assert_eq!(public[0], "20300");

    let verify = |proof: &Path, public: &Path| {
        vec![
            "verify".to_string(),
            "--keys".into(),
            p(&f.keys).into(),
            "--snarkjs-proof".into(),
            p(proof).into(),
            "--snarkjs-public".into(),
            p(public).into(),
        ]
    };
    let args = verify(&proof_path, &public_path);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    assert!(ok(&args).contains("verified"));

    // Refusals: existing outputs, an absent batch, a tampered input, malformed JSON.
    fails(
        &[
            "proof",
            "to-snarkjs",
            "--proofs",
            p(&f.proofs),
            "--batch",
            "0",
            "--out",
            p(&out),
        ],
        "already exists",
    );
    fails(
        &[
            "proof",
            "to-snarkjs",
            "--proofs",
            p(&f.proofs),
            "--batch",
            "5",
            "--out",
            p(&dir.join("none")),
        ],
        "no batch with batch_index 5",
    );
    let tampered_public = dir.join("tampered-public.json");
    let mut bumped = public.clone();
    bumped[3] = (bumped[3].parse::<u128>().unwrap() + 1).to_string();
    std::fs::write(&tampered_public, serde_json::to_string(&bumped).unwrap()).unwrap();
    let args = verify(&proof_path, &tampered_public);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    fails(&args, "rejected");

    let bad_proof = dir.join("bad-proof.json");
    for (edit, needle) in [
        ("{".to_string(), "not valid JSON"),
        (
            {
                let mut v = proof.clone();
                v["pi_a"][2] = serde_json::json!("0");
                v.to_string()
            },
            "pi_a[2]",
        ),
        (
            {
                let mut v = proof.clone();
                v["protocol"] = serde_json::json!("plonk");
                v.to_string()
            },
            "protocol",
        ),
    ] {
        std::fs::write(&bad_proof, edit).unwrap();
        let args = verify(&bad_proof, &public_path);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let stderr = fails(&args, needle);
        assert!(stderr.contains("bad-proof.json"), "{stderr}");
    }
    let short_public = dir.join("short-public.json");
    std::fs::write(&short_public, serde_json::to_string(&public[..7]).unwrap()).unwrap();
    let args = verify(&proof_path, &short_public);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    fails(
        &args,
        "7 public inputs given but the verifying key expects 8",
    );
    // --snarkjs-proof needs --snarkjs-public and excludes --proofs (usage errors).
    fails(
        &[
            "verify",
            "--keys",
            p(&f.keys),
            "--snarkjs-proof",
            p(&proof_path),
        ],
        "--snarkjs-public",
    );
    fails(&["verify", "--keys", p(&f.keys)], "--proofs");
}

/// `snarkjs` from tools/node (npm ci there), or None with a loud SKIP unless
/// GRIDPROOF_NODE_INTEROP=1.
fn snarkjs() -> Option<PathBuf> {
    if std::env::var("GRIDPROOF_NODE_INTEROP").as_deref() != Ok("1") {
        eprintln!(
            "SKIP: snarkjs interop test (r1cs info, wtns check) did not run: set \
             GRIDPROOF_NODE_INTEROP=1 with snarkjs 0.7.6 installed in tools/node (npm ci) to run it"
        );
        return None;
    }
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let bin = workspace.join("tools/node/node_modules/.bin/snarkjs");
    assert!(
        bin.exists(),
        "GRIDPROOF_NODE_INTEROP=1 but {} is missing: run `npm ci` in tools/node",
        bin.display()
    );
    Some(bin)
}

fn run_snarkjs(bin: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new(bin)
        .args(args)
        .output()
        .expect("snarkjs runs (node installed?)");
    (
        out.status.success(),
        format!("{}{}", text(&out.stdout), text(&out.stderr)),
    )
}

/// The number after `label` on a line of snarkjs' log.
fn logged_count(log: &str, label: &str) -> u64 {
    let line = log
        .lines()
        .find(|l| l.contains(label))
        .unwrap_or_else(|| panic!("snarkjs printed no {label:?}:\n{log}"));
    line.rsplit(':').next().unwrap().trim().parse().unwrap()
}

#[test]
fn snarkjs_reads_our_r1cs_and_checks_our_witness() {
    let Some(bin) = snarkjs() else { return };
    let f = fixture();
    let (success, log) = run_snarkjs(&bin, &["r1cs", "info", p(&f.r1cs_path)]);
    assert!(success, "snarkjs r1cs info failed:\n{log}");
    assert!(log.contains("Curve: bn-128"), "{log}");
    assert_eq!(
        logged_count(&log, "# of Constraints"),
        f.r1cs.num_constraints() as u64
    );
    assert_eq!(logged_count(&log, "# of Public Inputs"), 8);
    assert_eq!(logged_count(&log, "# of Outputs"), 0);
    assert_eq!(logged_count(&log, "# of Wires"), f.r1cs.num_wires() as u64);

    let wtns = f.witness_dir.join("batch-0.wtns");
    let (success, log) = run_snarkjs(&bin, &["wtns", "check", p(&f.r1cs_path), p(&wtns)]);
    assert!(success, "snarkjs wtns check refused our witness:\n{log}");
    assert!(log.contains("WITNESS IS CORRECT"), "{log}");

    // One byte changed in a private value that constraint i uses in C only: snarkjs refuses it.
    let r1cs = &f.r1cs;
    let wire = (0..r1cs.num_constraints())
        .find_map(|i| {
            r1cs.c[i].iter().map(|(_, w)| *w).find(|w| {
                *w >= r1cs.num_instance
                    && !r1cs.a[i].iter().any(|(_, x)| x == w)
                    && !r1cs.b[i].iter().any(|(_, x)| x == w)
            })
        })
        .expect("a private wire used in C only");
    let mut bytes = std::fs::read(&wtns).unwrap();
    // Header (12) + section 1 (12 + 40) + section 2's header (12), then 32 bytes per wire.
    let offset = 12 + 12 + 40 + 12 + 32 * wire;
    bytes[offset] ^= 1;
    let tampered = scratch("snarkjs-wtns").join("tampered.wtns");
    std::fs::write(&tampered, &bytes).unwrap();
    if let Ok(z) = read_wtns(bytes.as_slice()) {
        assert!(r1cs.first_unsatisfied(&z).unwrap().is_some());
    }
    let (success, log) = run_snarkjs(&bin, &["wtns", "check", p(&f.r1cs_path), p(&tampered)]);
    assert!(
        !success,
        "snarkjs accepted a witness with wire {wire} changed:\n{log}"
    );
    assert!(log.contains("WITNESS IS NOT CORRECT"), "{log}");
}
