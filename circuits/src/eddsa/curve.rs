//! Baby Jubjub point arithmetic in R1CS, in circom's two models of the curve:
//!
//! - twisted Edwards `a x^2 + y^2 = 1 + d x^2 y^2`, a = 168700, d = 168696 (the coordinates of keys
//!   and signatures). Its addition law is complete: a is a square and d is not, so the
//!   denominators `1 +- d x1 x2 y1 y2` never vanish for points on the curve.
//! - Montgomery `B v^2 = u^3 + A u^2 + u`, A = 168698, B = 1, with circomlib's map
//!   `u = (1 + y) / (1 - y)`, `v = u / x` (`montgomery.circom`). Its affine addition is cheaper
//!   (3 constraints) but incomplete: it needs distinct u coordinates and cannot represent the
//!   identity. Callers use it only where they prove the exceptional cases impossible.
//!
//! Every function takes points already known to be on the curve (the callers establish it).
//! Witness values are computed natively alongside; for the long chains of Montgomery additions
//! the caller precomputes them with batched inversions ([`addition_chain_slopes`],
//! [`double_and_add_chain_values`]), which makes witness generation about twice as fast.

use ark_ec::AdditiveGroup;
use ark_ff::Zero;
use ark_ff::{serial_batch_inversion_and_mul, Field, MontFp};
use ark_relations::gr1cs::{ConstraintSystemRef, SynthesisError};
use taceo_ark_babyjubjub::{EdwardsAffine, EdwardsProjective};

use super::lc::{enforce, product, quotient, witness, Lc};
use crate::Fr;

/// Twisted Edwards coefficient a.
pub(crate) const TE_A: Fr = MontFp!("168700");
/// Twisted Edwards coefficient d.
pub(crate) const TE_D: Fr = MontFp!("168696");
/// Montgomery coefficient A = 2 (a + d) / (a - d); B = 4 / (a - d) = 1.
pub(crate) const MONT_A: Fr = MontFp!("168698");

/// A point in twisted Edwards coordinates.
#[derive(Clone, Debug)]
pub(crate) struct EdPoint {
    pub(crate) x: Lc,
    pub(crate) y: Lc,
}

/// A point in Montgomery coordinates (never the identity).
#[derive(Clone, Debug)]
pub(crate) struct MontPoint {
    pub(crate) u: Lc,
    pub(crate) v: Lc,
}

impl EdPoint {
    /// The negation (-x, y), free.
    pub(crate) fn neg(&self) -> EdPoint {
        EdPoint {
            x: -&self.x,
            y: self.y.clone(),
        }
    }
}

/// Enforces that (x, y) is on the Edwards curve and returns (x^2, y^2) for reuse (3 constraints).
pub(crate) fn edwards_on_curve(
    cs: &ConstraintSystemRef<Fr>,
    p: &EdPoint,
) -> Result<(Lc, Lc), SynthesisError> {
    let xx = product(cs, &p.x, &p.x)?;
    let yy = product(cs, &p.y, &p.y)?;
    // (d x^2) * y^2 = a x^2 + y^2 - 1
    let rhs = &(&(&xx * TE_A) + &yy) + (-Fr::ONE);
    enforce(cs, &(&xx * TE_D), &yy, &rhs)?;
    Ok((xx, yy))
}

/// `2 P` on the Edwards curve (5 constraints, 3 if `squares = (x^2, y^2)` are given). Complete for
/// points on the curve: the denominators are `1 +- d x^2 y^2`, never 0.
pub(crate) fn edwards_double(
    cs: &ConstraintSystemRef<Fr>,
    p: &EdPoint,
    squares: Option<(Lc, Lc)>,
) -> Result<EdPoint, SynthesisError> {
    let (xx, yy) = match squares {
        Some(s) => s,
        None => (product(cs, &p.x, &p.x)?, product(cs, &p.y, &p.y)?),
    };
    let xy = product(cs, &p.x, &p.y)?;
    let axx = &xx * TE_A;
    // x3 = 2 x y / (a x^2 + y^2)
    let x3 = quotient(cs, &(&xy * Fr::from(2u64)), &(&axx + &yy))?;
    // y3 = (y^2 - a x^2) / (2 - a x^2 - y^2)
    let den = &(&Lc::constant(Fr::from(2u64)) - &axx) - &yy;
    let y3 = quotient(cs, &(&yy - &axx), &den)?;
    Ok(EdPoint { x: x3, y: y3 })
}

/// `P + Q` on the Edwards curve, complete (6 constraints; circomlib's `BabyAdd`). With `out`, the
/// result is enforced to equal the given coordinates instead of being allocated.
pub(crate) fn edwards_add(
    cs: &ConstraintSystemRef<Fr>,
    p: &EdPoint,
    q: &EdPoint,
    out: Option<&EdPoint>,
) -> Result<EdPoint, SynthesisError> {
    let beta = product(cs, &p.x, &q.y)?;
    let gamma = product(cs, &p.y, &q.x)?;
    let delta = product(cs, &(&p.y - &(&p.x * TE_A)), &(&q.x + &q.y))?;
    let tau = product(cs, &beta, &gamma)?;
    let dtau = &tau * TE_D;
    let x_num = &beta + &gamma;
    let x_den = &Lc::one() + &dtau;
    let y_num = &(&delta + &(&beta * TE_A)) - &gamma;
    let y_den = &Lc::one() - &dtau;
    match out {
        Some(o) => {
            enforce(cs, &o.x, &x_den, &x_num)?;
            enforce(cs, &o.y, &y_den, &y_num)?;
            Ok(o.clone())
        }
        None => Ok(EdPoint {
            x: quotient(cs, &x_num, &x_den)?,
            y: quotient(cs, &y_num, &y_den)?,
        }),
    }
}

/// Edwards to Montgomery, `u = (1 + y) / (1 - y)`, `v = u / x` (2 constraints). Sound only for a
/// point with `x != 0` and `y != 1`: the constraint `u (1 - y) = 1 + y` is unsatisfiable for the
/// identity (0, 1), and for a point of the prime-order subgroup other than the identity `x != 0`,
/// so `v` is determined.
pub(crate) fn edwards_to_montgomery(
    cs: &ConstraintSystemRef<Fr>,
    p: &EdPoint,
) -> Result<MontPoint, SynthesisError> {
    let u = quotient(cs, &(&Lc::one() + &p.y), &(&Lc::one() - &p.y))?;
    let v = quotient(cs, &u, &p.x)?;
    Ok(MontPoint { u, v })
}

/// Montgomery to Edwards, `x = u / v`, `y = (u - 1) / (u + 1)` (2 constraints). Sound for a point
/// of odd order: `v != 0` (only the point of order 2 has v = 0) and `u != -1` (that would need
/// `v^2 = d`, and d is not a square).
pub(crate) fn montgomery_to_edwards(
    cs: &ConstraintSystemRef<Fr>,
    p: &MontPoint,
) -> Result<EdPoint, SynthesisError> {
    let x = quotient(cs, &p.u, &p.v)?;
    let y = quotient(cs, &(&p.u + (-Fr::ONE)), &(&p.u + Fr::ONE))?;
    Ok(EdPoint { x, y })
}

/// `P + Q` in Montgomery form (3 constraints). The caller proves `P != +-Q` (so `u_P != u_Q` and
/// the slope is unique) and supplies the slope's value `(vQ - vP) / (uQ - uP)` (`None` in setup
/// mode), typically from a batched inversion over a whole chain of additions.
pub(crate) fn montgomery_add(
    cs: &ConstraintSystemRef<Fr>,
    p: &MontPoint,
    q: &MontPoint,
    lambda_value: Option<Fr>,
) -> Result<MontPoint, SynthesisError> {
    let lambda = witness(cs, lambda_value)?;
    enforce(cs, &lambda, &(&q.u - &p.u), &(&q.v - &p.v))?;
    // u3 = lambda^2 - A - u1 - u2
    let u3 = witness(
        cs,
        (|| Some(lambda.value()?.square() - MONT_A - p.u.value()? - q.u.value()?))(),
    )?;
    enforce(cs, &lambda, &lambda, &(&(&(&u3 + MONT_A) + &p.u) + &q.u))?;
    // v3 = lambda (u1 - u3) - v1
    let v3 = witness(
        cs,
        (|| Some(lambda.value()? * (p.u.value()? - u3.value()?) - p.v.value()?))(),
    )?;
    enforce(cs, &lambda, &(&p.u - &u3), &(&v3 + &p.v))?;
    Ok(MontPoint { u: u3, v: v3 })
}

/// The slopes of the chain `Acc_0 = P_0`, `Acc_j = Acc_{j-1} + P_j` (Edwards points, any number),
/// with batched inversions: entry j - 1 is the slope of the addition of `P_j`.
pub(crate) fn addition_chain_slopes(points: &[EdwardsAffine]) -> Vec<Fr> {
    let mut partial = Vec::with_capacity(points.len());
    let mut acc = EdwardsProjective::zero();
    for p in points {
        acc += p;
        partial.push(acc);
    }
    let partial = to_montgomery_batch(&normalize(&partial));
    let addends = to_montgomery_batch(points);
    let mut den: Vec<Fr> = (1..points.len())
        .map(|j| addends[j].0 - partial[j - 1].0)
        .collect();
    invert_all(&mut den);
    (1..points.len())
        .map(|j| (addends[j].1 - partial[j - 1].1) * den[j - 1])
        .collect()
}

/// `2 P` in Montgomery form (4 constraints). Sound for `P` of odd order (`v != 0`).
pub(crate) fn montgomery_double(
    cs: &ConstraintSystemRef<Fr>,
    p: &MontPoint,
) -> Result<MontPoint, SynthesisError> {
    let uu = product(cs, &p.u, &p.u)?;
    // lambda = (3 u^2 + 2 A u + 1) / (2 v)
    let num = &(&(&uu * Fr::from(3u64)) + &(&p.u * (MONT_A + MONT_A))) + Fr::ONE;
    let lambda = quotient(cs, &num, &(&p.v * Fr::from(2u64)))?;
    let u3 = witness(
        cs,
        (|| Some(lambda.value()?.square() - MONT_A - p.u.value()?.double()))(),
    )?;
    enforce(
        cs,
        &lambda,
        &lambda,
        &(&(&u3 + MONT_A) + &(&p.u * Fr::from(2u64))),
    )?;
    let v3 = witness(
        cs,
        (|| Some(lambda.value()? * (p.u.value()? - u3.value()?) - p.v.value()?))(),
    )?;
    enforce(cs, &lambda, &(&p.u - &u3), &(&v3 + &p.v))?;
    Ok(MontPoint { u: u3, v: v3 })
}

/// The witnesses of one [`montgomery_double_and_add`], computed natively ahead of time (the step's
/// own formulas would need two field inversions each, in sequence; a whole chain of steps can be
/// computed with a few batched inversions instead, see [`double_and_add_chain_values`]).
#[derive(Clone, Copy, Debug)]
pub(crate) struct DoubleAndAddValues {
    /// Slope of P, Q.
    pub(crate) lambda1: Fr,
    /// u of R = P + Q.
    pub(crate) u_r: Fr,
    /// Slope of R, P.
    pub(crate) lambda2: Fr,
    /// 2 P + Q.
    pub(crate) u_s: Fr,
    /// 2 P + Q.
    pub(crate) v_s: Fr,
}

/// `2 P + Q = (P + Q) + P` in Montgomery form without computing `v` of `P + Q` (5 constraints;
/// the incomplete double-and-add of Zcash Orchard's variable-base multiplication). The caller
/// proves `P != +-Q` and `P + Q != +-P`, which makes every witness unique, and supplies their
/// values (`None` in setup mode).
pub(crate) fn montgomery_double_and_add(
    cs: &ConstraintSystemRef<Fr>,
    p: &MontPoint,
    q: &MontPoint,
    values: Option<DoubleAndAddValues>,
) -> Result<MontPoint, SynthesisError> {
    // R = P + Q: lambda1 (uQ - uP) = vQ - vP, uR = lambda1^2 - A - uP - uQ.
    let lambda1 = witness(cs, values.map(|w| w.lambda1))?;
    enforce(cs, &lambda1, &(&q.u - &p.u), &(&q.v - &p.v))?;
    let u_r = witness(cs, values.map(|w| w.u_r))?;
    enforce(cs, &lambda1, &lambda1, &(&(&(&u_r + MONT_A) + &p.u) + &q.u))?;
    // S = R + P: with vR = lambda1 (uP - uR) - vP, the slope (vR - vP) / (uR - uP) is
    // lambda2 = 2 vP / (uP - uR) - lambda1, i.e. (lambda1 + lambda2) (uP - uR) = 2 vP.
    let lambda2 = witness(cs, values.map(|w| w.lambda2))?;
    enforce(
        cs,
        &(&lambda1 + &lambda2),
        &(&p.u - &u_r),
        &(&p.v * Fr::from(2u64)),
    )?;
    // uS = lambda2^2 - A - uR - uP, vS = lambda2 (uP - uS) - vP.
    let u_s = witness(cs, values.map(|w| w.u_s))?;
    enforce(cs, &lambda2, &lambda2, &(&(&(&u_s + MONT_A) + &u_r) + &p.u))?;
    let v_s = witness(cs, values.map(|w| w.v_s))?;
    enforce(cs, &lambda2, &(&p.u - &u_s), &(&v_s + &p.v))?;
    Ok(MontPoint { u: u_s, v: v_s })
}

/// Inverts every non-zero element in place with one inversion, on this thread: arkworks'
/// `batch_inversion` splits even a handful of elements over rayon's threads (one inversion
/// each, plus a wake-up), which cost more than it saved in witness synthesis.
pub(crate) fn invert_all(values: &mut [Fr]) {
    serial_batch_inversion_and_mul(values, &Fr::ONE);
}

/// Affine forms of projective points with one inversion, on this thread (see [`invert_all`]).
fn normalize(points: &[EdwardsProjective]) -> Vec<EdwardsAffine> {
    let mut z_inverses: Vec<Fr> = points.iter().map(|p| p.z).collect();
    invert_all(&mut z_inverses);
    points
        .iter()
        .zip(&z_inverses)
        .map(|(p, z)| EdwardsAffine::new_unchecked(p.x * z, p.y * z))
        .collect()
}

/// Montgomery coordinates of Edwards points, with two batched inversions. Points of order <= 2
/// (and non-points) get meaningless but defined values; the constraints reject them.
fn to_montgomery_batch(points: &[EdwardsAffine]) -> Vec<(Fr, Fr)> {
    let mut one_minus_y: Vec<Fr> = points.iter().map(|p| Fr::ONE - p.y).collect();
    invert_all(&mut one_minus_y);
    let us: Vec<Fr> = points
        .iter()
        .zip(&one_minus_y)
        .map(|(p, d)| (Fr::ONE + p.y) * d)
        .collect();
    let mut xs: Vec<Fr> = points.iter().map(|p| p.x).collect();
    invert_all(&mut xs);
    us.iter().zip(&xs).map(|(u, xi)| (*u, *u * xi)).collect()
}

/// The witnesses of the chain `Acc = 2 U`, then `Acc = 2 Acc + (s ? U : -U)` for each sign, given
/// U in Edwards coordinates: computed in projective coordinates and normalised with batched
/// inversions (a handful in total instead of two per step).
pub(crate) fn double_and_add_chain_values(
    u_x: Fr,
    u_y: Fr,
    signs: &[bool],
) -> Vec<DoubleAndAddValues> {
    let u = EdwardsProjective::from(EdwardsAffine::new_unchecked(u_x, u_y));
    let neg_u = -u;
    // acc_0, then (R_j, acc_{j+1}) per step.
    let mut points = Vec::with_capacity(2 * signs.len() + 1);
    let mut acc = u.double();
    points.push(acc);
    for &s in signs {
        let r = acc + if s { u } else { neg_u };
        acc = r + acc;
        points.push(r);
        points.push(acc);
    }
    let mont = to_montgomery_batch(&normalize(&points));
    let (u_u, v_u) = to_montgomery_batch(&[EdwardsAffine::new_unchecked(u_x, u_y)])[0];
    // Slopes: lambda1 = (vQ - vA) / (uQ - uA), lambda2 = (vR - vA) / (uR - uA).
    let mut den1: Vec<Fr> = (0..signs.len()).map(|j| u_u - mont[2 * j].0).collect();
    let mut den2: Vec<Fr> = (0..signs.len())
        .map(|j| mont[2 * j + 1].0 - mont[2 * j].0)
        .collect();
    invert_all(&mut den1);
    invert_all(&mut den2);
    signs
        .iter()
        .enumerate()
        .map(|(j, &s)| {
            let (_, v_a) = mont[2 * j];
            let (u_r, v_r) = mont[2 * j + 1];
            let (u_s, v_s) = mont[2 * j + 2];
            let v_q = if s { v_u } else { -v_u };
            DoubleAndAddValues {
                lambda1: (v_q - v_a) * den1[j],
                u_r,
                lambda2: (v_r - v_a) * den2[j],
                u_s,
                v_s,
            }
        })
        .collect()
}
