//! eddsa (in progress).
