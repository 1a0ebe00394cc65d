//! The compact matrices against arkworks' own: the same row values, the same first failing
//! constraint, the same witness maps; malformed matrices and assignments are errors.

use super::*;

use ark_groth16::r1cs_to_qap::{evaluate_constraint, R1CSToQAP};
use ark_relations::gr1cs::{ConstraintSynthesizer, SynthesisMode};
use ark_std::UniformRand;
use gridproof_circuits::statement::{BatchCircuit, BatchShape};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

use crate::prove::{new_constraint_system, r1cs_matrices};

/// The batch circuit at (2, 8): its arkworks matrices and a satisfying full assignment.
fn batch_r1cs() -> (Vec<Matrix<Fr>>, Vec<Fr>, usize) {
    let shape = BatchShape::new(2, 8, BatchShape::DEFAULT_PRICE_SLOTS).unwrap();
    let witness = crate::sample_batch_witness(&shape, 5).unwrap();
    let circuit = BatchCircuit::new(shape, &witness).unwrap();
    let cs = new_constraint_system(SynthesisMode::Prove {
        construct_matrices: true,
        generate_lc_assignments: false,
    });
    circuit.generate_constraints(cs.clone()).unwrap();
    cs.finalize();
    let num_instance = cs.num_instance_variables();
    let matrices = r1cs_matrices(&cs).unwrap();
    let inner = cs.borrow().unwrap();
    let full = [
        inner.instance_assignment().unwrap(),
        inner.witness_assignment().unwrap(),
    ]
    .concat();
    (matrices, full, num_instance)
}

fn arkworks_rows(matrices: &[Matrix<Fr>], z: &[Fr]) -> [Vec<Fr>; 3] {
    [0, 1, 2].map(|m| {
        matrices[m]
            .iter()
            .map(|row| evaluate_constraint(row, z))
            .collect()
    })
}

#[test]
fn row_values_and_the_first_failing_constraint_are_arkworks_own() {
    let (matrices, mut z, _) = batch_r1cs();
    let compact = ProverMatrices::from_r1cs(&matrices, z.len()).unwrap();
    let n = matrices[0].len();
    assert_eq!(compact.num_constraints(), n);
    assert_eq!(compact.num_variables(), z.len());
    assert_eq!(
        compact.num_terms(),
        matrices.iter().flatten().map(Vec::len).sum::<usize>()
    );
    // Few distinct coefficients: that is what makes the table pay.
    assert!(compact.num_coefficients() < compact.num_terms() / 10);
    let arkworks_bytes: usize = matrices.iter().flatten().map(|r| r.len() * 40 + 24).sum();
    assert!(compact.heap_bytes() * 3 < arkworks_bytes);

    let rows = compact.evaluate(&z, n + 17).unwrap();
    assert_eq!(rows.len(), n + 17);
    let expected = arkworks_rows(&matrices, &z);
    for (ours, theirs) in [&rows.a, &rows.b, &rows.c].into_iter().zip(&expected) {
        assert_eq!(&ours[..n], &theirs[..]);
        assert!(ours[n..].iter().all(Fr::is_zero));
    }
    assert_eq!(rows.first_unsatisfied(), None);

    // A changed witness value: the first failing constraint is the one arkworks' check finds.
    let last = z.len() - 1;
    z[last] += Fr::one();
    let rows = compact.evaluate(&z, n).unwrap();
    let [a, b, c] = arkworks_rows(&matrices, &z);
    let first = (0..n).find(|&i| a[i] * b[i] != c[i]);
    assert!(first.is_some());
    assert_eq!(rows.first_unsatisfied(), first);
}

#[test]
fn witness_maps_from_rows_equal_the_reductions_own_on_any_assignment() {
    let (matrices, mut z, num_instance) = batch_r1cs();
    let compact = ProverMatrices::from_r1cs(&matrices, z.len()).unwrap();
    let n = compact.num_constraints();
    let size = qap_domain_size(n, num_instance).unwrap();
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    // A satisfying assignment, then a random one (the maps are the same math either way).
    for round in 0..2 {
        if round == 1 {
            z.iter_mut().skip(1).for_each(|v| *v = Fr::rand(&mut rng));
        }
        let ours = LibsnarkReduction::witness_map_from_rows(
            compact.evaluate(&z, size).unwrap(),
            num_instance,
            n,
            &z,
        )
        .unwrap();
        let theirs =
            LibsnarkReduction::witness_map_from_matrices::<Fr, GeneralEvaluationDomain<Fr>>(
                &matrices,
                num_instance,
                n,
                &z,
            )
            .unwrap();
        assert_eq!(ours, theirs, "libsnark, round {round}");
        let ours = CircomReduction::witness_map_from_rows(
            compact.evaluate(&z, size).unwrap(),
            num_instance,
            n,
            &z,
        )
        .unwrap();
        let theirs = CircomReduction::witness_map_from_matrices::<Fr, GeneralEvaluationDomain<Fr>>(
            &matrices,
            num_instance,
            n,
            &z,
        )
        .unwrap();
        assert_eq!(ours, theirs, "circom, round {round}");
    }
    // Rows padded to another length than the domain are refused, not misused.
    let short = compact.evaluate(&z, n).unwrap();
    assert!(size != n);
    assert!(LibsnarkReduction::witness_map_from_rows(short, num_instance, n, &z).is_err());
}

#[test]
fn malformed_matrices_and_assignments_are_errors_not_panics() {
    let one = Fr::one();
    let a: Matrix<Fr> = vec![vec![(one, 1)], vec![(one, 2)]];
    let b: Matrix<Fr> = vec![vec![(one, 0)], vec![(one, 0)]];
    let c: Matrix<Fr> = vec![vec![(one, 2)], vec![(Fr::from(3u64), 1)]];
    assert!(matches!(
        ProverMatrices::from_r1cs(&[a.clone(), b.clone()], 3),
        Err(MatricesError::NotR1cs(2))
    ));
    assert!(matches!(
        ProverMatrices::from_r1cs(&[a.clone(), b.clone(), c[..1].to_vec()], 3),
        Err(MatricesError::RowCount {
            matrix: "C",
            rows: 1,
            expected: 2
        })
    ));
    assert!(matches!(
        ProverMatrices::from_r1cs(&[a.clone(), b.clone(), c.clone()], 2),
        Err(MatricesError::VariableOutOfRange {
            variable: 2,
            num_variables: 2
        })
    ));
    let compact = ProverMatrices::from_r1cs(&[a, b, c], 3).unwrap();
    assert_eq!(compact.num_coefficients(), 3); // 1, -1 and 3
    assert!(matches!(
        compact.evaluate(&[one, one], 2),
        Err(MatricesError::AssignmentLength {
            assignment: 2,
            num_variables: 3
        })
    ));
    assert!(matches!(
        compact.evaluate(&[one, one, one], 1),
        Err(MatricesError::ShortRows {
            len: 1,
            num_constraints: 2
        })
    ));
    // z = (1, x, y): x * 1 = y holds for (2, 2); y * 1 = 3x does not.
    let z = [one, Fr::from(2u64), Fr::from(2u64)];
    let rows = compact.evaluate(&z, 2).unwrap();
    assert_eq!(rows.first_unsatisfied(), Some(1));
    // -1 coefficients subtract.
    let minus: Matrix<Fr> = vec![vec![(-one, 1), (Fr::from(5u64), 0)]];
    let compact = ProverMatrices::from_r1cs(&[minus.clone(), minus.clone(), minus], 2).unwrap();
    let rows = compact.evaluate(&[one, Fr::from(2u64)], 1).unwrap();
    assert_eq!(rows.a[0], Fr::from(3u64));
}

#[test]
fn the_cache_builds_once_per_circuit_type() {
    struct First;
    struct Second;
    let cache = MatricesCache::default();
    assert!(cache.heap_bytes().is_none());
    let one = Fr::one();
    let m: Matrix<Fr> = vec![vec![(one, 0)]];
    let build = || ProverMatrices::from_r1cs(&[m.clone(), m.clone(), m.clone()], 1);
    let mut builds = 0;
    let first = cache
        .get_or_build::<First, MatricesError>(|| {
            builds += 1;
            build()
        })
        .unwrap();
    let again = cache
        .get_or_build::<First, MatricesError>(|| {
            builds += 1;
            build()
        })
        .unwrap();
    assert!(Arc::ptr_eq(&first, &again));
    assert_eq!(builds, 1);
    // A clone of the keys shares what was built.
    let cloned = cache.clone();
    let shared = cloned
        .get_or_build::<First, MatricesError>(|| unreachable!("built already"))
        .unwrap();
    assert!(Arc::ptr_eq(&first, &shared));
    // Another circuit type builds its own; a failed build caches nothing.
    let failed = cache.get_or_build::<Second, MatricesError>(|| Err(MatricesError::NotR1cs(0)));
    assert!(failed.is_err());
    assert!(cache.heap_bytes().is_none());
    let second = cache.get_or_build::<Second, MatricesError>(build).unwrap();
    assert!(!Arc::ptr_eq(&first, &second));
    assert!(format!("{cache:?}").contains("built"));
}
