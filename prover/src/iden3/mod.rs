//! gridproof's statement in iden3's formats, so that snarkjs (0.7) and rapidsnark can take part:
//! the constraint system as a `.r1cs` file (for `snarkjs zkey new` and the phase-2 ceremony of
//! DESIGN.md "Setup"), a batch's full assignment as a `.wtns` file (for `snarkjs wtns check`,
//! `snarkjs groth16 prove`, rapidsnark), and proofs in snarkjs' `proof.json` / `public.json`.
//!
//! Both binary formats are iden3 "binfiles" (`@iden3/binfileutils`): a 4-byte magic, a `u32`
//! version, a `u32` section count, then sections of `u32` id, `u64` byte length and contents; every
//! integer little-endian. Field elements are 32 bytes, little-endian, in plain (not Montgomery)
//! form, below r: `r1csfile` and `wtns_utils.js` read them with `Fr.fromRprLE`, which converts
//! plain bytes to the Montgomery form snarkjs computes in.
//!
//! Wire order (normative for gridproof's exports): wire 0 is the constant 1, wires
//! `1..=n_public` are the public inputs in arkworks' instance order (the order of the proofs
//! file's `public_inputs`, `PublicInputs::NAMES`), then the private witness in arkworks' witness
//! order. Every public input is declared a public *input* (no outputs), every private wire a
//! private input, and wire i has label i.
//!
//! Readers are bounded and strict: a malformed or foreign file is refused with an
//! [`Iden3Error`] that says what is wrong, never a panic.

use std::io::Read;

use ark_ff::{BigInteger, PrimeField};
use ark_relations::gr1cs::SynthesisError;
use gridproof_circuits::statement::StatementError;
use num_bigint::BigUint;

use crate::Fr;

pub mod r1cs;
pub mod snarkjs;
pub mod wtns;

pub use r1cs::{
    circuit_r1cs, r1cs_of, read_r1cs, write_r1cs, write_r1cs_file, CircuitR1cs, WrittenFile,
};
pub use snarkjs::{
    parse_snarkjs_proof, parse_snarkjs_public, snarkjs_proof_json, snarkjs_public_json,
};
pub use wtns::{full_assignment, read_wtns, write_wtns};

/// Bytes of one BN254 scalar field element in iden3 files (`n8`).
pub const FIELD_BYTES: usize = 32;

/// Why an iden3 file or snarkjs JSON could not be written or read. Messages do not name the
/// file (readers take any `Read`); callers that have a path put it in front.
#[derive(Debug, thiserror::Error)]
pub enum Iden3Error {
    /// Reading or writing failed.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// The input is larger than any file of this kind this build reads.
    #[error("more than {limit} bytes, the most this build reads as a {kind} file")]
    TooLarge {
        /// ".r1cs", ".wtns", ...
        kind: &'static str,
        /// The limit in bytes.
        limit: u64,
    },
    /// The file does not start with the magic of its kind.
    #[error("not a {kind} file: it starts with {found:?}, not {expected:?}")]
    BadMagic {
        /// The kind expected.
        kind: &'static str,
        /// The magic expected ("r1cs", "wtns").
        expected: &'static str,
        /// The first four bytes found (lossy text).
        found: String,
    },
    /// A format version this build does not read.
    #[error(
        "{kind} format version {found} is not supported (this build reads version {supported})"
    )]
    UnsupportedVersion {
        /// The kind of file.
        kind: &'static str,
        /// The version in the file.
        found: u32,
        /// The version this build reads.
        supported: u32,
    },
    /// The file ends early.
    #[error("truncated {kind} file: it ends inside {what}")]
    Truncated {
        /// The kind of file.
        kind: &'static str,
        /// The part being read when the bytes ran out.
        what: String,
    },
    /// Bytes after the last section.
    #[error("{kind} file has {count} bytes after its last section")]
    TrailingBytes {
        /// The kind of file.
        kind: &'static str,
        /// How many.
        count: usize,
    },
    /// A section the format requires is absent.
    #[error("{kind} file has no section {id} ({name})")]
    MissingSection {
        /// The kind of file.
        kind: &'static str,
        /// The section id.
        id: u32,
        /// What the section holds.
        name: &'static str,
    },
    /// A section appears twice (snarkjs refuses this too).
    #[error("{kind} file has section {id} more than once")]
    DuplicateSection {
        /// The kind of file.
        kind: &'static str,
        /// The section id.
        id: u32,
    },
    /// A section's declared length differs from the length of what it must hold.
    #[error(
        "{kind} file: section {id} ({name}) is {declared} bytes but its contents take {needed}"
    )]
    SectionSize {
        /// The kind of file.
        kind: &'static str,
        /// The section id.
        id: u32,
        /// What the section holds.
        name: &'static str,
        /// The length in the section header.
        declared: u64,
        /// The length its contents need.
        needed: u64,
    },
    /// Field elements of another size than BN254's 32 bytes.
    #[error("{kind} file: field elements are {found} bytes; BN254's scalar field needs 32")]
    WrongFieldSize {
        /// The kind of file.
        kind: &'static str,
        /// `n8` in the file.
        found: u32,
    },
    /// The file is for another field (another curve).
    #[error(
        "{kind} file is for the prime {found}, not BN254's scalar field modulus r = {expected}"
    )]
    WrongPrime {
        /// The kind of file.
        kind: &'static str,
        /// The prime in the file, decimal.
        found: String,
        /// r, decimal.
        expected: String,
    },
    /// A field element is not below r.
    #[error("{kind} file: {what} is {value}, not below BN254's scalar field modulus r")]
    NotCanonical {
        /// The kind of file.
        kind: &'static str,
        /// Which value (e.g. "wire 12 of the witness").
        what: String,
        /// The value, decimal.
        value: String,
    },
    /// The contents are inconsistent (counts that disagree, a wire out of range, custom gates).
    #[error("{kind} file: {what}")]
    Invalid {
        /// The kind of file.
        kind: &'static str,
        /// What is wrong.
        what: String,
    },
    /// The circuit or assignment does not fit the format's 32-bit counts.
    #[error("too large for the {kind} format: {what}")]
    TooLargeForFormat {
        /// The kind of file.
        kind: &'static str,
        /// Which count overflows.
        what: String,
    },
    /// An assignment of the wrong length for a constraint system.
    #[error("the assignment has {found} values but the constraint system has {expected} wires")]
    AssignmentLength {
        /// The number of wires.
        expected: usize,
        /// The number of values.
        found: usize,
    },
    /// Wire 0 of an assignment is not the constant 1.
    #[error("wire 0 of the assignment is {found}, but it must be the constant 1")]
    NotOne {
        /// The value found, decimal.
        found: String,
    },
    /// Synthesizing the circuit failed (or it uses a predicate other than R1CS).
    #[error("constraint synthesis failed: {0}")]
    Synthesis(#[from] SynthesisError),
    /// The batch shape is invalid.
    #[error("invalid shape: {0}")]
    Shape(#[from] StatementError),
    /// A snarkjs JSON file is not JSON.
    #[error("not valid JSON: {0}")]
    Json(String),
    /// A snarkjs JSON file is JSON but not of the expected form; `at` is a JSON path such as
    /// `pi_b[2][0]`.
    #[error("{at}: {reason}")]
    JsonValue {
        /// Where.
        at: String,
        /// What is wrong.
        reason: String,
    },
}

/// r as little-endian bytes.
fn modulus_le() -> Vec<u8> {
    Fr::MODULUS.to_bytes_le()
}

/// r in decimal, for messages.
fn modulus_decimal() -> String {
    BigUint::from_bytes_le(&modulus_le()).to_string()
}

/// A field element as iden3 writes it: 32 bytes, little-endian, plain form.
fn fr_to_le(x: &Fr) -> [u8; FIELD_BYTES] {
    let mut out = [0u8; FIELD_BYTES];
    out.copy_from_slice(&x.into_bigint().to_bytes_le());
    out
}

/// Reads all of `reader`, refusing more than `limit` bytes.
fn read_limited(reader: impl Read, kind: &'static str, limit: u64) -> Result<Vec<u8>, Iden3Error> {
    let mut bytes = Vec::new();
    reader
        .take(limit.saturating_add(1))
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(Iden3Error::TooLarge { kind, limit });
    }
    Ok(bytes)
}

/// A position in a file's bytes whose reads fail as [`Iden3Error::Truncated`].
struct Cursor<'a> {
    kind: &'static str,
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn new(kind: &'static str, bytes: &'a [u8]) -> Self {
        Self {
            kind,
            bytes,
            pos: 0,
        }
    }

    fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    fn take(&mut self, n: usize, what: impl FnOnce() -> String) -> Result<&'a [u8], Iden3Error> {
        if n > self.remaining() {
            return Err(Iden3Error::Truncated {
                kind: self.kind,
                what: what(),
            });
        }
        let out = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    fn u32(&mut self, what: impl FnOnce() -> String) -> Result<u32, Iden3Error> {
        let b = self.take(4, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self, what: impl FnOnce() -> String) -> Result<u64, Iden3Error> {
        let b = self.take(8, what)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    /// A canonical field element (32 bytes LE, below r).
    fn fr(&mut self, what: impl Fn() -> String) -> Result<Fr, Iden3Error> {
        let b = self.take(FIELD_BYTES, &what)?;
        let mut limbs = [0u64; 4];
        for (limb, chunk) in limbs.iter_mut().zip(b.chunks_exact(8)) {
            let mut a = [0u8; 8];
            a.copy_from_slice(chunk);
            *limb = u64::from_le_bytes(a);
        }
        Fr::from_bigint(ark_ff::BigInt::new(limbs)).ok_or_else(|| Iden3Error::NotCanonical {
            kind: self.kind,
            what: what(),
            value: BigUint::from_bytes_le(b).to_string(),
        })
    }

    /// The `n8` and prime of a field header: must be BN254's r.
    fn bn254_prime(&mut self) -> Result<(), Iden3Error> {
        let n8 = self.u32(|| "the field element size".into())?;
        if n8 as usize != FIELD_BYTES {
            return Err(Iden3Error::WrongFieldSize {
                kind: self.kind,
                found: n8,
            });
        }
        let prime = self.take(FIELD_BYTES, || "the prime".into())?;
        if prime != modulus_le().as_slice() {
            return Err(Iden3Error::WrongPrime {
                kind: self.kind,
                found: BigUint::from_bytes_le(prime).to_string(),
                expected: modulus_decimal(),
            });
        }
        Ok(())
    }
}

/// A parsed binfile: the contents of each section by id (each id at most once).
struct BinFile<'a> {
    kind: &'static str,
    sections: std::collections::BTreeMap<u32, &'a [u8]>,
}

impl<'a> BinFile<'a> {
    /// Parses the container: magic, exactly `version`, the section table; no trailing bytes.
    fn parse(
        bytes: &'a [u8],
        kind: &'static str,
        magic: &'static str,
        version: u32,
    ) -> Result<Self, Iden3Error> {
        let mut cursor = Cursor::new(kind, bytes);
        let found = cursor.take(4, || "the magic".into())?;
        if found != magic.as_bytes() {
            return Err(Iden3Error::BadMagic {
                kind,
                expected: magic,
                found: String::from_utf8_lossy(found).into_owned(),
            });
        }
        let found = cursor.u32(|| "the version".into())?;
        if found != version {
            return Err(Iden3Error::UnsupportedVersion {
                kind,
                found,
                supported: version,
            });
        }
        let count = cursor.u32(|| "the section count".into())?;
        let mut sections = std::collections::BTreeMap::new();
        for i in 0..count {
            let id = cursor.u32(|| format!("the header of section #{i}"))?;
            let len = cursor.u64(|| format!("the header of section #{i} (id {id})"))?;
            let len = usize::try_from(len).unwrap_or(usize::MAX);
            let body = cursor.take(len, || format!("section {id}"))?;
            if sections.insert(id, body).is_some() {
                return Err(Iden3Error::DuplicateSection { kind, id });
            }
        }
        if cursor.remaining() != 0 {
            return Err(Iden3Error::TrailingBytes {
                kind,
                count: cursor.remaining(),
            });
        }
        Ok(Self { kind, sections })
    }

    fn section(&self, id: u32, name: &'static str) -> Result<Cursor<'a>, Iden3Error> {
        self.sections
            .get(&id)
            .map(|body| Cursor::new(self.kind, body))
            .ok_or(Iden3Error::MissingSection {
                kind: self.kind,
                id,
                name,
            })
    }
}

/// Checks that a section was read to its end.
fn section_done(cursor: &Cursor<'_>, id: u32, name: &'static str) -> Result<(), Iden3Error> {
    if cursor.remaining() != 0 {
        return Err(Iden3Error::SectionSize {
            kind: cursor.kind,
            id,
            name,
            declared: cursor.bytes.len() as u64,
            needed: cursor.pos as u64,
        });
    }
    Ok(())
}

/// Writes a binfile header: magic, version, number of sections.
fn write_header(
    w: &mut impl std::io::Write,
    magic: &[u8; 4],
    version: u32,
    sections: u32,
) -> std::io::Result<()> {
    w.write_all(magic)?;
    w.write_all(&version.to_le_bytes())?;
    w.write_all(&sections.to_le_bytes())
}

/// Writes a section header (id, length of the contents that follow).
fn write_section_header(w: &mut impl std::io::Write, id: u32, len: u64) -> std::io::Result<()> {
    w.write_all(&id.to_le_bytes())?;
    w.write_all(&len.to_le_bytes())
}

/// Writes the field header shared by `.r1cs` and `.wtns`: `n8 = 32`, then r.
fn write_field_header(w: &mut impl std::io::Write) -> std::io::Result<()> {
    w.write_all(&(FIELD_BYTES as u32).to_le_bytes())?;
    w.write_all(&modulus_le())
}
