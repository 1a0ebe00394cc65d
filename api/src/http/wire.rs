//! The JSON bodies of the API: what clients send and receive, with their OpenAPI schemas.
//!
//! Requests follow batch file v1 (DESIGN.md): integers may be JSON numbers or canonical decimal
//! strings, field elements are canonical decimal strings below r, unknown fields are refused.
//! Responses write u64 values above 2^53 - 1 as strings (JavaScript readers lose precision on
//! wider numbers) and field elements always as decimal strings.

use gridproof_circuits::eddsa::Signature;
use gridproof_circuits::registry::Location;
use gridproof_circuits::Fr;
use gridproof_prover::batch::field;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A signature as meter message v1 carries it: `R8 = (x, y)` and `S`, decimal strings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignatureBody {
    /// R8 (x, y): canonical decimal field elements.
    #[serde(with = "field::pair")]
    #[schema(value_type = [String; 2], example = json!(["1234", "5678"]))]
    pub r8: [Fr; 2],
    /// S: a canonical decimal integer below the Baby Jubjub subgroup order.
    #[serde(with = "field::single")]
    #[schema(value_type = String)]
    pub s: Fr,
}

impl SignatureBody {
    /// The signature in the circuit library's type.
    pub fn to_signature(&self) -> Signature {
        Signature {
            r8_x: self.r8[0],
            r8_y: self.r8[1],
            s: self.s,
        }
    }
}

/// `POST /v1/readings`: one site's signed readings for one epoch (as in batch file v1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadingBody {
    /// The site (number or decimal string).
    #[serde(with = "int::u64")]
    #[schema(value_type = u64)]
    pub site_id: u64,
    /// The epoch (number or decimal string).
    #[serde(with = "int::u64")]
    #[schema(value_type = u64)]
    pub epoch: u64,
    /// Interval length in seconds; must equal the epoch's.
    #[serde(with = "int::u32")]
    #[schema(value_type = u32)]
    pub interval_seconds: u32,
    /// Energy per interval in Wh: exactly one per interval of the epoch's schedule.
    #[serde(with = "int::vec_u32")]
    #[schema(value_type = Vec<u32>)]
    pub readings_wh: Vec<u32>,
    /// The meter's EdDSA-Poseidon signature over meter message v1 of these readings.
    pub signature: SignatureBody,
}

/// `POST /v1/readings/batch`: many readings in one request (for gateways). Each item is decided
/// on its own; see [`BatchResults`].
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadingBatchBody {
    /// The readings, at most [`super::readings::MAX_BATCH_ITEMS`].
    pub readings: Vec<ReadingBody>,
}

/// What happened to one reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReadingResult {
    /// Stored now (durably).
    Stored,
    /// The same reading was already stored: nothing changed.
    Duplicate,
    /// Refused: `problem` says why.
    Refused,
}

/// The result of one item of a batch.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BatchItemResult {
    /// Position of the item in the request.
    pub index: usize,
    /// The status the item would have had as a single `POST /v1/readings`.
    pub status: u16,
    /// What happened.
    pub result: ReadingResult,
    /// Why it was refused (the problem a single request would have returned).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<ItemProblem>,
}

/// The problem of one refused item (RFC 9457 members, without `instance`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ItemProblem {
    /// Problem type URI.
    #[serde(rename = "type")]
    pub type_uri: String,
    /// Short summary of the type.
    pub title: String,
    /// What is wrong with this item.
    pub detail: String,
}

/// The answer to `POST /v1/readings/batch`: one result per item, in request order, and counts.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BatchResults {
    /// Items stored now.
    pub stored: usize,
    /// Items already stored with the same content.
    pub duplicates: usize,
    /// Items refused.
    pub refused: usize,
    /// One result per item, in request order.
    pub results: Vec<BatchItemResult>,
}

/// The answer to a single reading that was stored or was a duplicate.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReadingAccepted {
    /// The site.
    #[serde(with = "int::u64")]
    #[schema(value_type = u64)]
    pub site_id: u64,
    /// The epoch.
    #[serde(with = "int::u64")]
    #[schema(value_type = u64)]
    pub epoch: u64,
    /// `stored` (201) or `duplicate` (200).
    pub result: ReadingResult,
}

/// A location as submitted at registration (CEII: stored encrypted, never returned).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LocationBody {
    /// Latitude in millionths of a degree, in [-90e6, 90e6].
    #[serde(with = "int::i64")]
    #[schema(value_type = i64)]
    pub latitude_microdeg: i64,
    /// Longitude in millionths of a degree, in [-180e6, 180e6].
    #[serde(with = "int::i64")]
    #[schema(value_type = i64)]
    pub longitude_microdeg: i64,
    /// Region code such as "US-IL" (1 to 31 printable ASCII characters).
    pub region: String,
}

impl LocationBody {
    /// The location in the circuit library's type (not yet validated).
    pub fn to_location(&self) -> Location {
        Location {
            latitude_microdeg: self.latitude_microdeg,
            longitude_microdeg: self.longitude_microdeg,
            region: self.region.clone(),
        }
    }
}

/// `POST /v1/installations`: a site as in batch file v1, without readings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InstallationBody {
    /// The operator's identifier of the site (signed in every meter message).
    #[serde(with = "int::u64")]
    #[schema(value_type = u64)]
    pub site_id: u64,
    /// The meter's public key (x, y), decimal strings.
    #[serde(with = "field::pair")]
    #[schema(value_type = [String; 2])]
    pub meter_public_key: [Fr; 2],
    /// Nameplate capacity in watts (at least 1).
    #[serde(with = "int::u32")]
    #[schema(value_type = u32)]
    pub capacity_w: u32,
    /// Time-of-use tariff in micro-USD per kWh, 4 to 11 slots.
    #[serde(with = "int::vec_u32")]
    #[schema(value_type = Vec<u32>)]
    pub prices_uusd_per_kwh: Vec<u32>,
    /// Where the installation is (CEII).
    pub location: LocationBody,
}

/// An installation as the API shows it: never its location.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct InstallationView {
    /// The site.
    #[serde(with = "int::u64")]
    #[schema(value_type = u64)]
    pub site_id: u64,
    /// The meter's public key (x, y), decimal strings.
    pub meter_public_key: [String; 2],
    /// Capacity in watts.
    pub capacity_w: u32,
    /// Tariff in micro-USD per kWh per slot.
    pub prices_uusd_per_kwh: Vec<u32>,
    /// When it was registered (Unix ms).
    pub registered_at_ms: i64,
}

/// `PUT /v1/epochs/{epoch}`: the interval and time-of-use schedule of an epoch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenEpochBody {
    /// Interval length in seconds (1 to 2^32 - 1).
    #[serde(with = "int::u32")]
    #[schema(value_type = u32)]
    pub interval_seconds: u32,
    /// Time-of-use slot of each interval (so its length is T, the readings per site).
    #[serde(with = "int::vec_u32")]
    #[schema(value_type = Vec<u32>)]
    pub slots: Vec<u32>,
}

/// A batch of an epoch: its proof and what is needed to publish it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BatchView {
    /// Index of the batch in the epoch.
    pub batch_index: u32,
    /// `pending`, `proved`, `published` or `failed`.
    pub status: String,
    /// Real sites in the batch (which ones is not disclosed).
    pub site_count: usize,
    /// Public inputs by name (decimal strings), once proved.
    #[schema(value_type = Option<Object>)]
    pub public_inputs: Option<serde_json::Value>,
    /// The Groth16 proof (`a`, `b`, `c` in snarkjs order), once proved.
    #[schema(value_type = Option<Object>)]
    pub proof: Option<serde_json::Value>,
    /// `RevenueOracle.submitBatch(publicInputs, proof)` calldata (0x hex), once proved.
    pub calldata: Option<String>,
    /// Hash of the submitting transaction (0x hex), once published.
    pub tx_hash: Option<String>,
    /// Why the batch failed.
    pub error: Option<String>,
}

/// Sums over the proved batches (decimal strings: they may exceed 2^64).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EpochTotalsView {
    /// Energy in Wh.
    pub total_energy_wh: String,
    /// Revenue in nano-USD.
    pub total_revenue_nusd: String,
    /// Batches included in the sums.
    pub batches_proved: usize,
    /// Batches of the epoch; the totals are the epoch's when both counts are equal.
    pub batches: usize,
}

/// An epoch: schedule, status, batches with proofs and calldata, totals.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EpochView {
    /// The epoch number.
    #[serde(with = "int::u64")]
    #[schema(value_type = u64)]
    pub epoch: u64,
    /// `open`, `proving`, `proved`, `published`, `final` or `failed`.
    pub status: String,
    /// Interval length in seconds.
    pub interval_seconds: u32,
    /// Slot of each interval.
    pub slots: Vec<u8>,
    /// Readings stored for the epoch.
    pub readings: u64,
    /// When it was opened (Unix ms).
    pub opened_at_ms: i64,
    /// When it was closed (Unix ms).
    pub closed_at_ms: Option<i64>,
    /// Registry root of its plan (decimal), once planned.
    pub registry_root: Option<String>,
    /// Why it failed.
    pub error: Option<String>,
    /// Its batches, once planned (omitted in lists).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batches: Option<Vec<BatchView>>,
    /// Totals over the proved batches, once any is proved (omitted in lists).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub totals: Option<EpochTotalsView>,
}

/// One page of installations.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct InstallationPage {
    /// The installations, in site order.
    pub items: Vec<InstallationView>,
    /// Pass as `after` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_after: Option<String>,
}

/// One page of epochs.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EpochPage {
    /// The epochs, newest first, without batches.
    pub items: Vec<EpochView>,
    /// Pass as `before` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_before: Option<String>,
}

/// `/healthz` and `/readyz`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Health {
    /// `ok`.
    pub status: String,
}

/// serde helpers for integers written as JSON numbers or canonical decimal strings (the rules
/// of batch file v1: no floats, exponents, signs on unsigned values, spaces or leading zeros).
pub(crate) mod int {
    use std::fmt;
    use std::marker::PhantomData;

    use gridproof_circuits::encoding::parse_uint;
    use serde::de::{self, Deserializer, SeqAccess, Visitor};
    use serde::Serializer;

    const MAX_SAFE_JSON_INTEGER: u64 = (1 << 53) - 1;

    pub(crate) trait FlexInt: Sized + Copy {
        const EXPECTED: &'static str;
        fn from_u64(v: u64) -> Option<Self>;
        fn from_i64(v: i64) -> Option<Self>;
        fn parse(s: &str) -> Result<Self, String>;
    }

    impl FlexInt for u64 {
        const EXPECTED: &'static str = "an unsigned 64-bit integer (JSON number or decimal string)";
        fn from_u64(v: u64) -> Option<Self> {
            Some(v)
        }
        fn from_i64(v: i64) -> Option<Self> {
            u64::try_from(v).ok()
        }
        fn parse(s: &str) -> Result<Self, String> {
            parse_uint(s, 64).map_err(|e| e.to_string())
        }
    }

    impl FlexInt for u32 {
        const EXPECTED: &'static str = "an unsigned 32-bit integer (JSON number or decimal string)";
        fn from_u64(v: u64) -> Option<Self> {
            u32::try_from(v).ok()
        }
        fn from_i64(v: i64) -> Option<Self> {
            u32::try_from(v).ok()
        }
        fn parse(s: &str) -> Result<Self, String> {
            parse_uint(s, 32)
                .map(|v| v as u32)
                .map_err(|e| e.to_string())
        }
    }

    impl FlexInt for i64 {
        const EXPECTED: &'static str = "a signed 64-bit integer (JSON number or decimal string)";
        fn from_u64(v: u64) -> Option<Self> {
            i64::try_from(v).ok()
        }
        fn from_i64(v: i64) -> Option<Self> {
            Some(v)
        }
        fn parse(s: &str) -> Result<Self, String> {
            let (negative, digits) = match s.strip_prefix('-') {
                Some(d) => (true, d),
                None => (false, s),
            };
            if negative && digits == "0" {
                return Err("'-0' is not canonical; write 0".to_string());
            }
            let magnitude = i128::from(parse_uint(digits, 64).map_err(|e| e.to_string())?);
            let value = if negative { -magnitude } else { magnitude };
            i64::try_from(value).map_err(|_| format!("{s} does not fit in a signed 64-bit integer"))
        }
    }

    struct FlexVisitor<T>(PhantomData<T>);

    impl<'de, T: FlexInt> Visitor<'de> for FlexVisitor<T> {
        type Value = T;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(T::EXPECTED)
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
            T::from_u64(v)
                .ok_or_else(|| E::custom(format!("{v} is out of range for {}", T::EXPECTED)))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
            T::from_i64(v)
                .ok_or_else(|| E::custom(format!("{v} is out of range for {}", T::EXPECTED)))
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<T, E> {
            Err(E::custom(format!(
                "{v:?} is not an integer (or is too wide): expected {}",
                T::EXPECTED
            )))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
            T::parse(v).map_err(E::custom)
        }
    }

    struct Flex<T>(T);

    impl<'de, T: FlexInt> serde::Deserialize<'de> for Flex<T> {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_any(FlexVisitor::<T>(PhantomData)).map(Flex)
        }
    }

    fn one<'de, D: Deserializer<'de>, T: FlexInt>(d: D) -> Result<T, D::Error> {
        d.deserialize_any(FlexVisitor::<T>(PhantomData))
    }

    pub(crate) mod u64 {
        use super::*;
        pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
            one::<D, u64>(d)
        }
        pub(crate) fn serialize<S: Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
            if *v <= MAX_SAFE_JSON_INTEGER {
                s.serialize_u64(*v)
            } else {
                s.serialize_str(&v.to_string())
            }
        }
    }

    pub(crate) mod u32 {
        use super::*;
        pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
            one::<D, u32>(d)
        }
        pub(crate) fn serialize<S: Serializer>(v: &u32, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_u32(*v)
        }
    }

    pub(crate) mod i64 {
        use super::*;
        pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
            one::<D, i64>(d)
        }
        pub(crate) fn serialize<S: Serializer>(v: &i64, s: S) -> Result<S::Ok, S::Error> {
            if v.unsigned_abs() <= MAX_SAFE_JSON_INTEGER {
                s.serialize_i64(*v)
            } else {
                s.serialize_str(&v.to_string())
            }
        }
    }

    pub(crate) mod vec_u32 {
        use super::*;
        pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u32>, D::Error> {
            struct SeqVisitor;
            impl<'de> Visitor<'de> for SeqVisitor {
                type Value = Vec<u32>;
                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    write!(f, "an array of {}", <u32 as FlexInt>::EXPECTED)
                }
                fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u32>, A::Error> {
                    let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1 << 16));
                    while let Some(Flex(v)) = seq.next_element::<Flex<u32>>()? {
                        out.push(v);
                    }
                    Ok(out)
                }
            }
            d.deserialize_seq(SeqVisitor)
        }
        pub(crate) fn serialize<S: Serializer>(v: &[u32], s: S) -> Result<S::Ok, S::Error> {
            s.collect_seq(v)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readings_take_numbers_or_decimal_strings_and_nothing_else() {
        let ok = r#"{"site_id":"18446744073709551615","epoch":7,"interval_seconds":"3600",
            "readings_wh":[1,"2"],"signature":{"r8":["1","2"],"s":3}}"#;
        let body: ReadingBody = serde_json::from_str(ok).unwrap();
        assert_eq!(body.site_id, u64::MAX);
        assert_eq!(body.readings_wh, vec![1, 2]);
        for bad in [
            r#"{"site_id":1.5,"epoch":7,"interval_seconds":1,"readings_wh":[],"signature":{"r8":["1","2"],"s":"3"}}"#,
            r#"{"site_id":"01","epoch":7,"interval_seconds":1,"readings_wh":[],"signature":{"r8":["1","2"],"s":"3"}}"#,
            r#"{"site_id":1,"epoch":7,"interval_seconds":1,"readings_wh":[4294967296],"signature":{"r8":["1","2"],"s":"3"}}"#,
            r#"{"site_id":1,"epoch":7,"interval_seconds":1,"readings_wh":[],"signature":{"r8":["1","2"],"s":"3"},"x":1}"#,
            r#"{"site_id":1,"epoch":7,"interval_seconds":1,"readings_wh":[],"signature":{"r8":["1","2"],"s":"-3"}}"#,
        ] {
            assert!(serde_json::from_str::<ReadingBody>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn wide_integers_are_written_as_strings() {
        let view = ReadingAccepted {
            site_id: u64::MAX,
            epoch: 5,
            result: ReadingResult::Stored,
        };
        let json = serde_json::to_value(&view).unwrap();
        assert_eq!(json["site_id"], "18446744073709551615");
        assert_eq!(json["epoch"], 5);
        assert_eq!(json["result"], "stored");
    }
}
