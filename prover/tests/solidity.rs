//! The Solidity verifier generator: deterministic output that holds the key's points, the
//! committed forge fixtures (verifier-contract/) in step with the generator, and the EIP-197
//! proof words in the order the contracts expect.

mod common;

use std::path::PathBuf;

use ark_bn254::Fq;
use ark_ec::AffineRepr;
use ark_ff::{BigInteger, PrimeField};
use common::toy_keys;
use gridproof_prover::solidity::{describe_key, proof_words, render_verifier, SolidityError};
use gridproof_prover::{load_verifying_key, read_manifest, verify_proofs_file, ProofsFile};

fn hex_literal(x: &Fq) -> String {
    format!("0x{}", hex::encode(x.into_bigint().to_bytes_be()))
}

fn contracts_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../verifier-contract")
}

#[test]
fn the_verifier_is_deterministic_and_holds_the_keys_points() {
    let keys = toy_keys();
    let vk = &keys.verifying_key;
    let first = render_verifier(vk, "toy key").unwrap();
    let second = render_verifier(vk, "toy key").unwrap();
    assert_eq!(first, second, "same key, same bytes");
    assert!(!first.contains("{{"), "no placeholder left");

    let inputs = vk.gamma_abc_g1.len() - 1;
    assert!(first.contains(&format!(
        "uint256 public constant NUM_PUBLIC_INPUTS = {inputs};"
    )));
    assert!(first.contains(&format!("uint256[{inputs}] calldata publicInputs")));
    let (ax, ay) = vk.alpha_g1.xy().unwrap();
    assert!(first.contains(&format!("ALPHA_X = {};", hex_literal(&ax))));
    assert!(first.contains(&format!("ALPHA_Y = {};", hex_literal(&ay))));
    for (i, p) in vk.gamma_abc_g1.iter().enumerate() {
        let (x, y) = p.xy().unwrap();
        assert!(
            first.contains(&format!("IC{i}_X = {};", hex_literal(&x))),
            "IC{i}"
        );
        assert!(
            first.contains(&format!("IC{i}_Y = {};", hex_literal(&y))),
            "IC{i}"
        );
        if i > 0 {
            assert!(
                first.contains(&format!("mstore(g, IC{i}_X)")),
                "IC{i} in the MSM"
            );
        }
    }
    // G2 points are negated and in EIP-197 order (c1 before c0).
    let (dx, dy) = (-vk.delta_g2).xy().unwrap();
    assert!(first.contains(&format!("DELTA_NEG_X1 = {};", hex_literal(&dx.c1))));
    assert!(first.contains(&format!("DELTA_NEG_Y0 = {};", hex_literal(&dy.c0))));
    // Every public input is range-checked.
    assert_eq!(first.matches("ok := and(ok, lt(s, R))").count(), inputs);

    // Another key gives another contract.
    let mut other = vk.clone();
    other.alpha_g1 = (other.alpha_g1 + other.alpha_g1).into();
    assert_ne!(render_verifier(&other, "toy key").unwrap(), first);
}

#[test]
fn the_generator_refuses_broken_keys_and_descriptions() {
    let keys = toy_keys();
    let mut vk = keys.verifying_key.clone();
    assert_eq!(
        render_verifier(&vk, "two\nlines"),
        Err(SolidityError::BadDescription)
    );
    assert_eq!(
        render_verifier(&vk, "ends */ the comment"),
        Err(SolidityError::BadDescription)
    );
    vk.gamma_abc_g1.truncate(1);
    assert_eq!(
        render_verifier(&vk, "x"),
        Err(SolidityError::NoPublicInputs)
    );
    let mut vk = keys.verifying_key.clone();
    vk.gamma_abc_g1[2] = ark_bn254::G1Affine::zero();
    assert!(matches!(
        render_verifier(&vk, "x"),
        Err(SolidityError::PointAtInfinity(name)) if name == "gamma_abc_g1[2]"
    ));
}

/// `src/Groth16Verifier.sol` is exactly what `gridproof export-verifier` makes of the committed
/// fixture key, so the forge tests test the generator's output (regenerate with
/// verifier-contract/scripts/make-fixtures.sh).
#[test]
fn the_committed_verifier_matches_the_committed_key() {
    let dir = contracts_dir();
    let keys = dir.join("test/fixtures/keys");
    let manifest = read_manifest(&keys).unwrap();
    let (shape, vk) = load_verifying_key(&keys).unwrap();
    let generated = render_verifier(&vk, &describe_key(&shape, &manifest.provenance)).unwrap();
    let committed = std::fs::read_to_string(dir.join("src/Groth16Verifier.sol")).unwrap();
    assert!(
        generated == committed,
        "verifier-contract/src/Groth16Verifier.sol is stale: run verifier-contract/scripts/make-fixtures.sh"
    );
}

/// The committed proofs verify with the committed key, and `batches.json` (what forge reads)
/// holds their public inputs and their EIP-197 words.
#[test]
fn the_committed_proofs_verify_and_match_their_calldata_words() {
    let dir = contracts_dir();
    let (_, vk) = load_verifying_key(&dir.join("test/fixtures/keys")).unwrap();
    let file = ProofsFile::read(&dir.join("test/fixtures/proofs.json")).unwrap();
    assert!(verify_proofs_file(&vk, &file).unwrap().all_verified());

    let text = std::fs::read_to_string(dir.join("test/fixtures/batches.json")).unwrap();
    let calldata: serde_json::Value = serde_json::from_str(&text).unwrap();
    let decimal = |word: &[u8; 32]| num_bigint::BigUint::from_bytes_be(word).to_string();
    for (i, batch) in file.batches.iter().enumerate() {
        let json = &calldata["batches"][i];
        let words: Vec<String> = proof_words(&batch.proof).iter().map(decimal).collect();
        let expected: Vec<String> = json["proof"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect();
        assert_eq!(words, expected, "batch {i} proof words");
        let inputs: Vec<String> = batch
            .public_inputs
            .iter()
            .map(|x| num_bigint::BigUint::from(x.into_bigint()).to_string())
            .collect();
        let expected: Vec<String> = json["public_inputs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect();
        assert_eq!(inputs, expected, "batch {i} public inputs");
    }
}
