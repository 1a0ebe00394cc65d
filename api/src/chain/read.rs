//! Reading what RevenueOracle recorded for one batch, without a key: the epoch's opening
//! (`epochConfig`, `epochProgress`) and the batch's `BatchAccepted` event. `gridproof verify
//! --disclosure --rpc-url --oracle` matches a bundle's public inputs against it.

use alloy::primitives::{Address, B256, U256};
use alloy::providers::{Provider, ProviderBuilder};
use alloy::rpc::types::Filter;
use alloy::sol_types::SolEvent;
use ark_ff::PrimeField;
use gridproof_prover::disclosure::{AcceptedBatch, OnChainBatch, TxHash};
use gridproof_prover::Fr;

use super::bindings::RevenueOracle;
use super::ChainError;

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

/// What `oracle` at `rpc_url` recorded for batch `batch_index` of `epoch` (read-only calls and
/// logs; no key). `accepted` is `None` while the batch is not accepted.
pub async fn read_oracle_batch(
    rpc_url: &str,
    oracle: Address,
    epoch: u64,
    batch_index: u64,
) -> Result<OnChainBatch, ChainError> {
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
