//! Proving: synthesize the circuit once, check that the witness satisfies it (naming the failing
//! constraint group if not), then build the Groth16 proof from that same assignment.

use ark_bn254::Bn254;
use ark_groth16::r1cs_to_qap::{evaluate_constraint, LibsnarkReduction};
use ark_groth16::{prepare_verifying_key, Groth16, Proof};
use ark_relations::gr1cs::{
    ConstraintLayer, ConstraintSynthesizer, ConstraintSystem, ConstraintSystemRef, Matrix,
    OptimizationGoal, SynthesisError, SynthesisMode, TracingMode, R1CS_PREDICATE_LABEL,
};
use ark_std::UniformRand;
use rand::{CryptoRng, RngCore};
use rayon::prelude::*;
use tracing_subscriber::layer::SubscriberExt;

use gridproof_circuits::statement::BatchCircuit;

use crate::ceremony::reduction::CircomReduction;
use crate::groth16::{self, Groth16Error};
use crate::keys::{Keys, QapReduction};
use crate::Fr;

/// The phases of [`prove`], reported as each one starts so a command line can show progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProvePhase {
    /// Computing the witness and the constraint system.
    Synthesizing,
    /// Checking that the witness satisfies every constraint.
    Checking,
    /// The Groth16 prover proper: QAP witness map (FFTs) and multi-scalar multiplications.
    Proving,
}

/// Why no proof was made.
#[derive(Debug, thiserror::Error)]
pub enum ProveError {
    /// The circuit is not the one the keys were made for.
    #[error("the circuit has {circuit} {what} but the keys were made for {key}: wrong keys for this batch shape")]
    ShapeMismatch {
        /// What differs ("constraints", "public inputs", "variables").
        what: &'static str,
        /// The count the keys expect.
        key: usize,
        /// The count of the circuit.
        circuit: usize,
    },
    /// The witness violates a constraint: the input is bad (or a gadget has a bug).
    #[error(
        "the witness does not satisfy the statement: constraint group '{group}' fails (at {path})"
    )]
    Unsatisfied {
        /// The last namespace of the failing constraint that belongs to gridproof's circuit,
        /// e.g. "capacity bound".
        group: String,
        /// The full namespace path of the failing constraint, joined with '/'.
        path: String,
    },
    /// Synthesis or the prover failed (e.g. a value missing from the witness).
    #[error("constraint synthesis failed: {0}")]
    Synthesis(#[from] SynthesisError),
    /// The Groth16 prover refused the assignment or the key (see [`Groth16Error`]).
    #[error("the Groth16 prover failed: {0}")]
    Prover(#[from] Groth16Error),
    /// The proof just made does not verify with the keys' verifying key: the proving and
    /// verifying keys do not belong together, or the circuit differs from the keys' circuit.
    #[error("the new proof does not verify with the keys' verifying key; the keys do not match this circuit")]
    SelfCheckFailed,
}

/// A circuit that can name the constraint group of a constraint index, so an unsatisfied
/// witness is reported as e.g. "site 3: reading 17 capacity bound".
///
/// The default (`None`) makes [`prove`] clone the circuit before synthesis and, only if a
/// constraint fails, re-synthesize the clone with tracing on to read the `ns!` namespace path
/// of the failing constraint.
pub trait ConstraintGroupNames {
    /// A function that, once this circuit has been synthesized (it is called before), names the
    /// group of the R1CS constraint with the given index.
    fn group_namer(&self) -> Option<Box<dyn Fn(usize) -> Option<String>>> {
        None
    }
}

impl ConstraintGroupNames for BatchCircuit {
    fn group_namer(&self) -> Option<Box<dyn Fn(usize) -> Option<String>>> {
        let groups = self.constraint_groups();
        Some(Box::new(move |index| groups.name_of(index)))
    }
}

/// A new constraint system in `mode` that optimizes for fewer constraints, as setup and proving
/// must both do (the keys fix the constraint count).
pub(crate) fn new_constraint_system(mode: SynthesisMode) -> ConstraintSystemRef<Fr> {
    let cs = ConstraintSystem::<Fr>::new_ref();
    cs.set_optimization_goal(OptimizationGoal::Constraints);
    cs.set_mode(mode);
    cs
}

/// The mode of proving: matrices for the Groth16 prover and the satisfiability check.
const PROVE_MODE: SynthesisMode = SynthesisMode::Prove {
    construct_matrices: true,
    generate_lc_assignments: false,
};

/// Runs `f` with tracing disabled on this thread, so the constraint traces that ark-relations
/// captures per constraint and the spans of ark-r1cs-std's instrumented gadgets cost nothing,
/// whatever global subscriber the binary installed.
pub(crate) fn untraced<T>(f: impl FnOnce() -> T) -> T {
    tracing::dispatcher::with_default(&tracing::Dispatch::none(), f)
}

/// Proves that `circuit`'s witness satisfies the statement the keys were made for.
///
/// The circuit is synthesized once (prove mode, with matrices); every constraint is checked
/// before proving (arkworks only debug-asserts it; this is `cs.is_satisfied()` evaluated on the
/// matrices, in parallel), and a violation comes back as
/// [`ProveError::Unsatisfied`] naming the constraint group (see [`ConstraintGroupNames`]).
/// The proof is made by [`groth16::create_proof`] with the backend the keys' proving key was
/// prepared for and the keys' QAP reduction, and checked against the keys' verifying key
/// before it is returned. `progress` is called as each phase starts.
pub fn prove<C, R>(
    keys: &Keys,
    circuit: C,
    rng: &mut R,
    progress: &mut dyn FnMut(ProvePhase),
) -> Result<Proof<Bn254>, ProveError>
where
    C: ConstraintSynthesizer<Fr> + ConstraintGroupNames + Clone,
    R: RngCore + CryptoRng,
{
    prove_keeping_assignment(keys, circuit, rng, progress).map(|(proof, _)| proof)
}

/// The full R1CS assignment of a proof: `[1, public inputs..., witness...]`, in the variable
/// order of the keys' constraint matrices (what `gridproof prove --witness-dir` exports as an
/// iden3 `.wtns`). Secret: the witness part holds every site's identity, key and readings, so
/// it has no `Debug` that could end up in a log.
#[derive(Clone)]
pub struct Assignment {
    /// Every variable's value: the constant 1, the public inputs in the statement's order, then
    /// the private witness.
    pub full: Vec<Fr>,
    /// Number of instance variables: 1 (the constant) + the number of public inputs.
    pub num_instance: usize,
}

/// [`prove`], also returning the full assignment the proof was made from (the benchmark
/// measures its MSM floor with it; `prove --witness-dir` writes it as an iden3 witness).
pub fn prove_keeping_assignment<C, R>(
    keys: &Keys,
    circuit: C,
    rng: &mut R,
    progress: &mut dyn FnMut(ProvePhase),
) -> Result<(Proof<Bn254>, Assignment), ProveError>
where
    C: ConstraintSynthesizer<Fr> + ConstraintGroupNames + Clone,
    R: RngCore + CryptoRng,
{
    progress(ProvePhase::Synthesizing);
    let namer = circuit.group_namer();
    let for_diagnosis = namer.is_none().then(|| circuit.clone());
    let cs = new_constraint_system(PROVE_MODE);
    untraced(|| circuit.generate_constraints(cs.clone()))?;
    cs.finalize();
    check_shape(keys, &cs)?;
    let num_constraints = cs.num_constraints();
    let num_instance = cs.num_instance_variables();
    let matrices = r1cs_matrices(&cs)?;
    let full = {
        let inner = cs.borrow().ok_or(SynthesisError::MissingCS)?;
        [inner.instance_assignment()?, inner.witness_assignment()?].concat()
    };
    // The constraint system (linear combinations, traces) is not needed any more: free it
    // before the prover allocates.
    drop(cs);

    progress(ProvePhase::Checking);
    if let Some(index) = first_unsatisfied(&matrices, &full) {
        drop(matrices);
        let label = R1CS_PREDICATE_LABEL;
        let named = namer.as_ref().and_then(|name_of| name_of(index));
        return Err(match (named, for_diagnosis) {
            (Some(group), _) => ProveError::Unsatisfied {
                path: format!("{group} ({label} constraint #{index})"),
                group,
            },
            (None, Some(circuit)) => locate_unsatisfied(circuit, label, index),
            (None, None) => ProveError::Unsatisfied {
                group: "(unnamed)".to_string(),
                path: format!("{label} constraint #{index}"),
            },
        });
    }
    drop(for_diagnosis);

    progress(ProvePhase::Proving);
    let r = Fr::rand(rng);
    let s = Fr::rand(rng);
    // The keys' H points fix the QAP reduction (libsnark for development keys, circom for
    // keys imported from a snarkjs zkey). The matrices are moved in: the prover frees them
    // after the witness map, before the MSMs allocate.
    let pk = &keys.proving_key;
    let proof = match keys.qap_reduction {
        QapReduction::Libsnark => groth16::create_proof::<LibsnarkReduction>(
            pk,
            r,
            s,
            matrices,
            num_instance,
            num_constraints,
            &full,
        )?,
        QapReduction::Circom => groth16::create_proof::<CircomReduction>(
            pk,
            r,
            s,
            matrices,
            num_instance,
            num_constraints,
            &full,
        )?,
    };
    let pvk = prepare_verifying_key(&keys.verifying_key);
    if !Groth16::<Bn254>::verify_proof(&pvk, &proof, &full[1..num_instance])? {
        return Err(ProveError::SelfCheckFailed);
    }
    Ok((proof, Assignment { full, num_instance }))
}

fn check_shape(keys: &Keys, cs: &ConstraintSystemRef<Fr>) -> Result<(), ProveError> {
    let mismatch = |what, key, circuit| ProveError::ShapeMismatch { what, key, circuit };
    if cs.num_constraints() != keys.num_constraints {
        return Err(mismatch(
            "constraints",
            keys.num_constraints,
            cs.num_constraints(),
        ));
    }
    let key_inputs = keys.verifying_key.gamma_abc_g1.len();
    if cs.num_instance_variables() != key_inputs {
        return Err(mismatch(
            "public inputs",
            key_inputs.saturating_sub(1),
            cs.num_instance_variables() - 1,
        ));
    }
    let num_variables = cs.num_instance_variables() + cs.num_witness_variables();
    let key_variables = keys.proving_key.num_variables();
    if num_variables != key_variables {
        return Err(mismatch("variables", key_variables, num_variables));
    }
    Ok(())
}

/// The R1CS matrices (A, B, C) of a finalized constraint system; Groth16 supports no other
/// predicate, so a circuit that uses one is refused.
pub(crate) fn r1cs_matrices(
    cs: &ConstraintSystemRef<Fr>,
) -> Result<Vec<Matrix<Fr>>, SynthesisError> {
    let mut all = cs.to_matrices()?;
    let matrices = all
        .remove(R1CS_PREDICATE_LABEL)
        .ok_or(SynthesisError::PredicateNotFound)?;
    if all.values().any(|m| m.iter().any(|rows| !rows.is_empty())) {
        return Err(SynthesisError::PredicateNotFound);
    }
    Ok(matrices)
}

/// The index of the first R1CS constraint `<A_i, z> * <B_i, z> = <C_i, z>` that the full
/// assignment `z` violates, if any.
///
/// This is what `cs.is_satisfied()` checks, computed from the matrices the prover needs anyway
/// and in parallel: `is_satisfied()` re-expands every linear combination serially and took a
/// third of the proving time (12 us per constraint at S = 4, T = 24).
fn first_unsatisfied(matrices: &[Matrix<Fr>], z: &[Fr]) -> Option<usize> {
    let [a, b, c] = matrices else {
        // r1cs_matrices returned the R1CS predicate's three matrices.
        return Some(0);
    };
    (0..a.len()).into_par_iter().find_first(|&i| {
        evaluate_constraint(&a[i], z) * evaluate_constraint(&b[i], z)
            != evaluate_constraint(&c[i], z)
    })
}

/// Re-synthesizes `circuit` with constraint tracing on and names constraint `index` of
/// predicate `label`: its namespace path and its group. Only runs on the failure path.
fn locate_unsatisfied<C: ConstraintSynthesizer<Fr>>(
    circuit: C,
    label: &str,
    index: usize,
) -> ProveError {
    let subscriber = tracing_subscriber::registry::Registry::default()
        .with(ConstraintLayer::new(TracingMode::OnlyConstraints));
    let steps = tracing::subscriber::with_default(subscriber, || {
        let cs = new_constraint_system(PROVE_MODE);
        circuit.generate_constraints(cs.clone()).ok()?;
        let inner = cs.borrow()?;
        let trace = inner.predicate_traces.get(label)?.get(index)?.as_ref()?;
        Some(
            trace
                .path()
                .into_iter()
                .map(|step| (step.name, step.module_path))
                .collect::<Vec<_>>(),
        )
    })
    .unwrap_or_default();
    let path = if steps.is_empty() {
        format!("{label} constraint #{index}")
    } else {
        steps
            .iter()
            .map(|(name, _)| *name)
            .collect::<Vec<_>>()
            .join("/")
    };
    ProveError::Unsatisfied {
        group: constraint_group(&steps),
        path,
    }
}

/// The last namespace on the path that gridproof's code opened, skipping the spans of
/// arkworks' own instrumented gadgets (`enforce_equal`, `new_witness`, ...).
fn constraint_group(steps: &[(&str, &str)]) -> String {
    steps
        .iter()
        .rev()
        .find(|(_, module)| !module.starts_with("ark_"))
        .map(|(name, _)| (*name).to_string())
        .unwrap_or_else(|| "(top level)".to_string())
}
