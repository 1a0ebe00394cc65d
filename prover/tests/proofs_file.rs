//! Proofs file v1: round trip, verification report, and every parse error.

mod common;

use ark_bn254::{Fq, Fq2, G2Affine};
use ark_ff::{Field, PrimeField};
use common::{rng, toy_keys, TempDir, Toy, EPOCH, REGISTRY_ROOT};
use gridproof_circuits::encoding::EncodingError;
use gridproof_prover::{
    prove, verify_proofs_file, BatchProof, Fr, Keys, ProofJson, ProofsFile, ProofsFileError,
    VerifyError,
};
use serde_json::Value;

const R: &str = "21888242871839275222246405745257275088548364400416034343698204186575808495617";
const Q: &str = "21888242871839275222246405745257275088696311157297823662689037894645226208583";

fn two_batches(keys: &Keys) -> ProofsFile {
    let batches = [Toy::with(0, [1, 2, 3], 5), Toy::with(1, [4, 0, 9], 7)]
        .into_iter()
        .enumerate()
        .map(|(i, toy)| BatchProof {
            batch_index: i as u64,
            public_inputs: toy.public_inputs(),
            proof: prove(keys, toy, &mut rng(10 + i as u64), &mut |_| {}).unwrap(),
        })
        .collect();
    ProofsFile::new(EPOCH, Fr::from(REGISTRY_ROOT), batches).unwrap()
}

fn edited(file: &ProofsFile, edit: impl FnOnce(&mut Value)) -> Result<ProofsFile, ProofsFileError> {
    let mut v: Value = serde_json::from_str(&file.to_json()).unwrap();
    edit(&mut v);
    ProofsFile::from_json(&v.to_string())
}

#[test]
fn a_proofs_file_round_trips_and_verifies_batch_by_batch() {
    let keys = toy_keys();
    let file = two_batches(&keys);
    let json = file.to_json();
    let v: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["version"], 1);
    assert_eq!(v["epoch"], "20300");
    assert_eq!(v["batches"][1]["batch_index"], 1);
    assert_eq!(v["batches"][1]["public_inputs"]["total_energy_wh"], "13");
    assert_eq!(v["batches"][1]["public_inputs"]["total_revenue_nusd"], "91");
    // public inputs are written in statement order
    let keys_order: Vec<_> = json
        .lines()
        .filter(|l| l.contains("\": \"") && l.starts_with("        \""))
        .take(8)
        .map(|l| l.trim().split('"').nth(1).unwrap().to_string())
        .collect();
    assert_eq!(
        keys_order,
        gridproof_prover::proofs_file::PUBLIC_INPUT_NAMES
    );
    let parsed = ProofsFile::from_json(&json).unwrap();
    assert_eq!(parsed, file);

    let report = verify_proofs_file(&keys.verifying_key, &parsed).unwrap();
    assert!(report.all_verified());
    assert_eq!(
        report
            .batches
            .iter()
            .map(|b| b.batch_index)
            .collect::<Vec<_>>(),
        [0, 1]
    );

    // Swapping the two batches' proofs: each batch is reported rejected on its own.
    let mut swapped = parsed.clone();
    let p0 = swapped.batches[0].proof.clone();
    swapped.batches[0].proof = swapped.batches[1].proof.clone();
    swapped.batches[1].proof = p0;
    let report = verify_proofs_file(&keys.verifying_key, &swapped).unwrap();
    assert!(!report.all_verified());
    assert!(report
        .batches
        .iter()
        .all(|b| matches!(b.result, Err(VerifyError::Rejected))));

    // A tampered public input in the second batch only.
    let mut tampered = parsed.clone();
    tampered.batches[1].public_inputs[3] += Fr::from(1u64);
    let report = verify_proofs_file(&keys.verifying_key, &tampered).unwrap();
    assert!(report.batches[0].result.is_ok());
    assert!(matches!(
        report.batches[1].result,
        Err(VerifyError::Rejected)
    ));
}

#[test]
fn proof_json_uses_snarkjs_coordinate_order() {
    let keys = toy_keys();
    let file = two_batches(&keys);
    let proof = &file.batches[0].proof;
    let json = ProofJson::from_proof(proof);
    let dec = |x: Fq| x.into_bigint().to_string();
    assert_eq!(json.b[0], [dec(proof.b.x.c0), dec(proof.b.x.c1)]);
    assert_eq!(json.b[1], [dec(proof.b.y.c0), dec(proof.b.y.c1)]);
    assert_eq!(json.a, [dec(proof.a.x), dec(proof.a.y)]);
    assert_eq!(&json.to_proof().unwrap(), proof);
}

#[test]
fn the_file_is_written_atomically_and_read_back() {
    let keys = toy_keys();
    let file = two_batches(&keys);
    let tmp = TempDir::new("proofs");
    let path = tmp.path().join("PROOFS.json");
    file.write_atomic(&path).unwrap();
    file.write_atomic(&path).unwrap(); // replacing an existing file is fine
    assert_eq!(ProofsFile::read(&path).unwrap(), file);
    let names: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        names.len(),
        1,
        "no temporary file is left behind: {names:?}"
    );
}

#[test]
fn an_oversized_file_is_refused_as_too_large_not_as_bad_json() {
    let tmp = TempDir::new("proofs-too-large");
    let path = tmp.path().join("huge.json");
    // A sparse file just over the limit: nothing is written to disk, nothing is read.
    let limit = 64 << 20;
    std::fs::File::create(&path)
        .unwrap()
        .set_len(limit + 1)
        .unwrap();
    let err = ProofsFile::read(&path).unwrap_err();
    assert!(
        matches!(&err, ProofsFileError::TooLarge { size, limit: l, .. } if *size == limit + 1 && *l == limit),
        "{err}"
    );
    let text = err.to_string();
    assert!(
        text.contains("67108865 bytes") && text.contains("67108864"),
        "{text}"
    );
    assert!(!text.contains("JSON"), "{text}");
}

#[test]
fn non_canonical_numbers_are_refused_with_their_location() {
    let keys = toy_keys();
    let file = two_batches(&keys);
    let err = edited(&file, |v| {
        v["batches"][1]["public_inputs"]["readings_root"] = R.into()
    })
    .unwrap_err();
    assert!(
        matches!(&err, ProofsFileError::Number { at, source: EncodingError::NotInField(_) }
            if at == "batches[1].public_inputs.readings_root"),
        "{err}"
    );
    let err = edited(&file, |v| v["registry_root"] = "0777".into()).unwrap_err();
    assert!(
        matches!(
            &err,
            ProofsFileError::Number {
                source: EncodingError::LeadingZeros(_),
                ..
            }
        ),
        "{err}"
    );
    let err = edited(&file, |v| {
        v["batches"][0]["public_inputs"]["epoch"] = 20300.into()
    })
    .unwrap_err();
    assert!(
        matches!(&err, ProofsFileError::WrongType { at, .. } if at == "batches[0].public_inputs.epoch"),
        "{err}"
    );
    let err = edited(&file, |v| v["batches"][0]["proof"]["c"][0] = Q.into()).unwrap_err();
    assert!(
        matches!(&err, ProofsFileError::NotInBaseField { at, .. } if at == "batches[0].proof.c[0]"),
        "{err}"
    );
    let err = edited(&file, |v| v["batches"][0]["proof"]["b"][1][0] = "-1".into()).unwrap_err();
    assert!(
        matches!(&err, ProofsFileError::Number { at, .. } if at == "batches[0].proof.b[1][0]"),
        "{err}"
    );
    // integers may be strings or numbers where the batch file allows it
    let ok = edited(&file, |v| {
        v["epoch"] = 20300.into();
        v["batches"][0]["batch_index"] = "0".into();
    });
    assert_eq!(ok.unwrap(), file);
}

#[test]
fn points_off_the_curve_outside_the_subgroup_or_at_infinity_are_refused() {
    let keys = toy_keys();
    let file = two_batches(&keys);
    let err = edited(&file, |v| v["batches"][1]["proof"]["a"][1] = "5".into()).unwrap_err();
    assert!(
        matches!(&err, ProofsFileError::NotOnCurve { at } if at == "batches[1].proof.a"),
        "{err}"
    );
    let err = edited(&file, |v| v["batches"][0]["proof"]["b"][0][1] = "5".into()).unwrap_err();
    assert!(
        matches!(&err, ProofsFileError::NotOnCurve { at } if at == "batches[0].proof.b"),
        "{err}"
    );
    let err = edited(&file, |v| {
        v["batches"][0]["proof"]["c"] = serde_json::json!(["0", "0"])
    })
    .unwrap_err();
    assert!(
        matches!(&err, ProofsFileError::PointAtInfinity { at } if at == "batches[0].proof.c"),
        "{err}"
    );

    // A point on the G2 twist that is not in the prime-order subgroup (the cofactor is huge,
    // so the first x with a square root gives one).
    let mut x = Fq2::new(Fq::from(1u64), Fq::from(0u64));
    let point = loop {
        if let Some(p) = G2Affine::get_point_from_x_unchecked(x, true) {
            break p;
        }
        x += Fq2::ONE;
    };
    assert!(point.is_on_curve() && !point.is_in_correct_subgroup_assuming_on_curve());
    let dec = |f: Fq| f.into_bigint().to_string();
    let b = serde_json::json!([
        [dec(point.x.c0), dec(point.x.c1)],
        [dec(point.y.c0), dec(point.y.c1)]
    ]);
    let err = edited(&file, |v| v["batches"][1]["proof"]["b"] = b).unwrap_err();
    assert!(
        matches!(&err, ProofsFileError::NotInSubgroup { at } if at == "batches[1].proof.b"),
        "{err}"
    );
    assert!(err.to_string().contains("batches[1].proof.b"), "{err}");
}

#[test]
fn missing_or_unknown_names_and_wrong_shapes_are_refused() {
    let keys = toy_keys();
    let file = two_batches(&keys);
    let err = edited(&file, |v| {
        v["batches"][0]["public_inputs"]
            .as_object_mut()
            .unwrap()
            .remove("readings_root");
    })
    .unwrap_err();
    assert!(
        matches!(&err, ProofsFileError::MissingInput { at, name: "readings_root" } if at == "batches[0].public_inputs"),
        "{err}"
    );
    let err = edited(&file, |v| {
        v["batches"][0]["public_inputs"]["total_energy"] = "1".into()
    })
    .unwrap_err();
    assert!(
        matches!(&err, ProofsFileError::UnknownField { at } if at == "batches[0].public_inputs.total_energy"),
        "{err}"
    );
    let err = edited(&file, |v| v["signature"] = "x".into()).unwrap_err();
    assert!(
        matches!(&err, ProofsFileError::UnknownField { at } if at == "signature"),
        "{err}"
    );
    let err = edited(&file, |v| {
        v["batches"][1].as_object_mut().unwrap().remove("proof");
    })
    .unwrap_err();
    assert!(
        matches!(&err, ProofsFileError::Missing { at } if at == "batches[1].proof"),
        "{err}"
    );
    let err = edited(&file, |v| {
        v["batches"][1]["proof"]["a"] = serde_json::json!(["1", "2", "1"])
    })
    .unwrap_err();
    assert!(
        matches!(&err, ProofsFileError::WrongType { at, .. } if at == "batches[1].proof.a"),
        "{err}"
    );
    let err = edited(&file, |v| v["batches"] = serde_json::json!([])).unwrap_err();
    assert!(matches!(err, ProofsFileError::NoBatches), "{err}");
    assert!(matches!(
        ProofsFile::from_json("{"),
        Err(ProofsFileError::Json(_))
    ));
}

#[test]
fn other_versions_are_refused() {
    let keys = toy_keys();
    let file = two_batches(&keys);
    for version in [Value::from(2), Value::from("2"), Value::from(0)] {
        let err = edited(&file, |v| v["version"] = version).unwrap_err();
        assert!(
            matches!(err, ProofsFileError::UnsupportedVersion(_)),
            "{err}"
        );
    }
    let err = edited(&file, |v| {
        v.as_object_mut().unwrap().remove("version");
    })
    .unwrap_err();
    assert!(
        matches!(&err, ProofsFileError::Missing { at } if at == "version"),
        "{err}"
    );
}

#[test]
fn batches_must_agree_with_the_file_and_each_other() {
    let keys = toy_keys();
    let file = two_batches(&keys);
    let err = edited(&file, |v| v["epoch"] = "20301".into()).unwrap_err();
    assert!(
        matches!(&err, ProofsFileError::Inconsistent { at, .. } if at == "batches[0].public_inputs.epoch"),
        "{err}"
    );
    let err = edited(&file, |v| {
        v["batches"][1]["public_inputs"]["registry_root"] = "778".into()
    })
    .unwrap_err();
    assert!(
        matches!(&err, ProofsFileError::Inconsistent { at, .. } if at == "batches[1].public_inputs.registry_root"),
        "{err}"
    );
    let err = edited(&file, |v| v["batches"][1]["batch_index"] = 0.into()).unwrap_err();
    assert!(matches!(err, ProofsFileError::DuplicateBatch(0)), "{err}");
    let err = edited(&file, |v| v["batches"][1]["batch_index"] = 5.into()).unwrap_err();
    assert!(
        matches!(&err, ProofsFileError::Inconsistent { at, .. } if at == "batches[1].public_inputs.batch_index"),
        "{err}"
    );

    // verify_proofs_file refuses an inconsistent in-memory file too.
    let mut bad = file.clone();
    bad.epoch += 1;
    assert!(matches!(
        verify_proofs_file(&keys.verifying_key, &bad),
        Err(VerifyError::InvalidProofsFile(
            ProofsFileError::Inconsistent { .. }
        ))
    ));
}
