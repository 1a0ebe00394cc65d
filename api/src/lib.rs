//! gridproof library behind the binary.
