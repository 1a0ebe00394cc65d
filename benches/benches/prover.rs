//! Criterion benchmarks of proving and verifying one batch of the batch statement at
//! (S, T) = (4, 24). The (16, 96) and (64, 96) figures come from `gridproof bench` (one proof
//! there takes seconds, too slow for criterion's sampling); run this one with
//! `cargo bench -p gridproof-benches --bench prover`.

// criterion_group!/criterion_main! generate undocumented public items.
#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, Criterion};
use gridproof_circuits::statement::BatchCircuit;
use gridproof_prover::{
    prepare, prove, sample_batch_witness, setup_development, verify, BatchShape,
};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

fn prover(c: &mut Criterion) {
    let shape = BatchShape::new(4, 24, BatchShape::DEFAULT_PRICE_SLOTS).expect("a valid shape");
    // Development keys from a fixed seed: for benchmarking only.
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let keys = setup_development(&shape, &mut rng).expect("setup");
    let witness = sample_batch_witness(&shape, 1).expect("a sample batch");
    let circuit = BatchCircuit::new(shape, &witness).expect("a circuit for the sample batch");
    let inputs = circuit
        .public_inputs()
        .expect("a witnessed circuit")
        .to_field_elements();
    let proof = prove(&keys, circuit, &mut rng, &mut |_| {}).expect("the sample batch proves");
    let pvk = prepare(&keys.verifying_key);

    let mut group = c.benchmark_group("batch S=4 T=24");
    group.sample_size(10);
    group.bench_function("prove (witness + synthesis + check + proof)", |b| {
        b.iter(|| {
            let circuit = BatchCircuit::new(shape, &witness).expect("a circuit");
            prove(&keys, circuit, &mut rng, &mut |_| {}).expect("proves")
        })
    });
    group.bench_function("verify", |b| {
        b.iter(|| verify(&pvk, &inputs, &proof).expect("verifies"))
    });
    group.finish();
}

criterion_group!(benches, prover);
criterion_main!(benches);
