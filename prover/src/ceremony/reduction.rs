//! snarkjs' R1CS-to-QAP witness map, so keys from a snarkjs phase-2 ceremony prove in arkworks.
//!
//! A Groth16 proving key fixes how the prover must compute the quotient `h = (AB - C) / Z`: its
//! H points are the bases that the prover's `h` scalars multiply. arkworks' default
//! ([`LibsnarkReduction`]) stores `t^i Z(t) / delta` for the `n - 1` coefficients of `h` and
//! computes them with a division on a coset. snarkjs instead stores, for the `n` odd points
//! `w^(2i+1)` of the domain of size `2n` (w its generator), `L_(2i+1)(t) / delta` (the Lagrange
//! basis of that domain), and its prover takes the values of `AB - C` at those points: `AB - C`
//! vanishes on the even points (the constraint domain) when the witness is satisfying, and has
//! degree at most `2n - 2`, so `sum_i L_(2i+1)(t) (AB - C)(w^(2i+1)) = h(t) Z(t)`. No division
//! by Z is needed; `C` is taken as `A * B` per constraint, which holds for a satisfying witness
//! (the caller checks it first), so the C matrix is not used.
//!
//! This is the reduction of ark-circom's `CircomReduction`, written for arkworks 0.6.

use ark_ff::PrimeField;
use ark_groth16::r1cs_to_qap::{evaluate_constraint, LibsnarkReduction, R1CSToQAP};
use ark_poly::EvaluationDomain;
use ark_relations::gr1cs::{ConstraintSystemRef, Matrix, SynthesisError};
use rayon::prelude::*;

/// snarkjs' (and circom's) R1CS-to-QAP reduction: `h` is given by the values of `AB - C` on the
/// odd coset of the doubled domain; see the module documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CircomReduction;

impl R1CSToQAP for CircomReduction {
    #[allow(clippy::type_complexity)]
    fn instance_map_with_evaluation<F: PrimeField, D: EvaluationDomain<F>>(
        cs: ConstraintSystemRef<F>,
        t: &F,
    ) -> Result<(Vec<F>, Vec<F>, Vec<F>, F, usize, usize), SynthesisError> {
        // The A, B and C queries are the same Lagrange evaluations in both reductions (snarkjs
        // also appends one `input * 0 = 0` row per instance variable); only H differs.
        LibsnarkReduction::instance_map_with_evaluation::<F, D>(cs, t)
    }

    fn witness_map_from_matrices<F: PrimeField, D: EvaluationDomain<F>>(
        matrices: &[Matrix<F>],
        num_inputs: usize,
        num_constraints: usize,
        full_assignment: &[F],
    ) -> Result<Vec<F>, SynthesisError> {
        let [a_matrix, b_matrix, ..] = matrices else {
            return Err(SynthesisError::PredicateNotFound);
        };
        if a_matrix.len() < num_constraints
            || b_matrix.len() < num_constraints
            || full_assignment.len() < num_inputs
        {
            return Err(SynthesisError::Unsatisfiable);
        }
        let domain =
            D::new(num_constraints + num_inputs).ok_or(SynthesisError::PolynomialDegreeTooLarge)?;
        let n = domain.size();
        let mut a = vec![F::zero(); n];
        let mut b = vec![F::zero(); n];
        a[..num_constraints]
            .par_iter_mut()
            .zip(b[..num_constraints].par_iter_mut())
            .zip(a_matrix[..num_constraints].par_iter())
            .zip(b_matrix[..num_constraints].par_iter())
            .for_each(|(((a, b), a_row), b_row)| {
                *a = evaluate_constraint(a_row, full_assignment);
                *b = evaluate_constraint(b_row, full_assignment);
            });
        // The rows `input_i * 0 = 0` that bind the public inputs into A.
        a[num_constraints..num_constraints + num_inputs]
            .copy_from_slice(&full_assignment[..num_inputs]);
        let c: Vec<F> = a
            .par_iter()
            .zip(b.par_iter())
            .map(|(a, b)| *a * b)
            .collect();
        odd_coset_h(domain, a, b, c)
    }

    fn h_query_scalars<F: PrimeField, D: EvaluationDomain<F>>(
        max_power: usize,
        t: F,
        _zt: F,
        delta_inverse: F,
    ) -> Result<Vec<F>, SynthesisError> {
        // max_power = n - 1. h * Z has degree 2n - 2: its value at t is the sum over the
        // 2n-domain of L_j(t) times its values, and L_j(t) is the inverse FFT of the powers of t
        // (t^(2n-1) left out: it multiplies a zero coefficient). Keep the odd j.
        let count = 2 * max_power + 1;
        let mut scalars = Vec::with_capacity(count);
        let mut power = delta_inverse;
        for _ in 0..count {
            scalars.push(power);
            power *= t;
        }
        let domain = D::new(count).ok_or(SynthesisError::PolynomialDegreeTooLarge)?;
        domain.ifft_in_place(&mut scalars);
        Ok(scalars.into_iter().skip(1).step_by(2).collect())
    }
}

/// The second half of the witness map, shared with [`crate::r1cs`]: given the values of A, B
/// and C (= A * B) on the constraint domain `domain` (padded to its size, instance rows set),
/// their values on the odd coset of the doubled domain combined as `AB - C`.
pub(crate) fn odd_coset_h<F: PrimeField, D: EvaluationDomain<F>>(
    domain: D,
    mut a: Vec<F>,
    mut b: Vec<F>,
    mut c: Vec<F>,
) -> Result<Vec<F>, SynthesisError> {
    let n = domain.size();
    let double = D::new(2 * n).ok_or(SynthesisError::PolynomialDegreeTooLarge)?;
    // w: a square root of the constraint domain's generator; w * g^j = w^(2j+1).
    let odd_shift = double.group_gen();
    for values in [&mut a, &mut b, &mut c] {
        domain.ifft_in_place(values);
        D::distribute_powers(values, odd_shift);
        domain.fft_in_place(values);
    }
    a.par_iter_mut()
        .zip(b.par_iter())
        .zip(c.par_iter())
        .for_each(|((a, b), c)| {
            *a *= b;
            *a -= c;
        });
    Ok(a)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ark_bn254::Bn254;
    use ark_ff::Zero;
    use ark_groth16::prepare_verifying_key;
    use ark_groth16::Groth16;
    use ark_poly::GeneralEvaluationDomain;
    use ark_r1cs_std::{alloc::AllocVar, eq::EqGadget, fields::fp::FpVar};
    use ark_relations::gr1cs::{ConstraintSynthesizer, SynthesisMode};
    use ark_std::UniformRand;
    use rand::SeedableRng;

    use crate::keys::QapReduction;
    use crate::prove::new_constraint_system;
    use crate::Fr;

    /// x^3 + x + 5 = y with y public: a classic two-multiplication circuit.
    #[derive(Clone)]
    struct Cubic(Option<u64>);

    impl ConstraintSynthesizer<Fr> for Cubic {
        fn generate_constraints(self, cs: ConstraintSystemRef<Fr>) -> Result<(), SynthesisError> {
            let x_value = self.0.map(Fr::from);
            let y_value = x_value.map(|x| x * x * x + x + Fr::from(5u64));
            let y = FpVar::new_input(cs.clone(), || {
                y_value.ok_or(SynthesisError::AssignmentMissing)
            })?;
            let x = FpVar::new_witness(cs, || x_value.ok_or(SynthesisError::AssignmentMissing))?;
            let x3 = &x * &x * &x;
            (x3 + &x + Fr::from(5u64)).enforce_equal(&y)
        }
    }

    fn synthesized(x: u64) -> (Vec<Matrix<Fr>>, Vec<Fr>, usize, usize) {
        let cs = new_constraint_system(SynthesisMode::Prove {
            construct_matrices: true,
            generate_lc_assignments: false,
        });
        Cubic(Some(x)).generate_constraints(cs.clone()).unwrap();
        cs.finalize();
        let matrices = cs
            .to_matrices()
            .unwrap()
            .remove(ark_relations::gr1cs::R1CS_PREDICATE_LABEL)
            .unwrap();
        let inner = cs.borrow().unwrap();
        let full = [
            inner.instance_assignment().unwrap(),
            inner.witness_assignment().unwrap(),
        ]
        .concat();
        (
            matrices,
            full,
            cs.num_instance_variables(),
            cs.num_constraints(),
        )
    }

    #[test]
    fn the_witness_map_gives_h_times_z_on_the_odd_points() {
        let (matrices, full, num_inputs, num_constraints) = synthesized(3);
        let values = CircomReduction::witness_map_from_matrices::<Fr, D>(
            &matrices,
            num_inputs,
            num_constraints,
            &full,
        )
        .unwrap();
        let n = D::new(num_constraints + num_inputs).unwrap().size();
        assert_eq!(values.len(), n);
        // A satisfying witness: AB - C vanishes on the constraint domain but not on the odd
        // points (it is h * Z with h != 0 for this circuit).
        assert!(values.iter().any(|v| !v.is_zero()));
        // The sum of L_(2i+1)(t) (AB - C)(w^(2i+1)) over i must equal the libsnark quotient
        // h(t) Z(t) at a random t.
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(7);
        let t = Fr::rand(&mut rng);
        let h_bases =
            CircomReduction::h_query_scalars::<Fr, D>(n - 1, t, Fr::zero(), Fr::from(1u64))
                .unwrap();
        let via_circom: Fr = h_bases.iter().zip(&values).map(|(l, v)| *l * v).sum();
        let h = LibsnarkReduction::witness_map_from_matrices::<Fr, D>(
            &matrices,
            num_inputs,
            num_constraints,
            &full,
        )
        .unwrap();
        let domain = D::new(n).unwrap();
        let h_at_t: Fr = h
            .iter()
            .rev()
            .fold(Fr::zero(), |acc, coefficient| acc * t + coefficient);
        assert_eq!(via_circom, h_at_t * domain.evaluate_vanishing_polynomial(t));
    }

    #[test]
    fn keys_made_for_the_circom_reduction_prove_with_it_and_not_with_libsnark() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1);
        let pk = Groth16::<Bn254, CircomReduction>::generate_random_parameters_with_reduction(
            Cubic(None),
            &mut rng,
        )
        .unwrap();
        let (matrices, full, num_inputs, num_constraints) = synthesized(3);
        assert_eq!(
            pk.h_query.len(),
            D::new(num_inputs + num_constraints).unwrap().size()
        );
        let pvk = prepare_verifying_key(&pk.vk);
        let r = Fr::rand(&mut rand_chacha::ChaCha20Rng::seed_from_u64(2));
        let s = Fr::rand(&mut rand_chacha::ChaCha20Rng::seed_from_u64(3));
        let prove =
            |reduction: QapReduction| {
                match reduction {
            QapReduction::Libsnark => {
                Groth16::<Bn254, LibsnarkReduction>::create_proof_with_reduction_and_matrices(
                    &pk, r, s, &matrices, num_inputs, num_constraints, &full,
                )
            }
            QapReduction::Circom => {
                Groth16::<Bn254, CircomReduction>::create_proof_with_reduction_and_matrices(
                    &pk, r, s, &matrices, num_inputs, num_constraints, &full,
                )
            }
        }
        .unwrap()
            };
        let inputs = &full[1..num_inputs];
        let proof = prove(QapReduction::Circom);
        assert!(Groth16::<Bn254>::verify_proof(&pvk, &proof, inputs).unwrap());
        let wrong = prove(QapReduction::Libsnark);
        assert!(!Groth16::<Bn254>::verify_proof(&pvk, &wrong, inputs).unwrap());
    }

    type D = GeneralEvaluationDomain<Fr>;
}
