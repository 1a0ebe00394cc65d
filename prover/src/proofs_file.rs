//! The proofs file v1 of DESIGN.md: what `gridproof prove` writes and `gridproof verify` checks.
//!
//! ```json
//! { "version": 1, "epoch": "20300", "registry_root": "<dec>",
//!   "batches": [ { "batch_index": 0,
//!                  "public_inputs": { "epoch": "20300", "registry_root": "<dec>", ... },
//!                  "proof": { "a": ["x", "y"], "b": [["x.c0", "x.c1"], ["y.c0", "y.c1"]],
//!                             "c": ["x", "y"] } } ] }
//! ```
//! - Every number is a canonical decimal string (digits only, no leading zeros), except
//!   `version` and `batch_index`, which are written as JSON numbers as in DESIGN.md; on reading,
//!   `version`, `epoch` and `batch_index` may be a JSON number or a decimal string.
//! - `public_inputs` names each input of the statement in the statement's order; field elements
//!   must be below r.
//! - Proof points are affine coordinates in the BN254 base field (below q). G2 coordinates are in
//!   snarkjs `proof.json` order: `b = [[x.c0, x.c1], [y.c0, y.c1]]` where `x = x.c0 + x.c1 * u`
//!   (the Solidity verifier's calldata swaps each pair to `[c1, c0]`; that is the exporter's job).
//!   Points must be on the curve and in the prime-order subgroup (checked for G2), never the
//!   point at infinity.
//! - The file's `epoch` and `registry_root` must equal every batch's public inputs of the same
//!   name, and each batch's `batch_index` its `batch_index` input.

use std::io;
use std::path::{Path, PathBuf};

use ark_bn254::{Bn254, Fq, Fq2, G1Affine, G2Affine};
use ark_ec::AffineRepr;
use ark_ff::{BigInteger, PrimeField, Zero};
use ark_groth16::{Proof, VerifyingKey};
use gridproof_circuits::encoding::{
    field_to_decimal, parse_decimal_below, parse_field, parse_uint, EncodingError,
};
use gridproof_circuits::statement::{PublicInputs, StatementError};
use num_bigint::BigUint;
use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;

use crate::fs::{read_bounded, BoundedReadError, StagedFile, PUBLIC_FILE_MODE};
use crate::verify::{prepare, verify, BatchVerdict, VerifyError, VerifyReport};
use crate::Fr;

/// The proofs file format this build writes and reads.
pub const PROOFS_FILE_VERSION: u64 = 1;

/// The statement's public inputs in proof order (`PublicInputs::NAMES`).
pub const PUBLIC_INPUT_NAMES: [&str; 8] = PublicInputs::NAMES;
const EPOCH_INPUT: usize = 0;
const REGISTRY_ROOT_INPUT: usize = 1;
const BATCH_INDEX_INPUT: usize = 2;

/// Largest proofs file read: about 1.5 KB per batch, so this allows thousands of batches.
const MAX_FILE_BYTES: u64 = 64 << 20;

/// A parsed, checked proofs file.
#[derive(Debug, Clone, PartialEq)]
pub struct ProofsFile {
    /// The epoch every batch proves.
    pub epoch: u64,
    /// The epoch's registry root, as published on-chain.
    pub registry_root: Fr,
    /// One proof per batch.
    pub batches: Vec<BatchProof>,
}

/// The proof of one batch and the public inputs it proves.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchProof {
    /// The batch's index in the epoch (its sites are registry leaves
    /// `[batch_index * S, (batch_index + 1) * S)`).
    pub batch_index: u64,
    /// The public inputs in the order of [`PUBLIC_INPUT_NAMES`].
    pub public_inputs: Vec<Fr>,
    /// The Groth16 proof.
    pub proof: Proof<Bn254>,
}

impl BatchProof {
    /// The public inputs as the statement's typed values (checks each integer's range).
    pub fn statement_inputs(&self) -> Result<PublicInputs, StatementError> {
        PublicInputs::from_field_elements(&self.public_inputs)
    }
}

/// A Groth16 proof as JSON: affine coordinates as decimal strings, `b` in snarkjs order
/// `[[x.c0, x.c1], [y.c0, y.c1]]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProofJson {
    /// A in G1: `[x, y]`.
    pub a: [String; 2],
    /// B in G2: `[[x.c0, x.c1], [y.c0, y.c1]]`.
    pub b: [[String; 2]; 2],
    /// C in G1: `[x, y]`.
    pub c: [String; 2],
}

/// What is wrong with a proofs file. `at` is a JSON path such as
/// `batches[1].proof.b[0][1]` or `batches[0].public_inputs.epoch`.
#[derive(Debug, thiserror::Error)]
pub enum ProofsFileError {
    /// The file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The file is larger than any proofs file this build reads.
    #[error("{} is {size} bytes, more than the {limit} bytes a proofs file may have", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size in bytes.
        size: u64,
        /// The largest proofs file read, in bytes.
        limit: u64,
    },
    /// The file is not JSON.
    #[error("not valid JSON: {0}")]
    Json(String),
    /// The file is of another format version.
    #[error("proofs file version {0} is not supported (this build reads version 1)")]
    UnsupportedVersion(String),
    /// A required field is absent.
    #[error("{at} is missing")]
    Missing {
        /// Where.
        at: String,
    },
    /// A field this format does not have (a typo, or a newer format).
    #[error("{at} is not a field of proofs file v1")]
    UnknownField {
        /// Where.
        at: String,
    },
    /// A value of the wrong JSON type.
    #[error("{at} must be {expected}")]
    WrongType {
        /// Where.
        at: String,
        /// What it must be.
        expected: &'static str,
    },
    /// A number that is not a canonical decimal or is out of range (e.g. a field element >= r).
    #[error("{at}: {source}")]
    Number {
        /// Where.
        at: String,
        /// Why.
        #[source]
        source: EncodingError,
    },
    /// A coordinate that is not below the BN254 base field modulus q.
    #[error("{at}: {value} is not below the BN254 base field modulus q")]
    NotInBaseField {
        /// Where.
        at: String,
        /// The value (truncated).
        value: String,
    },
    /// A proof point is the point at infinity (encoded as all-zero coordinates).
    #[error("{at} is the point at infinity")]
    PointAtInfinity {
        /// Where.
        at: String,
    },
    /// A proof point is not on the curve.
    #[error("{at} is not on the curve")]
    NotOnCurve {
        /// Where.
        at: String,
    },
    /// A proof point is on the curve but not in the prime-order subgroup.
    #[error("{at} is not in the prime-order subgroup")]
    NotInSubgroup {
        /// Where.
        at: String,
    },
    /// A public input of the statement is absent.
    #[error("{at}: public input '{name}' is missing")]
    MissingInput {
        /// The batch's `public_inputs`.
        at: String,
        /// The missing name.
        name: &'static str,
    },
    /// A value that must equal another does not.
    #[error("{at} is {found} but must equal {expected}")]
    Inconsistent {
        /// Where.
        at: String,
        /// The value it must have (and where that comes from).
        expected: String,
        /// The value found.
        found: String,
    },
    /// A public input outside its range (e.g. an epoch of 2^64 or more).
    #[error("{at}: {source}")]
    OutOfRange {
        /// Where.
        at: String,
        /// Which input and why.
        #[source]
        source: StatementError,
    },
    /// Two batches claim the same index.
    #[error("batch_index {0} appears more than once")]
    DuplicateBatch(u64),
    /// The file proves nothing.
    #[error("the proofs file has no batches")]
    NoBatches,
}

fn at_err(at: &str) -> String {
    at.to_string()
}

/// Parses a canonical decimal element of the BN254 base field (strictly below q), with the
/// same parser as every field element (`gridproof_circuits::encoding`).
fn parse_fq(s: &str, at: &str) -> Result<Fq, ProofsFileError> {
    let modulus: BigUint = Fq::MODULUS.into();
    match parse_decimal_below(s, &modulus) {
        Ok(value) => Ok(Fq::from(value)),
        Err(EncodingError::NotBelowModulus(value)) => Err(ProofsFileError::NotInBaseField {
            at: at_err(at),
            value,
        }),
        Err(source) => Err(ProofsFileError::Number {
            at: at_err(at),
            source,
        }),
    }
}

fn fq_to_decimal(x: &Fq) -> String {
    BigUint::from_bytes_le(&x.into_bigint().to_bytes_le()).to_str_radix(10)
}

fn str_at<'a>(v: &'a Value, at: &str) -> Result<&'a str, ProofsFileError> {
    v.as_str().ok_or_else(|| ProofsFileError::WrongType {
        at: at_err(at),
        expected: "a decimal string",
    })
}

/// An unsigned integer given as a JSON number or a canonical decimal string.
fn uint_at(v: &Value, at: &str) -> Result<u64, ProofsFileError> {
    match v {
        Value::Number(n) => n.as_u64().ok_or_else(|| ProofsFileError::WrongType {
            at: at_err(at),
            expected: "an unsigned 64-bit integer",
        }),
        Value::String(s) => parse_uint(s, 64).map_err(|source| ProofsFileError::Number {
            at: at_err(at),
            source,
        }),
        _ => Err(ProofsFileError::WrongType {
            at: at_err(at),
            expected: "an unsigned integer (JSON number or decimal string)",
        }),
    }
}

fn fr_at(v: &Value, at: &str) -> Result<Fr, ProofsFileError> {
    parse_field(str_at(v, at)?).map_err(|source| ProofsFileError::Number {
        at: at_err(at),
        source,
    })
}

/// The fields of a JSON object, refusing any name not in `allowed`.
fn object_at<'a>(
    v: &'a Value,
    at: &str,
    allowed: &[&str],
) -> Result<&'a serde_json::Map<String, Value>, ProofsFileError> {
    let map = v.as_object().ok_or_else(|| ProofsFileError::WrongType {
        at: at_err(at),
        expected: "an object",
    })?;
    if let Some(unknown) = map.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(ProofsFileError::UnknownField {
            at: format!("{at}.{unknown}"),
        });
    }
    Ok(map)
}

fn field<'a>(
    map: &'a serde_json::Map<String, Value>,
    at: &str,
    name: &str,
) -> Result<&'a Value, ProofsFileError> {
    map.get(name).ok_or_else(|| ProofsFileError::Missing {
        at: format!("{at}.{name}"),
    })
}

fn array_at<'a, const N: usize>(v: &'a Value, at: &str) -> Result<&'a [Value; N], ProofsFileError> {
    v.as_array()
        .and_then(|a| <&[Value; N]>::try_from(a.as_slice()).ok())
        .ok_or_else(|| ProofsFileError::WrongType {
            at: at_err(at),
            expected: if N == 2 {
                "an array of 2 elements"
            } else {
                "an array"
            },
        })
}

fn g1_from_strings(x: &str, y: &str, at: &str) -> Result<G1Affine, ProofsFileError> {
    let x = parse_fq(x, &format!("{at}[0]"))?;
    let y = parse_fq(y, &format!("{at}[1]"))?;
    checked_point(
        G1Affine::new_unchecked(x, y),
        x.is_zero() && y.is_zero(),
        at,
    )
}

fn g2_from_strings(b: [[&str; 2]; 2], at: &str) -> Result<G2Affine, ProofsFileError> {
    let mut c = [Fq::zero(); 4];
    for (i, pair) in b.iter().enumerate() {
        for (j, s) in pair.iter().enumerate() {
            c[2 * i + j] = parse_fq(s, &format!("{at}[{i}][{j}]"))?;
        }
    }
    let x = Fq2::new(c[0], c[1]);
    let y = Fq2::new(c[2], c[3]);
    let zero = c.iter().all(Zero::is_zero);
    checked_point(G2Affine::new_unchecked(x, y), zero, at)
}

fn checked_point<P>(
    p: ark_ec::short_weierstrass::Affine<P>,
    all_zero: bool,
    at: &str,
) -> Result<ark_ec::short_weierstrass::Affine<P>, ProofsFileError>
where
    P: ark_ec::short_weierstrass::SWCurveConfig,
{
    if all_zero {
        return Err(ProofsFileError::PointAtInfinity { at: at_err(at) });
    }
    if !p.is_on_curve() {
        return Err(ProofsFileError::NotOnCurve { at: at_err(at) });
    }
    if !p.is_in_correct_subgroup_assuming_on_curve() {
        return Err(ProofsFileError::NotInSubgroup { at: at_err(at) });
    }
    Ok(p)
}

impl ProofJson {
    /// The JSON form of a proof.
    pub fn from_proof(proof: &Proof<Bn254>) -> Self {
        let g1 = |p: &G1Affine| {
            let (x, y) = p.xy().unwrap_or_default();
            [fq_to_decimal(&x), fq_to_decimal(&y)]
        };
        let (bx, by) = proof.b.xy().unwrap_or_default();
        Self {
            a: g1(&proof.a),
            b: [
                [fq_to_decimal(&bx.c0), fq_to_decimal(&bx.c1)],
                [fq_to_decimal(&by.c0), fq_to_decimal(&by.c1)],
            ],
            c: g1(&proof.c),
        }
    }

    /// Parses and checks the points (canonical coordinates, on the curve, in the subgroup, not
    /// infinity); errors name the point as `proof.a`, `proof.b[i][j]`, ...
    pub fn to_proof(&self) -> Result<Proof<Bn254>, ProofsFileError> {
        self.to_proof_at("proof")
    }

    fn to_proof_at(&self, at: &str) -> Result<Proof<Bn254>, ProofsFileError> {
        let b = [
            [self.b[0][0].as_str(), self.b[0][1].as_str()],
            [self.b[1][0].as_str(), self.b[1][1].as_str()],
        ];
        Ok(Proof {
            a: g1_from_strings(&self.a[0], &self.a[1], &format!("{at}.a"))?,
            b: g2_from_strings(b, &format!("{at}.b"))?,
            c: g1_from_strings(&self.c[0], &self.c[1], &format!("{at}.c"))?,
        })
    }
}

fn proof_from_value(v: &Value, at: &str) -> Result<Proof<Bn254>, ProofsFileError> {
    let map = object_at(v, at, &["a", "b", "c"])?;
    let pair = |name: &str| -> Result<[String; 2], ProofsFileError> {
        let p_at = format!("{at}.{name}");
        let [x, y] = array_at::<2>(field(map, at, name)?, &p_at)?;
        Ok([
            str_at(x, &format!("{p_at}[0]"))?.to_string(),
            str_at(y, &format!("{p_at}[1]"))?.to_string(),
        ])
    };
    let a = pair("a")?;
    let c = pair("c")?;
    let b_at = format!("{at}.b");
    let [bx, by] = array_at::<2>(field(map, at, "b")?, &b_at)?;
    let mut b: [[String; 2]; 2] = Default::default();
    for (i, row) in [bx, by].into_iter().enumerate() {
        let row_at = format!("{b_at}[{i}]");
        let [c0, c1] = array_at::<2>(row, &row_at)?;
        b[i] = [
            str_at(c0, &format!("{row_at}[0]"))?.to_string(),
            str_at(c1, &format!("{row_at}[1]"))?.to_string(),
        ];
    }
    ProofJson { a, b, c }.to_proof_at(at)
}

/// The public inputs of a batch, as JSON: an object with the statement's names in order.
struct NamedInputs<'a>(&'a [Fr]);

impl Serialize for NamedInputs<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (name, value) in PUBLIC_INPUT_NAMES.iter().zip(self.0) {
            map.serialize_entry(name, &field_to_decimal(value))?;
        }
        map.end()
    }
}

#[derive(Serialize)]
struct BatchOut<'a> {
    batch_index: u64,
    public_inputs: NamedInputs<'a>,
    proof: ProofJson,
}

#[derive(Serialize)]
struct FileOut<'a> {
    version: u64,
    epoch: String,
    registry_root: String,
    batches: Vec<BatchOut<'a>>,
}

impl ProofsFile {
    /// Builds a proofs file and checks it is consistent (see [`ProofsFile::check`]).
    pub fn new(
        epoch: u64,
        registry_root: Fr,
        batches: Vec<BatchProof>,
    ) -> Result<Self, ProofsFileError> {
        let file = Self {
            epoch,
            registry_root,
            batches,
        };
        file.check()?;
        Ok(file)
    }

    /// Checks what the format requires beyond each value's own validity: at least one batch, no
    /// duplicate `batch_index`, all public inputs of each batch, and the file's `epoch` and
    /// `registry_root` (and the batch's `batch_index`) equal to the batch's inputs of that name.
    pub fn check(&self) -> Result<(), ProofsFileError> {
        if self.batches.is_empty() {
            return Err(ProofsFileError::NoBatches);
        }
        let mut seen = std::collections::BTreeSet::new();
        for (i, batch) in self.batches.iter().enumerate() {
            if !seen.insert(batch.batch_index) {
                return Err(ProofsFileError::DuplicateBatch(batch.batch_index));
            }
            let at = format!("batches[{i}].public_inputs");
            if batch.public_inputs.len() < PUBLIC_INPUT_NAMES.len() {
                return Err(ProofsFileError::MissingInput {
                    at,
                    name: PUBLIC_INPUT_NAMES[batch.public_inputs.len()],
                });
            }
            if batch.public_inputs.len() > PUBLIC_INPUT_NAMES.len() {
                return Err(ProofsFileError::UnknownField {
                    at: format!("{at}[{}]", PUBLIC_INPUT_NAMES.len()),
                });
            }
            PublicInputs::from_field_elements(&batch.public_inputs).map_err(|source| {
                let at = match &source {
                    StatementError::PublicInput { name, .. } => format!("{at}.{name}"),
                    _ => at.clone(),
                };
                ProofsFileError::OutOfRange { at, source }
            })?;
            for (index, expected, source) in [
                (EPOCH_INPUT, Fr::from(self.epoch), "the file's epoch"),
                (
                    REGISTRY_ROOT_INPUT,
                    self.registry_root,
                    "the file's registry_root",
                ),
                (
                    BATCH_INDEX_INPUT,
                    Fr::from(batch.batch_index),
                    "the batch's batch_index",
                ),
            ] {
                let found = batch.public_inputs[index];
                if found != expected {
                    return Err(ProofsFileError::Inconsistent {
                        at: format!("{at}.{}", PUBLIC_INPUT_NAMES[index]),
                        expected: format!("{} ({source})", field_to_decimal(&expected)),
                        found: field_to_decimal(&found),
                    });
                }
            }
        }
        Ok(())
    }

    /// Parses and checks a proofs file (see the module documentation for every rule).
    pub fn from_json(text: &str) -> Result<Self, ProofsFileError> {
        let doc: Value =
            serde_json::from_str(text).map_err(|e| ProofsFileError::Json(e.to_string()))?;
        let top = doc.as_object().ok_or_else(|| ProofsFileError::WrongType {
            at: "the file".to_string(),
            expected: "a JSON object",
        })?;
        match top.get("version") {
            None => {
                return Err(ProofsFileError::Missing {
                    at: "version".to_string(),
                })
            }
            Some(v) => {
                let ok = matches!(v, Value::Number(n) if n.as_u64() == Some(PROOFS_FILE_VERSION))
                    || v.as_str() == Some("1");
                if !ok {
                    return Err(ProofsFileError::UnsupportedVersion(v.to_string()));
                }
            }
        }
        let top = object_at(&doc, "", &["version", "epoch", "registry_root", "batches"]).map_err(
            |e| match e {
                ProofsFileError::UnknownField { at } => ProofsFileError::UnknownField {
                    at: at.trim_start_matches('.').to_string(),
                },
                e => e,
            },
        )?;
        let get = |name: &str| {
            top.get(name).ok_or_else(|| ProofsFileError::Missing {
                at: name.to_string(),
            })
        };
        let epoch = uint_at(get("epoch")?, "epoch")?;
        let registry_root = fr_at(get("registry_root")?, "registry_root")?;
        let batches_json =
            get("batches")?
                .as_array()
                .ok_or_else(|| ProofsFileError::WrongType {
                    at: "batches".to_string(),
                    expected: "an array",
                })?;
        let mut batches = Vec::with_capacity(batches_json.len());
        for (i, b) in batches_json.iter().enumerate() {
            let at = format!("batches[{i}]");
            let map = object_at(b, &at, &["batch_index", "public_inputs", "proof"])?;
            let batch_index = uint_at(
                field(map, &at, "batch_index")?,
                &format!("{at}.batch_index"),
            )?;
            let inputs_at = format!("{at}.public_inputs");
            let inputs = object_at(
                field(map, &at, "public_inputs")?,
                &inputs_at,
                &PUBLIC_INPUT_NAMES,
            )?;
            let mut public_inputs = Vec::with_capacity(PUBLIC_INPUT_NAMES.len());
            for name in PUBLIC_INPUT_NAMES {
                let v = inputs
                    .get(name)
                    .ok_or_else(|| ProofsFileError::MissingInput {
                        at: inputs_at.clone(),
                        name,
                    })?;
                public_inputs.push(fr_at(v, &format!("{inputs_at}.{name}"))?);
            }
            let proof = proof_from_value(field(map, &at, "proof")?, &format!("{at}.proof"))?;
            batches.push(BatchProof {
                batch_index,
                public_inputs,
                proof,
            });
        }
        Self::new(epoch, registry_root, batches)
    }

    /// The file as pretty-printed JSON (with a final newline).
    pub fn to_json(&self) -> String {
        let out = FileOut {
            version: PROOFS_FILE_VERSION,
            epoch: self.epoch.to_string(),
            registry_root: field_to_decimal(&self.registry_root),
            batches: self
                .batches
                .iter()
                .map(|b| BatchOut {
                    batch_index: b.batch_index,
                    public_inputs: NamedInputs(&b.public_inputs),
                    proof: ProofJson::from_proof(&b.proof),
                })
                .collect(),
        };
        let mut text = serde_json::to_string_pretty(&out)
            .expect("strings, integers and maps of strings always serialize");
        text.push('\n');
        text
    }

    /// Reads and checks a proofs file (at most 64 MiB).
    pub fn read(path: &Path) -> Result<Self, ProofsFileError> {
        let io_err = |source| ProofsFileError::Io {
            path: path.to_path_buf(),
            source,
        };
        let bytes = read_bounded(path, MAX_FILE_BYTES).map_err(|e| match e {
            BoundedReadError::Io(source) => io_err(source),
            BoundedReadError::TooLarge { size, limit } => ProofsFileError::TooLarge {
                path: path.to_path_buf(),
                size,
                limit,
            },
        })?;
        let text = String::from_utf8(bytes)
            .map_err(|e| io_err(io::Error::new(io::ErrorKind::InvalidData, e)))?;
        Self::from_json(&text)
    }

    /// Checks the file and stages it beside `path` (mode 0644, fsynced) without replacing
    /// `path` yet: [`StagedFile::commit`] renames it into place.
    pub fn stage(&self, path: &Path) -> Result<StagedFile, ProofsFileError> {
        self.check()?;
        StagedFile::create(path, self.to_json().as_bytes(), PUBLIC_FILE_MODE).map_err(|source| {
            ProofsFileError::Io {
                path: path.to_path_buf(),
                source,
            }
        })
    }

    /// Writes the file atomically: a temporary sibling is written, synced and renamed over
    /// `path`, so readers never see a partial proofs file.
    pub fn write_atomic(&self, path: &Path) -> Result<(), ProofsFileError> {
        self.stage(path)?
            .commit()
            .map_err(|source| ProofsFileError::Io {
                path: path.to_path_buf(),
                source,
            })
    }
}

/// Verifies every batch of a proofs file with `vk`. The file must be consistent
/// ([`ProofsFile::check`]); each batch's outcome is reported separately, so a caller can print
/// all of them and succeed only if [`VerifyReport::all_verified`].
pub fn verify_proofs_file(
    vk: &VerifyingKey<Bn254>,
    file: &ProofsFile,
) -> Result<VerifyReport, VerifyError> {
    file.check()?;
    let pvk = prepare(vk);
    let batches = file
        .batches
        .iter()
        .map(|b| BatchVerdict {
            batch_index: b.batch_index,
            result: verify(&pvk, &b.public_inputs, &b.proof),
        })
        .collect();
    Ok(VerifyReport { batches })
}
