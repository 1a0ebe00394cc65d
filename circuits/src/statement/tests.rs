//! The batch statement against its native twin, and one failing witness per constraint group.

use std::collections::BTreeSet;

use ark_relations::gr1cs::{ConstraintSynthesizer, ConstraintSystem, SynthesisMode};

use super::{
    circuit::{enforce_remainder_below_an_hour, range_checked},
    *,
};
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
    // Pinned: a change to any gadget shows up here (and in docs/statement.md's budget table).
    let at = |s, t| count(BatchCircuit::blank(BatchShape::new(s, t, 4).unwrap()), true);
    let pinned = [(2, 8, at(2, 8)), (4, 8, blank), (4, 16, at(4, 16))];
    assert_eq!(
        pinned,
        [(2, 8, PINNED[0]), (4, 8, PINNED[1]), (4, 16, PINNED[2])],
        "constraint counts changed: update the pins and docs/statement.md"
    );
    // Eight more readings per site cost exactly 52 per reading (24 for r < 2^24, 24 + 1 for
    // r <= bound, 3 for the energy of P - 1 slots), plus the schedule's P + 1 per interval,
    // plus 3 per site because the meter message's one chunk hash has one constant (zero)
    // chunk fewer to fold (3 chunks at T = 16, 2 at T = 8).
    assert_eq!(PINNED[2] - PINNED[1], 4 * 8 * 52 + 8 * 5 + 4 * 3);
}

/// Constraint counts of the statement at (S, T) = (2, 8), (4, 8), (4, 16) with P = 4.
const PINNED: [usize; 3] = [14_192, 23_636, 25_352];

/// Synthesizes `circuit` and returns the names of every constraint group with an unsatisfied
/// constraint (empty when the circuit is satisfied). A tampered witness whose only failure is
/// in one group shows that this group alone stops the attack.
fn unsatisfied_groups(circuit: BatchCircuit) -> BTreeSet<String> {
    let groups = circuit.constraint_groups();
    let (matrices, z) = synthesize(circuit);
    (0..matrices[0].len())
        .filter(|&row| !holds(&matrices, row, &z))
        .map(|row| groups.name_of(row).expect("every constraint is in a group"))
        .collect()
}

type Matrices = Vec<Vec<Vec<(Fr, usize)>>>;

/// The R1CS matrices (A, B, C) and the full assignment (instance, then witness) of `circuit`.
fn synthesize(circuit: BatchCircuit) -> (Matrices, Vec<Fr>) {
    use ark_relations::gr1cs::R1CS_PREDICATE_LABEL;
    let cs = ConstraintSystem::<Fr>::new_ref();
    cs.set_mode(SynthesisMode::Prove {
        construct_matrices: true,
        generate_lc_assignments: false,
    });
    circuit.generate_constraints(cs.clone()).unwrap();
    cs.finalize();
    let matrices = cs
        .to_matrices()
        .unwrap()
        .remove(R1CS_PREDICATE_LABEL)
        .unwrap();
    let inner = cs.borrow().unwrap();
    let z = [
        inner.instance_assignment().unwrap(),
        inner.witness_assignment().unwrap(),
    ]
    .concat();
    (matrices, z)
}

/// Whether R1CS row `row` holds for the assignment `z`.
fn holds(matrices: &Matrices, row: usize, z: &[Fr]) -> bool {
    let eval = |terms: &Vec<(Fr, usize)>| terms.iter().map(|&(c, v)| c * z[v]).sum::<Fr>();
    eval(&matrices[0][row]) * eval(&matrices[1][row]) == eval(&matrices[2][row])
}

fn set<const N: usize>(names: [&str; N]) -> BTreeSet<String> {
    names.iter().map(|n| n.to_string()).collect()
}

fn resign(site: &mut SiteWitness, key: &PrivateKey) {
    *site = signed(site.entry.clone(), site.readings_wh.clone(), key);
}

#[test]
fn a_reading_one_above_the_bound_is_rejected() {
    let mut w = batch(1);
    let s = w.sites[0].as_mut().unwrap();
    s.readings_wh[3] = (s.entry.capacity_w as u64 * INTERVAL as u64 / 3600) as u32 + 1;
    resign(s, &meter(5));
    // Signed by the meter, in range: only the capacity bound check stops it.
    assert_eq!(
        unsatisfied_groups(circuit(&w)),
        set(["site 0: reading 3 capacity bound"])
    );
    // At exactly the bound it holds.
    let s = w.sites[0].as_mut().unwrap();
    s.readings_wh[3] -= 1;
    resign(s, &meter(5));
    assert_eq!(failing_group(circuit(&w)), None);
}

#[test]
fn readings_of_2_pow_24_or_more_fail_their_range_check() {
    // Signed by the meter: a reading of 2^24 (a valid u32 in the message) cannot be proved.
    let mut w = batch(1);
    let s = w.sites[1].as_mut().unwrap();
    s.readings_wh[2] = 1 << 24;
    resign(s, &meter(6));
    assert_eq!(
        failing_group(circuit(&w)).as_deref(),
        Some("site 1: reading 2 range")
    );
    // Set in the assignment (the circuit's bits then sum to the value, with a top "bit" that
    // is not one): 2^24, 2^24 + bound (so that bound - r would wrap to -2^24), the largest
    // u32, 2^32, and "negative" readings.
    let bound = Fr::from(5_000u64 * 6);
    for r in [
        Fr::from(1u64 << 24),
        Fr::from(1u64 << 24) + bound,
        Fr::from(u32::MAX),
        Fr::from(1u64 << 32),
        -Fr::from(1u64),
        -Fr::from(1u64 << 24),
    ] {
        let mut c = circuit(&batch(1));
        c.assignment_mut().sites[1].readings[2] = r;
        assert_eq!(
            failing_group(c).as_deref(),
            Some("site 1: reading 2 range"),
            "{r}"
        );
    }
}

/// Meter message v1 packs 7 readings per chunk at 32 bits each. A meter that signs
/// 0xFFFFFFFF (valid in the message, over any provable bound) followed by x signs the same
/// chunk as the readings (-1, x + 1): -1 * 2^(32 j) + (x + 1) * 2^(32 (j + 1)) equals
/// (2^32 - 1) * 2^(32 j) + x * 2^(32 (j + 1)). bound - (-1) = bound + 1 passes the capacity
/// bound check, so the range check r >= 0 is the only thing that refuses this message.
#[test]
fn a_negative_reading_with_a_compensating_carry_is_refused_only_by_its_range_check() {
    let mut w = batch(1);
    let s = w.sites[0].as_mut().unwrap();
    s.readings_wh[3] = u32::MAX;
    let x = s.readings_wh[4];
    resign(s, &meter(5));
    let public = w.public_inputs(&shape()).unwrap();
    let prices = &w.sites[0].as_ref().unwrap().entry.prices_uusd_per_kwh;
    let (slot3, slot4) = (schedule().slots()[3], schedule().slots()[4]);
    let price = |slot: u8| Fr::from(prices[slot as usize]);
    // The honest meter's claim: an unprovable reading of 2^32 - 1.
    assert_eq!(
        unsatisfied_groups(BatchCircuit::with_public_inputs(shape(), &w, public).unwrap()),
        set([
            "site 0: reading 3 range",
            "site 0: reading 3 capacity bound"
        ])
    );
    // The cheat: readings (-1, x + 1) with the totals they give.
    let mut c = BatchCircuit::with_public_inputs(shape(), &w, public).unwrap();
    let a = c.assignment_mut();
    a.sites[0].readings[3] = -Fr::from(1u64);
    a.sites[0].readings[4] = Fr::from(x) + Fr::from(1u64);
    let u32_max = Fr::from(u32::MAX);
    a.instance[3] = Fr::from(public.total_energy_wh) - u32_max;
    a.instance[4] = Fr::from(public.total_revenue_nusd) - price(slot3) * (u32_max + Fr::from(1u64))
        + price(slot4);
    assert_eq!(unsatisfied_groups(c), set(["site 0: reading 3 range"]));
}

#[test]
fn capacity_bounds_of_2_pow_24_or_more_are_refused() {
    // Natively: the witness names the site and the limit.
    let mut w = batch(1);
    w.sites[1].as_mut().unwrap().entry.capacity_w = 1 << 24;
    let err = BatchCircuit::new(shape(), &w).unwrap_err();
    assert_eq!(
        err,
        StatementError::ReadingBound {
            site_id: 106,
            capacity_w: 1 << 24,
            interval_seconds: INTERVAL,
            bound_wh: 1 << 24,
        }
    );
    let text = err.to_string();
    assert!(
        text.contains("site 106") && text.contains("16777215 Wh"),
        "{text}"
    );
    assert_eq!(
        provable_reading_bound_wh(106, (1 << 24) - 1, INTERVAL),
        Ok(MAX_READING_BOUND_WH)
    );
    // In the circuit: a bound of 2^24 fails the bound's own range check; 2^24 - 1 passes it
    // (and fails only the registry, whose leaf holds the real capacity).
    for (capacity_w, failing) in [
        (1u64 << 24, "site 1: capacity bound"),
        (1 << 32, "site 1: capacity bound"),
        ((1 << 24) - 1, "registry membership"),
    ] {
        let mut c = circuit(&batch(1));
        c.assignment_mut().sites[1].capacity_w = capacity_w;
        assert_eq!(
            failing_group(c).as_deref(),
            Some(failing),
            "capacity {capacity_w}"
        );
    }
}

#[test]
fn the_remainder_of_the_capacity_division_is_below_an_hour() {
    // Exhaustive over the 12-bit remainders: 0..=3599 hold, 3600..=4095 do not. Without the
    // check, capacity * interval = 3600 * (bound - 1) + (rem + 3600) would prove a lower
    // bound than the site's, and the statement would no longer be a function of the leaf.
    for v in 0..4096u64 {
        let cs = ConstraintSystem::<Fr>::new_ref();
        let (bits, sum) = range_checked(&cs, Some(Fr::from(v)), 12).unwrap();
        assert_eq!(sum.value(), Some(Fr::from(v)));
        enforce_remainder_below_an_hour(&cs, &bits).unwrap();
        assert_eq!(cs.is_satisfied().unwrap(), v <= 3599, "{v}");
        assert_eq!(cs.num_constraints(), 12 + 3);
    }
}

#[test]
fn a_price_or_capacity_other_than_registered_breaks_registry_membership() {
    // Prices and capacity have no range check of their own: the leaf fixes them to the
    // registered u32 values, so any other value (2^32 included) is a different leaf.
    let w = batch(1);
    for price in [90_001u64, 1 << 32, u64::MAX] {
        let mut c = circuit(&w);
        c.assignment_mut().sites[2].prices[1] = price;
        assert_eq!(
            failing_group(c).as_deref(),
            Some("registry membership"),
            "{price}"
        );
    }
    let mut c = circuit(&w);
    c.assignment_mut().sites[2].capacity_w += 1;
    assert_eq!(failing_group(c).as_deref(), Some("registry membership"));
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

#[test]
fn an_interval_of_2_pow_32_is_rejected() {
    let mut c = circuit(&batch(1));
    c.assignment_mut().instance[6] = Fr::from(1u64 << 32);
    assert_eq!(failing_group(c).as_deref(), Some("interval range"));
}

#[test]
fn readings_changed_after_signing_are_rejected() {
    // The meter message of the altered readings is not what the meter signed.
    let mut w = batch(1);
    w.sites[2].as_mut().unwrap().readings_wh[0] += 1;
    assert_eq!(
        failing_group(circuit(&w)).as_deref(),
        Some("site 2: signature")
    );
}

#[test]
fn maximal_values_give_exact_totals_without_wrapping() {
    // Capacity and interval give a bound of exactly 2^24 - 1, the largest the statement
    // proves; every reading is that bound and every price 2^32 - 1: the largest sums the
    // statement allows, still exact integers.
    let max_reading = MAX_READING_BOUND_WH;
    let max_price = u32::MAX;
    let mut w = batch(1);
    for (i, position) in w.sites.iter_mut().enumerate().take(3) {
        let s = position.as_mut().unwrap();
        s.entry.capacity_w = max_reading;
        s.entry.prices_uusd_per_kwh = vec![max_price; 4];
        s.readings_wh = vec![max_reading; T];
        resign(s, &meter(5 + i as u64));
    }
    let (sites, _) = registry();
    let mut leaves: Vec<Fr> = sites.iter().map(|s| s.entry.leaf().unwrap()).collect();
    for (j, s) in w.sites.iter().enumerate().take(3) {
        leaves[S + j] = s.as_ref().unwrap().entry.leaf().unwrap();
    }
    let tree = MerkleTree::new(REGISTRY_DEPTH, &leaves).unwrap();
    w.registry_root = tree.root();
    w.registry_path = tree.subtree_path(2, 1).unwrap().siblings;
    let p = w.public_inputs(&shape()).unwrap();
    let (r, m) = (max_reading as u128, max_price as u128);
    assert_eq!(p.total_energy_wh, 3 * T as u128 * r);
    assert_eq!(p.total_revenue_nusd, 3 * T as u128 * r * m);
    assert_eq!(failing_group(circuit(&w)), None);
    // One Wh more, signed by the meter, is out of range and over the bound.
    let s = w.sites[2].as_mut().unwrap();
    s.readings_wh[5] += 1;
    resign(s, &meter(7));
    assert_eq!(
        unsatisfied_groups(circuit(&w)),
        set([
            "site 2: reading 5 range",
            "site 2: reading 5 capacity bound"
        ])
    );
}

/// Every witness variable of the statement is pinned by some constraint: changing any single
/// one (by +1) violates at least one constraint. This covers the groups whose wrong witnesses
/// are internal to a gadget (registry leaf and meter message hashes, pricing products,
/// revenue), on a batch with one real and one empty position.
#[test]
fn every_single_wrong_witness_is_rejected() {
    use ark_relations::gr1cs::R1CS_PREDICATE_LABEL;
    let shape = BatchShape::new(2, 8, 4).unwrap();
    let (sites, _) = registry();
    let leaves = vec![sites[0].entry.leaf().unwrap()];
    let tree = MerkleTree::new(REGISTRY_DEPTH, &leaves).unwrap();
    let w = BatchWitness {
        epoch: EPOCH,
        interval_seconds: INTERVAL,
        schedule: schedule(),
        batch_index: 0,
        registry_root: tree.root(),
        sites: vec![Some(sites[0].clone()), None],
        registry_path: tree.subtree_path(1, 0).unwrap().siblings,
    };
    let c = BatchCircuit::new(shape, &w).unwrap();
    let groups = c.constraint_groups();
    let cs = ConstraintSystem::<Fr>::new_ref();
    cs.set_mode(SynthesisMode::Prove {
        construct_matrices: true,
        generate_lc_assignments: false,
    });
    c.generate_constraints(cs.clone()).unwrap();
    cs.finalize();
    let matrices = cs
        .to_matrices()
        .unwrap()
        .remove(R1CS_PREDICATE_LABEL)
        .unwrap();
    let inner = cs.borrow().unwrap();
    let mut z = [
        inner.instance_assignment().unwrap(),
        inner.witness_assignment().unwrap(),
    ]
    .concat();
    let num_instance = inner.num_instance_variables;
    drop(inner);
    // Which constraints each variable appears in.
    let mut rows_of: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); z.len()];
    for m in &matrices {
        for (row, terms) in m.iter().enumerate() {
            for &(_, var) in terms {
                rows_of[var].insert(row);
            }
        }
    }
    let eval =
        |terms: &Vec<(Fr, usize)>, z: &[Fr]| terms.iter().map(|&(c, v)| c * z[v]).sum::<Fr>();
    let holds = |row: usize, z: &[Fr]| {
        eval(&matrices[0][row], z) * eval(&matrices[1][row], z) == eval(&matrices[2][row], z)
    };
    assert!(
        (0..matrices[0].len()).all(|row| holds(row, &z)),
        "the honest witness satisfies"
    );
    let mut failing_groups = BTreeSet::new();
    for var in num_instance..z.len() {
        z[var] += Fr::from(1u64);
        let broken = rows_of[var].iter().find(|&&row| !holds(row, &z));
        z[var] -= Fr::from(1u64);
        let row = broken.unwrap_or_else(|| panic!("witness variable {var} is unconstrained"));
        let name = groups.name_of(*row).unwrap();
        failing_groups.insert(
            name.split(": ")
                .last()
                .unwrap()
                .split(' ')
                .filter(|w| w.parse::<u64>().is_err())
                .collect::<Vec<_>>()
                .join(" "),
        );
    }
    for group in [
        "registry leaf",
        "meter message",
        "reading pricing",
        "revenue",
        "signature",
        "capacity bound",
        "reading range",
        "reading capacity bound",
        "schedule",
        "registry membership",
        "readings root",
        "interval range",
    ] {
        assert!(
            failing_groups.contains(group),
            "no witness of {group:?} was caught there: {failing_groups:?}"
        );
    }
}

/// The constraint budget of docs/statement.md at the shapes it lists, with the constraints of
/// each group at the first site of the largest. Slow in debug builds: run it with
/// `cargo test -p gridproof-circuits --release --lib -- --ignored constraint_budget --nocapture`.
#[test]
#[ignore = "a measurement: synthesizes (64, 96) in setup mode"]
fn constraint_budget() {
    use std::collections::BTreeMap;
    for (s, t) in [(2, 8), (4, 8), (4, 16), (4, 24), (16, 96), (64, 96)] {
        let c = BatchCircuit::blank(BatchShape::new(s, t, 4).unwrap());
        let groups = c.constraint_groups();
        let cs = ConstraintSystem::<Fr>::new_ref();
        cs.set_mode(SynthesisMode::Setup);
        c.generate_constraints(cs.clone()).unwrap();
        let n = cs.num_constraints();
        println!(
            "({s}, {t}): {n} constraints, {} witness variables",
            cs.num_witness_variables()
        );
        if (s, t) == (64, 96) {
            let mut per_group: BTreeMap<String, usize> = BTreeMap::new();
            for i in 0..n {
                let name = groups.name_of(i).unwrap();
                let key = match name.strip_prefix("site ") {
                    Some(rest) => {
                        let (site, what) = rest.split_once(": ").unwrap();
                        if site != "0" {
                            continue;
                        }
                        let what: Vec<&str> = what
                            .split(' ')
                            .filter(|w| w.parse::<u64>().is_err())
                            .collect();
                        format!("site 0: {}", what.join(" "))
                    }
                    None => name,
                };
                *per_group.entry(key).or_default() += 1;
            }
            for (name, count) in per_group {
                println!("  {name}: {count}");
            }
        }
    }
}
