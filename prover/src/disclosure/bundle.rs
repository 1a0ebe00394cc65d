//! The disclosure bundle (plaintext, JSON, versioned): everything a regulator needs to check one
//! site of one epoch against public data alone. Built from `prove`'s private output and the
//! batch's entry of the proofs file; sealed to the regulator by [`super::seal`].

use std::fmt;
use std::str::FromStr;

use gridproof_circuits::encoding::parse_uint;
use gridproof_circuits::statement::{readings_tree, PublicInputs};
use gridproof_circuits::Fr;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::DisclosureError;
use crate::batch::{field, int, LocationRecord, SignatureRecord};
use crate::private_output::PrivateOutput;
use crate::proofs_file::{BatchProof, ProofJson};
use crate::shape::ShapeRecord;

/// The bundle format version written and read by this build.
pub const BUNDLE_VERSION: u64 = 1;

/// Everything about one disclosed site of one epoch. Secret (CEII: it holds the location and
/// the salt that opens its commitment): it exists in clear only inside the regulator's tools,
/// and travels sealed ([`super::seal`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DisclosureBundle {
    /// Format version, [`BUNDLE_VERSION`].
    #[serde(with = "int::u64")]
    pub version: u64,
    /// The epoch.
    #[serde(with = "int::u64")]
    pub epoch: u64,
    /// Interval length in seconds (signed by the meter, a public input).
    #[serde(with = "int::u32")]
    pub interval_seconds: u32,
    /// The epoch's public time-of-use schedule: the price slot of each interval.
    #[serde(with = "int::vec_u32")]
    pub slots: Vec<u32>,
    /// The keys' shape (S, T, P, registry depth) the batch was proved with.
    pub shape: ShapeRecord,
    /// The site: its leaf preimage, location and salt, readings and meter signature.
    pub site: DisclosedSite,
    /// From the site's leaf to the epoch's registry root (`index` is the leaf index).
    pub registry_path: PathRecord,
    /// From the site's meter message to the batch's `readings_root` (`index` is the site's
    /// position in its batch, `leaf_index - batch_index * S`).
    pub readings_path: PathRecord,
    /// The batch that counted the site: public inputs, proof, transaction.
    pub batch: DisclosedBatch,
}

/// The disclosed site: the registry leaf's preimage, the location that opens its commitment,
/// and the signed readings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DisclosedSite {
    /// The site's id.
    #[serde(with = "int::u64")]
    pub site_id: u64,
    /// The meter's EdDSA-Poseidon public key (x, y).
    #[serde(with = "field::pair")]
    pub meter_public_key: [Fr; 2],
    /// Nameplate capacity in W.
    #[serde(with = "int::u32")]
    pub capacity_w: u32,
    /// Price of each time-of-use slot, micro-USD per kWh.
    #[serde(with = "int::vec_u32")]
    pub prices_uusd_per_kwh: Vec<u32>,
    /// The location (CEII).
    pub location: LocationRecord,
    /// The salt of the location commitment (secret).
    #[serde(with = "field::single")]
    pub location_salt: Fr,
    /// The location commitment that the registry leaf holds.
    #[serde(with = "field::single")]
    pub location_commitment: Fr,
    /// The readings in Wh per interval, as the meter signed them.
    #[serde(with = "int::vec_u32")]
    pub readings_wh: Vec<u32>,
    /// The meter's signature over meter message v1 of the readings.
    pub signature: SignatureRecord,
    /// The site's energy in the epoch (sum of readings), Wh, as the service states it.
    #[serde(with = "dec_u128")]
    pub energy_wh: u128,
    /// The site's revenue in nano-USD (sum of reading x price of its slot), as the service
    /// states it; the check recomputes it.
    #[serde(with = "dec_u128")]
    pub revenue_nusd: u128,
}

/// A Merkle authentication path: the node's index on its level and one sibling per level,
/// bottom-up (as `gridproof_circuits::merkle::MerklePath`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PathRecord {
    /// Index of the leaf; bit i says whether the node at level i is a right child.
    #[serde(with = "int::u64")]
    pub index: u64,
    /// Siblings, bottom-up.
    #[serde(with = "field_vec")]
    pub siblings: Vec<Fr>,
}

/// The batch's public record as the proofs file v1 has it, plus its transaction when published.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DisclosedBatch {
    /// The batch's index in the epoch.
    #[serde(with = "int::u64")]
    pub batch_index: u64,
    /// The statement's public inputs, by name.
    pub public_inputs: PublicInputsRecord,
    /// The Groth16 proof (snarkjs order, as in the proofs file).
    pub proof: ProofJson,
    /// The transaction that got the batch accepted by RevenueOracle, if it was published.
    pub tx_hash: Option<TxHash>,
}

/// The statement's eight public inputs by name (the proofs file's `public_inputs` object).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)] // each field is the public input of the same name (PublicInputs::NAMES)
pub struct PublicInputsRecord {
    #[serde(with = "field::single")]
    pub epoch: Fr,
    #[serde(with = "field::single")]
    pub registry_root: Fr,
    #[serde(with = "field::single")]
    pub batch_index: Fr,
    #[serde(with = "field::single")]
    pub total_energy_wh: Fr,
    #[serde(with = "field::single")]
    pub total_revenue_nusd: Fr,
    #[serde(with = "field::single")]
    pub readings_root: Fr,
    #[serde(with = "field::single")]
    pub interval_seconds: Fr,
    #[serde(with = "field::single")]
    pub schedule_hash: Fr,
}

impl PublicInputsRecord {
    /// The record of inputs in the statement's order ([`PublicInputs::NAMES`]); `None` unless
    /// there are exactly eight.
    pub fn from_slice(x: &[Fr]) -> Option<Self> {
        let [epoch, registry_root, batch_index, total_energy_wh, total_revenue_nusd, readings_root, interval_seconds, schedule_hash] =
            <[Fr; 8]>::try_from(x).ok()?;
        Some(Self {
            epoch,
            registry_root,
            batch_index,
            total_energy_wh,
            total_revenue_nusd,
            readings_root,
            interval_seconds,
            schedule_hash,
        })
    }

    /// The inputs in the statement's order, as the verifier takes them.
    pub fn to_vec(&self) -> Vec<Fr> {
        vec![
            self.epoch,
            self.registry_root,
            self.batch_index,
            self.total_energy_wh,
            self.total_revenue_nusd,
            self.readings_root,
            self.interval_seconds,
            self.schedule_hash,
        ]
    }
}

/// A 32-byte transaction hash, written `0x` + 64 hex characters.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TxHash(pub [u8; 32]);

impl fmt::Display for TxHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{}", hex::encode(self.0))
    }
}

impl fmt::Debug for TxHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for TxHash {
    type Err = DisclosureError;
    /// `0x` + 64 hex characters (the `0x` may be left out).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let digits = s.strip_prefix("0x").unwrap_or(s);
        let mut out = [0u8; 32];
        hex::decode_to_slice(digits, &mut out).map_err(|e| {
            DisclosureError::Format(format!(
                "a transaction hash is 0x and 64 hex characters: {e}"
            ))
        })?;
        Ok(Self(out))
    }
}

impl Serialize for TxHash {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for TxHash {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Unsigned 128-bit integers as canonical decimal strings (totals in nano-USD exceed 2^64).
mod dec_u128 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(v: &u128, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&v.to_string())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u128, D::Error> {
        let text = String::deserialize(d)?;
        let canonical = !text.is_empty()
            && text.bytes().all(|b| b.is_ascii_digit())
            && (text == "0" || !text.starts_with('0'));
        if !canonical {
            return Err(serde::de::Error::custom(format!(
                "{text:?} is not a canonical decimal integer"
            )));
        }
        text.parse()
            .map_err(|_| serde::de::Error::custom(format!("{text} does not fit 128 bits")))
    }
}

/// A list of field elements as canonical decimal strings.
mod field_vec {
    use gridproof_circuits::encoding::field_to_decimal;
    use gridproof_circuits::Fr;
    use serde::ser::SerializeSeq;
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::batch::field::FieldDe;

    pub(super) fn serialize<S: Serializer>(v: &[Fr], s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(v.len()))?;
        for x in v {
            seq.serialize_element(&field_to_decimal(x))?;
        }
        seq.end()
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Fr>, D::Error> {
        Ok(Vec::<FieldDe>::deserialize(d)?
            .into_iter()
            .map(|f| f.0)
            .collect())
    }
}

impl DisclosureBundle {
    /// The bundle of site `site_id` from the private output of the `prove` run that proved
    /// `batch` (its entry in the proofs file, or the same values from the service's store), with
    /// the batch's transaction if it was published.
    ///
    /// The Merkle paths are computed with the circuits crate's native trees, and the batch is
    /// rebuilt from the private output and compared with `batch`'s public inputs in full, so a
    /// private output and a proofs file of different runs are refused here rather than handed
    /// to a regulator.
    pub fn from_private_output(
        private: &PrivateOutput,
        batch: &BatchProof,
        tx_hash: Option<TxHash>,
        site_id: u64,
    ) -> Result<Self, DisclosureError> {
        let site = private.sites.iter().find(|s| s.site_id == site_id).ok_or(
            DisclosureError::SiteNotFound {
                site_id,
                epoch: private.epoch,
            },
        )?;
        if site.batch_index != batch.batch_index {
            return Err(DisclosureError::WrongBatch {
                site_id,
                site_batch: site.batch_index,
                given_batch: batch.batch_index,
            });
        }
        let public = PublicInputs::from_field_elements(&batch.public_inputs)
            .map_err(|e| DisclosureError::Mismatch(format!("the batch's public inputs: {e}")))?;
        let shape = private.shape();
        let schedule = private.schedule()?;
        let tree = private.registry_tree()?;
        let witness = private.batch_witness(&schedule, &tree, batch.batch_index)?;
        let rebuilt = witness.public_inputs(&shape)?;
        if rebuilt != public {
            return Err(DisclosureError::Mismatch(format!(
                "batch {} of the proofs file is not the batch this private output proved (epoch \
                 {}): they were written by different runs",
                batch.batch_index, private.epoch
            )));
        }
        let registry_path = tree.path(site.leaf_index)?;
        let position = site.leaf_index - batch.batch_index * shape.sites as u64;
        let readings_path = readings_tree(&witness, &shape)?.path(position)?;
        let (energy_wh, revenue_nusd) = site.site_witness()?.totals(&schedule);
        let public_inputs = PublicInputsRecord::from_slice(&batch.public_inputs)
            .ok_or_else(|| DisclosureError::Mismatch("the batch has not 8 public inputs".into()))?;
        Ok(Self {
            version: BUNDLE_VERSION,
            epoch: private.epoch,
            interval_seconds: private.interval_seconds,
            slots: private.slots.clone(),
            shape: ShapeRecord::of(&shape),
            site: DisclosedSite {
                site_id,
                meter_public_key: site.meter_public_key,
                capacity_w: site.capacity_w,
                prices_uusd_per_kwh: site.prices_uusd_per_kwh.clone(),
                location: site.location.clone(),
                location_salt: site.location_salt,
                location_commitment: site.location_commitment,
                readings_wh: site.readings_wh.clone(),
                signature: site.signature.clone(),
                energy_wh,
                revenue_nusd,
            },
            registry_path: PathRecord {
                index: registry_path.index,
                siblings: registry_path.siblings,
            },
            readings_path: PathRecord {
                index: readings_path.index,
                siblings: readings_path.siblings,
            },
            batch: DisclosedBatch {
                batch_index: batch.batch_index,
                public_inputs,
                proof: ProofJson::from_proof(&batch.proof),
                tx_hash,
            },
        })
    }

    /// The bundle as compact JSON (what is sealed).
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a bundle has only string keys, strings and integers")
    }

    /// Parses a bundle's JSON, refusing unknown fields and other versions.
    pub fn from_json(bytes: &[u8]) -> Result<Self, DisclosureError> {
        #[derive(Deserialize)]
        struct Version {
            version: serde_json::Value,
        }
        let version = serde_json::from_slice::<Version>(bytes)
            .map_err(|e| DisclosureError::Format(format!("not a disclosure bundle: {e}")))?
            .version;
        let supported = match &version {
            serde_json::Value::Number(n) => n.as_u64() == Some(BUNDLE_VERSION),
            serde_json::Value::String(s) => parse_uint(s, 64).ok() == Some(BUNDLE_VERSION),
            _ => false,
        };
        if !supported {
            return Err(DisclosureError::Format(format!(
                "bundle version {version} is not supported (this build reads version \
                 {BUNDLE_VERSION})"
            )));
        }
        serde_json::from_slice(bytes)
            .map_err(|e| DisclosureError::Format(format!("not a disclosure bundle v1: {e}")))
    }
}
