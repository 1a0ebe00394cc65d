//! Tests of the EdDSA-Poseidon gadget against its native twin, failing witnesses, constraint
//! counts and setup-mode synthesis. (circomlibjs vectors: `tests/vectors_eddsa.rs`.)

use ark_ec::AffineRepr;
use ark_ff::UniformRand;
use ark_r1cs_std::alloc::AllocVar;
use ark_relations::gr1cs::{ConstraintSystem, SynthesisMode};
use rand::{rngs::StdRng, Rng, SeedableRng};

use super::super::{EddsaError, PrivateKey};
use super::*;

/// Pinned total of [`verify_signature_var`].
const TOTAL: usize = 2851;

#[test]
fn published_count_matches() {
    assert_eq!(VERIFY_SIGNATURE_CONSTRAINTS, TOTAL);
}

#[test]
fn exceptional_cases_are_out_of_reach() {
    // The bounds that docs/soundness.md relies on, from the constants the gadget uses.
    let l = subgroup_order();
    let pow = |b: u32, e: usize| BigUint::from(b).pow(e as u32);
    // Fixed base: a partial sum (at most 15 (8^j - 1) / 7 times 8^0..) plus the next addend
    // (at most 15 8^j) stays below l for every window added in Montgomery form.
    let j = S_WINDOWS - 1;
    let partial = BigUint::from(15u32) * (pow(8, j) - 1u32) / 7u32;
    assert!(partial + BigUint::from(15u32) * pow(8, j) < l);
    // Variable base: after s steps the accumulator is m U with 2^s < m < 3 2^s; a Montgomery
    // step needs 2 m + 1 < l, i.e. 6 2^s - 1 < l, for s up to K_BITS - 1 - LAST_MONTGOMERY_DIGIT.
    let last_step = K_BITS - 1 - LAST_MONTGOMERY_DIGIT;
    assert!(BigUint::from(6u32) * pow(2, last_step) - 1u32 < l);
    // ... and the bound is tight: one more Montgomery step would not be covered.
    assert!(BigUint::from(6u32) * pow(2, last_step + 1) > l);
    // The shifted challenge fits: t + r - 1 < 2^K_BITS and t = -(2^(K_BITS-1) + 1) mod l.
    let tb = tables();
    assert!(tb.k_max < pow(2, K_BITS));
    let r: BigUint = Fr::MODULUS.into();
    assert_eq!(tb.k_max, &tb.t + &r - 1u32);
    assert_eq!((&tb.t + pow(2, K_BITS - 1) + 1u32) % &l, BigUint::zero());
}

fn rng() -> StdRng {
    StdRng::seed_from_u64(0x0065_6464_7361)
}

fn l_fr() -> Fr {
    Fr::from(subgroup_order())
}

/// Synthesizes the gadget on witnesses and reports satisfaction (and the constraint count).
fn gadget(key: &PublicKey, message: Fr, sig: &Signature) -> (bool, usize) {
    let cs = ConstraintSystem::<Fr>::new_ref();
    let k = PublicKeyVar::new_witness(cs.clone(), || Ok(*key)).unwrap();
    let m = FpVar::new_witness(cs.clone(), || Ok(message)).unwrap();
    let s = SignatureVar::new_witness(cs.clone(), || Ok(*sig)).unwrap();
    verify_signature_var(&k, &m, &s).unwrap();
    (cs.is_satisfied().unwrap(), cs.num_constraints())
}

/// Asserts that native verification fails with `err` and the gadget is unsatisfied.
fn assert_rejected(key: &PublicKey, message: Fr, sig: &Signature, err: EddsaError) {
    assert_eq!(key.verify(message, sig), Err(err));
    assert!(
        !gadget(key, message, sig).0,
        "gadget accepted a bad signature"
    );
}

fn signed(rng: &mut StdRng, message: Fr) -> (PrivateKey, PublicKey, Signature) {
    let prv = PrivateKey::random(rng);
    let key = prv.public_key();
    let sig = prv.sign(message);
    (prv, key, sig)
}

#[test]
fn curve_constants_make_edwards_addition_complete() {
    use ark_ff::LegendreSymbol;
    assert_eq!(
        super::super::curve::TE_A.legendre(),
        LegendreSymbol::QuadraticResidue
    );
    assert_eq!(
        super::super::curve::TE_D.legendre(),
        LegendreSymbol::QuadraticNonResidue
    );
    let g = EdwardsConfig::GENERATOR;
    assert_eq!(
        (g.x, g.y),
        (
            taceo_ark_babyjubjub::GENERATOR_X,
            taceo_ark_babyjubjub::GENERATOR_Y
        )
    );
}

#[test]
fn accepts_valid_signatures_like_native() {
    let mut rng = rng();
    let messages = [
        Fr::zero(),
        Fr::one(),
        -Fr::one(),
        Fr::rand(&mut rng),
        Fr::rand(&mut rng),
    ];
    for m in messages {
        let (_, key, sig) = signed(&mut rng, m);
        assert_eq!(key.verify(m, &sig), Ok(()));
        assert_eq!(gadget(&key, m, &sig), (true, TOTAL));
    }
}

#[test]
fn constant_inputs_work() {
    let mut rng = rng();
    let m = Fr::rand(&mut rng);
    let (_, key, sig) = signed(&mut rng, m);
    // Key and message as constants, signature as witnesses: fewer constraints, same verdict.
    let cs = ConstraintSystem::<Fr>::new_ref();
    let k = PublicKeyVar::new_constant(cs.clone(), key).unwrap();
    let mv = FpVar::new_constant(cs.clone(), m).unwrap();
    let s = SignatureVar::new_witness(cs.clone(), || Ok(sig)).unwrap();
    verify_signature_var(&k, &mv, &s).unwrap();
    assert!(cs.is_satisfied().unwrap());
    // Everything constant: decided natively.
    let s = SignatureVar::new_constant(cs.clone(), sig).unwrap();
    assert!(verify_signature_var(&k, &mv, &s).is_ok());
    let bad = FpVar::new_constant(cs, m + Fr::one()).unwrap();
    assert_eq!(
        verify_signature_var(&k, &bad, &s),
        Err(SynthesisError::Unsatisfiable)
    );
}

#[test]
fn rejects_forged_signature() {
    let mut rng = rng();
    let m = Fr::rand(&mut rng);
    let (_, key, sig) = signed(&mut rng, m);
    let forged_s = taceo_ark_babyjubjub::Fr::rand(&mut rng);
    let forged = Signature {
        s: Fr::from(BigUint::from(forged_s.into_bigint())),
        ..sig
    };
    assert_rejected(&key, m, &forged, EddsaError::BadSignature);
}

#[test]
fn rejects_swapped_signatures() {
    let mut rng = rng();
    let m1 = Fr::rand(&mut rng);
    let m2 = Fr::rand(&mut rng);
    let (prv1, key1, sig1) = signed(&mut rng, m1);
    let (_, key2, _) = signed(&mut rng, m2);
    // Valid for another message.
    assert_rejected(&key1, m2, &sig1, EddsaError::BadSignature);
    // Valid, but by another key.
    assert_rejected(&key2, m1, &sig1, EddsaError::BadSignature);
    // The other message's valid signature by the same key.
    assert_rejected(&key1, m1, &prv1.sign(m2), EddsaError::BadSignature);
}

#[test]
fn rejects_s_not_below_l() {
    let mut rng = rng();
    // S + l < 2^251 fits the 251-bit decomposition, so only the comparison with l - 1 stops it;
    // S + l >= 2^251 is stopped by the decomposition. Cover both.
    let mut seen = (false, false);
    while seen != (true, true) {
        let m = Fr::rand(&mut rng);
        let (_, key, sig) = signed(&mut rng, m);
        let big = Signature {
            s: sig.s + l_fr(),
            ..sig
        };
        let fits = BigUint::from(big.s.into_bigint()).bits() <= S_BITS as u64;
        if (fits && seen.0) || (!fits && seen.1) {
            continue;
        }
        assert_rejected(&key, m, &big, EddsaError::ScalarOutOfRange);
        if fits {
            seen.0 = true;
        } else {
            seen.1 = true;
        }
    }
}

#[test]
fn rejects_r8_off_curve_or_with_torsion() {
    let mut rng = rng();
    let m = Fr::rand(&mut rng);
    let (_, key, sig) = signed(&mut rng, m);
    let off = Signature {
        r8_y: sig.r8_y + Fr::one(),
        ..sig
    };
    assert_rejected(&key, m, &off, EddsaError::R8NotOnCurve);
    // R8 + (0, -1) = (-x, -y): on the curve, not in the subgroup; circomlibjs rejects it.
    let torsion = Signature {
        r8_x: -sig.r8_x,
        r8_y: -sig.r8_y,
        ..sig
    };
    assert_rejected(&key, m, &torsion, EddsaError::BadSignature);
}

#[test]
fn rejects_bad_keys() {
    let mut rng = rng();
    let m = Fr::rand(&mut rng);
    let (_, key, sig) = signed(&mut rng, m);
    let off = PublicKey {
        x: key.x,
        y: key.y + Fr::one(),
    };
    assert_rejected(&off, m, &sig, EddsaError::KeyNotOnCurve);
    // Low-order keys: with 8 A = O, S * Base8 == R8 would "verify" under circomlibjs rules.
    let s = taceo_ark_babyjubjub::Fr::from(12345u64);
    let r8 = (EdwardsConfig::GENERATOR * s).into_affine();
    let trivial = Signature {
        r8_x: r8.x,
        r8_y: r8.y,
        s: Fr::from(12345u64),
    };
    for (x, y) in [(Fr::zero(), Fr::one()), (Fr::zero(), -Fr::one())] {
        let low = PublicKey { x, y };
        assert_rejected(&low, m, &trivial, EddsaError::KeyLowOrder);
    }
}

#[test]
fn key_with_torsion_behaves_like_circomlibjs() {
    // A' = A + (0, -1) is refused by PublicKey::new, but verify (like circomlibjs, which
    // multiplies by 8 h) accepts a signature made with A' in the hash, and so does the gadget.
    let mut rng = rng();
    let prv = PrivateKey::random(&mut rng);
    let a = prv.public_key();
    let a_t = PublicKey { x: -a.x, y: -a.y };
    assert_eq!(
        PublicKey::new(a_t.x, a_t.y),
        Err(EddsaError::KeyNotInSubgroup)
    );
    let m = Fr::rand(&mut rng);
    let r = taceo_ark_babyjubjub::Fr::rand(&mut rng);
    let r8 = (EdwardsConfig::GENERATOR * r).into_affine();
    let h = super::super::challenge(r8.x, r8.y, &a_t, m);
    let s = r + super::super::h_mod_l(h) * prv.expand().s;
    let sig = Signature {
        r8_x: r8.x,
        r8_y: r8.y,
        s: Fr::from(BigUint::from(s.into_bigint())),
    };
    assert_eq!(a_t.verify(m, &sig), Ok(()));
    assert!(gadget(&a_t, m, &sig).0);
}

/// Inputs allocated as witnesses, then the gadget's parts one by one; returns the constraint
/// count and the first witness index of each part.
struct Parts {
    cs: ConstraintSystemRef<Fr>,
    constraints: Vec<usize>,
    witnesses: Vec<usize>,
}

/// The value, or "missing" as in a Groth16 setup.
fn value<T>(setup: bool, v: T) -> Result<T, SynthesisError> {
    if setup {
        Err(SynthesisError::AssignmentMissing)
    } else {
        Ok(v)
    }
}

fn synthesize_parts(key: &PublicKey, message: Fr, sig: &Signature, setup: bool) -> Parts {
    let cs = ConstraintSystem::<Fr>::new_ref();
    if setup {
        cs.set_mode(SynthesisMode::Setup);
    }
    let k = PublicKeyVar::new_witness(cs.clone(), || value(setup, *key)).unwrap();
    let m = FpVar::new_witness(cs.clone(), || value(setup, message)).unwrap();
    let s = SignatureVar::new_witness(cs.clone(), || value(setup, *sig)).unwrap();
    let mut parts = Parts {
        cs: cs.clone(),
        constraints: vec![cs.num_constraints()],
        witnesses: vec![cs.num_witness_variables()],
    };
    let mark = |p: &mut Parts| {
        p.constraints.push(cs.num_constraints());
        p.witnesses.push(cs.num_witness_variables());
    };
    let h = crate::poseidon::constraints::hash_var(&[
        s.r8_x.clone(),
        s.r8_y.clone(),
        k.x.clone(),
        k.y.clone(),
        m.clone(),
    ])
    .unwrap();
    mark(&mut parts);
    let f = fixed_base(&cs, &Lc::from_fp(&s.s)).unwrap();
    mark(&mut parts);
    let a = EdPoint {
        x: Lc::from_fp(&k.x),
        y: Lc::from_fp(&k.y),
    };
    let v = variable_base(&cs, &a, &Lc::from_fp(&h)).unwrap();
    mark(&mut parts);
    let r8 = EdPoint {
        x: Lc::from_fp(&s.r8_x),
        y: Lc::from_fp(&s.r8_y),
    };
    edwards_add(&cs, &f, &v.neg(), Some(&r8)).unwrap();
    mark(&mut parts);
    parts
}

#[test]
fn constraint_counts_pinned_and_setup_mode() {
    let mut rng = rng();
    let m = Fr::rand(&mut rng);
    let (_, key, sig) = signed(&mut rng, m);
    let prove = synthesize_parts(&key, m, &sig, false);
    assert!(prove.cs.is_satisfied().unwrap());
    let per_part: Vec<usize> = prove.constraints.windows(2).map(|w| w[1] - w[0]).collect();
    // Poseidon(5), S < l and S * Base8, key checks and h * 8A, final addition.
    assert_eq!(per_part, vec![321, 816, 1708, 6]);
    assert_eq!(per_part.iter().sum::<usize>(), TOTAL);
    let setup = synthesize_parts(&key, m, &sig, true);
    assert_eq!(setup.constraints, prove.constraints);
    assert_eq!(setup.witnesses, prove.witnesses);

    // The public entry point in setup mode.
    let cs = ConstraintSystem::<Fr>::new_ref();
    cs.set_mode(SynthesisMode::Setup);
    let k = PublicKeyVar::new_witness(cs.clone(), || {
        Err::<PublicKey, _>(SynthesisError::AssignmentMissing)
    })
    .unwrap();
    let mv = FpVar::new_witness(cs.clone(), || {
        Err::<Fr, _>(SynthesisError::AssignmentMissing)
    })
    .unwrap();
    let s = SignatureVar::new_witness(cs.clone(), || {
        Err::<Signature, _>(SynthesisError::AssignmentMissing)
    })
    .unwrap();
    verify_signature_var(&k, &mv, &s).unwrap();
    assert_eq!(cs.num_constraints(), TOTAL);
}

#[test]
fn every_single_wrong_witness_is_rejected() {
    // Every witness allocated by the curve arithmetic (and the bits, digits and comparison
    // witnesses) is determined by the inputs: changing any single one must break a constraint.
    // Checked on the finalized R1CS matrices (the constraint system caches linear-combination
    // values, so changing its assignment in place would not be seen by `is_satisfied`).
    let mut rng = rng();
    let m = Fr::rand(&mut rng);
    let (_, key, sig) = signed(&mut rng, m);
    let parts = synthesize_parts(&key, m, &sig, false);
    let cs = parts.cs.clone();
    assert!(cs.is_satisfied().unwrap());
    cs.finalize();
    let matrices = cs.to_matrices().unwrap();
    assert_eq!(matrices.len(), 1, "only R1CS constraints");
    let [a, b, c] = <[_; 3]>::try_from(matrices.into_values().next().unwrap()).unwrap();
    let inner = cs.borrow().unwrap();
    let mut z = inner.assignments.instance_assignment.clone();
    let num_inputs = z.len();
    z.extend_from_slice(&inner.assignments.witness_assignment);
    drop(inner);
    let eval = |row: &Vec<(Fr, usize)>, z: &[Fr]| row.iter().map(|(k, i)| *k * z[*i]).sum::<Fr>();
    let holds = |r: usize, z: &[Fr]| eval(&a[r], z) * eval(&b[r], z) == eval(&c[r], z);
    assert!((0..a.len()).all(|r| holds(r, &z)));
    // Rows that mention each column.
    let mut rows_of = vec![Vec::new(); z.len()];
    for (r, row) in a.iter().chain(&b).chain(&c).enumerate() {
        for (_, col) in row {
            rows_of[*col].push(r % a.len());
        }
    }
    let (first, end) = (parts.witnesses[1], *parts.witnesses.last().unwrap());
    for w in first..end {
        let col = num_inputs + w;
        z[col] += Fr::one();
        assert!(
            rows_of[col].iter().any(|&r| !holds(r, &z)),
            "witness {w} is not constrained (parts start at {:?})",
            parts.witnesses
        );
        z[col] -= Fr::one();
    }
}

#[test]
fn challenge_decomposition_is_unique() {
    // k + r is another 254-bit integer with the same residue mod r as k = h + t: the packing
    // constraint alone would accept its digits (and compute (h + r) * 8A); the range checks
    // must not.
    let mut rng = rng();
    let tb = tables();
    let r: BigUint = Fr::MODULUS.into();
    let prv = PrivateKey::random(&mut rng);
    let key = prv.public_key();
    let a8 = EdwardsAffine::new_unchecked(key.x, key.y).mul_by_cofactor_to_group();
    for _ in 0..4 {
        // h small enough that k + r < 2^254 and big enough that k - r >= 0 is impossible.
        let h_int = BigUint::from(rng.gen::<u128>()) << 120u32;
        let h = Fr::from(h_int.clone());
        let k = &h_int + &tb.t;
        for (k_used, honest) in [(k.clone(), true), (&k + &r, false)] {
            let cs = ConstraintSystem::<Fr>::new_ref();
            let a = EdPoint {
                x: witness(&cs, Some(key.x)).unwrap(),
                y: witness(&cs, Some(key.y)).unwrap(),
            };
            let hv = witness(&cs, Some(h)).unwrap();
            let out = variable_base_with_digits(&cs, &a, &hv, Some(k_used.clone())).unwrap();
            assert_eq!(cs.is_satisfied().unwrap(), honest);
            let expected_scalar = &k_used - &tb.t;
            let expected = (a8 * taceo_ark_babyjubjub::Fr::from(expected_scalar)).into_affine();
            assert_eq!(
                (out.x.value(), out.y.value()),
                (Some(expected.x), Some(expected.y))
            );
        }
    }
}

#[test]
fn comparisons_with_constants_exhaustive() {
    // Every x and c of 6 bits, with plain bits and with bits scaled by a non-zero factor.
    let n = 6;
    let scale_value = Fr::from(7u64);
    for c in 0u32..64 {
        let c_big = BigUint::from(c);
        for x in 0u32..64 {
            for scaled in [false, true] {
                for le in [true, false] {
                    let cs = ConstraintSystem::<Fr>::new_ref();
                    let scale = if scaled {
                        witness(&cs, Some(scale_value)).unwrap()
                    } else {
                        Lc::one()
                    };
                    let bits: Vec<Lc> = (0..n)
                        .map(|i| {
                            let bit = (x >> i) & 1 == 1;
                            let v = if bit {
                                scale.value().unwrap()
                            } else {
                                Fr::zero()
                            };
                            witness(&cs, Some(v)).unwrap()
                        })
                        .collect();
                    if le {
                        enforce_le_constant(&cs, &bits, &scale, &c_big).unwrap();
                        assert_eq!(cs.num_constraints(), zero_runs(&c_big, n));
                    } else {
                        enforce_ge_constant(&cs, &bits, &scale, &c_big).unwrap();
                        assert_eq!(cs.num_constraints(), one_runs(&c_big, n));
                    }
                    let expected = if le { x <= c } else { x >= c };
                    assert_eq!(cs.is_satisfied().unwrap(), expected, "x={x} c={c} le={le}");
                }
            }
        }
    }
}

#[test]
fn fixed_base_matches_native() {
    // Boundary scalars: 0, 1, l - 1, and ones around window and top-window edges.
    let l = subgroup_order();
    let scalars = [
        BigUint::zero(),
        BigUint::one(),
        BigUint::from(7u32),
        BigUint::from(8u32),
        BigUint::one() << 249u32,
        (BigUint::one() << 249u32) - 1u32,
        &l - 1u32,
        &l - 2u32,
    ];
    for s in scalars {
        let cs = ConstraintSystem::<Fr>::new_ref();
        let sv = witness(&cs, Some(Fr::from(s.clone()))).unwrap();
        let out = fixed_base(&cs, &sv).unwrap();
        assert!(cs.is_satisfied().unwrap(), "S = {s}");
        let expected =
            (EdwardsConfig::GENERATOR * taceo_ark_babyjubjub::Fr::from(s.clone())).into_affine();
        let expected = if expected.is_zero() {
            (Fr::zero(), Fr::one())
        } else {
            (expected.x, expected.y)
        };
        assert_eq!(
            (out.x.value(), out.y.value()),
            (Some(expected.0), Some(expected.1))
        );
    }
}
