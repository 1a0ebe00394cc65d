//! INSECURE, TEST-ONLY powers of tau: a snarkjs phase-1 file (`.ptau`, prepared for phase 2)
//! computed directly from secrets that are KNOWN, because they are derived from a seed.
//!
//! Anyone who knows the seed knows tau, alpha and beta, and with them can forge Groth16 proofs
//! for every key ever derived from the file, whatever the phase-2 ceremony on top of it. It
//! exists only because no public `.ptau` can be downloaded in tests and benchmarks; real keys
//! start from a public perpetual powers of tau (see `CEREMONY.md`). `snarkjs powersoftau verify`
//! refuses these files ("This file has no contribution! It cannot be used in production"):
//! they carry no contribution record, since one cannot be made without replaying snarkjs'
//! hash-to-curve.
//!
//! The layout is exactly what `snarkjs powersoftau new` followed by `powersoftau
//! prepare phase2` writes (snarkjs 0.7.6, `@iden3/binfileutils`): magic `ptau`, version 1, 11
//! sections; section 1 the header (n8 = 32, q, power, ceremony power); 2 `tau^i G1` for
//! `i < 2^(power+1) - 1`; 3 `tau^i G2`, 4 `alpha tau^i G1`, 5 `beta tau^i G1` for `i < 2^power`;
//! 6 `beta G2`; 7 zero contributions; 12 to 15 the same four series in the Lagrange basis of
//! every domain of size `2^m`, `m = 0..=power` (one level more, `m = power + 1`, for tau G1,
//! whose snarkjs input has a point at infinity in place of the missing `tau^(2^(power+1)-1)`).
//! Points are affine, coordinates in Montgomery form, little-endian (x then y; `c0` then `c1`
//! in Fq2); the point at infinity is all zero bytes.
//!
//! Every point is a fixed-base multiplication of a scalar that is computed from the secrets
//! (the Lagrange values as `L_i(tau) = (tau^n - 1) / n * w^i / (tau - w^i)`), in parallel, and
//! streamed to disk chunk by chunk: memory stays at the window tables and one chunk (under
//! 100 MB) whatever the file's size (2.4 GB at power 21).

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use ark_bn254::{g1, g2, Fq, Fq2, G1Affine, G2Affine};
use ark_ec::short_weierstrass::{Affine, Projective, SWCurveConfig};
use ark_ec::{AdditiveGroup, AffineRepr, CurveGroup, PrimeGroup};
use ark_ff::{batch_inversion, BigInteger, FftField, Field, One, PrimeField, Zero};
use rayon::prelude::*;
use sha2::{Digest, Sha512};

use crate::fs::{StagedFile, PUBLIC_FILE_MODE};
use crate::Fr;

/// The smallest power this generator writes.
pub const MIN_POWER: u32 = 1;
/// The largest power this generator writes: its top Lagrange level, `power + 1`, must not
/// exceed the two-adicity of BN254's scalar field (28), where snarkjs switches to a coset
/// construction that this module does not reproduce.
pub const MAX_POWER: u32 = 27;

/// The warning every user of this module must show: the file's toxic waste is known.
pub const WARNING: &str = "INSECURE TEST-ONLY POWERS OF TAU: tau, alpha and beta of this file \
are derived from a known seed, so anyone with the seed can forge proofs for every key made from \
it, whatever phase-2 contributions follow. Use it for tests and benchmarks only; NEVER for real \
keys (take a public perpetual powers-of-tau file, see CEREMONY.md).";

/// Domain separation of the seed derivation; a new derivation needs a new tag.
const SEED_TAG: &[u8] = b"gridproof/insecure-ptau/v1/";

/// Points computed and written per chunk; small in tests, so that every test file crosses chunk
/// boundaries.
const CHUNK_POINTS: usize = if cfg!(test) { 1 << 9 } else { 1 << 15 };
/// Points per parallel task inside a chunk (one batch of affine additions per window).
const TASK_POINTS: usize = if cfg!(test) { 1 << 6 } else { 1 << 11 };
/// Bytes of one affine G1 point on disk.
const G1_BYTES: usize = 64;
/// Bytes of one affine G2 point on disk.
const G2_BYTES: usize = 128;

/// The secrets of a phase-1 file: tau (the evaluation point) and the alpha and beta of Groth16's
/// phase 1. They are the toxic waste; here they are known by construction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InsecureSecrets {
    /// The point at which every polynomial of the setup is evaluated.
    pub tau: Fr,
    /// Multiplier of the `alpha tau^i G1` series.
    pub alpha: Fr,
    /// Multiplier of the `beta tau^i G1` series and of `beta G2`.
    pub beta: Fr,
}

impl InsecureSecrets {
    /// Derives the secrets from `seed` (any bytes): each is SHA-512 of a domain tag, its name
    /// and the seed, reduced modulo r. The same seed always gives the same file.
    pub fn from_seed(seed: &[u8]) -> Self {
        let derive = |name: &[u8]| {
            let mut hasher = Sha512::new();
            hasher.update(SEED_TAG);
            hasher.update(name);
            hasher.update(b"/");
            hasher.update(seed);
            Fr::from_le_bytes_mod_order(&hasher.finalize())
        };
        Self {
            tau: derive(b"tau"),
            alpha: derive(b"alpha"),
            beta: derive(b"beta"),
        }
    }

    /// Whether the secrets can make a file of `power`: alpha and beta non-zero, tau neither zero
    /// nor a root of unity of any domain of size up to `2^(power+1)` (where the Lagrange formula
    /// divides by zero).
    fn usable_at(&self, power: u32) -> bool {
        let top = 1u64 << (power + 1);
        !self.alpha.is_zero()
            && !self.beta.is_zero()
            && !self.tau.is_zero()
            && !self.tau.pow([top]).is_one()
    }
}

/// Which sections to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PtauContents {
    /// Sections 1 to 7 only, as `snarkjs powersoftau new` (or a contribution) leaves a file:
    /// for comparing this module's Lagrange sections with `snarkjs powersoftau prepare phase2`.
    Phase1,
    /// Sections 1 to 7 and 12 to 15, as `snarkjs powersoftau prepare phase2` leaves a file:
    /// what `snarkjs zkey new` needs.
    PreparedForPhase2,
}

/// The start of one section, reported while the file is written (a power-21 file takes
/// minutes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SectionProgress {
    /// The snarkjs section number (2 to 7, 12 to 15).
    pub section: u32,
    /// What the section holds, e.g. `"tau G1 (Lagrange)"`.
    pub name: &'static str,
    /// Number of points in the section.
    pub points: u64,
}

/// What was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PtauSummary {
    /// The file.
    pub path: PathBuf,
    /// Its power: it serves circuits with up to `2^power - 1` constraints plus public inputs.
    pub power: u32,
    /// Its size in bytes.
    pub bytes: u64,
}

/// Why no file was written (nothing is left behind: the file is staged and renamed only when
/// complete).
#[derive(Debug, thiserror::Error)]
pub enum InsecurePtauError {
    /// The power is outside what the generator (and snarkjs' plain Lagrange sections) supports.
    #[error("power {power} is out of range: the insecure ptau generator writes powers {MIN_POWER} to {MAX_POWER}")]
    Power {
        /// The power requested.
        power: u32,
    },
    /// The seed gives a tau that is zero or a root of unity of a domain, or a zero alpha or
    /// beta (probability about 2^-225 for a random seed).
    #[error("the secrets derived from this seed cannot make a power-{power} file (tau is 0 or a root of unity of its domains, or alpha or beta is 0); choose another seed")]
    DegenerateSecrets {
        /// The power requested.
        power: u32,
    },
    /// The file could not be written.
    #[error("cannot write {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The reason.
        #[source]
        source: io::Error,
    },
}

/// The size in bytes of a file of `power` with `contents` (for a disk-space check before
/// writing: 2.4 GB at power 21 prepared for phase 2).
pub fn ptau_size(power: u32, contents: PtauContents) -> u64 {
    layout(power, contents)
        .iter()
        .map(|s| 12 + s.bytes())
        .sum::<u64>()
        + 12
}

/// Writes an INSECURE, TEST-ONLY `.ptau` file of `power` from `secrets` to `path`, atomically
/// (a temporary file beside it, renamed when complete; an existing `path` is replaced). Calls
/// `progress` at the start of each section. See the module documentation for the layout and
/// [`WARNING`] for what every caller must tell its user.
pub fn write_insecure_ptau(
    path: &Path,
    power: u32,
    secrets: &InsecureSecrets,
    contents: PtauContents,
    progress: &mut dyn FnMut(SectionProgress),
) -> Result<PtauSummary, InsecurePtauError> {
    if !(MIN_POWER..=MAX_POWER).contains(&power) {
        return Err(InsecurePtauError::Power { power });
    }
    if !secrets.usable_at(power) {
        return Err(InsecurePtauError::DegenerateSecrets { power });
    }
    let io_error = |source| InsecurePtauError::Io {
        path: path.to_path_buf(),
        source,
    };
    let sections = layout(power, contents);
    let staged = StagedFile::create_with(path, PUBLIC_FILE_MODE, |file: &mut File| {
        write_sections(file, power, secrets, &sections, progress)
    })
    .map_err(io_error)?;
    staged.commit().map_err(io_error)?;
    Ok(PtauSummary {
        path: path.to_path_buf(),
        power,
        bytes: ptau_size(power, contents),
    })
}

/// The scalars of one run of points: `factor * tau^i`, or `factor * L_i(tau)` over the domain
/// of size `2^level`.
#[derive(Debug, Clone, Copy)]
enum Series {
    /// `factor * tau^i` for `i` in `0..count`.
    Powers { count: u64 },
    /// `factor * L_i(tau)`, `i < 2^level`; with `drop_top_power`, minus the contribution of
    /// `tau^(2^level - 1)` (snarkjs' input for the top level of section 12 lacks that point).
    Lagrange { level: u32, drop_top_power: bool },
}

impl Series {
    fn count(&self) -> u64 {
        match *self {
            Series::Powers { count } => count,
            Series::Lagrange { level, .. } => 1 << level,
        }
    }
}

/// Which secret multiplies a series.
#[derive(Debug, Clone, Copy)]
enum Factor {
    One,
    Alpha,
    Beta,
}

/// The group of a section's points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Group {
    G1,
    G2,
}

/// One section of the file.
#[derive(Debug, Clone)]
enum Section {
    /// Section 1.
    Header,
    /// Points: the series, concatenated.
    Points {
        id: u32,
        name: &'static str,
        group: Group,
        factor: Factor,
        series: Vec<Series>,
    },
    /// Section 7 with no contribution.
    Contributions,
}

impl Section {
    fn id(&self) -> u32 {
        match self {
            Section::Header => 1,
            Section::Points { id, .. } => *id,
            Section::Contributions => 7,
        }
    }

    fn points(&self) -> u64 {
        match self {
            Section::Points { series, .. } => series.iter().map(Series::count).sum(),
            _ => 0,
        }
    }

    fn bytes(&self) -> u64 {
        match self {
            // n8, q, power, ceremony power.
            Section::Header => 4 + 32 + 4 + 4,
            Section::Points { group, .. } => self.points() * point_bytes(*group) as u64,
            // The number of contributions.
            Section::Contributions => 4,
        }
    }
}

fn point_bytes(group: Group) -> usize {
    match group {
        Group::G1 => G1_BYTES,
        Group::G2 => G2_BYTES,
    }
}

/// The sections of a file, in snarkjs' order.
fn layout(power: u32, contents: PtauContents) -> Vec<Section> {
    let n = 1u64 << power;
    let points = |id, name, group, factor, series| Section::Points {
        id,
        name,
        group,
        factor,
        series,
    };
    let powers = |count| vec![Series::Powers { count }];
    let lagrange = |top: u32| -> Vec<Series> {
        (0..=top)
            .map(|level| Series::Lagrange {
                level,
                drop_top_power: level == power + 1,
            })
            .collect()
    };
    let mut sections = vec![
        Section::Header,
        points(2, "tau G1", Group::G1, Factor::One, powers(2 * n - 1)),
        points(3, "tau G2", Group::G2, Factor::One, powers(n)),
        points(4, "alpha tau G1", Group::G1, Factor::Alpha, powers(n)),
        points(5, "beta tau G1", Group::G1, Factor::Beta, powers(n)),
        points(6, "beta G2", Group::G2, Factor::Beta, powers(1)),
        Section::Contributions,
    ];
    if contents == PtauContents::PreparedForPhase2 {
        sections.extend([
            points(
                12,
                "tau G1 (Lagrange)",
                Group::G1,
                Factor::One,
                lagrange(power + 1),
            ),
            points(
                13,
                "tau G2 (Lagrange)",
                Group::G2,
                Factor::One,
                lagrange(power),
            ),
            points(
                14,
                "alpha tau G1 (Lagrange)",
                Group::G1,
                Factor::Alpha,
                lagrange(power),
            ),
            points(
                15,
                "beta tau G1 (Lagrange)",
                Group::G1,
                Factor::Beta,
                lagrange(power),
            ),
        ]);
    }
    sections
}

fn write_sections(
    file: &mut File,
    power: u32,
    secrets: &InsecureSecrets,
    sections: &[Section],
    progress: &mut dyn FnMut(SectionProgress),
) -> io::Result<()> {
    let mut out = BufWriter::with_capacity(1 << 20, file);
    out.write_all(b"ptau")?;
    out.write_all(&1u32.to_le_bytes())?;
    out.write_all(&(sections.len() as u32).to_le_bytes())?;

    // One window table per group, sized for all of its points in the file.
    let total = |group: Group| -> usize {
        sections
            .iter()
            .filter(|s| matches!(s, Section::Points { group: g, .. } if *g == group))
            .map(|s| s.points() as usize)
            .sum()
    };
    let g1_table = FixedBase::<g1::Config>::new(total(Group::G1));
    let g2_table = FixedBase::<g2::Config>::new(total(Group::G2));
    let montgomery = Montgomery::new();

    for section in sections {
        out.write_all(&section.id().to_le_bytes())?;
        out.write_all(&section.bytes().to_le_bytes())?;
        match section {
            Section::Header => {
                out.write_all(&32u32.to_le_bytes())?;
                out.write_all(&Fq::MODULUS.to_bytes_le())?;
                out.write_all(&power.to_le_bytes())?;
                out.write_all(&power.to_le_bytes())?;
            }
            Section::Contributions => out.write_all(&0u32.to_le_bytes())?,
            Section::Points {
                id,
                name,
                group,
                factor,
                series,
            } => {
                progress(SectionProgress {
                    section: *id,
                    name,
                    points: section.points(),
                });
                let factor = match factor {
                    Factor::One => Fr::one(),
                    Factor::Alpha => secrets.alpha,
                    Factor::Beta => secrets.beta,
                };
                for run in series {
                    let scalars = ScalarSource::new(secrets.tau, factor, *run);
                    match group {
                        Group::G1 => write_run(&mut out, &g1_table, &scalars, G1_BYTES, |p, b| {
                            montgomery.encode_g1(p, b)
                        })?,
                        Group::G2 => write_run(&mut out, &g2_table, &scalars, G2_BYTES, |p, b| {
                            montgomery.encode_g2(p, b)
                        })?,
                    }
                }
            }
        }
    }
    out.flush()
}

/// Computes, multiplies and writes the points of one series, chunk by chunk.
fn write_run<P: SWCurveConfig<ScalarField = Fr>>(
    out: &mut impl Write,
    table: &FixedBase<P>,
    scalars: &ScalarSource,
    point_bytes: usize,
    encode: impl Fn(&Affine<P>, &mut [u8]) + Sync,
) -> io::Result<()> {
    let count = scalars.series.count() as usize;
    let mut bytes = vec![0u8; CHUNK_POINTS.min(count) * point_bytes];
    let mut start = 0usize;
    while start < count {
        let len = CHUNK_POINTS.min(count - start);
        let bytes = &mut bytes[..len * point_bytes];
        bytes
            .par_chunks_mut(TASK_POINTS * point_bytes)
            .enumerate()
            .for_each(|(task, out)| {
                let mut values = vec![Fr::zero(); out.len() / point_bytes];
                scalars.fill(start + task * TASK_POINTS, &mut values);
                let points = table.mul_all(&values);
                for (point, out) in points.iter().zip(out.chunks_exact_mut(point_bytes)) {
                    encode(point, out);
                }
            });
        out.write_all(bytes)?;
        start += len;
    }
    Ok(())
}

/// Fixed-base multiplication of many scalars by a curve's generator: signed windows of `w`
/// bits over a table of `d 2^(w j) G` for `d` in `1..=2^(w-1)`, the additions of one window
/// done for a whole batch of scalars at once in affine coordinates with one shared inversion
/// (about 6 field multiplications per addition instead of 11 for a mixed Jacobian addition,
/// and no final normalization).
struct FixedBase<P: SWCurveConfig> {
    /// Window width in bits.
    width: usize,
    /// `rows[j][d - 1] = d 2^(w j) G` as affine (x, y); never the point at infinity, since
    /// `d 2^(w j)` is never a multiple of the prime group order.
    rows: Vec<Vec<(P::BaseField, P::BaseField)>>,
}

impl<P: SWCurveConfig> FixedBase<P> {
    /// A table for about `count` multiplications: the width minimizes the work of the
    /// multiplications plus that of the table, up to 14 bits (tables of 10 MB in G1 and 20 MB
    /// in G2; wider ones are no faster, their rows no longer fit in the caches).
    fn new(count: usize) -> Self {
        let bits = P::ScalarField::MODULUS_BIT_SIZE as usize + 1;
        let cost = |w: usize| {
            let windows = bits.div_ceil(w) as u128;
            // A table point costs about two batched additions (projective, then normalized).
            windows * (count as u128 + 2 * (1u128 << (w - 1)))
        };
        Self::with_width(
            (2..=14)
                .min_by_key(|&w| cost(w))
                .expect("a non-empty range"),
        )
    }

    /// A table of windows of `width` bits (2 to 14).
    fn with_width(width: usize) -> Self {
        let bits = P::ScalarField::MODULUS_BIT_SIZE as usize + 1;
        let windows = bits.div_ceil(width);
        let mut bases = Vec::with_capacity(windows);
        let mut base = Projective::<P>::generator();
        for _ in 0..windows {
            bases.push(base);
            for _ in 0..width {
                base.double_in_place();
            }
        }
        let rows = bases
            .into_par_iter()
            .map(|base| {
                let mut multiples = Vec::with_capacity(1 << (width - 1));
                let mut multiple = base;
                for _ in 0..1usize << (width - 1) {
                    multiples.push(multiple);
                    multiple += base;
                }
                Projective::normalize_batch(&multiples)
                    .into_iter()
                    .map(|p| p.xy().expect("d 2^(w j) G is never the point at infinity"))
                    .collect()
            })
            .collect();
        Self { width, rows }
    }

    /// The signed digits of `scalar`, least significant first: `d_j` in `[-2^(w-1), 2^(w-1)]`
    /// with `scalar = sum_j d_j 2^(w j)`.
    fn digits(&self, scalar: &P::ScalarField, out: &mut Vec<i32>) {
        let limbs = scalar.into_bigint();
        let limbs = limbs.as_ref();
        let bit = |i: usize| limbs.get(i / 64).is_some_and(|l| (l >> (i % 64)) & 1 == 1);
        let (w, half) = (self.width, 1i64 << (self.width - 1));
        let mut carry = 0i64;
        for j in 0..self.rows.len() {
            let mut v = carry;
            for i in 0..w {
                if bit(j * w + i) {
                    v += 1 << i;
                }
            }
            if v >= half {
                out.push((v - (1 << w)) as i32);
                carry = 1;
            } else {
                out.push(v as i32);
                carry = 0;
            }
        }
        debug_assert_eq!(
            carry, 0,
            "one window more than the scalar's bits absorbs the carry"
        );
    }

    /// `s G` for every `s` of `scalars`.
    fn mul_all(&self, scalars: &[P::ScalarField]) -> Vec<Affine<P>> {
        let windows = self.rows.len();
        let mut digits = Vec::with_capacity(scalars.len() * windows);
        for s in scalars {
            self.digits(s, &mut digits);
        }
        // acc[k] = None is the point at infinity.
        let mut acc: Vec<Option<(P::BaseField, P::BaseField)>> = vec![None; scalars.len()];
        let mut pending: Vec<(usize, P::BaseField, P::BaseField)> = Vec::new();
        let mut denominators = Vec::new();
        for (j, row) in self.rows.iter().enumerate() {
            pending.clear();
            denominators.clear();
            for (k, slot) in acc.iter_mut().enumerate() {
                let d = digits[k * windows + j];
                if d == 0 {
                    continue;
                }
                let (qx, qy) = row[d.unsigned_abs() as usize - 1];
                let qy = if d < 0 { -qy } else { qy };
                match slot {
                    None => *slot = Some((qx, qy)),
                    // Doubling or cancellation: rare (probability ~2^-250 per addition for
                    // random scalars); done the slow way.
                    Some((ax, ay)) if *ax == qx => {
                        #[cfg(test)]
                        tests::SLOW_PATH.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let sum = Projective::from(Affine::<P>::new_unchecked(*ax, *ay))
                            + Affine::<P>::new_unchecked(qx, qy);
                        *slot = sum.into_affine().xy();
                    }
                    Some((ax, _)) => {
                        denominators.push(qx - *ax);
                        pending.push((k, qx, qy));
                    }
                }
            }
            batch_inversion(&mut denominators);
            for (&(k, qx, qy), inverse) in pending.iter().zip(&denominators) {
                let Some((ax, ay)) = acc[k] else {
                    unreachable!("pending additions have a finite accumulator")
                };
                let lambda = (qy - ay) * inverse;
                let x = lambda.square() - ax - qx;
                let y = lambda * (ax - x) - ay;
                acc[k] = Some((x, y));
            }
        }
        acc.into_iter()
            .map(|p| match p {
                Some((x, y)) => Affine::new_unchecked(x, y),
                None => Affine::identity(),
            })
            .collect()
    }
}

/// The scalars of one series, computable from any index (so that chunks fill in parallel).
struct ScalarSource {
    tau: Fr,
    factor: Fr,
    series: Series,
    /// Lagrange only: the domain's generator w.
    omega: Fr,
    /// Lagrange only: `factor * (tau^n - 1) / n`.
    numerator: Fr,
    /// Lagrange with `drop_top_power` only: `factor * tau^(n-1) / n`.
    top_term: Fr,
}

impl ScalarSource {
    fn new(tau: Fr, factor: Fr, series: Series) -> Self {
        let mut source = Self {
            tau,
            factor,
            series,
            omega: Fr::one(),
            numerator: Fr::zero(),
            top_term: Fr::zero(),
        };
        if let Series::Lagrange {
            level,
            drop_top_power,
        } = series
        {
            let n = 1u64 << level;
            let n_inv = Fr::from(n)
                .inverse()
                .expect("n = 2^level < r is invertible");
            source.omega =
                snarkjs_root_of_unity(level).expect("level <= MAX_POWER + 1 <= two-adicity");
            source.numerator = factor * (tau.pow([n]) - Fr::one()) * n_inv;
            if drop_top_power {
                source.top_term = factor * tau.pow([n - 1]) * n_inv;
            }
        }
        source
    }

    /// Writes the scalars of indices `start..start + out.len()` into `out`.
    fn fill(&self, start: usize, out: &mut [Fr]) {
        match self.series {
            Series::Powers { .. } => {
                let mut value = self.factor * self.tau.pow([start as u64]);
                for slot in out.iter_mut() {
                    *slot = value;
                    value *= self.tau;
                }
            }
            Series::Lagrange { drop_top_power, .. } => {
                // L_i(tau) = (tau^n - 1)/n * w^i / (tau - w^i); tau is no root of unity of the
                // domain (checked before writing), so every denominator is invertible.
                let first = self.omega.pow([start as u64]);
                let mut w = first;
                for slot in out.iter_mut() {
                    *slot = self.tau - w;
                    w *= self.omega;
                }
                batch_inversion(out);
                let mut w = first;
                for slot in out.iter_mut() {
                    *slot *= self.numerator * w;
                    if drop_top_power {
                        // snarkjs transforms (tau^0, ..., tau^(n-2), 0): its i-th output lacks
                        // tau^(n-1) * w^(-i(n-1)) / n = tau^(n-1) * w^i / n.
                        *slot -= self.top_term * w;
                    }
                    w *= self.omega;
                }
            }
        }
    }
}

/// The generator of the multiplicative subgroup of order `2^level` that snarkjs
/// (ffjavascript's `Fr.w[level]`) uses: `nqr^((r-1)/2^28)` squared `28 - level` times, where
/// `nqr` is the smallest quadratic non-residue (5 for BN254's r), which is arkworks' root too
/// (a test checks it).
fn snarkjs_root_of_unity(level: u32) -> Option<Fr> {
    if level > Fr::TWO_ADICITY {
        return None;
    }
    Fr::get_root_of_unity(1u64 << level)
}

/// Conversion of base-field elements to their Montgomery form (`x * 2^256 mod q`), the form
/// snarkjs stores in `.ptau` and `.zkey` files.
struct Montgomery {
    r: Fq,
}

impl Montgomery {
    fn new() -> Self {
        Self {
            r: Fq::from(2u64).pow([256]),
        }
    }

    fn encode_fq(&self, x: &Fq, out: &mut [u8]) {
        out.copy_from_slice(&(*x * self.r).into_bigint().to_bytes_le());
    }

    fn encode_g1(&self, p: &G1Affine, out: &mut [u8]) {
        match p.xy() {
            None => out.fill(0),
            Some((x, y)) => {
                self.encode_fq(&x, &mut out[..32]);
                self.encode_fq(&y, &mut out[32..64]);
            }
        }
    }

    fn encode_fq2(&self, x: &Fq2, out: &mut [u8]) {
        self.encode_fq(&x.c0, &mut out[..32]);
        self.encode_fq(&x.c1, &mut out[32..64]);
    }

    fn encode_g2(&self, p: &G2Affine, out: &mut [u8]) {
        match p.xy() {
            None => out.fill(0),
            Some((x, y)) => {
                self.encode_fq2(&x, &mut out[..64]);
                self.encode_fq2(&y, &mut out[64..128]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::process::Command;

    use ark_ec::CurveGroup;
    use ark_ff::BigInt;
    use ark_poly::{EvaluationDomain, Radix2EvaluationDomain};
    use ark_relations::gr1cs::Matrix;

    use crate::iden3::{write_r1cs, CircuitR1cs};

    /// How often [`FixedBase::mul_all`] took its slow path (doubling or cancellation).
    pub(super) static SLOW_PATH: std::sync::atomic::AtomicUsize =
        std::sync::atomic::AtomicUsize::new(0);

    /// A fresh directory under the system's temporary directory, removed on drop.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(name: &str) -> Self {
            let dir = std::env::temp_dir().join(format!(
                "gridproof-ptau-{name}-{}-{:x}",
                std::process::id(),
                rand::random::<u32>()
            ));
            std::fs::create_dir_all(&dir).unwrap();
            Self(dir)
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn write(path: &Path, power: u32, secrets: &InsecureSecrets, contents: PtauContents) {
        let summary = write_insecure_ptau(path, power, secrets, contents, &mut |_| {}).unwrap();
        assert_eq!(summary.bytes, std::fs::metadata(path).unwrap().len());
    }

    /// The sections of a binfile: id -> (offset of the contents, length).
    fn sections(bytes: &[u8]) -> BTreeMap<u32, (usize, usize)> {
        assert_eq!(&bytes[..4], b"ptau");
        assert_eq!(u32::from_le_bytes(bytes[4..8].try_into().unwrap()), 1);
        let count = u32::from_le_bytes(bytes[8..12].try_into().unwrap());
        let mut at = 12;
        let mut map = BTreeMap::new();
        for _ in 0..count {
            let id = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
            let len = u64::from_le_bytes(bytes[at + 4..at + 12].try_into().unwrap()) as usize;
            assert!(
                map.insert(id, (at + 12, len)).is_none(),
                "section {id} twice"
            );
            at += 12 + len;
        }
        assert_eq!(at, bytes.len(), "bytes after the last section");
        map
    }

    /// Decodes a Montgomery little-endian coordinate independently of the encoder: the integer
    /// m = x * 2^256 mod q, so x = m * 2^-256.
    fn fq(bytes: &[u8]) -> Fq {
        let mut limbs = [0u64; 4];
        for (i, limb) in limbs.iter_mut().enumerate() {
            *limb = u64::from_le_bytes(bytes[8 * i..8 * i + 8].try_into().unwrap());
        }
        let m = Fq::from_bigint(BigInt(limbs)).expect("a coordinate below q");
        m * Fq::from(2u64).pow([256]).inverse().unwrap()
    }

    fn g1(bytes: &[u8]) -> G1Affine {
        let p = G1Affine::new_unchecked(fq(&bytes[..32]), fq(&bytes[32..64]));
        assert!(p.is_on_curve() && p.is_in_correct_subgroup_assuming_on_curve());
        p
    }

    fn g2(bytes: &[u8]) -> G2Affine {
        let x = Fq2::new(fq(&bytes[..32]), fq(&bytes[32..64]));
        let y = Fq2::new(fq(&bytes[64..96]), fq(&bytes[96..128]));
        let p = G2Affine::new_unchecked(x, y);
        assert!(p.is_on_curve() && p.is_in_correct_subgroup_assuming_on_curve());
        p
    }

    /// snarkjs' definition of a Lagrange level, computed another way: the inverse FFT of the
    /// powers tau^0..tau^(n-1) (the last one replaced by 0 on section 12's top level).
    fn lagrange_level(tau: Fr, level: u32, drop_top_power: bool) -> Vec<Fr> {
        let n = 1usize << level;
        let mut powers: Vec<Fr> = (0..n as u64).map(|i| tau.pow([i])).collect();
        if drop_top_power {
            powers[n - 1] = Fr::zero();
        }
        Radix2EvaluationDomain::<Fr>::new(n).unwrap().ifft(&powers)
    }

    /// Checks every point of a prepared file against the secrets.
    fn check_points(bytes: &[u8], power: u32, s: &InsecureSecrets) {
        let map = sections(bytes);
        assert_eq!(
            map.keys().copied().collect::<Vec<_>>(),
            [1, 2, 3, 4, 5, 6, 7, 12, 13, 14, 15]
        );
        let (h, len) = map[&1];
        assert_eq!(len, 44);
        assert_eq!(&bytes[h..h + 4], &32u32.to_le_bytes());
        assert_eq!(&bytes[h + 4..h + 36], &Fq::MODULUS.to_bytes_le()[..]);
        assert_eq!(
            &bytes[h + 36..h + 44],
            &[power as u8, 0, 0, 0, power as u8, 0, 0, 0]
        );
        let (c, len) = map[&7];
        assert_eq!(&bytes[c..c + len], &[0, 0, 0, 0], "zero contributions");

        let n = 1u64 << power;
        let g1_gen = G1Affine::generator();
        let g2_gen = G2Affine::generator();
        let check_g1 = |id: u32, scalars: &[Fr]| {
            let (at, len) = map[&id];
            assert_eq!(len, scalars.len() * G1_BYTES, "section {id} length");
            for (i, s) in scalars.iter().enumerate() {
                let p = g1(&bytes[at + i * G1_BYTES..at + (i + 1) * G1_BYTES]);
                assert_eq!(p, (g1_gen * s).into_affine(), "section {id} point {i}");
            }
        };
        let check_g2 = |id: u32, scalars: &[Fr]| {
            let (at, len) = map[&id];
            assert_eq!(len, scalars.len() * G2_BYTES, "section {id} length");
            for (i, s) in scalars.iter().enumerate() {
                let p = g2(&bytes[at + i * G2_BYTES..at + (i + 1) * G2_BYTES]);
                assert_eq!(p, (g2_gen * s).into_affine(), "section {id} point {i}");
            }
        };
        let powers =
            |count: u64, f: Fr| -> Vec<Fr> { (0..count).map(|i| f * s.tau.pow([i])).collect() };
        let lagrange = |top: u32, f: Fr| -> Vec<Fr> {
            (0..=top)
                .flat_map(|level| lagrange_level(s.tau, level, level == power + 1))
                .map(|l| f * l)
                .collect()
        };
        check_g1(2, &powers(2 * n - 1, Fr::one()));
        check_g2(3, &powers(n, Fr::one()));
        check_g1(4, &powers(n, s.alpha));
        check_g1(5, &powers(n, s.beta));
        check_g2(6, &[s.beta]);
        check_g1(12, &lagrange(power + 1, Fr::one()));
        check_g2(13, &lagrange(power, Fr::one()));
        check_g1(14, &lagrange(power, s.alpha));
        check_g1(15, &lagrange(power, s.beta));
    }

    #[test]
    fn every_point_is_its_secret_times_the_generator() {
        let scratch = Scratch::new("points");
        let secrets = InsecureSecrets::from_seed(b"points");
        let path = scratch.0.join("p4.ptau");
        write(&path, 4, &secrets, PtauContents::PreparedForPhase2);
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(
            bytes.len() as u64,
            ptau_size(4, PtauContents::PreparedForPhase2)
        );
        check_points(&bytes, 4, &secrets);

        // The same file checked against other secrets fails: the check can fail.
        let other = InsecureSecrets::from_seed(b"other");
        let wrong = std::panic::catch_unwind(|| check_points(&bytes, 4, &other));
        assert!(wrong.is_err());

        // The phase-1 file is the prepared file's first seven sections.
        let p1 = scratch.0.join("p4-phase1.ptau");
        write(&p1, 4, &secrets, PtauContents::Phase1);
        let phase1 = std::fs::read(&p1).unwrap();
        let map = sections(&bytes);
        let end_of_7 = map[&7].0 + map[&7].1;
        assert_eq!(&phase1[12..], &bytes[12..end_of_7]);
        assert_eq!(phase1[8], 7);
        assert_eq!(bytes[8], 11);
    }

    #[test]
    fn chunks_join_seamlessly() {
        // Tests compute 2^9-point chunks in 2^6-scalar tasks: at power 10, section 2 spans four
        // chunks and the top level of section 12 eight. Check the points around the seams.
        let scratch = Scratch::new("chunks");
        let secrets = InsecureSecrets::from_seed(b"chunks");
        let power = 10;
        let path = scratch.0.join("p10.ptau");
        write(&path, power, &secrets, PtauContents::PreparedForPhase2);
        let bytes = std::fs::read(&path).unwrap();
        let map = sections(&bytes);
        let seams = [0usize, 1, 63, 64, 65, 511, 512, 513, 1023, 1024, 2046];
        let (at2, len2) = map[&2];
        assert_eq!(len2, 2047 * G1_BYTES);
        for i in seams {
            let p = g1(&bytes[at2 + i * G1_BYTES..at2 + (i + 1) * G1_BYTES]);
            let expected = G1Affine::generator() * secrets.tau.pow([i as u64]);
            assert_eq!(p, expected.into_affine(), "tau^{i} G1");
        }
        // The top level of section 12 (2^11 points) starts after 2^11 - 1 points.
        let (at12, len12) = map[&12];
        assert_eq!(len12, ((1 << (power + 2)) - 1) * G1_BYTES);
        let top = lagrange_level(secrets.tau, power + 1, true);
        let base = at12 + ((1 << (power + 1)) - 1) * G1_BYTES;
        for i in seams.into_iter().chain([2047]) {
            let p = g1(&bytes[base + i * G1_BYTES..base + (i + 1) * G1_BYTES]);
            let expected = G1Affine::generator() * top[i];
            assert_eq!(p, expected.into_affine(), "top level {i}");
        }
        // And in G2: the Lagrange level 10 of section 13, after 2^10 - 1 points.
        let (at13, _) = map[&13];
        let level = lagrange_level(secrets.tau, power, false);
        let base = at13 + ((1 << power) - 1) * G2_BYTES;
        for i in [0usize, 511, 512, 1023] {
            let p = g2(&bytes[base + i * G2_BYTES..base + (i + 1) * G2_BYTES]);
            let expected = G2Affine::generator() * level[i];
            assert_eq!(p, expected.into_affine(), "tau G2 level {power} point {i}");
        }
    }

    #[test]
    fn fixed_base_multiplication_is_scalar_multiplication() {
        use ark_ff::UniformRand;
        let mut rng = rand::thread_rng();
        let minus_one = -Fr::one();
        let mut scalars = vec![
            Fr::zero(),
            Fr::one(),
            minus_one,
            minus_one.double(),
            Fr::from(2u64).pow([253]),
            Fr::from(u64::MAX),
            Fr::from(2u64).inverse().unwrap(),
        ];
        // Powers of two near 2^254 > r make a partial sum meet the top window's point
        // (doubling or cancellation in the slow path).
        for k in 240..=256 {
            let p = Fr::from(2u64).pow([k]);
            scalars.extend([p, -p, p.double() + p]);
        }
        scalars.extend((0..40).map(|_| Fr::rand(&mut rng)));
        let slow = SLOW_PATH.load(std::sync::atomic::Ordering::Relaxed);
        for width in [2, 3, 5, 8, 13] {
            let g1_table = FixedBase::<g1::Config>::with_width(width);
            let g2_table = FixedBase::<g2::Config>::with_width(width);
            let (p1, p2) = (g1_table.mul_all(&scalars), g2_table.mul_all(&scalars));
            for (i, s) in scalars.iter().enumerate() {
                assert_eq!(
                    p1[i],
                    (G1Affine::generator() * s).into_affine(),
                    "w {width} #{i}"
                );
                assert_eq!(
                    p2[i],
                    (G2Affine::generator() * s).into_affine(),
                    "w {width} #{i}"
                );
            }
        }
        let slow = SLOW_PATH.load(std::sync::atomic::Ordering::Relaxed) - slow;
        assert!(slow > 0, "the doubling/cancellation path was not exercised");
        assert_eq!(FixedBase::<g1::Config>::new(1).width, 2);
        assert!(FixedBase::<g1::Config>::new(1 << 20).width >= 10);
    }

    #[test]
    fn the_roots_of_unity_are_ffjavascripts() {
        // ffjavascript: nqr = the smallest quadratic non-residue from 2; w[28] = nqr^t with
        // r - 1 = t 2^28; w[k] = w[k+1]^2.
        let mut nqr = Fr::from(2u64);
        while nqr.legendre().is_qr() {
            nqr += Fr::one();
        }
        let mut t = Fr::MODULUS;
        t.sub_with_borrow(&BigInt::one());
        t >>= Fr::TWO_ADICITY;
        let mut w = nqr.pow(t);
        for level in (0..=Fr::TWO_ADICITY).rev() {
            assert_eq!(snarkjs_root_of_unity(level), Some(w), "level {level}");
            w.square_in_place();
        }
        assert_eq!(snarkjs_root_of_unity(Fr::TWO_ADICITY + 1), None);
    }

    #[test]
    fn seeds_give_fixed_distinct_secrets() {
        let a = InsecureSecrets::from_seed(b"\x01\x02");
        assert_eq!(a, InsecureSecrets::from_seed(b"\x01\x02"));
        assert_ne!(a, InsecureSecrets::from_seed(b"\x01\x03"));
        assert_ne!(a.tau, a.alpha);
        assert_ne!(a.alpha, a.beta);
    }

    #[test]
    fn bad_requests_are_refused_and_leave_nothing() {
        let scratch = Scratch::new("refusals");
        let path = scratch.0.join("x.ptau");
        let good = InsecureSecrets::from_seed(b"good");
        for power in [0, MAX_POWER + 1] {
            let err = write_insecure_ptau(&path, power, &good, PtauContents::Phase1, &mut |_| {})
                .unwrap_err();
            assert!(matches!(err, InsecurePtauError::Power { .. }), "{err}");
        }
        // tau a root of unity of the largest domain (2^(power+1) = 8), or alpha = 0.
        let w8 = snarkjs_root_of_unity(3).unwrap();
        for bad in [
            InsecureSecrets {
                tau: Fr::one(),
                ..good
            },
            InsecureSecrets { tau: w8, ..good },
            InsecureSecrets {
                tau: Fr::zero(),
                ..good
            },
            InsecureSecrets {
                alpha: Fr::zero(),
                ..good
            },
        ] {
            let err =
                write_insecure_ptau(&path, 2, &bad, PtauContents::Phase1, &mut |_| {}).unwrap_err();
            assert!(err.to_string().contains("choose another seed"), "{err}");
        }
        // w8 is no root of unity of order 2^(power+1) = 4... but w4 = w8^2 is.
        let w4 = w8.square();
        assert!(write_insecure_ptau(
            &path,
            1,
            &InsecureSecrets { tau: w4, ..good },
            PtauContents::Phase1,
            &mut |_| {}
        )
        .is_err());
        assert_eq!(std::fs::read_dir(&scratch.0).unwrap().count(), 0);

        let missing = scratch.0.join("no-such-dir").join("x.ptau");
        let err =
            write_insecure_ptau(&missing, 2, &good, PtauContents::Phase1, &mut |_| {}).unwrap_err();
        assert!(err.to_string().contains("no-such-dir"), "{err}");

        // Progress names every point section once, in order.
        let mut seen = Vec::new();
        write_insecure_ptau(&path, 2, &good, PtauContents::PreparedForPhase2, &mut |p| {
            seen.push((p.section, p.points))
        })
        .unwrap();
        assert_eq!(
            seen,
            [
                (2, 7),
                (3, 4),
                (4, 4),
                (5, 4),
                (6, 1),
                (12, 15),
                (13, 7),
                (14, 7),
                (15, 7)
            ]
        );
        assert_eq!(
            std::fs::read_dir(&scratch.0).unwrap().count(),
            1,
            "no temporary file left"
        );
    }

    // ---- snarkjs interoperability (GRIDPROOF_NODE_INTEROP=1) ----

    /// The snarkjs command of tools/node, or None (with a loud SKIP line) when node interop is
    /// off.
    fn snarkjs(test: &str) -> Option<PathBuf> {
        if std::env::var("GRIDPROOF_NODE_INTEROP").as_deref() != Ok("1") {
            eprintln!(
                "SKIP {test}: set GRIDPROOF_NODE_INTEROP=1 (with `npm ci` in tools/node) to run \
                 this snarkjs interoperability test"
            );
            return None;
        }
        let bin =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../tools/node/node_modules/.bin/snarkjs");
        assert!(
            bin.exists(),
            "GRIDPROOF_NODE_INTEROP=1 but {} is missing: run `npm ci` in tools/node",
            bin.display()
        );
        Some(bin)
    }

    fn run(bin: &Path, args: &[&str]) -> (bool, String) {
        let out = Command::new(bin).args(args).output().expect("snarkjs runs");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        // snarkjs logs "[ERROR]" and still exits 0 for some refusals: count those as failures.
        (out.status.success() && !text.contains("[ERROR]"), text)
    }

    fn p(path: &Path) -> &str {
        path.to_str().unwrap()
    }

    #[test]
    fn snarkjs_prepare_phase2_writes_the_same_bytes() {
        let Some(snarkjs) = snarkjs("snarkjs_prepare_phase2_writes_the_same_bytes") else {
            return;
        };
        let scratch = Scratch::new("prepare");
        let power = 10;
        let secrets = InsecureSecrets::from_seed(b"prepare");
        let phase1 = scratch.0.join("phase1.ptau");
        let ours = scratch.0.join("ours.ptau");
        let theirs = scratch.0.join("theirs.ptau");
        write(&phase1, power, &secrets, PtauContents::Phase1);
        write(&ours, power, &secrets, PtauContents::PreparedForPhase2);
        let (ok, log) = run(
            &snarkjs,
            &["powersoftau", "prepare", "phase2", p(&phase1), p(&theirs)],
        );
        assert!(ok, "snarkjs powersoftau prepare phase2 failed:\n{log}");
        let ours = std::fs::read(&ours).unwrap();
        let theirs = std::fs::read(&theirs).unwrap();
        assert_eq!(ours.len(), theirs.len());
        if let Some(at) = ours.iter().zip(&theirs).position(|(a, b)| a != b) {
            panic!("our prepared file differs from snarkjs' at byte {at}");
        }

        // Header and generators as `snarkjs powersoftau new` writes them.
        let new = scratch.0.join("new.ptau");
        let (ok, log) = run(&snarkjs, &["powersoftau", "new", "bn128", "10", p(&new)]);
        assert!(ok, "snarkjs powersoftau new failed:\n{log}");
        let new = std::fs::read(&new).unwrap();
        let (ours_map, new_map) = (sections(&ours), sections(&new));
        for (id, len) in [(1, 44), (2, G1_BYTES), (3, G2_BYTES), (7, 4)] {
            let (a, b) = (ours_map[&id].0, new_map[&id].0);
            assert_eq!(&ours[a..a + len], &new[b..b + len], "section {id}");
        }
    }

    #[test]
    fn snarkjs_powersoftau_verify_refuses_it_for_want_of_contributions() {
        let Some(snarkjs) = snarkjs("snarkjs_powersoftau_verify_refuses_it") else {
            return;
        };
        let scratch = Scratch::new("verify");
        let path = scratch.0.join("p.ptau");
        write(
            &path,
            4,
            &InsecureSecrets::from_seed(b"v"),
            PtauContents::PreparedForPhase2,
        );
        let (ok, log) = run(&snarkjs, &["powersoftau", "verify", p(&path)]);
        assert!(!ok, "snarkjs accepted a ptau with no contribution:\n{log}");
        assert!(log.contains("no contribution"), "{log}");
    }

    /// A small R1CS with 2 public inputs: x^(2^k) by repeated squaring, and y = x^(2^k) + x + 5.
    fn small_r1cs(squarings: usize) -> CircuitR1cs {
        // Wires: 0 = one, 1 = y (public), 2 = x (public), 3.. = x^2, x^4, ...
        let one = Fr::one();
        let (mut a, mut b, mut c): (Matrix<Fr>, Matrix<Fr>, Matrix<Fr>) = Default::default();
        let mut last = 2;
        for k in 0..squarings {
            a.push(vec![(one, last)]);
            b.push(vec![(one, last)]);
            c.push(vec![(one, 3 + k)]);
            last = 3 + k;
        }
        a.push(vec![(Fr::from(5u64), 0), (one, 2), (one, last)]);
        b.push(vec![(one, 0)]);
        c.push(vec![(one, 1)]);
        CircuitR1cs::from_matrices(3, squarings, [a, b, c]).unwrap()
    }

    #[test]
    fn snarkjs_zkey_new_and_zkey_verify_accept_it() {
        let Some(snarkjs) = snarkjs("snarkjs_zkey_new_and_zkey_verify_accept_it") else {
            return;
        };
        let scratch = Scratch::new("zkey");
        let r1cs = scratch.0.join("c.r1cs");
        let circuit = small_r1cs(100);
        let mut file = std::io::BufWriter::new(File::create(&r1cs).unwrap());
        write_r1cs(&mut file, &circuit).unwrap();
        file.flush().unwrap();
        drop(file);
        let ptau = scratch.0.join("p.ptau");
        // 101 constraints + 2 public inputs: power 7 is needed; 10 has room.
        write(
            &ptau,
            10,
            &InsecureSecrets::from_seed(b"zkey"),
            PtauContents::PreparedForPhase2,
        );
        let zkey0 = scratch.0.join("c_0000.zkey");
        let zkey1 = scratch.0.join("c_0001.zkey");
        let (ok, log) = run(&snarkjs, &["zkey", "new", p(&r1cs), p(&ptau), p(&zkey0)]);
        assert!(ok, "snarkjs zkey new failed:\n{log}");
        let (ok, log) = run(
            &snarkjs,
            &[
                "zkey",
                "contribute",
                p(&zkey0),
                p(&zkey1),
                "--name=test",
                "-e=insecure test entropy",
            ],
        );
        assert!(ok, "snarkjs zkey contribute failed:\n{log}");
        let (ok, log) = run(&snarkjs, &["zkey", "verify", p(&r1cs), p(&ptau), p(&zkey1)]);
        assert!(ok, "snarkjs zkey verify failed:\n{log}");
        assert!(log.contains("ZKey Ok!"), "{log}");

        // The check can fail: a zkey verified against another ptau is refused.
        let other = scratch.0.join("other.ptau");
        write(
            &other,
            10,
            &InsecureSecrets::from_seed(b"other"),
            PtauContents::PreparedForPhase2,
        );
        let (ok, log) = run(
            &snarkjs,
            &["zkey", "verify", p(&r1cs), p(&other), p(&zkey1)],
        );
        assert!(
            !ok,
            "snarkjs zkey verify accepted a zkey of another ptau:\n{log}"
        );
    }
}
