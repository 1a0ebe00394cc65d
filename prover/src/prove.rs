//! Proving: synthesize the witness (against the constraint matrices kept with the keys), check
//! that it satisfies every constraint (naming the failing constraint group if not), then build
//! the Groth16 proof from that same assignment.

use ark_bn254::Bn254;
use ark_groth16::r1cs_to_qap::{evaluate_constraint, LibsnarkReduction};
use ark_groth16::{prepare_verifying_key, Groth16, Proof};
use ark_relations::gr1cs::{
    ConstraintLayer, ConstraintSynthesizer, ConstraintSystem, ConstraintSystemRef, Matrix,
    OptimizationGoal, SynthesisError, SynthesisMode, TracingMode, R1CS_PREDICATE_LABEL,
};
use std::sync::Arc;

use ark_std::UniformRand;
use rand::{CryptoRng, RngCore};
use rayon::prelude::*;
use tracing_subscriber::layer::SubscriberExt;

use gridproof_circuits::statement::BatchCircuit;

use crate::ceremony::reduction::CircomReduction;
use crate::groth16::{self, Groth16Error, MsmBackend};
use crate::keys::{Keys, QapReduction};
use crate::r1cs::{qap_domain_size, MatricesError, ProverMatrices};
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
    /// The constraint matrices could not be kept in the prover's compact form, or do not fit
    /// the assignment.
    #[error("the constraint matrices: {0}")]
    Matrices(#[from] MatricesError),
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
/// The circuit's constraint matrices are built once per keys (on the first proof, or by
/// [`Keys::prepare_for_proving`]) and kept in a compact form ([`crate::r1cs`]); each proof
/// then synthesizes only the witness assignment, evaluates every constraint's three linear
/// combinations from the kept matrices, and checks `a * b = c` for each (arkworks only
/// debug-asserts it), so that a violation comes back as [`ProveError::Unsatisfied`] naming
/// the constraint group (see [`ConstraintGroupNames`]). The same row values feed the QAP
/// witness map of the keys' reduction; the MSMs run on the backend the keys' proving key was
/// prepared for ([`groth16::create_proof_from_rows`]); the proof is checked against the keys'
/// verifying key before it is returned. With [`MsmBackend::Stock`] (ark-groth16's own
/// prover, the reference) the circuit is synthesized with matrices for every proof instead.
/// `progress` is called as each phase starts.
pub fn prove<C, R>(
    keys: &Keys,
    circuit: C,
    rng: &mut R,
    progress: &mut dyn FnMut(ProvePhase),
) -> Result<Proof<Bn254>, ProveError>
where
    C: ConstraintSynthesizer<Fr> + ConstraintGroupNames + Clone + 'static,
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
    C: ConstraintSynthesizer<Fr> + ConstraintGroupNames + Clone + 'static,
    R: RngCore + CryptoRng,
{
    if keys.proving_key.backend() == MsmBackend::Stock {
        return prove_from_matrices(keys, circuit, rng, progress);
    }
    progress(ProvePhase::Synthesizing);
    let matrices = prover_matrices(keys, &circuit)?;
    let namer = circuit.group_namer();
    // Kept to name a failing constraint: a witness-only synthesis records no groups.
    let for_diagnosis = circuit.clone();
    let (full, num_instance) = synthesize_witness(circuit)?;
    let num_constraints = matrices.num_constraints();
    check_counts(keys, num_constraints, num_instance, full.len())?;
    if matrices.num_variables() != full.len() {
        return Err(ProveError::ShapeMismatch {
            what: "variables",
            key: matrices.num_variables(),
            circuit: full.len(),
        });
    }

    progress(ProvePhase::Checking);
    let domain_size = qap_domain_size(num_constraints, num_instance)
        .ok_or(SynthesisError::PolynomialDegreeTooLarge)?;
    let rows = matrices.evaluate(&full, domain_size)?;
    drop(matrices);
    if let Some(index) = rows.first_unsatisfied() {
        drop(rows);
        if namer.is_some() {
            // Record the circuit's constraint groups with a synthesis that counts them.
            let cs = new_constraint_system(SynthesisMode::Setup);
            let _ = untraced(|| for_diagnosis.clone().generate_constraints(cs));
        }
        return Err(unsatisfied(index, namer, Some(for_diagnosis)));
    }
    drop(for_diagnosis);

    progress(ProvePhase::Proving);
    let r = Fr::rand(rng);
    let s = Fr::rand(rng);
    let pk = &keys.proving_key;
    let (proof, _) = match keys.qap_reduction {
        QapReduction::Libsnark => groth16::create_proof_from_rows::<LibsnarkReduction>(
            pk,
            r,
            s,
            rows,
            num_instance,
            num_constraints,
            &full,
        )?,
        QapReduction::Circom => groth16::create_proof_from_rows::<CircomReduction>(
            pk,
            r,
            s,
            rows,
            num_instance,
            num_constraints,
            &full,
        )?,
    };
    self_check(keys, &proof, &full[1..num_instance])?;
    Ok((proof, Assignment { full, num_instance }))
}

impl Keys {
    /// Builds and keeps the batch circuit's constraint matrices (a setup-mode synthesis of the
    /// keys' shape, about a proof's synthesis time once), so that the first proof is as fast
    /// as the others; [`prove`] does it on first use otherwise. Returns the bytes they hold.
    pub fn prepare_for_proving(&self) -> Result<usize, ProveError> {
        self.prepare_for_proving_with(&BatchCircuit::blank(self.shape))
    }

    /// [`Keys::prepare_for_proving`] for keys of another circuit than the batch circuit,
    /// given its blank (witness-free) instance.
    pub fn prepare_for_proving_with<C>(&self, blank: &C) -> Result<usize, ProveError>
    where
        C: ConstraintSynthesizer<Fr> + Clone + 'static,
    {
        Ok(prover_matrices(self, blank)?.heap_bytes())
    }
}

/// The compact matrices of `circuit`'s type, cached with the keys: built from a setup-mode
/// synthesis (no witness) of a clone on first use.
fn prover_matrices<C>(keys: &Keys, circuit: &C) -> Result<Arc<ProverMatrices>, ProveError>
where
    C: ConstraintSynthesizer<Fr> + Clone + 'static,
{
    keys.matrices.get_or_build::<C, ProveError>(|| {
        let cs = new_constraint_system(SynthesisMode::Setup);
        untraced(|| circuit.clone().generate_constraints(cs.clone()))?;
        cs.finalize();
        check_shape(keys, &cs)?;
        let num_variables = cs.num_instance_variables() + cs.num_witness_variables();
        let matrices = r1cs_matrices(&cs)?;
        drop(cs);
        Ok(ProverMatrices::from_r1cs(&matrices, num_variables)?)
    })
}

/// The witness-only mode: values, no constraints (the matrices are the keys').
const WITNESS_MODE: SynthesisMode = SynthesisMode::Prove {
    construct_matrices: false,
    generate_lc_assignments: false,
};

/// Synthesizes `circuit`'s assignment only: `[1, public inputs..., witness...]` and the
/// number of instance variables.
fn synthesize_witness<C: ConstraintSynthesizer<Fr>>(
    circuit: C,
) -> Result<(Vec<Fr>, usize), SynthesisError> {
    let cs = new_constraint_system(WITNESS_MODE);
    untraced(|| circuit.generate_constraints(cs.clone()))?;
    cs.finalize();
    let num_instance = cs.num_instance_variables();
    let inner = cs.borrow().ok_or(SynthesisError::MissingCS)?;
    let full = [inner.instance_assignment()?, inner.witness_assignment()?].concat();
    Ok((full, num_instance))
}

/// The error for constraint `index` failing: named by the circuit's namer, or found again by
/// a traced synthesis of the clone kept for diagnosis.
fn unsatisfied<C: ConstraintSynthesizer<Fr>>(
    index: usize,
    namer: Option<Box<dyn Fn(usize) -> Option<String>>>,
    for_diagnosis: Option<C>,
) -> ProveError {
    let label = R1CS_PREDICATE_LABEL;
    let named = namer.as_ref().and_then(|name_of| name_of(index));
    match (named, for_diagnosis) {
        (Some(group), _) => ProveError::Unsatisfied {
            path: format!("{group} ({label} constraint #{index})"),
            group,
        },
        (None, Some(circuit)) => locate_unsatisfied(circuit, label, index),
        (None, None) => ProveError::Unsatisfied {
            group: "(unnamed)".to_string(),
            path: format!("{label} constraint #{index}"),
        },
    }
}

/// The proof just made must verify with the keys' verifying key.
fn self_check(keys: &Keys, proof: &Proof<Bn254>, public_inputs: &[Fr]) -> Result<(), ProveError> {
    let pvk = prepare_verifying_key(&keys.verifying_key);
    if !Groth16::<Bn254>::verify_proof(&pvk, proof, public_inputs)? {
        return Err(ProveError::SelfCheckFailed);
    }
    Ok(())
}

/// The stock backend's path: ark-groth16's own prover takes arkworks' matrices, so the
/// circuit is synthesized with them for every proof (the reference the fast path is checked
/// against).
fn prove_from_matrices<C, R>(
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
        return Err(unsatisfied(index, namer, for_diagnosis));
    }
    drop(for_diagnosis);

    progress(ProvePhase::Proving);
    let r = Fr::rand(rng);
    let s = Fr::rand(rng);
    // The keys' H points fix the QAP reduction (libsnark for development keys, circom for
    // keys imported from a snarkjs zkey).
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
    self_check(keys, &proof, &full[1..num_instance])?;
    Ok((proof, Assignment { full, num_instance }))
}

fn check_shape(keys: &Keys, cs: &ConstraintSystemRef<Fr>) -> Result<(), ProveError> {
    check_counts(
        keys,
        cs.num_constraints(),
        cs.num_instance_variables(),
        cs.num_instance_variables() + cs.num_witness_variables(),
    )
}

/// The circuit's counts must be the keys'.
fn check_counts(
    keys: &Keys,
    num_constraints: usize,
    num_instance: usize,
    num_variables: usize,
) -> Result<(), ProveError> {
    let mismatch = |what, key, circuit| ProveError::ShapeMismatch { what, key, circuit };
    if num_constraints != keys.num_constraints {
        return Err(mismatch(
            "constraints",
            keys.num_constraints,
            num_constraints,
        ));
    }
    let key_inputs = keys.verifying_key.gamma_abc_g1.len();
    if num_instance != key_inputs {
        return Err(mismatch(
            "public inputs",
            key_inputs.saturating_sub(1),
            num_instance.saturating_sub(1),
        ));
    }
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
