//! The batch statement against its native twin, and one failing witness per constraint group.

use ark_relations::gr1cs::{ConstraintSynthesizer, ConstraintSystem, SynthesisMode};

use super::*;
use crate::{eddsa::PrivateKey, registry::Location};

const S: usize = 4;
const T: usize = 8;
const EPOCH: u64 = 20300;
const INTERVAL: u32 = 3600;

fn shape() -> BatchShape {
    BatchShape::new(S, T, 4).unwrap()
}

fn schedule() -> Schedule {
    Schedule::new(vec![0, 0, 1, 1, 2, 2, 3, 3], 4).unwrap()
}

fn meter(i: u64) -> PrivateKey {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&i.to_le_bytes());
    bytes[31] = 0x5a;
    PrivateKey::from_bytes(bytes)
}

fn signed(entry: RegistryEntry, readings_wh: Vec<u32>, key: &PrivateKey) -> SiteWitness {
    let message = MeterMessage {
        site_id: entry.site_id,
        epoch: EPOCH,
        interval_seconds: INTERVAL,
        readings_wh: readings_wh.clone(),
    };
    SiteWitness {
        entry,
        readings_wh,
        signature: key.sign(message.hash()),
    }
}

fn site(i: u64) -> SiteWitness {
    let location = Location {
        latitude_microdeg: 41_000_000 + i as i64,
        longitude_microdeg: -87_000_000,
        region: "US-IL".into(),
    };
    let entry = RegistryEntry {
        site_id: 100 + i,
        meter_key: meter(i).public_key(),
        capacity_w: 5_000 * i as u32,
        prices_uusd_per_kwh: vec![60_000, 90_000, 180_000 + i as u32, 75_000],
        location_commitment: location.commitment(Fr::from(1000 + i)).unwrap(),
    };
    let bound = 5_000 * i as u32;
    let readings = (0..T as u32).map(|t| (bound / 8) * t).collect();
    signed(entry, readings, &meter(i))
}

/// Seven sites: batch 0 holds sites 1-4, batch 1 holds sites 5-7 and one empty position.
fn registry() -> (Vec<SiteWitness>, MerkleTree) {
    let sites: Vec<SiteWitness> = (1..=7).map(site).collect();
    let leaves: Vec<Fr> = sites.iter().map(|s| s.entry.leaf().unwrap()).collect();
    let tree = MerkleTree::new(REGISTRY_DEPTH, &leaves).unwrap();
    (sites, tree)
}

fn batch(index: u64) -> BatchWitness {
    let (sites, tree) = registry();
    let positions = (0..S)
        .map(|j| sites.get(index as usize * S + j).cloned())
        .collect();
    BatchWitness {
        epoch: EPOCH,
        interval_seconds: INTERVAL,
        schedule: schedule(),
        batch_index: index,
        registry_root: tree.root(),
        sites: positions,
        registry_path: tree.subtree_path(2, index).unwrap().siblings,
    }
}

/// Synthesizes `circuit`; returns None when satisfied, else the failing group's name.
fn failing_group(circuit: BatchCircuit) -> Option<String> {
    let groups = circuit.constraint_groups();
    let cs = ConstraintSystem::<Fr>::new_ref();
    circuit.generate_constraints(cs.clone()).unwrap();
    if cs.is_satisfied().unwrap() {
        return None;
    }
    let index = first_unsatisfied(&cs).unwrap().expect("unsatisfied");
    Some(
        groups
            .name_of(index)
            .expect("every constraint is in a group"),
    )
}

fn circuit(w: &BatchWitness) -> BatchCircuit {
    BatchCircuit::new(shape(), w).unwrap()
}

#[test]
fn honest_batches_satisfy_the_circuit_and_match_the_native_twin() {
    for index in [0, 1] {
        let w = batch(index);
        let c = circuit(&w);
        let public = c.public_inputs().unwrap();
        assert_eq!(public, w.public_inputs(&shape()).unwrap());
        assert_eq!(failing_group(c), None, "batch {index}");
    }
    // Batch 1: sites 5, 6, 7 with readings (bound/8)*t, t < 8.
    let p = batch(1).public_inputs(&shape()).unwrap();
    let expect_energy: u128 = (5..=7).map(|i| (5_000 * i / 8) as u128 * 28).sum();
    assert_eq!(p.total_energy_wh, expect_energy);
    let expect_revenue: u128 = (5..=7u128)
        .map(|i| {
            let step = 5_000 * i / 8;
            let prices = [60_000u128, 90_000, 180_000 + i, 75_000];
            (0..8u128)
                .map(|t| step * t * prices[t as usize / 2])
                .sum::<u128>()
        })
        .sum();
    assert_eq!(p.total_revenue_nusd, expect_revenue);
}

#[test]
fn setup_mode_synthesis_matches_and_the_count_is_pinned() {
    let count = |c: BatchCircuit, setup: bool| {
        let cs = ConstraintSystem::<Fr>::new_ref();
        if setup {
            cs.set_mode(SynthesisMode::Setup);
        }
        c.generate_constraints(cs.clone()).unwrap();
        cs.num_constraints()
    };
    let blank = count(BatchCircuit::blank(shape()), true);
    assert_eq!(blank, count(circuit(&batch(1)), false));
    // Pinned: a change to any gadget shows up here (and in README's budget table).
    assert_eq!(
        blank, PINNED_CONSTRAINTS_4X8,
        "constraint count changed: update the pin and the README"
    );
}

/// Constraint count of the (S, T, P) = (4, 8, 4) statement.
const PINNED_CONSTRAINTS_4X8: usize = 24_924;

fn resign(site: &mut SiteWitness, key: &PrivateKey) {
    *site = signed(site.entry.clone(), site.readings_wh.clone(), key);
}

#[test]
fn a_reading_one_above_the_bound_is_rejected() {
    let mut w = batch(1);
    let s = w.sites[0].as_mut().unwrap();
    s.readings_wh[3] = (s.entry.capacity_w as u64 * INTERVAL as u64 / 3600) as u32 + 1;
    resign(s, &meter(5));
    assert_eq!(
        failing_group(circuit(&w)).as_deref(),
        Some("site 0: reading 3 capacity bound")
    );
    // At exactly the bound it holds.
    let s = w.sites[0].as_mut().unwrap();
    s.readings_wh[3] -= 1;
    resign(s, &meter(5));
    assert_eq!(failing_group(circuit(&w)), None);
}

#[test]
fn a_reading_of_2_pow_32_is_rejected() {
    let w = batch(1);
    let mut c = circuit(&w);
    c.assignment_mut().sites[1].readings[2] = 1 << 32;
    assert_eq!(failing_group(c).as_deref(), Some("site 1: reading 2 range"));
}

#[test]
fn a_capacity_bound_that_does_not_fit_32_bits_is_rejected() {
    let w = batch(1);
    let mut c = circuit(&w);
    c.assignment_mut().sites[0].capacity_w = 1 << 32;
    assert_eq!(failing_group(c).as_deref(), Some("site 0: capacity bound"));
}

#[test]
fn a_wrong_price_breaks_registry_membership() {
    let w = batch(1);
    let mut c = circuit(&w);
    c.assignment_mut().sites[2].prices[1] += 1;
    assert_eq!(failing_group(c).as_deref(), Some("registry membership"));
    // A price of 2^32 or more (which could make revenue wrap) fails its range check first.
    let mut c = circuit(&w);
    c.assignment_mut().sites[2].prices[1] = 1 << 32;
    assert_eq!(failing_group(c).as_deref(), Some("site 2: tariff range"));
}

#[test]
fn a_wrong_slot_breaks_the_schedule_hash() {
    let w = batch(1);
    let mut c = circuit(&w);
    c.assignment_mut().slots[5] = 3;
    assert_eq!(failing_group(c).as_deref(), Some("schedule"));
}

#[test]
fn forged_and_swapped_signatures_are_rejected() {
    // Forged: S changed.
    let mut w = batch(1);
    w.sites[1].as_mut().unwrap().signature.s += Fr::from(1u64);
    assert_eq!(
        failing_group(circuit(&w)).as_deref(),
        Some("site 1: signature")
    );
    // Swapped: a valid signature by another meter.
    let mut w = batch(1);
    resign(w.sites[1].as_mut().unwrap(), &meter(99));
    assert_eq!(
        failing_group(circuit(&w)).as_deref(),
        Some("site 1: signature")
    );
    // Swapped: the signature of another site's message.
    let mut w = batch(1);
    let other = w.sites[0].as_ref().unwrap().signature;
    w.sites[1].as_mut().unwrap().signature = other;
    assert_eq!(
        failing_group(circuit(&w)).as_deref(),
        Some("site 1: signature")
    );
}

#[test]
fn a_leaf_outside_the_batch_is_rejected() {
    // Batch 1's prover slips in site 1 (a leaf of batch 0) in its empty position.
    let mut w = batch(1);
    w.sites[3] = Some(site(1));
    let public = batch(1).public_inputs(&shape()).unwrap();
    let c = BatchCircuit::with_public_inputs(shape(), &w, public).unwrap();
    assert_eq!(failing_group(c).as_deref(), Some("registry membership"));
    // Claiming the batch is at another index fails too.
    let mut public = batch(1).public_inputs(&shape()).unwrap();
    public.batch_index = 2;
    let c = BatchCircuit::with_public_inputs(shape(), &batch(1), public).unwrap();
    assert_eq!(failing_group(c).as_deref(), Some("registry membership"));
}

#[test]
fn a_non_canonical_batch_index_is_rejected() {
    // batch_index + 2^(depth - log2 S) has the same low bits: the bit decomposition refuses it.
    let mut public = batch(1).public_inputs(&shape()).unwrap();
    public.batch_index += 1 << (REGISTRY_DEPTH - 2);
    let c = BatchCircuit::with_public_inputs(shape(), &batch(1), public).unwrap();
    assert_eq!(failing_group(c).as_deref(), Some("registry membership"));
}

#[test]
fn a_wrong_or_overflowing_total_is_rejected() {
    let w = batch(1);
    for delta in [1u128, 1 << 100] {
        let mut public = w.public_inputs(&shape()).unwrap();
        public.total_revenue_nusd += delta;
        let c = BatchCircuit::with_public_inputs(shape(), &w, public).unwrap();
        assert_eq!(failing_group(c).as_deref(), Some("totals"));
        let mut public = w.public_inputs(&shape()).unwrap();
        public.total_energy_wh += delta;
        let c = BatchCircuit::with_public_inputs(shape(), &w, public).unwrap();
        assert_eq!(failing_group(c).as_deref(), Some("totals"));
    }
}

#[test]
fn an_empty_position_contributes_nothing_and_cannot_be_claimed_real() {
    // The empty position's placeholder readings never count: claiming it is real breaks
    // membership (its leaf is 0 in the registry).
    let w = batch(1);
    let mut c = circuit(&w);
    c.assignment_mut().sites[3].is_real = true;
    assert_eq!(failing_group(c).as_deref(), Some("registry membership"));
    // Dropping a real site (claiming it empty) also breaks membership.
    let mut c = circuit(&w);
    c.assignment_mut().sites[0].is_real = false;
    assert_eq!(failing_group(c).as_deref(), Some("registry membership"));
}

#[test]
fn a_wrong_readings_root_or_schedule_hash_or_interval_is_rejected() {
    let w = batch(1);
    let mut public = w.public_inputs(&shape()).unwrap();
    public.readings_root += Fr::from(1u64);
    let c = BatchCircuit::with_public_inputs(shape(), &w, public).unwrap();
    assert_eq!(failing_group(c).as_deref(), Some("readings root"));
    let mut public = w.public_inputs(&shape()).unwrap();
    public.schedule_hash += Fr::from(1u64);
    let c = BatchCircuit::with_public_inputs(shape(), &w, public).unwrap();
    assert_eq!(failing_group(c).as_deref(), Some("schedule"));
    // A different interval changes the signed message.
    let mut public = w.public_inputs(&shape()).unwrap();
    public.interval_seconds = 1800;
    let c = BatchCircuit::with_public_inputs(shape(), &w, public).unwrap();
    assert!(failing_group(c).is_some());
}

#[test]
fn shapes_and_dimensions_are_checked() {
    assert!(BatchShape::new(3, 8, 4).is_err());
    assert!(BatchShape::new(0, 8, 4).is_err());
    assert!(BatchShape::new(4, 0, 4).is_err());
    assert!(BatchShape::new(4, 8, 3).is_err());
    assert!(BatchShape::new(4, 8, 12).is_err());
    let mut w = batch(1);
    w.sites.pop();
    assert!(matches!(
        BatchCircuit::new(shape(), &w),
        Err(StatementError::Dimension { .. })
    ));
    let mut w = batch(1);
    w.sites[0].as_mut().unwrap().readings_wh.push(0);
    assert!(matches!(
        BatchCircuit::new(shape(), &w),
        Err(StatementError::Dimension { .. })
    ));
    let mut w = batch(1);
    w.registry_path.pop();
    assert!(matches!(
        BatchCircuit::new(shape(), &w),
        Err(StatementError::Dimension { .. })
    ));
    let mut w = batch(1);
    w.registry_root += Fr::from(1u64);
    assert_eq!(
        BatchCircuit::new(shape(), &w).unwrap_err(),
        StatementError::RegistryRootMismatch
    );
}

#[test]
fn public_inputs_round_trip_and_range_check() {
    let p = batch(1).public_inputs(&shape()).unwrap();
    assert_eq!(
        PublicInputs::from_field_elements(&p.to_field_elements()).unwrap(),
        p
    );
    let mut x = p.to_field_elements();
    x[6] = Fr::from(1u64 << 32);
    assert!(PublicInputs::from_field_elements(&x).is_err());
    assert!(PublicInputs::from_field_elements(&x[..7]).is_err());
}
