//! The registry of installations: one leaf per site, committing to what the circuit needs
//! (site id, meter key, capacity, tariff) and hiding the location, which is CEII.
//!
//! leaf = Poseidon(site_id, meter_key.x, meter_key.y, capacity_w, location_commitment,
//!                 price_0, ..., price_{P-1})
//! location_commitment = Poseidon(latitude_microdeg + 90e6, longitude_microdeg + 180e6,
//!                                region as a big-endian integer, salt)
//!
//! The salt is a uniformly random field element known only to the service (and, through a
//! disclosure, to a regulator): without it the commitment reveals nothing about the location,
//! even though latitude and longitude come from a small set.

use crate::{
    eddsa::PublicKey, encoding::field_from_be_bytes, merkle::MerkleTree, poseidon,
    statement::MAX_READING_BOUND_WH, Fr,
};

/// Most price slots a leaf can hold: Poseidon takes at most 16 inputs and 5 are fixed.
pub const MAX_PRICE_SLOTS: usize = poseidon::MAX_INPUTS - 5;

/// Longest region code in bytes (it must fit one field element without reduction).
pub const MAX_REGION_BYTES: usize = 31;

/// Why a registry entry or location is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// Latitude outside [-90, 90] degrees.
    #[error("latitude {0} microdegrees is outside [-90000000, 90000000]")]
    Latitude(i64),
    /// Longitude outside [-180, 180] degrees.
    #[error("longitude {0} microdegrees is outside [-180000000, 180000000]")]
    Longitude(i64),
    /// Region code empty, too long, or not printable ASCII.
    #[error("region must be 1 to {MAX_REGION_BYTES} printable ASCII characters, got {0:?}")]
    Region(String),
    /// A tariff with fewer than 4 or more than [`MAX_PRICE_SLOTS`] prices.
    #[error("a tariff needs 4 to {MAX_PRICE_SLOTS} prices, got {0}")]
    PriceSlots(usize),
    /// The registry does not fit the tree.
    #[error(transparent)]
    Tree(#[from] crate::merkle::MerkleError),
}

/// Where an installation is: confidential grid-security information (CEII).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// Latitude in millionths of a degree, in [-90e6, 90e6].
    pub latitude_microdeg: i64,
    /// Longitude in millionths of a degree, in [-180e6, 180e6].
    pub longitude_microdeg: i64,
    /// Region code such as "US-IL" (1 to 31 printable ASCII characters).
    pub region: String,
}

impl Location {
    /// Checks the ranges the commitment relies on (each coordinate maps to one non-negative
    /// integer, the region to one field element).
    pub fn validate(&self) -> Result<(), RegistryError> {
        if !(-90_000_000..=90_000_000).contains(&self.latitude_microdeg) {
            return Err(RegistryError::Latitude(self.latitude_microdeg));
        }
        if !(-180_000_000..=180_000_000).contains(&self.longitude_microdeg) {
            return Err(RegistryError::Longitude(self.longitude_microdeg));
        }
        let r = self.region.as_bytes();
        if r.is_empty()
            || r.len() > MAX_REGION_BYTES
            || !r.iter().all(|b| (0x21..=0x7e).contains(b))
        {
            return Err(RegistryError::Region(
                self.region.chars().take(40).collect(),
            ));
        }
        Ok(())
    }

    /// The hiding commitment to this location under `salt` (keep the salt secret).
    pub fn commitment(&self, salt: Fr) -> Result<Fr, RegistryError> {
        self.validate()?;
        let lat = Fr::from((self.latitude_microdeg + 90_000_000) as u64);
        let lon = Fr::from((self.longitude_microdeg + 180_000_000) as u64);
        let region = field_from_be_bytes(self.region.as_bytes());
        Ok(poseidon::hash(&[lat, lon, region, salt]).expect("4 inputs is a valid Poseidon arity"))
    }
}

/// One installation as the registry commits to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryEntry {
    /// The operator's identifier of the site (also signed in every meter message).
    pub site_id: u64,
    /// The meter's EdDSA-Poseidon public key, registered by the registrar.
    pub meter_key: PublicKey,
    /// Nameplate capacity in watts: bounds every reading.
    pub capacity_w: u32,
    /// Time-of-use tariff: price of each slot in micro-USD per kWh.
    pub prices_uusd_per_kwh: Vec<u32>,
    /// [`Location::commitment`] of the site's location.
    pub location_commitment: Fr,
}

impl RegistryEntry {
    /// The leaf of this entry in the registry tree.
    pub fn leaf(&self) -> Result<Fr, RegistryError> {
        let p = self.prices_uusd_per_kwh.len();
        if !(4..=MAX_PRICE_SLOTS).contains(&p) {
            return Err(RegistryError::PriceSlots(p));
        }
        let mut inputs = vec![
            Fr::from(self.site_id),
            self.meter_key.x,
            self.meter_key.y,
            Fr::from(self.capacity_w),
            self.location_commitment,
        ];
        inputs.extend(self.prices_uusd_per_kwh.iter().map(|&x| Fr::from(x)));
        Ok(poseidon::hash(&inputs).expect("5 + 4..=11 inputs is a valid Poseidon arity"))
    }
}

/// The registry tree of an epoch with `leaves[i]` at index i (0 for an empty position).
pub fn registry_tree(leaves: &[Fr], depth: usize) -> Result<MerkleTree, RegistryError> {
    Ok(MerkleTree::new(depth, leaves)?)
}

/// Most Wh a site of `capacity_w` can produce in one interval: floor(capacity * seconds / 3600).
pub fn reading_bound_wh(capacity_w: u32, interval_seconds: u32) -> u64 {
    (capacity_w as u64 * interval_seconds as u64) / 3600
}

/// [`reading_bound_wh`] if the statement can prove it, i.e. if it is at most
/// [`MAX_READING_BOUND_WH`] (2^24 - 1: the circuit range-checks the bound and every reading to
/// 24 bits); `None` otherwise: a site of this capacity and interval cannot be proved. Check it
/// with this function (or [`crate::statement::provable_reading_bound_wh`], which names the site)
/// wherever a site is accepted, so that the check and the circuit agree.
pub fn checked_reading_bound_wh(capacity_w: u32, interval_seconds: u32) -> Option<u32> {
    u32::try_from(reading_bound_wh(capacity_w, interval_seconds))
        .ok()
        .filter(|&bound| bound <= MAX_READING_BOUND_WH)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chicago() -> Location {
        Location {
            latitude_microdeg: 41_878_113,
            longitude_microdeg: -87_629_799,
            region: "US-IL".into(),
        }
    }

    #[test]
    fn commitment_hides_behind_the_salt_and_binds_every_field() {
        let loc = chicago();
        let c = loc.commitment(Fr::from(1u64)).unwrap();
        assert_ne!(c, loc.commitment(Fr::from(2u64)).unwrap());
        let mut moved = loc.clone();
        moved.latitude_microdeg += 1;
        assert_ne!(c, moved.commitment(Fr::from(1u64)).unwrap());
        let mut other = loc.clone();
        other.region = "US-MA".into();
        assert_ne!(c, other.commitment(Fr::from(1u64)).unwrap());
    }

    #[test]
    fn out_of_range_locations_are_refused() {
        let mut l = chicago();
        l.latitude_microdeg = 90_000_001;
        assert_eq!(l.validate(), Err(RegistryError::Latitude(90_000_001)));
        let mut l = chicago();
        l.longitude_microdeg = -180_000_001;
        assert!(matches!(l.validate(), Err(RegistryError::Longitude(_))));
        for region in ["", "US IL", "ÜS", &"X".repeat(32)] {
            let mut l = chicago();
            l.region = region.into();
            assert!(
                matches!(l.validate(), Err(RegistryError::Region(_))),
                "{region:?}"
            );
        }
    }

    #[test]
    fn bound_rounds_down() {
        assert_eq!(reading_bound_wh(250_000, 3600), 250_000);
        assert_eq!(reading_bound_wh(1000, 900), 250);
        assert_eq!(reading_bound_wh(7, 1000), 1);
        assert_eq!(
            reading_bound_wh(u32::MAX, u32::MAX),
            (u32::MAX as u64 * u32::MAX as u64) / 3600
        );
    }

    #[test]
    fn checked_bound_is_none_above_the_statement_limit() {
        assert_eq!(MAX_READING_BOUND_WH, (1 << 24) - 1);
        assert_eq!(checked_reading_bound_wh(250_000, 3600), Some(250_000));
        // 2^24 - 1 W for an hour is the largest provable bound; one more watt is not.
        assert_eq!(
            checked_reading_bound_wh(MAX_READING_BOUND_WH, 3600),
            Some(MAX_READING_BOUND_WH)
        );
        assert_eq!(checked_reading_bound_wh(1 << 24, 3600), None);
        // 67,108,863 W x 900 s / 3600 = 16,777,215.75: rounds down to the limit.
        assert_eq!(
            checked_reading_bound_wh(67_108_863, 900),
            Some(MAX_READING_BOUND_WH)
        );
        assert_eq!(checked_reading_bound_wh(67_108_864, 900), None);
        // Daily intervals: 699,050 W is the largest provable site.
        assert_eq!(checked_reading_bound_wh(699_050, 86_400), Some(16_777_200));
        assert_eq!(checked_reading_bound_wh(699_051, 86_400), None);
        assert_eq!(checked_reading_bound_wh(u32::MAX, 3600), None);
        assert_eq!(checked_reading_bound_wh(u32::MAX, u32::MAX), None);
        assert_eq!(checked_reading_bound_wh(0, u32::MAX), Some(0));
    }
}
