//! poseidon (in progress).
