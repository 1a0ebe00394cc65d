//! The private output of `gridproof prove`: what the prover must keep so that a site can later be
//! disclosed selectively (its leaf preimage, location salt, position in the registry and in its
//! batch, readings and signature).
//!
//! **Secret.** This file holds every site's location (critical energy infrastructure
//! information, CEII), the salt that opens its location commitment, meter keys, readings and
//! prices. It is written with mode 0600, atomically (a temporary file in the same directory,
//! fsynced, then renamed), and must never be published next to the proofs file. Losing it makes
//! the epoch's proofs impossible to disclose from; it cannot be regenerated because the salts
//! are random.
//!
//! Format (private output v1, JSON; integers as numbers up to 2^53 - 1, field elements as
//! canonical decimal strings):
//! ```json
//! { "version": 1, "note": "SECRET ...", "epoch": 20300, "interval_seconds": 3600,
//!   "slots": [0, 0, ...], "sites_per_batch": 4, "readings_per_site": 24, "price_slots": 4,
//!   "registry_depth": 20, "registry_root": "<dec>", "batches": 2,
//!   "sites": [ { "site_id": 101, "batch_index": 0, "leaf_index": 0,
//!                "location": { "latitude_microdeg": 41878113, "longitude_microdeg": -87629799,
//!                              "region": "US-IL" },
//!                "location_salt": "<dec>", "location_commitment": "<dec>", "leaf": "<dec>",
//!                "capacity_w": 250000, "prices_uusd_per_kwh": [60000, 90000, 180000, 75000],
//!                "meter_public_key": ["<x>", "<y>"], "readings_wh": [0, 0, ...],
//!                "meter_message": "<dec>", "signature": { "r8": ["<x>", "<y>"], "s": "<dec>" } } ] }
//! ```

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use gridproof_circuits::eddsa::PublicKey;
use gridproof_circuits::merkle::MerkleTree;
use gridproof_circuits::registry::RegistryEntry;
use gridproof_circuits::schedule::Schedule;
use gridproof_circuits::statement::{BatchShape, BatchWitness, SiteWitness};
use gridproof_circuits::Fr;
use serde::{Deserialize, Serialize};

use crate::batch::{
    compact_scalar_arrays, field, int, LocationRecord, SignatureRecord, ValidatedSite,
};
use crate::fs::{StagedFile, SECRET_FILE_MODE};

/// The private output format version written by this tool.
pub const PRIVATE_OUTPUT_VERSION: u64 = 1;

/// The warning written at the top of every private output.
pub const PRIVATE_OUTPUT_NOTE: &str = "SECRET (CEII): site locations, location salts, meter keys, \
readings and prices of this epoch. Keep it to answer disclosure requests; never publish it.";

/// Everything about one epoch's proofs that is not public. Secret (CEII).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrivateOutput {
    /// Format version, 1.
    #[serde(with = "int::u64")]
    pub version: u64,
    /// A reminder that the file is secret.
    pub note: String,
    /// The epoch.
    #[serde(with = "int::u64")]
    pub epoch: u64,
    /// Interval length in seconds.
    #[serde(with = "int::u32")]
    pub interval_seconds: u32,
    /// The public time-of-use schedule.
    #[serde(with = "int::vec_u32")]
    pub slots: Vec<u32>,
    /// The keys' S.
    pub sites_per_batch: usize,
    /// The keys' T.
    pub readings_per_site: usize,
    /// The keys' P.
    pub price_slots: usize,
    /// Depth of the registry tree.
    pub registry_depth: usize,
    /// Root of the epoch's registry tree (public; also in the proofs file).
    #[serde(with = "field::single")]
    pub registry_root: Fr,
    /// Number of batches (proofs).
    pub batches: usize,
    /// Every site, in the batch file's order.
    pub sites: Vec<PrivateSite>,
}

/// One site's secrets and placement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrivateSite {
    /// The site's id.
    #[serde(with = "int::u64")]
    pub site_id: u64,
    /// The batch (proof) that counts it.
    #[serde(with = "int::u64")]
    pub batch_index: u64,
    /// Its leaf index in the registry tree (`batch_index * S + position in batch`).
    #[serde(with = "int::u64")]
    pub leaf_index: u64,
    /// The location as given in the batch file (CEII).
    pub location: LocationRecord,
    /// The random salt that opens `location_commitment` (secret).
    #[serde(with = "field::single")]
    pub location_salt: Fr,
    /// Poseidon commitment to the location and salt, part of the leaf.
    #[serde(with = "field::single")]
    pub location_commitment: Fr,
    /// The registry leaf.
    #[serde(with = "field::single")]
    pub leaf: Fr,
    /// Capacity in W.
    #[serde(with = "int::u32")]
    pub capacity_w: u32,
    /// Prices per time-of-use slot, micro-USD per kWh.
    #[serde(with = "int::vec_u32")]
    pub prices_uusd_per_kwh: Vec<u32>,
    /// The meter's public key (x, y).
    #[serde(with = "field::pair")]
    pub meter_public_key: [Fr; 2],
    /// Readings in Wh per interval.
    #[serde(with = "int::vec_u32")]
    pub readings_wh: Vec<u32>,
    /// Meter message v1 of the readings (the signed hash, a leaf of the batch's readings tree).
    #[serde(with = "field::single")]
    pub meter_message: Fr,
    /// The meter's signature over `meter_message`.
    pub signature: SignatureRecord,
}

impl PrivateSite {
    /// The private record of a validated site placed at `leaf_index` of batch `batch_index`.
    pub fn new(
        site: &ValidatedSite,
        batch_index: u64,
        leaf_index: u64,
        location_salt: Fr,
        location_commitment: Fr,
        leaf: Fr,
    ) -> Self {
        Self {
            site_id: site.site_id,
            batch_index,
            leaf_index,
            location: LocationRecord::from_location(&site.location),
            location_salt,
            location_commitment,
            leaf,
            capacity_w: site.capacity_w,
            prices_uusd_per_kwh: site.prices_uusd_per_kwh.clone(),
            meter_public_key: [site.meter_key.x, site.meter_key.y],
            readings_wh: site.readings_wh.clone(),
            meter_message: site.meter_message,
            signature: SignatureRecord::from_signature(&site.signature),
        }
    }
}

impl PrivateSite {
    /// The site as the statement's witness holds it (registry entry, readings, signature): what
    /// a batch proof or a disclosure recomputes leaves, messages and totals from. Fails only if
    /// the meter key is not a valid Baby Jubjub point (a corrupted private output).
    pub fn site_witness(&self) -> Result<SiteWitness, PrivateOutputError> {
        let meter_key = PublicKey::new(self.meter_public_key[0], self.meter_public_key[1])
            .map_err(|e| {
                PrivateOutputError::Inconsistent(format!("site {}: meter key: {e}", self.site_id))
            })?;
        Ok(SiteWitness {
            entry: RegistryEntry {
                site_id: self.site_id,
                meter_key,
                capacity_w: self.capacity_w,
                prices_uusd_per_kwh: self.prices_uusd_per_kwh.clone(),
                location_commitment: self.location_commitment,
            },
            readings_wh: self.readings_wh.clone(),
            signature: self.signature.to_signature(),
        })
    }
}

/// Why a private output could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum PrivateOutputError {
    /// File system error.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The reason.
        #[source]
        source: io::Error,
    },
    /// Not a private output v1.
    #[error("{path} is not a gridproof private output v1: {source}")]
    Format {
        /// The file.
        path: String,
        /// The reason.
        #[source]
        source: serde_json::Error,
    },
    /// The content does not hold together: a bad meter key, a site outside its batch or the
    /// registry, leaves that do not lead to the registry root.
    #[error("private output: {0}")]
    Inconsistent(String),
    /// A version this tool does not read.
    #[error("{path}: private output version {version} is not supported (expected 1)")]
    Version {
        /// The file.
        path: String,
        /// The version found.
        version: u64,
    },
}

impl PrivateOutput {
    /// The keys' shape this output was proved with (as recorded; not validated).
    pub fn shape(&self) -> BatchShape {
        BatchShape {
            sites: self.sites_per_batch,
            readings_per_site: self.readings_per_site,
            price_slots: self.price_slots,
            registry_depth: self.registry_depth,
        }
    }

    /// The epoch's public time-of-use schedule.
    pub fn schedule(&self) -> Result<Schedule, PrivateOutputError> {
        let slots = self
            .slots
            .iter()
            .map(|&s| u8::try_from(s))
            .collect::<Result<Vec<u8>, _>>()
            .map_err(|_| PrivateOutputError::Inconsistent("a slot above 255".into()))?;
        Schedule::new(slots, self.price_slots)
            .map_err(|e| PrivateOutputError::Inconsistent(format!("schedule: {e}")))
    }

    /// The epoch's registry tree, rebuilt from the sites' leaves at their leaf indices; fails
    /// unless it leads to `registry_root` (so every path taken from it is the proved one).
    pub fn registry_tree(&self) -> Result<MerkleTree, PrivateOutputError> {
        let shape = self.shape();
        shape
            .validate()
            .map_err(|e| PrivateOutputError::Inconsistent(format!("shape: {e}")))?;
        // Placement puts batch b's sites at b*S..: no leaf index reaches batches * S, and there
        // are no more batches than sites, so the leaves below fit in memory.
        if self.batches > self.sites.len() {
            return Err(PrivateOutputError::Inconsistent(format!(
                "{} batches for {} sites",
                self.batches,
                self.sites.len()
            )));
        }
        let used = self.batches * shape.sites;
        let mut leaves = vec![Fr::from(0u64); used];
        for site in &self.sites {
            let slot = usize::try_from(site.leaf_index)
                .ok()
                .filter(|&i| i < used)
                .ok_or_else(|| {
                    PrivateOutputError::Inconsistent(format!(
                        "site {} is at leaf {}, outside the epoch's {} batches of {} sites",
                        site.site_id, site.leaf_index, self.batches, shape.sites
                    ))
                })?;
            leaves[slot] = site.leaf;
        }
        let tree = MerkleTree::new(self.registry_depth, &leaves)
            .map_err(|e| PrivateOutputError::Inconsistent(format!("registry tree: {e}")))?;
        if tree.root() != self.registry_root {
            return Err(PrivateOutputError::Inconsistent(
                "the sites' leaves do not lead to the registry root".into(),
            ));
        }
        Ok(tree)
    }

    /// Batch `batch_index`'s witness, rebuilt from this output, its `schedule` and its
    /// registry `tree` ([`PrivateOutput::registry_tree`]): the same witness `prove` proved.
    pub fn batch_witness(
        &self,
        schedule: &Schedule,
        tree: &MerkleTree,
        batch_index: u64,
    ) -> Result<BatchWitness, PrivateOutputError> {
        let shape = self.shape();
        let first_leaf = batch_index * shape.sites as u64;
        let mut sites: Vec<Option<SiteWitness>> = vec![None; shape.sites];
        for site in self.sites.iter().filter(|s| s.batch_index == batch_index) {
            let position = site
                .leaf_index
                .checked_sub(first_leaf)
                .map(|p| p as usize)
                .filter(|&p| p < shape.sites)
                .ok_or_else(|| {
                    PrivateOutputError::Inconsistent(format!(
                        "site {} is at leaf {}, outside batch {batch_index}",
                        site.site_id, site.leaf_index
                    ))
                })?;
            sites[position] = Some(site.site_witness()?);
        }
        let registry_path = tree
            .subtree_path(shape.subtree_height(), batch_index)
            .map_err(|e| PrivateOutputError::Inconsistent(format!("registry path: {e}")))?
            .siblings;
        Ok(BatchWitness {
            epoch: self.epoch,
            interval_seconds: self.interval_seconds,
            schedule: schedule.clone(),
            batch_index,
            registry_root: self.registry_root,
            sites,
            registry_path,
        })
    }

    /// Pretty JSON of the output.
    pub fn to_json_pretty(&self) -> String {
        compact_scalar_arrays(
            &serde_json::to_string_pretty(self)
                .expect("a private output has only string keys and finite numbers"),
        )
    }

    /// Stages the output next to `path` (mode 0600, fsynced) without replacing `path` yet; call
    /// [`StagedFile::commit`] once everything else that goes with it is staged too.
    pub fn stage(&self, path: &Path) -> Result<StagedFile, PrivateOutputError> {
        let mut text = self.to_json_pretty();
        text.push('\n');
        StagedFile::create(path, text.as_bytes(), SECRET_FILE_MODE).map_err(|source| {
            PrivateOutputError::Io {
                path: path.display().to_string(),
                source,
            }
        })
    }

    /// Writes the output to `path` atomically with mode 0600.
    pub fn write(&self, path: &Path) -> Result<(), PrivateOutputError> {
        self.stage(path)?
            .commit()
            .map_err(|source| PrivateOutputError::Io {
                path: path.display().to_string(),
                source,
            })
    }

    /// Reads a private output written by [`PrivateOutput::write`].
    pub fn read(path: &Path) -> Result<Self, PrivateOutputError> {
        let display = path.display().to_string();
        let text = fs::read_to_string(path).map_err(|source| PrivateOutputError::Io {
            path: display.clone(),
            source,
        })?;
        let out: Self =
            serde_json::from_str(&text).map_err(|source| PrivateOutputError::Format {
                path: display.clone(),
                source,
            })?;
        if out.version != PRIVATE_OUTPUT_VERSION {
            return Err(PrivateOutputError::Version {
                path: display,
                version: out.version,
            });
        }
        Ok(out)
    }
}

/// Where the private output goes by default: beside the proofs file, `proofs.json` ->
/// `proofs.private.json` (any other name gets `.private.json` appended).
pub fn default_private_output_path(proofs: &Path) -> PathBuf {
    let name = proofs
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "proofs".to_string());
    let stem = name.strip_suffix(".json").unwrap_or(&name);
    proofs.with_file_name(format!("{stem}.private.json"))
}
