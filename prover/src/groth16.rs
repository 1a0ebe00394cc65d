//! Groth16 proving over arkworks types with a choice of multi-scalar-multiplication backend
//! (issue 9, "a faster prover").
//!
//! ark-groth16 0.6 has no MSM hook, so [`create_proof`] is its `create_proof_with_reduction_and_
//! matrices` with the same math on the public [`ProvingKey`] fields: the QAP witness map (the
//! FFTs) is the reduction's own `R1CSToQAP::witness_map_from_matrices`, generic over `QAP`, and
//! only the five MSMs (H, L, A, B in G1, B in G2) go through the [`MsmBackend`]:
//!
//! - [`MsmBackend::Stock`]: ark-groth16's own prover, called unchanged (the reference).
//! - [`MsmBackend::Arkworks`]: arkworks' `msm_bigint`, exactly as ark-groth16 calls it (same
//!   proof, bit for bit, for the same `r` and `s`).
//! - [`MsmBackend::Hybrid`] (the default): full-size scalars go to halo2curves' `msm_best`
//!   (about 1.4x faster than arkworks on them), small ones (at most 64 bits, or at most 64 bits
//!   below the modulus: the bits and small numbers of a witness) to arkworks, which sorts them
//!   into its fast small-scalar paths. Both libraries keep BN254 elements as four Montgomery
//!   limbs with R = 2^256 and affine identity as (0, 0), so converting is a copy of limbs.
//!
//! The proving key is converted once, when it is prepared ([`PreparedProvingKey::new`]): the
//! hybrid key keeps its point vectors in halo2curves' layout only (the arkworks vectors are
//! dropped one by one as they are converted), so the prepared key is no larger than the
//! arkworks one. Per proof, each MSM gathers the points of its two scalar classes; the H query
//! (all full-size scalars) is used in place.
//!
//! Measured on this 2-core machine (`cargo run --release -p gridproof-prover --example
//! groth16_backends -- --sites 64 --readings 96 --keys DIR`, both backends interleaved, CPU time
//! because other jobs shared the cores): at (64, 96) create_proof took 22.6 s of CPU with
//! arkworks' MSMs and 16.65 s with the hybrid (1.36x; per MSM 1.26x for G2 to 1.56x for H); the
//! witness map (FFTs, unchanged) is 3.6 s of it. Peak memory of a hybrid proof with the matrices
//! moved in: 848 MiB including the 301 MiB key (synthesis itself peaks at 875 MiB).
//!
//! # How `prove` uses it
//!
//! [`crate::keys::Keys`] holds its proving key as a [`PreparedProvingKey`] (the only copy),
//! prepared at load for the backend chosen (`Keys::load_with_backend`; `gridproof prove --msm`
//! and `gridproof bench --msm`, default hybrid). [`crate::prove::prove`], after the
//! satisfiability check, calls [`create_proof_from_rows`] with the keys' QAP reduction
//! (libsnark's for development keys, circom's for imported zkeys) and the constraints' row
//! values computed from the compact matrices kept with the keys ([`crate::r1cs`]), and
//! self-verifies the proof; with the stock backend it calls [`create_proof`] with arkworks'
//! matrices, moved in so they are freed before the MSMs. A [`Groth16Error`] becomes
//! `ProveError::Prover`. [`PreparedProvingKey::serialize_uncompressed`] writes the key file
//! from either layout. [`create_proof_timed`] returns the same proof and the wall-clock and
//! CPU time of each step, for benchmarks; [`time_msms`] times the MSMs alone (`gridproof
//! bench`'s floor); [`measure_backend`] and [`compare_backends`] (two backends interleaved,
//! proofs checked equal) build on it.

use std::borrow::Cow;
use std::fmt;
use std::time::Instant;

use ark_bn254::{Bn254, Fq, Fq2, G1Affine, G1Projective, G2Affine, G2Projective};
use ark_ec::{AffineRepr, CurveGroup, VariableBaseMSM};
use ark_ff::{BigInt, BigInteger, PrimeField, UniformRand, Zero};
use ark_groth16::r1cs_to_qap::R1CSToQAP;
use ark_groth16::{Groth16, Proof, ProvingKey, VerifyingKey};
use ark_poly::GeneralEvaluationDomain;
use ark_relations::gr1cs::{Matrix, SynthesisError};
use ark_serialize::{CanonicalSerialize, Compress, SerializationError};
use halo2curves::bn256 as h2;
use halo2curves::group::prime::PrimeCurveAffine;
use rand::{CryptoRng, RngCore};
use rayon::prelude::*;

use crate::r1cs::{RowValues, RowWitnessMap};
use serde::{Deserialize, Serialize};

use crate::Fr;

/// A scalar of at most this many bits, or this close below the modulus (a small negative
/// number), goes to arkworks in the hybrid backend: arkworks' MSM handles scalars of 1, 8, 16,
/// 32 and 64 bits with cheaper special paths, halo2curves always pays for all 254 bits.
pub const SMALL_SCALAR_BITS: u32 = 64;

/// Which prover code [`create_proof`] runs, named by its multi-scalar multiplications (93% of
/// a proof's time). All three make the same proof from the same input and `r`, `s`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MsmBackend {
    /// ark-groth16's own `create_proof_with_reduction_and_matrices`, untouched: the stock
    /// path, kept as the reference (its step timings are not available, only the total).
    Stock,
    /// This module's prover with arkworks' MSMs, called as ark-groth16 calls them.
    Arkworks,
    /// Full-size scalars to halo2curves (assembly field arithmetic), small ones to arkworks:
    /// the fastest measured here, so the default.
    #[default]
    Hybrid,
}

impl MsmBackend {
    /// Every backend, for command-line help and benchmarks.
    pub const ALL: [MsmBackend; 3] = [MsmBackend::Stock, MsmBackend::Arkworks, MsmBackend::Hybrid];

    /// The backend's name on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            MsmBackend::Stock => "stock",
            MsmBackend::Arkworks => "arkworks",
            MsmBackend::Hybrid => "hybrid",
        }
    }

    /// True if the key is kept in arkworks' layout for this backend (all but the hybrid).
    fn uses_arkworks_layout(self) -> bool {
        self != MsmBackend::Hybrid
    }
}

impl fmt::Display for MsmBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for MsmBackend {
    type Err = Groth16Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        MsmBackend::ALL
            .into_iter()
            .find(|b| b.name() == s)
            .ok_or_else(|| Groth16Error::UnknownBackend(s.to_string()))
    }
}

/// Why no proof was made (or no key prepared).
#[derive(Debug, thiserror::Error)]
pub enum Groth16Error {
    /// The proving key's vectors do not fit together.
    #[error("malformed proving key: {0}")]
    MalformedKey(String),
    /// The assignment is not of the proving key's circuit.
    #[error(
        "the assignment has {assignment} variables of which {instance} instance variables, but \
         the proving key is for {key_variables} variables of which {key_instance} instance \
         variables: wrong keys for this circuit"
    )]
    Shape {
        /// Variables in the assignment (1 + public inputs + witness).
        assignment: usize,
        /// Instance variables of the assignment (1 + public inputs).
        instance: usize,
        /// Variables of the proving key's circuit.
        key_variables: usize,
        /// Instance variables of the proving key's circuit.
        key_instance: usize,
    },
    /// The QAP witness map failed (e.g. the FFT domain is too large).
    #[error("the QAP witness map failed: {0}")]
    Synthesis(#[from] SynthesisError),
    /// A backend name that is not one of [`MsmBackend::ALL`].
    #[error("unknown MSM backend '{0}' (expected 'stock', 'arkworks' or 'hybrid')")]
    UnknownBackend(String),
    /// The two backends made different proofs from the same input and randomness.
    #[error("the {0} and {1} backends made different proofs from the same input: a backend bug")]
    BackendsDisagree(MsmBackend, MsmBackend),
}

/// A Groth16 proving key prepared for one [`MsmBackend`]: converted once, used for many proofs.
/// Two prepared keys are equal if they are of the same backend and hold the same points.
#[derive(Debug, Clone, PartialEq)]
pub struct PreparedProvingKey {
    backend: MsmBackend,
    inner: Prepared,
}

/// The key's layout: arkworks' ([`MsmBackend::Stock`] and [`MsmBackend::Arkworks`]) or the
/// hybrid's.
#[derive(Debug, Clone, PartialEq)]
enum Prepared {
    Arkworks(ProvingKey<Bn254>),
    Hybrid(HybridKey),
}

/// The proving key in halo2curves' layout (the point vectors) plus the few single points the
/// proof's assembly needs in arkworks' layout.
#[derive(Debug, Clone, PartialEq)]
struct HybridKey {
    vk: VerifyingKey<Bn254>,
    beta_g1: G1Affine,
    delta_g1: G1Affine,
    a_query: Query<h2::G1Affine>,
    b_g1_query: Query<h2::G1Affine>,
    b_g2_query: Query<h2::G2Affine>,
    h_query: Query<h2::G1Affine>,
    l_query: Query<h2::G1Affine>,
}

/// One point vector of the key and whether it holds the identity (which `msm_best` cannot
/// take), found once at preparation.
#[derive(Debug, Clone, PartialEq)]
struct Query<P> {
    points: Vec<P>,
    has_identity: bool,
}

impl<P: PrimeCurveAffine + Send + Sync> Query<P> {
    fn new(points: Vec<P>) -> Self {
        let has_identity = points.par_iter().any(|p| bool::from(p.is_identity()));
        Self {
            points,
            has_identity,
        }
    }
}

impl PreparedProvingKey {
    /// Prepares `pk` for `backend`. The key is moved in so that no second copy is kept: for
    /// [`MsmBackend::Hybrid`] each point vector is converted to halo2curves' layout and the
    /// arkworks vector freed before the next one (peak: the key plus its largest vector, the
    /// G2 B query). Fails if the key's vectors do not fit together.
    pub fn new(pk: ProvingKey<Bn254>, backend: MsmBackend) -> Result<Self, Groth16Error> {
        check_key(&pk)?;
        let inner = match backend {
            MsmBackend::Stock | MsmBackend::Arkworks => Prepared::Arkworks(pk),
            MsmBackend::Hybrid => {
                let ProvingKey {
                    vk,
                    beta_g1,
                    delta_g1,
                    a_query,
                    b_g1_query,
                    b_g2_query,
                    h_query,
                    l_query,
                } = pk;
                let a_query = convert_query::<G1>(a_query);
                let b_g1_query = convert_query::<G1>(b_g1_query);
                let b_g2_query = convert_query::<G2>(b_g2_query);
                let h_query = convert_query::<G1>(h_query);
                let l_query = convert_query::<G1>(l_query);
                Prepared::Hybrid(HybridKey {
                    vk,
                    beta_g1,
                    delta_g1,
                    a_query,
                    b_g1_query,
                    b_g2_query,
                    h_query,
                    l_query,
                })
            }
        };
        Ok(Self { backend, inner })
    }

    /// The backend this key was prepared for.
    pub fn backend(&self) -> MsmBackend {
        self.backend
    }

    /// The same key prepared for `backend`, converted (one point vector at a time, as
    /// [`PreparedProvingKey::new`]) only if the layout differs.
    pub fn into_backend(self, backend: MsmBackend) -> Result<Self, Groth16Error> {
        if self.backend.uses_arkworks_layout() == backend.uses_arkworks_layout() {
            return Ok(Self { backend, ..self });
        }
        Self::new(self.into_proving_key(), backend)
    }

    /// The key in arkworks' form, converted back one point vector at a time (each
    /// halo2curves vector is freed before the next is converted).
    pub fn into_proving_key(self) -> ProvingKey<Bn254> {
        match self.inner {
            Prepared::Arkworks(pk) => pk,
            Prepared::Hybrid(k) => {
                let a_query = unconvert_query::<G1>(k.a_query);
                let b_g1_query = unconvert_query::<G1>(k.b_g1_query);
                let b_g2_query = unconvert_query::<G2>(k.b_g2_query);
                let h_query = unconvert_query::<G1>(k.h_query);
                let l_query = unconvert_query::<G1>(k.l_query);
                ProvingKey {
                    vk: k.vk,
                    beta_g1: k.beta_g1,
                    delta_g1: k.delta_g1,
                    a_query,
                    b_g1_query,
                    b_g2_query,
                    h_query,
                    l_query,
                }
            }
        }
    }

    /// Writes the key exactly as arkworks' `ProvingKey::serialize_with_mode(w, Compress::No)`
    /// does (the key file's body), without converting the whole key back first.
    pub fn serialize_uncompressed<W: std::io::Write>(
        &self,
        mut w: W,
    ) -> Result<(), SerializationError> {
        let k = match &self.inner {
            Prepared::Arkworks(pk) => return pk.serialize_with_mode(w, Compress::No),
            Prepared::Hybrid(k) => k,
        };
        k.vk.serialize_with_mode(&mut w, Compress::No)?;
        k.beta_g1.serialize_with_mode(&mut w, Compress::No)?;
        k.delta_g1.serialize_with_mode(&mut w, Compress::No)?;
        write_query::<G1, _>(&mut w, &k.a_query)?;
        write_query::<G1, _>(&mut w, &k.b_g1_query)?;
        write_query::<G2, _>(&mut w, &k.b_g2_query)?;
        write_query::<G1, _>(&mut w, &k.h_query)?;
        write_query::<G1, _>(&mut w, &k.l_query)
    }

    /// The verifying key inside the proving key (to self-check a proof).
    pub fn verifying_key(&self) -> &VerifyingKey<Bn254> {
        match &self.inner {
            Prepared::Arkworks(pk) => &pk.vk,
            Prepared::Hybrid(k) => &k.vk,
        }
    }

    /// Variables of the key's circuit: 1 + public inputs + witness.
    pub fn num_variables(&self) -> usize {
        match &self.inner {
            Prepared::Arkworks(pk) => pk.a_query.len(),
            Prepared::Hybrid(k) => k.a_query.points.len(),
        }
    }

    /// Instance variables of the key's circuit: 1 + public inputs.
    pub fn num_instance(&self) -> usize {
        match &self.inner {
            Prepared::Arkworks(pk) => pk.a_query.len() - pk.l_query.len(),
            Prepared::Hybrid(k) => k.a_query.points.len() - k.l_query.points.len(),
        }
    }

    /// Points of the H query (the FFT domain's size - 1 for arkworks' reduction).
    pub fn h_query_len(&self) -> usize {
        match &self.inner {
            Prepared::Arkworks(pk) => pk.h_query.len(),
            Prepared::Hybrid(k) => k.h_query.points.len(),
        }
    }

    /// Bytes of the key's point vectors in memory (the bulk of the key), to size memory use.
    pub fn points_bytes(&self) -> usize {
        use std::mem::size_of;
        let (g1, g2) = match &self.inner {
            Prepared::Arkworks(pk) => (
                (pk.a_query.len() + pk.b_g1_query.len() + pk.h_query.len() + pk.l_query.len())
                    * size_of::<G1Affine>(),
                pk.b_g2_query.len() * size_of::<G2Affine>(),
            ),
            Prepared::Hybrid(k) => (
                (k.a_query.points.len()
                    + k.b_g1_query.points.len()
                    + k.h_query.points.len()
                    + k.l_query.points.len())
                    * size_of::<h2::G1Affine>(),
                k.b_g2_query.points.len() * size_of::<h2::G2Affine>(),
            ),
        };
        g1 + g2
    }
}

/// The vectors of `pk` must fit together, or the prover would index out of bounds.
fn check_key(pk: &ProvingKey<Bn254>) -> Result<(), Groth16Error> {
    let bad = |reason: String| Err(Groth16Error::MalformedKey(reason));
    let n = pk.a_query.len();
    if n == 0 {
        return bad("the A query is empty (it holds at least the constant 1)".to_string());
    }
    if pk.b_g1_query.len() != n || pk.b_g2_query.len() != n {
        return bad(format!(
            "the A, B (G1) and B (G2) queries have {}, {} and {} points; they must be equal",
            n,
            pk.b_g1_query.len(),
            pk.b_g2_query.len()
        ));
    }
    if pk.l_query.len() >= n {
        return bad(format!(
            "the L query has {} points but there are only {} variables (at least the constant \
             1 is an instance variable)",
            pk.l_query.len(),
            n
        ));
    }
    Ok(())
}

/// Wall-clock and CPU time of one step, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct StepTime {
    /// Elapsed (wall-clock) time: what a caller waits.
    pub wall_ms: f64,
    /// CPU time of the whole process (all threads) during the step, from `/proc/self/stat`
    /// (10 ms resolution; 0 where `/proc` is missing). Unlike wall time it hardly grows when
    /// other processes compete for the cores, so it compares backends on a busy machine.
    pub cpu_ms: f64,
}

impl std::ops::Add for StepTime {
    type Output = StepTime;

    fn add(self, other: StepTime) -> StepTime {
        StepTime {
            wall_ms: self.wall_ms + other.wall_ms,
            cpu_ms: self.cpu_ms + other.cpu_ms,
        }
    }
}

/// The time of each step of one proof.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct ProveTimings {
    /// The QAP witness map: constraint evaluation and the 7 FFTs of the domain.
    pub witness_map: StepTime,
    /// Scalars to canonical form, and (hybrid) split into full-size and small.
    pub scalars: StepTime,
    /// G1 MSM over the H query (size: FFT domain - 1; full-size scalars).
    pub msm_h: StepTime,
    /// G1 MSM over the L query (size: witness variables).
    pub msm_l: StepTime,
    /// G1 MSM over the A query (size: variables - 1).
    pub msm_a: StepTime,
    /// G1 MSM over the B query (size: variables - 1); 0 when r = 0 (not computed).
    pub msm_b_g1: StepTime,
    /// G2 MSM over the B query (size: variables - 1).
    pub msm_b_g2: StepTime,
    /// The whole of [`create_proof`], from the assignment to the proof.
    pub total: StepTime,
}

impl ProveTimings {
    /// The sum of the five MSMs.
    pub fn msm(&self) -> StepTime {
        self.msm_h + self.msm_l + self.msm_a + self.msm_b_g1 + self.msm_b_g2
    }
}

/// Creates a Groth16 proof with randomness `r`, `s` from the R1CS `matrices` (A, B, C) and the
/// full assignment `[1, public inputs..., witness...]` of a circuit with `num_instance` instance
/// variables (1 + public inputs) and `num_constraints` constraints, with the QAP reduction
/// `QAP` the key was made for.
///
/// `matrices` may be borrowed (`&matrices`) or moved in (`matrices`): moved-in matrices are
/// freed as soon as the witness map is done, before the MSMs allocate (at S = 64 the matrices
/// are ~380 MiB, more than the MSMs' working memory), which lowers the prover's peak memory
/// ([`MsmBackend::Stock`] holds them to the end: ark-groth16 borrows them throughout).
///
/// The same proof as ark-groth16's `create_proof_with_reduction_and_matrices` for the same
/// inputs, whatever the backend. Like it, this does not check that the assignment satisfies
/// the constraints (a bad witness gives a proof that does not verify): check first. `r` and `s`
/// must be fresh and uniformly random for zero knowledge; they are secret.
pub fn create_proof<'m, QAP: R1CSToQAP>(
    pk: &PreparedProvingKey,
    r: Fr,
    s: Fr,
    matrices: impl Into<Cow<'m, [Matrix<Fr>]>>,
    num_instance: usize,
    num_constraints: usize,
    full_assignment: &[Fr],
) -> Result<Proof<Bn254>, Groth16Error> {
    create_proof_timed::<QAP>(
        pk,
        r,
        s,
        matrices,
        num_instance,
        num_constraints,
        full_assignment,
    )
    .map(|(proof, _)| proof)
}

/// [`create_proof`], also returning the time of each step.
pub fn create_proof_timed<'m, QAP: R1CSToQAP>(
    pk: &PreparedProvingKey,
    r: Fr,
    s: Fr,
    matrices: impl Into<Cow<'m, [Matrix<Fr>]>>,
    num_instance: usize,
    num_constraints: usize,
    full_assignment: &[Fr],
) -> Result<(Proof<Bn254>, ProveTimings), Groth16Error> {
    check_shape(pk, full_assignment, num_instance)?;
    let mut t = ProveTimings::default();
    let start = Clock::start();

    let matrices = matrices.into();
    if let (MsmBackend::Stock, Prepared::Arkworks(ark)) = (pk.backend, &pk.inner) {
        let proof = Groth16::<Bn254, QAP>::create_proof_with_reduction_and_matrices(
            ark,
            r,
            s,
            &matrices,
            num_instance,
            num_constraints,
            full_assignment,
        )?;
        t.total = start.elapsed();
        return Ok((proof, t));
    }
    let h = QAP::witness_map_from_matrices::<Fr, GeneralEvaluationDomain<Fr>>(
        &matrices,
        num_instance,
        num_constraints,
        full_assignment,
    )?;
    // Owned matrices (hundreds of MB at S = 64) are not needed by the MSMs: free them first.
    drop(matrices);
    t.witness_map = start.elapsed();
    let proof = finish(pk, r, s, h, full_assignment, num_instance, &start, &mut t);
    Ok((proof, t))
}

/// [`create_proof_timed`] from the constraints' row values (see [`crate::r1cs`]) instead of
/// the matrices: what [`crate::prove::prove`] uses with the matrices kept with the keys. The
/// row values are consumed by the witness map. Not for [`MsmBackend::Stock`] (ark-groth16's
/// own prover takes matrices): that backend gets [`Groth16Error::MalformedKey`] here.
pub fn create_proof_from_rows<QAP: RowWitnessMap>(
    pk: &PreparedProvingKey,
    r: Fr,
    s: Fr,
    rows: RowValues,
    num_instance: usize,
    num_constraints: usize,
    full_assignment: &[Fr],
) -> Result<(Proof<Bn254>, ProveTimings), Groth16Error> {
    check_shape(pk, full_assignment, num_instance)?;
    if pk.backend == MsmBackend::Stock {
        return Err(Groth16Error::MalformedKey(
            "the stock backend proves from matrices, not row values".to_string(),
        ));
    }
    let mut t = ProveTimings::default();
    let start = Clock::start();
    let h = QAP::witness_map_from_rows(rows, num_instance, num_constraints, full_assignment)?;
    t.witness_map = start.elapsed();
    let proof = finish(pk, r, s, h, full_assignment, num_instance, &start, &mut t);
    Ok((proof, t))
}

/// The MSMs and the assembly of the proof from `h`; `t.total` is set from `start`.
#[allow(clippy::too_many_arguments)]
fn finish(
    pk: &PreparedProvingKey,
    r: Fr,
    s: Fr,
    h: Vec<Fr>,
    full_assignment: &[Fr],
    num_instance: usize,
    start: &Clock,
    t: &mut ProveTimings,
) -> Proof<Bn254> {
    let acc = msms(pk, h, full_assignment, num_instance, !r.is_zero(), t);
    let proof = assemble(&Constants::of(pk), r, s, acc);
    t.total = start.elapsed();
    proof
}

/// Times the five MSMs of one proof as `pk`'s backend computes them (arkworks' for
/// [`MsmBackend::Stock`]), with `h` as the H query's scalars (the witness map's output; random
/// full-size scalars are as good for timing): the MSM part of a benchmark's floor. The steps
/// other than the scalars and the MSMs are 0; `total` is their sum.
pub fn time_msms(
    pk: &PreparedProvingKey,
    h: Vec<Fr>,
    full_assignment: &[Fr],
    num_instance: usize,
) -> Result<ProveTimings, Groth16Error> {
    check_shape(pk, full_assignment, num_instance)?;
    let mut t = ProveTimings::default();
    std::hint::black_box(msms(pk, h, full_assignment, num_instance, true, &mut t));
    t.total = t.scalars + t.msm();
    Ok(t)
}

/// The assignment must be of the key's circuit, or the MSMs would index out of bounds.
fn check_shape(
    pk: &PreparedProvingKey,
    full_assignment: &[Fr],
    num_instance: usize,
) -> Result<(), Groth16Error> {
    let (key_variables, key_instance) = (pk.num_variables(), pk.num_instance());
    if full_assignment.len() != key_variables || num_instance != key_instance {
        return Err(Groth16Error::Shape {
            assignment: full_assignment.len(),
            instance: num_instance,
            key_variables,
            key_instance,
        });
    }
    Ok(())
}

/// The five MSMs of a proof with the backend's code (arkworks' for an arkworks-layout key),
/// each timed into `t`; the B MSM in G1 only `with_b_g1` (ark-groth16 skips it when r = 0).
fn msms(
    pk: &PreparedProvingKey,
    h: Vec<Fr>,
    full_assignment: &[Fr],
    num_instance: usize,
    with_b_g1: bool,
    t: &mut ProveTimings,
) -> Accumulators {
    // As ark-groth16: the A and B MSMs run over all variables but the constant 1, the L MSM
    // over the witness; `z` holds those scalars, the witness is its tail from `num_instance - 1`.
    // The H MSM runs first, so that h is freed before the others' scalars are made.
    let z = &full_assignment[1..];
    let witness_start = num_instance - 1;
    match &pk.inner {
        Prepared::Arkworks(pk) => {
            let h_bigints: Vec<BigInt<4>> = timed_add(&mut t.scalars, || {
                h.par_iter().map(|s| s.into_bigint()).collect()
            });
            drop(h);
            let msm_h = timed(&mut t.msm_h, || {
                G1Projective::msm_bigint(&pk.h_query, &h_bigints)
            });
            drop(h_bigints);
            let bigints: Vec<BigInt<4>> = timed_add(&mut t.scalars, || {
                z.par_iter().map(|s| s.into_bigint()).collect()
            });
            Accumulators {
                h: msm_h,
                l: timed(&mut t.msm_l, || {
                    G1Projective::msm_bigint(&pk.l_query, &bigints[witness_start..])
                }),
                a: timed(&mut t.msm_a, || {
                    G1Projective::msm_bigint(&pk.a_query[1..], &bigints)
                }),
                b_g1: timed(&mut t.msm_b_g1, || {
                    if with_b_g1 {
                        G1Projective::msm_bigint(&pk.b_g1_query[1..], &bigints)
                    } else {
                        G1Projective::zero()
                    }
                }),
                b_g2: timed(&mut t.msm_b_g2, || {
                    G2Projective::msm_bigint(&pk.b_g2_query[1..], &bigints)
                }),
            }
        }
        Prepared::Hybrid(k) => {
            let msm_h = timed(&mut t.msm_h, || msm_full::<G1>(&k.h_query, h));
            let (bigints, split) = timed_add(&mut t.scalars, || {
                let bigints: Vec<BigInt<4>> = z.par_iter().map(|s| s.into_bigint()).collect();
                let split = Split::of(&bigints);
                (bigints, split)
            });
            let z = Scalars {
                mont: z,
                bigints: &bigints,
            };
            // The A and B queries' point 0 belongs to the constant 1 (added in `assemble`):
            // their point i + 1 pairs with z_i. The L query's point i with z_(witness_start + i).
            let all = split.from(0);
            let witness = split.from(witness_start);
            Accumulators {
                h: msm_h,
                l: timed(&mut t.msm_l, || {
                    hybrid_msm::<G1>(&k.l_query.points, witness_start, z, witness)
                }),
                a: timed(&mut t.msm_a, || {
                    hybrid_msm::<G1>(&k.a_query.points[1..], 0, z, all)
                }),
                b_g1: timed(&mut t.msm_b_g1, || {
                    if with_b_g1 {
                        hybrid_msm::<G1>(&k.b_g1_query.points[1..], 0, z, all)
                    } else {
                        G1Projective::zero()
                    }
                }),
                b_g2: timed(&mut t.msm_b_g2, || {
                    hybrid_msm::<G2>(&k.b_g2_query.points[1..], 0, z, all)
                }),
            }
        }
    }
}

/// The five MSM results.
struct Accumulators {
    h: G1Projective,
    l: G1Projective,
    a: G1Projective,
    b_g1: G1Projective,
    b_g2: G2Projective,
}

/// The single points of the key that the proof's assembly adds.
struct Constants {
    alpha_g1: G1Affine,
    beta_g1: G1Affine,
    delta_g1: G1Affine,
    beta_g2: G2Affine,
    delta_g2: G2Affine,
    a_0: G1Affine,
    b_g1_0: G1Affine,
    b_g2_0: G2Affine,
}

impl Constants {
    fn of(pk: &PreparedProvingKey) -> Self {
        match &pk.inner {
            Prepared::Arkworks(pk) => Self {
                alpha_g1: pk.vk.alpha_g1,
                beta_g1: pk.beta_g1,
                delta_g1: pk.delta_g1,
                beta_g2: pk.vk.beta_g2,
                delta_g2: pk.vk.delta_g2,
                a_0: pk.a_query[0],
                b_g1_0: pk.b_g1_query[0],
                b_g2_0: pk.b_g2_query[0],
            },
            Prepared::Hybrid(k) => Self {
                alpha_g1: k.vk.alpha_g1,
                beta_g1: k.beta_g1,
                delta_g1: k.delta_g1,
                beta_g2: k.vk.beta_g2,
                delta_g2: k.vk.delta_g2,
                a_0: G1::to_ark(&k.a_query.points[0]),
                b_g1_0: G1::to_ark(&k.b_g1_query.points[0]),
                b_g2_0: G2::to_ark(&k.b_g2_query.points[0]),
            },
        }
    }
}

/// ark-groth16's `create_proof_with_assignment` after its MSMs:
/// A = alpha + sum a_i(x) z_i + r delta, B = beta + sum b_i(x) z_i + s delta,
/// C = sum over the witness l_i z_i + h(x)t(x)/delta + s A + r B - r s delta.
fn assemble(k: &Constants, r: Fr, s: Fr, acc: Accumulators) -> Proof<Bn254> {
    let r_s_delta_g1 = k.delta_g1 * (r * s);
    let g_a = k.delta_g1 * r + k.a_0 + acc.a + k.alpha_g1;
    let s_g_a = g_a * s;
    let g1_b = if r.is_zero() {
        G1Projective::zero()
    } else {
        k.delta_g1 * s + k.b_g1_0 + acc.b_g1 + k.beta_g1
    };
    let g2_b = k.delta_g2 * s + k.b_g2_0 + acc.b_g2 + k.beta_g2;
    let g_c = s_g_a + g1_b * r - r_s_delta_g1 + acc.l + acc.h;
    Proof {
        a: g_a.into_affine(),
        b: g2_b.into_affine(),
        c: g_c.into_affine(),
    }
}

/// The scalars of one MSM in both forms: Montgomery (what halo2curves takes, by a copy of
/// limbs) and canonical (what arkworks takes).
#[derive(Clone, Copy)]
struct Scalars<'a> {
    mont: &'a [Fr],
    bigints: &'a [BigInt<4>],
}

/// The indices of the nonzero scalars, split into full-size and small (see
/// [`SMALL_SCALAR_BITS`]), each in increasing order. Zero scalars are in neither.
struct Split {
    full: Vec<usize>,
    small: Vec<usize>,
}

/// The part of a [`Split`] at or after some index.
#[derive(Clone, Copy)]
struct SplitView<'a> {
    full: &'a [usize],
    small: &'a [usize],
}

impl Split {
    fn of(bigints: &[BigInt<4>]) -> Self {
        let class: Vec<u8> = bigints.par_iter().map(scalar_class).collect();
        let pick = |wanted: u8| {
            class
                .par_iter()
                .enumerate()
                .filter(|(_, &c)| c == wanted)
                .map(|(i, _)| i)
                .collect::<Vec<_>>()
        };
        Self {
            full: pick(CLASS_FULL),
            small: pick(CLASS_SMALL),
        }
    }

    fn from(&self, start: usize) -> SplitView<'_> {
        let tail = |v: &'_ [usize]| -> usize { v.partition_point(|&i| i < start) };
        SplitView {
            full: &self.full[tail(&self.full)..],
            small: &self.small[tail(&self.small)..],
        }
    }
}

const CLASS_ZERO: u8 = 0;
const CLASS_SMALL: u8 = 1;
const CLASS_FULL: u8 = 2;

fn scalar_class(b: &BigInt<4>) -> u8 {
    if b.is_zero() {
        return CLASS_ZERO;
    }
    if b.num_bits() <= SMALL_SCALAR_BITS {
        return CLASS_SMALL;
    }
    let mut negated = Fr::MODULUS;
    negated.sub_with_borrow(b);
    if negated.num_bits() <= SMALL_SCALAR_BITS {
        CLASS_SMALL
    } else {
        CLASS_FULL
    }
}

/// A BN254 group in both libraries' types, with the limb-copy conversions between them.
trait Group {
    type Ark: AffineRepr<ScalarField = Fr, Group = Self::ArkGroup> + Send + Sync;
    type ArkGroup: VariableBaseMSM<MulBase = Self::Ark, ScalarField = Fr>
        + CurveGroup<Affine = Self::Ark>;
    type H2: halo2curves::CurveAffine<ScalarExt = h2::Fr> + Send + Sync;

    fn to_h2(p: &Self::Ark) -> Self::H2;
    fn to_ark(p: &Self::H2) -> Self::Ark;

    fn result_to_ark(p: <Self::H2 as halo2curves::CurveAffine>::CurveExt) -> Self::ArkGroup {
        Self::to_ark(&Self::H2::from(p)).into_group()
    }
}

/// G1 of BN254.
enum G1 {}
/// G2 of BN254.
enum G2 {}

impl Group for G1 {
    type Ark = G1Affine;
    type ArkGroup = G1Projective;
    type H2 = h2::G1Affine;

    fn to_h2(p: &G1Affine) -> h2::G1Affine {
        if p.is_zero() {
            return h2::G1Affine::identity();
        }
        h2::G1Affine {
            x: fq_to_h2(&p.x),
            y: fq_to_h2(&p.y),
        }
    }

    fn to_ark(p: &h2::G1Affine) -> G1Affine {
        if bool::from(p.is_identity()) {
            return G1Affine::identity();
        }
        G1Affine::new_unchecked(fq_to_ark(&p.x), fq_to_ark(&p.y))
    }
}

impl Group for G2 {
    type Ark = G2Affine;
    type ArkGroup = G2Projective;
    type H2 = h2::G2Affine;

    fn to_h2(p: &G2Affine) -> h2::G2Affine {
        if p.is_zero() {
            return h2::G2Affine::identity();
        }
        h2::G2Affine {
            x: fq2_to_h2(&p.x),
            y: fq2_to_h2(&p.y),
        }
    }

    fn to_ark(p: &h2::G2Affine) -> G2Affine {
        if bool::from(p.is_identity()) {
            return G2Affine::identity();
        }
        G2Affine::new_unchecked(fq2_to_ark(&p.x), fq2_to_ark(&p.y))
    }
}

fn fq_to_h2(x: &Fq) -> h2::Fq {
    h2::Fq(x.0 .0)
}

fn fq_to_ark(x: &h2::Fq) -> Fq {
    Fq::new_unchecked(BigInt(x.0))
}

fn fq2_to_h2(x: &Fq2) -> h2::Fq2 {
    h2::Fq2::new(fq_to_h2(&x.c0), fq_to_h2(&x.c1))
}

fn fq2_to_ark(x: &h2::Fq2) -> Fq2 {
    Fq2::new(fq_to_ark(x.c0()), fq_to_ark(x.c1()))
}

fn fr_to_h2(x: &Fr) -> h2::Fr {
    h2::Fr(x.0 .0)
}

#[cfg(test)]
fn fr_to_ark(x: &h2::Fr) -> Fr {
    Fr::new_unchecked(BigInt(x.0))
}

/// Converts a point vector, freeing the arkworks one before returning.
fn convert_query<G: Group>(points: Vec<G::Ark>) -> Query<G::H2> {
    let converted: Vec<G::H2> = points.par_iter().map(G::to_h2).collect();
    drop(points);
    Query::new(converted)
}

/// Converts a point vector back to arkworks, freeing the halo2curves one before returning.
fn unconvert_query<G: Group>(query: Query<G::H2>) -> Vec<G::Ark> {
    query.points.par_iter().map(G::to_ark).collect()
}

/// Writes a point vector as arkworks writes a `Vec` of its points, uncompressed: the length
/// as a u64, then each point.
fn write_query<G: Group, W: std::io::Write>(
    w: &mut W,
    query: &Query<G::H2>,
) -> Result<(), SerializationError> {
    (query.points.len() as u64).serialize_with_mode(&mut *w, Compress::No)?;
    for p in &query.points {
        G::to_ark(p).serialize_with_mode(&mut *w, Compress::No)?;
    }
    Ok(())
}

/// An MSM whose scalars are all expected to be full-size (the H query): the points in place
/// unless the query holds the identity. Pairs `points[i]` with `scalars[i]` over the shorter of
/// the two, as arkworks does; `scalars` is freed once converted.
fn msm_full<G: Group>(query: &Query<G::H2>, scalars: Vec<Fr>) -> G::ArkGroup {
    let n = query.points.len().min(scalars.len());
    if query.has_identity {
        let bigints: Vec<BigInt<4>> = scalars[..n].par_iter().map(|s| s.into_bigint()).collect();
        let split = Split::of(&bigints);
        let scalars = Scalars {
            mont: &scalars[..n],
            bigints: &bigints,
        };
        return hybrid_msm::<G>(&query.points[..n], 0, scalars, split.from(0));
    }
    if n == 0 {
        return G::ArkGroup::zero();
    }
    let coeffs: Vec<h2::Fr> = scalars[..n].par_iter().map(fr_to_h2).collect();
    drop(scalars);
    G::result_to_ark(halo2curves::msm::msm_best(&coeffs, &query.points[..n]))
}

/// The MSM of `points` with the scalars of `z` listed in `split`: scalar `i` pairs with
/// `points[i - offset]` (every index in `split` is at least `offset`). Full-size scalars go to
/// halo2curves, small ones to arkworks; identity points are dropped (`msm_best` cannot take
/// them, and they add nothing).
fn hybrid_msm<G: Group>(
    points: &[G::H2],
    offset: usize,
    z: Scalars<'_>,
    split: SplitView<'_>,
) -> G::ArkGroup {
    let point = |i: usize| &points[i - offset];
    let mut acc = G::ArkGroup::zero();

    let (bases, coeffs): (Vec<G::H2>, Vec<h2::Fr>) = split
        .full
        .par_iter()
        .filter(|&&i| !bool::from(point(i).is_identity()))
        .map(|&i| (*point(i), fr_to_h2(&z.mont[i])))
        .unzip();
    if !bases.is_empty() {
        acc += G::result_to_ark(halo2curves::msm::msm_best(&coeffs, &bases));
    }
    drop((bases, coeffs));

    let (bases, bigints): (Vec<G::Ark>, Vec<BigInt<4>>) = split
        .small
        .par_iter()
        .map(|&i| (G::to_ark(point(i)), z.bigints[i]))
        .unzip();
    acc += G::ArkGroup::msm_bigint(&bases, &bigints);
    acc
}

/// Wall-clock and process CPU time since a start.
struct Clock {
    wall: Instant,
    cpu_ms: Option<f64>,
}

impl Clock {
    fn start() -> Self {
        Self {
            wall: Instant::now(),
            cpu_ms: process_cpu_ms(),
        }
    }

    fn elapsed(&self) -> StepTime {
        let cpu_ms = match (self.cpu_ms, process_cpu_ms()) {
            (Some(start), Some(now)) => now - start,
            _ => 0.0,
        };
        StepTime {
            wall_ms: self.wall.elapsed().as_secs_f64() * 1e3,
            cpu_ms,
        }
    }
}

/// User + system CPU time of this process (all threads) so far, from `/proc/self/stat`, whose
/// fields 14 and 15 count clock ticks of 10 ms (Linux' fixed USER_HZ of 100).
fn process_cpu_ms() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: count after it.
    let mut fields = stat
        .get(stat.rfind(')')? + 1..)?
        .split_whitespace()
        .skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((utime + stime) as f64 * 10.0)
}

fn timed<T>(into: &mut StepTime, f: impl FnOnce() -> T) -> T {
    let clock = Clock::start();
    let out = f();
    *into = clock.elapsed();
    out
}

fn timed_add<T>(into: &mut StepTime, f: impl FnOnce() -> T) -> T {
    let clock = Clock::start();
    let out = f();
    *into = *into + clock.elapsed();
    out
}

/// How the nonzero scalars of an assignment are distributed by size (what makes the hybrid
/// backend pay off: arkworks is fast on the small ones).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScalarProfile {
    /// Scalars in the assignment (without the constant 1).
    pub total: usize,
    /// Zero.
    pub zero: usize,
    /// 1 or -1.
    pub unit: usize,
    /// Other scalars of at most [`SMALL_SCALAR_BITS`] bits (or as close below the modulus).
    pub small: usize,
    /// The rest: full-size scalars (the hybrid backend gives them to halo2curves).
    pub full: usize,
}

impl ScalarProfile {
    /// The profile of `[1, public inputs..., witness...]` (the constant 1 is not counted).
    pub fn of(full_assignment: &[Fr]) -> Self {
        let one = Fr::from(1u64);
        let mut p = Self {
            total: full_assignment.len().saturating_sub(1),
            ..Self::default()
        };
        for s in full_assignment.iter().skip(1) {
            match scalar_class(&s.into_bigint()) {
                CLASS_ZERO => p.zero += 1,
                CLASS_SMALL if *s == one || *s == -one => p.unit += 1,
                CLASS_SMALL => p.small += 1,
                _ => p.full += 1,
            }
        }
        p
    }
}

/// Summary statistics of repeated measurements of one quantity, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Spread {
    /// The median.
    pub median: f64,
    /// The fastest.
    pub min: f64,
    /// The slowest.
    pub max: f64,
}

impl Spread {
    fn of(values: impl IntoIterator<Item = f64>) -> Self {
        let mut v: Vec<f64> = values.into_iter().collect();
        if v.is_empty() {
            return Self::default();
        }
        v.sort_by(f64::total_cmp);
        let mid = v.len() / 2;
        let median = if v.len() % 2 == 1 {
            v[mid]
        } else {
            (v[mid - 1] + v[mid]) / 2.0
        };
        Self {
            median,
            min: v[0],
            max: v[v.len() - 1],
        }
    }

    /// (max - min) / median: how noisy the measurement was (other processes share the cores).
    pub fn noise(&self) -> f64 {
        if self.median > 0.0 {
            (self.max - self.min) / self.median
        } else {
            0.0
        }
    }
}

/// The wall-clock and CPU time of one step over several proofs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct StepSpread {
    /// [`StepTime::wall_ms`].
    pub wall: Spread,
    /// [`StepTime::cpu_ms`].
    pub cpu: Spread,
}

/// The steps of [`ProveTimings`] over several proofs of one backend.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackendTimings {
    /// The backend.
    pub backend: MsmBackend,
    /// Each proof's timings, in the order they ran.
    pub runs: Vec<ProveTimings>,
    /// [`ProveTimings::total`].
    pub total: StepSpread,
    /// [`ProveTimings::witness_map`] (FFTs).
    pub witness_map: StepSpread,
    /// [`ProveTimings::scalars`].
    pub scalars: StepSpread,
    /// [`ProveTimings::msm_h`].
    pub msm_h: StepSpread,
    /// [`ProveTimings::msm_l`].
    pub msm_l: StepSpread,
    /// [`ProveTimings::msm_a`].
    pub msm_a: StepSpread,
    /// [`ProveTimings::msm_b_g1`].
    pub msm_b_g1: StepSpread,
    /// [`ProveTimings::msm_b_g2`].
    pub msm_b_g2: StepSpread,
}

impl BackendTimings {
    /// The spreads of `runs` of `backend`.
    pub fn of(backend: MsmBackend, runs: Vec<ProveTimings>) -> Self {
        let spread = |f: fn(&ProveTimings) -> StepTime| StepSpread {
            wall: Spread::of(runs.iter().map(|t| f(t).wall_ms)),
            cpu: Spread::of(runs.iter().map(|t| f(t).cpu_ms)),
        };
        Self {
            backend,
            total: spread(|t| t.total),
            witness_map: spread(|t| t.witness_map),
            scalars: spread(|t| t.scalars),
            msm_h: spread(|t| t.msm_h),
            msm_l: spread(|t| t.msm_l),
            msm_a: spread(|t| t.msm_a),
            msm_b_g1: spread(|t| t.msm_b_g1),
            msm_b_g2: spread(|t| t.msm_b_g2),
            runs,
        }
    }

    fn rows(&self) -> [(&'static str, StepSpread); 8] {
        [
            ("witness map (FFTs)", self.witness_map),
            ("scalars", self.scalars),
            ("MSM H (G1)", self.msm_h),
            ("MSM L (G1)", self.msm_l),
            ("MSM A (G1)", self.msm_a),
            ("MSM B (G1)", self.msm_b_g1),
            ("MSM B (G2)", self.msm_b_g2),
            ("create_proof total", self.total),
        ]
    }
}

impl fmt::Display for BackendTimings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} backend, {} proofs: {:<20} {:>24} {:>10}",
            self.backend,
            self.runs.len(),
            "step",
            "wall ms median [min-max]",
            "CPU ms"
        )?;
        for (name, v) in self.rows() {
            writeln!(
                f,
                "{:<20} {:>9.1} [{:>6.0}-{:>6.0}] {:>10.0}",
                name, v.wall.median, v.wall.min, v.wall.max, v.cpu.median
            )?;
        }
        Ok(())
    }
}

/// Proves the same input `rounds` times with `pk` and fresh `r`, `s` each time, returning the
/// time of each step (witness synthesis not included).
#[allow(clippy::too_many_arguments)]
pub fn measure_backend<QAP: R1CSToQAP, R: RngCore + CryptoRng>(
    pk: &PreparedProvingKey,
    matrices: &[Matrix<Fr>],
    num_instance: usize,
    num_constraints: usize,
    full_assignment: &[Fr],
    rounds: usize,
    rng: &mut R,
) -> Result<(Proof<Bn254>, BackendTimings), Groth16Error> {
    let mut runs = Vec::with_capacity(rounds);
    let mut last = Proof::default();
    for _ in 0..rounds {
        let (r, s) = (Fr::rand(rng), Fr::rand(rng));
        let (proof, t) = create_proof_timed::<QAP>(
            pk,
            r,
            s,
            matrices,
            num_instance,
            num_constraints,
            full_assignment,
        )?;
        runs.push(t);
        last = proof;
    }
    Ok((last, BackendTimings::of(pk.backend(), runs)))
}

/// Both backends proving the same input, interleaved (see [`compare_backends`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackendComparison {
    /// Rayon threads the MSMs and FFTs ran on.
    pub threads: usize,
    /// Variables of the circuit (1 + public inputs + witness).
    pub variables: usize,
    /// The H query's length (FFT domain - 1).
    pub h_query_len: usize,
    /// The assignment's scalars by size.
    pub scalars: ScalarProfile,
    /// The arkworks backend.
    pub arkworks: BackendTimings,
    /// The hybrid backend.
    pub hybrid: BackendTimings,
    /// arkworks' median wall-clock total / hybrid's.
    pub speedup: f64,
    /// arkworks' median CPU total / hybrid's (less sensitive to other load on the machine).
    pub cpu_speedup: f64,
}

impl fmt::Display for BackendComparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.scalars;
        writeln!(
            f,
            "{} variables, H query {}, {} threads, {} rounds per backend (interleaved)",
            self.variables,
            self.h_query_len,
            self.threads,
            self.arkworks.runs.len()
        )?;
        writeln!(
            f,
            "scalars: {} zero, {} +-1, {} small (<= {} bits), {} full-size",
            s.zero, s.unit, s.small, SMALL_SCALAR_BITS, s.full
        )?;
        writeln!(
            f,
            "{:<20} {:>24} {:>24} {:>6} | {:>8} {:>8} {:>6}",
            "step", "arkworks wall ms", "hybrid wall ms", "ratio", "ark CPU", "hyb CPU", "ratio"
        )?;
        let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
        for ((name, a), (_, h)) in self.arkworks.rows().iter().zip(self.hybrid.rows().iter()) {
            writeln!(
                f,
                "{:<20} {:>8.0} [{:>6.0}-{:>6.0}] {:>8.0} [{:>6.0}-{:>6.0}] {:>5.2}x | {:>8.0} {:>8.0} \
                 {:>5.2}x",
                name,
                a.wall.median,
                a.wall.min,
                a.wall.max,
                h.wall.median,
                h.wall.min,
                h.wall.max,
                ratio(a.wall.median, h.wall.median),
                a.cpu.median,
                h.cpu.median,
                ratio(a.cpu.median, h.cpu.median)
            )?;
        }
        writeln!(
            f,
            "noise (max-min)/median of the wall total: arkworks {:.1}%, hybrid {:.1}%; speedup \
             {:.2}x wall, {:.2}x CPU",
            self.arkworks.total.wall.noise() * 100.0,
            self.hybrid.total.wall.noise() * 100.0,
            self.speedup,
            self.cpu_speedup
        )
    }
}

/// Proves the same input `rounds` times with each of the two prepared keys (which must be of
/// the same proving key), interleaved (A B B A ...) so that other load on the machine hits
/// both alike, with the same fresh `r`, `s` for both in each round; fails if the two proofs of
/// a round differ. Witness synthesis is not included: the input is the synthesized circuit.
#[allow(clippy::too_many_arguments)]
pub fn compare_backends<QAP: R1CSToQAP, R: RngCore + CryptoRng>(
    arkworks: &PreparedProvingKey,
    hybrid: &PreparedProvingKey,
    matrices: &[Matrix<Fr>],
    num_instance: usize,
    num_constraints: usize,
    full_assignment: &[Fr],
    rounds: usize,
    rng: &mut R,
) -> Result<BackendComparison, Groth16Error> {
    let h_query_len = arkworks.h_query_len();
    let mut runs = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let r = Fr::rand(rng);
        let s = Fr::rand(rng);
        let prove = |pk: &PreparedProvingKey| {
            create_proof_timed::<QAP>(
                pk,
                r,
                s,
                matrices,
                num_instance,
                num_constraints,
                full_assignment,
            )
        };
        let (ark, hyb) = if round % 2 == 0 {
            let ark = prove(arkworks)?;
            (ark, prove(hybrid)?)
        } else {
            let hyb = prove(hybrid)?;
            (prove(arkworks)?, hyb)
        };
        if ark.0 != hyb.0 {
            return Err(Groth16Error::BackendsDisagree(
                arkworks.backend(),
                hybrid.backend(),
            ));
        }
        runs.0.push(ark.1);
        runs.1.push(hyb.1);
    }
    let arkworks = BackendTimings::of(arkworks.backend(), runs.0);
    let hybrid = BackendTimings::of(hybrid.backend(), runs.1);
    let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
    let speedup = ratio(arkworks.total.wall.median, hybrid.total.wall.median);
    let cpu_speedup = ratio(arkworks.total.cpu.median, hybrid.total.cpu.median);
    Ok(BackendComparison {
        threads: rayon::current_num_threads(),
        variables: full_assignment.len(),
        h_query_len,
        scalars: ScalarProfile::of(full_assignment),
        arkworks,
        hybrid,
        speedup,
        cpu_speedup,
    })
}

#[cfg(test)]
mod tests;
