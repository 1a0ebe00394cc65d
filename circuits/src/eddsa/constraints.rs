//! The EdDSA-Poseidon verifier as an R1CS gadget, the in-circuit twin of
//! [`super::PublicKey::verify`].
//!
//! [`verify_signature_var`] is satisfiable exactly when the native verifier accepts: it enforces
//! `S < l`, that the key A is on the curve with `8 A` not the identity, and
//! `R8 == S * Base8 - h * (8 A)` with `h = Poseidon(R8.x, R8.y, A.x, A.y, M)`. The last equality
//! puts R8 on the curve (in the subgroup, even), so no separate check of R8 is needed, and with
//! `8 A` of prime order it is circomlibjs' `S * Base8 == R8 + (8 h) * A` (no cofactor clearing:
//! a torsion component in R8 is rejected, as circomlibjs rejects it).
//!
//! Cost (pinned by tests; `docs/soundness.md`, "EdDSA-Poseidon verifier", has the soundness
//! argument of every trick):
//!
//! | part | constraints |
//! | --- | --- |
//! | `h = Poseidon(5)` | 321 |
//! | `S * Base8`: 251 bits, `S < l`, 83 three-bit windows in Montgomery form, top window complete | 816 |
//! | `h * (8 A)`: key checks, 8 A, 253 signed digits with unique decomposition, double-and-add | 1,708 |
//! | `R8 == S * Base8 - h * 8 A` (one complete addition) | 6 |
//! | total | [`VERIFY_SIGNATURE_CONSTRAINTS`] = 2,851 |

use std::borrow::Borrow;
use std::sync::OnceLock;

use ark_ec::{twisted_edwards::TECurveConfig, AdditiveGroup, CurveGroup};
use ark_ff::{Field, One, PrimeField, Zero};
use ark_r1cs_std::{
    alloc::{AllocVar, AllocationMode},
    fields::fp::FpVar,
    GR1CSVar,
};
use ark_relations::{
    gr1cs::{ConstraintSystemRef, Namespace, SynthesisError},
    ns,
};
use num_bigint::BigUint;
use taceo_ark_babyjubjub::{EdwardsAffine, EdwardsConfig, EdwardsProjective};

use super::curve::{
    addition_chain_slopes, double_and_add_chain_values, edwards_add, edwards_double,
    edwards_on_curve, edwards_to_montgomery, montgomery_add, montgomery_double,
    montgomery_double_and_add, montgomery_to_edwards, EdPoint, MontPoint,
};
use super::lc::{
    boolean, enforce, enforce_ge_constant, enforce_le_constant, one_runs, product, quotient,
    witness, zero_runs, Lc,
};
use super::{subgroup_order, PublicKey, Signature};
use crate::Fr;

/// Constraints that one [`verify_signature_var`] call adds when its inputs are variables (the same
/// in setup mode). Part of the interface: the batch statement's per-site count builds on it.
pub const VERIFY_SIGNATURE_CONSTRAINTS: usize = 2_851;

/// A public key in the circuit: the two Edwards coordinates of A.
#[derive(Clone, Debug)]
pub struct PublicKeyVar {
    /// x coordinate of A.
    pub x: FpVar<Fr>,
    /// y coordinate of A.
    pub y: FpVar<Fr>,
}

/// A signature in the circuit: R8's coordinates and the scalar S.
#[derive(Clone, Debug)]
pub struct SignatureVar {
    /// x coordinate of R8.
    pub r8_x: FpVar<Fr>,
    /// y coordinate of R8.
    pub r8_y: FpVar<Fr>,
    /// The scalar S (the gadget enforces S < l).
    pub s: FpVar<Fr>,
}

impl AllocVar<PublicKey, Fr> for PublicKeyVar {
    /// Allocates the two coordinates; no check here, [`verify_signature_var`] checks the key.
    fn new_variable<T: Borrow<PublicKey>>(
        cs: impl Into<Namespace<Fr>>,
        f: impl FnOnce() -> Result<T, SynthesisError>,
        mode: AllocationMode,
    ) -> Result<Self, SynthesisError> {
        let cs = cs.into().cs();
        let value = f().map(|k| *k.borrow());
        Ok(PublicKeyVar {
            x: FpVar::new_variable(cs.clone(), || value.map(|k| k.x), mode)?,
            y: FpVar::new_variable(cs, || value.map(|k| k.y), mode)?,
        })
    }
}

impl AllocVar<Signature, Fr> for SignatureVar {
    /// Allocates R8's coordinates and S; no check here, [`verify_signature_var`] checks them.
    fn new_variable<T: Borrow<Signature>>(
        cs: impl Into<Namespace<Fr>>,
        f: impl FnOnce() -> Result<T, SynthesisError>,
        mode: AllocationMode,
    ) -> Result<Self, SynthesisError> {
        let cs = cs.into().cs();
        let value = f().map(|s| *s.borrow());
        Ok(SignatureVar {
            r8_x: FpVar::new_variable(cs.clone(), || value.map(|s| s.r8_x), mode)?,
            r8_y: FpVar::new_variable(cs.clone(), || value.map(|s| s.r8_y), mode)?,
            s: FpVar::new_variable(cs, || value.map(|s| s.s), mode)?,
        })
    }
}

/// Enforces that `sig` is a valid EdDSA-Poseidon signature of `message` under `key`: the same
/// relation as [`PublicKey::verify`] (circomlibjs `verifyPoseidon`, `S < l`, `8 A` not the
/// identity). [`VERIFY_SIGNATURE_CONSTRAINTS`] constraints, the same in setup mode; see the
/// module documentation.
///
/// If every input is a constant, the signature is checked natively and a bad one is
/// `SynthesisError::Unsatisfiable`.
pub fn verify_signature_var(
    key: &PublicKeyVar,
    message: &FpVar<Fr>,
    sig: &SignatureVar,
) -> Result<(), SynthesisError> {
    let cs = key
        .x
        .cs()
        .or(key.y.cs())
        .or(message.cs())
        .or(sig.r8_x.cs())
        .or(sig.r8_y.cs())
        .or(sig.s.cs());
    if cs.is_none() {
        return verify_constants(key, message, sig);
    }
    let _ns = ns!(cs, "eddsa-poseidon verify");
    let h = {
        let _ns = ns!(cs, "eddsa challenge h = Poseidon(R8, A, M)");
        crate::poseidon::constraints::hash_var(&[
            sig.r8_x.clone(),
            sig.r8_y.clone(),
            key.x.clone(),
            key.y.clone(),
            message.clone(),
        ])?
    };
    let s_b8 = {
        let _ns = ns!(cs, "eddsa S < l and S * Base8");
        fixed_base(&cs, &Lc::from_fp(&sig.s))?
    };
    let h_a8 = {
        let _ns = ns!(cs, "eddsa key checks and h * 8A");
        let a = EdPoint {
            x: Lc::from_fp(&key.x),
            y: Lc::from_fp(&key.y),
        };
        variable_base(&cs, &a, &Lc::from_fp(&h))?
    };
    let _ns = ns!(cs, "eddsa R8 == S * Base8 - h * 8A");
    let r8 = EdPoint {
        x: Lc::from_fp(&sig.r8_x),
        y: Lc::from_fp(&sig.r8_y),
    };
    edwards_add(&cs, &s_b8, &h_a8.neg(), Some(&r8))?;
    Ok(())
}

/// The all-constants case: nothing to constrain, decide natively.
fn verify_constants(
    key: &PublicKeyVar,
    message: &FpVar<Fr>,
    sig: &SignatureVar,
) -> Result<(), SynthesisError> {
    let key = PublicKey {
        x: key.x.value()?,
        y: key.y.value()?,
    };
    let sig = Signature {
        r8_x: sig.r8_x.value()?,
        r8_y: sig.r8_y.value()?,
        s: sig.s.value()?,
    };
    key.verify(message.value()?, &sig)
        .map_err(|_| SynthesisError::Unsatisfiable)
}

/// Number of bits of S: l < 2^251.
const S_BITS: usize = 251;
/// Full three-bit windows of S in Montgomery form (bits 0..249).
const S_WINDOWS: usize = 83;
/// Number of bits of the shifted challenge k = h + t (see [`Tables::t`]); h + t < 2^254.
const K_BITS: usize = 254;
/// Double-and-add steps done in Montgomery form: digits 253 down to 5. The remaining digits 4..1
/// use complete Edwards arithmetic (the accumulator may exceed l/6 there, see `docs/soundness.md`).
const LAST_MONTGOMERY_DIGIT: usize = 5;

/// Constants of the gadget, computed once per process.
struct Tables {
    /// Per window j < 83, the multilinear coefficients (over 1, b0, b1, b0 b1) of the Montgomery
    /// coordinates of `(w + 8) 8^j Base8`, w = b0 + 2 b1 + 4 b2: `[u(b2 = 0), u(b2 = 1) - u(b2 = 0),
    /// v(b2 = 0), v(b2 = 1) - v(b2 = 0)]`.
    windows: Vec<[[Fr; 4]; 4]>,
    /// The same points in Edwards form, `points[j][w]`, for computing witnesses.
    points: Vec<[EdwardsAffine; 8]>,
    /// Coefficients of the Edwards coordinates of `(w 8^83 - O) Base8`, w = b0 + 2 b1 < 4, where
    /// `O = sum_{j<83} 8 * 8^j` cancels the offsets of the lower windows: `[x, y]`.
    top: [[Fr; 4]; 2],
    /// l - 1 (S <= l - 1).
    l_minus_1: BigUint,
    /// The shift t = -(2^253 + 1) mod l (plus a multiple of l chosen for fewer constraints): with
    /// k = h + t, the double-and-add from 2 U ends at (h - k_0) U.
    t: BigUint,
    /// t as a field element.
    t_fr: Fr,
    /// t + r - 1: k = h + t exactly (not h + t +- r) iff t <= k <= t + r - 1.
    k_max: BigUint,
}

fn tables() -> &'static Tables {
    static TABLES: OnceLock<Tables> = OnceLock::new();
    TABLES.get_or_init(Tables::build)
}

/// Multilinear coefficients over (1, b0, b1, b0 b1) of the values at index b0 + 2 b1.
fn multilinear(p: [Fr; 4]) -> [Fr; 4] {
    [p[0], p[1] - p[0], p[2] - p[0], p[3] - p[2] - p[1] + p[0]]
}

/// Montgomery coordinates of an Edwards point that is not the identity nor of order 2.
fn to_montgomery(p: &EdwardsAffine) -> (Fr, Fr) {
    let u = (Fr::one() + p.y)
        * (Fr::one() - p.y)
            .inverse()
            .expect("y != 1 off the identity");
    let v = u * p.x.inverse().expect("x != 0 off the points of order <= 2");
    (u, v)
}

impl Tables {
    fn build() -> Tables {
        let r: BigUint = Fr::MODULUS.into();
        let l = subgroup_order();
        // P_j = 8^j Base8.
        let mut base = EdwardsProjective::from(EdwardsConfig::GENERATOR);
        let mut offset = EdwardsProjective::zero();
        let mut windows = Vec::with_capacity(S_WINDOWS);
        let mut points = Vec::with_capacity(S_WINDOWS);
        for _ in 0..S_WINDOWS {
            let next = base.double().double().double();
            let mut pts = Vec::with_capacity(8);
            let mut acc = next;
            for _ in 0..8 {
                pts.push(acc);
                acc += base;
            }
            let pts = EdwardsProjective::normalize_batch(&pts);
            let (us, vs): (Vec<Fr>, Vec<Fr>) = pts.iter().map(to_montgomery).unzip();
            let lo_u = multilinear([us[0], us[1], us[2], us[3]]);
            let hi_u = multilinear([us[4], us[5], us[6], us[7]]);
            let lo_v = multilinear([vs[0], vs[1], vs[2], vs[3]]);
            let hi_v = multilinear([vs[4], vs[5], vs[6], vs[7]]);
            let diff =
                |a: [Fr; 4], b: [Fr; 4]| [a[0] - b[0], a[1] - b[1], a[2] - b[2], a[3] - b[3]];
            windows.push([lo_u, diff(hi_u, lo_u), lo_v, diff(hi_v, lo_v)]);
            points.push(
                <[EdwardsAffine; 8]>::try_from(pts.as_slice()).expect("eight points per window"),
            );
            offset += next;
            base = next;
        }
        // base = 8^83 Base8, offset = sum_{j<83} 8^(j+1) Base8.
        let top_pts: Vec<EdwardsProjective> = (0..4u64)
            .map(|w| base * taceo_ark_babyjubjub::Fr::from(w) - offset)
            .collect();
        let top_pts = EdwardsProjective::normalize_batch(&top_pts);
        let top = [
            multilinear([top_pts[0].x, top_pts[1].x, top_pts[2].x, top_pts[3].x]),
            multilinear([top_pts[0].y, top_pts[1].y, top_pts[2].y, top_pts[3].y]),
        ];
        // t = -(2^253 + 1) mod l, plus the multiple of l (keeping t + r <= 2^254) whose range
        // check costs the fewest constraints.
        let t0 = (&l - ((BigUint::one() << (K_BITS - 1)) + 1u32) % &l) % &l;
        let limit = BigUint::one() << K_BITS;
        let mut best: Option<(usize, BigUint)> = None;
        let mut t = t0;
        while &t + &r <= limit {
            let cost = zero_runs(&(&t + &r - 1u32), K_BITS) + one_runs(&t, K_BITS);
            if best.as_ref().is_none_or(|(c, _)| cost < *c) {
                best = Some((cost, t.clone()));
            }
            t += &l;
        }
        let (_, t) = best.expect("t0 + r < 2^254, so at least t0 qualifies");
        Tables {
            windows,
            points,
            top,
            l_minus_1: &l - 1u32,
            t_fr: Fr::from(t.clone()),
            k_max: &t + &r - 1u32,
            t,
        }
    }
}

/// `c[0] + c[1] b0 + c[2] b1 + c[3] b0b1`.
fn lookup(c: &[Fr; 4], b0: &Lc, b1: &Lc, b01: &Lc) -> Lc {
    let mut out = Lc::constant(c[0]);
    out.add_scaled(c[1], b0);
    out.add_scaled(c[2], b1);
    out.add_scaled(c[3], b01);
    out
}

/// 2^i as a field element, from a table (the gadget asks for hundreds per signature).
fn pow2(i: usize) -> Fr {
    static POWERS: OnceLock<Vec<Fr>> = OnceLock::new();
    let powers = POWERS.get_or_init(|| {
        std::iter::successors(Some(Fr::one()), |p| Some(p.double()))
            .take(256)
            .collect()
    });
    powers
        .get(i)
        .copied()
        .unwrap_or_else(|| Fr::from(2u64).pow([i as u64]))
}

/// The bits of a field element's integer (None without a value).
fn int_of(x: Option<Fr>) -> Option<BigUint> {
    x.map(|v| v.into_bigint().into())
}

/// `S * Base8` in Edwards form, enforcing `S < l` (816 constraints).
///
/// S is split into 251 bits (so S < 2^251), compared with l - 1 (one constraint per run of zeros
/// of l - 1), then multiplied in 3-bit windows: window j < 83 looks up `(w_j + 8) 8^j Base8` in
/// Montgomery form (3 constraints) and adds it with an incomplete Montgomery addition (3); the
/// partial sums never meet an exceptional case because every partial scalar is smaller than the
/// next addend and their sum stays below l. The top window (bits 249, 250) adds
/// `(w 8^83 - O) Base8`, which removes the offsets, with a complete Edwards addition.
fn fixed_base(cs: &ConstraintSystemRef<Fr>, s: &Lc) -> Result<EdPoint, SynthesisError> {
    let tb = tables();
    let s_int = int_of(s.value());
    let bits = (0..S_BITS)
        .map(|i| boolean(cs, s_int.as_ref().map(|v| v.bit(i as u64))))
        .collect::<Result<Vec<_>, _>>()?;
    let packed = Lc::sum(bits.iter().enumerate().map(|(i, b)| (pow2(i), b)));
    enforce(cs, &(&packed - s), &Lc::one(), &Lc::zero())?;
    enforce_le_constant(cs, &bits, &Lc::one(), &tb.l_minus_1)?;

    let window = |j: usize| -> Result<MontPoint, SynthesisError> {
        let (b0, b1, b2) = (&bits[3 * j], &bits[3 * j + 1], &bits[3 * j + 2]);
        let b01 = product(cs, b0, b1)?;
        let [u_lo, u_diff, v_lo, v_diff] = &tb.windows[j];
        let u = &lookup(u_lo, b0, b1, &b01) + &product(cs, b2, &lookup(u_diff, b0, b1, &b01))?;
        let v = &lookup(v_lo, b0, b1, &b01) + &product(cs, b2, &lookup(v_diff, b0, b1, &b01))?;
        Ok(MontPoint { u, v })
    };
    // Slopes of the window additions, from the table points the bits select.
    let slopes = s_int.as_ref().map(|s| {
        let selected: Vec<EdwardsAffine> = (0..S_WINDOWS)
            .map(|j| {
                let w = (0..3).fold(0usize, |w, b| {
                    w | (usize::from(s.bit((3 * j + b) as u64)) << b)
                });
                tb.points[j][w]
            })
            .collect();
        addition_chain_slopes(&selected)
    });
    let mut acc = window(0)?;
    for j in 1..S_WINDOWS {
        let slope = slopes.as_ref().map(|v| v[j - 1]);
        acc = montgomery_add(cs, &acc, &window(j)?, slope)?;
    }
    let (b0, b1) = (&bits[3 * S_WINDOWS], &bits[3 * S_WINDOWS + 1]);
    let b01 = product(cs, b0, b1)?;
    let top = EdPoint {
        x: lookup(&tb.top[0], b0, b1, &b01),
        y: lookup(&tb.top[1], b0, b1, &b01),
    };
    let acc = montgomery_to_edwards(cs, &acc)?;
    edwards_add(cs, &acc, &top, None)
}

/// `h * (8 A)` in Edwards form, enforcing that A is on the curve and `8 A` is not the identity
/// (1,708 constraints).
///
/// U = 8 A by three complete Edwards doublings (of prime order l or the identity, which the
/// conversion to Montgomery form refuses). k = h + t is written as
/// `k = k_0 + sum_{i=1}^{253} 2^i (s_i + 1) / 2` with signed digits `s_i = +-1` carried as
/// `v_i = s_i v_U` (one constraint each: `v_i^2 = v_U^2`) and one packing constraint
/// `v_U (h + t - k_0 - 2^253 + 1) = sum 2^(i-1) v_i`; two comparisons with constants make the
/// decomposition unique. Then `Acc = 2 U` and `Acc = 2 Acc + s_i U` for i = 253..1 (5 constraints
/// per step in Montgomery form while provably non-exceptional, complete Edwards steps for the
/// last four digits) and a final `+ k_0 U` give `(k - t) U = h U`.
fn variable_base(
    cs: &ConstraintSystemRef<Fr>,
    a: &EdPoint,
    h: &Lc,
) -> Result<EdPoint, SynthesisError> {
    let k = int_of(h.value()).map(|h| h + &tables().t);
    variable_base_with_digits(cs, a, h, k)
}

/// [`variable_base`] with the integer whose bits become the digits given by the caller (honestly
/// `h + t`; tests pass other decompositions to check that the constraints refuse them).
fn variable_base_with_digits(
    cs: &ConstraintSystemRef<Fr>,
    a: &EdPoint,
    h: &Lc,
    k: Option<BigUint>,
) -> Result<EdPoint, SynthesisError> {
    let tb = tables();
    let squares = edwards_on_curve(cs, a)?;
    let a2 = edwards_double(cs, a, Some(squares))?;
    let a4 = edwards_double(cs, &a2, None)?;
    let u_ed = edwards_double(cs, &a4, None)?;
    let u = edwards_to_montgomery(cs, &u_ed)?;
    let v_sq = product(cs, &u.v, &u.v)?;

    // Signed digits of k = h + t.
    let k0 = boolean(cs, k.as_ref().map(|k| k.bit(0)))?;
    let digits = (1..K_BITS)
        .map(|i| {
            let value = (|| {
                let v = u.v.value()?;
                Some(if k.as_ref()?.bit(i as u64) { v } else { -v })
            })();
            let d = witness(cs, value)?;
            enforce(cs, &d, &d, &v_sq)?;
            Ok(d)
        })
        .collect::<Result<Vec<Lc>, SynthesisError>>()?;
    let packed = Lc::sum(digits.iter().enumerate().map(|(j, d)| (pow2(j), d)));
    let shifted = &(&(h + tb.t_fr) - &k0) + (Fr::one() - pow2(K_BITS - 1));
    enforce(cs, &u.v, &shifted, &packed)?;

    // Unique decomposition: t <= k <= t + r - 1, on the bits scaled by v_U (bit i of k times v_U
    // is (v_U + v_i) / 2, and v_U k_0 for bit 0).
    let half = Fr::from(2u64).inverse().expect("2 is invertible mod r");
    let mut scaled = Vec::with_capacity(K_BITS);
    scaled.push(product(cs, &u.v, &k0)?);
    scaled.extend(digits.iter().map(|d| Lc::sum([(half, &u.v), (half, d)])));
    enforce_le_constant(cs, &scaled, &u.v, &tb.k_max)?;
    enforce_ge_constant(cs, &scaled, &u.v, &tb.t)?;

    // Double-and-add, most significant digit first.
    let mut acc = montgomery_double(cs, &u)?;
    let values = (|| {
        let k = k.as_ref()?;
        let signs: Vec<bool> = (LAST_MONTGOMERY_DIGIT..K_BITS)
            .rev()
            .map(|i| k.bit(i as u64))
            .collect();
        Some(double_and_add_chain_values(
            u_ed.x.value()?,
            u_ed.y.value()?,
            &signs,
        ))
    })();
    for (step, i) in (LAST_MONTGOMERY_DIGIT..K_BITS).rev().enumerate() {
        let q = MontPoint {
            u: u.u.clone(),
            v: digits[i - 1].clone(),
        };
        let step_values = values.as_ref().map(|v| v[step]);
        acc = montgomery_double_and_add(cs, &acc, &q, step_values)?;
    }
    let mut acc = montgomery_to_edwards(cs, &acc)?;
    for i in (1..LAST_MONTGOMERY_DIGIT).rev() {
        let doubled = edwards_double(cs, &acc, None)?;
        // Edwards x of the Montgomery point (u_U, v_i) is u_U / v_i; y does not depend on the sign.
        let q = EdPoint {
            x: quotient(cs, &u.u, &digits[i - 1])?,
            y: u_ed.y.clone(),
        };
        acc = edwards_add(cs, &doubled, &q, None)?;
    }
    // + k_0 U: the point (k_0 x_U, 1 + k_0 (y_U - 1)) is U or the identity.
    let sel_x = product(cs, &k0, &u_ed.x)?;
    let sel_y = witness(
        cs,
        (|| Some(Fr::one() + k0.value()? * (u_ed.y.value()? - Fr::one())))(),
    )?;
    enforce(cs, &k0, &(&u_ed.y + (-Fr::one())), &(&sel_y + (-Fr::one())))?;
    edwards_add(cs, &acc, &EdPoint { x: sel_x, y: sel_y }, None)
}

#[cfg(test)]
#[path = "gadget_tests.rs"]
mod tests;
