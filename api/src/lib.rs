//! gridproof library behind the binary.

pub mod audit;
pub mod chain;
pub mod cli;
pub mod http;
pub mod publisher;
pub mod store;
pub mod worker;
