//! The constraint system as iden3's `.r1cs` (version 1, as `r1csfile` 0.0.48 writes and snarkjs
//! 0.7 reads it):
//!
//! - section 1, header: `n8 = 32` (u32), r (32 bytes LE), number of wires (u32), public outputs
//!   (u32, 0 here), public inputs (u32), private inputs (u32), labels (u64), constraints (u32);
//! - section 2, constraints: for each constraint, the linear combinations A, B, C, each as a
//!   `u32` term count then `(wire: u32, coefficient: 32 bytes LE plain form)` per term;
//! - section 3, wire-to-label map: one `u64` label id per wire.
//!
//! The wire order is that of arkworks' matrices (see the module documentation of
//! [`crate::iden3`]), so an iden3 wire index equals an arkworks variable index.

use std::fs::OpenOptions;
use std::io::{BufWriter, Read, Write};
use std::path::Path;

use ark_groth16::r1cs_to_qap::evaluate_constraint;
use ark_relations::gr1cs::{ConstraintSynthesizer, Matrix, SynthesisMode};
use ark_std::{One, Zero};
use gridproof_circuits::statement::{BatchCircuit, BatchShape};

use super::{
    fr_to_le, read_limited, section_done, write_field_header, write_header, write_section_header,
    BinFile, Iden3Error, FIELD_BYTES,
};
use crate::fs::{parent_dir, sibling_path, sync_dir, PUBLIC_FILE_MODE};
use crate::hashing::HashingWriter;
use crate::prove::{new_constraint_system, r1cs_matrices, untraced};
use crate::Fr;

const KIND: &str = ".r1cs";
const MAGIC: &[u8; 4] = b"r1cs";
/// The `.r1cs` format version written and read.
pub const R1CS_VERSION: u32 = 1;
const HEADER_SECTION: u32 = 1;
const CONSTRAINTS_SECTION: u32 = 2;
const WIRE_MAP_SECTION: u32 = 3;
const CUSTOM_GATES_LIST_SECTION: u32 = 4;
const CUSTOM_GATES_USES_SECTION: u32 = 5;
/// Bytes of the header section's contents.
const HEADER_BYTES: u64 = 4 + FIELD_BYTES as u64 + 4 * 4 + 8 + 4;
/// Bytes of one term `(wire, coefficient)`.
const TERM_BYTES: usize = 4 + FIELD_BYTES;
/// Largest `.r1cs` [`read_r1cs`] reads: 4 GiB, a circuit of tens of millions of constraints.
pub const MAX_R1CS_BYTES: u64 = 4 << 30;

/// An R1CS: `<A_i, z> * <B_i, z> = <C_i, z>` for every constraint i, over the full assignment
/// `z = [1, public inputs..., witness...]`.
///
/// Rows are sorted by wire with no repeated wire and no zero coefficient (iden3 readers keep
/// one coefficient per wire, so a repeated wire would be summed by arkworks but not by
/// snarkjs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CircuitR1cs {
    /// Instance wires: 1 (the constant one) + the number of public inputs.
    pub num_instance: usize,
    /// Private witness wires.
    pub num_witness: usize,
    /// The A matrix, one row per constraint.
    pub a: Matrix<Fr>,
    /// The B matrix, one row per constraint.
    pub b: Matrix<Fr>,
    /// The C matrix, one row per constraint.
    pub c: Matrix<Fr>,
}

impl CircuitR1cs {
    /// Number of constraints.
    pub fn num_constraints(&self) -> usize {
        self.a.len()
    }

    /// Number of public inputs (without the constant one).
    pub fn num_public_inputs(&self) -> usize {
        self.num_instance.saturating_sub(1)
    }

    /// Number of wires: the constant one, the public inputs and the witness.
    pub fn num_wires(&self) -> usize {
        self.num_instance + self.num_witness
    }

    /// The power of tau a ceremony for this circuit needs, by snarkjs' rule (`zkey_new.js`):
    /// `cirPower = floor(log2(constraints + public inputs)) + 1`, so the evaluation domain of
    /// `2^power` points holds every constraint plus one per instance wire. A `.ptau` file of at
    /// least this power is needed (it is also the log2 of arkworks' Groth16 domain size).
    pub fn required_ptau_power(&self) -> u32 {
        let n = (self.num_constraints() + self.num_public_inputs()) as u64;
        // floor(log2(n)) + 1 is n's bit length for n >= 1; snarkjs' log2(0) is 0.
        (u64::BITS - n.leading_zeros()).max(1)
    }

    /// The index of the first constraint that the full assignment `z` violates, if any.
    /// `z` must have one value per wire and `z[0] = 1`.
    pub fn first_unsatisfied(&self, z: &[Fr]) -> Result<Option<usize>, Iden3Error> {
        if z.len() != self.num_wires() {
            return Err(Iden3Error::AssignmentLength {
                expected: self.num_wires(),
                found: z.len(),
            });
        }
        if !z.first().is_some_and(One::is_one) {
            return Err(Iden3Error::NotOne {
                found: z.first().map(|x| x.to_string()).unwrap_or_default(),
            });
        }
        // Every wire index is below num_wires (checked when the matrices were built or read),
        // so evaluate_constraint cannot index out of z.
        Ok((0..self.num_constraints()).find(|&i| {
            evaluate_constraint(&self.a[i], z) * evaluate_constraint(&self.b[i], z)
                != evaluate_constraint(&self.c[i], z)
        }))
    }

    /// Builds an R1CS from arkworks matrices: merges repeated wires of a row, drops zero terms,
    /// sorts each row by wire, and checks every wire is below `num_instance + num_witness`.
    pub fn from_matrices(
        num_instance: usize,
        num_witness: usize,
        matrices: [Matrix<Fr>; 3],
    ) -> Result<Self, Iden3Error> {
        let [a, b, c] = matrices;
        if a.len() != b.len() || a.len() != c.len() {
            return Err(Iden3Error::Invalid {
                kind: KIND,
                what: format!(
                    "the A, B, C matrices have {}, {}, {} rows",
                    a.len(),
                    b.len(),
                    c.len()
                ),
            });
        }
        let num_wires = num_instance + num_witness;
        let normalize = |m: Matrix<Fr>| -> Result<Matrix<Fr>, Iden3Error> {
            m.into_iter()
                .enumerate()
                .map(|(i, row)| normalize_row(row, num_wires, i))
                .collect()
        };
        Ok(Self {
            num_instance,
            num_witness,
            a: normalize(a)?,
            b: normalize(b)?,
            c: normalize(c)?,
        })
    }
}

fn normalize_row(
    mut row: Vec<(Fr, usize)>,
    num_wires: usize,
    constraint: usize,
) -> Result<Vec<(Fr, usize)>, Iden3Error> {
    if let Some((_, wire)) = row.iter().find(|(_, w)| *w >= num_wires) {
        return Err(Iden3Error::Invalid {
            kind: KIND,
            what: format!(
                "constraint {constraint} uses wire {wire}, but there are only {num_wires} wires"
            ),
        });
    }
    row.sort_by_key(|(_, wire)| *wire);
    let mut merged: Vec<(Fr, usize)> = Vec::with_capacity(row.len());
    for (coefficient, wire) in row {
        match merged.last_mut() {
            Some((sum, last)) if *last == wire => *sum += coefficient,
            _ => merged.push((coefficient, wire)),
        }
    }
    merged.retain(|(coefficient, _)| !coefficient.is_zero());
    Ok(merged)
}

/// The R1CS of any circuit, synthesized in setup mode exactly as setup and proving do
/// (`OptimizationGoal::Constraints`, the R1CS predicate only), so its wires are the keys'
/// variables.
pub fn r1cs_of<C: ConstraintSynthesizer<Fr>>(circuit: C) -> Result<CircuitR1cs, Iden3Error> {
    let cs = new_constraint_system(SynthesisMode::Setup);
    untraced(|| circuit.generate_constraints(cs.clone()))?;
    cs.finalize();
    let num_instance = cs.num_instance_variables();
    let num_witness = cs.num_witness_variables();
    let matrices = r1cs_matrices(&cs)?;
    drop(cs);
    let matrices: [Matrix<Fr>; 3] =
        matrices
            .try_into()
            .map_err(|m: Vec<Matrix<Fr>>| Iden3Error::Invalid {
                kind: KIND,
                what: format!("the R1CS predicate has {} matrices, not 3", m.len()),
            })?;
    CircuitR1cs::from_matrices(num_instance, num_witness, matrices)
}

/// The R1CS of gridproof's batch statement of `shape` (the circuit `gridproof setup` makes keys
/// for), from the blank circuit.
pub fn circuit_r1cs(shape: BatchShape) -> Result<CircuitR1cs, Iden3Error> {
    shape.validate()?;
    r1cs_of(BatchCircuit::blank(shape))
}

fn to_u32(value: usize, what: &str) -> Result<u32, Iden3Error> {
    u32::try_from(value).map_err(|_| Iden3Error::TooLargeForFormat {
        kind: KIND,
        what: format!("{value} {what} (at most 2^32 - 1)"),
    })
}

/// Writes `r1cs` as a `.r1cs` file (sections 1, 2, 3 in that order, as snarkjs writes them).
/// The writer is not buffered here: pass a `BufWriter` for a file.
pub fn write_r1cs(mut w: impl Write, r1cs: &CircuitR1cs) -> Result<(), Iden3Error> {
    let num_wires = r1cs.num_wires();
    let n_wires = to_u32(num_wires, "wires")?;
    let n_public = to_u32(r1cs.num_public_inputs(), "public inputs")?;
    let n_private = to_u32(r1cs.num_witness, "private wires")?;
    let n_constraints = to_u32(r1cs.num_constraints(), "constraints")?;
    if r1cs.num_instance == 0 {
        return Err(Iden3Error::Invalid {
            kind: KIND,
            what: "no instance wires: wire 0 must be the constant one".into(),
        });
    }
    let rows = || r1cs.a.iter().zip(&r1cs.b).zip(&r1cs.c);
    let mut constraints_len: u64 = 0;
    for (i, ((a, b), c)) in rows().enumerate() {
        for row in [a, b, c] {
            to_u32(row.len(), "terms in one linear combination")?;
            if let Some((_, wire)) = row.iter().find(|(_, w)| *w >= num_wires) {
                return Err(Iden3Error::Invalid {
                    kind: KIND,
                    what: format!(
                        "constraint {i} uses wire {wire}, but there are only {num_wires} wires"
                    ),
                });
            }
            constraints_len += 4 + (row.len() * TERM_BYTES) as u64;
        }
    }
    if r1cs.b.len() != r1cs.a.len() || r1cs.c.len() != r1cs.a.len() {
        return Err(Iden3Error::Invalid {
            kind: KIND,
            what: "the A, B, C matrices have different numbers of rows".into(),
        });
    }

    write_header(&mut w, MAGIC, R1CS_VERSION, 3)?;

    write_section_header(&mut w, HEADER_SECTION, HEADER_BYTES)?;
    write_field_header(&mut w)?;
    w.write_all(&n_wires.to_le_bytes())?;
    w.write_all(&0u32.to_le_bytes())?; // public outputs
    w.write_all(&n_public.to_le_bytes())?;
    w.write_all(&n_private.to_le_bytes())?;
    w.write_all(&u64::from(n_wires).to_le_bytes())?; // labels: one per wire
    w.write_all(&n_constraints.to_le_bytes())?;

    write_section_header(&mut w, CONSTRAINTS_SECTION, constraints_len)?;
    let mut term = [0u8; TERM_BYTES];
    for ((a, b), c) in rows() {
        for row in [a, b, c] {
            // Checked above: fits a u32.
            w.write_all(&(row.len() as u32).to_le_bytes())?;
            for (coefficient, wire) in row {
                // Checked above: wire < num_wires <= u32::MAX.
                term[..4].copy_from_slice(&(*wire as u32).to_le_bytes());
                term[4..].copy_from_slice(&fr_to_le(coefficient));
                w.write_all(&term)?;
            }
        }
    }

    write_section_header(&mut w, WIRE_MAP_SECTION, 8 * u64::from(n_wires))?;
    for label in 0..u64::from(n_wires) {
        w.write_all(&label.to_le_bytes())?;
    }
    w.flush()?;
    Ok(())
}

/// The size and SHA-256 of a file just written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenFile {
    /// Bytes written.
    pub bytes: u64,
    /// SHA-256 of the file, lower-case hex (for a ceremony transcript).
    pub sha256: String,
}

/// Writes `r1cs` to `path` atomically (a temporary file beside it, fsynced, then renamed over
/// it; mode 0644: the constraint system is public), streaming: the file is never held in
/// memory, which matters at S = 64 (hundreds of MB). Replaces an existing file: callers check
/// first.
pub fn write_r1cs_file(path: &Path, r1cs: &CircuitR1cs) -> Result<WrittenFile, Iden3Error> {
    let temporary = sibling_path(path, "tmp")?;
    let write = || -> Result<WrittenFile, Iden3Error> {
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(PUBLIC_FILE_MODE);
        }
        let file = options.open(&temporary)?;
        let mut w = HashingWriter::new(BufWriter::new(file));
        write_r1cs(&mut w, r1cs)?;
        let (buffered, sha256, bytes) = w.finish();
        let file = buffered.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        std::fs::rename(&temporary, path)?;
        Ok(WrittenFile { bytes, sha256 })
    };
    let result = write();
    if result.is_err() {
        let _ = std::fs::remove_file(&temporary);
    } else {
        // Makes the rename durable; not every platform can open a directory.
        let _ = sync_dir(parent_dir(path));
    }
    result
}

/// Reads a `.r1cs` file of at most [`MAX_R1CS_BYTES`] over BN254's scalar field, version 1,
/// without custom gates. Public outputs and public inputs both become instance wires (circom
/// puts outputs first). Refuses a repeated wire within a linear combination, a coefficient
/// not below r, a wire out of range, a label map of the wrong size, and any inconsistency
/// between the header and the sections.
pub fn read_r1cs(reader: impl Read) -> Result<CircuitR1cs, Iden3Error> {
    let bytes = read_limited(reader, KIND, MAX_R1CS_BYTES)?;
    let file = BinFile::parse(&bytes, KIND, "r1cs", R1CS_VERSION)?;
    if file.sections.contains_key(&CUSTOM_GATES_LIST_SECTION)
        || file.sections.contains_key(&CUSTOM_GATES_USES_SECTION)
    {
        return Err(Iden3Error::Invalid {
            kind: KIND,
            what: "the circuit uses custom gates (PLONK only); Groth16 needs a plain R1CS".into(),
        });
    }

    let mut header = file.section(HEADER_SECTION, "header")?;
    header.bn254_prime()?;
    let n_wires = header.u32(|| "the header (number of wires)".into())? as usize;
    let n_outputs = header.u32(|| "the header (number of outputs)".into())? as usize;
    let n_public = header.u32(|| "the header (number of public inputs)".into())? as usize;
    let n_private = header.u32(|| "the header (number of private inputs)".into())? as usize;
    let n_labels = header.u64(|| "the header (number of labels)".into())?;
    let n_constraints = header.u32(|| "the header (number of constraints)".into())? as usize;
    section_done(&header, HEADER_SECTION, "header")?;
    let num_instance = 1 + n_outputs + n_public;
    if num_instance + n_private > n_wires {
        return Err(Iden3Error::Invalid {
            kind: KIND,
            what: format!(
                "the header declares {n_wires} wires, fewer than 1 + {n_outputs} outputs + \
                 {n_public} public inputs + {n_private} private inputs"
            ),
        });
    }
    if n_labels < n_wires as u64 {
        return Err(Iden3Error::Invalid {
            kind: KIND,
            what: format!("the header declares {n_labels} labels, fewer than its {n_wires} wires"),
        });
    }

    let mut section = file.section(CONSTRAINTS_SECTION, "constraints")?;
    // Each constraint takes at least 12 bytes: a header that lies costs no memory.
    let capacity = n_constraints.min(section.remaining() / 12);
    let (mut a, mut b, mut c) = (
        Vec::with_capacity(capacity),
        Vec::with_capacity(capacity),
        Vec::with_capacity(capacity),
    );
    for i in 0..n_constraints {
        for (name, matrix) in [("A", &mut a), ("B", &mut b), ("C", &mut c)] {
            let where_ = || format!("the constraints section ({name} of constraint {i})");
            let terms = section.u32(where_)? as usize;
            if terms.saturating_mul(TERM_BYTES) > section.remaining() {
                return Err(Iden3Error::Truncated {
                    kind: KIND,
                    what: format!(
                        "the constraints section ({name} of constraint {i} has {terms} terms)"
                    ),
                });
            }
            let mut row: Vec<(Fr, usize)> = Vec::with_capacity(terms);
            for t in 0..terms {
                let wire = section.u32(where_)? as usize;
                let coefficient =
                    section.fr(|| format!("coefficient {t} of {name} in constraint {i}"))?;
                if wire >= n_wires {
                    return Err(Iden3Error::Invalid {
                        kind: KIND,
                        what: format!(
                            "{name} of constraint {i} uses wire {wire}, but there are only \
                             {n_wires} wires"
                        ),
                    });
                }
                row.push((coefficient, wire));
            }
            row.sort_by_key(|(_, wire)| *wire);
            if let Some(pair) = row.windows(2).find(|p| p[0].1 == p[1].1) {
                return Err(Iden3Error::Invalid {
                    kind: KIND,
                    what: format!("{name} of constraint {i} has wire {} twice", pair[0].1),
                });
            }
            row.retain(|(coefficient, _)| !coefficient.is_zero());
            matrix.push(row);
        }
    }
    section_done(&section, CONSTRAINTS_SECTION, "constraints")?;

    let mut map = file.section(WIRE_MAP_SECTION, "wire-to-label map")?;
    let declared = map.remaining() as u64;
    if declared != 8 * n_wires as u64 {
        return Err(Iden3Error::SectionSize {
            kind: KIND,
            id: WIRE_MAP_SECTION,
            name: "wire-to-label map",
            declared,
            needed: 8 * n_wires as u64,
        });
    }
    for wire in 0..n_wires {
        let label = map.u64(|| format!("the label of wire {wire}"))?;
        if label >= n_labels {
            return Err(Iden3Error::Invalid {
                kind: KIND,
                what: format!("wire {wire} has label {label}, but there are {n_labels} labels"),
            });
        }
    }

    Ok(CircuitR1cs {
        num_instance,
        num_witness: n_wires - num_instance,
        a,
        b,
        c,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iden3::{full_assignment, read_wtns, write_wtns};
    use ark_relations::gr1cs::{ConstraintSystemRef, SynthesisError, Variable};
    use ark_relations::lc;

    /// x * x = y, x + y = out (public): a toy circuit with one public input.
    #[derive(Clone)]
    struct Toy {
        x: Option<Fr>,
    }

    impl ConstraintSynthesizer<Fr> for Toy {
        fn generate_constraints(self, cs: ConstraintSystemRef<Fr>) -> Result<(), SynthesisError> {
            let x_val = self.x;
            let y_val = x_val.map(|x| x * x);
            let out = cs.new_input_variable(|| {
                Ok(x_val.ok_or(SynthesisError::AssignmentMissing)?
                    + y_val.ok_or(SynthesisError::AssignmentMissing)?)
            })?;
            let x = cs.new_witness_variable(|| x_val.ok_or(SynthesisError::AssignmentMissing))?;
            let y = cs.new_witness_variable(|| y_val.ok_or(SynthesisError::AssignmentMissing))?;
            cs.enforce_r1cs_constraint(|| lc!() + x, || lc!() + x, || lc!() + y)?;
            cs.enforce_r1cs_constraint(|| lc!() + x + y, || lc!() + Variable::One, || lc!() + out)?;
            Ok(())
        }
    }

    fn bytes_of(r1cs: &CircuitR1cs) -> Vec<u8> {
        let mut out = Vec::new();
        write_r1cs(&mut out, r1cs).unwrap();
        out
    }

    #[test]
    fn rows_are_merged_sorted_and_checked() {
        let two = Fr::from(2u64);
        let r1cs = CircuitR1cs::from_matrices(
            2,
            1,
            [
                vec![vec![(two, 2), (Fr::one(), 0), (-Fr::one(), 2)]],
                vec![vec![(Fr::one(), 1), (-Fr::one(), 1)]],
                vec![vec![]],
            ],
        )
        .unwrap();
        // 2 x - x = x; 1 - 1 = 0 is dropped.
        assert_eq!(r1cs.a[0], vec![(Fr::one(), 0), (Fr::one(), 2)]);
        assert!(r1cs.b[0].is_empty());
        let out_of_range =
            CircuitR1cs::from_matrices(2, 1, [vec![vec![(two, 3)]], vec![vec![]], vec![vec![]]]);
        assert!(matches!(out_of_range, Err(Iden3Error::Invalid { .. })));
        let ragged = CircuitR1cs::from_matrices(2, 1, [vec![vec![]], vec![], vec![vec![]]]);
        assert!(matches!(ragged, Err(Iden3Error::Invalid { .. })));
    }

    #[test]
    fn toy_round_trip_and_witness_check() {
        let r1cs = r1cs_of(Toy { x: None }).unwrap();
        assert_eq!(
            (r1cs.num_instance, r1cs.num_witness, r1cs.num_constraints()),
            (2, 2, 2)
        );
        assert_eq!(r1cs.a[1], vec![(Fr::one(), 2), (Fr::one(), 3)]);
        let bytes = bytes_of(&r1cs);
        assert_eq!(read_r1cs(bytes.as_slice()).unwrap(), r1cs);

        let z = full_assignment(Toy {
            x: Some(Fr::from(3u64)),
        })
        .unwrap();
        assert_eq!(z, [1u64, 12, 3, 9].map(Fr::from).to_vec());
        assert_eq!(r1cs.first_unsatisfied(&z).unwrap(), None);
        let mut wtns = Vec::new();
        write_wtns(&mut wtns, &z).unwrap();
        assert_eq!(read_wtns(wtns.as_slice()).unwrap(), z);
        let mut wrong = z.clone();
        wrong[3] += Fr::one();
        assert_eq!(r1cs.first_unsatisfied(&wrong).unwrap(), Some(0));
        assert!(matches!(
            r1cs.first_unsatisfied(&z[..3]),
            Err(Iden3Error::AssignmentLength { .. })
        ));
        wrong = z.clone();
        wrong[0] = Fr::from(2u64);
        assert!(matches!(
            r1cs.first_unsatisfied(&wrong),
            Err(Iden3Error::NotOne { .. })
        ));
    }

    #[test]
    fn the_file_is_written_atomically_with_its_hash() {
        let dir = std::env::temp_dir().join(format!(
            "gridproof-iden3-{}-{:x}",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("toy.r1cs");
        std::fs::write(&path, b"old").unwrap();
        let r1cs = r1cs_of(Toy { x: None }).unwrap();
        let written = write_r1cs_file(&path, &r1cs).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(bytes, bytes_of(&r1cs));
        assert_eq!(written.bytes, bytes.len() as u64);
        assert_eq!(written.sha256, crate::hashing::sha256_hex(&bytes));
        // Only the file is left: no temporary.
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
        // A directory that does not exist: an error, nothing left behind.
        let missing = dir.join("no/such/dir.r1cs");
        assert!(matches!(
            write_r1cs_file(&missing, &r1cs),
            Err(Iden3Error::Io(_))
        ));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn layout_is_iden3s_byte_for_byte() {
        let r1cs = r1cs_of(Toy { x: None }).unwrap();
        let bytes = bytes_of(&r1cs);
        assert_eq!(&bytes[..12], b"r1cs\x01\x00\x00\x00\x03\x00\x00\x00");
        // Section 1 (64 bytes): n8, r, wires 4, outputs 0, public 1, private 2, labels 4, 2 constraints.
        assert_eq!(&bytes[12..24], &[1, 0, 0, 0, 64, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(&bytes[24..28], &[32, 0, 0, 0]);
        assert_eq!(
            hex::encode(&bytes[28..60]),
            // r = 0x30644e72e131a029b85045b68181585d2833e84879b9709143e1f593f0000001, LE
            "010000f093f5e1439170b97948e833285d588181b64550b829a031e1724e6430"
        );
        let counts: Vec<u32> = bytes[60..76]
            .chunks(4)
            .map(|c| u32::from_le_bytes(c.try_into().unwrap()))
            .collect();
        assert_eq!(counts, [4, 0, 1, 2]);
        assert_eq!(&bytes[76..84], &4u64.to_le_bytes());
        assert_eq!(&bytes[84..88], &2u32.to_le_bytes());
        // Section 2 starts with constraint 0's A: one term, wire 2 (x), coefficient 1 (plain form).
        assert_eq!(&bytes[88..92], &2u32.to_le_bytes());
        let mut one = [0u8; 32];
        one[0] = 1;
        assert_eq!(&bytes[100..104], &1u32.to_le_bytes());
        assert_eq!(&bytes[104..108], &2u32.to_le_bytes());
        assert_eq!(&bytes[108..140], &one);
        // A coefficient of -1 is written as r - 1, not in Montgomery form.
        let minus_one = fr_to_le(&-Fr::one());
        assert_eq!(minus_one[0], 0);
        assert_eq!(
            &minus_one[1..],
            &hex::decode("0000f093f5e1439170b97948e833285d588181b64550b829a031e1724e6430").unwrap()
                [..]
        );
        // The file ends with the label map 0, 1, 2, 3.
        let tail: Vec<u64> = bytes[bytes.len() - 32..]
            .chunks(8)
            .map(|c| u64::from_le_bytes(c.try_into().unwrap()))
            .collect();
        assert_eq!(tail, [0, 1, 2, 3]);
        assert_eq!(
            &bytes[bytes.len() - 44..bytes.len() - 32],
            &[3, 0, 0, 0, 32, 0, 0, 0, 0, 0, 0, 0]
        );
    }

    #[test]
    fn malformed_r1cs_files_are_refused() {
        let r1cs = r1cs_of(Toy { x: None }).unwrap();
        let good = bytes_of(&r1cs);
        let read = |b: &[u8]| read_r1cs(b).unwrap_err();

        // Every truncation is refused, none panics.
        for len in 0..good.len() {
            let e = read(&good[..len]);
            assert!(
                matches!(e, Iden3Error::Truncated { .. }),
                "length {len}: {e}"
            );
        }
        let mut longer = good.clone();
        longer.push(0);
        assert!(matches!(
            read(&longer),
            Iden3Error::TrailingBytes { count: 1, .. }
        ));

        let mut bad = good.clone();
        bad[..4].copy_from_slice(b"wtns");
        let e = read(&bad);
        assert!(matches!(e, Iden3Error::BadMagic { .. }), "{e}");
        assert!(e.to_string().contains("not a .r1cs file"), "{e}");

        bad = good.clone();
        bad[4] = 2;
        assert!(matches!(
            read(&bad),
            Iden3Error::UnsupportedVersion { found: 2, .. }
        ));

        // BLS12-381's r instead of BN254's.
        bad = good.clone();
        let bls = hex::decode("01000000fffffffffe5bfeff02a4bd5305d8a10908d83933487d9d2953a7ed73")
            .unwrap();
        bad[28..60].copy_from_slice(&bls);
        let e = read(&bad);
        assert!(matches!(e, Iden3Error::WrongPrime { .. }), "{e}");
        assert!(
            e.to_string().contains(
                "5243587517512619047944774050818596583769055250052763782260365869993858118"
            ),
            "{e}"
        );

        bad = good.clone();
        bad[24] = 48;
        assert!(matches!(
            read(&bad),
            Iden3Error::WrongFieldSize { found: 48, .. }
        ));

        // A coefficient >= r: constraint 0's A coefficient set to r.
        bad = good.clone();
        bad[108..140].copy_from_slice(&super::super::modulus_le());
        assert!(matches!(read(&bad), Iden3Error::NotCanonical { .. }));

        // A wire out of range.
        bad = good.clone();
        bad[104..108].copy_from_slice(&4u32.to_le_bytes());
        assert!(matches!(read(&bad), Iden3Error::Invalid { .. }));

        // A term count that claims more than the file holds.
        bad = good.clone();
        bad[100..104].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(read(&bad), Iden3Error::Truncated { .. }));

        // More constraints declared than the section holds; fewer.
        bad = good.clone();
        bad[84..88].copy_from_slice(&3u32.to_le_bytes());
        assert!(matches!(read(&bad), Iden3Error::Truncated { .. }));
        bad[84..88].copy_from_slice(&1u32.to_le_bytes());
        assert!(matches!(read(&bad), Iden3Error::SectionSize { id: 2, .. }));

        // More wires declared than labels; a section length beyond the end of the file.
        bad = good.clone();
        bad[60..64].copy_from_slice(&5u32.to_le_bytes());
        assert!(matches!(read(&bad), Iden3Error::Invalid { .. }));
        bad = good.clone();
        bad[16..24].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(matches!(read(&bad), Iden3Error::Truncated { .. }));

        // A duplicated section.
        bad = good.clone();
        bad[8] = 4;
        bad.extend_from_slice(&good[12..12 + 12 + 64]);
        assert!(matches!(
            read(&bad),
            Iden3Error::DuplicateSection { id: 1, .. }
        ));
    }

    #[test]
    fn the_batch_statement_exports_and_a_real_witness_satisfies_it() {
        let shape = BatchShape::new(2, 8, 4).unwrap();
        let r1cs = circuit_r1cs(shape).unwrap();
        let (constraints, public) =
            crate::keys::count_constraints(BatchCircuit::blank(shape)).unwrap();
        assert_eq!(r1cs.num_constraints(), constraints);
        assert_eq!(r1cs.num_public_inputs(), public);
        assert_eq!(
            r1cs.num_public_inputs(),
            gridproof_circuits::statement::PublicInputs::NAMES.len()
        );
        assert_eq!(
            r1cs.required_ptau_power(),
            (constraints + public + 1)
                .next_power_of_two()
                .trailing_zeros()
        );

        let bytes = bytes_of(&r1cs);
        let back = read_r1cs(bytes.as_slice()).unwrap();
        assert_eq!(back, r1cs);

        let witness = crate::bench::sample_batch_witness(&shape, 7).unwrap();
        let circuit = BatchCircuit::new(shape, &witness).unwrap();
        let z = full_assignment(circuit).unwrap();
        // Public inputs come right after the constant one, in the proofs file's order.
        let public_inputs = witness.public_inputs(&shape).unwrap().to_field_elements();
        assert_eq!(&z[1..r1cs.num_instance], public_inputs.as_slice());

        let mut wtns = Vec::new();
        write_wtns(&mut wtns, &z).unwrap();
        let z_back = read_wtns(wtns.as_slice()).unwrap();
        assert_eq!(z_back, z);
        assert_eq!(back.first_unsatisfied(&z_back).unwrap(), None);

        // One wrong witness value (a private wire that C uses but neither A nor B of the same
        // constraint) is caught.
        let (i, wire) = (0..back.num_constraints())
            .find_map(|i| {
                back.c[i]
                    .iter()
                    .map(|(_, w)| *w)
                    .find(|w| {
                        *w >= back.num_instance
                            && !back.a[i].iter().any(|(_, x)| x == w)
                            && !back.b[i].iter().any(|(_, x)| x == w)
                    })
                    .map(|w| (i, w))
            })
            .expect("some constraint has a private wire in C only");
        let mut wrong = z_back.clone();
        wrong[wire] += Fr::one();
        let found = back.first_unsatisfied(&wrong).unwrap();
        assert!(found.is_some_and(|f| f <= i), "{found:?} {i}");
        // A wrong public input is caught too.
        wrong = z_back;
        wrong[4] += Fr::one();
        assert!(back.first_unsatisfied(&wrong).unwrap().is_some());
    }
}
