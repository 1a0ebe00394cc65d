//! gridproof library behind the binary.

pub mod chain;
pub mod cli;
pub mod store;
