//! Reading what RevenueOracle recorded, without a key: for one batch, the epoch's opening
//! (`epochConfig`, `epochProgress`) and the batch's `BatchAccepted` event (`gridproof verify
//! --disclosure --rpc-url --oracle` matches a bundle's public inputs against it); and the latest
//! head of the service's audit log anchored there (`latestAuditHead`; `gridproof audit verify
//! --rpc-url --oracle` checks the service's log against it).

use alloy::primitives::{Address, B256, U256};
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::rpc::types::Filter;
use alloy::sol_types::SolEvent;
use ark_ff::PrimeField;
use gridproof_prover::disclosure::{AcceptedBatch, OnChainBatch, TxHash};
use gridproof_prover::Fr;

use super::bindings::RevenueOracle;
use super::ChainError;
use crate::audit::SignedTreeHead;

/// A uint256 that must be a BN254 scalar-field element (below r).
fn fr(call: &'static str, x: U256) -> Result<Fr, ChainError> {
    Fr::from_bigint(ark_ff::BigInt(*x.as_limbs())).ok_or_else(|| ChainError::UnexpectedReceipt {
        call,
        what: format!("{x} is not a field element"),
    })
}

fn u128_of(call: &'static str, x: U256) -> Result<u128, ChainError> {
    u128::try_from(x).map_err(|_| ChainError::UnexpectedReceipt {
        call,
        what: format!("{x} does not fit 128 bits"),
    })
}

/// A read-only provider of `rpc_url` and its chain id, once `oracle` is known to have code.
async fn reader(rpc_url: &str, oracle: Address) -> Result<(DynProvider, u64), ChainError> {
    let provider = ProviderBuilder::new()
        .disable_recommended_fillers()
        .connect(rpc_url)
        .await?
        .erased();
    let chain_id = provider.get_chain_id().await?;
    if provider.get_code_at(oracle).await?.is_empty() {
        return Err(ChainError::Config(format!(
            "no contract at the oracle address {oracle} on chain {chain_id}"
        )));
    }
    Ok((provider, chain_id))
}

/// The latest audit-log head anchored on RevenueOracle (`latestAuditHead`). The oracle keeps no
/// public key and does not check the Ed25519 signature (the EVM has no precompile for it): the
/// reader checks it against the service's key ([`OnChainAuditHead::signed_by`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnChainAuditHead {
    /// Where it was read: "RevenueOracle 0x... on chain N".
    pub source: String,
    /// Entries in the log the head covers (0: no head published yet).
    pub tree_size: u64,
    /// The log's Merkle Tree Hash over those entries.
    pub root_hash: [u8; 32],
    /// When the service signed the head (Unix ms).
    pub timestamp_ms: u64,
    /// The service's Ed25519 signature as stored (64 bytes; empty before the first head).
    pub signature: Vec<u8>,
}

impl OnChainAuditHead {
    /// Whether the oracle holds a head at all.
    pub fn is_empty(&self) -> bool {
        self.tree_size == 0
    }

    /// The head as if signed by `public_key` (whose signature [`SignedTreeHead::verify`] then
    /// checks); an error when the stored signature is not 64 bytes.
    pub fn signed_by(&self, public_key: [u8; 32]) -> Result<SignedTreeHead, String> {
        let signature: [u8; 64] = self.signature.as_slice().try_into().map_err(|_| {
            format!(
                "the stored signature has {} bytes, not 64",
                self.signature.len()
            )
        })?;
        Ok(SignedTreeHead {
            tree_size: self.tree_size,
            root_hash: self.root_hash,
            timestamp_ms: self.timestamp_ms,
            public_key,
            signature,
        })
    }
}

/// The latest audit head `oracle` at `rpc_url` holds (a read-only call; no key).
pub async fn read_audit_head(
    rpc_url: &str,
    oracle: Address,
) -> Result<OnChainAuditHead, ChainError> {
    let (provider, chain_id) = reader(rpc_url, oracle).await?;
    let head = RevenueOracle::new(oracle, provider)
        .latestAuditHead()
        .call()
        .await
        .map_err(|source| ChainError::Contract {
            call: "latestAuditHead",
            source: Box::new(source),
        })?;
    Ok(OnChainAuditHead {
        source: format!("RevenueOracle {oracle} on chain {chain_id}"),
        tree_size: head.treeSize,
        root_hash: head.rootHash.0,
        timestamp_ms: head.timestampMs,
        signature: head.signature.to_vec(),
    })
}

/// What `oracle` at `rpc_url` recorded for batch `batch_index` of `epoch` (read-only calls and
/// logs; no key). `accepted` is `None` while the batch is not accepted.
pub async fn read_oracle_batch(
    rpc_url: &str,
    oracle: Address,
    epoch: u64,
    batch_index: u64,
) -> Result<OnChainBatch, ChainError> {
    let (provider, chain_id) = reader(rpc_url, oracle).await?;
    let contract = RevenueOracle::new(oracle, provider.clone());
    let plain = |call: &'static str| {
        move |source| ChainError::Contract {
            call,
            source: Box::new(source),
        }
    };
    let config = contract
        .epochConfig(U256::from(epoch))
        .call()
        .await
        .map_err(plain("epochConfig"))?;
    let progress = contract
        .epochProgress(U256::from(epoch))
        .call()
        .await
        .map_err(plain("epochProgress"))?;
    let accepted_flag = contract
        .isBatchAccepted(U256::from(epoch), U256::from(batch_index))
        .call()
        .await
        .map_err(plain("isBatchAccepted"))?;
    let accepted = if accepted_flag {
        let filter = Filter::new()
            .address(oracle)
            .event_signature(RevenueOracle::BatchAccepted::SIGNATURE_HASH)
            .topic1(B256::from(U256::from(epoch)))
            .topic2(B256::from(U256::from(batch_index)))
            .from_block(0u64);
        let logs = provider.get_logs(&filter).await?;
        // A batch is accepted once; an epoch cancelled before acceptance leaves no event.
        let log = logs.last().ok_or_else(|| ChainError::UnexpectedReceipt {
            call: "BatchAccepted",
            what: format!("batch {batch_index} of epoch {epoch} is accepted but has no event"),
        })?;
        let event = RevenueOracle::BatchAccepted::decode_log(&log.inner).map_err(|e| {
            ChainError::UnexpectedReceipt {
                call: "BatchAccepted",
                what: format!("undecodable event: {e}"),
            }
        })?;
        Some(AcceptedBatch {
            total_energy_wh: u128_of("BatchAccepted", event.data.totalEnergyWh)?,
            total_revenue_nusd: u128_of("BatchAccepted", event.data.totalRevenueNusd)?,
            readings_root: fr("BatchAccepted", event.data.readingsRoot)?,
            tx_hash: log.transaction_hash.map(|h| TxHash(h.0)),
        })
    } else {
        None
    };
    Ok(OnChainBatch {
        source: format!("RevenueOracle {oracle} on chain {chain_id}"),
        registry_root: fr("epochConfig", config.registryRoot)?,
        schedule_hash: fr("epochConfig", config.scheduleHash)?,
        interval_seconds: config.intervalSeconds,
        batch_count: u64::try_from(progress.batchCount).unwrap_or(u64::MAX),
        accepted,
    })
}
