//! A real snarkjs 0.7.6 phase-2 ceremony on a toy circuit, imported as gridproof keys: the
//! contribution hashes are the ones `snarkjs zkey verify` prints, proofs made with the imported
//! keys verify in arkworks and in snarkjs, snarkjs' proofs verify with the imported key, and
//! zkeys of another circuit, tampered zkeys and a zkey without contributions are refused.
//!
//! Needs node and snarkjs (tools/node): runs only with GRIDPROOF_NODE_INTEROP=1 (scripts/test
//! sets it). Everything is generated in a temporary directory (a ceremony at power 4 takes ~10 s).

mod common;

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{rng, shape, TempDir, Toy};
use gridproof_prover::ceremony::{import_zkey_with, CircuitMismatch, ImportError, ZkeyError};
use gridproof_prover::iden3::{
    full_assignment, parse_snarkjs_proof, parse_snarkjs_public, r1cs_of, snarkjs_proof_json,
    snarkjs_public_json, write_r1cs, write_wtns,
};
use gridproof_prover::{prepare, prove, verify, ContributionKind, Keys, Provenance, QapReduction};

fn interop_enabled() -> bool {
    if std::env::var("GRIDPROOF_NODE_INTEROP").as_deref() == Ok("1") {
        return true;
    }
    eprintln!(
        "SKIP ceremony_interop: the snarkjs ceremony test did NOT run; set \
         GRIDPROOF_NODE_INTEROP=1 with snarkjs 0.7.6 installed in tools/node (scripts/test does)"
    );
    false
}

fn snarkjs_cli() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tools/node/node_modules/snarkjs/build/cli.cjs")
}

/// Runs `snarkjs args...` in `dir` and returns its stdout; panics with its output on failure.
fn snarkjs(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("node")
        .arg(snarkjs_cli())
        .args(args)
        .current_dir(dir)
        .output()
        .expect("GRIDPROOF_NODE_INTEROP=1 but `node` cannot be run");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    // snarkjs exits 0 on some failures; its CLI prints errors with [ERROR].
    assert!(
        output.status.success() && !stdout.contains("[ERROR]"),
        "snarkjs {args:?} failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    stdout
}

/// The contribution hashes `snarkjs zkey verify` prints, by contribution name: after a line
/// `contribution #N NAME:` come four lines of four 8-digit hex groups.
fn printed_hashes(verify_output: &str) -> BTreeMap<String, String> {
    let lines: Vec<&str> = verify_output.lines().collect();
    let mut hashes = BTreeMap::new();
    for (i, line) in lines.iter().enumerate() {
        let Some(rest) = line.split("contribution #").nth(1) else {
            continue;
        };
        let name = rest
            .split_once(' ')
            .map(|(_, name)| name.trim_end_matches(':').trim().to_string())
            .unwrap_or_default();
        let hex: String = lines[i + 1..i + 5]
            .iter()
            .flat_map(|l| {
                l.split_whitespace()
                    .rev()
                    .take(4)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
            })
            .collect();
        hashes.insert(name, hex);
    }
    hashes
}

/// The body offset and length of section `id` of an iden3 binary file.
fn section(bytes: &[u8], id: u32) -> (usize, usize) {
    let mut pos = 12;
    while pos + 12 <= bytes.len() {
        let sid = u32::from_le_bytes(bytes[pos..pos + 4].try_into().unwrap());
        let len = u64::from_le_bytes(bytes[pos + 4..pos + 12].try_into().unwrap()) as usize;
        if sid == id {
            return (pos + 12, len);
        }
        pos += 12 + len;
    }
    panic!("no section {id}");
}

fn import(path: &Path, circuit: Toy) -> Result<Keys, ImportError> {
    import_zkey_with(path, &shape(), circuit, "toy", &mut |_| {})
}

#[test]
fn a_snarkjs_ceremony_imports_and_proves_both_ways() {
    if !interop_enabled() {
        return;
    }
    let tmp = TempDir::new("ceremony-interop");
    let dir = tmp.path();
    let r1cs = r1cs_of(Toy::blank(3)).unwrap();
    let mut w = BufWriter::new(File::create(dir.join("toy.r1cs")).unwrap());
    write_r1cs(&mut w, &r1cs).unwrap();
    drop(w);
    // The smallest powers of tau snarkjs accepts for this circuit.
    let power = r1cs.required_ptau_power().to_string();
    let run = |args: &[&str]| snarkjs(dir, args);
    run(&["powersoftau", "new", "bn128", &power, "pot0.ptau"]);
    run(&[
        "powersoftau",
        "contribute",
        "pot0.ptau",
        "pot1.ptau",
        "--name=phase one",
        "-e=entropy 1",
    ]);
    run(&[
        "powersoftau",
        "prepare",
        "phase2",
        "pot1.ptau",
        "final.ptau",
    ]);
    run(&["zkey", "new", "toy.r1cs", "final.ptau", "toy_0000.zkey"]);
    run(&[
        "zkey",
        "contribute",
        "toy_0000.zkey",
        "toy_0001.zkey",
        "--name=alice",
        "-e=alice's entropy",
    ]);
    run(&[
        "zkey",
        "contribute",
        "toy_0001.zkey",
        "toy_0002.zkey",
        "--name=bob",
        "-e=bob's entropy",
    ]);
    let beacon = "0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20";
    run(&[
        "zkey",
        "beacon",
        "toy_0002.zkey",
        "toy_final.zkey",
        beacon,
        "10",
        "-n=final beacon",
    ]);
    let verified = run(&["zkey", "verify", "toy.r1cs", "final.ptau", "toy_final.zkey"]);
    assert!(verified.contains("ZKey Ok!"), "{verified}");

    // Import: the recorded hashes are the ones snarkjs prints.
    let final_zkey = dir.join("toy_final.zkey");
    let keys = import(&final_zkey, Toy::blank(3)).unwrap();
    assert_eq!(keys.qap_reduction, QapReduction::Circom);
    let Provenance::Ceremony { contributions, .. } = &keys.provenance else {
        panic!("{:?}", keys.provenance);
    };
    let printed = printed_hashes(&verified);
    assert_eq!(printed.len(), 3, "{verified}");
    let names: Vec<&str> = contributions.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["alice", "bob", "final beacon"]);
    for c in contributions {
        assert_eq!(Some(&c.hash), printed.get(&c.name), "hash of {}", c.name);
    }
    assert_eq!(contributions[2].kind, ContributionKind::Beacon);
    let recorded = contributions[2].beacon.as_ref().unwrap();
    assert_eq!(
        (recorded.hash.as_str(), recorded.iterations_exp),
        (beacon, 10)
    );

    // Our proof verifies in arkworks and in snarkjs.
    let toy = Toy::good();
    let proof = prove(&keys, toy.clone(), &mut rng(5), &mut |_| {}).unwrap();
    let pvk = prepare(&keys.verifying_key);
    verify(&pvk, &toy.public_inputs(), &proof).unwrap();
    run(&[
        "zkey",
        "export",
        "verificationkey",
        "toy_final.zkey",
        "vk.json",
    ]);
    let json = |value: serde_json::Value| serde_json::to_string_pretty(&value).unwrap();
    fs::write(dir.join("ours.json"), json(snarkjs_proof_json(&proof))).unwrap();
    fs::write(
        dir.join("public.json"),
        json(snarkjs_public_json(&toy.public_inputs())),
    )
    .unwrap();
    let checked = run(&["groth16", "verify", "vk.json", "public.json", "ours.json"]);
    assert!(checked.contains("OK!"), "{checked}");

    // snarkjs' proof (from our witness) verifies with the imported key.
    let mut w = BufWriter::new(File::create(dir.join("toy.wtns")).unwrap());
    write_wtns(&mut w, &full_assignment(toy.clone()).unwrap()).unwrap();
    drop(w);
    run(&[
        "groth16",
        "prove",
        "toy_final.zkey",
        "toy.wtns",
        "theirs.json",
        "theirs_public.json",
    ]);
    let theirs =
        parse_snarkjs_proof(&fs::read_to_string(dir.join("theirs.json")).unwrap()).unwrap();
    let inputs =
        parse_snarkjs_public(&fs::read_to_string(dir.join("theirs_public.json")).unwrap()).unwrap();
    assert_eq!(inputs, toy.public_inputs());
    verify(&pvk, &inputs, &theirs).unwrap();
    let mut wrong = inputs.clone();
    wrong[4] += gridproof_prover::Fr::from(1u64);
    assert!(verify(&pvk, &wrong, &theirs).is_err());

    // Refusals: no contribution, another circuit, tampered coefficient, point off the curve.
    let err = import(&dir.join("toy_0000.zkey"), Toy::blank(3)).unwrap_err();
    assert!(matches!(err, ImportError::NoContribution { .. }), "{err}");
    let err = import(&final_zkey, Toy::blank(4)).unwrap_err();
    assert!(
        matches!(
            err,
            ImportError::WrongCircuit {
                source: CircuitMismatch::Variables { .. },
                ..
            }
        ),
        "{err}"
    );
    let bytes = fs::read(&final_zkey).unwrap();
    let (coefficients, _) = section(&bytes, 4);
    let mut tampered = bytes.clone();
    tampered[coefficients + 4 + 12] ^= 0x01; // the low byte of coefficient #0's value
    let path = dir.join("tampered.zkey");
    fs::write(&path, &tampered).unwrap();
    let err = import(&path, Toy::blank(3)).unwrap_err();
    assert!(err.to_string().contains("coefficient #0 ("), "{err}");
    assert!(err.to_string().contains("differs"), "{err}");
    let (a_points, _) = section(&bytes, 5);
    let mut off_curve = bytes.clone();
    off_curve[a_points + 64 + 32] ^= 0x01; // A point #1's y
    fs::write(&path, &off_curve).unwrap();
    let err = import(&path, Toy::blank(3)).unwrap_err();
    assert!(
        matches!(
            &err,
            ImportError::Zkey {
                source: ZkeyError::BadPoint { .. },
                ..
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string().contains("A point #1: not on the curve"),
        "{err}"
    );
}
