//! Epoch planning: how a validated batch file's sites are spread over batches, placed in the
//! epoch's registry tree, and turned into one [`BatchCircuit`] per batch.
//!
//! Placement (normative for this tool; a disclosure later relies on it through the private
//! output): with S sites per batch (the keys' shape) and n sites, there are nb = ceil(n / S)
//! batches, as even as possible (sizes differ by at most one; earlier batches take the extra
//! sites). Sites keep the file's order: batch b holds the next `count_b` sites of the file, at
//! registry leaf indices `b*S .. b*S + count_b - 1`; the rest of its subtree is empty (leaf 0).
//! Every site gets a fresh random location salt, so the registry root of two runs over the same
//! file differs and a location cannot be confirmed by guessing.

use ark_ff::UniformRand;
use gridproof_circuits::merkle::{MerkleError, MerkleTree};
use gridproof_circuits::registry::{RegistryEntry, RegistryError};
use gridproof_circuits::statement::{
    BatchCircuit, BatchShape, BatchWitness, PublicInputs, SiteWitness, StatementError,
};
use gridproof_circuits::Fr;
use rand::{CryptoRng, RngCore};

use crate::batch::ValidatedBatch;
use crate::private_output::{
    PrivateOutput, PrivateSite, PRIVATE_OUTPUT_NOTE, PRIVATE_OUTPUT_VERSION,
};

/// Which sites (a contiguous run of the file's sites) one batch proves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchAssignment {
    /// The batch's index in the epoch (also its subtree's index in the registry).
    pub batch_index: u64,
    /// Position (in the file's site order) of the batch's first site.
    pub first_site: usize,
    /// Number of real sites in the batch (1..=S; the other leaves are empty).
    pub site_count: usize,
}

impl BatchAssignment {
    /// Registry leaf index of the batch's first site: `batch_index * S`.
    pub fn first_leaf(&self, sites_per_batch: usize) -> u64 {
        self.batch_index * sites_per_batch as u64
    }
}

/// Why sites cannot be spread over batches.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// There is nothing to prove.
    #[error("no sites to place")]
    NoSites,
    /// The registry has room for fewer sites than given.
    #[error("{n_sites} sites do not fit the registry ({batches} batches of {sites_per_batch} leaves need more than its 2^{registry_depth} leaves)")]
    TooManySites {
        /// Sites in the file.
        n_sites: usize,
        /// Batches needed.
        batches: usize,
        /// The keys' S.
        sites_per_batch: usize,
        /// The registry tree's depth.
        registry_depth: usize,
    },
    /// Fewer sites than the minimum in total: any batch would reveal too much about each site.
    #[error(
        "too few sites for k-anonymity: the file has {n_sites} site(s), but every batch must hold \
         at least {min} real sites (a batch's totals are public, so a smaller batch would reveal \
         too much about each of its sites)"
    )]
    TooFewSites {
        /// Sites in the file.
        n_sites: usize,
        /// The k-anonymity minimum.
        min: usize,
    },
    /// Enough sites in total, but the even spread leaves a batch below the minimum.
    #[error(
        "too few sites for k-anonymity: {n_sites} sites spread as evenly as possible over \
         ceil({n_sites} / {sites_per_batch}) = {batches} batches (the keys hold S = \
         {sites_per_batch} sites per batch) leave only {smallest} real sites in the smallest \
         batch, fewer than the minimum of {min}; add sites to the epoch or use keys with fewer \
         sites per batch"
    )]
    KAnonymity {
        /// Sites in the file.
        n_sites: usize,
        /// The keys' S.
        sites_per_batch: usize,
        /// Number of batches, ceil(n / S).
        batches: usize,
        /// Real sites in the smallest batch.
        smallest: usize,
        /// The k-anonymity minimum.
        min: usize,
    },
}

/// Spreads `n_sites` over ceil(n / S) batches of `shape` as evenly as possible (earlier batches
/// take the extra site), refusing any plan with a batch of fewer than `min_sites_per_batch` real
/// sites or more batches than the registry holds. `shape` must be valid (`BatchShape::validate`).
pub fn plan_batches(
    n_sites: usize,
    shape: &BatchShape,
    min_sites_per_batch: usize,
) -> Result<Vec<BatchAssignment>, PlanError> {
    debug_assert_eq!(shape.validate(), Ok(()), "plan_batches needs a valid shape");
    if n_sites == 0 {
        return Err(PlanError::NoSites);
    }
    let sites_per_batch = shape.sites;
    let batches = n_sites.div_ceil(sites_per_batch);
    if batches as u64 > shape.max_batches() {
        return Err(PlanError::TooManySites {
            n_sites,
            batches,
            sites_per_batch,
            registry_depth: shape.registry_depth,
        });
    }
    if n_sites < min_sites_per_batch {
        return Err(PlanError::TooFewSites {
            n_sites,
            min: min_sites_per_batch,
        });
    }
    let smallest = n_sites / batches;
    let extra = n_sites % batches;
    if smallest < min_sites_per_batch {
        return Err(PlanError::KAnonymity {
            n_sites,
            sites_per_batch,
            batches,
            smallest,
            min: min_sites_per_batch,
        });
    }
    let mut plan = Vec::with_capacity(batches);
    let mut first_site = 0;
    for b in 0..batches {
        let site_count = smallest + usize::from(b < extra);
        plan.push(BatchAssignment {
            batch_index: b as u64,
            first_site,
            site_count,
        });
        first_site += site_count;
    }
    Ok(plan)
}

/// Why an epoch could not be prepared (after validation these indicate a bug).
#[derive(Debug, thiserror::Error)]
pub enum EpochError {
    /// A registry entry or location commitment could not be built.
    #[error("registry: {0}")]
    Registry(#[from] RegistryError),
    /// The registry tree could not be built or walked.
    #[error("registry tree: {0}")]
    Merkle(#[from] MerkleError),
    /// A batch witness does not fit the statement.
    #[error("statement: {0}")]
    Statement(#[from] StatementError),
    /// [`prepare_epoch_with_salts`] was given another number of salts than sites.
    #[error("{salts} location salts for {sites} sites")]
    SaltCount {
        /// Sites in the batch file.
        sites: usize,
        /// Salts given.
        salts: usize,
    },
}

/// One batch ready to prove.
#[derive(Clone)]
pub struct PreparedBatch {
    /// Index in the epoch.
    pub batch_index: u64,
    /// The real sites it holds, in leaf order (secret: do not publish).
    pub site_ids: Vec<u64>,
    /// The public inputs its proof will carry, computed natively.
    pub public_inputs: PublicInputs,
    /// The circuit with its full witness (secret).
    pub circuit: BatchCircuit,
}

/// An epoch ready to prove: the circuits, and the private output that must be kept to disclose.
pub struct PreparedEpoch {
    /// The epoch.
    pub epoch: u64,
    /// Root of the epoch's registry tree (public).
    pub registry_root: Fr,
    /// One entry per batch, in order.
    pub batches: Vec<PreparedBatch>,
    /// Salts, leaves and everything a later disclosure needs. Secret (CEII).
    pub private: PrivateOutput,
}

/// Places the sites of a validated batch file in the registry by its plan (the shape it was
/// validated against is the keys'), draws their location salts from `rng` (use
/// `rand::rngs::OsRng` outside tests), and builds each batch's witness and circuit.
pub fn prepare_epoch<R: RngCore + CryptoRng>(
    batch: &ValidatedBatch,
    rng: &mut R,
) -> Result<PreparedEpoch, EpochError> {
    let salts: Vec<Fr> = batch.sites().iter().map(|_| Fr::rand(rng)).collect();
    prepare_epoch_with_salts(batch, &salts)
}

/// [`prepare_epoch`] with each site's location salt given (`salts[i]` for `batch.sites()[i]`)
/// instead of drawn: a service that keeps every installation's salt (sealed with its location)
/// rebuilds the same registry root and the same witnesses from the same data. The salts are
/// secret; reusing one across epochs is what makes the registry reproducible, not a weakness,
/// as long as it was drawn at random once.
pub fn prepare_epoch_with_salts(
    batch: &ValidatedBatch,
    salts: &[Fr],
) -> Result<PreparedEpoch, EpochError> {
    let shape = batch.shape();
    let s = shape.sites;
    let (sites, plan) = (batch.sites(), batch.plan());
    if salts.len() != sites.len() {
        return Err(EpochError::SaltCount {
            sites: sites.len(),
            salts: salts.len(),
        });
    }

    // Registry entries in file order, with their salts.
    let mut entries = Vec::with_capacity(sites.len());
    let mut leaves_by_site = Vec::with_capacity(sites.len());
    for (site, &salt) in sites.iter().zip(salts) {
        let entry = RegistryEntry {
            site_id: site.site_id,
            meter_key: site.meter_key,
            capacity_w: site.capacity_w,
            prices_uusd_per_kwh: site.prices_uusd_per_kwh.clone(),
            location_commitment: site.location.commitment(salt)?,
        };
        leaves_by_site.push(entry.leaf()?);
        entries.push(entry);
    }

    // Leaves of the tree: batch b's sites at b*S.., zeros in the gaps.
    let mut leaf_index_of_site = vec![0u64; sites.len()];
    let last = plan
        .last()
        .expect("a validated batch has at least one site, so its plan one batch");
    let used_leaves = last.first_leaf(s) as usize + last.site_count;
    let mut leaves = vec![Fr::from(0u64); used_leaves];
    for a in plan {
        for j in 0..a.site_count {
            let leaf_index = a.first_leaf(s) + j as u64;
            leaves[leaf_index as usize] = leaves_by_site[a.first_site + j];
            leaf_index_of_site[a.first_site + j] = leaf_index;
        }
    }
    let tree = MerkleTree::new(shape.registry_depth, &leaves)?;
    let registry_root = tree.root();
    let subtree_height = shape.subtree_height();

    let mut batches = Vec::with_capacity(plan.len());
    let mut private_sites = Vec::with_capacity(sites.len());
    for a in plan {
        let mut positions: Vec<Option<SiteWitness>> = Vec::with_capacity(s);
        let mut site_ids = Vec::with_capacity(a.site_count);
        for j in 0..a.site_count {
            let i = a.first_site + j;
            let site = &sites[i];
            site_ids.push(site.site_id);
            positions.push(Some(SiteWitness {
                entry: entries[i].clone(),
                readings_wh: site.readings_wh.clone(),
                signature: site.signature,
            }));
            private_sites.push(PrivateSite::new(
                site,
                a.batch_index,
                leaf_index_of_site[i],
                salts[i],
                entries[i].location_commitment,
                leaves_by_site[i],
            ));
        }
        positions.resize_with(s, || None);
        let witness = BatchWitness {
            epoch: batch.epoch,
            interval_seconds: batch.interval_seconds,
            schedule: batch.schedule.clone(),
            batch_index: a.batch_index,
            registry_root,
            sites: positions,
            registry_path: tree.subtree_path(subtree_height, a.batch_index)?.siblings,
        };
        let public_inputs = witness.public_inputs(shape)?;
        let circuit = BatchCircuit::with_public_inputs(*shape, &witness, public_inputs)?;
        batches.push(PreparedBatch {
            batch_index: a.batch_index,
            site_ids,
            public_inputs,
            circuit,
        });
    }

    let private = PrivateOutput {
        version: PRIVATE_OUTPUT_VERSION,
        note: PRIVATE_OUTPUT_NOTE.to_string(),
        epoch: batch.epoch,
        interval_seconds: batch.interval_seconds,
        slots: batch
            .schedule
            .slots()
            .iter()
            .map(|&x| u32::from(x))
            .collect(),
        sites_per_batch: s,
        readings_per_site: shape.readings_per_site,
        price_slots: shape.price_slots,
        registry_depth: shape.registry_depth,
        registry_root,
        batches: batches.len(),
        sites: private_sites,
    };
    Ok(PreparedEpoch {
        epoch: batch.epoch,
        registry_root,
        batches,
        private,
    })
}
