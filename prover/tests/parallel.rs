//! Batch parallelism: batches proved several at once come back in input order, each proof
//! verifies with its own batch's public inputs only, and a bad batch fails alone.

mod common;

use std::sync::Mutex;

use common::{rng, toy_keys, Toy};
use gridproof_prover::parallel::{prove_batches, ConcurrencyPlan};
use gridproof_prover::{prepare, verify, ProveError};

#[test]
fn batches_proved_at_once_come_back_in_order_and_a_bad_one_fails_alone() {
    let keys = toy_keys();
    let pvk = prepare(&keys.verifying_key);
    let mut circuits: Vec<Toy> = (0..5u64).map(|i| Toy::with(i, [i + 1, 2, 3], 7)).collect();
    // Batch 2 claims a revenue its readings do not give: unsatisfied.
    let mut bad = Toy::with(2, [3, 2, 3], 7);
    if let Some(inputs) = bad.inputs.as_mut() {
        inputs[4] += gridproof_prover::Fr::from(1u64);
    }
    circuits[2] = bad;
    let expected: Vec<Vec<_>> = circuits.iter().map(Toy::public_inputs).collect();

    for limit in [1, 2, 8] {
        let done = Mutex::new(Vec::new());
        let outcomes = prove_batches(&keys, circuits.clone(), limit, &mut rng(9), &|i, _| {
            done.lock().unwrap().push(i)
        });
        assert_eq!(outcomes.len(), 5, "limit {limit}");
        let mut reported = done.into_inner().unwrap();
        reported.sort_unstable();
        assert_eq!(reported, vec![0, 1, 2, 3, 4], "limit {limit}");
        for (i, outcome) in outcomes.iter().enumerate() {
            match (&outcome.proof, i) {
                (Err(ProveError::Unsatisfied { .. }), 2) => {}
                (Ok(proof), i) if i != 2 => {
                    verify(&pvk, &expected[i], proof).expect("its own inputs");
                    let other = &expected[(i + 1) % 5];
                    assert!(verify(&pvk, other, proof).is_err(), "batch {i} vs another");
                }
                (other, i) => panic!("limit {limit}, batch {i}: {:?}", other.as_ref().err()),
            }
        }
    }
}

#[test]
fn the_plan_for_loaded_keys_is_at_least_one_and_at_most_the_threads() {
    let keys = toy_keys();
    let plan = ConcurrencyPlan::for_keys(&keys);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    assert!(plan.limit >= 1 && plan.limit <= threads, "{plan:?}");
    assert!(plan.describe().contains("at once"));
}
