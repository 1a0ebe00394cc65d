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
//! Every function takes points already known to be on the curve (the callers establish it) and
//! computes witness values natively alongside.

use ark_ff::{AdditiveGroup, Field, MontFp};
use ark_relations::gr1cs::{ConstraintSystemRef, SynthesisError};

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

/// `P + Q` in Montgomery form (3 constraints). The caller proves `P != +-Q` (so `u_P != u_Q`).
pub(crate) fn montgomery_add(
    cs: &ConstraintSystemRef<Fr>,
    p: &MontPoint,
    q: &MontPoint,
) -> Result<MontPoint, SynthesisError> {
    let lambda = quotient(cs, &(&q.v - &p.v), &(&q.u - &p.u))?;
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

/// `2 P + Q = (P + Q) + P` in Montgomery form without computing `v` of `P + Q` (5 constraints;
/// the incomplete double-and-add of Zcash Orchard's variable-base multiplication). The caller
/// proves `P != +-Q` and `P + Q != +-P`.
pub(crate) fn montgomery_double_and_add(
    cs: &ConstraintSystemRef<Fr>,
    p: &MontPoint,
    q: &MontPoint,
) -> Result<MontPoint, SynthesisError> {
    // R = P + Q: lambda1 = (vQ - vP) / (uQ - uP), uR = lambda1^2 - A - uP - uQ.
    let lambda1 = quotient(cs, &(&q.v - &p.v), &(&q.u - &p.u))?;
    let u_r = witness(
        cs,
        (|| Some(lambda1.value()?.square() - MONT_A - p.u.value()? - q.u.value()?))(),
    )?;
    enforce(cs, &lambda1, &lambda1, &(&(&(&u_r + MONT_A) + &p.u) + &q.u))?;
    // S = R + P: with vR = lambda1 (uP - uR) - vP, the slope (vR - vP) / (uR - uP) is
    // lambda2 = 2 vP / (uP - uR) - lambda1, i.e. (lambda1 + lambda2) (uP - uR) = 2 vP.
    let lambda2 = witness(
        cs,
        (|| {
            let den = (p.u.value()? - u_r.value()?).inverse().unwrap_or(Fr::ZERO);
            Some(p.v.value()?.double() * den - lambda1.value()?)
        })(),
    )?;
    enforce(
        cs,
        &(&lambda1 + &lambda2),
        &(&p.u - &u_r),
        &(&p.v * Fr::from(2u64)),
    )?;
    // uS = lambda2^2 - A - uR - uP, vS = lambda2 (uP - uS) - vP.
    let u_s = witness(
        cs,
        (|| Some(lambda2.value()?.square() - MONT_A - u_r.value()? - p.u.value()?))(),
    )?;
    enforce(cs, &lambda2, &lambda2, &(&(&(&u_s + MONT_A) + &u_r) + &p.u))?;
    let v_s = witness(
        cs,
        (|| Some(lambda2.value()? * (p.u.value()? - u_s.value()?) - p.v.value()?))(),
    )?;
    enforce(cs, &lambda2, &(&p.u - &u_s), &(&v_s + &p.v))?;
    Ok(MontPoint { u: u_s, v: v_s })
}
