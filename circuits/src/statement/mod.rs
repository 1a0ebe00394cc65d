//! The batch statement: one Groth16 proof per batch of S sites with T readings each.
//!
//! Public inputs, in this order (see [`PublicInputs::NAMES`]): `epoch`, `registry_root`,
//! `batch_index`, `total_energy_wh`, `total_revenue_nusd`, `readings_root`, `interval_seconds`,
//! `schedule_hash`. The key fixes S, T, P and the registry depth.
//!
//! Proven about the private witness (DESIGN.md, "The statement"):
//! - the S leaves at indices `[batch_index*S, (batch_index+1)*S)` form the subtree that, with
//!   the given path, leads to `registry_root` (one subtree, not S paths); an empty position is
//!   the leaf 0 and contributes nothing;
//! - each real leaf commits to site id, meter key, capacity, tariff and a location commitment;
//! - each real site's meter signature verifies over meter message v1 of its readings;
//! - each reading r satisfies 0 <= r <= floor(capacity_w * interval_seconds / 3600) as integers,
//!   and that bound is below 2^24 ([`MAX_READING_BOUND_WH`]; a restriction on which sites can be
//!   proved, see [`provable_reading_bound_wh`]);
//! - site revenue (nano-USD) = sum_i price[slot_i] * r_i exactly, with `slot_i` from the public
//!   schedule bound by `schedule_hash`; totals are the sums over the real sites;
//! - `readings_root` is the root of the S meter messages (0 for empty positions).
//!
//! This module holds the native twin ([`BatchWitness::public_inputs`]); `circuit.rs` holds the
//! constraint system ([`BatchCircuit`]).

mod circuit;

pub use circuit::{BatchCircuit, ConstraintGroups};

use crate::{
    eddsa::{PrivateKey, Signature},
    merkle::{MerklePath, MerkleTree, REGISTRY_DEPTH},
    meter::MeterMessage,
    registry::{RegistryEntry, RegistryError, MAX_PRICE_SLOTS},
    schedule::Schedule,
    Fr,
};

/// Most readings per site a key may have (keeps every sum far below the field modulus).
pub const MAX_READINGS_PER_SITE: usize = 1 << 16;

/// Width in bits of each reading's two range checks (r and bound - r), and of the capacity
/// bound's: the statement proves sites whose bound is below 2^24 Wh per interval.
pub const READING_BOUND_BITS: usize = 24;

/// Largest capacity bound `floor(capacity_w * interval_seconds / 3600)` the statement can
/// prove, in Wh per interval (2^24 - 1, about 16.8 MWh: a 67 MW site at 15-minute intervals,
/// 16.8 MW at hourly ones, 699 kW at daily ones). So also the largest provable reading. A site
/// above it cannot be proved: refuse it when it is registered or its readings arrive, with
/// [`provable_reading_bound_wh`] or [`crate::registry::checked_reading_bound_wh`].
pub const MAX_READING_BOUND_WH: u32 = (1 << READING_BOUND_BITS) - 1;

/// The capacity bound of a site, `floor(capacity_w * interval_seconds / 3600)` Wh per
/// interval, if the statement can prove it (at most [`MAX_READING_BOUND_WH`]); otherwise an
/// error naming the site, the bound and the limit.
pub fn provable_reading_bound_wh(
    site_id: u64,
    capacity_w: u32,
    interval_seconds: u32,
) -> Result<u32, StatementError> {
    crate::registry::checked_reading_bound_wh(capacity_w, interval_seconds).ok_or(
        StatementError::ReadingBound {
            site_id,
            capacity_w,
            interval_seconds,
            bound_wh: crate::registry::reading_bound_wh(capacity_w, interval_seconds),
        },
    )
}

/// Why a shape, witness or public input vector does not fit the statement.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StatementError {
    /// Sites per batch must be a power of two, at least 1, at most 2^depth.
    #[error("sites per batch must be a power of two between 1 and 2^{depth}, got {sites}")]
    Sites {
        /// The requested number of sites.
        sites: usize,
        /// The registry depth.
        depth: usize,
    },
    /// Readings per site out of range.
    #[error("readings per site must be 1 to {MAX_READINGS_PER_SITE}, got {0}")]
    Readings(usize),
    /// Price slots out of range.
    #[error("price slots must be 4 to {MAX_PRICE_SLOTS}, got {0}")]
    PriceSlots(usize),
    /// A witness whose dimensions differ from the key's.
    #[error("{what}: expected {expected}, got {got}")]
    Dimension {
        /// Which part of the witness.
        what: String,
        /// The key's value.
        expected: usize,
        /// The witness's value.
        got: usize,
    },
    /// The batch index does not fit the registry.
    #[error("batch index {0} is outside the registry")]
    BatchIndex(u64),
    /// The batch's leaves and path do not lead to the registry root the witness names.
    #[error("the batch's leaves and path do not lead to the registry root")]
    RegistryRootMismatch,
    /// A registry entry is malformed.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// A site's capacity bound is above what the statement can prove.
    #[error(
        "site {site_id}: the capacity bound floor({capacity_w} W x {interval_seconds} s / 3600) \
         = {bound_wh} Wh per interval is above the statement's limit of \
         {MAX_READING_BOUND_WH} Wh (2^{READING_BOUND_BITS} - 1)"
    )]
    ReadingBound {
        /// The site.
        site_id: u64,
        /// Its capacity.
        capacity_w: u32,
        /// The interval length.
        interval_seconds: u32,
        /// The bound, above [`MAX_READING_BOUND_WH`].
        bound_wh: u64,
    },
    /// The public input vector has the wrong length or a value out of its range.
    #[error("public input {name}: {reason}")]
    PublicInput {
        /// The input's name.
        name: &'static str,
        /// What is wrong.
        reason: String,
    },
}

/// The dimensions a proving key is made for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BatchShape {
    /// Sites per batch (S), a power of two.
    pub sites: usize,
    /// Readings per site (T), the intervals of an epoch.
    pub readings_per_site: usize,
    /// Price slots of every tariff (P >= 4).
    pub price_slots: usize,
    /// Depth of the registry tree.
    pub registry_depth: usize,
}

impl BatchShape {
    /// Default number of time-of-use price slots.
    pub const DEFAULT_PRICE_SLOTS: usize = 4;

    /// A shape with the default registry depth (20).
    pub fn new(
        sites: usize,
        readings_per_site: usize,
        price_slots: usize,
    ) -> Result<Self, StatementError> {
        let shape = Self {
            sites,
            readings_per_site,
            price_slots,
            registry_depth: REGISTRY_DEPTH,
        };
        shape.validate()?;
        Ok(shape)
    }

    /// Checks every dimension (also for shapes read back from a key file).
    pub fn validate(&self) -> Result<(), StatementError> {
        let depth = self.registry_depth;
        if depth > crate::merkle::MAX_DEPTH
            || self.sites == 0
            || !self.sites.is_power_of_two()
            || self.sites.trailing_zeros() as usize > depth
        {
            return Err(StatementError::Sites {
                sites: self.sites,
                depth,
            });
        }
        if !(1..=MAX_READINGS_PER_SITE).contains(&self.readings_per_site) {
            return Err(StatementError::Readings(self.readings_per_site));
        }
        if !(4..=MAX_PRICE_SLOTS).contains(&self.price_slots) {
            return Err(StatementError::PriceSlots(self.price_slots));
        }
        Ok(())
    }

    /// Height of one batch's subtree in the registry (log2 S).
    pub fn subtree_height(&self) -> usize {
        self.sites.trailing_zeros() as usize
    }

    /// Number of batches the registry has room for (2^(depth - log2 S)).
    pub fn max_batches(&self) -> u64 {
        1u64 << (self.registry_depth - self.subtree_height())
    }
}

/// The public inputs of one batch proof.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublicInputs {
    /// The epoch every reading was signed for.
    pub epoch: u64,
    /// Root of the epoch's registry tree, published by the registrar.
    pub registry_root: Fr,
    /// Which S leaves of the registry this batch covers.
    pub batch_index: u64,
    /// Sum of every reading of the batch's sites, in Wh.
    pub total_energy_wh: u128,
    /// Sum of the batch's site revenues in nano-USD (Wh x micro-USD/kWh).
    pub total_revenue_nusd: u128,
    /// Root of the tree over the batch's S meter messages (for later disclosure).
    pub readings_root: Fr,
    /// Length of one reading interval in seconds (signed in every meter message).
    pub interval_seconds: u32,
    /// [`Schedule::hash`] of the epoch's time-of-use schedule.
    pub schedule_hash: Fr,
}

impl PublicInputs {
    /// Names of the public inputs in the order the proof takes them.
    pub const NAMES: [&'static str; 8] = [
        "epoch",
        "registry_root",
        "batch_index",
        "total_energy_wh",
        "total_revenue_nusd",
        "readings_root",
        "interval_seconds",
        "schedule_hash",
    ];

    /// The field elements in proof order.
    pub fn to_field_elements(&self) -> Vec<Fr> {
        vec![
            Fr::from(self.epoch),
            self.registry_root,
            Fr::from(self.batch_index),
            Fr::from(self.total_energy_wh),
            Fr::from(self.total_revenue_nusd),
            self.readings_root,
            Fr::from(self.interval_seconds),
            self.schedule_hash,
        ]
    }

    /// Reads field elements in proof order, checking each integer input's range.
    pub fn from_field_elements(x: &[Fr]) -> Result<Self, StatementError> {
        if x.len() != Self::NAMES.len() {
            return Err(StatementError::PublicInput {
                name: "count",
                reason: format!("expected {}, got {}", Self::NAMES.len(), x.len()),
            });
        }
        let int = |i: usize, bits: u32| -> Result<u128, StatementError> {
            use ark_ff::{BigInteger, PrimeField};
            let big = x[i].into_bigint();
            let limbs = big.as_ref();
            let v = limbs[0] as u128 | (limbs[1] as u128) << 64;
            if limbs[2] != 0
                || limbs[3] != 0
                || (bits < 128 && v >> bits != 0)
                || big.num_bits() > bits
            {
                return Err(StatementError::PublicInput {
                    name: Self::NAMES[i],
                    reason: format!("does not fit in {bits} bits"),
                });
            }
            Ok(v)
        };
        Ok(Self {
            epoch: int(0, 64)? as u64,
            registry_root: x[1],
            batch_index: int(2, 64)? as u64,
            total_energy_wh: int(3, 128)?,
            total_revenue_nusd: int(4, 128)?,
            readings_root: x[5],
            interval_seconds: int(6, 32)? as u32,
            schedule_hash: x[7],
        })
    }
}

/// One real site of a batch: its registry entry, its readings and its meter's signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteWitness {
    /// The site's registry entry (the leaf preimage).
    pub entry: RegistryEntry,
    /// One reading per interval, in Wh.
    pub readings_wh: Vec<u32>,
    /// The meter's signature over meter message v1 of these readings.
    pub signature: Signature,
}

/// Everything a batch proof needs, as the prover knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchWitness {
    /// The epoch.
    pub epoch: u64,
    /// Interval length in seconds.
    pub interval_seconds: u32,
    /// The epoch's public time-of-use schedule.
    pub schedule: Schedule,
    /// Which subtree of the registry this batch covers.
    pub batch_index: u64,
    /// The registry root of the epoch.
    pub registry_root: Fr,
    /// Exactly S positions; `None` is an empty leaf (0 in the registry).
    pub sites: Vec<Option<SiteWitness>>,
    /// Siblings from the batch's subtree root up to the registry root.
    pub registry_path: Vec<Fr>,
}

/// The key that signs the placeholder message of an empty position. Everyone may know it: an
/// empty position's readings and revenue are multiplied by zero in the circuit.
fn empty_position_key() -> PrivateKey {
    PrivateKey::from_bytes(*b"gridproof/empty-position/v1.....")
}

/// A site witness that fills an empty position (site 0, capacity 0, all readings 0).
pub(crate) fn empty_position(shape: &BatchShape, epoch: u64, interval_seconds: u32) -> SiteWitness {
    let key = empty_position_key();
    let readings_wh = vec![0; shape.readings_per_site];
    let message = MeterMessage {
        site_id: 0,
        epoch,
        interval_seconds,
        readings_wh: readings_wh.clone(),
    };
    SiteWitness {
        entry: RegistryEntry {
            site_id: 0,
            meter_key: key.public_key(),
            capacity_w: 0,
            prices_uusd_per_kwh: vec![0; shape.price_slots],
            location_commitment: Fr::from(0u64),
        },
        signature: key.sign(message.hash()),
        readings_wh,
    }
}

impl SiteWitness {
    /// Energy (Wh) and revenue (nano-USD) of this site under `schedule`.
    pub fn totals(&self, schedule: &Schedule) -> (u128, u128) {
        let mut energy = 0u128;
        let mut revenue = 0u128;
        for (r, &slot) in self.readings_wh.iter().zip(schedule.slots()) {
            energy += *r as u128;
            let price = self
                .entry
                .prices_uusd_per_kwh
                .get(slot as usize)
                .copied()
                .unwrap_or(0);
            revenue += *r as u128 * price as u128;
        }
        (energy, revenue)
    }

    /// The meter message this site's meter signed (for `epoch` and `interval_seconds`).
    pub fn message(&self, epoch: u64, interval_seconds: u32) -> MeterMessage {
        MeterMessage {
            site_id: self.entry.site_id,
            epoch,
            interval_seconds,
            readings_wh: self.readings_wh.clone(),
        }
    }
}

impl BatchWitness {
    /// Checks the witness's dimensions against `shape`, and that every real site's capacity
    /// bound is one the statement can prove ([`provable_reading_bound_wh`]). Readings above
    /// their bound are not refused here: they make the circuit unsatisfiable.
    pub fn check_shape(&self, shape: &BatchShape) -> Result<(), StatementError> {
        let dim = |what: &str, expected: usize, got: usize| {
            if expected == got {
                Ok(())
            } else {
                Err(StatementError::Dimension {
                    what: what.to_string(),
                    expected,
                    got,
                })
            }
        };
        shape.validate()?;
        dim("sites in the batch", shape.sites, self.sites.len())?;
        dim(
            "intervals in the schedule",
            shape.readings_per_site,
            self.schedule.slots().len(),
        )?;
        dim(
            "price slots of the schedule",
            shape.price_slots,
            self.schedule.price_slots(),
        )?;
        dim(
            "siblings in the registry path",
            shape.registry_depth - shape.subtree_height(),
            self.registry_path.len(),
        )?;
        if self.batch_index >= shape.max_batches() {
            return Err(StatementError::BatchIndex(self.batch_index));
        }
        for (i, site) in self
            .sites
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.as_ref().map(|s| (i, s)))
        {
            dim(
                &format!("readings of position {i}"),
                shape.readings_per_site,
                site.readings_wh.len(),
            )?;
            dim(
                &format!("prices of position {i}"),
                shape.price_slots,
                site.entry.prices_uusd_per_kwh.len(),
            )?;
            provable_reading_bound_wh(
                site.entry.site_id,
                site.entry.capacity_w,
                self.interval_seconds,
            )?;
        }
        Ok(())
    }

    /// The registry leaf of each position (0 for an empty one).
    pub fn leaves(&self) -> Result<Vec<Fr>, StatementError> {
        self.sites
            .iter()
            .map(|s| match s {
                Some(s) => Ok(s.entry.leaf()?),
                None => Ok(Fr::from(0u64)),
            })
            .collect()
    }

    /// The meter message hash of each position (0 for an empty one): the readings tree leaves.
    pub fn message_leaves(&self) -> Vec<Fr> {
        self.sites
            .iter()
            .map(|s| match s {
                Some(s) => s.message(self.epoch, self.interval_seconds).hash(),
                None => Fr::from(0u64),
            })
            .collect()
    }

    /// The native twin of the circuit: the public inputs this witness proves. Fails if the
    /// batch's leaves and path do not lead to `registry_root`.
    pub fn public_inputs(&self, shape: &BatchShape) -> Result<PublicInputs, StatementError> {
        self.check_shape(shape)?;
        let height = shape.subtree_height();
        let subtree = MerkleTree::new(height, &self.leaves()?).map_err(RegistryError::from)?;
        let path = MerklePath {
            index: self.batch_index,
            siblings: self.registry_path.clone(),
        };
        if path.root_from(subtree.root()) != self.registry_root {
            return Err(StatementError::RegistryRootMismatch);
        }
        let readings =
            MerkleTree::new(height, &self.message_leaves()).map_err(RegistryError::from)?;
        let (mut energy, mut revenue) = (0u128, 0u128);
        for site in self.sites.iter().flatten() {
            let (e, r) = site.totals(&self.schedule);
            energy += e;
            revenue += r;
        }
        Ok(PublicInputs {
            epoch: self.epoch,
            registry_root: self.registry_root,
            batch_index: self.batch_index,
            total_energy_wh: energy,
            total_revenue_nusd: revenue,
            readings_root: readings.root(),
            interval_seconds: self.interval_seconds,
            schedule_hash: self.schedule.hash(),
        })
    }
}

/// The readings tree of a batch, for disclosure: its leaves are the positions' meter messages.
pub fn readings_tree(
    witness: &BatchWitness,
    shape: &BatchShape,
) -> Result<MerkleTree, StatementError> {
    Ok(
        MerkleTree::new(shape.subtree_height(), &witness.message_leaves())
            .map_err(RegistryError::from)?,
    )
}

/// Index of the first unsatisfied R1CS constraint of a synthesized constraint system (in prove
/// mode with matrices), for [`ConstraintGroups::name_of`]. `Ok(None)` when all hold.
pub fn first_unsatisfied(
    cs: &ark_relations::gr1cs::ConstraintSystemRef<Fr>,
) -> Result<Option<usize>, ark_relations::gr1cs::SynthesisError> {
    use ark_relations::gr1cs::{SynthesisError, R1CS_PREDICATE_LABEL};
    if cs.is_in_setup_mode() {
        return Err(SynthesisError::AssignmentMissing);
    }
    let inner = cs.borrow().ok_or(SynthesisError::MissingCS)?;
    Ok(inner
        .predicate_constraint_systems
        .get(R1CS_PREDICATE_LABEL)
        .and_then(|p| p.which_constraint_is_unsatisfied(&inner)))
}

#[cfg(test)]
mod tests;
