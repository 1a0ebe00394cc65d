//! Key directories: round trip, hashes, manifest binding, verifying-key sanity checks.

mod common;

use std::fs;

use ark_bn254::G2Affine;
use ark_ec::AffineRepr;
use common::{rng, shape, toy_keys, TempDir, Toy};
use gridproof_prover::keys::{PROVING_KEY_FILE, VERIFYING_KEY_FILE};
use gridproof_prover::{
    check_verifying_key, load_verifying_key, prepare, prove, read_manifest, verify, Keys,
    KeysError, MsmBackend, PreparedProvingKey, Provenance, VerifyingKeyDefect,
};

fn flip_byte(path: &std::path::Path, at_fraction: f64) {
    let mut bytes = fs::read(path).unwrap();
    let i = ((bytes.len() as f64) * at_fraction) as usize;
    bytes[i] ^= 0x01;
    fs::write(path, bytes).unwrap();
}

#[test]
fn keys_round_trip_through_a_directory() {
    let keys = toy_keys();
    let tmp = TempDir::new("round-trip");
    let dir = tmp.path().join("KEYS");
    let manifest = keys.save(&dir).unwrap();
    assert_eq!(manifest.provenance, Provenance::Development);
    assert_eq!(manifest.num_public_inputs, 8);
    assert_eq!(manifest.num_constraints, keys.num_constraints as u64);
    assert_eq!(read_manifest(&dir).unwrap(), manifest);
    // Nothing but the key directory is left in the parent (no temporary directory).
    let names: Vec<_> = fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("KEYS")]);

    let loaded = Keys::load(&dir).unwrap();
    assert_eq!(loaded.shape, shape());
    assert_eq!(loaded.provenance, Provenance::Development);
    assert_eq!(loaded.num_constraints, keys.num_constraints);
    assert!(loaded.proving_key == keys.proving_key);
    assert_eq!(loaded.verifying_key, keys.verifying_key);

    let (vk_shape, vk) = load_verifying_key(&dir).unwrap();
    assert_eq!(vk_shape, shape());
    assert_eq!(vk, keys.verifying_key);

    // The loaded keys prove, and the verify-only key checks the proof.
    let toy = Toy::good();
    let proof = prove(&loaded, toy.clone(), &mut rng(2), &mut |_| {}).unwrap();
    verify(&prepare(&vk), &toy.public_inputs(), &proof).unwrap();
}

/// The proving key is prepared once at load for the chosen backend; whatever its layout, it is
/// the same key and saves to the same bytes.
#[test]
fn keys_load_prepared_for_each_backend_and_save_the_same_file() {
    let keys = toy_keys();
    let tmp = TempDir::new("backends");
    let dir = tmp.path().join("KEYS");
    keys.save(&dir).unwrap();
    let original = fs::read(dir.join(PROVING_KEY_FILE)).unwrap();
    let arkworks_key = keys.proving_key.clone().into_proving_key();
    for backend in MsmBackend::ALL {
        let loaded = Keys::load_with_backend(&dir, backend).unwrap();
        assert_eq!(loaded.proving_key.backend(), backend);
        assert!(loaded.proving_key.clone().into_proving_key() == arkworks_key);
        let again = tmp.path().join(format!("KEYS-{backend}"));
        loaded.save(&again).unwrap();
        assert_eq!(
            fs::read(again.join(PROVING_KEY_FILE)).unwrap(),
            original,
            "{backend}"
        );
    }
    assert_eq!(
        Keys::load(&dir).unwrap().proving_key.backend(),
        MsmBackend::Hybrid
    );
}

/// A key directory whose proving key is another setup's (with a manifest that vouches for
/// it) is refused at load by every backend, before any preparation is used.
#[test]
fn a_proving_key_of_another_setup_is_refused_by_every_backend() {
    let tmp = TempDir::new("mixed");
    let dir = tmp.path().join("KEYS");
    let other = tmp.path().join("OTHER");
    toy_keys().save(&dir).unwrap();
    gridproof_prover::setup_development_with(&shape(), Toy::blank(3), &mut rng(97))
        .unwrap()
        .save(&other)
        .unwrap();
    fs::copy(other.join(PROVING_KEY_FILE), dir.join(PROVING_KEY_FILE)).unwrap();
    let theirs = read_manifest(&other).unwrap().proving_key;
    edit_manifest(&dir, |v| {
        v["proving_key"]["sha256"] = theirs.sha256.clone().into();
        v["proving_key"]["bytes"] = theirs.bytes.into();
    });
    for backend in MsmBackend::ALL {
        let err = Keys::load_with_backend(&dir, backend).unwrap_err();
        assert!(
            matches!(&err, KeysError::Corrupt { reason, .. } if reason.contains("does not belong")),
            "{backend}: {err}"
        );
    }
}

#[test]
fn save_refuses_to_overwrite_a_non_empty_directory() {
    let keys = toy_keys();
    let tmp = TempDir::new("overwrite");
    let dir = tmp.path().join("KEYS");
    fs::create_dir(&dir).unwrap();
    keys.save(&dir).unwrap(); // an empty directory may be replaced
    assert!(matches!(keys.save(&dir), Err(KeysError::AlreadyExists(_))));
}

#[test]
fn a_flipped_byte_in_either_key_file_is_a_hash_error_naming_the_file() {
    let keys = toy_keys();
    for (file, fraction) in [
        (PROVING_KEY_FILE, 0.5),
        (PROVING_KEY_FILE, 0.0),
        (VERIFYING_KEY_FILE, 0.7),
    ] {
        let tmp = TempDir::new("flip");
        let dir = tmp.path().join("KEYS");
        keys.save(&dir).unwrap();
        flip_byte(&dir.join(file), fraction);
        let err = Keys::load(&dir).unwrap_err();
        match &err {
            KeysError::HashMismatch { file: f, .. } => assert!(f.ends_with(file), "{err}"),
            other => panic!("expected a hash mismatch for {file}, got {other}"),
        }
        assert!(err.to_string().contains(file), "{err}");
        let vk_only = load_verifying_key(&dir);
        if file == VERIFYING_KEY_FILE {
            assert!(matches!(vk_only, Err(KeysError::HashMismatch { .. })));
        } else {
            // The verify-only path never reads the proving key.
            assert!(vk_only.is_ok());
        }
    }
}

#[test]
fn a_truncated_proving_key_is_refused() {
    let keys = toy_keys();
    let tmp = TempDir::new("truncate");
    let dir = tmp.path().join("KEYS");
    keys.save(&dir).unwrap();
    let path = dir.join(PROVING_KEY_FILE);
    let bytes = fs::read(&path).unwrap();
    fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    assert!(matches!(
        Keys::load(&dir),
        Err(KeysError::HashMismatch { .. })
    ));
}

fn edit_manifest(dir: &std::path::Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let path = dir.join("manifest.json");
    let mut v: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
    edit(&mut v);
    fs::write(&path, serde_json::to_string_pretty(&v).unwrap()).unwrap();
}

#[test]
fn a_manifest_claiming_another_shape_is_refused() {
    let keys = toy_keys();
    let tmp = TempDir::new("shape");
    let dir = tmp.path().join("KEYS");
    keys.save(&dir).unwrap();
    edit_manifest(&dir, |v| v["shape"]["sites"] = 8.into());
    for err in [
        Keys::load(&dir).unwrap_err(),
        load_verifying_key(&dir).unwrap_err(),
    ] {
        match &err {
            KeysError::ManifestMismatch { field, .. } => assert_eq!(*field, "shape"),
            other => panic!("expected a shape mismatch, got {other}"),
        }
        assert!(err.to_string().contains("S=4"), "{err}");
        assert!(err.to_string().contains("S=8"), "{err}");
    }
}

#[test]
fn a_manifest_of_another_format_or_with_other_file_names_is_refused() {
    let keys = toy_keys();
    let tmp = TempDir::new("manifest");
    let dir = tmp.path().join("KEYS");
    keys.save(&dir).unwrap();
    edit_manifest(&dir, |v| v["format_version"] = 2.into());
    let err = Keys::load(&dir).unwrap_err();
    assert!(matches!(err, KeysError::Manifest { .. }), "{err}");
    assert!(err.to_string().contains("format version 2"), "{err}");

    edit_manifest(&dir, |v| {
        v["format_version"] = 1.into();
        v["proving_key"]["file"] = "../elsewhere.key".into();
    });
    assert!(matches!(Keys::load(&dir), Err(KeysError::Manifest { .. })));

    edit_manifest(&dir, |v| {
        v["proving_key"]["file"] = PROVING_KEY_FILE.into();
        v["num_constraints"] = 1.into();
    });
    assert!(matches!(
        Keys::load(&dir),
        Err(KeysError::ManifestMismatch {
            field: "number of constraints",
            ..
        })
    ));
}

#[test]
fn a_verifying_key_with_gamma_equal_to_delta_is_refused() {
    let mut keys = toy_keys();
    keys.verifying_key.delta_g2 = keys.verifying_key.gamma_g2;
    let mut pk = keys.proving_key.clone().into_proving_key();
    pk.vk = keys.verifying_key.clone();
    keys.proving_key = PreparedProvingKey::new(pk, MsmBackend::Hybrid).unwrap();
    assert_eq!(
        check_verifying_key(&keys.verifying_key, 8),
        Err(VerifyingKeyDefect::GammaEqualsDelta)
    );
    let tmp = TempDir::new("gamma-delta");
    let dir = tmp.path().join("KEYS");
    keys.save(&dir).unwrap();
    for err in [
        Keys::load(&dir).unwrap_err(),
        load_verifying_key(&dir).unwrap_err(),
    ] {
        assert!(
            matches!(
                &err,
                KeysError::UnsafeVerifyingKey { defect: VerifyingKeyDefect::GammaEqualsDelta, file }
                    if file.ends_with(VERIFYING_KEY_FILE)
            ),
            "{err}"
        );
    }
}

#[test]
fn verifying_key_sanity_checks_name_the_defect() {
    let keys = toy_keys();
    let vk = &keys.verifying_key;
    assert_eq!(check_verifying_key(vk, 8), Ok(()));
    assert_eq!(
        check_verifying_key(vk, 7),
        Err(VerifyingKeyDefect::WrongInputCount {
            expected: 8,
            found: 9
        })
    );
    let mut bad = vk.clone();
    bad.delta_g2 = G2Affine::generator();
    assert_eq!(
        check_verifying_key(&bad, 8),
        Err(VerifyingKeyDefect::DeltaIsGenerator)
    );
    // gamma = 1 is what snarkjs keys have: allowed (soundness rests on delta).
    let mut snarkjs_like = vk.clone();
    snarkjs_like.gamma_g2 = G2Affine::generator();
    assert_eq!(check_verifying_key(&snarkjs_like, 8), Ok(()));
    let mut bad = vk.clone();
    bad.gamma_g2 = vk.delta_g2;
    assert_eq!(
        check_verifying_key(&bad, 8),
        Err(VerifyingKeyDefect::GammaEqualsDelta)
    );
    let mut bad = vk.clone();
    bad.alpha_g1 = ark_bn254::G1Affine::zero();
    assert_eq!(
        check_verifying_key(&bad, 8),
        Err(VerifyingKeyDefect::AlphaIsIdentity)
    );
    let mut bad = vk.clone();
    bad.beta_g2 = G2Affine::zero();
    assert_eq!(
        check_verifying_key(&bad, 8),
        Err(VerifyingKeyDefect::BetaIsIdentity)
    );
}

#[test]
fn development_provenance_warns() {
    assert!(Provenance::Development
        .warning()
        .unwrap()
        .contains("development only"));
    let json = serde_json::to_string(&Provenance::Development).unwrap();
    assert_eq!(json, r#"{"kind":"development"}"#);
}

#[test]
fn circuit_digest_is_deterministic_and_tells_circuits_apart() {
    use gridproof_circuits::statement::{BatchCircuit, BatchShape};
    use gridproof_prover::keys::circuit_digest;
    let digest =
        |s, t, p| circuit_digest(BatchCircuit::blank(BatchShape::new(s, t, p).unwrap())).unwrap();
    let (count, a) = digest(2, 8, 4);
    assert_eq!(count, 14_192);
    assert_eq!(digest(2, 8, 4).1, a);
    assert_ne!(digest(2, 9, 4).1, a);
    assert_ne!(digest(2, 8, 5).1, a);
}
