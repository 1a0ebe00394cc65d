//! Helpers shared by the integration tests (each test binary compiles what it uses).
#![allow(dead_code, unused_macros)]

#[macro_use]
pub mod db;
pub mod chain;
pub mod cli;
pub mod http;
pub mod proving;
