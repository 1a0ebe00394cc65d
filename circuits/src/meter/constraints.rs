//! Meter message v1 in-circuit, the twin of [`super::MeterMessage::hash`].
//!
//! Chunk packing is one linear combination per chunk (no constraint); the cost is only the
//! Poseidon(5) calls: 315 for the first hash (DOMAIN and T are constants) plus 321 per chain hash,
//! minus 3 per zero-padding chunk of the last one (1593 constraints for T = 96, 636 for T = 24),
//! assuming `site_id`, `epoch` and `interval_seconds` are variables (each constant one saves 3).

use ark_ff::Zero;
use ark_r1cs_std::{
    fields::fp::{AllocatedFp, FpVar},
    GR1CSVar,
};
use ark_relations::{
    gr1cs::{LinearCombination, SynthesisError, Variable},
    ns,
};

use super::{domain, reading_weights, CHUNKS_PER_HASH, READINGS_PER_CHUNK};
use crate::{poseidon::constraints::hash_var, Fr};

/// `sum_j readings[j] * 2^(32 j)` as a single linear combination (no constraint, no chain of
/// symbolic additions). Constant readings are folded; all-constant gives a constant.
fn pack_chunk(readings: &[FpVar<Fr>]) -> Result<FpVar<Fr>, SynthesisError> {
    let weights = reading_weights();
    let mut constant = Fr::zero();
    let mut terms: Vec<(Fr, Variable)> = Vec::with_capacity(readings.len() + 1);
    let mut value = Some(Fr::zero());
    for (r, w) in readings.iter().zip(weights) {
        match r {
            FpVar::Constant(c) => constant += *c * w,
            FpVar::Var(v) => {
                terms.push((w, v.variable));
                value = value.zip(v.value().ok()).map(|(acc, x)| acc + x * w);
            }
        }
    }
    if terms.is_empty() {
        return Ok(FpVar::Constant(constant));
    }
    if !constant.is_zero() {
        terms.push((constant, Variable::One));
    }
    let cs = readings.cs();
    let var = cs.new_lc(|| LinearCombination(terms))?;
    Ok(FpVar::Var(AllocatedFp::new(
        value.map(|v| v + constant),
        var,
        cs,
    )))
}

/// The meter message v1 hash of (site_id, epoch, interval_seconds, readings) in-circuit: equal to
/// [`super::MeterMessage::hash`] whenever every input is below its native type's bound.
///
/// `readings_wh`: one `FpVar` per reading; T = `readings_wh.len()` is a circuit constant (it is
/// hashed as a constant). **The caller must already have range-checked every reading to 32 bits**
/// (e.g. through the capacity bound): the packing of 7 readings into one chunk is injective only
/// for values below 2^32, so without that check a prover could move value between neighbouring
/// readings and keep the same signed message. Likewise `site_id` and `epoch` are hashed as field
/// elements; the caller bounds them if it relies on their u64 (and `interval_seconds`' u32) range.
pub fn message_hash_var(
    site_id: &FpVar<Fr>,
    epoch: &FpVar<Fr>,
    interval_seconds: &FpVar<Fr>,
    readings_wh: &[FpVar<Fr>],
) -> Result<FpVar<Fr>, SynthesisError> {
    let cs = site_id
        .cs()
        .or(epoch.cs())
        .or(interval_seconds.cs())
        .or(readings_wh.cs());
    let _ns = ns!(cs, "meter message v1");
    let t = u64::try_from(readings_wh.len()).map_err(|_| SynthesisError::Unsatisfiable)?;
    let mut h = hash_var(&[
        FpVar::Constant(domain()),
        site_id.clone(),
        epoch.clone(),
        interval_seconds.clone(),
        FpVar::Constant(Fr::from(t)),
    ])?;
    let chunks = readings_wh
        .chunks(READINGS_PER_CHUNK)
        .map(pack_chunk)
        .collect::<Result<Vec<_>, _>>()?;
    for group in chunks.chunks(CHUNKS_PER_HASH) {
        let mut inputs = Vec::with_capacity(1 + CHUNKS_PER_HASH);
        inputs.push(h);
        inputs.extend_from_slice(group);
        inputs.resize(1 + CHUNKS_PER_HASH, FpVar::Constant(Fr::zero()));
        h = hash_var(&inputs)?;
    }
    Ok(h)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meter::MeterMessage;
    use ark_r1cs_std::{alloc::AllocVar, eq::EqGadget};
    use ark_relations::gr1cs::{ConstraintSystem, ConstraintSystemRef, SynthesisMode};
    use rand::{rngs::StdRng, Rng, SeedableRng};

    struct Vars {
        site_id: FpVar<Fr>,
        epoch: FpVar<Fr>,
        interval: FpVar<Fr>,
        readings: Vec<FpVar<Fr>>,
    }

    fn alloc(cs: &ConstraintSystemRef<Fr>, m: &MeterMessage) -> Vars {
        let w = |v: Fr| FpVar::new_witness(cs.clone(), || Ok(v)).unwrap();
        Vars {
            site_id: w(Fr::from(m.site_id)),
            epoch: w(Fr::from(m.epoch)),
            interval: w(Fr::from(m.interval_seconds)),
            readings: m.readings_wh.iter().map(|r| w(Fr::from(*r))).collect(),
        }
    }

    fn gadget(v: &Vars) -> FpVar<Fr> {
        message_hash_var(&v.site_id, &v.epoch, &v.interval, &v.readings).unwrap()
    }

    fn random_message(rng: &mut StdRng, t: usize) -> MeterMessage {
        MeterMessage {
            site_id: rng.gen(),
            epoch: rng.gen(),
            interval_seconds: rng.gen(),
            readings_wh: (0..t).map(|_| rng.gen()).collect(),
        }
    }

    #[test]
    fn gadget_matches_native_on_random_and_boundary_messages() {
        let mut rng = StdRng::seed_from_u64(21);
        for t in [0, 1, 6, 7, 8, 24, 28, 29, 57, 96] {
            let mut msgs = vec![random_message(&mut rng, t)];
            msgs.push(MeterMessage {
                site_id: u64::MAX,
                epoch: u64::MAX,
                interval_seconds: u32::MAX,
                readings_wh: vec![u32::MAX; t],
            });
            msgs.push(MeterMessage {
                site_id: 0,
                epoch: 0,
                interval_seconds: 0,
                readings_wh: vec![0; t],
            });
            for m in msgs {
                let cs = ConstraintSystem::<Fr>::new_ref();
                let out = gadget(&alloc(&cs, &m));
                assert_eq!(out.value().unwrap(), m.hash(), "T = {t}");
                assert!(cs.is_satisfied().unwrap());
            }
        }
    }

    #[test]
    fn constant_inputs_give_the_same_hash() {
        let mut rng = StdRng::seed_from_u64(22);
        let m = random_message(&mut rng, 30);
        let c = |v: Fr| FpVar::Constant(v);
        let readings: Vec<FpVar<Fr>> = m.readings_wh.iter().map(|r| c(Fr::from(*r))).collect();
        let out = message_hash_var(
            &c(Fr::from(m.site_id)),
            &c(Fr::from(m.epoch)),
            &c(Fr::from(m.interval_seconds)),
            &readings,
        )
        .unwrap();
        assert!(matches!(out, FpVar::Constant(_)));
        assert_eq!(out.value().unwrap(), m.hash());
        // Mixed: constant interval, variable rest.
        let cs = ConstraintSystem::<Fr>::new_ref();
        let mut v = alloc(&cs, &m);
        v.interval = c(Fr::from(m.interval_seconds));
        v.readings[3] = c(Fr::from(m.readings_wh[3]));
        assert_eq!(gadget(&v).value().unwrap(), m.hash());
        assert!(cs.is_satisfied().unwrap());
    }

    #[test]
    fn constraint_count_is_pinned() {
        let mut rng = StdRng::seed_from_u64(23);
        for (t, want) in [(0, 315), (24, 315 + 321), (96, 315 + 4 * 321 - 2 * 3)] {
            let cs = ConstraintSystem::<Fr>::new_ref();
            let _ = gadget(&alloc(&cs, &random_message(&mut rng, t)));
            assert_eq!(cs.num_constraints(), want, "T = {t}");
        }
    }

    #[test]
    fn tampered_inputs_are_unsatisfied_against_the_signed_message() {
        let mut rng = StdRng::seed_from_u64(24);
        let m = random_message(&mut rng, 24);
        let signed = m.hash();
        let mut tampered = vec![
            MeterMessage {
                site_id: m.site_id ^ 1,
                ..m.clone()
            },
            MeterMessage {
                epoch: m.epoch ^ 1,
                ..m.clone()
            },
        ];
        let mut r = m.clone();
        r.readings_wh[23] ^= 1;
        tampered.push(r);
        for (msg, ok) in
            std::iter::once((m.clone(), true)).chain(tampered.into_iter().map(|t| (t, false)))
        {
            let cs = ConstraintSystem::<Fr>::new_ref();
            let out = gadget(&alloc(&cs, &msg));
            let claim = FpVar::new_input(cs.clone(), || Ok(signed)).unwrap();
            out.enforce_equal(&claim).unwrap();
            assert_eq!(cs.is_satisfied().unwrap(), ok, "{msg:?}");
        }
    }

    #[test]
    fn setup_mode_synthesizes_with_the_same_shape() {
        let cs = ConstraintSystem::<Fr>::new_ref();
        cs.set_mode(SynthesisMode::Setup);
        let missing = || -> Result<Fr, SynthesisError> { Err(SynthesisError::AssignmentMissing) };
        let w = || FpVar::new_witness(cs.clone(), missing).unwrap();
        let readings: Vec<FpVar<Fr>> = (0..96).map(|_| w()).collect();
        let out = message_hash_var(&w(), &w(), &w(), &readings).unwrap();
        assert!(out.value().is_err());
        assert_eq!(cs.num_constraints(), 315 + 4 * 321 - 2 * 3);
        cs.finalize();
    }
}
