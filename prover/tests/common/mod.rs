//! Tiny circuits and helpers shared by the prover's integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use ark_r1cs_std::{alloc::AllocVar, eq::EqGadget, fields::fp::FpVar};
use ark_relations::gr1cs::{ConstraintSynthesizer, ConstraintSystemRef, SynthesisError};
use ark_relations::ns;
use gridproof_prover::{setup_development_with, BatchShape, ConstraintGroupNames, Fr, Keys};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

/// A toy statement with the batch statement's 8 public inputs (in PUBLIC_INPUT_NAMES order):
/// the readings sum to `total_energy_wh` ("energy sum") and `price * total_energy_wh =
/// total_revenue_nusd` ("site"/"revenue").
#[derive(Clone)]
pub struct Toy {
    pub num_readings: usize,
    pub inputs: Option<[Fr; 8]>,
    pub readings: Option<Vec<Fr>>,
    pub price: Option<Fr>,
}

impl Toy {
    pub fn blank(num_readings: usize) -> Self {
        Self {
            num_readings,
            inputs: None,
            readings: None,
            price: None,
        }
    }

    /// A satisfying witness: readings 1, 2, 3 (energy 6), price 5 (revenue 30).
    pub fn good() -> Self {
        Self::with(0, [1, 2, 3], 5)
    }

    pub fn with(batch_index: u64, readings: [u64; 3], price: u64) -> Self {
        let energy: u64 = readings.iter().sum();
        Self {
            num_readings: 3,
            inputs: Some(inputs(batch_index, energy, price * energy)),
            readings: Some(readings.iter().map(|&r| Fr::from(r)).collect()),
            price: Some(Fr::from(price)),
        }
    }

    pub fn public_inputs(&self) -> Vec<Fr> {
        self.inputs.expect("a witnessed toy").to_vec()
    }
}

pub const EPOCH: u64 = 20300;
pub const REGISTRY_ROOT: u64 = 777;

pub fn inputs(batch_index: u64, energy: u64, revenue: u64) -> [Fr; 8] {
    [
        EPOCH,
        REGISTRY_ROOT,
        batch_index,
        energy,
        revenue,
        11,
        3600,
        99,
    ]
    .map(Fr::from)
}

fn missing() -> SynthesisError {
    SynthesisError::AssignmentMissing
}

/// The toy names no groups: `prove` finds the `ns!` path by re-synthesizing with tracing.
impl ConstraintGroupNames for Toy {}

impl ConstraintSynthesizer<Fr> for Toy {
    fn generate_constraints(self, cs: ConstraintSystemRef<Fr>) -> Result<(), SynthesisError> {
        let inputs = (0..8)
            .map(|i| {
                FpVar::new_input(ns!(cs, "public inputs"), || {
                    self.inputs.map(|v| v[i]).ok_or_else(missing)
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let readings = (0..self.num_readings)
            .map(|i| {
                FpVar::new_witness(ns!(cs, "readings"), || {
                    self.readings.as_ref().map(|r| r[i]).ok_or_else(missing)
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let price = FpVar::new_witness(ns!(cs, "price"), || self.price.ok_or_else(missing))?;
        {
            let _ns = ns!(cs, "energy sum");
            let sum: FpVar<Fr> = readings.iter().sum();
            sum.enforce_equal(&inputs[3])?;
        }
        {
            let _site = ns!(cs, "site");
            let _ns = ns!(cs, "revenue");
            (price * &inputs[3]).enforce_equal(&inputs[4])?;
        }
        Ok(())
    }
}

pub fn shape() -> BatchShape {
    BatchShape {
        sites: 4,
        readings_per_site: 24,
        price_slots: 4,
        registry_depth: 20,
    }
}

pub fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

pub fn toy_keys() -> Keys {
    setup_development_with(&shape(), Toy::blank(3), &mut rng(1)).expect("toy setup")
}

/// A fresh, not yet existing path under the system temp directory; removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let base = std::env::temp_dir().join(format!(
            "gridproof-prover-test-{}-{name}-{n}",
            std::process::id()
        ));
        std::fs::create_dir_all(&base).expect("temp dir");
        Self(base)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
