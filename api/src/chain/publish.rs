//! Driving the contracts: deployment, epochs, batch submissions, yield. Every transaction waits
//! for its receipt; a revert is decoded into the contract's custom error.

use alloy::contract::{CallBuilder, CallDecoder};
use alloy::network::TransactionBuilder;
use alloy::primitives::{Address, Bytes, B256, U256};
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::rpc::types::{TransactionReceipt, TransactionRequest};
use alloy::signers::local::PrivateKeySigner;
use ark_ff::{BigInteger, PrimeField};
use gridproof_prover::BatchProof;

use super::bindings::{MockGRID, RevenueOracle, SGridVault};
use super::ChainError;
use crate::audit::SignedTreeHead;

/// Public inputs in circuit order (DESIGN.md): their positions in `publicInputs`.
const IN_EPOCH: usize = 0;
const IN_REGISTRY_ROOT: usize = 1;
const IN_INTERVAL_SECONDS: usize = 6;
const IN_SCHEDULE_HASH: usize = 7;

/// What a mined transaction cost and where it is.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TxOutcome {
    /// The transaction hash.
    pub tx_hash: B256,
    /// Gas used by the transaction (intrinsic + calldata + execution).
    pub gas_used: u64,
    /// The block it was mined in.
    pub block_number: Option<u64>,
}

impl TxOutcome {
    fn of(receipt: &TransactionReceipt) -> Self {
        Self {
            tx_hash: receipt.transaction_hash,
            gas_used: receipt.gas_used,
            block_number: receipt.block_number,
        }
    }
}

/// Addresses of a deployed protocol.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Deployment {
    /// The Groth16 verifier.
    pub verifier: Address,
    /// RevenueOracle.
    pub oracle: Address,
    /// The mock GRID token.
    pub grid: Address,
    /// SGridVault (sGRID).
    pub vault: Address,
    /// Each deployment transaction, in the order above.
    pub transactions: Vec<TxOutcome>,
}

/// Parameters of the vault at deployment.
#[derive(Debug, Clone, Copy)]
pub struct VaultParams {
    /// The investors' share of verified revenue, basis points (<= 10,000).
    pub investor_share_bps: u16,
    /// Seconds over which a release streams into the share price (> 0).
    pub stream_period_seconds: u64,
    /// Seconds a verifier change waits in the oracle's timelock (>= 1 day).
    pub verifier_update_delay_seconds: u64,
}

impl Default for VaultParams {
    fn default() -> Self {
        Self {
            investor_share_bps: 8_000,
            stream_period_seconds: 7 * 86_400,
            verifier_update_delay_seconds: 2 * 86_400,
        }
    }
}

/// What the registrar publishes when it opens an epoch (all below r).
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct EpochOpening {
    /// The epoch number (days since 1970-01-01 by convention).
    pub epoch: U256,
    /// The registry root of the epoch.
    pub registry_root: U256,
    /// The price schedule's hash.
    pub schedule_hash: U256,
    /// Reading interval, seconds.
    pub interval_seconds: u32,
    /// Number of batches; the epoch is final when all are accepted.
    pub batch_count: u32,
}

impl EpochOpening {
    /// The opening that fits a batch's public inputs (as [`batch_words`] returns them).
    pub fn from_inputs(inputs: &[U256; 8], batch_count: u32) -> Result<Self, ChainError> {
        let interval = u32::try_from(inputs[IN_INTERVAL_SECONDS])
            .map_err(|_| ChainError::Config("interval_seconds does not fit 32 bits".to_string()))?;
        Ok(Self {
            epoch: inputs[IN_EPOCH],
            registry_root: inputs[IN_REGISTRY_ROOT],
            schedule_hash: inputs[IN_SCHEDULE_HASH],
            interval_seconds: interval,
            batch_count,
        })
    }
}

/// One accepted batch submission.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Submission {
    /// The transaction.
    pub tx: TxOutcome,
    /// The calldata of `submitBatch(publicInputs, proof)` (selector and 16 words).
    pub calldata: Bytes,
    /// Energy of the batch, Wh (from the `BatchAccepted` event).
    pub total_energy_wh: U256,
    /// Revenue of the batch, nano-USD (from the event).
    pub total_revenue_nusd: U256,
    /// Set when this batch was the epoch's last: the epoch's final totals (energy Wh, revenue
    /// nano-USD) from `EpochFinalized`.
    pub finalized: Option<(U256, U256)>,
}

/// An epoch's state as the oracle reports it.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct EpochTotals {
    /// All batches are in.
    pub is_final: bool,
    /// Total energy so far, Wh.
    pub total_energy_wh: U256,
    /// Total revenue so far, nano-USD.
    pub total_revenue_nusd: U256,
    /// Batches the epoch was opened with.
    pub batch_count: U256,
    /// Batches accepted.
    pub batches_accepted: U256,
}

/// A released yield.
#[derive(Debug, Clone, serde::Serialize)]
pub struct YieldRelease {
    /// The `fundYield` transaction.
    pub funded: TxOutcome,
    /// The `releaseYield` transaction.
    pub released: TxOutcome,
    /// GRID wei released (streamed into the share price until `stream_end`).
    pub amount_grid_wei: U256,
    /// Unix time at which the release is fully in the share price.
    pub stream_end: u64,
}

/// The calldata words of a proofs file batch: its 8 public inputs and the proof as EIP-197 words
/// (`gridproof_prover::solidity::proof_words`).
pub fn batch_words(batch: &BatchProof) -> Result<([U256; 8], [U256; 8]), ChainError> {
    let inputs: [U256; 8] = batch
        .public_inputs
        .iter()
        .map(|x| U256::from_be_slice(&x.into_bigint().to_bytes_be()))
        .collect::<Vec<_>>()
        .try_into()
        .map_err(|v: Vec<U256>| ChainError::Calldata {
            batch_index: batch.batch_index,
            what: format!("{} public inputs; the contracts take 8", v.len()),
        })?;
    let proof = gridproof_prover::solidity::proof_words(&batch.proof).map(U256::from_be_bytes);
    Ok((inputs, proof))
}

/// The oracle call that anchors a signed audit head (what [`Chain::publish_audit_head`] sends
/// and the publisher records as a row's calldata).
pub fn audit_head_call(head: &SignedTreeHead) -> RevenueOracle::publishAuditHeadCall {
    RevenueOracle::publishAuditHeadCall {
        treeSize: head.tree_size,
        rootHash: B256::from(head.root_hash),
        timestampMs: head.timestamp_ms,
        signature: Bytes::copy_from_slice(&head.signature),
    }
}

/// A signer connected to a JSON-RPC endpoint.
#[derive(Debug, Clone)]
pub struct Chain {
    provider: DynProvider,
    sender: Address,
    chain_id: u64,
}

fn oracle_error(call: &'static str) -> impl Fn(alloy::contract::Error) -> ChainError {
    move |source| match source.as_decoded_interface_error::<RevenueOracle::RevenueOracleErrors>() {
        Some(reason) => ChainError::OracleRejected {
            call,
            reason: Box::new(reason),
        },
        None => ChainError::Contract {
            call,
            source: Box::new(source),
        },
    }
}

fn vault_error(call: &'static str) -> impl Fn(alloy::contract::Error) -> ChainError {
    move |source| match source.as_decoded_interface_error::<SGridVault::SGridVaultErrors>() {
        Some(reason) => ChainError::VaultRejected {
            call,
            reason: Box::new(reason),
        },
        None => ChainError::Contract {
            call,
            source: Box::new(source),
        },
    }
}

fn plain_error(call: &'static str) -> impl Fn(alloy::contract::Error) -> ChainError {
    move |source| ChainError::Contract {
        call,
        source: Box::new(source),
    }
}

/// Sends a call, waits for its receipt and checks its status.
async fn transact<P: Provider, D: CallDecoder>(
    call: &'static str,
    builder: CallBuilder<P, D>,
    on_error: impl Fn(alloy::contract::Error) -> ChainError,
) -> Result<TransactionReceipt, ChainError> {
    let pending = builder.send().await.map_err(on_error)?;
    let receipt = wait_receipt(call, pending.provider(), *pending.tx_hash()).await?;
    if !receipt.status() {
        return Err(ChainError::Reverted {
            call,
            tx_hash: receipt.transaction_hash,
        });
    }
    Ok(receipt)
}

/// How long a transaction may take to be mined before [`ChainError::ReceiptTimeout`].
const RECEIPT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

/// Polls `eth_getTransactionReceipt` until the transaction is mined (every 50 ms for the first
/// second, then every 500 ms; at most [`RECEIPT_TIMEOUT`]).
async fn wait_receipt<P: Provider>(
    call: &'static str,
    provider: &P,
    tx_hash: B256,
) -> Result<TransactionReceipt, ChainError> {
    let started = std::time::Instant::now();
    loop {
        if let Some(receipt) = provider.get_transaction_receipt(tx_hash).await? {
            return Ok(receipt);
        }
        let waited = started.elapsed();
        if waited > RECEIPT_TIMEOUT {
            return Err(ChainError::ReceiptTimeout { call, tx_hash });
        }
        let pause = if waited.as_secs() < 1 { 50 } else { 500 };
        tokio::time::sleep(std::time::Duration::from_millis(pause)).await;
    }
}

fn deployed_at(call: &'static str, receipt: &TransactionReceipt) -> Result<Address, ChainError> {
    receipt
        .contract_address
        .ok_or_else(|| ChainError::UnexpectedReceipt {
            call,
            what: "no contract address in the receipt".to_string(),
        })
}

impl Chain {
    /// Connects to `rpc_url` (http://...) and signs with `private_key` (32 bytes, hex).
    pub async fn connect(rpc_url: &str, private_key: &str) -> Result<Self, ChainError> {
        let signer: PrivateKeySigner = private_key.trim().parse().map_err(|e| {
            ChainError::Config(format!("--private-key is not a secp256k1 key: {e}"))
        })?;
        let sender = signer.address();
        // The nonce is read from the node for every transaction: alloy's default cached nonce
        // manager consumes a nonce even when gas estimation fails (a rejected submission), and
        // the next transaction would then wait forever behind the gap.
        let provider = ProviderBuilder::new()
            .disable_recommended_fillers()
            .with_gas_estimation()
            .with_simple_nonce_management()
            .fetch_chain_id()
            .wallet(signer)
            .connect(rpc_url)
            .await?
            .erased();
        let chain_id = provider.get_chain_id().await?;
        Ok(Self {
            provider,
            sender,
            chain_id,
        })
    }

    /// The signer's address.
    pub fn sender(&self) -> Address {
        self.sender
    }

    /// The chain id the endpoint reports.
    pub fn chain_id(&self) -> u64 {
        self.chain_id
    }

    /// The provider (to read state or send other calls).
    pub fn provider(&self) -> &DynProvider {
        &self.provider
    }

    /// Deploys contract creation code (e.g. a verifier compiled at run time).
    pub async fn deploy_code(
        &self,
        call: &'static str,
        code: Bytes,
    ) -> Result<(Address, TxOutcome), ChainError> {
        let tx = TransactionRequest::default()
            .with_from(self.sender)
            .with_deploy_code(code);
        let pending =
            self.provider
                .send_transaction(tx)
                .await
                .map_err(|e| ChainError::Contract {
                    call,
                    source: Box::new(alloy::contract::Error::TransportError(e)),
                })?;
        let receipt = wait_receipt(call, &self.provider, *pending.tx_hash()).await?;
        if !receipt.status() {
            return Err(ChainError::Reverted {
                call,
                tx_hash: receipt.transaction_hash,
            });
        }
        Ok((deployed_at(call, &receipt)?, TxOutcome::of(&receipt)))
    }

    /// Deploys the verifier (its creation code), RevenueOracle (the sender is admin and
    /// registrar), the mock GRID and SGridVault.
    pub async fn deploy(
        &self,
        verifier_code: Bytes,
        params: &VaultParams,
    ) -> Result<Deployment, ChainError> {
        let (verifier, verifier_tx) = self
            .deploy_code("deploy Groth16Verifier", verifier_code)
            .await?;
        let p = &self.provider;
        let receipt = transact(
            "deploy RevenueOracle",
            RevenueOracle::deploy_builder(
                p,
                self.sender,
                self.sender,
                verifier,
                params.verifier_update_delay_seconds,
            ),
            oracle_error("constructor"),
        )
        .await?;
        let oracle = deployed_at("deploy RevenueOracle", &receipt)?;
        let oracle_tx = TxOutcome::of(&receipt);
        let receipt = transact(
            "deploy MockGRID",
            MockGRID::deploy_builder(p),
            plain_error("deploy MockGRID"),
        )
        .await?;
        let grid = deployed_at("deploy MockGRID", &receipt)?;
        let grid_tx = TxOutcome::of(&receipt);
        let receipt = transact(
            "deploy SGridVault",
            SGridVault::deploy_builder(
                p,
                grid,
                oracle,
                self.sender,
                params.investor_share_bps,
                params.stream_period_seconds,
            ),
            vault_error("constructor"),
        )
        .await?;
        let vault = deployed_at("deploy SGridVault", &receipt)?;
        Ok(Deployment {
            verifier,
            oracle,
            grid,
            vault,
            transactions: vec![verifier_tx, oracle_tx, grid_tx, TxOutcome::of(&receipt)],
        })
    }

    /// The oracle at `address`.
    pub fn oracle(&self, address: Address) -> RevenueOracle::RevenueOracleInstance<DynProvider> {
        RevenueOracle::new(address, self.provider.clone())
    }

    /// Opens an epoch (the sender must hold REGISTRAR_ROLE).
    pub async fn open_epoch(
        &self,
        oracle: Address,
        opening: &EpochOpening,
    ) -> Result<TxOutcome, ChainError> {
        let oracle = self.oracle(oracle);
        let receipt = transact(
            "openEpoch",
            oracle.openEpoch(
                opening.epoch,
                opening.registry_root,
                opening.schedule_hash,
                opening.interval_seconds,
                opening.batch_count,
            ),
            oracle_error("openEpoch"),
        )
        .await?;
        Ok(TxOutcome::of(&receipt))
    }

    /// Submits one batch (public inputs and EIP-197 proof words) and reads its events.
    pub async fn submit_batch(
        &self,
        oracle: Address,
        inputs: [U256; 8],
        proof: [U256; 8],
    ) -> Result<Submission, ChainError> {
        let oracle = self.oracle(oracle);
        let builder = oracle.submitBatch(inputs, proof);
        let calldata = builder.calldata().clone();
        let receipt = transact("submitBatch", builder, oracle_error("submitBatch")).await?;
        let accepted = receipt
            .decoded_log::<RevenueOracle::BatchAccepted>()
            .ok_or_else(|| ChainError::UnexpectedReceipt {
                call: "submitBatch",
                what: "no BatchAccepted event".to_string(),
            })?;
        let finalized = receipt
            .decoded_log::<RevenueOracle::EpochFinalized>()
            .map(|log| (log.data.totalEnergyWh, log.data.totalRevenueNusd));
        Ok(Submission {
            tx: TxOutcome::of(&receipt),
            calldata,
            total_energy_wh: accepted.data.totalEnergyWh,
            total_revenue_nusd: accepted.data.totalRevenueNusd,
            finalized,
        })
    }

    /// Anchors a signed head of the audit log on the oracle (the sender must hold
    /// REGISTRAR_ROLE; the tree size must exceed the latest one there, else
    /// [`ChainError::OracleRejected`] with `AuditHeadNotNewer`). The oracle stores the head and
    /// its signature without checking it; readers check it off-chain
    /// ([`super::read::read_audit_head`]).
    pub async fn publish_audit_head(
        &self,
        oracle: Address,
        head: &SignedTreeHead,
    ) -> Result<TxOutcome, ChainError> {
        let oracle = self.oracle(oracle);
        let call = audit_head_call(head);
        let receipt = transact(
            "publishAuditHead",
            oracle.publishAuditHead(
                call.treeSize,
                call.rootHash,
                call.timestampMs,
                call.signature,
            ),
            oracle_error("publishAuditHead"),
        )
        .await?;
        receipt
            .decoded_log::<RevenueOracle::AuditHeadPublished>()
            .ok_or_else(|| ChainError::UnexpectedReceipt {
                call: "publishAuditHead",
                what: "no AuditHeadPublished event".to_string(),
            })?;
        Ok(TxOutcome::of(&receipt))
    }

    /// The epoch's totals and progress.
    pub async fn epoch_totals(
        &self,
        oracle: Address,
        epoch: U256,
    ) -> Result<EpochTotals, ChainError> {
        let oracle = self.oracle(oracle);
        let totals = oracle
            .epochTotals(epoch)
            .call()
            .await
            .map_err(oracle_error("epochTotals"))?;
        let progress = oracle
            .epochProgress(epoch)
            .call()
            .await
            .map_err(oracle_error("epochProgress"))?;
        Ok(EpochTotals {
            is_final: totals.isFinal,
            total_energy_wh: totals.totalEnergyWh,
            total_revenue_nusd: totals.totalRevenueNusd,
            batch_count: progress.batchCount,
            batches_accepted: progress.batchesAccepted,
        })
    }

    /// Mints `amount` mock GRID to the sender and deposits it into the vault (sGRID to the
    /// sender): the investors whose yield is released.
    pub async fn deposit(&self, d: &Deployment, amount: U256) -> Result<TxOutcome, ChainError> {
        let grid = MockGRID::new(d.grid, self.provider.clone());
        let vault = SGridVault::new(d.vault, self.provider.clone());
        transact("mint", grid.mint(self.sender, amount), plain_error("mint")).await?;
        transact(
            "approve",
            grid.approve(d.vault, amount),
            plain_error("approve"),
        )
        .await?;
        let receipt = transact(
            "deposit",
            vault.deposit(amount, self.sender),
            vault_error("deposit"),
        )
        .await?;
        Ok(TxOutcome::of(&receipt))
    }

    /// Funds the vault's yield reserve with exactly what the final epoch entitles investors to
    /// (mock GRID minted to the sender first), then releases the epoch's yield.
    pub async fn fund_and_release(
        &self,
        d: &Deployment,
        epoch: U256,
    ) -> Result<YieldRelease, ChainError> {
        let grid = MockGRID::new(d.grid, self.provider.clone());
        let vault = SGridVault::new(d.vault, self.provider.clone());
        let amount = vault
            .yieldFor(epoch)
            .call()
            .await
            .map_err(vault_error("yieldFor"))?;
        transact("mint", grid.mint(self.sender, amount), plain_error("mint")).await?;
        transact(
            "approve",
            grid.approve(d.vault, amount),
            plain_error("approve"),
        )
        .await?;
        let funded = transact(
            "fundYield",
            vault.fundYield(amount),
            vault_error("fundYield"),
        )
        .await?;
        let receipt = transact(
            "releaseYield",
            vault.releaseYield(epoch),
            vault_error("releaseYield"),
        )
        .await?;
        let event = receipt
            .decoded_log::<SGridVault::YieldReleased>()
            .ok_or_else(|| ChainError::UnexpectedReceipt {
                call: "releaseYield",
                what: "no YieldReleased event".to_string(),
            })?;
        Ok(YieldRelease {
            funded: TxOutcome::of(&funded),
            released: TxOutcome::of(&receipt),
            amount_grid_wei: event.data.amount,
            stream_end: event.data.streamEnd,
        })
    }

    /// The vault's assets (GRID wei) and the assets one whole sGRID share redeems for now.
    pub async fn share_price(&self, d: &Deployment) -> Result<(U256, U256), ChainError> {
        let vault = SGridVault::new(d.vault, self.provider.clone());
        let assets = vault
            .totalAssets()
            .call()
            .await
            .map_err(vault_error("totalAssets"))?;
        let one_share = U256::from(10u64).pow(U256::from(24u64));
        let price = vault
            .convertToAssets(one_share)
            .call()
            .await
            .map_err(vault_error("convertToAssets"))?;
        Ok((assets, price))
    }
}
