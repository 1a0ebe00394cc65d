//! Proving (satisfiability check, group names, shape checks) and verification outcomes.

mod common;

use ark_bn254::{G1Affine, G1Projective};
use ark_ec::{AffineRepr, CurveGroup};
use common::{rng, toy_keys, Toy};
use gridproof_prover::{
    prepare, prove, ConstraintGroupNames, Fr, MsmBackend, ProveError, ProvePhase, VerifyError,
};

#[test]
fn a_good_witness_proves_and_verifies_reporting_each_phase() {
    let keys = toy_keys();
    let toy = Toy::good();
    let mut phases = Vec::new();
    let proof = prove(&keys, toy.clone(), &mut rng(3), &mut |p| phases.push(p)).unwrap();
    assert_eq!(
        phases,
        [
            ProvePhase::Synthesizing,
            ProvePhase::Checking,
            ProvePhase::Proving
        ]
    );
    let pvk = prepare(&keys.verifying_key);
    gridproof_prover::verify(&pvk, &toy.public_inputs(), &proof).unwrap();
}

#[test]
fn an_unsatisfied_witness_names_the_constraint_group() {
    let keys = toy_keys();
    // Revenue claims 31 instead of 30: the "revenue" group (inside "site") fails.
    let mut toy = Toy::good();
    toy.inputs.as_mut().unwrap()[4] = Fr::from(31u64);
    let mut phases = Vec::new();
    match prove(&keys, toy, &mut rng(4), &mut |p| phases.push(p)) {
        Err(ProveError::Unsatisfied { group, path }) => {
            assert_eq!(group, "revenue");
            assert!(path.starts_with("site/revenue"), "{path}");
        }
        other => panic!("expected Unsatisfied, got {other:?}"),
    }
    assert_eq!(phases, [ProvePhase::Synthesizing, ProvePhase::Checking]);

    // Readings that do not sum to the claimed energy: the "energy sum" group fails.
    let mut toy = Toy::good();
    toy.readings.as_mut().unwrap()[1] = Fr::from(7u64);
    let err = prove(&keys, toy, &mut rng(5), &mut |_| {}).unwrap_err();
    assert!(
        matches!(&err, ProveError::Unsatisfied { group, .. } if group == "energy sum"),
        "{err}"
    );
    assert!(err.to_string().contains("'energy sum'"), "{err}");
}

/// The toy, naming its constraint groups itself (as the batch circuit does).
#[derive(Clone)]
struct NamedToy(Toy);

impl ark_relations::gr1cs::ConstraintSynthesizer<Fr> for NamedToy {
    fn generate_constraints(
        self,
        cs: ark_relations::gr1cs::ConstraintSystemRef<Fr>,
    ) -> Result<(), ark_relations::gr1cs::SynthesisError> {
        self.0.generate_constraints(cs)
    }
}

impl ConstraintGroupNames for NamedToy {
    fn group_namer(&self) -> Option<Box<dyn Fn(usize) -> Option<String>>> {
        Some(Box::new(|index| {
            Some(format!("toy group of constraint {index}"))
        }))
    }
}

#[test]
fn a_circuit_that_names_its_groups_is_reported_with_that_name() {
    let keys = toy_keys();
    let mut toy = Toy::good();
    toy.inputs.as_mut().unwrap()[4] = Fr::from(31u64);
    match prove(&keys, NamedToy(toy), &mut rng(4), &mut |_| {}) {
        Err(ProveError::Unsatisfied { group, path }) => {
            assert!(group.starts_with("toy group of constraint "), "{group}");
            assert!(path.starts_with(&group), "{path}");
        }
        other => panic!("expected Unsatisfied, got {other:?}"),
    }
    prove(&keys, NamedToy(Toy::good()), &mut rng(4), &mut |_| {}).unwrap();
}

#[test]
fn a_circuit_of_another_shape_is_refused() {
    let keys = toy_keys();
    let toy = Toy {
        num_readings: 4,
        readings: Some(vec![
            Fr::from(1u64),
            Fr::from(2u64),
            Fr::from(3u64),
            Fr::from(0u64),
        ]),
        ..Toy::good()
    };
    let err = prove(&keys, toy, &mut rng(6), &mut |_| {}).unwrap_err();
    assert!(
        matches!(
            err,
            ProveError::ShapeMismatch {
                what: "variables",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn keys_of_another_circuit_fail_the_self_check() {
    // A verifying key from another setup of the same circuit: the counts all match, so only
    // the self-check after proving can notice, whichever backend made the proof.
    let other =
        gridproof_prover::setup_development_with(&common::shape(), Toy::blank(3), &mut rng(99))
            .unwrap();
    for backend in MsmBackend::ALL {
        let mut keys = toy_keys().with_backend(backend).unwrap();
        keys.verifying_key = other.verifying_key.clone();
        let err = prove(&keys, Toy::good(), &mut rng(7), &mut |_| {}).unwrap_err();
        assert!(
            matches!(err, ProveError::SelfCheckFailed),
            "{backend}: {err}"
        );
    }
}

/// Every backend proves with the keys' prepared proving key; with the same randomness (the
/// same r and s drawn) all three make the very same proof, and it verifies.
#[test]
fn every_msm_backend_makes_the_same_verifying_proof() {
    let toy = Toy::good();
    let keys = toy_keys();
    assert_eq!(
        keys.proving_key.backend(),
        MsmBackend::Hybrid,
        "the default"
    );
    let pvk = prepare(&keys.verifying_key);
    let mut proofs = Vec::new();
    for backend in MsmBackend::ALL {
        let keys = keys.clone().with_backend(backend).unwrap();
        assert_eq!(keys.proving_key.backend(), backend);
        let proof = prove(&keys, toy.clone(), &mut rng(21), &mut |_| {}).unwrap();
        gridproof_prover::verify(&pvk, &toy.public_inputs(), &proof).unwrap();
        // Fresh randomness: another proof, as valid.
        let other = prove(&keys, toy.clone(), &mut rng(22), &mut |_| {}).unwrap();
        assert_ne!(other, proof);
        gridproof_prover::verify(&pvk, &toy.public_inputs(), &other).unwrap();
        proofs.push((backend, proof));
    }
    let (_, stock) = &proofs[0];
    for (backend, proof) in &proofs {
        assert_eq!(proof, stock, "{backend} differs from the stock prover");
    }
}

/// Keys of a circuit with another number of variables are refused before any MSM, by every
/// backend, with the same error as before the prepared key.
#[test]
fn keys_of_another_shape_are_refused_by_every_backend() {
    let small =
        gridproof_prover::setup_development_with(&common::shape(), Toy::blank(2), &mut rng(98))
            .unwrap();
    for backend in MsmBackend::ALL {
        let keys = small.clone().with_backend(backend).unwrap();
        let err = prove(&keys, Toy::good(), &mut rng(8), &mut |_| {}).unwrap_err();
        assert!(
            matches!(err, ProveError::ShapeMismatch { .. }),
            "{backend}: {err}"
        );
    }
}

#[test]
fn wrong_inputs_and_tampered_proofs_are_rejected() {
    let keys = toy_keys();
    let toy = Toy::good();
    let proof = prove(&keys, toy.clone(), &mut rng(8), &mut |_| {}).unwrap();
    let pvk = prepare(&keys.verifying_key);
    let verify = gridproof_prover::verify;

    // A wrong public input (revenue + 1).
    let mut inputs = toy.public_inputs();
    inputs[4] += Fr::from(1u64);
    assert!(matches!(
        verify(&pvk, &inputs, &proof),
        Err(VerifyError::Rejected)
    ));

    // A tampered proof: A moved by the generator.
    let mut tampered = proof.clone();
    tampered.a = (G1Projective::from(proof.a) + G1Affine::generator()).into_affine();
    assert!(matches!(
        verify(&pvk, &toy.public_inputs(), &tampered),
        Err(VerifyError::Rejected)
    ));

    // Swapped A and C.
    let mut swapped = proof.clone();
    std::mem::swap(&mut swapped.a, &mut swapped.c);
    assert!(matches!(
        verify(&pvk, &toy.public_inputs(), &swapped),
        Err(VerifyError::Rejected)
    ));

    // Too few or too many inputs is its own error, not a silent truncation.
    let inputs = toy.public_inputs();
    assert!(matches!(
        verify(&pvk, &inputs[..7], &proof),
        Err(VerifyError::WrongInputCount {
            expected: 8,
            found: 7
        })
    ));
    let mut more = inputs.clone();
    more.push(Fr::from(0u64));
    assert!(matches!(
        verify(&pvk, &more, &proof),
        Err(VerifyError::WrongInputCount { .. })
    ));

    // The identity as A is malformed.
    let mut zero = proof.clone();
    zero.a = G1Affine::zero();
    assert!(matches!(
        verify(&pvk, &inputs, &zero),
        Err(VerifyError::MalformedProof(_))
    ));

    verify(&pvk, &inputs, &proof).unwrap();
}

#[test]
fn a_blank_circuit_cannot_be_proved() {
    let keys = toy_keys();
    let err = prove(&keys, Toy::blank(3), &mut rng(9), &mut |_| {}).unwrap_err();
    assert!(matches!(err, ProveError::Synthesis(_)), "{err}");
}
