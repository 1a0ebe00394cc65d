//! The public time-of-use schedule of an epoch: which price slot each interval falls in.
//!
//! It is public (the same for every site) and may change from epoch to epoch without a new key,
//! so the circuit takes it as a witness bound to the public input `schedule_hash`:
//!
//! ```text
//! word_j = sum_{i<31} slot[31 j + i] * 2^(8 i)                 (missing slots 0)
//! h      = Poseidon(DOMAIN, T, P)          DOMAIN = "gridproof/schedule/v1" big-endian
//! for each 4 words: h = Poseidon(h, w_4k, w_4k+1, w_4k+2, w_4k+3)   (missing words 0)
//! ```

use ark_ff::{Field, PrimeField};
use ark_r1cs_std::fields::fp::FpVar;
use ark_relations::gr1cs::SynthesisError;

use crate::{encoding::field_from_be_bytes, poseidon, Fr};

/// Slots packed into one word (8 bits each, 248 bits < 254).
pub const SLOTS_PER_WORD: usize = 31;

/// Why a schedule is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    /// No intervals.
    #[error("the schedule has no intervals")]
    Empty,
    /// A slot number not below the number of price slots.
    #[error("interval {interval} is in slot {slot}, but there are only {price_slots} price slots")]
    SlotOutOfRange {
        /// Index of the interval.
        interval: usize,
        /// Its slot.
        slot: u8,
        /// Number of price slots.
        price_slots: usize,
    },
    /// Fewer than 4 or more price slots than a leaf holds.
    #[error("the number of price slots must be 4 to {max}, got {0}", max = crate::registry::MAX_PRICE_SLOTS)]
    PriceSlots(usize),
}

/// The slot of each interval of an epoch and the number of price slots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    slots: Vec<u8>,
    price_slots: usize,
}

fn domain() -> Fr {
    field_from_be_bytes(b"gridproof/schedule/v1")
}

impl Schedule {
    /// A schedule of `slots.len()` intervals, each naming a slot below `price_slots`.
    pub fn new(slots: Vec<u8>, price_slots: usize) -> Result<Self, ScheduleError> {
        if !(4..=crate::registry::MAX_PRICE_SLOTS).contains(&price_slots) {
            return Err(ScheduleError::PriceSlots(price_slots));
        }
        if slots.is_empty() {
            return Err(ScheduleError::Empty);
        }
        if let Some((interval, &slot)) = slots
            .iter()
            .enumerate()
            .find(|(_, &s)| s as usize >= price_slots)
        {
            return Err(ScheduleError::SlotOutOfRange {
                interval,
                slot,
                price_slots,
            });
        }
        Ok(Self { slots, price_slots })
    }

    /// The slot of each interval.
    pub fn slots(&self) -> &[u8] {
        &self.slots
    }

    /// Number of price slots (P).
    pub fn price_slots(&self) -> usize {
        self.price_slots
    }

    /// The packed words that the hash absorbs.
    pub fn words(&self) -> Vec<Fr> {
        self.slots
            .chunks(SLOTS_PER_WORD)
            .map(|chunk| {
                let mut bytes = [0u8; 32];
                bytes[..chunk.len()].copy_from_slice(chunk);
                Fr::from_le_bytes_mod_order(&bytes)
            })
            .collect()
    }

    /// The public input that binds the schedule.
    pub fn hash(&self) -> Fr {
        let header = [
            domain(),
            Fr::from(self.slots.len() as u64),
            Fr::from(self.price_slots as u64),
        ];
        let mut h = poseidon::hash(&header).expect("3 inputs is a valid Poseidon arity");
        for words in self.words().chunks(4) {
            let mut input = [
                h,
                Fr::from(0u64),
                Fr::from(0u64),
                Fr::from(0u64),
                Fr::from(0u64),
            ];
            input[1..1 + words.len()].copy_from_slice(words);
            h = poseidon::hash(&input).expect("5 inputs is a valid Poseidon arity");
        }
        h
    }
}

/// In-circuit twin of [`Schedule::hash`] over the slot numbers of every interval. The caller
/// must have constrained each slot below 256 (the statement derives them from one-hot bits);
/// `price_slots` and `slots.len()` are circuit constants.
pub fn hash_var(slots: &[FpVar<Fr>], price_slots: usize) -> Result<FpVar<Fr>, SynthesisError> {
    use poseidon::constraints::hash_var as h;
    let zero = FpVar::Constant(Fr::from(0u64));
    let words: Vec<FpVar<Fr>> = slots
        .chunks(SLOTS_PER_WORD)
        .map(|chunk| {
            let mut acc = zero.clone();
            for (i, s) in chunk.iter().enumerate() {
                acc += s * Fr::from(256u64).pow([i as u64]);
            }
            acc
        })
        .collect();
    let header = [
        FpVar::Constant(domain()),
        FpVar::Constant(Fr::from(slots.len() as u64)),
        FpVar::Constant(Fr::from(price_slots as u64)),
    ];
    let mut acc = h(&header)?;
    for chunk in words.chunks(4) {
        let mut input = vec![acc];
        input.extend(chunk.iter().cloned());
        input.resize(5, zero.clone());
        acc = h(&input)?;
    }
    Ok(acc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ark_r1cs_std::prelude::*;
    use ark_relations::gr1cs::ConstraintSystem;

    fn tou(t: usize) -> Schedule {
        Schedule::new((0..t).map(|i| ((i * 4) / t) as u8).collect(), 4).unwrap()
    }

    #[test]
    fn gadget_agrees_with_native_for_every_length() {
        for t in [1usize, 24, 31, 32, 96, 125, 200] {
            let s = tou(t);
            let cs = ConstraintSystem::<Fr>::new_ref();
            let vars: Vec<_> = s
                .slots()
                .iter()
                .map(|&x| FpVar::new_witness(cs.clone(), || Ok(Fr::from(x as u64))).unwrap())
                .collect();
            assert_eq!(
                hash_var(&vars, 4).unwrap().value().unwrap(),
                s.hash(),
                "T = {t}"
            );
        }
    }

    #[test]
    fn every_slot_and_the_shape_change_the_hash() {
        let s = tou(96);
        let mut seen = std::collections::HashSet::new();
        assert!(seen.insert(s.hash()));
        for i in [0usize, 30, 31, 95] {
            let mut slots = s.slots().to_vec();
            slots[i] = (slots[i] + 1) % 4;
            assert!(seen.insert(Schedule::new(slots, 4).unwrap().hash()));
        }
        assert!(seen.insert(Schedule::new(s.slots().to_vec(), 5).unwrap().hash()));
        let mut longer = s.slots().to_vec();
        longer.push(0);
        assert!(seen.insert(Schedule::new(longer, 4).unwrap().hash()));
    }

    #[test]
    fn bad_schedules_are_refused() {
        assert_eq!(Schedule::new(vec![], 4), Err(ScheduleError::Empty));
        assert_eq!(
            Schedule::new(vec![0, 1], 3),
            Err(ScheduleError::PriceSlots(3))
        );
        assert_eq!(
            Schedule::new(vec![0, 4], 4),
            Err(ScheduleError::SlotOutOfRange {
                interval: 1,
                slot: 4,
                price_slots: 4
            })
        );
    }
}
