//! On-chain publishing with alloy (DESIGN.md, "On-chain"): bindings of the contracts in
//! `verifier-contract/`, deployment, opening an epoch, submitting batches with their proofs,
//! receipts and events, yield, anchoring the audit log's signed heads; and the npm Foundry toolchain (anvil, forge) the demo and the
//! end-to-end test run on.
//!
//! Reverts are decoded into the contracts' custom errors ([`ChainError::OracleRejected`],
//! [`ChainError::VaultRejected`]), so a caller can tell "already accepted" from "invalid proof".

use std::path::PathBuf;

use alloy::primitives::B256;

#[allow(missing_docs, clippy::all)]
pub mod bindings;
pub mod publish;
pub mod read;
pub mod toolchain;

pub use publish::{
    audit_head_call, batch_words, Chain, Deployment, EpochOpening, EpochTotals, Submission,
    TxOutcome, VaultParams, YieldRelease,
};
pub use read::{read_audit_head, OnChainAuditHead};
pub use toolchain::{Anvil, TempDir, ANVIL_DEV_PRIVATE_KEY};

/// Why an on-chain step failed.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// RevenueOracle reverted with one of its custom errors (decoded).
    #[error("RevenueOracle.{call} rejected: {reason:?}")]
    OracleRejected {
        /// The function called.
        call: &'static str,
        /// The decoded revert reason.
        reason: Box<bindings::RevenueOracle::RevenueOracleErrors>,
    },
    /// SGridVault reverted with one of its custom errors (decoded).
    #[error("SGridVault.{call} rejected: {reason:?}")]
    VaultRejected {
        /// The function called.
        call: &'static str,
        /// The decoded revert reason.
        reason: Box<bindings::SGridVault::SGridVaultErrors>,
    },
    /// A call or transaction failed for a reason that is not a known custom error (a revert
    /// without data, a node error, a transport error).
    #[error("{call}: {source}")]
    Contract {
        /// The function called or the contract deployed.
        call: &'static str,
        /// alloy's error (boxed: it is large).
        #[source]
        source: Box<alloy::contract::Error>,
    },
    /// A JSON-RPC request failed.
    #[error("JSON-RPC: {0}")]
    Rpc(#[source] Box<alloy::transports::TransportError>),
    /// A transaction was sent but not mined in time.
    #[error("{call}: transaction {tx_hash} not mined after 120 s")]
    ReceiptTimeout {
        /// The function called.
        call: &'static str,
        /// The transaction.
        tx_hash: B256,
    },
    /// A transaction was mined but reverted (status 0).
    #[error("{call}: transaction {tx_hash} reverted")]
    Reverted {
        /// The function called.
        call: &'static str,
        /// The transaction.
        tx_hash: B256,
    },
    /// A receipt lacks what the call must produce (a contract address, an event).
    #[error("{call}: {what}")]
    UnexpectedReceipt {
        /// The function called.
        call: &'static str,
        /// What is missing.
        what: String,
    },
    /// The RPC URL or private key is malformed.
    #[error("{0}")]
    Config(String),
    /// A proofs file entry cannot be turned into calldata.
    #[error("batch {batch_index}: {what}")]
    Calldata {
        /// The batch.
        batch_index: u64,
        /// Why.
        what: String,
    },
    /// anvil, forge or npm is missing or failed.
    #[error("{what}")]
    Toolchain {
        /// What happened, with the fix.
        what: String,
    },
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The reason.
        #[source]
        source: std::io::Error,
    },
}

impl From<alloy::transports::TransportError> for ChainError {
    fn from(e: alloy::transports::TransportError) -> Self {
        Self::Rpc(Box::new(e))
    }
}
