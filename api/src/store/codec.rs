//! How domain values become column values and back (the conventions of `migrations/`).
//!
//! Both backends store the same shapes: u64 identifiers as the bit pattern of an i64, field
//! elements as 32 bytes big-endian, u32 arrays as 4 bytes big-endian each, times as Unix
//! milliseconds. Decoding checks every shape and reports a [`StoreError::Corrupt`] naming the
//! column, never a panic.

use std::time::{SystemTime, UNIX_EPOCH};

use ark_ff::{BigInteger, PrimeField};
use gridproof_circuits::Fr;

use super::StoreError;

/// A u64 identifier (site id, epoch) as stored: the same 64 bits read as an i64. Ids of 2^63
/// and above appear negative in raw SQL; order them in Rust, not with `ORDER BY`.
pub(crate) fn u64_to_db(x: u64) -> i64 {
    x as i64
}

/// Inverse of [`u64_to_db`].
pub(crate) fn u64_from_db(x: i64) -> u64 {
    x as u64
}

/// A u32 column (capacity, interval) read back, refusing a value out of range.
pub(crate) fn u32_from_db(x: i64, column: &'static str) -> Result<u32, StoreError> {
    u32::try_from(x).map_err(|_| StoreError::corrupt(column, format!("{x} is not a u32")))
}

/// A field element as 32 bytes big-endian (its canonical integer below r).
pub(crate) fn fr_to_bytes(x: &Fr) -> [u8; 32] {
    let bytes = x.into_bigint().to_bytes_be();
    let mut out = [0u8; 32];
    out[32 - bytes.len()..].copy_from_slice(&bytes);
    out
}

/// Inverse of [`fr_to_bytes`]; refuses a length other than 32 and a non-canonical value (>= r).
pub(crate) fn fr_from_bytes(bytes: &[u8], column: &'static str) -> Result<Fr, StoreError> {
    if bytes.len() != 32 {
        return Err(StoreError::corrupt(
            column,
            format!("{} bytes, expected 32", bytes.len()),
        ));
    }
    let x = Fr::from_be_bytes_mod_order(bytes);
    if fr_to_bytes(&x)[..] != bytes[..] {
        return Err(StoreError::corrupt(
            column,
            "value not below the field modulus",
        ));
    }
    Ok(x)
}

/// A u32 array as 4 bytes big-endian per element.
pub(crate) fn u32s_to_bytes(xs: &[u32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(xs.len() * 4);
    for x in xs {
        out.extend_from_slice(&x.to_be_bytes());
    }
    out
}

/// Inverse of [`u32s_to_bytes`]; refuses a length that is not a multiple of 4.
pub(crate) fn u32s_from_bytes(bytes: &[u8], column: &'static str) -> Result<Vec<u32>, StoreError> {
    if !bytes.len().is_multiple_of(4) {
        return Err(StoreError::corrupt(
            column,
            format!("{} bytes is not a whole number of u32", bytes.len()),
        ));
    }
    Ok(bytes
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
        .collect())
}

/// A 32-byte column (hash, root) read back.
pub(crate) fn bytes32(bytes: &[u8], column: &'static str) -> Result<[u8; 32], StoreError> {
    bytes
        .try_into()
        .map_err(|_| StoreError::corrupt(column, format!("{} bytes, expected 32", bytes.len())))
}

/// Wall-clock time in Unix milliseconds, for timestamps that record when something happened
/// (lease times use the database's clock instead, see `jobs`).
pub(crate) fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn u64_ids_round_trip_including_the_top_bit() {
        for x in [0u64, 1, 101, i64::MAX as u64, 1 << 63, u64::MAX] {
            assert_eq!(u64_from_db(u64_to_db(x)), x);
        }
    }

    #[test]
    fn field_elements_round_trip_and_non_canonical_bytes_are_refused() {
        let x = Fr::from(123456789u64) - Fr::from(1u64);
        let b = fr_to_bytes(&x);
        assert_eq!(fr_from_bytes(&b, "c").unwrap(), x);
        // r itself is not canonical: -1 + 1 wraps, so encode r - 1 and add 1 to the integer.
        let mut r = fr_to_bytes(&-Fr::from(1u64));
        r[31] += 1;
        assert!(matches!(
            fr_from_bytes(&r, "c"),
            Err(StoreError::Corrupt { .. })
        ));
        assert!(fr_from_bytes(&b[1..], "c").is_err());
    }

    #[test]
    fn u32_arrays_round_trip_and_ragged_bytes_are_refused() {
        let xs = vec![0, 1, u32::MAX, 4200];
        assert_eq!(u32s_from_bytes(&u32s_to_bytes(&xs), "c").unwrap(), xs);
        assert!(u32s_from_bytes(&[1, 2, 3], "c").is_err());
    }
}
