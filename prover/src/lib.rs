//! gridproof prover.
