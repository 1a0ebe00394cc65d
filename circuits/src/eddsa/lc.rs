//! Low-level R1CS building blocks of the EdDSA gadget: linear combinations that carry their
//! value, witness allocation, `a * b = c` constraints, booleans and comparisons with constants.
//!
//! Why not `FpVar` arithmetic: every `FpVar` addition registers a symbolic linear combination in
//! the constraint system; the verifier's ~3,000 constraints would create several times as many.
//! Here linear combinations are plain vectors until they are used in a constraint.
//!
//! Values are `None` in setup mode (and whenever an input has no value); a witness whose value is
//! `None` is allocated with a closure that returns `AssignmentMissing`, which the constraint system
//! only calls when it needs values, so setup-mode synthesis never fails.

use std::ops::{Add, Mul, Neg, Sub};

use ark_ff::{Field, One, Zero};
use ark_r1cs_std::fields::fp::{AllocatedFp, FpVar};
use ark_relations::gr1cs::{ConstraintSystemRef, LinearCombination, SynthesisError, Variable};
use num_bigint::BigUint;

use crate::Fr;

/// A linear combination of variables with its value (if known).
///
/// In witness-only proving (a constraint system that keeps no constraints: the prover takes
/// the matrices from its keys) no linear combination is ever read, so the terms of anything
/// built from a witness are not maintained (`untracked`); only the value is computed. That
/// halves the cost of synthesizing a witness.
#[derive(Clone, Debug)]
pub(crate) struct Lc {
    terms: Vec<(Fr, Variable)>,
    value: Option<Fr>,
    untracked: bool,
}

/// Whether `cs` keeps constraints (setup, and proving with matrices): then terms are needed.
fn tracks_terms(cs: &ConstraintSystemRef<Fr>) -> bool {
    cs.should_construct_matrices()
}

impl Lc {
    /// The constant `c`.
    pub(crate) fn constant(c: Fr) -> Lc {
        Lc {
            terms: if c.is_zero() {
                Vec::new()
            } else {
                vec![(c, Variable::One)]
            },
            value: Some(c),
            untracked: false,
        }
    }

    /// The constant 0.
    pub(crate) fn zero() -> Lc {
        Lc::constant(Fr::zero())
    }

    /// The constant 1.
    pub(crate) fn one() -> Lc {
        Lc::constant(Fr::one())
    }

    /// The linear combination of a field variable (a constant stays a constant).
    pub(crate) fn from_fp(v: &FpVar<Fr>) -> Lc {
        match v {
            FpVar::Constant(c) => Lc::constant(*c),
            FpVar::Var(a) => {
                let tracked = tracks_terms(&a.cs);
                Lc {
                    terms: if tracked {
                        vec![(Fr::one(), a.variable)]
                    } else {
                        Vec::new()
                    },
                    value: a.value().ok(),
                    untracked: !tracked,
                }
            }
        }
    }

    /// The value, `None` in setup mode.
    pub(crate) fn value(&self) -> Option<Fr> {
        self.value
    }

    /// This combination as an `FpVar`, for gadgets that take one: one symbolic linear
    /// combination, no constraint and no witness (a constant stays a constant).
    pub(crate) fn to_fp(&self, cs: &ConstraintSystemRef<Fr>) -> Result<FpVar<Fr>, SynthesisError> {
        if self.untracked {
            // Witness-only proving: built from a witness, so not a constant (the one caller
            // passes range-checked sums of bits, whose terms never cancel), and the
            // constraint system records no linear combination.
            let var = cs.new_lc(LinearCombination::zero)?;
            return Ok(FpVar::Var(AllocatedFp::new(self.value, var, cs.clone())));
        }
        let lc = self.to_lc();
        if lc.0.iter().all(|(_, v)| *v == Variable::One) {
            return Ok(FpVar::Constant(lc.0.iter().map(|(c, _)| *c).sum()));
        }
        let var = cs.new_lc(|| lc)?;
        Ok(FpVar::Var(AllocatedFp::new(self.value, var, cs.clone())))
    }

    /// The arkworks linear combination (duplicates merged).
    fn to_lc(&self) -> LinearCombination<Fr> {
        let mut lc = LinearCombination(self.terms.clone());
        lc.compactify();
        lc
    }

    /// The sum of `items` with coefficients.
    pub(crate) fn sum<'a>(items: impl IntoIterator<Item = (Fr, &'a Lc)>) -> Lc {
        let mut out = Lc::zero();
        for (c, x) in items {
            out.add_scaled(c, x);
        }
        out
    }

    /// `self += c * other`.
    pub(crate) fn add_scaled(&mut self, c: Fr, other: &Lc) {
        if c.is_zero() {
            return;
        }
        self.value = match (self.value, other.value) {
            (Some(a), Some(b)) => Some(a + c * b),
            _ => None,
        };
        if self.untracked || other.untracked {
            if !self.untracked {
                self.untracked = true;
                self.terms = Vec::new();
            }
            return;
        }
        if c.is_one() {
            self.terms.extend_from_slice(&other.terms);
        } else if (-c).is_one() {
            self.terms
                .extend(other.terms.iter().map(|(k, v)| (-*k, *v)));
        } else {
            self.terms
                .extend(other.terms.iter().map(|(k, v)| (*k * c, *v)));
        }
    }
}

impl Add<&Lc> for &Lc {
    type Output = Lc;
    fn add(self, rhs: &Lc) -> Lc {
        let mut out = self.clone();
        out.add_scaled(Fr::one(), rhs);
        out
    }
}

impl Sub<&Lc> for &Lc {
    type Output = Lc;
    fn sub(self, rhs: &Lc) -> Lc {
        let mut out = self.clone();
        out.add_scaled(-Fr::one(), rhs);
        out
    }
}

impl Add<Fr> for &Lc {
    type Output = Lc;
    fn add(self, rhs: Fr) -> Lc {
        self + &Lc::constant(rhs)
    }
}

impl Mul<Fr> for &Lc {
    type Output = Lc;
    fn mul(self, rhs: Fr) -> Lc {
        Lc::sum([(rhs, self)])
    }
}

impl Neg for &Lc {
    type Output = Lc;
    fn neg(self) -> Lc {
        self * (-Fr::one())
    }
}

/// Allocates a witness with the given value (`None`: missing, fine in setup mode).
pub(crate) fn witness(
    cs: &ConstraintSystemRef<Fr>,
    value: Option<Fr>,
) -> Result<Lc, SynthesisError> {
    let var = cs.new_witness_variable(|| value.ok_or(SynthesisError::AssignmentMissing))?;
    let tracked = tracks_terms(cs);
    Ok(Lc {
        terms: if tracked {
            vec![(Fr::one(), var)]
        } else {
            Vec::new()
        },
        value,
        untracked: !tracked,
    })
}

/// Enforces `a * b = c` (one constraint).
pub(crate) fn enforce(
    cs: &ConstraintSystemRef<Fr>,
    a: &Lc,
    b: &Lc,
    c: &Lc,
) -> Result<(), SynthesisError> {
    cs.enforce_r1cs_constraint(|| a.to_lc(), || b.to_lc(), || c.to_lc())
}

/// Allocates `a * b` (one constraint).
pub(crate) fn product(cs: &ConstraintSystemRef<Fr>, a: &Lc, b: &Lc) -> Result<Lc, SynthesisError> {
    let c = witness(cs, mul(a.value(), b.value()))?;
    enforce(cs, a, b, &c)?;
    Ok(c)
}

/// Allocates `num / den` with the constraint `out * den = num` (one constraint). The caller must
/// argue that `den` is never 0 on any input it accepts (else `out` would be free); a witness with
/// `den = 0` gets the value 0, which leaves the constraint unsatisfied unless `num = 0`.
pub(crate) fn quotient(
    cs: &ConstraintSystemRef<Fr>,
    num: &Lc,
    den: &Lc,
) -> Result<Lc, SynthesisError> {
    let out = witness(cs, div(num.value(), den.value()))?;
    enforce(cs, &out, den, num)?;
    Ok(out)
}

/// Allocates a boolean with `b * (1 - b) = 0` (one constraint).
pub(crate) fn boolean(
    cs: &ConstraintSystemRef<Fr>,
    value: Option<bool>,
) -> Result<Lc, SynthesisError> {
    // (Fr::from(bool) goes through a Montgomery multiplication.)
    let b = witness(cs, value.map(|b| if b { Fr::one() } else { Fr::zero() }))?;
    enforce(cs, &b, &(&Lc::one() - &b), &Lc::zero())?;
    Ok(b)
}

/// Product of optional values.
pub(crate) fn mul(a: Option<Fr>, b: Option<Fr>) -> Option<Fr> {
    Some(a? * b?)
}

/// Quotient of optional values; 0 when the denominator is 0 (an invalid witness, which the
/// constraint then rejects).
pub(crate) fn div(num: Option<Fr>, den: Option<Fr>) -> Option<Fr> {
    Some(num? * den?.inverse().unwrap_or(Fr::zero()))
}

/// Enforces `x <= c` for the integer `x = sum_i bits[i] 2^i`, where every `bits[i]` is already
/// constrained to `{0, scale}` (`scale` is a non-zero linear combination, 1 for plain booleans)
/// and `c < 2^bits.len()`.
///
/// One constraint per maximal run of zeros in the binary expansion of `c` (below bit
/// `bits.len()`): for a run Z, with `m_Z = #{j above Z : c_j = 1, x_j = 0}`, it enforces
/// `(scale * m_Z) * w_Z = scale * sum_{i in Z} x_i` for a fresh witness `w_Z`. Hence `m_Z = 0`
/// (x equals c on every position above Z, see below) forces `x_i = 0` on Z, and `m_Z != 0`
/// leaves `w_Z = sum / m_Z` free to satisfy it. Soundness: if `x > c`, let i be the highest
/// position where they differ: `x_i = 1`, `c_i = 0`, and every 1 of c above i is matched, so the
/// run of i has `m = 0` and forces `x_i = 0`, a contradiction. Completeness: if `x <= c` and a
/// run Z has `m_Z = 0` but some `x_i = 1` on Z, the highest difference j between x and c has
/// `x_j = 0`, `c_j = 1`; j above Z contradicts `m_Z = 0`, j below Z means x = c on Z, so
/// `x_i = c_i = 0`, a contradiction. Counts stay below 2^16, far from wrapping around mod r.
pub(crate) fn enforce_le_constant(
    cs: &ConstraintSystemRef<Fr>,
    bits: &[Lc],
    scale: &Lc,
    c: &BigUint,
) -> Result<(), SynthesisError> {
    let n = bits.len();
    assert!(c.bits() <= n as u64, "the constant fits in the bit width");
    // (mismatches above the run, ones in the run) per maximal run of zeros, top down.
    let mut runs: Vec<(Option<Lc>, Lc)> = Vec::new();
    let mut mismatches = Lc::zero();
    let mut any_one_above = false;
    let mut i = n;
    while i > 0 {
        if c.bit((i - 1) as u64) {
            mismatches.add_scaled(Fr::one(), scale);
            mismatches.add_scaled(-Fr::one(), &bits[i - 1]);
            any_one_above = true;
            i -= 1;
            continue;
        }
        let mut ones_in_run = Lc::zero();
        while i > 0 && !c.bit((i - 1) as u64) {
            ones_in_run.add_scaled(Fr::one(), &bits[i - 1]);
            i -= 1;
        }
        runs.push((any_one_above.then(|| mismatches.clone()), ones_in_run));
    }
    // The witnesses w = ones / mismatches, with one batched inversion.
    let mut inverses: Option<Vec<Fr>> = runs
        .iter()
        .map(|(m, _)| m.as_ref().map_or(Some(Fr::zero()), Lc::value))
        .collect();
    if let Some(inv) = inverses.as_mut() {
        super::curve::invert_all(inv);
    }
    for (k, (mismatches, ones_in_run)) in runs.iter().enumerate() {
        match mismatches {
            // Nothing above can differ: the run must be all zeros.
            None => enforce(cs, ones_in_run, &Lc::one(), &Lc::zero())?,
            Some(m) => {
                let w_value = (|| Some(ones_in_run.value()? * inverses.as_ref()?[k]))();
                let w = witness(cs, w_value)?;
                enforce(cs, m, &w, ones_in_run)?;
            }
        }
    }
    Ok(())
}

/// Enforces `x >= c` for `x = sum_i bits[i] 2^i` with bits in `{0, scale}` as in
/// [`enforce_le_constant`], through `(2^n - 1) - x <= (2^n - 1) - c` on the complemented bits:
/// one constraint per maximal run of ones of c.
pub(crate) fn enforce_ge_constant(
    cs: &ConstraintSystemRef<Fr>,
    bits: &[Lc],
    scale: &Lc,
    c: &BigUint,
) -> Result<(), SynthesisError> {
    let n = bits.len();
    let all_ones = (BigUint::one() << n) - BigUint::one();
    assert!(c <= &all_ones, "the constant fits in the bit width");
    let complement: Vec<Lc> = bits.iter().map(|b| scale - b).collect();
    enforce_le_constant(cs, &complement, scale, &(&all_ones ^ c))
}

/// The number of constraints [`enforce_le_constant`] spends on `c` over `n` bits.
pub(crate) fn zero_runs(c: &BigUint, n: usize) -> usize {
    (0..n)
        .filter(|&i| !c.bit(i as u64) && (i + 1 == n || c.bit(i as u64 + 1)))
        .count()
}

/// The number of constraints [`enforce_ge_constant`] spends on `c` over `n` bits.
pub(crate) fn one_runs(c: &BigUint, n: usize) -> usize {
    (0..n)
        .filter(|&i| c.bit(i as u64) && (i + 1 == n || !c.bit(i as u64 + 1)))
        .count()
}
