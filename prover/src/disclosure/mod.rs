//! Selective disclosure of one site of one epoch to a regulator (DESIGN.md, "Selective
//! disclosure"; issue 8): the bundle, its encryption to the regulator's key, and the checks the
//! regulator runs alone against public data.
//!
//! - [`DisclosureBundle`]: the site's leaf preimage (location and salt included), its Merkle
//!   path to the epoch's registry root, its signed readings and its path to the batch's
//!   `readings_root`, the epoch's schedule and the keys' shape, the batch's public inputs, proof
//!   and transaction. Built from `prove`'s private output ([`DisclosureBundle::from_private_output`]).
//! - [`seal`] / [`open`]: the BUNDLE file, HPKE (RFC 9180) base mode to the regulator's X25519
//!   key ([`RegulatorPublicKey`]) with the [`BundleBinding`] (disclosure id, site, epoch, expiry)
//!   as associated data and in clear in the header.
//! - [`check`]: one [`Outcome`] per link ([`Check`]): meter signature, capacity bound, revenue,
//!   location commitment, both Merkle paths, the proof, the public record, expiry.
//!
//! A bundle in clear is CEII: it never leaves the regulator's process unsealed, and nothing here
//! logs or prints a location or salt (the command line prints them only to the regulator who
//! opened the bundle).

mod bundle;
mod check;
mod keys;
mod seal;
#[cfg(test)]
mod tests;

pub use bundle::{
    DisclosedBatch, DisclosedSite, DisclosureBundle, PathRecord, PublicInputsRecord, TxHash,
    BUNDLE_VERSION,
};
pub use check::{
    check, AcceptedBatch, Check, CheckResult, DisclosureReport, DisclosureVerifier, OnChainBatch,
    Outcome, PublicRecord,
};
pub use keys::{RegulatorPublicKey, RegulatorSecretKey};
pub use seal::{
    open, read_binding, seal, BundleBinding, BUNDLE_FILE_VERSION, BUNDLE_MAGIC, HPKE_INFO,
    HPKE_SUITE, MAX_BUNDLE_BYTES, MAX_DISCLOSURE_ID_BYTES,
};

use crate::private_output::PrivateOutputError;

/// Why a bundle could not be built, sealed or opened, or a regulator key read.
#[derive(Debug, thiserror::Error)]
pub enum DisclosureError {
    /// The private output has no such site.
    #[error("site {site_id} is not in the private output of epoch {epoch}")]
    SiteNotFound {
        /// The site asked for.
        site_id: u64,
        /// The private output's epoch.
        epoch: u64,
    },
    /// The batch given is not the one that counts the site.
    #[error("site {site_id} is in batch {site_batch}, not in the batch {given_batch} given")]
    WrongBatch {
        /// The site.
        site_id: u64,
        /// Its batch.
        site_batch: u64,
        /// The batch given.
        given_batch: u64,
    },
    /// The private output and the batch's public record disagree (different runs).
    #[error("{0}")]
    Mismatch(String),
    /// The private output does not hold together.
    #[error(transparent)]
    PrivateOutput(#[from] PrivateOutputError),
    /// The batch cannot be rebuilt as the statement's witness.
    #[error("statement: {0}")]
    Statement(#[from] gridproof_circuits::statement::StatementError),
    /// A Merkle path cannot be taken.
    #[error("Merkle tree: {0}")]
    Merkle(#[from] gridproof_circuits::merkle::MerkleError),
    /// A regulator key is malformed or unusable.
    #[error("{0}")]
    Key(String),
    /// The binding is malformed or does not match the bundle.
    #[error("binding: {0}")]
    Binding(String),
    /// HPKE refused to seal (cannot happen with a key accepted by [`RegulatorPublicKey`]).
    #[error("cannot seal the bundle: {0}")]
    Seal(String),
    /// The file does not start with [`BUNDLE_MAGIC`].
    #[error("not a gridproof disclosure bundle (its first bytes are not GPBUNDLE)")]
    NotABundle,
    /// A BUNDLE file version this build does not read.
    #[error("BUNDLE file version {0} is not supported (this build reads version 1)")]
    UnsupportedVersion(u16),
    /// An HPKE suite other than X25519-HKDF-SHA256 / HKDF-SHA256 / ChaCha20-Poly1305.
    #[error("HPKE suite {0:04x?} is not supported (this build reads [0020, 0001, 0003])")]
    UnsupportedSuite([u16; 3]),
    /// The file ends before the named field.
    #[error("the bundle is truncated: it ends in {0}")]
    Truncated(&'static str),
    /// Decryption failed: the bundle was sealed to another key, or a byte of it was changed.
    #[error(
        "the bundle cannot be opened with this regulator key: it was sealed to another key, or \
         it was altered (HPKE authentication failed)"
    )]
    Open,
    /// The decrypted content is not a bundle of this version.
    #[error("{0}")]
    Format(String),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The reason.
        #[source]
        source: std::io::Error,
    },
}
