//! The constraint system of the batch statement. Constraint budget per reading (P = 4):
//! 24 (r < 2^24, r being the sum of its bits), 24 + 1 (bound - r < 2^24 and its sum equal to
//! bound - r), P - 1 (energy per slot) = 52; per site the leaf hash, the capacity bound division
//! (bound < 2^24), the meter message hash, the signature, and two tree nodes. Why each check is
//! as wide as it is and no wider: docs/soundness.md, "The batch statement". Measured counts:
//! docs/statement.md, "Constraint budget".

use std::sync::{Arc, Mutex};

use ark_ff::{BigInteger, One, PrimeField, Zero};
use ark_r1cs_std::{
    alloc::AllocVar,
    boolean::Boolean,
    eq::EqGadget,
    fields::fp::{AllocatedFp, FpVar},
    GR1CSVar,
};
use ark_relations::gr1cs::{ConstraintSynthesizer, ConstraintSystemRef, SynthesisError};

use super::{
    empty_position, BatchShape, BatchWitness, PublicInputs, StatementError, READING_BOUND_BITS,
};
use crate::{
    eddsa::{
        constraints::{verify_signature_var, PublicKeyVar, SignatureVar},
        lc::{self, Lc},
        Signature,
    },
    merkle::constraints::{root_from_path_var, subtree_root_var},
    meter::constraints::message_hash_var,
    poseidon::constraints::hash_var,
    schedule, Fr,
};

/// Which constraint group each constraint index belongs to, filled in while the circuit is
/// synthesized, so a failing witness can be reported as "site 3: capacity bound" instead of a
/// bare index. Clone it before the circuit is consumed by synthesis.
#[derive(Debug, Clone, Default)]
pub struct ConstraintGroups(Arc<Mutex<Vec<(usize, String)>>>);

impl ConstraintGroups {
    /// Forgets an earlier synthesis (a clone of a circuit shares its log).
    fn clear(&self) {
        if let Ok(mut groups) = self.0.lock() {
            groups.clear();
        }
    }

    fn start(&self, cs: &ConstraintSystemRef<Fr>, name: impl FnOnce() -> String) {
        // A witness-only synthesis counts no constraints: nothing to record (the prover
        // re-synthesizes in setup mode to name a failing constraint).
        if !cs.should_construct_matrices() {
            return;
        }
        if let Ok(mut groups) = self.0.lock() {
            let at = cs.num_constraints();
            // A group that added no constraints is replaced by the next one.
            if groups.last().is_some_and(|(start, _)| *start == at) {
                groups.pop();
            }
            groups.push((at, name()));
        }
    }

    /// The group of constraint `index` (as `which_is_unsatisfied` counts them), if recorded.
    pub fn name_of(&self, index: usize) -> Option<String> {
        let groups = self.0.lock().ok()?;
        let pos = groups.partition_point(|(start, _)| *start <= index);
        pos.checked_sub(1).map(|p| groups[p].1.clone())
    }
}

/// The values of one position, already filled for empty positions.
#[derive(Debug, Clone)]
pub(super) struct SiteAssignment {
    pub(super) is_real: bool,
    pub(super) site_id: Fr,
    pub(super) key_x: Fr,
    pub(super) key_y: Fr,
    pub(super) capacity_w: u64,
    pub(super) prices: Vec<u64>,
    pub(super) location_commitment: Fr,
    /// Field elements, so that tests can assign what no `u32` holds (2^24, p - 1).
    pub(super) readings: Vec<Fr>,
    pub(super) signature: Signature,
}

/// Every witness value of a batch, plus the public inputs the proof claims.
#[derive(Debug, Clone)]
pub(super) struct Assignment {
    pub(super) slots: Vec<u8>,
    pub(super) registry_path: Vec<Fr>,
    pub(super) sites: Vec<SiteAssignment>,
    pub(super) public: PublicInputs,
    /// `public` as field elements: what the circuit allocates as its instance.
    pub(super) instance: Vec<Fr>,
}

/// The batch statement as an arkworks circuit. Built either blank (for setup and constraint
/// counting) or from a [`BatchWitness`] (for proving).
#[derive(Debug, Clone)]
pub struct BatchCircuit {
    shape: BatchShape,
    assignment: Option<Assignment>,
    groups: ConstraintGroups,
}

impl BatchCircuit {
    /// A circuit with no witness: for key generation and counting constraints.
    pub fn blank(shape: BatchShape) -> Self {
        Self {
            shape,
            assignment: None,
            groups: ConstraintGroups::default(),
        }
    }

    /// A circuit that proves `witness`, claiming the public inputs its native twin computes.
    pub fn new(shape: BatchShape, witness: &BatchWitness) -> Result<Self, StatementError> {
        let public = witness.public_inputs(&shape)?;
        Self::with_public_inputs(shape, witness, public)
    }

    /// A circuit that claims `public` for `witness` (it is satisfied only if they agree).
    pub fn with_public_inputs(
        shape: BatchShape,
        witness: &BatchWitness,
        public: PublicInputs,
    ) -> Result<Self, StatementError> {
        witness.check_shape(&shape)?;
        let sites = witness
            .sites
            .iter()
            .map(|site| {
                let (is_real, site) = match site {
                    Some(s) => (true, s.clone()),
                    None => (
                        false,
                        empty_position(&shape, witness.epoch, witness.interval_seconds),
                    ),
                };
                SiteAssignment {
                    is_real,
                    site_id: Fr::from(site.entry.site_id),
                    key_x: site.entry.meter_key.x,
                    key_y: site.entry.meter_key.y,
                    capacity_w: site.entry.capacity_w as u64,
                    prices: site
                        .entry
                        .prices_uusd_per_kwh
                        .iter()
                        .map(|&p| p as u64)
                        .collect(),
                    location_commitment: site.entry.location_commitment,
                    readings: site.readings_wh.iter().map(|&r| Fr::from(r)).collect(),
                    signature: site.signature,
                }
            })
            .collect();
        Ok(Self {
            shape,
            assignment: Some(Assignment {
                slots: witness.schedule.slots().to_vec(),
                registry_path: witness.registry_path.clone(),
                sites,
                instance: public.to_field_elements(),
                public,
            }),
            groups: ConstraintGroups::default(),
        })
    }

    /// The shape this circuit is built for.
    pub fn shape(&self) -> &BatchShape {
        &self.shape
    }

    /// The public inputs this circuit claims (None for a blank circuit).
    pub fn public_inputs(&self) -> Option<PublicInputs> {
        self.assignment.as_ref().map(|a| a.public)
    }

    /// A handle on the constraint group log, filled during synthesis.
    pub fn constraint_groups(&self) -> ConstraintGroups {
        self.groups.clone()
    }

    #[cfg(test)]
    pub(super) fn assignment_mut(&mut self) -> &mut Assignment {
        self.assignment
            .as_mut()
            .expect("test circuits carry a witness")
    }
}

/// Allocates `n` bits of `x`'s value and enforces that they recompose to `x`: a range check
/// x < 2^n (n + 1 constraints). The bits are unique because n < 254.
fn enforce_bits(x: &FpVar<Fr>, n: usize) -> Result<Vec<Boolean<Fr>>, SynthesisError> {
    let cs = x.cs();
    let value = x.value().ok().map(|v| v.into_bigint());
    let bits = (0..n)
        .map(|j| {
            Boolean::new_witness(cs.clone(), || {
                value
                    .map(|v| v.get_bit(j))
                    .ok_or(SynthesisError::AssignmentMissing)
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    recompose(&bits)?.enforce_equal(x)?;
    Ok(bits)
}

/// sum bits[j] * 2^j as one linear combination (no constraint).
fn recompose(bits: &[Boolean<Fr>]) -> Result<FpVar<Fr>, SynthesisError> {
    let mut power = Fr::from(1u64);
    let terms: Vec<FpVar<Fr>> = bits
        .iter()
        .map(|b| {
            let t = FpVar::from(b.clone()) * power;
            power = power + power;
            t
        })
        .collect();
    Ok(sum(&terms))
}

/// The values a prover assigns to the `n` bits of `value`: its low n - 1 bits, then everything
/// above them in the top one (`value >> (n - 1)`, as an integer below the modulus), so that their
/// weighted sum is `value` for every field element. For `value < 2^n` these are its bits; for any
/// other value (2^n or more, or a "negative" p - x) the top one is not a bit and its booleanity
/// constraint fails in the caller's constraint group, rather than the value being truncated.
/// `n >= 1`.
fn bit_values(value: Option<Fr>, n: usize) -> Vec<Option<Fr>> {
    let Some(v) = value else {
        return vec![None; n];
    };
    let big = v.into_bigint();
    let mut out: Vec<Option<Fr>> = (0..n - 1)
        .map(|j| {
            Some(if big.get_bit(j) {
                Fr::one()
            } else {
                Fr::zero()
            })
        })
        .collect();
    // The top value is the integer `value >> (n - 1)`, below the modulus: no division (a field
    // inversion per range check was a sixth of the witness synthesis).
    out.push(Fr::from_bigint(big >> (n - 1) as u32));
    out
}

/// `n` booleans (one constraint each) assigned from `value`, and their weighted sum
/// `sum_j 2^j b_j` as a linear combination: wherever the sum is used, it is a value below 2^n.
/// No packing constraint: the sum is not allocated, it *is* the range-checked value. For
/// 1 <= n < 254 the sum is below the modulus, so the bits are unique.
pub(super) fn range_checked(
    cs: &ConstraintSystemRef<Fr>,
    value: Option<Fr>,
    n: usize,
) -> Result<(Vec<Lc>, Lc), SynthesisError> {
    let mut bits = Vec::with_capacity(n);
    let mut sum = Lc::zero();
    let mut power = Fr::one();
    for value in bit_values(value, n) {
        let bit = lc::witness(cs, value)?;
        lc::enforce(cs, &bit, &(&Lc::one() - &bit), &Lc::zero())?;
        sum.add_scaled(power, &bit);
        bits.push(bit);
        power += power;
    }
    Ok((bits, sum))
}

/// Seconds per hour: the divisor of the capacity bound.
const SECONDS_PER_HOUR: u64 = 3600;

/// Bits of the capacity bound's remainder (3599 < 2^12).
const REMAINDER_BITS: usize = 12;

/// Enforces `x <= 3599` for `x = sum_j 2^j bits[j]` over 12 booleans (3 constraints).
/// 3599 = 0b1110_0000_1111: x exceeds it exactly when bits 11, 10 and 9 are all set (x >= 3584)
/// and one of bits 4..=8 is set too, so `(b11 b10 b9) * (b4 + ... + b8) = 0` (the sum of five
/// booleans is zero only if each is). Every witness is a product of bits: none is free.
pub(super) fn enforce_remainder_below_an_hour(
    cs: &ConstraintSystemRef<Fr>,
    bits: &[Lc],
) -> Result<(), SynthesisError> {
    debug_assert_eq!(SECONDS_PER_HOUR - 1, 0b1110_0000_1111);
    let [_, _, _, _, b4, b5, b6, b7, b8, b9, b10, b11] = bits else {
        return Err(SynthesisError::Unsatisfiable);
    };
    let top_two = lc::product(cs, b11, b10)?;
    let top_three = lc::product(cs, &top_two, b9)?;
    let middle = Lc::sum([b4, b5, b6, b7, b8].map(|b| (Fr::one(), b)));
    lc::enforce(cs, &top_three, &middle, &Lc::zero())
}

/// The sum of `terms` as a single linear combination.
fn sum(terms: &[FpVar<Fr>]) -> FpVar<Fr> {
    let mut constant = Fr::from(0u64);
    let mut vars: Vec<AllocatedFp<Fr>> = Vec::with_capacity(terms.len());
    for t in terms {
        match t {
            FpVar::Constant(c) => constant += c,
            FpVar::Var(v) => vars.push(v.clone()),
        }
    }
    let ones = vec![Fr::from(1u64); vars.len()];
    match AllocatedFp::linear_combination(ones, &vars) {
        Some(v) => FpVar::Var(v) + constant,
        None => FpVar::Constant(constant),
    }
}

fn witness(cs: &ConstraintSystemRef<Fr>, value: Option<Fr>) -> Result<FpVar<Fr>, SynthesisError> {
    FpVar::new_witness(cs.clone(), || {
        value.ok_or(SynthesisError::AssignmentMissing)
    })
}

impl ConstraintSynthesizer<Fr> for BatchCircuit {
    fn generate_constraints(self, cs: ConstraintSystemRef<Fr>) -> Result<(), SynthesisError> {
        let shape = self.shape;
        shape
            .validate()
            .map_err(|_| SynthesisError::Unsatisfiable)?;
        let (s_count, t_count, p_count) = (shape.sites, shape.readings_per_site, shape.price_slots);
        let a = self.assignment.as_ref();
        let groups = &self.groups;
        groups.clear();
        let zero = FpVar::Constant(Fr::from(0u64));

        // Public inputs, in PublicInputs::NAMES order.
        let public = a.map(|a| &a.instance);
        let inputs = (0..PublicInputs::NAMES.len())
            .map(|i| {
                FpVar::new_input(cs.clone(), || {
                    public
                        .as_ref()
                        .map(|p| p[i])
                        .ok_or(SynthesisError::AssignmentMissing)
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let [epoch, registry_root, batch_index, total_energy, total_revenue, readings_root, interval, schedule_hash] =
            <[FpVar<Fr>; 8]>::try_from(inputs).map_err(|_| SynthesisError::Unsatisfiable)?;

        groups.start(&cs, || "interval range".into());
        enforce_bits(&interval, 32)?;

        // The schedule: one-hot slot bits per interval, bound to the public schedule hash.
        groups.start(&cs, || "schedule".into());
        let mut one_hot: Vec<Vec<Boolean<Fr>>> = Vec::with_capacity(t_count);
        let mut slot_values = Vec::with_capacity(t_count);
        for i in 0..t_count {
            let slot = a.map(|a| a.slots[i] as usize);
            let bits = (0..p_count)
                .map(|k| {
                    Boolean::new_witness(cs.clone(), || {
                        slot.map(|s| s == k)
                            .ok_or(SynthesisError::AssignmentMissing)
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            sum(&bits
                .iter()
                .map(|b| FpVar::from(b.clone()))
                .collect::<Vec<_>>())
            .enforce_equal(&FpVar::Constant(Fr::from(1u64)))?;
            slot_values.push(sum(&bits
                .iter()
                .enumerate()
                .map(|(k, b)| FpVar::from(b.clone()) * Fr::from(k as u64))
                .collect::<Vec<_>>()));
            one_hot.push(bits);
        }
        schedule::hash_var(&slot_values, p_count)?.enforce_equal(&schedule_hash)?;

        // The one-hot bits as linear combinations, shared by every site's pricing products.
        let slot_bits: Vec<Vec<Lc>> = one_hot
            .iter()
            .map(|bits| {
                bits.iter()
                    .map(|b| Lc::from_fp(&FpVar::from(b.clone())))
                    .collect()
            })
            .collect();

        let mut registry_leaves = Vec::with_capacity(s_count);
        let mut message_leaves = Vec::with_capacity(s_count);
        let mut energy_parts = Vec::with_capacity(s_count);
        let mut revenue_parts = Vec::with_capacity(s_count);
        for s in 0..s_count {
            let site = a.map(|a| &a.sites[s]);

            // The registry leaf binds every value below to what the registrar registered
            // (u32 capacity and prices): they need no range check of their own.
            groups.start(&cs, || format!("site {s}: registry leaf"));
            let is_real = Boolean::new_witness(cs.clone(), || {
                site.map(|x| x.is_real)
                    .ok_or(SynthesisError::AssignmentMissing)
            })?;
            let site_id = witness(&cs, site.map(|x| x.site_id))?;
            let key_x = witness(&cs, site.map(|x| x.key_x))?;
            let key_y = witness(&cs, site.map(|x| x.key_y))?;
            let capacity = witness(&cs, site.map(|x| Fr::from(x.capacity_w)))?;
            let location_commitment = witness(&cs, site.map(|x| x.location_commitment))?;
            let prices = (0..p_count)
                .map(|k| witness(&cs, site.map(|x| Fr::from(x.prices[k]))))
                .collect::<Result<Vec<_>, _>>()?;
            let mut leaf_inputs = vec![
                site_id.clone(),
                key_x.clone(),
                key_y.clone(),
                capacity.clone(),
                location_commitment,
            ];
            leaf_inputs.extend(prices.iter().cloned());
            let leaf = hash_var(&leaf_inputs)?;
            registry_leaves.push(is_real.select(&leaf, &zero)?);

            // bound = floor(capacity * interval / 3600) < 2^24:
            // capacity * interval = 3600 * bound + rem, rem <= 3599 (one constraint).
            groups.start(&cs, || format!("site {s}: capacity bound"));
            let budget = site
                .zip(a)
                .map(|(x, a)| x.capacity_w as u128 * a.public.interval_seconds as u128);
            let hour = SECONDS_PER_HOUR as u128;
            let (_, bound) =
                range_checked(&cs, budget.map(|b| Fr::from(b / hour)), READING_BOUND_BITS)?;
            let (rem_bits, rem) =
                range_checked(&cs, budget.map(|b| Fr::from(b % hour)), REMAINDER_BITS)?;
            enforce_remainder_below_an_hour(&cs, &rem_bits)?;
            lc::enforce(
                &cs,
                &Lc::from_fp(&capacity),
                &Lc::from_fp(&interval),
                &Lc::sum([(Fr::from(SECONDS_PER_HOUR), &bound), (Fr::one(), &rem)]),
            )?;

            // Readings: r < 2^24 and bound - r < 2^24, then energy per price slot.
            let mut readings = Vec::with_capacity(t_count);
            let mut energy = Lc::zero();
            let mut slot_energy = vec![Lc::zero(); p_count - 1];
            for (i, bits) in slot_bits.iter().enumerate() {
                groups.start(&cs, || format!("site {s}: reading {i} range"));
                let (_, r) = range_checked(&cs, site.map(|x| x.readings[i]), READING_BOUND_BITS)?;
                groups.start(&cs, || format!("site {s}: reading {i} capacity bound"));
                let headroom = bound.value().zip(r.value()).map(|(b, r)| b - r);
                let (_, d) = range_checked(&cs, headroom, READING_BOUND_BITS)?;
                lc::enforce(&cs, &(&r + &d), &Lc::one(), &bound)?;
                groups.start(&cs, || format!("site {s}: reading {i} pricing"));
                for (energy_k, bit) in slot_energy.iter_mut().zip(bits) {
                    energy_k.add_scaled(Fr::one(), &lc::product(&cs, bit, &r)?);
                }
                energy.add_scaled(Fr::one(), &r);
                readings.push(r.to_fp(&cs)?);
            }
            groups.start(&cs, || format!("site {s}: revenue"));
            // The last slot's energy is the rest: the one-hot bits make that exact.
            let mut last = energy.clone();
            for e in &slot_energy {
                last.add_scaled(-Fr::one(), e);
            }
            slot_energy.push(last);
            let mut revenue = Lc::zero();
            for (e, p) in slot_energy.iter().zip(&prices) {
                revenue.add_scaled(Fr::one(), &lc::product(&cs, &Lc::from_fp(p), e)?);
            }
            let real = Lc::from_fp(&FpVar::from(is_real.clone()));
            energy_parts.push(lc::product(&cs, &real, &energy)?);
            revenue_parts.push(lc::product(&cs, &real, &revenue)?);

            groups.start(&cs, || format!("site {s}: meter message"));
            let message = message_hash_var(&site_id, &epoch, &interval, &readings)?;
            message_leaves.push(is_real.select(&message, &zero)?);

            groups.start(&cs, || format!("site {s}: signature"));
            let key = PublicKeyVar { x: key_x, y: key_y };
            let signature = SignatureVar::new_witness(cs.clone(), || {
                site.map(|x| x.signature)
                    .ok_or(SynthesisError::AssignmentMissing)
            })?;
            verify_signature_var(&key, &message, &signature)?;
        }

        groups.start(&cs, || "registry membership".into());
        let path_len = shape.registry_depth - shape.subtree_height();
        let index_bits = enforce_bits(&batch_index, path_len)?;
        let siblings = (0..path_len)
            .map(|l| witness(&cs, a.map(|a| a.registry_path[l])))
            .collect::<Result<Vec<_>, _>>()?;
        let subtree = subtree_root_var(&registry_leaves)?;
        root_from_path_var(&subtree, &index_bits, &siblings)?.enforce_equal(&registry_root)?;

        groups.start(&cs, || "readings root".into());
        subtree_root_var(&message_leaves)?.enforce_equal(&readings_root)?;

        groups.start(&cs, || "totals".into());
        let total = |parts: &[Lc]| Lc::sum(parts.iter().map(|p| (Fr::one(), p)));
        lc::enforce(
            &cs,
            &total(&energy_parts),
            &Lc::one(),
            &Lc::from_fp(&total_energy),
        )?;
        lc::enforce(
            &cs,
            &total(&revenue_parts),
            &Lc::one(),
            &Lc::from_fp(&total_revenue),
        )?;
        Ok(())
    }
}
