//! statement (in progress).
