//! Reader of snarkjs' Groth16 `.zkey` files (format version 1, as snarkjs 0.7 writes them).
//!
//! The file is an iden3 binary container: the magic `zkey`, a u32 version, a u32 section count,
//! then sections, each a u32 id, a u64 byte length and the bytes (all little-endian, in any
//! order). A Groth16 zkey has ten:
//!
//! | id | contents |
//! |----|----------|
//! | 1  | protocol: u32 1 = Groth16 (2 = PLONK, 10 = FFLONK) |
//! | 2  | n8q, q, n8r, r, nVars, nPublic, domainSize (u32s and 32-byte integers), then alpha1, beta1, beta2, gamma2, delta1, delta2 |
//! | 3  | IC: nPublic + 1 G1 points |
//! | 4  | u32 count, then per coefficient of the A and B matrices: u32 matrix (0 = A, 1 = B), u32 constraint, u32 signal, 32-byte value |
//! | 5, 6, 7 | A (G1), B1 (G1), B2 (G2): nVars points each |
//! | 8  | C: the `nVars - nPublic - 1` private signals' points (arkworks' L query) |
//! | 9  | H: domainSize G1 points (the odd-coset bases of [`super::reduction`]) |
//! | 10 | contributions: 64-byte circuit hash, u32 count, then each contribution |
//!
//! Points are affine, each coordinate 32 bytes in Montgomery form (R = 2^256) little-endian,
//! G2 coordinates as c0 then c1; the identity is all zero bytes. That is the in-memory form of
//! arkworks' `Fp256`, so coordinates are taken as they are (no modular conversion), after
//! checking they are below q. A coefficient's 32 bytes are the canonical little-endian integer
//! `v * R^2 mod r` (snarkjs' prover multiplies it with a canonical witness value in Montgomery
//! arithmetic and gets `v * w` in Montgomery form).
//!
//! Every length is checked against the section that holds it before anything is allocated,
//! every point is checked to be on its curve (G1 has cofactor 1, so that is its subgroup),
//! and no input makes the reader panic.

use std::sync::{Mutex, PoisonError};

use ark_bn254::{Fq, Fq2, G1Affine, G2Affine};
use ark_ec::AffineRepr;
use ark_ff::{BigInt, BigInteger, FftField, PrimeField};
use blake2::{Blake2b512, Digest};
use rayon::prelude::*;

use crate::Fr;

/// Bytes of one base-field element.
const FQ_BYTES: usize = 32;
/// Bytes of one scalar-field element.
const FR_BYTES: usize = 32;
/// Bytes of an affine G1 point.
pub const G1_BYTES: usize = 2 * FQ_BYTES;
/// Bytes of an affine G2 point.
pub const G2_BYTES: usize = 4 * FQ_BYTES;
/// Bytes of one entry of the coefficients section.
const COEFFICIENT_BYTES: usize = 12 + FR_BYTES;
/// Bytes of the Groth16 header section.
const GROTH16_HEADER_BYTES: usize =
    3 * 4 + 2 * 4 + FQ_BYTES + FR_BYTES + 3 * G1_BYTES + 3 * G2_BYTES;
/// The largest domain this reader accepts: the circom reduction needs the doubled domain, and
/// BN254's scalar field has 2-adicity 28.
pub const MAX_DOMAIN_LOG2: u32 = <Fr as FftField>::TWO_ADICITY - 1;

/// The sections of a Groth16 zkey, by id.
const SECTION_NAMES: [&str; 11] = [
    "",
    "header",
    "Groth16 header",
    "IC points",
    "coefficients",
    "A points",
    "B1 points",
    "B2 points",
    "C points",
    "H points",
    "contributions",
];

/// What is wrong with a zkey file. Each message names the section, point or coefficient.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ZkeyError {
    /// The file does not start with `zkey`.
    #[error("not a zkey file (it does not start with \"zkey\")")]
    BadMagic,
    /// Another container version.
    #[error("zkey format version {0} is not supported (this build reads version 1)")]
    UnsupportedVersion(u32),
    /// The file ends inside a structure.
    #[error(
        "truncated: {what} needs {needed} bytes at offset {offset}, but only {available} are left"
    )]
    Truncated {
        /// What was being read.
        what: String,
        /// Its size in bytes.
        needed: u64,
        /// Where it starts (in the file or in its section).
        offset: u64,
        /// The bytes available from there.
        available: u64,
    },
    /// A section id appears more than once.
    #[error("section {id} ({}) appears more than once", section_name(*id))]
    DuplicateSection {
        /// The section id.
        id: u32,
    },
    /// A required section is absent.
    #[error("section {id} ({}) is missing", section_name(*id))]
    MissingSection {
        /// The section id.
        id: u32,
    },
    /// A section's length does not fit what the header says it holds.
    #[error("section {id} ({}) has {found} bytes, but the header implies {expected}", section_name(*id))]
    SectionSize {
        /// The section id.
        id: u32,
        /// Its length in the file.
        found: u64,
        /// The length implied by the header.
        expected: u64,
    },
    /// Bytes after the last section.
    #[error("{0} unexpected bytes after the last section")]
    TrailingBytes(u64),
    /// Not a Groth16 key.
    #[error("the zkey is a {0} key, not a Groth16 key")]
    NotGroth16(&'static str),
    /// The curve is not BN254 (bn128).
    #[error("the zkey is not for BN254 (bn128): {0}")]
    WrongCurve(String),
    /// A header value is out of range.
    #[error("header: {0}")]
    BadHeader(String),
    /// A point is not valid.
    #[error("{point}: {defect}")]
    BadPoint {
        /// Which point, e.g. "A point #12" or "delta2".
        point: String,
        /// What is wrong with it.
        defect: PointDefect,
    },
    /// A coefficient of the A or B matrix is not valid.
    #[error("coefficient #{index}: {reason}")]
    BadCoefficient {
        /// Its position in the coefficients section (0-based).
        index: usize,
        /// What is wrong.
        reason: String,
    },
    /// The contributions section is malformed or inconsistent.
    #[error("contributions: {0}")]
    BadContributions(String),
}

/// Why a point was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PointDefect {
    /// A coordinate is q or more (not a reduced Montgomery form).
    #[error("a coordinate is not below q")]
    NonCanonical,
    /// The coordinates do not satisfy the curve equation.
    #[error("not on the curve")]
    NotOnCurve,
}

fn section_name(id: u32) -> &'static str {
    SECTION_NAMES
        .get(id as usize)
        .copied()
        .filter(|name| !name.is_empty())
        .unwrap_or("unknown")
}

/// The matrix of a coefficient: snarkjs keeps A and B (C lives only in the points).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum MatrixId {
    /// The A matrix.
    #[default]
    A,
    /// The B matrix.
    B,
}

impl std::fmt::Display for MatrixId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            MatrixId::A => "A",
            MatrixId::B => "B",
        })
    }
}

/// One non-zero entry of the A or B matrix, as the zkey lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Coefficient {
    /// A or B.
    pub matrix: MatrixId,
    /// The row: constraints `0..num_constraints`, then one row per instance variable.
    pub constraint: u32,
    /// The column: the signal (0 = the constant one, then public, then private signals).
    pub signal: u32,
    /// The value (decoded from snarkjs' `v * R^2` form).
    pub value: Fr,
}

/// Whether a contribution came from a person (random entropy) or from a public beacon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContributionType {
    /// `snarkjs zkey contribute`: secret randomness.
    Contribution,
    /// `snarkjs zkey beacon`: randomness derived from a public beacon value.
    Beacon,
}

/// One phase-2 contribution, as recorded in the zkey.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contribution {
    /// delta (G1) after this contribution.
    pub delta_after: G1Affine,
    /// The contributor's public key: s in G1.
    pub g1_s: G1Affine,
    /// The contributor's public key: s * x in G1.
    pub g1_sx: G1Affine,
    /// The contributor's public key: s' * x in G2 (s' derived from the transcript).
    pub g2_spx: G2Affine,
    /// BLAKE2b-512 transcript up to this contribution.
    pub transcript: [u8; 64],
    /// Person or beacon.
    pub kind: ContributionType,
    /// The name the contributor gave, if any (snarkjs keeps at most 64 characters).
    pub name: Option<String>,
    /// For a beacon: log2 of the number of hash iterations.
    pub beacon_iterations_exp: Option<u8>,
    /// For a beacon: the beacon value.
    pub beacon_hash: Option<Vec<u8>>,
}

impl Contribution {
    /// The contribution hash that `snarkjs zkey verify` and `zkey contribute` print: BLAKE2b-512
    /// of the public key (delta after, s, s * x, s' * x as uncompressed big-endian points) and
    /// the transcript.
    pub fn hash(&self) -> [u8; 64] {
        let mut hasher = Blake2b512::new();
        self.hash_public_key(&mut hasher);
        hasher.finalize().into()
    }

    fn hash_public_key(&self, hasher: &mut Blake2b512) {
        hasher.update(g1_uncompressed(&self.delta_after));
        hasher.update(g1_uncompressed(&self.g1_s));
        hasher.update(g1_uncompressed(&self.g1_sx));
        hasher.update(g2_uncompressed(&self.g2_spx));
        hasher.update(self.transcript);
    }
}

/// The contributions section: the circuit hash and each contribution in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MpcParams {
    /// snarkjs' "circuit hash": BLAKE2b-512 of the initial key's points, fixed by the r1cs and
    /// the powers of tau; every contribution's transcript starts from it.
    pub circuit_hash: [u8; 64],
    /// The contributions, first to last.
    pub contributions: Vec<Contribution>,
}

impl MpcParams {
    /// Checks each contribution's transcript: BLAKE2b-512 of the circuit hash, the public keys
    /// of all earlier contributions, and this contribution's s and s * x. It catches a
    /// contributions section that was edited or spliced; the pairing checks that tie each
    /// public key to delta are `snarkjs zkey verify`'s job.
    pub fn check_transcripts(&self) -> Result<(), ZkeyError> {
        let mut accumulated = Blake2b512::new();
        accumulated.update(self.circuit_hash);
        for (i, c) in self.contributions.iter().enumerate() {
            let mut ours = accumulated.clone();
            ours.update(g1_uncompressed(&c.g1_s));
            ours.update(g1_uncompressed(&c.g1_sx));
            if ours.finalize().as_slice() != c.transcript {
                return Err(ZkeyError::BadContributions(format!(
                    "contribution #{} has an inconsistent transcript (the section was edited)",
                    i + 1
                )));
            }
            c.hash_public_key(&mut accumulated);
        }
        Ok(())
    }
}

/// A parsed Groth16 zkey. The point vectors are in arkworks' types, ready to become a
/// `ProvingKey` without copying.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Zkey {
    /// Number of signals (variables), the constant one included.
    pub num_vars: usize,
    /// Number of public signals (outputs and public inputs), the constant one excluded.
    pub num_public: usize,
    /// Size of the constraint domain: a power of two >= constraints + public signals + 1.
    pub domain_size: usize,
    /// alpha in G1.
    pub alpha_g1: G1Affine,
    /// beta in G1.
    pub beta_g1: G1Affine,
    /// beta in G2.
    pub beta_g2: G2Affine,
    /// gamma in G2 (snarkjs: the generator).
    pub gamma_g2: G2Affine,
    /// delta in G1.
    pub delta_g1: G1Affine,
    /// delta in G2.
    pub delta_g2: G2Affine,
    /// The public signals' points (arkworks' `gamma_abc_g1`).
    pub ic: Vec<G1Affine>,
    /// The A and B matrices, in file order.
    pub coefficients: Vec<Coefficient>,
    /// The A query: one point per signal.
    pub a: Vec<G1Affine>,
    /// The B query in G1: one point per signal.
    pub b_g1: Vec<G1Affine>,
    /// The B query in G2: one point per signal.
    pub b_g2: Vec<G2Affine>,
    /// The private signals' points (arkworks' `l_query`).
    pub c: Vec<G1Affine>,
    /// The H query: `domain_size` points for the circom reduction.
    pub h: Vec<G1Affine>,
    /// The circuit hash and the contributions.
    pub mpc: MpcParams,
}

/// A bounded reader over a byte slice; every read says what it was reading when it fails.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
    /// Offset of `bytes` in the file, for messages.
    base: u64,
}

impl<'a> Cursor<'a> {
    fn new(bytes: &'a [u8], base: u64) -> Self {
        Self {
            bytes,
            pos: 0,
            base,
        }
    }

    fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    fn take(&mut self, n: usize, what: &dyn Fn() -> String) -> Result<&'a [u8], ZkeyError> {
        if n > self.remaining() {
            return Err(ZkeyError::Truncated {
                what: what(),
                needed: n as u64,
                offset: self.base + self.pos as u64,
                available: self.remaining() as u64,
            });
        }
        let out = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    fn u8(&mut self, what: &str) -> Result<u8, ZkeyError> {
        Ok(self.take(1, &|| what.to_string())?[0])
    }

    fn u32(&mut self, what: &str) -> Result<u32, ZkeyError> {
        let b = self.take(4, &|| what.to_string())?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self, what: &str) -> Result<u64, ZkeyError> {
        let b = self.take(8, &|| what.to_string())?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }
}

fn limbs(bytes: &[u8]) -> BigInt<4> {
    let mut limbs = [0u64; 4];
    for (limb, chunk) in limbs.iter_mut().zip(bytes.chunks_exact(8)) {
        let mut a = [0u8; 8];
        a.copy_from_slice(chunk);
        *limb = u64::from_le_bytes(a);
    }
    BigInt::new(limbs)
}

/// A base-field element from its 32-byte little-endian Montgomery form, if reduced.
fn fq_from_montgomery(bytes: &[u8]) -> Option<Fq> {
    let repr = limbs(bytes);
    (repr < Fq::MODULUS).then(|| Fq::new_unchecked(repr))
}

/// An affine G1 point from snarkjs' 64-byte LEM form, checked to be on the curve.
pub fn g1_from_lem(bytes: &[u8]) -> Result<G1Affine, PointDefect> {
    if bytes.iter().all(|&b| b == 0) {
        return Ok(G1Affine::identity());
    }
    let x = fq_from_montgomery(&bytes[..FQ_BYTES]).ok_or(PointDefect::NonCanonical)?;
    let y = fq_from_montgomery(&bytes[FQ_BYTES..G1_BYTES]).ok_or(PointDefect::NonCanonical)?;
    let point = G1Affine::new_unchecked(x, y);
    if !point.is_on_curve() {
        return Err(PointDefect::NotOnCurve);
    }
    // BN254's G1 has cofactor 1: every point on the curve is in the group.
    Ok(point)
}

/// An affine G2 point from snarkjs' 128-byte LEM form, checked to be on the curve only (the
/// subgroup check costs ~100x more; see docs/ceremony-import.md for which points need it).
pub fn g2_from_lem(bytes: &[u8]) -> Result<G2Affine, PointDefect> {
    if bytes.iter().all(|&b| b == 0) {
        return Ok(G2Affine::identity());
    }
    let fq = |i: usize| {
        fq_from_montgomery(&bytes[i * FQ_BYTES..(i + 1) * FQ_BYTES])
            .ok_or(PointDefect::NonCanonical)
    };
    let x = Fq2::new(fq(0)?, fq(1)?);
    let y = Fq2::new(fq(2)?, fq(3)?);
    let point = G2Affine::new_unchecked(x, y);
    if !point.is_on_curve() {
        return Err(PointDefect::NotOnCurve);
    }
    Ok(point)
}

/// Writes a G1 point in snarkjs' LEM form (the inverse of [`g1_from_lem`]).
pub fn g1_to_lem(p: &G1Affine, out: &mut Vec<u8>) {
    match p.xy() {
        None => out.extend_from_slice(&[0u8; G1_BYTES]),
        Some((x, y)) => {
            for c in [x, y] {
                out.extend_from_slice(&c.0.to_bytes_le());
            }
        }
    }
}

/// Writes a G2 point in snarkjs' LEM form (the inverse of [`g2_from_lem`]).
pub fn g2_to_lem(p: &G2Affine, out: &mut Vec<u8>) {
    match p.xy() {
        None => out.extend_from_slice(&[0u8; G2_BYTES]),
        Some((x, y)) => {
            for c in [x.c0, x.c1, y.c0, y.c1] {
                out.extend_from_slice(&c.0.to_bytes_le());
            }
        }
    }
}

/// snarkjs' uncompressed form of a G1 point (hashed in transcripts): x and y as canonical
/// big-endian integers; the identity is all zeros.
pub fn g1_uncompressed(p: &G1Affine) -> [u8; G1_BYTES] {
    let mut out = [0u8; G1_BYTES];
    if let Some((x, y)) = p.xy() {
        out[..FQ_BYTES].copy_from_slice(&x.into_bigint().to_bytes_be());
        out[FQ_BYTES..].copy_from_slice(&y.into_bigint().to_bytes_be());
    }
    out
}

/// snarkjs' uncompressed form of a G2 point: x.c1, x.c0, y.c1, y.c0 as canonical big-endian
/// integers (each coordinate's 64 little-endian bytes reversed); the identity is all zeros.
pub fn g2_uncompressed(p: &G2Affine) -> [u8; G2_BYTES] {
    let mut out = [0u8; G2_BYTES];
    if let Some((x, y)) = p.xy() {
        for (i, c) in [x.c1, x.c0, y.c1, y.c0].iter().enumerate() {
            out[i * FQ_BYTES..(i + 1) * FQ_BYTES].copy_from_slice(&c.into_bigint().to_bytes_be());
        }
    }
    out
}

/// R^-1 mod r as a field element: the value whose Montgomery form is the integer 1.
const R_INVERSE: Fr = Fr::new_unchecked(BigInt::new([1, 0, 0, 0]));

/// A coefficient value from snarkjs' canonical `v * R^2 mod r` bytes, if below r.
fn coefficient_value(bytes: &[u8]) -> Option<Fr> {
    let repr = limbs(bytes);
    // Read as a Montgomery form, the integer m = v R^2 is the element m R^-1 = v R; one more
    // multiplication by R^-1 gives v.
    (repr < Fr::MODULUS).then(|| Fr::new_unchecked(repr) * R_INVERSE)
}

/// The inverse of [`coefficient_value`]: snarkjs' 32 bytes for a coefficient `v`.
pub fn coefficient_bytes(value: &Fr) -> [u8; FR_BYTES] {
    // v R in Montgomery form is the integer v R^2 mod r.
    let v_r = *value * Fr::new_unchecked(Fr::R2);
    let mut out = [0u8; FR_BYTES];
    out.copy_from_slice(&v_r.0.to_bytes_le());
    out
}

/// Parses `bytes` as consecutive items of `size` bytes, in parallel, into a vector allocated
/// once (rayon's `collect` of `Result`s would gather pieces and copy them: twice the time for
/// the 8 million coefficients of a (64,96) key). The error is the one of the first bad item.
fn parse_all<T, E>(
    bytes: &[u8],
    size: usize,
    parse: impl Fn(usize, &[u8]) -> Result<T, E> + Sync,
) -> Result<Vec<T>, E>
where
    T: Send + Default,
    E: Send,
{
    let first_error: Mutex<Option<(usize, E)>> = Mutex::new(None);
    let mut out = Vec::new();
    bytes
        .par_chunks_exact(size)
        .enumerate()
        .map(|(i, chunk)| match parse(i, chunk) {
            Ok(item) => item,
            Err(e) => {
                let mut first = first_error.lock().unwrap_or_else(PoisonError::into_inner);
                if first.as_ref().is_none_or(|(j, _)| i < *j) {
                    *first = Some((i, e));
                }
                T::default()
            }
        })
        .collect_into_vec(&mut out);
    match first_error
        .into_inner()
        .unwrap_or_else(PoisonError::into_inner)
    {
        Some((_, e)) => Err(e),
        None => Ok(out),
    }
}

fn parse_points<P: Send + Default>(
    section: &[u8],
    size: usize,
    name: &str,
    parse: fn(&[u8]) -> Result<P, PointDefect>,
) -> Result<Vec<P>, ZkeyError> {
    parse_all(section, size, |i, chunk| {
        parse(chunk).map_err(|defect| ZkeyError::BadPoint {
            point: format!("{name} #{i}"),
            defect,
        })
    })
}

fn single_g1(cursor: &mut Cursor<'_>, name: &str) -> Result<G1Affine, ZkeyError> {
    let bytes = cursor.take(G1_BYTES, &|| name.to_string())?;
    g1_from_lem(bytes).map_err(|defect| ZkeyError::BadPoint {
        point: name.to_string(),
        defect,
    })
}

fn single_g2(cursor: &mut Cursor<'_>, name: &str) -> Result<G2Affine, ZkeyError> {
    let bytes = cursor.take(G2_BYTES, &|| name.to_string())?;
    g2_from_lem(bytes).map_err(|defect| ZkeyError::BadPoint {
        point: name.to_string(),
        defect,
    })
}

/// A section's offset in the file and its bytes.
type Section<'a> = (u64, &'a [u8]);

/// The sections 1..=10 of the container, by id (index 0 unused).
fn sections(bytes: &[u8]) -> Result<[Option<Section<'_>>; 11], ZkeyError> {
    let mut cursor = Cursor::new(bytes, 0);
    let magic = cursor
        .take(4, &|| "the magic".to_string())
        .map_err(|_| ZkeyError::BadMagic)?;
    if magic != b"zkey" {
        return Err(ZkeyError::BadMagic);
    }
    let version = cursor.u32("the format version")?;
    if version != 1 {
        return Err(ZkeyError::UnsupportedVersion(version));
    }
    let count = cursor.u32("the number of sections")?;
    let mut found: [Option<Section<'_>>; 11] = [None; 11];
    // Each section header takes 12 bytes, so a huge count runs out of file quickly.
    for i in 0..count {
        let id = cursor.u32(&format!("the header of section entry #{i}"))?;
        let len = cursor.u64(&format!("the length of section {id}"))?;
        let offset = cursor.base + cursor.pos as u64;
        let len = usize::try_from(len).map_err(|_| ZkeyError::Truncated {
            what: format!("section {id} ({})", section_name(id)),
            needed: len,
            offset,
            available: cursor.remaining() as u64,
        })?;
        let data = cursor.take(len, &|| format!("section {id} ({})", section_name(id)))?;
        if let Some(slot) = found.get_mut(id as usize).filter(|_| id != 0) {
            if slot.is_some() {
                return Err(ZkeyError::DuplicateSection { id });
            }
            *slot = Some((offset, data));
        }
        // Other ids are not part of a Groth16 zkey; snarkjs ignores them, and so do we.
    }
    if cursor.remaining() != 0 {
        return Err(ZkeyError::TrailingBytes(cursor.remaining() as u64));
    }
    Ok(found)
}

fn expect_size(id: u32, section: &[u8], expected: u64) -> Result<(), ZkeyError> {
    if section.len() as u64 != expected {
        return Err(ZkeyError::SectionSize {
            id,
            found: section.len() as u64,
            expected,
        });
    }
    Ok(())
}

/// `count * size` for a section length, without overflow.
fn product(count: usize, size: usize) -> u64 {
    (count as u64).saturating_mul(size as u64)
}

impl Zkey {
    /// Parses a whole zkey file held in memory, checking every length and every point; the
    /// point sections are parsed in parallel. Does not check that the key fits a circuit, that
    /// it is safe to use, or that its contributions are consistent: see [`super::import_zkey`].
    pub fn parse(bytes: &[u8]) -> Result<Zkey, ZkeyError> {
        let sections = sections(bytes)?;
        let get = |id: u32| -> Result<Section<'_>, ZkeyError> {
            sections[id as usize].ok_or(ZkeyError::MissingSection { id })
        };

        // Section 1: the protocol.
        let (base, header) = get(1)?;
        let protocol = Cursor::new(header, base).u32("the protocol id")?;
        match protocol {
            1 => {}
            2 => return Err(ZkeyError::NotGroth16("PLONK")),
            10 => return Err(ZkeyError::NotGroth16("FFLONK")),
            _ => return Err(ZkeyError::NotGroth16("unknown-protocol")),
        }
        expect_size(1, header, 4)?;

        // Section 2: the Groth16 header.
        let (base, groth) = get(2)?;
        expect_size(2, groth, GROTH16_HEADER_BYTES as u64)?;
        let mut cursor = Cursor::new(groth, base);
        let n8q = cursor.u32("n8q")?;
        if n8q as usize != FQ_BYTES {
            return Err(ZkeyError::WrongCurve(format!(
                "its base field elements have {n8q} bytes, BN254's have 32"
            )));
        }
        if limbs(cursor.take(FQ_BYTES, &|| "q".to_string())?) != Fq::MODULUS {
            return Err(ZkeyError::WrongCurve(
                "its base field modulus q differs".into(),
            ));
        }
        let n8r = cursor.u32("n8r")?;
        if n8r as usize != FR_BYTES {
            return Err(ZkeyError::WrongCurve(format!(
                "its scalar field elements have {n8r} bytes, BN254's have 32"
            )));
        }
        if limbs(cursor.take(FR_BYTES, &|| "r".to_string())?) != Fr::MODULUS {
            return Err(ZkeyError::WrongCurve(
                "its scalar field modulus r differs".into(),
            ));
        }
        let num_vars = cursor.u32("nVars")? as usize;
        let num_public = cursor.u32("nPublic")? as usize;
        let domain_size = cursor.u32("domainSize")? as usize;
        if num_public >= num_vars {
            return Err(ZkeyError::BadHeader(format!(
                "{num_public} public signals plus the constant one do not fit in {num_vars} signals"
            )));
        }
        if !domain_size.is_power_of_two() {
            return Err(ZkeyError::BadHeader(format!(
                "the domain size {domain_size} is not a power of two"
            )));
        }
        if domain_size > 1 << MAX_DOMAIN_LOG2 {
            return Err(ZkeyError::BadHeader(format!(
                "the domain size {domain_size} is above 2^{MAX_DOMAIN_LOG2}, the largest BN254 supports with the circom reduction"
            )));
        }
        if domain_size <= num_public + 1 {
            return Err(ZkeyError::BadHeader(format!(
                "the domain size {domain_size} leaves no room for constraints beside the {} public rows",
                num_public + 1
            )));
        }
        let alpha_g1 = single_g1(&mut cursor, "alpha1")?;
        let beta_g1 = single_g1(&mut cursor, "beta1")?;
        let beta_g2 = single_g2(&mut cursor, "beta2")?;
        let gamma_g2 = single_g2(&mut cursor, "gamma2")?;
        let delta_g1 = single_g1(&mut cursor, "delta1")?;
        let delta_g2 = single_g2(&mut cursor, "delta2")?;

        // Sizes of the point sections, before anything is allocated.
        let num_private = num_vars - num_public - 1;
        let point_sections = [
            (3, num_public + 1, G1_BYTES),
            (5, num_vars, G1_BYTES),
            (6, num_vars, G1_BYTES),
            (7, num_vars, G2_BYTES),
            (8, num_private, G1_BYTES),
            (9, domain_size, G1_BYTES),
        ];
        for (id, count, size) in point_sections {
            expect_size(id, get(id)?.1, product(count, size))?;
        }

        // Section 4: the coefficients.
        let (base, coefficients) = get(4)?;
        let count = Cursor::new(coefficients, base).u32("the number of coefficients")? as usize;
        expect_size(
            4,
            coefficients,
            product(count, COEFFICIENT_BYTES).saturating_add(4),
        )?;
        let coefficients = parse_all(&coefficients[4..], COEFFICIENT_BYTES, |index, b| {
            parse_coefficient(index, b, num_vars)
        })?;

        let mpc = parse_contributions(get(10)?)?;

        let section = |id: u32| get(id).map(|(_, s)| s);
        let ((ic, a), (b_g1, (b_g2, (c, h)))) = rayon::join(
            || {
                rayon::join(
                    || parse_points(section(3)?, G1_BYTES, "IC point", g1_from_lem),
                    || parse_points(section(5)?, G1_BYTES, "A point", g1_from_lem),
                )
            },
            || {
                rayon::join(
                    || parse_points(section(6)?, G1_BYTES, "B1 point", g1_from_lem),
                    || {
                        rayon::join(
                            || parse_points(section(7)?, G2_BYTES, "B2 point", g2_from_lem),
                            || {
                                rayon::join(
                                    || parse_points(section(8)?, G1_BYTES, "C point", g1_from_lem),
                                    || parse_points(section(9)?, G1_BYTES, "H point", g1_from_lem),
                                )
                            },
                        )
                    },
                )
            },
        );
        Ok(Zkey {
            num_vars,
            num_public,
            domain_size,
            alpha_g1,
            beta_g1,
            beta_g2,
            gamma_g2,
            delta_g1,
            delta_g2,
            ic: ic?,
            coefficients,
            a: a?,
            b_g1: b_g1?,
            b_g2: b_g2?,
            c: c?,
            h: h?,
            mpc,
        })
    }
}

fn parse_coefficient(index: usize, b: &[u8], num_vars: usize) -> Result<Coefficient, ZkeyError> {
    let u32_at = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
    let bad = |reason: String| ZkeyError::BadCoefficient { index, reason };
    let matrix = match u32_at(0) {
        0 => MatrixId::A,
        1 => MatrixId::B,
        m => return Err(bad(format!("matrix {m} is neither A (0) nor B (1)"))),
    };
    let constraint = u32_at(4);
    let signal = u32_at(8);
    if signal as usize >= num_vars {
        return Err(bad(format!(
            "signal {signal} is out of range (the key has {num_vars} signals)"
        )));
    }
    let value =
        coefficient_value(&b[12..]).ok_or_else(|| bad("the value is not below r".to_string()))?;
    Ok(Coefficient {
        matrix,
        constraint,
        signal,
        value,
    })
}

fn parse_contributions((base, section): Section<'_>) -> Result<MpcParams, ZkeyError> {
    let mut cursor = Cursor::new(section, base);
    let mut circuit_hash = [0u8; 64];
    circuit_hash.copy_from_slice(cursor.take(64, &|| "the circuit hash".to_string())?);
    let count = cursor.u32("the number of contributions")?;
    // Each contribution takes at least 3 G1 + 1 G2 points, 64 + 8 bytes: bound the count by
    // the section before allocating.
    let min_size = 3 * G1_BYTES + G2_BYTES + 64 + 8;
    if product(count as usize, min_size) > cursor.remaining() as u64 {
        return Err(ZkeyError::BadContributions(format!(
            "{count} contributions cannot fit in {} bytes",
            cursor.remaining()
        )));
    }
    let mut contributions = Vec::with_capacity(count as usize);
    for i in 1..=count as usize {
        let point = |what: &str| format!("contribution #{i} {what}");
        let delta_after = single_g1(&mut cursor, &point("delta after"))?;
        let g1_s = single_g1(&mut cursor, &point("g1_s"))?;
        let g1_sx = single_g1(&mut cursor, &point("g1_sx"))?;
        let g2_spx = single_g2(&mut cursor, &point("g2_spx"))?;
        let mut transcript = [0u8; 64];
        transcript.copy_from_slice(cursor.take(64, &|| point("transcript"))?);
        let kind = match cursor.u32(&point("type"))? {
            0 => ContributionType::Contribution,
            1 => ContributionType::Beacon,
            t => {
                return Err(ZkeyError::BadContributions(format!(
                    "contribution #{i} has unknown type {t}"
                )))
            }
        };
        let params_len = cursor.u32(&point("parameter length"))? as usize;
        let params_base = cursor.base + cursor.pos as u64;
        let mut params = Cursor::new(
            cursor.take(params_len, &|| point("parameters"))?,
            params_base,
        );
        let mut contribution = Contribution {
            delta_after,
            g1_s,
            g1_sx,
            g2_spx,
            transcript,
            kind,
            name: None,
            beacon_iterations_exp: None,
            beacon_hash: None,
        };
        let mut last = 0u8;
        while params.remaining() > 0 {
            let tag = params.u8(&point("parameter tag"))?;
            if tag <= last {
                return Err(ZkeyError::BadContributions(format!(
                    "contribution #{i}: parameters are not sorted (tag {tag} after {last})"
                )));
            }
            last = tag;
            match tag {
                1 => {
                    let len = params.u8(&point("name length"))? as usize;
                    let name = params.take(len, &|| point("name"))?;
                    contribution.name = Some(String::from_utf8_lossy(name).into_owned());
                }
                2 => {
                    contribution.beacon_iterations_exp =
                        Some(params.u8(&point("beacon iterations"))?)
                }
                3 => {
                    let len = params.u8(&point("beacon hash length"))? as usize;
                    contribution.beacon_hash =
                        Some(params.take(len, &|| point("beacon hash"))?.to_vec());
                }
                t => {
                    return Err(ZkeyError::BadContributions(format!(
                        "contribution #{i}: unknown parameter tag {t}"
                    )))
                }
            }
        }
        contributions.push(contribution);
    }
    if cursor.remaining() != 0 {
        return Err(ZkeyError::BadContributions(format!(
            "{} unexpected bytes after the last contribution",
            cursor.remaining()
        )));
    }
    Ok(MpcParams {
        circuit_hash,
        contributions,
    })
}

/// A 64-byte hash as snarkjs prints it (`formatHash`): four lines of four 8-digit hex groups,
/// each line indented by two tabs.
pub fn snarkjs_hash_lines(hash: &[u8; 64]) -> String {
    hash.chunks(16)
        .map(|line| {
            let groups: Vec<String> = line.chunks(4).map(hex::encode).collect();
            format!("\t\t{}", groups.join(" "))
        })
        .collect::<Vec<_>>()
        .join("\n")
}
