//! The prover on the real batch statement, at the smallest shape (S = 1, T = 2): prove, verify,
//! and a wrong claimed total reported by its constraint group.

use gridproof_circuits::statement::BatchCircuit;
use gridproof_prover::{
    prepare, prove, sample_batch_witness, setup_development, verify, BatchShape, ProveError,
    VerifyError,
};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

#[test]
fn the_batch_statement_proves_verifies_and_names_a_failing_group() {
    let shape = BatchShape::new(1, 2, BatchShape::DEFAULT_PRICE_SLOTS).unwrap();
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    let keys = setup_development(&shape, &mut rng).unwrap();
    assert_eq!(keys.num_public_inputs(), 8);

    let witness = sample_batch_witness(&shape, 7).unwrap();
    let circuit = BatchCircuit::new(shape, &witness).unwrap();
    let public = circuit.public_inputs().unwrap();
    assert!(public.total_energy_wh > 0 && public.total_revenue_nusd > 0);
    let proof = prove(&keys, circuit, &mut rng, &mut |_| {}).unwrap();
    let pvk = prepare(&keys.verifying_key);
    verify(&pvk, &public.to_field_elements(), &proof).unwrap();

    let mut inflated = public;
    inflated.total_revenue_nusd += 1;
    assert!(matches!(
        verify(&pvk, &inflated.to_field_elements(), &proof),
        Err(VerifyError::Rejected)
    ));

    // Claiming one more nano-USD than the sites earned: the "totals" group fails.
    let circuit = BatchCircuit::with_public_inputs(shape, &witness, inflated).unwrap();
    match prove(&keys, circuit, &mut rng, &mut |_| {}) {
        Err(ProveError::Unsatisfied { group, path }) => {
            assert_eq!(group, "totals", "{path}");
            assert!(path.starts_with("totals (R1CS constraint #"), "{path}");
        }
        other => panic!("expected Unsatisfied, got {other:?}"),
    }
}
