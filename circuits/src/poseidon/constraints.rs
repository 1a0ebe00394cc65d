//! circomlib's Poseidon as an R1CS gadget, the in-circuit twin of [`super::hash`].
//!
//! Cost: 3 constraints per S-box (`x2 = x*x`, `x4 = x2*x2`, `x5 = x4*x`) and nothing else, so
//! `(8 t + partial_rounds(t)) * 3` for t = n + 1, minus 3 for every S-box whose input is a
//! constant: the first S-box of element 0 always (240 constraints for 2 inputs, 321 for 5), and
//! the first S-box of every constant input. A call on constants only adds no constraint and
//! returns a constant.
//!
//! Why it is built this way: the linear layers (round constants and MDS) are free in R1CS but,
//! written with `FpVar` additions, each creates a symbolic linear combination that is re-inlined
//! later; over ~60 partial rounds that blows up synthesis time and memory. Instead the linear
//! structure of the permutation is computed once per arity (a plan: every S-box input and the
//! output as a linear combination of 1, the inputs and the earlier S-box outputs) and each call only
//! instantiates it: one symbolic linear combination per S-box input, three witnesses and three
//! constraints per S-box, with witness values computed natively alongside (none in setup mode).
//!
//! The matrices still carry the dense partial-round dependence: an S-box input in partial round k
//! has about t + k terms and appears three times (A and B of the square, B of the last product).

use std::sync::OnceLock;

use ark_ff::{Field, One, Zero};
use ark_r1cs_std::{
    fields::fp::{AllocatedFp, FpVar},
    GR1CSVar,
};
use ark_relations::{
    gr1cs::{ConstraintSystemRef, LinearCombination, SynthesisError, Variable},
    ns,
};

use super::{params, FULL_ROUNDS, MAX_INPUTS};
use crate::Fr;

/// One term of a planned linear combination: an index into the basis (0 is the constant 1,
/// `1..=n` the inputs, `n + 1 + k` the output of S-box k) and its coefficient.
type Term = (u32, Fr);

/// The linear structure of `Poseidon(n)`, independent of the inputs.
#[derive(Debug)]
struct Plan {
    /// Input of every S-box, in evaluation order.
    sboxes: Vec<Vec<Term>>,
    /// The hash output (element 0 of the final state).
    output: Vec<Term>,
}

impl Plan {
    /// Runs the permutation symbolically over the basis (1, inputs, S-box outputs).
    fn build(n: usize) -> Plan {
        let p = params(n).expect("Plan::build is only called with 1..=16 inputs");
        let t = p.t;
        let num_sboxes = FULL_ROUNDS * t + p.partial_rounds;
        let basis = 1 + n + num_sboxes;
        let unit = |b: usize| {
            let mut v = vec![Fr::zero(); basis];
            v[b] = Fr::one();
            v
        };
        // Element 0 starts at 0 (circomlib's initial state), element i at input i.
        let mut state: Vec<Vec<Fr>> = (0..t)
            .map(|i| {
                if i == 0 {
                    vec![Fr::zero(); basis]
                } else {
                    unit(i)
                }
            })
            .collect();
        let mut next_basis = 1 + n;
        let mut sboxes = Vec::with_capacity(num_sboxes);
        let sparse = |v: &[Fr], live: usize| -> Vec<Term> {
            v[..live]
                .iter()
                .enumerate()
                .filter(|(_, c)| !c.is_zero())
                .map(|(b, c)| (u32::try_from(b).expect("basis has < 2^32 elements"), *c))
                .collect()
        };
        for r in 0..p.rounds() {
            for (i, s) in state.iter_mut().enumerate() {
                s[0] += p.ark[r * t + i];
            }
            let width = if p.is_full_round(r) { t } else { 1 };
            for s in state.iter_mut().take(width) {
                sboxes.push(sparse(s, next_basis));
                *s = unit(next_basis);
                next_basis += 1;
            }
            let rows = if r + 1 == p.rounds() { 1 } else { t };
            let mixed: Vec<Vec<Fr>> = (0..rows)
                .map(|i| {
                    let mut out = vec![Fr::zero(); basis];
                    for (j, s) in state.iter().enumerate() {
                        let m = p.mds[i * t + j];
                        for (o, c) in out[..next_basis].iter_mut().zip(&s[..next_basis]) {
                            if !c.is_zero() {
                                *o += m * c;
                            }
                        }
                    }
                    out
                })
                .collect();
            state = mixed;
        }
        debug_assert_eq!(next_basis, basis);
        Plan {
            sboxes,
            output: sparse(&state[0], next_basis),
        }
    }
}

/// The cached plan for `n` inputs (1..=16).
fn plan(n: usize) -> &'static Plan {
    static CACHE: [OnceLock<Plan>; MAX_INPUTS] = [const { OnceLock::new() }; MAX_INPUTS];
    CACHE[n - 1].get_or_init(|| Plan::build(n))
}

/// A basis element during instantiation: a constant, or a variable with its value (none in
/// setup mode).
#[derive(Clone, Copy)]
enum Slot {
    Const(Fr),
    Var(Variable, Option<Fr>),
}

/// A planned linear combination evaluated over the slots.
struct Evaluated {
    /// Sum of the constant terms.
    constant: Fr,
    /// Number of variable terms.
    num_vars: usize,
    /// The last variable term (the only one if `num_vars == 1`).
    last_var: Option<(Fr, Variable)>,
    /// The value of the whole combination, if every variable has one.
    value: Option<Fr>,
}

fn evaluate(plan_terms: &[Term], slots: &[Slot]) -> Evaluated {
    let mut constant = Fr::zero();
    let mut num_vars = 0;
    let mut last_var = None;
    let mut value = Some(Fr::zero());
    for &(b, c) in plan_terms {
        match slots[b as usize] {
            Slot::Const(x) => constant += c * x,
            Slot::Var(v, x) => {
                num_vars += 1;
                last_var = Some((c, v));
                value = match (value, x) {
                    (Some(acc), Some(x)) => Some(acc + c * x),
                    _ => None,
                };
            }
        }
    }
    Evaluated {
        constant,
        num_vars,
        last_var,
        value: value.map(|v| v + constant),
    }
}

/// A variable equal to the planned combination: the variable itself if it is `1 * v`, otherwise
/// a symbolic linear combination (no constraint). The terms are only materialized if the
/// constraint system keeps them (not in witness-only proving).
fn lc_variable(
    cs: &ConstraintSystemRef<Fr>,
    plan_terms: &[Term],
    slots: &[Slot],
    ev: &Evaluated,
) -> Result<Variable, SynthesisError> {
    if let (1, Some((c, v))) = (ev.num_vars, ev.last_var) {
        if c.is_one() && ev.constant.is_zero() {
            return Ok(v);
        }
    }
    cs.new_lc(|| {
        let mut terms = Vec::with_capacity(ev.num_vars + 1);
        terms.extend(
            plan_terms
                .iter()
                .filter_map(|&(b, c)| match slots[b as usize] {
                    Slot::Var(v, _) => Some((c, v)),
                    Slot::Const(_) => None,
                }),
        );
        if !ev.constant.is_zero() {
            terms.push((ev.constant, Variable::One));
        }
        LinearCombination(terms)
    })
}

/// Allocates `a * b` as a witness and enforces it (one constraint).
fn mul_witness(
    cs: &ConstraintSystemRef<Fr>,
    a: Variable,
    b: Variable,
    value: Option<Fr>,
) -> Result<Variable, SynthesisError> {
    let c = cs.new_witness_variable(|| value.ok_or(SynthesisError::AssignmentMissing))?;
    cs.enforce_r1cs_constraint(
        || LinearCombination::from(a),
        || LinearCombination::from(b),
        || LinearCombination::from(c),
    )?;
    Ok(c)
}

/// circomlib `Poseidon(n)` in-circuit, the same value as [`super::hash`] for 1 <= n <= 16 inputs.
///
/// Constant inputs (`FpVar::Constant`) are folded: their first-round S-boxes cost nothing, and
/// all-constant inputs give a constant output with no constraint. Returns
/// `Err(SynthesisError::Unsatisfiable)` for 0 or more than 16 inputs (an arity error is a bug in
/// the calling circuit, not a witness problem); `AssignmentMissing` only if a value is missing
/// outside setup mode. Its constraints are in the namespace "poseidon" (inside the caller's).
pub fn hash_var(inputs: &[FpVar<Fr>]) -> Result<FpVar<Fr>, SynthesisError> {
    let n = inputs.len();
    if n == 0 || n > MAX_INPUTS {
        return Err(SynthesisError::Unsatisfiable);
    }
    let plan = plan(n);
    let cs = inputs.cs();
    let _ns = ns!(cs, "poseidon");
    let mut slots = Vec::with_capacity(1 + n + plan.sboxes.len());
    slots.push(Slot::Const(Fr::one()));
    for input in inputs {
        slots.push(match input {
            FpVar::Constant(c) => Slot::Const(*c),
            FpVar::Var(v) => Slot::Var(v.variable, v.value().ok()),
        });
    }
    for sbox in &plan.sboxes {
        let ev = evaluate(sbox, &slots);
        if ev.num_vars == 0 {
            let c = ev.constant;
            slots.push(Slot::Const(c.square().square() * c));
            continue;
        }
        let x = lc_variable(&cs, sbox, &slots, &ev)?;
        let xv = ev.value;
        let x2v = xv.map(|v| v.square());
        let x4v = x2v.map(|v| v.square());
        let x5v = x4v.zip(xv).map(|(a, b)| a * b);
        let x2 = mul_witness(&cs, x, x, x2v)?;
        let x4 = mul_witness(&cs, x2, x2, x4v)?;
        let x5 = mul_witness(&cs, x4, x, x5v)?;
        slots.push(Slot::Var(x5, x5v));
    }
    let ev = evaluate(&plan.output, &slots);
    if ev.num_vars == 0 {
        return Ok(FpVar::Constant(ev.constant));
    }
    let var = lc_variable(&cs, &plan.output, &slots, &ev)?;
    Ok(FpVar::Var(AllocatedFp::new(ev.value, var, cs)))
}

/// The 2-to-1 Merkle node hash in-circuit: `Poseidon(left, right)`, 240 constraints (fewer if
/// an input is constant).
pub fn hash2_var(left: &FpVar<Fr>, right: &FpVar<Fr>) -> Result<FpVar<Fr>, SynthesisError> {
    hash_var(&[left.clone(), right.clone()])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::poseidon::{hash, PARTIAL_ROUNDS};
    use ark_ff::UniformRand;
    use ark_r1cs_std::{alloc::AllocVar, eq::EqGadget};
    use ark_relations::gr1cs::{ConstraintSystem, SynthesisMode};
    use rand::{rngs::StdRng, SeedableRng};

    fn expected_constraints(n: usize) -> usize {
        let t = n + 1;
        (FULL_ROUNDS * t + PARTIAL_ROUNDS[n - 1]) * 3 - 3
    }

    fn alloc_witnesses(cs: &ConstraintSystemRef<Fr>, values: &[Fr]) -> Vec<FpVar<Fr>> {
        values
            .iter()
            .map(|v| FpVar::new_witness(cs.clone(), || Ok(*v)).unwrap())
            .collect()
    }

    #[test]
    fn gadget_matches_native_on_random_and_boundary_inputs() {
        let mut rng = StdRng::seed_from_u64(11);
        for n in 1..=MAX_INPUTS {
            let cases: Vec<Vec<Fr>> = vec![
                (0..n).map(|_| Fr::rand(&mut rng)).collect(),
                vec![Fr::zero(); n],
                vec![-Fr::one(); n],
            ];
            for inputs in cases {
                let cs = ConstraintSystem::<Fr>::new_ref();
                let vars = alloc_witnesses(&cs, &inputs);
                let out = hash_var(&vars).unwrap();
                assert_eq!(out.value().unwrap(), hash(&inputs).unwrap(), "n = {n}");
                assert!(cs.is_satisfied().unwrap(), "n = {n}");
                assert_eq!(cs.num_constraints(), expected_constraints(n), "n = {n}");
            }
        }
    }

    #[test]
    fn constraint_count_is_pinned() {
        // 3 per S-box; the first S-box of element 0 acts on a constant.
        assert_eq!(expected_constraints(2), 240);
        assert_eq!(expected_constraints(5), 321);
        for (n, want) in [(1, 213), (2, 240), (4, 297), (5, 321)] {
            let cs = ConstraintSystem::<Fr>::new_ref();
            let vars = alloc_witnesses(&cs, &vec![Fr::from(3u64); n]);
            let _ = hash_var(&vars).unwrap();
            assert_eq!(cs.num_constraints(), want, "n = {n}");
            assert_eq!(
                cs.num_witness_variables(),
                n + want,
                "one witness per constraint"
            );
        }
    }

    #[test]
    fn constant_inputs_are_folded() {
        let mut rng = StdRng::seed_from_u64(12);
        let a = Fr::rand(&mut rng);
        let b = Fr::rand(&mut rng);
        // All constants: a constant output and no constraint.
        let out = hash_var(&[FpVar::Constant(a), FpVar::Constant(b)]).unwrap();
        assert!(matches!(out, FpVar::Constant(_)));
        assert_eq!(out.value().unwrap(), hash(&[a, b]).unwrap());
        // One constant: one S-box fewer, same value.
        let cs = ConstraintSystem::<Fr>::new_ref();
        let bv = FpVar::new_witness(cs.clone(), || Ok(b)).unwrap();
        let out = hash2_var(&FpVar::Constant(a), &bv).unwrap();
        assert_eq!(out.value().unwrap(), hash(&[a, b]).unwrap());
        assert_eq!(cs.num_constraints(), 240 - 3);
        assert!(cs.is_satisfied().unwrap());
        // Inputs that are linear combinations of variables work too.
        let cs = ConstraintSystem::<Fr>::new_ref();
        let av = FpVar::new_witness(cs.clone(), || Ok(a)).unwrap();
        let bv = FpVar::new_witness(cs.clone(), || Ok(b)).unwrap();
        let sum = &av + &bv + Fr::from(5u64);
        let out = hash_var(&[sum, av.clone() * Fr::from(3u64)]).unwrap();
        assert_eq!(
            out.value().unwrap(),
            hash(&[a + b + Fr::from(5u64), a * Fr::from(3u64)]).unwrap()
        );
        assert!(cs.is_satisfied().unwrap());
    }

    #[test]
    fn arity_errors_are_unsatisfiable() {
        assert!(matches!(hash_var(&[]), Err(SynthesisError::Unsatisfiable)));
        let many = vec![FpVar::Constant(Fr::one()); MAX_INPUTS + 1];
        assert!(matches!(
            hash_var(&many),
            Err(SynthesisError::Unsatisfiable)
        ));
    }

    #[test]
    fn wrong_output_or_witness_is_unsatisfied() {
        let inputs = [Fr::from(1u64), Fr::from(2u64), Fr::from(3u64)];
        let expected = hash(&inputs).unwrap();
        // Output constrained to the right value: satisfied; to a tampered one: not.
        for (claimed, ok) in [(expected, true), (expected + Fr::one(), false)] {
            let cs = ConstraintSystem::<Fr>::new_ref();
            let vars = alloc_witnesses(&cs, &inputs);
            let out = hash_var(&vars).unwrap();
            let claim = FpVar::new_input(cs.clone(), || Ok(claimed)).unwrap();
            out.enforce_equal(&claim).unwrap();
            assert_eq!(cs.is_satisfied().unwrap(), ok);
        }
        // A tampered S-box witness breaks its constraint.
        let cs = ConstraintSystem::<Fr>::new_ref();
        let vars = alloc_witnesses(&cs, &inputs);
        let _ = hash_var(&vars).unwrap();
        assert!(cs.is_satisfied().unwrap());
        {
            let mut inner = cs.borrow_mut().unwrap();
            let w = &mut inner.assignments.witness_assignment;
            let k = w.len() / 2;
            w[k] += Fr::one();
        }
        assert!(!cs.is_satisfied().unwrap());
    }

    #[test]
    fn witness_only_proving_gives_the_same_values() {
        let inputs = [Fr::from(5u64), Fr::from(6u64), Fr::from(7u64)];
        let cs = ConstraintSystem::<Fr>::new_ref();
        cs.set_mode(SynthesisMode::Prove {
            construct_matrices: false,
            generate_lc_assignments: false,
        });
        let vars = alloc_witnesses(&cs, &inputs);
        let out = hash_var(&vars).unwrap();
        assert_eq!(out.value().unwrap(), hash(&inputs).unwrap());
        assert_eq!(cs.num_witness_variables(), 3 + expected_constraints(3));
    }

    #[test]
    fn setup_mode_synthesizes_with_the_same_shape() {
        for n in [1, 2, 5, 16] {
            let cs = ConstraintSystem::<Fr>::new_ref();
            cs.set_mode(SynthesisMode::Setup);
            let vars: Vec<FpVar<Fr>> = (0..n)
                .map(|_| {
                    FpVar::new_witness(cs.clone(), || -> Result<Fr, _> {
                        Err(SynthesisError::AssignmentMissing)
                    })
                    .unwrap()
                })
                .collect();
            let out = hash_var(&vars).unwrap();
            assert!(out.value().is_err());
            assert_eq!(cs.num_constraints(), expected_constraints(n), "n = {n}");
            cs.finalize();
        }
    }
}
