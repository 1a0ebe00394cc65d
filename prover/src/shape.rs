//! The batch shape as the prover stores it: the circuit's `BatchShape` and its serde mirror.

use serde::{Deserialize, Serialize};

pub use gridproof_circuits::statement::BatchShape;

/// How a [`BatchShape`] is written in `manifest.json`, key file headers and bench reports.
///
/// The circuits crate has no serde; this mirror keeps the on-disk names stable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShapeRecord {
    /// S: sites per batch.
    pub sites: u64,
    /// T: readings per site per epoch.
    pub readings_per_site: u64,
    /// P: time-of-use price slots per site.
    pub price_slots: u64,
    /// Depth of the registry Merkle tree.
    pub registry_depth: u64,
}

impl ShapeRecord {
    /// The record of a shape.
    pub fn of(shape: &BatchShape) -> Self {
        Self {
            sites: shape.sites as u64,
            readings_per_site: shape.readings_per_site as u64,
            price_slots: shape.price_slots as u64,
            registry_depth: shape.registry_depth as u64,
        }
    }

    /// The shape this record describes, or `None` if a field does not fit a `usize` (the
    /// shape is not validated; see `BatchShape::validate`).
    pub fn to_shape(&self) -> Option<BatchShape> {
        Some(BatchShape {
            sites: usize::try_from(self.sites).ok()?,
            readings_per_site: usize::try_from(self.readings_per_site).ok()?,
            price_slots: usize::try_from(self.price_slots).ok()?,
            registry_depth: usize::try_from(self.registry_depth).ok()?,
        })
    }
}

impl std::fmt::Display for ShapeRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "S={} sites, T={} readings, P={} price slots, registry depth {}",
            self.sites, self.readings_per_site, self.price_slots, self.registry_depth
        )
    }
}
