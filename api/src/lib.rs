//! gridproof library behind the binary.

pub mod cli;
