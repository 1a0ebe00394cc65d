//! The published circomlibjs vectors for Poseidon (`poseidon.json`) and meter message v1
//! (`meter_v1.json`), reproduced natively and in-circuit, with tampered inputs rejected.
//!
//! The vectors folder is `$GRIDPROOF_VECTORS_DIR` if set, else `../shared/vectors`; a relative
//! path is resolved against the workspace root (the parent of this crate's manifest directory),
//! so the default is `${CARGO_MANIFEST_DIR}/../../shared/vectors`. A missing folder or file fails
//! the test with a message naming the path: these vectors are never silently skipped.
//! (Signatures in `meter_v1.json` are checked by the EdDSA vector tests.)

mod common;

use ark_r1cs_std::{alloc::AllocVar, eq::EqGadget, fields::fp::FpVar, GR1CSVar};
use ark_relations::gr1cs::{ConstraintSystem, ConstraintSystemRef};
use common::{field, load, text};
use gridproof_circuits::{
    encoding::parse_uint,
    meter::{self, constraints::message_hash_var, MeterMessage},
    poseidon::{self, constraints::hash_var},
    Fr,
};
use serde_json::Value;

fn uint(v: &Value, bits: u32) -> u64 {
    parse_uint(&text(v), bits).unwrap_or_else(|e| panic!("bad u{bits} {v}: {e}"))
}

fn fields(v: &Value) -> Vec<Fr> {
    v.as_array()
        .unwrap_or_else(|| panic!("expected an array, got {v}"))
        .iter()
        .map(field)
        .collect()
}

fn witnesses(cs: &ConstraintSystemRef<Fr>, values: &[Fr]) -> Vec<FpVar<Fr>> {
    values
        .iter()
        .map(|v| FpVar::new_witness(cs.clone(), || Ok(*v)).unwrap())
        .collect()
}

/// Synthesizes Poseidon on `inputs` with its output constrained to the public `claimed` value.
fn poseidon_circuit_accepts(inputs: &[Fr], claimed: Fr) -> bool {
    let cs = ConstraintSystem::<Fr>::new_ref();
    let vars = witnesses(&cs, inputs);
    let out = hash_var(&vars).unwrap();
    let claim = FpVar::new_input(cs.clone(), || Ok(claimed)).unwrap();
    out.enforce_equal(&claim).unwrap();
    cs.is_satisfied().unwrap()
}

#[test]
fn poseidon_vectors_native_and_in_circuit() {
    let vectors = load("poseidon.json");
    for (i, v) in vectors.iter().enumerate() {
        let inputs = fields(&v["inputs"]);
        let expected = field(&v["output"]);
        assert_eq!(
            poseidon::hash(&inputs).unwrap(),
            expected,
            "native, vector {i}"
        );
        if inputs.len() == 2 {
            assert_eq!(
                poseidon::hash2(inputs[0], inputs[1]),
                expected,
                "hash2, vector {i}"
            );
        }

        // In-circuit on witnesses: the value, satisfaction, and the expected output accepted.
        let cs = ConstraintSystem::<Fr>::new_ref();
        let out = hash_var(&witnesses(&cs, &inputs)).unwrap();
        assert_eq!(out.value().unwrap(), expected, "gadget, vector {i}");
        assert!(cs.is_satisfied().unwrap(), "gadget unsatisfied, vector {i}");
        assert!(poseidon_circuit_accepts(&inputs, expected), "vector {i}");

        // In-circuit on constants: folded to the same value.
        let consts: Vec<FpVar<Fr>> = inputs.iter().map(|x| FpVar::Constant(*x)).collect();
        assert_eq!(hash_var(&consts).unwrap().value().unwrap(), expected);

        // Tampered: each input changed in turn gives another hash and is rejected in-circuit.
        for k in 0..inputs.len() {
            let mut tampered = inputs.clone();
            tampered[k] += Fr::from(1u64);
            assert_ne!(
                poseidon::hash(&tampered).unwrap(),
                expected,
                "vector {i}, input {k}"
            );
            assert!(
                !poseidon_circuit_accepts(&tampered, expected),
                "tampered input {k} of vector {i} accepted"
            );
        }
        assert!(!poseidon_circuit_accepts(
            &inputs,
            expected + Fr::from(1u64)
        ));
    }
}

struct MeterVector {
    message: MeterMessage,
    chunks: Vec<Fr>,
    chain: Vec<Fr>,
    hash: Fr,
}

fn meter_vector(v: &Value) -> MeterVector {
    assert_eq!(field(&v["domain"]), meter::domain(), "DOMAIN");
    let readings_wh = v["readings_wh"]
        .as_array()
        .expect("readings_wh is an array")
        .iter()
        .map(|r| u32::try_from(uint(r, 32)).expect("parse_uint(.., 32) fits in u32"))
        .collect();
    MeterVector {
        message: MeterMessage {
            site_id: uint(&v["site_id"], 64),
            epoch: uint(&v["epoch"], 64),
            interval_seconds: u32::try_from(uint(&v["interval_seconds"], 32))
                .expect("parse_uint(.., 32) fits in u32"),
            readings_wh,
        },
        chunks: fields(&v["chunks"]),
        chain: fields(&v["chain"]),
        hash: field(&v["message"]),
    }
}

/// Synthesizes the meter message of `m` with its output constrained to the public `claimed`
/// value; returns (output value, satisfied).
fn meter_circuit(m: &MeterMessage, claimed: Fr) -> (Fr, bool) {
    let cs = ConstraintSystem::<Fr>::new_ref();
    let w = |x: Fr| FpVar::new_witness(cs.clone(), || Ok(x)).unwrap();
    let readings: Vec<FpVar<Fr>> = m.readings_wh.iter().map(|r| w(Fr::from(*r))).collect();
    let out = message_hash_var(
        &w(Fr::from(m.site_id)),
        &w(Fr::from(m.epoch)),
        &w(Fr::from(m.interval_seconds)),
        &readings,
    )
    .unwrap();
    let value = out.value().unwrap();
    let claim = FpVar::new_input(cs.clone(), || Ok(claimed)).unwrap();
    out.enforce_equal(&claim).unwrap();
    (value, cs.is_satisfied().unwrap())
}

#[test]
fn meter_v1_vectors_native_and_in_circuit() {
    let vectors = load("meter_v1.json");
    for (i, v) in vectors.iter().enumerate() {
        let mv = meter_vector(v);
        let m = &mv.message;
        assert_eq!(m.chunks(), mv.chunks, "chunks, vector {i}");
        assert_eq!(m.hash_chain(), mv.chain, "chain, vector {i}");
        assert_eq!(m.hash(), mv.hash, "message, vector {i}");
        assert_eq!(
            mv.chain.last(),
            Some(&mv.hash),
            "vector {i}: message = last link"
        );

        let (value, ok) = meter_circuit(m, mv.hash);
        assert_eq!(value, mv.hash, "gadget, vector {i}");
        assert!(ok, "gadget rejects vector {i}");

        // Tampered: any one field or reading changed gives another message, rejected in-circuit.
        let mut tampered = vec![
            MeterMessage {
                site_id: m.site_id + 1,
                ..m.clone()
            },
            MeterMessage {
                epoch: m.epoch ^ 1,
                ..m.clone()
            },
            MeterMessage {
                interval_seconds: m.interval_seconds ^ 1,
                ..m.clone()
            },
        ];
        let t = m.readings_wh.len();
        for k in [0, t / 2, t - 1] {
            let mut r = m.clone();
            r.readings_wh[k] ^= 1;
            tampered.push(r);
        }
        let mut dropped = m.clone();
        dropped.readings_wh.pop();
        tampered.push(dropped);
        let mut swapped = m.clone();
        swapped.readings_wh.swap(0, t - 1);
        if swapped != *m {
            tampered.push(swapped);
        }
        for (k, bad) in tampered.iter().enumerate() {
            assert_ne!(bad.hash(), mv.hash, "vector {i}, tamper {k}");
            let (_, ok) = meter_circuit(bad, mv.hash);
            assert!(!ok, "vector {i}: tampered message {k} accepted");
        }
    }
}
