//! Pure logic of gridproof: encodings, native twins and R1CS gadgets of every primitive, and the
//! batch statement that a Groth16 proof attests to.
//!
//! Nothing here does I/O. Each primitive has a native side (`mod.rs`, the specification) and a
//! gadget side (`constraints.rs`) that is tested against it, including failing witnesses.

pub mod eddsa;
pub mod encoding;
pub mod merkle;
pub mod meter;
pub mod poseidon;
pub mod registry;
pub mod schedule;
pub mod statement;

/// The BN254 scalar field: the field of every public input and the base field of Baby Jubjub.
pub use ark_bn254::Fr;
