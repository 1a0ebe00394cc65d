//! Groth16 keys of one batch shape, their development setup, and their directory on disk.
//!
//! A key directory holds three files:
//! - `manifest.json`: format version, shape, provenance, constraint and public-input counts, the
//!   SHA-256 and size of each key file, creation time (RFC 3339, UTC);
//! - `proving.key`: header + the proving key, ark-serialize *uncompressed*; it is loaded without
//!   curve or subgroup checks (`Validate::No`) for speed, which is safe only because its SHA-256
//!   must match the manifest before it is used;
//! - `verifying.key`: header + the verifying key, ark-serialize compressed, fully validated on load
//!   and then sanity-checked ([`check_verifying_key`]).
//!
//! Each key file starts with a 64-byte header (16-byte magic, then S, T, P, registry depth,
//! number of constraints and number of public inputs as little-endian u64) that is covered by
//! the file's hash, so a manifest edited to claim another shape is refused.

use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use ark_bn254::{Bn254, G2Affine};
use ark_ec::AffineRepr;
use ark_ff::FftField;
use ark_groth16::{Groth16, ProvingKey, VerifyingKey};
use ark_poly::{EvaluationDomain, GeneralEvaluationDomain};
use ark_relations::gr1cs::{ConstraintSynthesizer, SynthesisError, SynthesisMode};
use ark_serialize::{CanonicalDeserialize, CanonicalSerialize, Compress, Validate};
use rand::{CryptoRng, RngCore};
use serde::{Deserialize, Serialize};

use gridproof_circuits::statement::BatchCircuit;

use crate::fs::{parent_dir, read_bounded, sibling_path, sync_dir, BoundedReadError};
use crate::groth16::{Groth16Error, MsmBackend, PreparedProvingKey};
use crate::hashing::{sha256_hex, HashingReader, HashingWriter};
use crate::prove::{new_constraint_system, untraced};
use crate::r1cs::MatricesCache;
use crate::shape::{BatchShape, ShapeRecord};
use crate::Fr;

/// Name of the manifest file in a key directory.
pub const MANIFEST_FILE: &str = "manifest.json";
/// Name of the proving key file in a key directory.
pub const PROVING_KEY_FILE: &str = "proving.key";
/// Name of the verifying key file in a key directory.
pub const VERIFYING_KEY_FILE: &str = "verifying.key";
/// The key directory format this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;

const PK_MAGIC: &[u8; 16] = b"gridproof-pk-v1\n";
const VK_MAGIC: &[u8; 16] = b"gridproof-vk-v1\n";
/// A manifest is a few hundred bytes; refuse to read anything absurd.
const MAX_MANIFEST_BYTES: u64 = 1 << 20;
/// A verifying key is a few hundred bytes per public input.
const MAX_VERIFYING_KEY_BYTES: u64 = 16 << 20;

/// Where a pair of keys came from, and so whom one must trust for soundness.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Provenance {
    /// A single-party setup on one machine: whoever ran it knew the toxic waste and can forge
    /// proofs of any statement. For development and tests only.
    Development,
    /// Imported from the final `.zkey` of a snarkjs phase-2 ceremony
    /// ([`crate::ceremony::import_zkey`]): proofs can be forged only if every contributor
    /// colluded (or kept their randomness), provided the zkey passed `snarkjs zkey verify`
    /// against the r1cs and the powers of tau.
    Ceremony {
        /// SHA-256 of the whole zkey file, lower-case hex: names the exact file imported.
        zkey_sha256: String,
        /// snarkjs' circuit hash (BLAKE2b-512, hex) of the initial zkey, which every
        /// contribution's transcript starts from.
        circuit_hash: String,
        /// The contributions, first to last.
        contributions: Vec<ContributionRecord>,
    },
}

/// One phase-2 contribution of a ceremony, as `snarkjs zkey verify` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContributionRecord {
    /// The name the contributor gave (empty if none).
    pub name: String,
    /// The contribution hash (BLAKE2b-512, 128 lower-case hex digits), the value the
    /// contributor was shown and should find in the published transcript.
    pub hash: String,
    /// A person's contribution or a public random beacon.
    pub kind: ContributionKind,
    /// For a beacon, its value and iteration count, so anyone can recompute it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub beacon: Option<BeaconRecord>,
}

/// Whether a contribution came from a contributor's secret randomness or a public beacon.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContributionKind {
    /// `snarkjs zkey contribute`.
    Contribution,
    /// `snarkjs zkey beacon`: the randomness is derived from a public value, so this
    /// contribution adds no secret; it makes the final key unpredictable to the earlier ones.
    Beacon,
}

/// The parameters of a beacon contribution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BeaconRecord {
    /// The beacon value, hex.
    pub hash: String,
    /// log2 of the number of hash iterations.
    pub iterations_exp: u8,
}

/// The R1CS-to-QAP reduction a proving key was made for: it fixes what the H points are, so
/// the prover must use the same one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QapReduction {
    /// arkworks' default (libsnark's): `n - 1` H points. Development keys use it.
    #[default]
    Libsnark,
    /// snarkjs' (circom's): `n` H points on the odd coset of the doubled domain
    /// ([`crate::ceremony::reduction::CircomReduction`]). Keys imported from a zkey use it.
    Circom,
}

impl QapReduction {
    fn is_libsnark(&self) -> bool {
        *self == QapReduction::Libsnark
    }

    /// The number of H points a proving key of this reduction has for an FFT domain of
    /// `domain_size` points.
    pub fn h_query_len(self, domain_size: usize) -> usize {
        match self {
            QapReduction::Libsnark => domain_size - 1,
            QapReduction::Circom => domain_size,
        }
    }
}

impl Provenance {
    /// A warning to show whenever these keys are made or used, if they are not production keys.
    pub fn warning(&self) -> Option<&'static str> {
        match self {
            Provenance::Development => Some(
                "these keys come from a single-party development setup: whoever ran it can \
                 forge proofs. Use them for development only; production keys come from a \
                 phase-2 ceremony.",
            ),
            Provenance::Ceremony { .. } => None,
        }
    }
}

/// The proving and verifying keys of one batch shape, as produced by a setup or loaded from a
/// key directory. The proving key is not secret (the toxic waste is not in it) but large:
/// hundreds of MB at S = 64, so it is held once, already prepared for the prover's backend.
#[derive(Debug, Clone)]
pub struct Keys {
    /// The batch shape the keys were made for.
    pub shape: BatchShape,
    /// Where the keys came from.
    pub provenance: Provenance,
    /// The Groth16 proving key, prepared for the backend [`crate::prove::prove`] uses (the
    /// default, [`MsmBackend::Hybrid`], unless chosen with [`Keys::load_with_backend`] or
    /// [`Keys::with_backend`]). Its only copy in memory.
    pub proving_key: PreparedProvingKey,
    /// The Groth16 verifying key (equal to `proving_key.vk`).
    pub verifying_key: VerifyingKey<Bn254>,
    /// Number of R1CS constraints of the circuit the keys were made for.
    pub num_constraints: usize,
    /// The QAP reduction the proving key was made for (the prover must use the same).
    pub qap_reduction: QapReduction,
    /// The circuit's constraint matrices in the prover's compact form, built on the first
    /// proof (or by [`Keys::prepare_for_proving`]) and kept, so that each proof synthesizes
    /// only its witness.
    pub(crate) matrices: MatricesCache,
}

/// The size and hash of one key file, as recorded in the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyFileRecord {
    /// The file's name inside the key directory (fixed: `proving.key` or `verifying.key`).
    pub file: String,
    /// The file's size in bytes.
    pub bytes: u64,
    /// The SHA-256 of the whole file, lower-case hex.
    pub sha256: String,
}

/// The contents of `manifest.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The key directory format ([`FORMAT_VERSION`]).
    pub format_version: u32,
    /// The batch shape the keys were made for.
    pub shape: ShapeRecord,
    /// Where the keys came from.
    pub provenance: Provenance,
    /// Number of R1CS constraints of the circuit.
    pub num_constraints: u64,
    /// Number of public inputs of the statement (without the constant 1).
    pub num_public_inputs: u64,
    /// The QAP reduction of the proving key; absent (libsnark) in development manifests,
    /// including those written before ceremony imports existed.
    #[serde(default, skip_serializing_if = "QapReduction::is_libsnark")]
    pub qap_reduction: QapReduction,
    /// The proving key file.
    pub proving_key: KeyFileRecord,
    /// The verifying key file.
    pub verifying_key: KeyFileRecord,
    /// When the keys were made, RFC 3339 in UTC.
    pub created_at: String,
}

/// What is wrong with a verifying key that would make it unsafe to trust.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyingKeyDefect {
    /// alpha is the point at infinity.
    #[error("alpha_g1 is the point at infinity")]
    AlphaIsIdentity,
    /// beta is the point at infinity.
    #[error("beta_g2 is the point at infinity")]
    BetaIsIdentity,
    /// gamma is the point at infinity.
    #[error("gamma_g2 is the point at infinity")]
    GammaIsIdentity,
    /// delta is the point at infinity.
    #[error("delta_g2 is the point at infinity")]
    DeltaIsIdentity,
    /// gamma = delta lets anyone forge proofs by moving terms between the public-input and the
    /// witness part of the pairing equation.
    #[error("gamma_g2 equals delta_g2: anyone could forge proofs with this key")]
    GammaEqualsDelta,
    /// delta is the G2 generator: delta = 1, as before any phase-2 contribution.
    #[error(
        "delta_g2 is the G2 generator (delta = 1): the key has no phase-2 contribution, anyone can forge proofs"
    )]
    DeltaIsGenerator,
    /// The key commits to another number of public inputs.
    #[error("gamma_abc_g1 has {found} points but the statement needs {expected} (1 + number of public inputs)")]
    WrongInputCount {
        /// 1 + the number of public inputs of the statement.
        expected: usize,
        /// The number of points in the key.
        found: usize,
    },
    /// A point is not on the curve or not in the prime-order subgroup.
    #[error("{0} is not a point of the prime-order subgroup")]
    NotInGroup(&'static str),
}

/// Why keys could not be made, saved or loaded.
#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    /// A file system operation failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// Saving would overwrite an existing key directory.
    #[error("{} already exists and is not an empty directory; remove it or choose another", .0.display())]
    AlreadyExists(PathBuf),
    /// `manifest.json` is missing, not valid JSON, or of an unsupported format.
    #[error("{}: {reason}", path.display())]
    Manifest {
        /// The manifest's path.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A key file's SHA-256 differs from the manifest's: corrupt, truncated or replaced.
    #[error("{}: SHA-256 is {actual} but manifest.json says {expected}; the file is corrupt or was replaced", file.display())]
    HashMismatch {
        /// The key file.
        file: PathBuf,
        /// The hash in the manifest.
        expected: String,
        /// The hash of the file.
        actual: String,
    },
    /// A key file and the manifest disagree (e.g. the manifest was edited to another shape).
    #[error("{} was made for {field} {in_file}, but manifest.json says {in_manifest}", file.display())]
    ManifestMismatch {
        /// The key file.
        file: PathBuf,
        /// Which property differs.
        field: &'static str,
        /// The value in the key file's header.
        in_file: String,
        /// The value in the manifest.
        in_manifest: String,
    },
    /// A key file's contents are not a valid key of the expected form.
    #[error("{}: {reason}", file.display())]
    Corrupt {
        /// The key file.
        file: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The verifying key fails a sanity check.
    #[error("{}: unsafe verifying key: {defect}", file.display())]
    UnsafeVerifyingKey {
        /// The key file (or `(setup)` for a fresh key).
        file: PathBuf,
        /// What is wrong.
        defect: VerifyingKeyDefect,
    },
    /// Synthesizing the circuit for setup failed.
    #[error("setup: constraint synthesis failed: {0}")]
    Setup(SynthesisError),
    /// The proving key could not be prepared for the prover's backend.
    #[error("preparing the proving key: {0}")]
    Prepare(#[from] Groth16Error),
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> KeysError + '_ {
    move |source| KeysError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Runs a single-party Groth16 setup of the batch statement of `shape`.
///
/// For development only: the randomness drawn from `rng` is the toxic waste, and anyone who
/// knows it can forge proofs; the keys say so in their [`Provenance`] (the CLI prints the
/// warning). Takes seconds to minutes and several GB of memory at S = 64.
pub fn setup_development<R: RngCore + CryptoRng>(
    shape: &BatchShape,
    rng: &mut R,
) -> Result<Keys, KeysError> {
    setup_development_with(shape, BatchCircuit::blank(*shape), rng)
}

/// Runs a single-party Groth16 setup for `blank` (the circuit of `shape` with no witness);
/// [`setup_development`] for the batch statement, or any other circuit (tests, benchmarks).
/// The proving key is prepared for the default backend ([`Keys::with_backend`] changes it).
///
/// For development only: the randomness drawn from `rng` is the toxic waste, and anyone who
/// knows it can forge proofs; the keys say so in their [`Provenance`]. The circuit is
/// synthesized twice (once to count constraints and inputs, once by the generator).
pub fn setup_development_with<C, R>(
    shape: &BatchShape,
    blank: C,
    rng: &mut R,
) -> Result<Keys, KeysError>
where
    C: ConstraintSynthesizer<Fr> + Clone,
    R: RngCore + CryptoRng,
{
    let (num_constraints, num_public_inputs) =
        count_constraints(blank.clone()).map_err(KeysError::Setup)?;
    let proving_key =
        untraced(|| Groth16::<Bn254>::generate_random_parameters_with_reduction(blank, rng))
            .map_err(KeysError::Setup)?;
    let verifying_key = proving_key.vk.clone();
    check_verifying_key(&verifying_key, num_public_inputs).map_err(|defect| {
        KeysError::UnsafeVerifyingKey {
            file: PathBuf::from("(setup)"),
            defect,
        }
    })?;
    let proving_key = PreparedProvingKey::new(proving_key, MsmBackend::default())?;
    Ok(Keys {
        shape: *shape,
        provenance: Provenance::Development,
        proving_key,
        verifying_key,
        num_constraints,
        qap_reduction: QapReduction::Libsnark,
        matrices: Default::default(),
    })
}

/// Number of constraints and of public inputs of a circuit, synthesized in setup mode.
pub fn count_constraints<C: ConstraintSynthesizer<Fr>>(
    circuit: C,
) -> Result<(usize, usize), SynthesisError> {
    let cs = new_constraint_system(SynthesisMode::Setup);
    untraced(|| circuit.generate_constraints(cs.clone()))?;
    cs.finalize();
    Ok((cs.num_constraints(), cs.num_instance_variables() - 1))
}

/// A SHA-256 over a circuit's constraint system (dimensions and the A, B, C matrices), with its
/// constraint count: circuits with the same digest have the same constraints, so keys made for
/// one fit the other. Caches of development keys are keyed by it.
pub fn circuit_digest<C: ConstraintSynthesizer<Fr>>(
    circuit: C,
) -> Result<(usize, [u8; 32]), SynthesisError> {
    use ark_ff::{BigInteger, PrimeField};
    use sha2::{Digest, Sha256};
    let cs = new_constraint_system(SynthesisMode::Setup);
    untraced(|| circuit.generate_constraints(cs.clone()))?;
    cs.finalize();
    let mut hasher = Sha256::new();
    hasher.update((cs.num_instance_variables() as u64).to_le_bytes());
    hasher.update((cs.num_witness_variables() as u64).to_le_bytes());
    for (label, matrices) in cs.to_matrices()? {
        hasher.update(label.as_bytes());
        for matrix in matrices {
            hasher.update((matrix.len() as u64).to_le_bytes());
            for row in matrix {
                hasher.update((row.len() as u64).to_le_bytes());
                for (coefficient, variable) in row {
                    hasher.update(coefficient.into_bigint().to_bytes_le());
                    hasher.update((variable as u64).to_le_bytes());
                }
            }
        }
    }
    Ok((cs.num_constraints(), hasher.finalize().into()))
}

/// Checks a verifying key before it is trusted: alpha, beta, gamma, delta are not the identity,
/// gamma != delta, delta is not the G2 generator, every point is in its prime-order subgroup,
/// and there is one `gamma_abc_g1` point per public input plus one.
///
/// gamma may be the generator: snarkjs keys have gamma = 1 (the IC points are public anyway);
/// soundness rests on delta, which only a phase-2 contribution moves away from 1.
pub fn check_verifying_key(
    vk: &VerifyingKey<Bn254>,
    num_public_inputs: usize,
) -> Result<(), VerifyingKeyDefect> {
    use VerifyingKeyDefect::*;
    if vk.alpha_g1.is_zero() {
        return Err(AlphaIsIdentity);
    }
    if vk.beta_g2.is_zero() {
        return Err(BetaIsIdentity);
    }
    if vk.gamma_g2.is_zero() {
        return Err(GammaIsIdentity);
    }
    if vk.delta_g2.is_zero() {
        return Err(DeltaIsIdentity);
    }
    if vk.gamma_g2 == vk.delta_g2 {
        return Err(GammaEqualsDelta);
    }
    if vk.delta_g2 == G2Affine::generator() {
        return Err(DeltaIsGenerator);
    }
    if vk.gamma_abc_g1.len() != num_public_inputs + 1 {
        return Err(WrongInputCount {
            expected: num_public_inputs + 1,
            found: vk.gamma_abc_g1.len(),
        });
    }
    let g1_ok =
        |p: &ark_bn254::G1Affine| p.is_on_curve() && p.is_in_correct_subgroup_assuming_on_curve();
    let g2_ok = |p: &G2Affine| p.is_on_curve() && p.is_in_correct_subgroup_assuming_on_curve();
    if !g1_ok(&vk.alpha_g1) {
        return Err(NotInGroup("alpha_g1"));
    }
    if !g2_ok(&vk.beta_g2) {
        return Err(NotInGroup("beta_g2"));
    }
    if !g2_ok(&vk.gamma_g2) {
        return Err(NotInGroup("gamma_g2"));
    }
    if !g2_ok(&vk.delta_g2) {
        return Err(NotInGroup("delta_g2"));
    }
    if !vk.gamma_abc_g1.iter().all(g1_ok) {
        return Err(NotInGroup("a gamma_abc_g1 point"));
    }
    Ok(())
}

/// The 64-byte header at the start of each key file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct KeyHeader {
    shape: ShapeRecord,
    num_constraints: u64,
    num_public_inputs: u64,
}

impl KeyHeader {
    fn write(&self, magic: &[u8; 16], w: &mut impl Write) -> io::Result<()> {
        w.write_all(magic)?;
        for x in [
            self.shape.sites,
            self.shape.readings_per_site,
            self.shape.price_slots,
            self.shape.registry_depth,
            self.num_constraints,
            self.num_public_inputs,
        ] {
            w.write_all(&x.to_le_bytes())?;
        }
        Ok(())
    }

    /// Reads a header; `Ok(None)` if the magic is not `magic`.
    fn read(magic: &[u8; 16], r: &mut impl Read) -> io::Result<Option<Self>> {
        let mut m = [0u8; 16];
        r.read_exact(&mut m)?;
        if &m != magic {
            return Ok(None);
        }
        let mut x = [0u64; 6];
        for v in &mut x {
            let mut b = [0u8; 8];
            r.read_exact(&mut b)?;
            *v = u64::from_le_bytes(b);
        }
        Ok(Some(Self {
            shape: ShapeRecord {
                sites: x[0],
                readings_per_site: x[1],
                price_slots: x[2],
                registry_depth: x[3],
            },
            num_constraints: x[4],
            num_public_inputs: x[5],
        }))
    }

    fn check_against(&self, file: &Path, m: &Manifest) -> Result<(), KeysError> {
        let mismatch = |field, in_file: String, in_manifest: String| KeysError::ManifestMismatch {
            file: file.to_path_buf(),
            field,
            in_file,
            in_manifest,
        };
        if self.shape != m.shape {
            return Err(mismatch(
                "shape",
                self.shape.to_string(),
                m.shape.to_string(),
            ));
        }
        if self.num_constraints != m.num_constraints {
            return Err(mismatch(
                "number of constraints",
                self.num_constraints.to_string(),
                m.num_constraints.to_string(),
            ));
        }
        if self.num_public_inputs != m.num_public_inputs {
            return Err(mismatch(
                "number of public inputs",
                self.num_public_inputs.to_string(),
                m.num_public_inputs.to_string(),
            ));
        }
        Ok(())
    }
}

impl Keys {
    /// The same keys with the proving key prepared for `backend` (converted only if the layout
    /// differs: [`MsmBackend::Hybrid`] has its own, the others share arkworks').
    pub fn with_backend(self, backend: MsmBackend) -> Result<Keys, KeysError> {
        Ok(Keys {
            proving_key: self.proving_key.into_backend(backend)?,
            ..self
        })
    }

    /// Number of public inputs of the statement (without the constant 1).
    pub fn num_public_inputs(&self) -> usize {
        self.verifying_key.gamma_abc_g1.len().saturating_sub(1)
    }

    fn header(&self) -> KeyHeader {
        KeyHeader {
            shape: ShapeRecord::of(&self.shape),
            num_constraints: self.num_constraints as u64,
            num_public_inputs: self.num_public_inputs() as u64,
        }
    }

    /// Writes the key directory `dir` atomically: the files are written and synced in a
    /// temporary sibling directory that is then renamed to `dir`, so `dir` is either absent or
    /// complete. Refuses to replace a non-empty `dir`. Returns the manifest written.
    pub fn save(&self, dir: &Path) -> Result<Manifest, KeysError> {
        if let Ok(mut entries) = fs::read_dir(dir) {
            if entries.next().is_some() {
                return Err(KeysError::AlreadyExists(dir.to_path_buf()));
            }
        } else if dir.exists() {
            return Err(KeysError::AlreadyExists(dir.to_path_buf()));
        }
        let tmp = sibling_path(dir, "tmp").map_err(io_err(dir))?;
        fs::create_dir(&tmp).map_err(io_err(&tmp))?;
        let result = self.write_files(&tmp).and_then(|manifest| {
            fs::rename(&tmp, dir).map_err(io_err(dir))?;
            // Make the rename itself durable.
            let parent = parent_dir(dir);
            sync_dir(parent).map_err(io_err(parent))?;
            Ok(manifest)
        });
        if result.is_err() {
            // Best effort: the temporary directory is ours and must not be left half-written.
            let _ = fs::remove_dir_all(&tmp);
        }
        result
    }

    fn write_files(&self, dir: &Path) -> Result<Manifest, KeysError> {
        let header = self.header();
        let pk_path = dir.join(PROVING_KEY_FILE);
        let (pk_sha, pk_bytes) = write_key_file(&pk_path, PK_MAGIC, &header, |w| {
            self.proving_key.serialize_uncompressed(w)
        })?;
        let vk_path = dir.join(VERIFYING_KEY_FILE);
        let (vk_sha, vk_bytes) = write_key_file(&vk_path, VK_MAGIC, &header, |w| {
            self.verifying_key.serialize_with_mode(w, Compress::Yes)
        })?;
        let manifest = Manifest {
            format_version: FORMAT_VERSION,
            shape: header.shape,
            provenance: self.provenance.clone(),
            num_constraints: header.num_constraints,
            num_public_inputs: header.num_public_inputs,
            qap_reduction: self.qap_reduction,
            proving_key: KeyFileRecord {
                file: PROVING_KEY_FILE.to_string(),
                bytes: pk_bytes,
                sha256: pk_sha,
            },
            verifying_key: KeyFileRecord {
                file: VERIFYING_KEY_FILE.to_string(),
                bytes: vk_bytes,
                sha256: vk_sha,
            },
            created_at: rfc3339_utc(SystemTime::now()),
        };
        let manifest_path = dir.join(MANIFEST_FILE);
        let mut text = serde_json::to_string_pretty(&manifest)
            .expect("a manifest of strings and integers always serializes");
        text.push('\n');
        let mut f = File::create(&manifest_path).map_err(io_err(&manifest_path))?;
        f.write_all(text.as_bytes())
            .and_then(|()| f.sync_all())
            .map_err(io_err(&manifest_path))?;
        sync_dir(dir).map_err(io_err(dir))?;
        Ok(manifest)
    }

    /// Loads and checks a key directory: the manifest, both key files' SHA-256 against it, their
    /// headers against it, the verifying key's validity and sanity, and that the proving key
    /// belongs to the verifying key. The proving key is read in one streaming pass that hashes
    /// it; its points are not re-validated (the hash vouches for them). It is prepared for the
    /// default backend ([`MsmBackend::Hybrid`]).
    pub fn load(dir: &Path) -> Result<Keys, KeysError> {
        Self::load_with_backend(dir, MsmBackend::default())
    }

    /// [`Keys::load`], preparing the proving key for `backend`, once: the key as read is
    /// converted one point vector at a time, so no second copy of it is ever held.
    pub fn load_with_backend(dir: &Path, backend: MsmBackend) -> Result<Keys, KeysError> {
        let (shape, manifest) = read_shape(dir)?;
        let verifying_key = load_checked_verifying_key(dir, &manifest)?;
        let proving_key = load_proving_key(dir, &manifest)?;
        let pk_path = dir.join(PROVING_KEY_FILE);
        if proving_key.vk != verifying_key {
            return Err(KeysError::Corrupt {
                file: pk_path,
                reason: format!("the proving key does not belong to {VERIFYING_KEY_FILE}"),
            });
        }
        let num_constraints =
            usize::try_from(manifest.num_constraints).map_err(|_| KeysError::Manifest {
                path: dir.join(MANIFEST_FILE),
                reason: "num_constraints does not fit this machine".to_string(),
            })?;
        check_proving_key_sizes(
            &pk_path,
            &proving_key,
            num_constraints,
            verifying_key.gamma_abc_g1.len(),
            manifest.qap_reduction,
        )?;
        let proving_key =
            PreparedProvingKey::new(proving_key, backend).map_err(|e| KeysError::Corrupt {
                file: pk_path,
                reason: e.to_string(),
            })?;
        Ok(Keys {
            shape,
            provenance: manifest.provenance,
            proving_key,
            verifying_key,
            num_constraints,
            qap_reduction: manifest.qap_reduction,
            matrices: Default::default(),
        })
    }
}

/// Checks that the proving key's vectors have the lengths Groth16 needs for a circuit of
/// `num_constraints` constraints and `num_instance` instance variables (1 + public inputs),
/// made for `reduction`.
fn check_proving_key_sizes(
    file: &Path,
    pk: &ProvingKey<Bn254>,
    num_constraints: usize,
    num_instance: usize,
    reduction: QapReduction,
) -> Result<(), KeysError> {
    let corrupt = |reason: String| KeysError::Corrupt {
        file: file.to_path_buf(),
        reason,
    };
    let num_variables = pk.a_query.len();
    if pk.b_g1_query.len() != num_variables || pk.b_g2_query.len() != num_variables {
        return Err(corrupt("A and B queries differ in length".to_string()));
    }
    if num_variables < num_instance || pk.l_query.len() != num_variables - num_instance {
        return Err(corrupt(format!(
            "L query has {} points, expected {}",
            pk.l_query.len(),
            num_variables.saturating_sub(num_instance)
        )));
    }
    // Both counts come from the key directory: add them without trusting them not to overflow,
    // and bound the sum before ark-poly rounds it up to a power of two (which can overflow too).
    let domain_size = num_constraints.checked_add(num_instance).ok_or_else(|| {
        corrupt(format!(
            "{num_constraints} constraints and {num_instance} instance variables overflow the \
             domain size; the manifest's num_constraints is absurd"
        ))
    })?;
    let too_many = || corrupt("too many constraints for the BN254 FFT domain".to_string());
    if domain_size > 1usize << <Fr as FftField>::TWO_ADICITY {
        return Err(too_many());
    }
    let domain = GeneralEvaluationDomain::<Fr>::new(domain_size).ok_or_else(too_many)?;
    let expected_h = reduction.h_query_len(domain.size());
    if pk.h_query.len() != expected_h {
        return Err(corrupt(format!(
            "H query has {} points but {} constraints need {} with the {:?} reduction",
            pk.h_query.len(),
            num_constraints,
            expected_h,
            reduction
        )));
    }
    Ok(())
}

fn write_key_file(
    path: &Path,
    magic: &[u8; 16],
    header: &KeyHeader,
    body: impl FnOnce(
        &mut BufWriter<HashingWriter<File>>,
    ) -> Result<(), ark_serialize::SerializationError>,
) -> Result<(String, u64), KeysError> {
    let file = File::create(path).map_err(io_err(path))?;
    let mut w = BufWriter::with_capacity(1 << 20, HashingWriter::new(file));
    header.write(magic, &mut w).map_err(io_err(path))?;
    body(&mut w).map_err(|e| KeysError::Io {
        path: path.to_path_buf(),
        source: io::Error::other(e.to_string()),
    })?;
    let hw = w.into_inner().map_err(|e| KeysError::Io {
        path: path.to_path_buf(),
        source: e.into_error(),
    })?;
    let (file, sha, bytes) = hw.finish();
    file.sync_all().map_err(io_err(path))?;
    Ok((sha, bytes))
}

/// Reads and checks `manifest.json` of a key directory (without reading any key file): the
/// CLI uses it to show provenance and hashes.
pub fn read_manifest(dir: &Path) -> Result<Manifest, KeysError> {
    let path = dir.join(MANIFEST_FILE);
    let bad = |reason: String| KeysError::Manifest {
        path: path.clone(),
        reason,
    };
    let bytes = read_bounded(&path, MAX_MANIFEST_BYTES).map_err(|e| match e {
        BoundedReadError::Io(source) => io_err(&path)(source),
        too_large => bad(too_large.to_string()),
    })?;
    let text = String::from_utf8(bytes).map_err(|e| bad(format!("not UTF-8 text: {e}")))?;
    let version = serde_json::from_str::<serde_json::Value>(&text)
        .map_err(|e| bad(format!("not valid JSON: {e}")))?
        .get("format_version")
        .and_then(|v| v.as_u64());
    if version != Some(FORMAT_VERSION.into()) {
        return Err(bad(match version {
            Some(v) => {
                format!("format version {v} is not supported (this build reads {FORMAT_VERSION})")
            }
            None => "format_version is missing".to_string(),
        }));
    }
    let manifest: Manifest =
        serde_json::from_str(&text).map_err(|e| bad(format!("invalid manifest: {e}")))?;
    for (record, name) in [
        (&manifest.proving_key, PROVING_KEY_FILE),
        (&manifest.verifying_key, VERIFYING_KEY_FILE),
    ] {
        if record.file != name {
            return Err(bad(format!(
                "key file is '{}', expected '{name}'",
                record.file
            )));
        }
        if record.sha256.len() != 64
            || !record
                .sha256
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(bad(format!(
                "sha256 of {name} is not 64 lower-case hex digits"
            )));
        }
    }
    Ok(manifest)
}

/// Reads and checks `manifest.json` of a key directory ([`read_manifest`]) and the batch shape
/// it claims: it must fit this machine and pass `BatchShape::validate`. Reads no key file, so
/// it is cheap enough to check a batch file against the keys before loading them.
pub fn read_shape(dir: &Path) -> Result<(BatchShape, Manifest), KeysError> {
    let manifest = read_manifest(dir)?;
    let bad = |reason: String| KeysError::Manifest {
        path: dir.join(MANIFEST_FILE),
        reason,
    };
    let shape = manifest.shape.to_shape().ok_or_else(|| {
        bad(format!(
            "shape {} does not fit this machine",
            manifest.shape
        ))
    })?;
    shape
        .validate()
        .map_err(|e| bad(format!("shape {}: {e}", manifest.shape)))?;
    Ok((shape, manifest))
}

/// Loads only the verifying key of a key directory (never reading the large proving key),
/// checking its hash, header, validity and sanity; returns it with the shape it was made for.
pub fn load_verifying_key(dir: &Path) -> Result<(BatchShape, VerifyingKey<Bn254>), KeysError> {
    let (shape, manifest) = read_shape(dir)?;
    let vk = load_checked_verifying_key(dir, &manifest)?;
    Ok((shape, vk))
}

fn load_checked_verifying_key(
    dir: &Path,
    manifest: &Manifest,
) -> Result<VerifyingKey<Bn254>, KeysError> {
    let path = dir.join(VERIFYING_KEY_FILE);
    let bytes = read_bounded(&path, MAX_VERIFYING_KEY_BYTES).map_err(|e| match e {
        BoundedReadError::Io(source) => io_err(&path)(source),
        too_large => KeysError::Corrupt {
            file: path.clone(),
            reason: too_large.to_string(),
        },
    })?;
    let actual = sha256_hex(&bytes);
    if actual != manifest.verifying_key.sha256 {
        return Err(KeysError::HashMismatch {
            file: path,
            expected: manifest.verifying_key.sha256.clone(),
            actual,
        });
    }
    let corrupt = |reason: String| KeysError::Corrupt {
        file: path.clone(),
        reason,
    };
    let mut reader = &bytes[..];
    let header = KeyHeader::read(VK_MAGIC, &mut reader)
        .map_err(|e| corrupt(format!("header: {e}")))?
        .ok_or_else(|| corrupt("not a gridproof verifying key (bad magic)".to_string()))?;
    header.check_against(&path, manifest)?;
    let vk =
        VerifyingKey::<Bn254>::deserialize_with_mode(&mut reader, Compress::Yes, Validate::Yes)
            .map_err(|e| corrupt(format!("invalid verifying key: {e}")))?;
    if !reader.is_empty() {
        return Err(corrupt(format!(
            "{} unexpected bytes after the key",
            reader.len()
        )));
    }
    let num_public_inputs = usize::try_from(manifest.num_public_inputs)
        .map_err(|_| corrupt("absurd number of public inputs".to_string()))?;
    check_verifying_key(&vk, num_public_inputs).map_err(|defect| {
        KeysError::UnsafeVerifyingKey {
            file: path.clone(),
            defect,
        }
    })?;
    Ok(vk)
}

fn load_proving_key(dir: &Path, manifest: &Manifest) -> Result<ProvingKey<Bn254>, KeysError> {
    let path = dir.join(PROVING_KEY_FILE);
    let file = File::open(&path).map_err(io_err(&path))?;
    let mut reader = HashingReader::new(file);
    // Parse while hashing; whatever happens, hash the rest so a corrupt file is reported as a
    // hash mismatch first (the most useful message).
    let header = KeyHeader::read(PK_MAGIC, &mut reader);
    let key = match &header {
        Ok(Some(_)) => Some(ProvingKey::<Bn254>::deserialize_with_mode(
            &mut reader,
            Compress::No,
            Validate::No,
        )),
        _ => None,
    };
    let trailing = reader.drain().map_err(io_err(&path))?;
    let (actual, _) = reader.finish();
    if actual != manifest.proving_key.sha256 {
        return Err(KeysError::HashMismatch {
            file: path,
            expected: manifest.proving_key.sha256.clone(),
            actual,
        });
    }
    let corrupt = |reason: String| KeysError::Corrupt {
        file: path.clone(),
        reason,
    };
    let header = header
        .map_err(|e| corrupt(format!("header: {e}")))?
        .ok_or_else(|| corrupt("not a gridproof proving key (bad magic)".to_string()))?;
    header.check_against(&path, manifest)?;
    let key = key
        .expect("a key was parsed whenever the header was read")
        .map_err(|e| corrupt(format!("invalid proving key: {e}")))?;
    if trailing != 0 {
        return Err(corrupt(format!(
            "{trailing} unexpected bytes after the key"
        )));
    }
    Ok(key)
}

/// RFC 3339 timestamp in UTC with second precision, e.g. `2026-03-01T12:00:00Z`.
fn rfc3339_utc(t: SystemTime) -> String {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timestamps_are_rfc3339_utc() {
        let at = |s| rfc3339_utc(UNIX_EPOCH + Duration::from_secs(s));
        assert_eq!(at(0), "1970-01-01T00:00:00Z");
        assert_eq!(at(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(at(1_700_000_000), "2023-11-14T22:13:20Z");
    }

    #[test]
    fn absurd_constraint_counts_are_refused_without_overflow() {
        let g1 = ark_bn254::G1Affine::generator();
        let pk = ProvingKey::<Bn254> {
            vk: VerifyingKey::default(),
            beta_g1: g1,
            delta_g1: g1,
            a_query: vec![g1],
            b_g1_query: vec![g1],
            b_g2_query: vec![G2Affine::generator()],
            h_query: Vec::new(),
            l_query: Vec::new(),
        };
        let file = Path::new(PROVING_KEY_FILE);
        let err =
            check_proving_key_sizes(file, &pk, usize::MAX, 1, QapReduction::Libsnark).unwrap_err();
        assert!(
            matches!(&err, KeysError::Corrupt { reason, .. } if reason.contains("overflow")),
            "{err}"
        );
        let err = check_proving_key_sizes(file, &pk, usize::MAX - 1, 1, QapReduction::Circom)
            .unwrap_err();
        assert!(err.to_string().contains("FFT domain"), "{err}");
    }

    #[test]
    fn header_round_trips_and_checks_magic() {
        let h = KeyHeader {
            shape: ShapeRecord {
                sites: 4,
                readings_per_site: 24,
                price_slots: 4,
                registry_depth: 20,
            },
            num_constraints: 12345,
            num_public_inputs: 8,
        };
        let mut out = Vec::new();
        h.write(PK_MAGIC, &mut out).unwrap();
        assert_eq!(out.len(), 64);
        assert_eq!(KeyHeader::read(PK_MAGIC, &mut &out[..]).unwrap(), Some(h));
        assert_eq!(KeyHeader::read(VK_MAGIC, &mut &out[..]).unwrap(), None);
    }
}
