//! gridproof prover: Groth16 (BN254) keys on disk, development setup, proving with a
//! satisfiability check that names the failing constraint group, verification that returns one
//! `Result`, the proofs file v1 of DESIGN.md, and the benchmark behind `gridproof bench`.
//!
//! Everything here is CPU-bound and synchronous; callers on an async runtime run it in
//! `spawn_blocking` or a worker thread.

pub mod batch;
pub mod bench;
pub mod ceremony;
pub mod disclosure;
pub mod epoch;
pub mod fs;
pub mod groth16;
mod hashing;
pub mod iden3;
pub mod insecure_ptau;
pub mod keys;
pub mod parallel;
pub mod peer;
pub mod private_output;
pub mod proofs_file;
pub mod prove;
pub mod r1cs;
mod shape;
pub mod solidity;
pub mod verify;

pub use ark_bn254::Bn254;
pub use ark_groth16::{PreparedVerifyingKey, Proof, ProvingKey, VerifyingKey};
pub use gridproof_circuits::Fr;

pub use bench::{
    bench, bench_batch, sample_batch_witness, BenchError, BenchOptions, BenchReport, FloorReport,
};
pub use ceremony::{import_zkey, ImportError, ImportPhase};
pub use groth16::{MsmBackend, PreparedProvingKey};
pub use keys::{
    check_verifying_key, load_verifying_key, read_manifest, read_shape, setup_development,
    setup_development_with, ContributionKind, ContributionRecord, Keys, KeysError, Manifest,
    Provenance, QapReduction, VerifyingKeyDefect,
};
pub use proofs_file::{verify_proofs_file, BatchProof, ProofJson, ProofsFile, ProofsFileError};
pub use prove::{prove, ConstraintGroupNames, ProveError, ProvePhase};
pub use shape::{BatchShape, ShapeRecord};
pub use verify::{prepare, verify, BatchVerdict, VerifyError, VerifyReport};
