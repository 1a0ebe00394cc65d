//! meter (in progress).
