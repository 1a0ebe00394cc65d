//! Canonical text encodings of field elements and integers, as batch files, proofs files and
//! the vectors write them: decimal strings (or JSON numbers) with no sign, no spaces and no
//! leading zeros, and every field element strictly below the BN254 scalar modulus r.

use ark_ff::{BigInteger, PrimeField};
use num_bigint::BigUint;

use crate::Fr;

/// Why a decimal string is not a canonical encoding.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodingError {
    /// The string is empty.
    #[error("empty number")]
    Empty,
    /// A character other than an ASCII digit (signs, spaces, hex prefixes and exponents included).
    #[error("'{0}' is not a decimal integer (digits 0-9 only, no sign, no spaces)")]
    NotDecimal(String),
    /// Leading zeros make two encodings of one value; only "0" itself may start with 0.
    #[error("'{0}' has leading zeros")]
    LeadingZeros(String),
    /// The value is r or more, so it is not a canonical field element.
    #[error("{0} is not below the BN254 scalar field modulus r")]
    NotInField(String),
    /// The value is not below the modulus given to [`parse_decimal_below`] (callers with a
    /// named modulus, like [`parse_field`], report their own variant instead).
    #[error("{0} is not below the modulus")]
    NotBelowModulus(String),
    /// The value does not fit the integer type the format requires.
    #[error("{value} does not fit in {bits} bits")]
    TooLarge {
        /// The offending decimal string.
        value: String,
        /// The width of the target integer type.
        bits: u32,
    },
}

fn check_digits(s: &str) -> Result<(), EncodingError> {
    if s.is_empty() {
        return Err(EncodingError::Empty);
    }
    if !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(EncodingError::NotDecimal(s.chars().take(80).collect()));
    }
    if s.len() > 1 && s.starts_with('0') {
        return Err(EncodingError::LeadingZeros(s.chars().take(80).collect()));
    }
    Ok(())
}

/// Parses a canonical decimal integer strictly below `modulus` (digits only, no leading zeros):
/// the one parser of every field's elements (Fr here, the base field Fq of proof points in the
/// prover). A value at or above the modulus is [`EncodingError::NotBelowModulus`].
pub fn parse_decimal_below(s: &str, modulus: &BigUint) -> Result<BigUint, EncodingError> {
    check_digits(s)?;
    let not_below = || EncodingError::NotBelowModulus(s.chars().take(80).collect());
    // A value below 2^bits has at most floor(bits * log10(2)) + 1 digits (30103 / 100000 is
    // just above log10(2)): refuse longer strings before allocating for them.
    if s.len() as u64 > modulus.bits() * 30_103 / 100_000 + 1 {
        return Err(not_below());
    }
    let value = BigUint::parse_bytes(s.as_bytes(), 10)
        .ok_or_else(|| EncodingError::NotDecimal(s.chars().take(80).collect()))?;
    if value >= *modulus {
        return Err(not_below());
    }
    Ok(value)
}

/// Parses a canonical decimal field element: digits only, no leading zeros, strictly below r.
pub fn parse_field(s: &str) -> Result<Fr, EncodingError> {
    let modulus: BigUint = Fr::MODULUS.into();
    match parse_decimal_below(s, &modulus) {
        Ok(value) => Ok(Fr::from(value)),
        Err(EncodingError::NotBelowModulus(v)) => Err(EncodingError::NotInField(v)),
        Err(e) => Err(e),
    }
}

/// Parses a canonical decimal unsigned integer of at most `bits` bits (up to 64).
pub fn parse_uint(s: &str, bits: u32) -> Result<u64, EncodingError> {
    check_digits(s)?;
    let value: u64 = s.parse().map_err(|_| EncodingError::TooLarge {
        value: s.chars().take(80).collect(),
        bits,
    })?;
    if bits < 64 && value >> bits != 0 {
        return Err(EncodingError::TooLarge {
            value: s.to_string(),
            bits,
        });
    }
    Ok(value)
}

/// The canonical decimal string of a field element.
pub fn field_to_decimal(x: &Fr) -> String {
    BigUint::from_bytes_le(&x.into_bigint().to_bytes_le()).to_str_radix(10)
}

/// Reads a big-endian byte string as an integer in the field, as the meter message's DOMAIN
/// and a region code are read. Callers keep inputs under 31 bytes so no reduction happens.
pub fn field_from_be_bytes(bytes: &[u8]) -> Fr {
    Fr::from_be_bytes_mod_order(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    const R: &str = "21888242871839275222246405745257275088548364400416034343698204186575808495617";

    #[test]
    fn field_round_trips_and_rejects_non_canonical() {
        for s in [
            "0",
            "1",
            "20300",
            "21888242871839275222246405745257275088548364400416034343698204186575808495616",
        ] {
            assert_eq!(field_to_decimal(&parse_field(s).unwrap()), s);
        }
        assert!(matches!(parse_field(R), Err(EncodingError::NotInField(_))));
        assert!(matches!(
            parse_field(&format!("{R}0")),
            Err(EncodingError::NotInField(_))
        ));
        assert!(matches!(
            parse_field("01"),
            Err(EncodingError::LeadingZeros(_))
        ));
        assert!(matches!(
            parse_field("-1"),
            Err(EncodingError::NotDecimal(_))
        ));
        assert!(matches!(
            parse_field(" 1"),
            Err(EncodingError::NotDecimal(_))
        ));
        assert!(matches!(
            parse_field("0x10"),
            Err(EncodingError::NotDecimal(_))
        ));
        assert!(matches!(parse_field(""), Err(EncodingError::Empty)));
    }

    #[test]
    fn decimals_below_a_modulus_are_canonical_and_bounded() {
        let m = BigUint::from(1000u32);
        assert_eq!(parse_decimal_below("999", &m), Ok(BigUint::from(999u32)));
        assert_eq!(parse_decimal_below("0", &m), Ok(BigUint::from(0u32)));
        for s in ["1000", "1001", "99999", &"9".repeat(500)] {
            assert!(
                matches!(
                    parse_decimal_below(s, &m),
                    Err(EncodingError::NotBelowModulus(_))
                ),
                "{s}"
            );
        }
        assert!(matches!(
            parse_decimal_below("0999", &m),
            Err(EncodingError::LeadingZeros(_))
        ));
        assert!(matches!(
            parse_decimal_below("+1", &m),
            Err(EncodingError::NotDecimal(_))
        ));
        assert_eq!(parse_decimal_below("", &m), Err(EncodingError::Empty));
        // The length pre-check never refuses a value below the modulus: r - 1 has 77 digits.
        let r: BigUint = Fr::MODULUS.into();
        let r_minus_1 = (&r - 1u32).to_str_radix(10);
        assert_eq!(parse_decimal_below(&r_minus_1, &r), Ok(&r - 1u32));
        assert!(matches!(
            parse_decimal_below(R, &r),
            Err(EncodingError::NotBelowModulus(_))
        ));
        // Powers of ten as moduli: 10^k - 1 has k digits and is accepted.
        for k in 1..60u32 {
            let m = BigUint::from(10u32).pow(k);
            let max = (&m - 1u32).to_str_radix(10);
            assert_eq!(parse_decimal_below(&max, &m), Ok(&m - 1u32), "10^{k}");
        }
    }

    #[test]
    fn uint_width_is_enforced() {
        assert_eq!(parse_uint("4294967295", 32).unwrap(), u32::MAX as u64);
        assert!(matches!(
            parse_uint("4294967296", 32),
            Err(EncodingError::TooLarge { .. })
        ));
        assert_eq!(parse_uint("18446744073709551615", 64).unwrap(), u64::MAX);
        assert!(parse_uint("18446744073709551616", 64).is_err());
        assert!(parse_uint("1e3", 64).is_err());
    }

    #[test]
    fn domain_is_read_big_endian() {
        assert_eq!(
            field_to_decimal(&field_from_be_bytes(b"gridproof/meter/v1")),
            "9011497731250232032731529736352141130298929"
        );
    }
}
