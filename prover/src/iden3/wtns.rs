//! A full assignment as iden3's `.wtns` (version 2, as snarkjs 0.7 writes and reads it):
//!
//! - section 1, header: `n8 = 32` (u32), r (32 bytes LE), number of values (u32);
//! - section 2, values: one 32-byte little-endian field element (plain form) per wire, wire 0
//!   (the constant 1) first.
//!
//! A `.wtns` of a batch is secret: it holds every site's identity, meter key, readings and
//! prices. Write it with mode 0600 and never publish it.

use std::io::{Read, Write};

use ark_relations::gr1cs::{ConstraintSynthesizer, SynthesisError, SynthesisMode};
use ark_std::One;

use super::{
    fr_to_le, read_limited, section_done, write_field_header, write_header, write_section_header,
    BinFile, Iden3Error, FIELD_BYTES,
};
use crate::prove::{new_constraint_system, untraced};
use crate::Fr;

const KIND: &str = ".wtns";
const MAGIC: &[u8; 4] = b"wtns";
/// The `.wtns` format version written and read (snarkjs reads versions up to 2).
pub const WTNS_VERSION: u32 = 2;
const HEADER_SECTION: u32 = 1;
const VALUES_SECTION: u32 = 2;
/// Bytes of the header section's contents.
const HEADER_BYTES: u64 = 4 + FIELD_BYTES as u64 + 4;
/// Largest `.wtns` [`read_wtns`] reads: 1 GiB, over 30 million wires.
pub const MAX_WTNS_BYTES: u64 = 1 << 30;

/// Writes a full assignment `[1, public inputs..., witness...]` as a `.wtns` file. Refuses an
/// assignment whose first value is not the constant 1 (it could not be any circuit's). The
/// writer is not buffered here: pass a `BufWriter` for a file.
pub fn write_wtns(mut w: impl Write, full_assignment: &[Fr]) -> Result<(), Iden3Error> {
    match full_assignment.first() {
        Some(one) if one.is_one() => {}
        other => {
            return Err(Iden3Error::NotOne {
                found: other.map(|x| x.to_string()).unwrap_or("absent".into()),
            })
        }
    }
    let count =
        u32::try_from(full_assignment.len()).map_err(|_| Iden3Error::TooLargeForFormat {
            kind: KIND,
            what: format!("{} values (at most 2^32 - 1)", full_assignment.len()),
        })?;
    write_header(&mut w, MAGIC, WTNS_VERSION, 2)?;
    write_section_header(&mut w, HEADER_SECTION, HEADER_BYTES)?;
    write_field_header(&mut w)?;
    w.write_all(&count.to_le_bytes())?;
    write_section_header(
        &mut w,
        VALUES_SECTION,
        u64::from(count) * FIELD_BYTES as u64,
    )?;
    for value in full_assignment {
        w.write_all(&fr_to_le(value))?;
    }
    w.flush()?;
    Ok(())
}

/// Reads a `.wtns` file of at most [`MAX_WTNS_BYTES`] over BN254's scalar field, version 2:
/// the full assignment, wire 0 first. Refuses values not below r, a count that disagrees with
/// the values section, and a wire 0 that is not 1.
pub fn read_wtns(reader: impl Read) -> Result<Vec<Fr>, Iden3Error> {
    let bytes = read_limited(reader, KIND, MAX_WTNS_BYTES)?;
    let file = BinFile::parse(&bytes, KIND, "wtns", WTNS_VERSION)?;
    let mut header = file.section(HEADER_SECTION, "header")?;
    header.bn254_prime()?;
    let count = header.u32(|| "the header (number of values)".into())? as usize;
    section_done(&header, HEADER_SECTION, "header")?;

    let mut values = file.section(VALUES_SECTION, "values")?;
    let declared = values.remaining() as u64;
    let needed = count as u64 * FIELD_BYTES as u64;
    if declared != needed {
        return Err(Iden3Error::SectionSize {
            kind: KIND,
            id: VALUES_SECTION,
            name: "values",
            declared,
            needed,
        });
    }
    let assignment = (0..count)
        .map(|wire| values.fr(|| format!("the value of wire {wire}")))
        .collect::<Result<Vec<_>, _>>()?;
    match assignment.first() {
        Some(one) if one.is_one() => Ok(assignment),
        other => Err(Iden3Error::Invalid {
            kind: KIND,
            what: format!(
                "wire 0 is {}, but it must be the constant 1",
                other.map(|x| x.to_string()).unwrap_or("absent".into())
            ),
        }),
    }
}

/// The full assignment `[1, public inputs..., witness...]` of a circuit with a witness,
/// synthesized as the prover does (prove mode, `OptimizationGoal::Constraints`), so that its
/// wires are those of [`super::r1cs_of`] of the same circuit. It is not checked here: see
/// [`super::CircuitR1cs::first_unsatisfied`]. `gridproof prove` gets the same assignment from
/// [`crate::prove::prove_keeping_assignment`] instead, without synthesizing twice.
pub fn full_assignment<C: ConstraintSynthesizer<Fr>>(circuit: C) -> Result<Vec<Fr>, Iden3Error> {
    let cs = new_constraint_system(SynthesisMode::Prove {
        construct_matrices: true,
        generate_lc_assignments: false,
    });
    untraced(|| circuit.generate_constraints(cs.clone()))?;
    cs.finalize();
    let inner = cs.borrow().ok_or(SynthesisError::MissingCS)?;
    Ok([inner.instance_assignment()?, inner.witness_assignment()?].concat())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<Fr> {
        vec![Fr::one(), Fr::from(5u64), -Fr::one(), Fr::from(u64::MAX)]
    }

    fn bytes_of(z: &[Fr]) -> Vec<u8> {
        let mut out = Vec::new();
        write_wtns(&mut out, z).unwrap();
        out
    }

    #[test]
    fn layout_is_snarkjs_byte_for_byte() {
        let bytes = bytes_of(&sample());
        assert_eq!(bytes.len(), 12 + 12 + 40 + 12 + 4 * 32);
        assert_eq!(&bytes[..12], b"wtns\x02\x00\x00\x00\x02\x00\x00\x00");
        assert_eq!(&bytes[12..24], &[1, 0, 0, 0, 40, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(&bytes[24..28], &[32, 0, 0, 0]);
        assert_eq!(&bytes[60..64], &4u32.to_le_bytes());
        assert_eq!(&bytes[64..76], &[2, 0, 0, 0, 128, 0, 0, 0, 0, 0, 0, 0]);
        // Plain little-endian values: 1, 5, r - 1, 2^64 - 1.
        assert_eq!(bytes[76], 1);
        assert!(bytes[77..108].iter().all(|b| *b == 0));
        assert_eq!(bytes[108], 5);
        assert_eq!(
            &bytes[140..172],
            &super::super::modulus_le()[..32]
                .iter()
                .enumerate()
                .map(|(i, b)| if i == 0 { b - 1 } else { *b })
                .collect::<Vec<_>>()[..]
        );
        assert_eq!(&bytes[172..180], &[0xff; 8]);
        assert!(bytes[180..204].iter().all(|b| *b == 0));
        assert_eq!(read_wtns(bytes.as_slice()).unwrap(), sample());
    }

    #[test]
    fn malformed_wtns_files_are_refused() {
        let good = bytes_of(&sample());
        let read = |b: &[u8]| read_wtns(b).unwrap_err();
        for len in 0..good.len() {
            let e = read(&good[..len]);
            assert!(
                matches!(e, Iden3Error::Truncated { .. }),
                "length {len}: {e}"
            );
        }
        let mut bad = good.clone();
        bad[..4].copy_from_slice(b"r1cs");
        assert!(read(&bad).to_string().contains("not a .wtns file"));
        bad = good.clone();
        bad[4] = 1;
        assert!(matches!(
            read(&bad),
            Iden3Error::UnsupportedVersion { found: 1, .. }
        ));
        bad = good.clone();
        bad[59] ^= 0x01; // the prime's top byte
        assert!(matches!(read(&bad), Iden3Error::WrongPrime { .. }));
        // A value >= r: wire 2 set to r.
        bad = good.clone();
        bad[140..172].copy_from_slice(&super::super::modulus_le());
        let e = read(&bad);
        assert!(matches!(e, Iden3Error::NotCanonical { .. }), "{e}");
        assert!(e.to_string().contains("wire 2"), "{e}");
        // The count disagrees with the values.
        bad = good.clone();
        bad[60..64].copy_from_slice(&5u32.to_le_bytes());
        assert!(matches!(read(&bad), Iden3Error::SectionSize { id: 2, .. }));
        // Wire 0 is not 1.
        bad = good.clone();
        bad[76] = 2;
        assert!(matches!(read(&bad), Iden3Error::Invalid { .. }));
        // Writing refuses an assignment that does not start with 1.
        let mut out = Vec::new();
        assert!(matches!(
            write_wtns(&mut out, &sample()[1..]),
            Err(Iden3Error::NotOne { .. })
        ));
        assert!(matches!(
            write_wtns(&mut out, &[]),
            Err(Iden3Error::NotOne { .. })
        ));
    }
}
