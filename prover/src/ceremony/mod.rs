//! Keys from a phase-2 ceremony: import the final `.zkey` of a snarkjs (0.7) Groth16 ceremony
//! as gridproof keys, refusing one made for any other constraint system.
//!
//! What an import checks (docs/ceremony-import.md says more, and what it leaves to
//! `snarkjs zkey verify`):
//! - the file: every length, every point on its curve and reduced, every coefficient below r
//!   ([`zkey`]);
//! - the circuit: the numbers of public inputs, variables and constraints, the domain, and the
//!   A and B matrices equal the circuit's own, synthesized here ([`circuit`]);
//! - the ceremony: at least one contribution, each transcript consistent with the ones before,
//!   the last contribution's delta is the key's delta, delta in G1 and G2 agree;
//! - the verifying key: [`crate::keys::check_verifying_key`] (subgroups, delta != 1, ...).
//!
//! The keys prove with snarkjs' QAP reduction ([`reduction::CircomReduction`]), recorded in the
//! key directory so that `prove` uses it.

use std::path::{Path, PathBuf};

use ark_bn254::Bn254;
use ark_ec::pairing::Pairing;
use ark_groth16::{ProvingKey, VerifyingKey};
use ark_relations::gr1cs::{ConstraintSynthesizer, SynthesisError};

use gridproof_circuits::statement::BatchCircuit;

use crate::groth16::{MsmBackend, PreparedProvingKey};
use crate::hashing::sha256_hex;
use crate::keys::{
    check_verifying_key, BeaconRecord, ContributionKind, ContributionRecord, Keys, Provenance,
    QapReduction, VerifyingKeyDefect,
};
use crate::shape::BatchShape;
use crate::Fr;

pub mod circuit;
pub mod reduction;
pub mod zkey;

pub use circuit::{check_zkey_matches, CircuitMatrices, CircuitMismatch};
pub use reduction::CircomReduction;
pub use zkey::{snarkjs_hash_lines, Contribution, ContributionType, MpcParams, Zkey, ZkeyError};

/// The phases of an import, reported as each one starts so a command line can show progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportPhase {
    /// Reading the zkey file into memory.
    Reading,
    /// Parsing and checking the zkey's points (in parallel), hashing the file, and synthesizing
    /// the circuit.
    Parsing,
    /// Comparing the zkey's dimensions and A and B matrices with the circuit's.
    Comparing,
    /// Checking the contributions and the verifying key.
    Checking,
}

/// Why a zkey was not imported. Every message names the zkey file.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The zkey file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a valid BN254 Groth16 zkey.
    #[error("{}: invalid zkey: {source}", path.display())]
    Zkey {
        /// The zkey file.
        path: PathBuf,
        /// What is wrong.
        #[source]
        source: ZkeyError,
    },
    /// The zkey was made for another constraint system.
    #[error("{}: not a key of this circuit: {source}", path.display())]
    WrongCircuit {
        /// The zkey file.
        path: PathBuf,
        /// What differs.
        #[source]
        source: CircuitMismatch,
    },
    /// The zkey has no phase-2 contribution: its delta is 1, so anyone can forge proofs.
    #[error(
        "{}: the zkey has no phase-2 contribution (delta is still the generator that `snarkjs \
         zkey new` starts from), so anyone can forge proofs with it; import the final zkey of \
         the ceremony, after `snarkjs zkey contribute` and `snarkjs zkey beacon`",
        path.display()
    )]
    NoContribution {
        /// The zkey file.
        path: PathBuf,
    },
    /// The key's parts disagree with each other (e.g. delta in G1 and in G2).
    #[error("{}: inconsistent zkey: {reason}", path.display())]
    Inconsistent {
        /// The zkey file.
        path: PathBuf,
        /// What disagrees.
        reason: String,
    },
    /// The verifying key fails a sanity check.
    #[error("{}: unsafe verifying key: {defect}", path.display())]
    UnsafeVerifyingKey {
        /// The zkey file.
        path: PathBuf,
        /// What is wrong.
        defect: VerifyingKeyDefect,
    },
    /// The circuit to compare with could not be synthesized.
    #[error("synthesizing the circuit {circuit_name} failed: {source}")]
    Synthesis {
        /// The circuit.
        circuit_name: String,
        /// Why.
        #[source]
        source: SynthesisError,
    },
}

/// How a shape is named in messages: "(S,T)", with P when it is not the default.
pub fn shape_name(shape: &BatchShape) -> String {
    if shape.price_slots == BatchShape::DEFAULT_PRICE_SLOTS {
        format!("({},{})", shape.sites, shape.readings_per_site)
    } else {
        format!(
            "({},{},P={})",
            shape.sites, shape.readings_per_site, shape.price_slots
        )
    }
}

/// Imports the final zkey of a phase-2 ceremony for gridproof's batch statement of `shape`:
/// reads and checks the file, refuses it unless it was made for exactly this circuit and has
/// at least one contribution, and returns keys that prove with snarkjs' QAP reduction and
/// record the ceremony (file hash, contribution hashes) as their provenance.
///
/// Takes a few seconds and about twice the file's size in memory at S = 64.
pub fn import_zkey(
    path: &Path,
    shape: &BatchShape,
    progress: &mut dyn FnMut(ImportPhase),
) -> Result<Keys, ImportError> {
    import_zkey_with(
        path,
        shape,
        BatchCircuit::blank(*shape),
        &shape_name(shape),
        progress,
    )
}

impl Keys {
    /// [`import_zkey`] without progress reports.
    pub fn import_zkey(path: &Path, shape: &BatchShape) -> Result<Keys, ImportError> {
        import_zkey(path, shape, &mut |_| {})
    }
}

/// [`import_zkey`] for any circuit: `blank` is the circuit without a witness (tests use toy
/// circuits), `circuit_name` names it in errors. The keys are labelled with `shape`.
pub fn import_zkey_with<C>(
    path: &Path,
    shape: &BatchShape,
    blank: C,
    circuit_name: &str,
    progress: &mut dyn FnMut(ImportPhase),
) -> Result<Keys, ImportError>
where
    C: ConstraintSynthesizer<Fr> + Send,
{
    progress(ImportPhase::Reading);
    let bytes = std::fs::read(path).map_err(|source| ImportError::Io {
        path: path.to_path_buf(),
        source,
    })?;

    progress(ImportPhase::Parsing);
    // The parse is parallel; hashing and synthesis are serial and overlap with it.
    let ((zkey_sha256, parsed), matrices) = rayon::join(
        || rayon::join(|| sha256_hex(&bytes), || Zkey::parse(&bytes)),
        || CircuitMatrices::of(blank),
    );
    drop(bytes);
    let zkey = parsed.map_err(|source| ImportError::Zkey {
        path: path.to_path_buf(),
        source,
    })?;
    let matrices = matrices.map_err(|source| ImportError::Synthesis {
        circuit_name: circuit_name.to_string(),
        source,
    })?;

    progress(ImportPhase::Comparing);
    check_zkey_matches(&zkey, &matrices, circuit_name).map_err(|source| {
        ImportError::WrongCircuit {
            path: path.to_path_buf(),
            source,
        }
    })?;
    let num_constraints = matrices.num_constraints;
    drop(matrices);

    progress(ImportPhase::Checking);
    let provenance = check_ceremony(path, &zkey, zkey_sha256)?;
    let num_public = zkey.num_public;
    let proving_key = into_proving_key(zkey);
    let verifying_key = proving_key.vk.clone();
    check_verifying_key(&verifying_key, num_public).map_err(|defect| {
        ImportError::UnsafeVerifyingKey {
            path: path.to_path_buf(),
            defect,
        }
    })?;
    let proving_key = PreparedProvingKey::new(proving_key, MsmBackend::default()).map_err(|e| {
        ImportError::Inconsistent {
            path: path.to_path_buf(),
            reason: e.to_string(),
        }
    })?;
    Ok(Keys {
        shape: *shape,
        provenance,
        proving_key,
        verifying_key,
        num_constraints,
        qap_reduction: QapReduction::Circom,
        matrices: Default::default(),
    })
}

/// Checks the contributions and the consistency of the key's deltas and betas, and returns the
/// provenance to record.
fn check_ceremony(
    path: &Path,
    zkey: &Zkey,
    zkey_sha256: String,
) -> Result<Provenance, ImportError> {
    let inconsistent = |reason: String| ImportError::Inconsistent {
        path: path.to_path_buf(),
        reason,
    };
    let Some(last) = zkey.mpc.contributions.last() else {
        return Err(ImportError::NoContribution {
            path: path.to_path_buf(),
        });
    };
    zkey.mpc
        .check_transcripts()
        .map_err(|source| ImportError::Zkey {
            path: path.to_path_buf(),
            source,
        })?;
    if last.delta_after != zkey.delta_g1 {
        return Err(inconsistent(
            "delta1 is not the delta after the last contribution".to_string(),
        ));
    }
    // The prover uses delta and beta in G1 and G2; they must be the same two exponents (one
    // pairing equation, which holds whatever generators the key was made with).
    if Bn254::pairing(zkey.delta_g1, zkey.beta_g2) != Bn254::pairing(zkey.beta_g1, zkey.delta_g2) {
        return Err(inconsistent(
            "delta1 and delta2 (or beta1 and beta2) are not the same exponent: \
             e(delta1, beta2) != e(beta1, delta2)"
                .to_string(),
        ));
    }
    let contributions = zkey
        .mpc
        .contributions
        .iter()
        .map(|c| ContributionRecord {
            name: c.name.clone().unwrap_or_default(),
            hash: hex::encode(c.hash()),
            kind: match c.kind {
                ContributionType::Contribution => ContributionKind::Contribution,
                ContributionType::Beacon => ContributionKind::Beacon,
            },
            beacon: match (&c.beacon_hash, c.beacon_iterations_exp) {
                (Some(hash), Some(iterations_exp)) => Some(BeaconRecord {
                    hash: hex::encode(hash),
                    iterations_exp,
                }),
                _ => None,
            },
        })
        .collect();
    Ok(Provenance::Ceremony {
        zkey_sha256,
        circuit_hash: hex::encode(zkey.mpc.circuit_hash),
        contributions,
    })
}

/// The arkworks proving key of a zkey (its vectors are moved, not copied). snarkjs' sections
/// map one to one: IC is `gamma_abc_g1`, C (the private signals' points) is `l_query`, H is
/// `h_query` (for the circom reduction).
fn into_proving_key(zkey: Zkey) -> ProvingKey<Bn254> {
    ProvingKey {
        vk: VerifyingKey {
            alpha_g1: zkey.alpha_g1,
            beta_g2: zkey.beta_g2,
            gamma_g2: zkey.gamma_g2,
            delta_g2: zkey.delta_g2,
            gamma_abc_g1: zkey.ic,
        },
        beta_g1: zkey.beta_g1,
        delta_g1: zkey.delta_g1,
        a_query: zkey.a,
        b_g1_query: zkey.b_g1,
        b_g2_query: zkey.b_g2,
        h_query: zkey.h,
        l_query: zkey.c,
    }
}

#[cfg(test)]
mod tests;
