//! Verification with one `Result`: arkworks' `Ok(false)` is a rejection, never a success.

use ark_bn254::{Bn254, G1Affine, G2Affine};
use ark_ec::AffineRepr;
use ark_groth16::{prepare_verifying_key, Groth16, PreparedVerifyingKey, Proof, VerifyingKey};

use crate::proofs_file::ProofsFileError;
use crate::Fr;

/// Why a proof was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The pairing check failed: the proof is not a proof of this statement with these public
    /// inputs under this key (tampered proof, wrong input, or wrong key).
    #[error("the proof is rejected: it does not prove this statement with these public inputs")]
    Rejected,
    /// The number of public inputs differs from the key's.
    #[error("{found} public inputs given but the verifying key expects {expected}")]
    WrongInputCount {
        /// The key's number of public inputs.
        expected: usize,
        /// The number given.
        found: usize,
    },
    /// A proof point is the identity or not in its prime-order subgroup.
    #[error("malformed proof: {0}")]
    MalformedProof(&'static str),
    /// The proofs file is inconsistent (see [`ProofsFileError`]).
    #[error(transparent)]
    InvalidProofsFile(#[from] ProofsFileError),
}

/// Precomputes the pairing-friendly form of a verifying key; do it once per key.
pub fn prepare(vk: &VerifyingKey<Bn254>) -> PreparedVerifyingKey<Bn254> {
    prepare_verifying_key(vk)
}

fn g1_ok(p: &G1Affine) -> bool {
    !p.is_zero() && p.is_on_curve() && p.is_in_correct_subgroup_assuming_on_curve()
}

fn g2_ok(p: &G2Affine) -> bool {
    !p.is_zero() && p.is_on_curve() && p.is_in_correct_subgroup_assuming_on_curve()
}

/// Verifies a Groth16 proof for `public_inputs` (canonical field elements, in the statement's
/// order). `Ok(())` only if the pairing check passes.
pub fn verify(
    pvk: &PreparedVerifyingKey<Bn254>,
    public_inputs: &[Fr],
    proof: &Proof<Bn254>,
) -> Result<(), VerifyError> {
    let expected = pvk.vk.gamma_abc_g1.len().saturating_sub(1);
    if public_inputs.len() != expected {
        // arkworks would silently ignore extra inputs or treat missing ones as zero.
        return Err(VerifyError::WrongInputCount {
            expected,
            found: public_inputs.len(),
        });
    }
    if !g1_ok(&proof.a) {
        return Err(VerifyError::MalformedProof(
            "A is not a non-zero point of G1",
        ));
    }
    if !g2_ok(&proof.b) {
        return Err(VerifyError::MalformedProof(
            "B is not a non-zero point of G2",
        ));
    }
    if !g1_ok(&proof.c) {
        return Err(VerifyError::MalformedProof(
            "C is not a non-zero point of G1",
        ));
    }
    match Groth16::<Bn254>::verify_proof(pvk, proof, public_inputs) {
        Ok(true) => Ok(()),
        // arkworks' verifier cannot fail on valid points; treat any error as a rejection.
        Ok(false) | Err(_) => Err(VerifyError::Rejected),
    }
}

/// The outcome of verifying one batch of a proofs file.
#[derive(Debug)]
pub struct BatchVerdict {
    /// The batch's index in the epoch.
    pub batch_index: u64,
    /// `Ok(())` if the batch's proof verifies with its public inputs.
    pub result: Result<(), VerifyError>,
}

/// The outcome of verifying every batch of a proofs file.
#[derive(Debug)]
pub struct VerifyReport {
    /// One verdict per batch, in file order.
    pub batches: Vec<BatchVerdict>,
}

impl VerifyReport {
    /// True if every batch verified (and there is at least one).
    pub fn all_verified(&self) -> bool {
        !self.batches.is_empty() && self.batches.iter().all(|b| b.result.is_ok())
    }
}
