//! The publisher (docs/service-publisher.md is the reference): takes `proved` epochs and
//! submits their batches to RevenueOracle through alloy, opening the epoch on-chain first when
//! the oracle does not know it yet, and marks the epoch `published`, then `final` when the
//! oracle says so.
//!
//! One publisher per sender key. Each transaction is a row of the store's `publications` table
//! ([`crate::store::publications`]) whose state is written before and after every step that
//! touches the chain:
//!
//! - `built`: the calldata is decided. Before signing, the call is estimated against the node,
//!   which decodes the oracle's custom errors: "already accepted" / "already open" (with the
//!   same parameters) is success without a transaction; an invalid proof or a mismatched
//!   statement fails the row for good.
//! - `sent`: the signed transaction (nonce, hash, raw bytes, fees) is committed to the database
//!   **before** it is broadcast, so a crash at any point leaves a row that names the only
//!   transaction that may be out there. A restarted publisher looks it up by hash (and every
//!   earlier hash of the row), then by the sender's mined nonce, before anything new is signed;
//!   a transaction the node forgot is broadcast again byte for byte (same hash). A transaction
//!   not mined after [`PublisherConfig::replace_after`] is replaced under the same nonce with
//!   fees raised by at least 12.5 % (what nodes require of a replacement).
//! - `mined` -> `confirmed` after [`PublisherConfig::confirmations`] blocks (a receipt that
//!   disappears in a reorg sends the row back to `sent`).
//!
//! With the service's audit key ([`Publisher::with_audit_key`]) it also anchors the audit log's
//! signed head on the oracle (`publishAuditHead`, docs/audit-log.md) at most every
//! [`PublisherConfig::audit_head_interval`], when the log grew past the latest head there: one
//! row per tree size, with the same life as above ([`Publisher::advance_audit_head`]).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use alloy::network::eip2718::Encodable2718;
use alloy::network::{EthereumWallet, TransactionBuilder};
use alloy::primitives::{Address, Bytes, B256, U256};
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::rpc::types::{Filter, TransactionRequest};
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::{SolCall, SolEvent};

use crate::audit::AuditKey;
use crate::chain::bindings::RevenueOracle::{self, RevenueOracleErrors};
use crate::chain::{audit_head_call, batch_words, ChainError, EpochOpening};
use crate::store::{
    EpochStatus, NewPublication, Publication, PublicationKind, PublicationState, SignedTx, Store,
    StoreError,
};

/// How the publisher runs.
#[derive(Clone)]
pub struct PublisherConfig {
    /// JSON-RPC endpoint (http://...).
    pub rpc_url: String,
    /// The sender's secp256k1 key, hex (secret: never logged, not in `Debug`).
    pub private_key: String,
    /// RevenueOracle. Opening epochs needs the sender to hold its REGISTRAR_ROLE; submitting
    /// batches needs no role.
    pub oracle: Address,
    /// Blocks a transaction's block must have (itself included) before it counts as
    /// confirmed; 1 = mined.
    pub confirmations: u64,
    /// A transaction not mined this long after it was sent is replaced (same nonce, fees
    /// raised by at least 12.5 %).
    pub replace_after: Duration,
    /// Highest max fee per gas (wei) a replacement may offer; `None`: no cap. At the cap the
    /// publisher keeps waiting instead of bidding higher.
    pub max_fee_per_gas_cap: Option<u128>,
    /// How often the publisher looks for work and checks its transactions.
    pub poll_interval: Duration,
    /// The least time between two audit heads anchored on the oracle (with an audit key; a head
    /// is published only when the log grew past the latest one there).
    pub audit_head_interval: Duration,
}

/// The default of [`PublisherConfig::audit_head_interval`] (and `serve --audit-head-interval`):
/// 10 minutes, about 144 transactions a day at most (each about 53,000 gas once the oracle's
/// slots exist).
pub const DEFAULT_AUDIT_HEAD_INTERVAL: Duration = Duration::from_secs(600);

impl PublisherConfig {
    /// The defaults: 2 confirmations, replacement after 3 minutes, no fee cap, polling every
    /// 2 s, an audit head at most every 10 minutes.
    pub fn new(
        rpc_url: impl Into<String>,
        private_key: impl Into<String>,
        oracle: Address,
    ) -> Self {
        PublisherConfig {
            rpc_url: rpc_url.into(),
            private_key: private_key.into(),
            oracle,
            confirmations: 2,
            replace_after: Duration::from_secs(180),
            max_fee_per_gas_cap: None,
            poll_interval: Duration::from_secs(2),
            audit_head_interval: DEFAULT_AUDIT_HEAD_INTERVAL,
        }
    }
}

impl std::fmt::Debug for PublisherConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PublisherConfig")
            .field("rpc_url", &self.rpc_url)
            .field("private_key", &"<redacted>")
            .field("oracle", &self.oracle)
            .field("confirmations", &self.confirmations)
            .field("replace_after", &self.replace_after)
            .field("max_fee_per_gas_cap", &self.max_fee_per_gas_cap)
            .field("poll_interval", &self.poll_interval)
            .field("audit_head_interval", &self.audit_head_interval)
            .finish()
    }
}

/// Why a publisher step failed. Every error leaves the database consistent; the next pass
/// continues from the recorded state.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// The chain failed (RPC, a revert that is not a known outcome).
    #[error("chain: {0}")]
    Chain(#[from] ChainError),
    /// The configuration cannot work (bad key, URL, zero confirmations).
    #[error("invalid publisher configuration: {0}")]
    Config(String),
    /// The stored proofs of the epoch cannot be turned into calldata (a bug or an edited
    /// database).
    #[error("epoch {epoch}: stored proofs unusable: {what}")]
    Proofs {
        /// The epoch.
        epoch: u64,
        /// Why.
        what: String,
    },
    /// The oracle knows the epoch with other parameters than the stored plan: nothing of it
    /// can be accepted (an operator must cancel the epoch on-chain or fix the database).
    #[error("epoch {epoch}: the oracle has {found}, the store {expected}")]
    Mismatch {
        /// The epoch.
        epoch: u64,
        /// What the oracle has.
        found: String,
        /// What the store has.
        expected: String,
    },
    /// A transaction could not be signed.
    #[error("cannot sign: {0}")]
    Sign(String),
    /// Audit heads were asked for, but the publisher has no audit key
    /// ([`Publisher::with_audit_key`]).
    #[error("no audit key: the publisher cannot sign audit heads")]
    NoAuditKey,
    /// The oracle holds an audit head of the same size as ours with another root: the log was
    /// rewritten after that head was published, or another service anchors its log on this
    /// oracle. Nothing more is published until the log grows past it.
    #[error(
        "the oracle holds an audit head of {tree_size} entries with root {on_chain}, the log \
         has root {ours}: the log was rewritten, or another service publishes to this oracle"
    )]
    AuditHeadConflict {
        /// The tree size.
        tree_size: u64,
        /// The root on-chain (hex).
        on_chain: String,
        /// The log's root (hex).
        ours: String,
    },
}

impl From<alloy::transports::TransportError> for PublishError {
    fn from(e: alloy::transports::TransportError) -> Self {
        PublishError::Chain(ChainError::from(e))
    }
}

/// Where an epoch is after [`Publisher::advance_epoch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EpochProgress {
    /// Transactions are under way (or the epoch is not `proved` yet); call again later.
    Waiting,
    /// Every batch is accepted and recorded; the oracle does not call the epoch final (yet).
    Published,
    /// The oracle says final; the epoch is `final` in the store.
    Final,
    /// A publication failed for good (its `error`); the epoch stays where it is.
    Failed(String),
    /// The epoch is in a status the publisher does not handle (open, proving, failed).
    NotPublishable(EpochStatus),
}

/// Where the audit log's anchoring is after [`Publisher::advance_audit_head`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditHeadProgress {
    /// Nothing to do now: the last head is younger than the interval, or the log has not grown
    /// past the latest head on-chain.
    Idle,
    /// The head of `tree_size` entries is on its way (built, sent or mined).
    Waiting {
        /// Its tree size.
        tree_size: u64,
    },
    /// The head of `tree_size` entries is confirmed on-chain (or a larger one is there).
    Published {
        /// Its tree size.
        tree_size: u64,
    },
    /// The oracle refused the head for good (its row's `error`).
    Failed(String),
}

/// Prometheus gauge: the tree size of the latest audit head the publisher saw on the oracle
/// (read when a head is due, set when one of ours is confirmed).
pub const AUDIT_HEAD_ONCHAIN_SIZE: &str = "gridproof_audit_head_onchain_tree_size";

/// What one row's step came to.
#[derive(Debug, Clone, PartialEq, Eq)]
enum RowProgress {
    Done,
    Pending,
    Failed(String),
}

/// A publisher bound to one sender key, one chain and one oracle.
#[derive(Debug, Clone)]
pub struct Publisher {
    store: Store,
    provider: DynProvider,
    wallet: EthereumWallet,
    sender: Address,
    chain_id: u64,
    config: PublisherConfig,
    audit_key: Option<Arc<AuditKey>>,
}

/// `x` raised by 12.5 %, rounded up, and by at least 1 wei.
fn bumped(x: u128) -> u128 {
    x.saturating_add(x.div_ceil(8).max(1))
}

fn hash_of(bytes: &[u8; 32]) -> B256 {
    B256::from(*bytes)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Prometheus histogram of the seconds from a transaction's recording as `sent` (signed,
/// before the broadcast; a replacement restarts the clock) to `stage`: `mined` (its receipt
/// seen) and `confirmed`; labelled by `kind` (`open_epoch`, `submit_batch`, `audit_head`).
/// Buckets in [`crate::http::prometheus`].
pub const PUBLISH_LATENCY_SECONDS: &str = "gridproof_publish_latency_seconds";

/// Records the row's latency from `sent` to `stage` now; returns it in seconds.
fn record_latency(row: &Publication, stage: &'static str) -> Option<f64> {
    let sent = row.sent_at_ms?;
    let seconds = now_ms().saturating_sub(sent).max(0) as f64 / 1000.0;
    metrics::histogram!(PUBLISH_LATENCY_SECONDS, "kind" => row.kind.as_str(), "stage" => stage)
        .record(seconds);
    Some(seconds)
}

fn oracle_error(call: &'static str, source: alloy::contract::Error) -> ChainError {
    match source.as_decoded_interface_error::<RevenueOracleErrors>() {
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

/// What the oracle's refusal of a call means for the publication.
enum Refusal {
    /// The oracle already has it: success without a transaction.
    AlreadyDone,
    /// Retrying cannot help: the row fails.
    Permanent,
    /// May pass later (paused, role not granted yet, epoch not open yet, a node error).
    Transient,
}

fn classify(reason: &RevenueOracleErrors) -> Refusal {
    use RevenueOracleErrors as E;
    match reason {
        // For an audit head: the oracle has one at least as large; `send` checks the roots.
        E::BatchAlreadyAccepted(_) | E::EpochAlreadyOpen(_) | E::AuditHeadNotNewer(_) => {
            Refusal::AlreadyDone
        }
        E::InvalidProof(_)
        | E::StatementMismatch(_)
        | E::BatchIndexOutOfRange(_)
        | E::NotAFieldElement(_)
        | E::TotalsOverflow(_)
        | E::InvalidEpochParameters(_)
        | E::EpochOutOfRange(_)
        | E::BatchCountTooLarge(_)
        | E::InvalidAuditSignatureLength(_) => Refusal::Permanent,
        _ => Refusal::Transient,
    }
}

impl Publisher {
    /// Connects to the node and checks the configuration (the key parses, the oracle has code).
    pub async fn connect(store: Store, config: PublisherConfig) -> Result<Self, PublishError> {
        if config.confirmations == 0 {
            return Err(PublishError::Config(
                "confirmations must be at least 1".into(),
            ));
        }
        let signer: PrivateKeySigner = config.private_key.trim().parse().map_err(|e| {
            PublishError::Config(format!("the private key is not a secp256k1 key: {e}"))
        })?;
        let sender = signer.address();
        let provider = ProviderBuilder::new()
            .disable_recommended_fillers()
            .connect(&config.rpc_url)
            .await?
            .erased();
        let chain_id = provider.get_chain_id().await?;
        let code = provider.get_code_at(config.oracle).await?;
        if code.is_empty() {
            return Err(PublishError::Config(format!(
                "no contract at the oracle address {} on chain {chain_id}",
                config.oracle
            )));
        }
        Ok(Publisher {
            store,
            provider,
            wallet: EthereumWallet::from(signer),
            sender,
            chain_id,
            config,
            audit_key: None,
        })
    }

    /// The same publisher, also anchoring the audit log's heads signed with `key` (the key of
    /// `GET /v1/audit/head`; `serve` hands its own over). The sender needs REGISTRAR_ROLE.
    pub fn with_audit_key(mut self, key: Arc<AuditKey>) -> Self {
        self.audit_key = Some(key);
        self
    }

    /// The sender's address.
    pub fn sender(&self) -> Address {
        self.sender
    }

    /// The chain id the node reports.
    pub fn chain_id(&self) -> u64 {
        self.chain_id
    }

    /// Works until `shutdown` resolves: every [`PublisherConfig::poll_interval`], advances every
    /// `proved` or `published` epoch. Errors are logged and retried on the next pass; a pass in
    /// progress when `shutdown` resolves finishes its current step (each step is recorded
    /// before and after it touches the chain, so stopping anywhere is safe).
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), PublishError> {
        tracing::info!(
            sender = %self.sender,
            chain_id = self.chain_id,
            oracle = %self.config.oracle,
            confirmations = self.config.confirmations,
            replace_after_s = self.config.replace_after.as_secs_f64(),
            audit_heads = self.audit_key.is_some(),
            audit_head_interval_s = self.config.audit_head_interval.as_secs_f64(),
            "publisher starting"
        );
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                () = self.pass() => {}
            }
            tokio::select! {
                () = &mut shutdown => break,
                () = tokio::time::sleep(self.config.poll_interval) => {}
            }
        }
        tracing::info!("publisher stopped");
        Ok(())
    }

    /// One pass over every epoch to publish, then the audit head (with an audit key); errors
    /// are logged per epoch and for the head.
    pub async fn pass(&self) {
        self.pass_epochs().await;
        if self.audit_key.is_some() {
            match self.advance_audit_head().await {
                Ok(AuditHeadProgress::Failed(error)) => {
                    tracing::error!(%error, "audit head publication failed for good");
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "publisher: audit head will be retried"),
            }
        }
    }

    async fn pass_epochs(&self) {
        let epochs = match self.store.epochs_to_publish().await {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!(error = %e, "publisher: cannot list epochs; trying again");
                return;
            }
        };
        for (epoch, _) in epochs {
            match self.advance_epoch(epoch).await {
                Ok(EpochProgress::Failed(error)) => {
                    tracing::error!(epoch, %error, "publication failed for good");
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(epoch, error = %e, "publisher: will retry"),
            }
        }
    }

    /// Advances `epoch` as far as it goes without waiting for the chain: each publication moves
    /// at most through the steps whose results are already there. Call it again to go on.
    pub async fn advance_epoch(&self, epoch: u64) -> Result<EpochProgress, PublishError> {
        let Some(e) = self.store.epoch(epoch).await? else {
            return Err(StoreError::NotFound {
                what: format!("epoch {epoch}"),
            }
            .into());
        };
        match e.status {
            EpochStatus::Proved | EpochStatus::Published => {}
            EpochStatus::Final => return Ok(EpochProgress::Final),
            other => return Ok(EpochProgress::NotPublishable(other)),
        }
        let batches = self.store.batches(epoch).await?;
        let file = crate::worker::stored_proofs_file(&e, &batches).map_err(|err| {
            PublishError::Proofs {
                epoch,
                what: err.to_string(),
            }
        })?;
        let words = file
            .batches
            .iter()
            .map(batch_words)
            .collect::<Result<Vec<_>, _>>()?;
        let batch_count = u32::try_from(words.len()).map_err(|_| PublishError::Proofs {
            epoch,
            what: "too many batches".into(),
        })?;
        let first = words.first().ok_or_else(|| PublishError::Proofs {
            epoch,
            what: "no batches".into(),
        })?;
        let opening = EpochOpening::from_inputs(&first.0, batch_count)?;

        // 1. The epoch on-chain.
        let oracle = RevenueOracle::new(self.config.oracle, self.provider.clone());
        let known = oracle
            .epochProgress(opening.epoch)
            .call()
            .await
            .map_err(|s| oracle_error("epochProgress", s))?
            .batchCount;
        let open_row = if known.is_zero() {
            let calldata = RevenueOracle::openEpochCall {
                epoch: opening.epoch,
                registryRoot: opening.registry_root,
                scheduleHash: opening.schedule_hash,
                intervalSeconds: opening.interval_seconds,
                batchCount: opening.batch_count,
            }
            .abi_encode();
            Some(
                self.ensure_epoch_row(epoch, PublicationKind::OpenEpoch, None, calldata)
                    .await?,
            )
        } else {
            self.check_opening(epoch, &opening).await?;
            self.store
                .publication(epoch, PublicationKind::OpenEpoch, None)
                .await?
        };
        if let Some(row) = open_row {
            match self.drive(row).await? {
                RowProgress::Done => {}
                RowProgress::Pending if !known.is_zero() => {}
                RowProgress::Pending => return Ok(EpochProgress::Waiting),
                RowProgress::Failed(error) => return Ok(EpochProgress::Failed(error)),
            }
            if known.is_zero() {
                self.check_opening(epoch, &opening).await?;
            }
        }

        // 2. The batches.
        let mut all_done = true;
        let mut rows = Vec::with_capacity(words.len());
        for (b, (inputs, proof)) in file.batches.iter().zip(&words) {
            let batch_index = u32::try_from(b.batch_index).map_err(|_| PublishError::Proofs {
                epoch,
                what: format!("batch index {}", b.batch_index),
            })?;
            let calldata = RevenueOracle::submitBatchCall {
                publicInputs: *inputs,
                proof: *proof,
            }
            .abi_encode();
            let row = self
                .ensure_epoch_row(
                    epoch,
                    PublicationKind::SubmitBatch,
                    Some(batch_index),
                    calldata,
                )
                .await?;
            match self.drive(row).await? {
                RowProgress::Done => {}
                RowProgress::Pending => all_done = false,
                RowProgress::Failed(error) => return Ok(EpochProgress::Failed(error)),
            }
            rows.push(batch_index);
        }
        if !all_done {
            return Ok(EpochProgress::Waiting);
        }

        // 3. Record: every batch published (the epoch becomes `published` with the last one),
        // then `final` once the oracle says so.
        for (batch, batch_index) in batches.iter().zip(rows) {
            if batch.status == crate::store::BatchStatus::Published {
                continue;
            }
            let row = self
                .store
                .publication(epoch, PublicationKind::SubmitBatch, Some(batch_index))
                .await?
                .ok_or_else(|| StoreError::NotFound {
                    what: format!("publication of batch {batch_index} of epoch {epoch}"),
                })?;
            let tx_hash = match (&row.tx, row.accepted_elsewhere) {
                (Some(tx), false) => tx.tx_hash,
                _ => self
                    .acceptance_tx(opening.epoch, batch_index)
                    .await?
                    .map_or([0u8; 32], |h| h.0),
            };
            self.store
                .set_batch_published(epoch, batch_index, &tx_hash)
                .await?;
        }
        let totals = oracle
            .epochTotals(opening.epoch)
            .call()
            .await
            .map_err(|s| oracle_error("epochTotals", s))?;
        if !totals.isFinal {
            return Ok(EpochProgress::Published);
        }
        match self
            .store
            .set_epoch_status(epoch, EpochStatus::Published, EpochStatus::Final)
            .await
        {
            Ok(()) => {}
            Err(StoreError::State { actual, .. }) if actual == EpochStatus::Final.as_str() => {}
            Err(e) => return Err(e.into()),
        }
        tracing::info!(
            epoch,
            total_energy_wh = %totals.totalEnergyWh,
            total_revenue_nusd = %totals.totalRevenueNusd,
            "epoch final on-chain"
        );
        Ok(EpochProgress::Final)
    }

    /// Anchors the audit log's head on the oracle, one step at a time like
    /// [`Publisher::advance_epoch`]: an audit-head row under way is moved on; otherwise, when
    /// the last row is at least [`PublisherConfig::audit_head_interval`] old (or there is none)
    /// and the log has grown past the latest head on-chain, the current head is signed now
    /// and a row made for it. A restart finds the row (whose calldata holds the signed head) and
    /// goes on with it, so a head is neither lost nor sent twice.
    pub async fn advance_audit_head(&self) -> Result<AuditHeadProgress, PublishError> {
        let key = self.audit_key.as_ref().ok_or(PublishError::NoAuditKey)?;
        let latest = self.store.latest_audit_head_publication().await?;
        if let Some(row) = &latest {
            let tree_size = Self::tree_size_of(row)?;
            match row.state {
                PublicationState::Confirmed | PublicationState::Failed => {}
                _ => return self.drive_audit_head(row.clone(), tree_size).await,
            }
            let age_ms = now_ms().saturating_sub(row.created_at_ms);
            if u128::try_from(age_ms).unwrap_or(0) < self.config.audit_head_interval.as_millis() {
                return Ok(AuditHeadProgress::Idle);
            }
        }
        let oracle = RevenueOracle::new(self.config.oracle, self.provider.clone());
        let on_chain = oracle
            .latestAuditHead()
            .call()
            .await
            .map_err(|s| oracle_error("latestAuditHead", s))?;
        metrics::gauge!(AUDIT_HEAD_ONCHAIN_SIZE).set(on_chain.treeSize as f64);
        let head = self.store.audit_head().await?;
        let recorded = latest.as_ref().and_then(|r| r.audit_tree_size).unwrap_or(0);
        if head.tree_size <= on_chain.treeSize.max(recorded) {
            if head.tree_size < on_chain.treeSize {
                tracing::warn!(
                    log_size = head.tree_size,
                    on_chain_size = on_chain.treeSize,
                    "the oracle holds an audit head larger than the log: the log was truncated, \
                     or another service publishes to this oracle"
                );
            }
            return Ok(AuditHeadProgress::Idle);
        }
        let signed = key.sign_head(
            head.tree_size,
            head.root_hash,
            u64::try_from(now_ms()).unwrap_or(0),
        );
        let row = self
            .ensure_row(NewPublication {
                epoch: None,
                kind: PublicationKind::AuditHead,
                batch_index: None,
                audit_tree_size: Some(head.tree_size),
                chain_id: self.chain_id,
                sender: self.sender.into_array(),
                contract: self.config.oracle.into_array(),
                calldata: audit_head_call(&signed).abi_encode(),
            })
            .await?;
        tracing::info!(
            tree_size = head.tree_size,
            root = %hex::encode(head.root_hash),
            on_chain_size = on_chain.treeSize,
            "anchoring the audit head"
        );
        self.drive_audit_head(row, head.tree_size).await
    }

    async fn drive_audit_head(
        &self,
        row: Publication,
        tree_size: u64,
    ) -> Result<AuditHeadProgress, PublishError> {
        Ok(match self.drive(row).await? {
            RowProgress::Done => {
                metrics::gauge!(AUDIT_HEAD_ONCHAIN_SIZE).set(tree_size as f64);
                AuditHeadProgress::Published { tree_size }
            }
            RowProgress::Pending => AuditHeadProgress::Waiting { tree_size },
            RowProgress::Failed(error) => AuditHeadProgress::Failed(error),
        })
    }

    fn tree_size_of(row: &Publication) -> Result<u64, PublishError> {
        row.audit_tree_size.ok_or_else(|| {
            StoreError::corrupt("publications.audit_tree_size", "audit head without a size").into()
        })
    }

    fn epoch_of(row: &Publication) -> Result<u64, PublishError> {
        row.epoch.ok_or_else(|| {
            StoreError::corrupt(
                "publications.epoch",
                format!("{} without an epoch", row.kind),
            )
            .into()
        })
    }

    /// The oracle knows `epoch` with exactly the store's opening, or [`PublishError::Mismatch`].
    async fn check_opening(&self, epoch: u64, opening: &EpochOpening) -> Result<(), PublishError> {
        let oracle = RevenueOracle::new(self.config.oracle, self.provider.clone());
        let config = oracle
            .epochConfig(opening.epoch)
            .call()
            .await
            .map_err(|s| oracle_error("epochConfig", s))?;
        let progress = oracle
            .epochProgress(opening.epoch)
            .call()
            .await
            .map_err(|s| oracle_error("epochProgress", s))?;
        let found = (
            config.registryRoot,
            config.scheduleHash,
            config.intervalSeconds,
            progress.batchCount,
        );
        let expected = (
            opening.registry_root,
            opening.schedule_hash,
            opening.interval_seconds,
            U256::from(opening.batch_count),
        );
        if found != expected {
            return Err(PublishError::Mismatch {
                epoch,
                found: format!(
                    "root {}, schedule {}, interval {} s, {} batches",
                    found.0, found.1, found.2, found.3
                ),
                expected: format!(
                    "root {}, schedule {}, interval {} s, {} batches",
                    expected.0, expected.1, expected.2, expected.3
                ),
            });
        }
        Ok(())
    }

    async fn ensure_epoch_row(
        &self,
        epoch: u64,
        kind: PublicationKind,
        batch_index: Option<u32>,
        calldata: Vec<u8>,
    ) -> Result<Publication, PublishError> {
        self.ensure_row(NewPublication {
            epoch: Some(epoch),
            kind,
            batch_index,
            audit_tree_size: None,
            chain_id: self.chain_id,
            sender: self.sender.into_array(),
            contract: self.config.oracle.into_array(),
            calldata,
        })
        .await
    }

    /// The row of `new`'s subject, made if missing. An existing row must be for the same oracle,
    /// chain and calldata (an audit head of the same size signed at another time is another
    /// calldata: the stored one is kept and sent, never a second one).
    async fn ensure_row(&self, new: NewPublication) -> Result<Publication, PublishError> {
        let row = self.store.ensure_publication(&new).await?;
        let same_call = row.calldata == new.calldata || new.kind == PublicationKind::AuditHead;
        if !same_call
            || row.contract != self.config.oracle.into_array()
            || row.chain_id != self.chain_id
        {
            return Err(PublishError::Config(format!(
                "publication {} ({} of epoch {:?}, audit size {:?}) was made for another oracle, \
                 chain or proof; refusing to send anything else for it",
                row.id, new.kind, new.epoch, new.audit_tree_size
            )));
        }
        Ok(row)
    }

    /// Moves one publication on as far as the chain already allows (a few steps at most).
    async fn drive(&self, mut row: Publication) -> Result<RowProgress, PublishError> {
        if row.sender != self.sender.into_array() {
            // Another publisher's row: it is theirs to advance; we only watch the outcome.
            return Ok(match row.state {
                PublicationState::Confirmed => RowProgress::Done,
                PublicationState::Failed => {
                    RowProgress::Failed(row.error.clone().unwrap_or_default())
                }
                _ => RowProgress::Pending,
            });
        }
        for _ in 0..4 {
            let before = (row.state, row.tx.as_ref().map(|t| t.tx_hash));
            let progress = match row.state {
                PublicationState::Built => self.send(&row).await?,
                PublicationState::Sent => self.watch_sent(&row).await?,
                PublicationState::Mined => self.watch_mined(&row).await?,
                PublicationState::Confirmed => return Ok(RowProgress::Done),
                PublicationState::Failed => {
                    return Ok(RowProgress::Failed(row.error.clone().unwrap_or_default()))
                }
            };
            if progress != RowProgress::Pending {
                return Ok(progress);
            }
            row = self.store.publication_by_id(row.id).await?.ok_or_else(|| {
                StoreError::NotFound {
                    what: format!("publication {}", row.id),
                }
            })?;
            if (row.state, row.tx.as_ref().map(|t| t.tx_hash)) == before {
                break;
            }
        }
        Ok(match row.state {
            PublicationState::Confirmed => RowProgress::Done,
            _ => RowProgress::Pending,
        })
    }

    /// Whether the oracle already has what `row` would send (for an audit head: this head or a
    /// larger one; another head of the same size is not done, and `send` then fails the row).
    async fn done_on_chain(&self, row: &Publication) -> Result<bool, PublishError> {
        if row.kind == PublicationKind::AuditHead {
            return match self.audit_head_done(row).await {
                Err(PublishError::AuditHeadConflict { .. }) => Ok(false),
                other => other,
            };
        }
        let oracle = RevenueOracle::new(self.config.oracle, self.provider.clone());
        let epoch = U256::from(Self::epoch_of(row)?);
        Ok(match (row.kind, row.batch_index) {
            (PublicationKind::SubmitBatch, Some(b)) => oracle
                .isBatchAccepted(epoch, U256::from(b))
                .call()
                .await
                .map_err(|s| oracle_error("isBatchAccepted", s))?,
            _ => !oracle
                .epochProgress(epoch)
                .call()
                .await
                .map_err(|s| oracle_error("epochProgress", s))?
                .batchCount
                .is_zero(),
        })
    }

    /// For an audit-head row: whether the oracle holds this head or a larger one, or
    /// [`PublishError::AuditHeadConflict`] when it holds another head of the same size.
    async fn audit_head_done(&self, row: &Publication) -> Result<bool, PublishError> {
        let ours = RevenueOracle::publishAuditHeadCall::abi_decode(&row.calldata)
            .map_err(|e| StoreError::corrupt("publications.calldata", e.to_string()))?;
        let on_chain = RevenueOracle::new(self.config.oracle, self.provider.clone())
            .latestAuditHead()
            .call()
            .await
            .map_err(|s| oracle_error("latestAuditHead", s))?;
        if on_chain.treeSize == ours.treeSize && on_chain.rootHash != ours.rootHash {
            return Err(PublishError::AuditHeadConflict {
                tree_size: ours.treeSize,
                on_chain: hex::encode(on_chain.rootHash),
                ours: hex::encode(ours.rootHash),
            });
        }
        Ok(on_chain.treeSize >= ours.treeSize)
    }

    /// The transaction that got the batch accepted (its `BatchAccepted` event), whoever sent it.
    async fn acceptance_tx(
        &self,
        epoch: U256,
        batch_index: u32,
    ) -> Result<Option<B256>, PublishError> {
        let filter = self
            .event_filter(epoch)
            .event_signature(RevenueOracle::BatchAccepted::SIGNATURE_HASH)
            .topic2(B256::from(U256::from(batch_index)));
        Ok(self.event_tx(&filter).await?.map(|(h, _)| h))
    }

    /// Logs of the oracle from block 0 whose first topic is `topic1`.
    fn event_filter(&self, topic1: U256) -> Filter {
        Filter::new()
            .address(self.config.oracle)
            .topic1(B256::from(topic1))
            .from_block(0u64)
    }

    /// The filter of the event that shows `row`'s effect on the oracle: `EpochOpened` of the
    /// epoch, `BatchAccepted` of the batch, or `AuditHeadPublished` of the tree size.
    fn row_event_filter(&self, row: &Publication) -> Result<Filter, PublishError> {
        Ok(match (row.kind, row.batch_index) {
            (PublicationKind::AuditHead, _) => self
                .event_filter(U256::from(Self::tree_size_of(row)?))
                .event_signature(RevenueOracle::AuditHeadPublished::SIGNATURE_HASH),
            (PublicationKind::SubmitBatch, Some(b)) => self
                .event_filter(U256::from(Self::epoch_of(row)?))
                .event_signature(RevenueOracle::BatchAccepted::SIGNATURE_HASH)
                .topic2(B256::from(U256::from(b))),
            _ => self
                .event_filter(U256::from(Self::epoch_of(row)?))
                .event_signature(RevenueOracle::EpochOpened::SIGNATURE_HASH),
        })
    }

    /// The transaction (and its block) of the last log matching `filter`. Logs, unlike
    /// receipts, are found whoever sent the transaction.
    async fn event_tx(&self, filter: &Filter) -> Result<Option<(B256, u64)>, PublishError> {
        let logs = self.provider.get_logs(filter).await?;
        // The last one: an epoch cancelled and opened again counts by its latest opening.
        Ok(logs
            .last()
            .and_then(|l| Some((l.transaction_hash?, l.block_number?))))
    }

    fn request(&self, row: &Publication) -> TransactionRequest {
        TransactionRequest::default()
            .with_from(self.sender)
            .with_to(Address::from(row.contract))
            .with_input(Bytes::from(row.calldata.clone()))
            .with_chain_id(self.chain_id)
    }

    /// `built`: estimate (which decodes the oracle's refusal), sign, record, broadcast.
    async fn send(&self, row: &Publication) -> Result<RowProgress, PublishError> {
        let call = match row.kind {
            PublicationKind::OpenEpoch => "openEpoch",
            PublicationKind::SubmitBatch => "submitBatch",
            PublicationKind::AuditHead => "publishAuditHead",
        };
        let estimate = self.provider.estimate_gas(self.request(row)).await;
        let gas = match estimate {
            Ok(gas) => gas,
            Err(e) => {
                let error = oracle_error(call, alloy::contract::Error::TransportError(e));
                let ChainError::OracleRejected { reason, .. } = &error else {
                    return Err(error.into());
                };
                let refusal = match classify(reason) {
                    // "Not newer": done only if the oracle holds this head or a larger one.
                    Refusal::AlreadyDone if row.kind == PublicationKind::AuditHead => {
                        match self.audit_head_done(row).await {
                            Ok(true) => Refusal::AlreadyDone,
                            Ok(false) => Refusal::Transient,
                            Err(conflict @ PublishError::AuditHeadConflict { .. }) => {
                                let message = conflict.to_string();
                                self.store.publication_failed(row.id, &message).await?;
                                return Ok(RowProgress::Failed(message));
                            }
                            Err(e) => return Err(e),
                        }
                    }
                    other => other,
                };
                return match refusal {
                    Refusal::AlreadyDone => {
                        tracing::info!(
                            epoch = row.epoch,
                            batch = row.batch_index,
                            kind = %row.kind,
                            reason = ?reason,
                            "already on-chain: counts as done"
                        );
                        self.store.publication_confirmed(row.id, true).await?;
                        Ok(RowProgress::Done)
                    }
                    Refusal::Permanent => {
                        let message = error.to_string();
                        self.store.publication_failed(row.id, &message).await?;
                        Ok(RowProgress::Failed(message))
                    }
                    Refusal::Transient => {
                        self.store
                            .publication_note_error(row.id, &error.to_string())
                            .await?;
                        Err(error.into())
                    }
                };
            }
        };
        let fees = self.provider.estimate_eip1559_fees().await?;
        let pending_nonce = self
            .provider
            .get_transaction_count(self.sender)
            .pending()
            .await?;
        let ours = self
            .store
            .highest_sent_nonce(&self.sender.into_array())
            .await?
            .map_or(0, |n| n + 1);
        let signed = self
            .sign(
                row,
                pending_nonce.max(ours),
                gas.saturating_mul(5) / 4,
                fees.max_fee_per_gas,
                fees.max_priority_fee_per_gas,
            )
            .await?;
        self.store.publication_sent(row.id, None, &signed).await?;
        tracing::info!(
            epoch = row.epoch,
            batch = row.batch_index,
            kind = %row.kind,
            tx_hash = %hash_of(&signed.tx_hash),
            nonce = signed.nonce,
            max_fee_per_gas = signed.max_fee_per_gas,
            "sent"
        );
        self.broadcast(&signed).await;
        Ok(RowProgress::Pending)
    }

    async fn sign(
        &self,
        row: &Publication,
        nonce: u64,
        gas_limit: u64,
        max_fee_per_gas: u128,
        max_priority_fee_per_gas: u128,
    ) -> Result<SignedTx, PublishError> {
        let max_fee_per_gas = max_fee_per_gas.max(max_priority_fee_per_gas);
        let request = self
            .request(row)
            .with_nonce(nonce)
            .with_gas_limit(gas_limit)
            .with_max_fee_per_gas(max_fee_per_gas)
            .with_max_priority_fee_per_gas(max_priority_fee_per_gas);
        let envelope = request
            .build(&self.wallet)
            .await
            .map_err(|e| PublishError::Sign(e.to_string()))?;
        Ok(SignedTx {
            nonce,
            tx_hash: envelope.tx_hash().0,
            raw_tx: envelope.encoded_2718(),
            gas_limit,
            max_fee_per_gas,
            max_priority_fee_per_gas,
        })
    }

    /// Hands the signed bytes to the node. A failure is only logged: the row is `sent`, and
    /// the next pass finds the transaction, or broadcasts it again, or learns from the nonce
    /// that it can never be mined.
    async fn broadcast(&self, signed: &SignedTx) {
        if let Err(e) = self.provider.send_raw_transaction(&signed.raw_tx).await {
            tracing::warn!(
                tx_hash = %hash_of(&signed.tx_hash),
                nonce = signed.nonce,
                error = %e,
                "broadcast refused; the next pass checks the transaction again"
            );
        }
    }

    /// `sent`: mined (any of the row's hashes)? its nonce used by something else? forgotten by
    /// the node? stuck past the replacement timeout?
    async fn watch_sent(&self, row: &Publication) -> Result<RowProgress, PublishError> {
        let Some(tx) = &row.tx else {
            return Err(
                StoreError::corrupt("publications.tx_hash", "sent without a transaction").into(),
            );
        };
        // The sender's nonce as of `confirmations` blocks ago, read before the receipts: if it
        // was already past ours then and none of our hashes has a receipt now, none of them can
        // ever be mined. (At the head itself a node may count the nonce before it serves the
        // receipt: anvil does, and our own fresh transaction would look like someone else's.)
        let head = self.provider.get_block_number().await?;
        let settled_nonce = self
            .provider
            .get_transaction_count(self.sender)
            .number(head.saturating_sub(self.config.confirmations))
            .await?;
        let mut hashes = row.previous_tx_hashes.clone();
        hashes.push(tx.tx_hash);
        for h in hashes.iter().rev() {
            let Some(receipt) = self.provider.get_transaction_receipt(hash_of(h)).await? else {
                continue;
            };
            if receipt.status() {
                let block = receipt.block_number.unwrap_or_default();
                self.store.publication_mined(row.id, h, block).await?;
                let latency_s = record_latency(row, "mined");
                tracing::info!(epoch = row.epoch, batch = row.batch_index, kind = %row.kind,
                    tx_hash = %hash_of(h), block, gas_used = receipt.gas_used, ?latency_s, "mined");
                return Ok(RowProgress::Pending);
            }
            // Reverted: someone else's transaction got there first, or the state changed.
            if self.done_on_chain(row).await? {
                tracing::info!(epoch = row.epoch, batch = row.batch_index, tx_hash = %hash_of(h),
                    "our transaction reverted because the oracle already had it: done");
                self.store.publication_confirmed(row.id, true).await?;
                return Ok(RowProgress::Done);
            }
            let message = format!("transaction {} reverted", hash_of(h));
            tracing::warn!(epoch = row.epoch, batch = row.batch_index, %message, "rebuilding");
            self.store.publication_rebuild(row.id, &message).await?;
            return Ok(RowProgress::Pending);
        }
        if settled_nonce > tx.nonce {
            // The nonce is used, but none of our hashes has a receipt (yet: a node may index
            // receipts after it counts the nonce). The oracle's event says who did it.
            let event = self.event_tx(&self.row_event_filter(row)?).await?;
            if let Some((h, block)) = event.filter(|(h, _)| hashes.contains(&h.0)) {
                self.store.publication_mined(row.id, &h.0, block).await?;
                let latency_s = record_latency(row, "mined");
                tracing::info!(epoch = row.epoch, batch = row.batch_index, kind = %row.kind,
                    tx_hash = %h, block, ?latency_s, "mined (found by its event)");
                return Ok(RowProgress::Pending);
            }
            // Another transaction of this key took the nonce: nothing of ours can be mined.
            if self.done_on_chain(row).await? {
                self.store.publication_confirmed(row.id, true).await?;
                return Ok(RowProgress::Done);
            }
            let message = format!(
                "nonce {} was used by another transaction of {}; sending again",
                tx.nonce, self.sender
            );
            tracing::warn!(epoch = row.epoch, batch = row.batch_index, %message);
            self.store.publication_rebuild(row.id, &message).await?;
            return Ok(RowProgress::Pending);
        }
        let known = self
            .provider
            .get_transaction_by_hash(hash_of(&tx.tx_hash))
            .await?
            .is_some();
        let waited_ms = now_ms().saturating_sub(row.sent_at_ms.unwrap_or(0));
        if u128::try_from(waited_ms).unwrap_or(0) >= self.config.replace_after.as_millis() {
            return self.replace(row, tx).await;
        }
        if !known {
            tracing::info!(tx_hash = %hash_of(&tx.tx_hash), nonce = tx.nonce,
                "the node does not know our transaction: broadcasting the same bytes again");
            self.broadcast(tx).await;
        }
        Ok(RowProgress::Pending)
    }

    /// Replaces a stuck transaction: same nonce, fees raised by at least 12.5 % (and at least
    /// to the node's current estimate), recorded before it is broadcast.
    async fn replace(&self, row: &Publication, tx: &SignedTx) -> Result<RowProgress, PublishError> {
        let estimate = self.provider.estimate_eip1559_fees().await?;
        let tip = bumped(tx.max_priority_fee_per_gas).max(estimate.max_priority_fee_per_gas);
        let max_fee = bumped(tx.max_fee_per_gas).max(estimate.max_fee_per_gas);
        if let Some(cap) = self.config.max_fee_per_gas_cap {
            if max_fee > cap {
                tracing::warn!(tx_hash = %hash_of(&tx.tx_hash), max_fee, cap,
                    "stuck, but a replacement would exceed the fee cap: waiting");
                return Ok(RowProgress::Pending);
            }
        }
        let signed = self.sign(row, tx.nonce, tx.gas_limit, max_fee, tip).await?;
        self.store
            .publication_sent(row.id, Some(tx.tx_hash), &signed)
            .await?;
        tracing::warn!(
            epoch = row.epoch,
            batch = row.batch_index,
            old_tx_hash = %hash_of(&tx.tx_hash),
            tx_hash = %hash_of(&signed.tx_hash),
            nonce = signed.nonce,
            max_fee_per_gas = signed.max_fee_per_gas,
            max_priority_fee_per_gas = signed.max_priority_fee_per_gas,
            "not mined in time: replaced with higher fees"
        );
        self.broadcast(&signed).await;
        Ok(RowProgress::Pending)
    }

    /// `mined`: still in the chain? enough blocks on top?
    async fn watch_mined(&self, row: &Publication) -> Result<RowProgress, PublishError> {
        let (Some(tx), Some(block)) = (&row.tx, row.block_number) else {
            return Err(
                StoreError::corrupt("publications.block_number", "mined without a block").into(),
            );
        };
        let receipt = self
            .provider
            .get_transaction_receipt(hash_of(&tx.tx_hash))
            .await?;
        match receipt {
            Some(r) if r.block_number == Some(block) => {}
            _ => {
                tracing::warn!(epoch = row.epoch, batch = row.batch_index, tx_hash = %hash_of(&tx.tx_hash),
                    block, "receipt gone or moved (reorg): watching the transaction again");
                self.store.publication_unmined(row.id).await?;
                return Ok(RowProgress::Pending);
            }
        }
        let head = self.provider.get_block_number().await?;
        if head.saturating_sub(block) + 1 < self.config.confirmations {
            return Ok(RowProgress::Pending);
        }
        self.store.publication_confirmed(row.id, false).await?;
        let latency_s = record_latency(row, "confirmed");
        tracing::info!(epoch = row.epoch, batch = row.batch_index, kind = %row.kind,
            tx_hash = %hash_of(&tx.tx_hash), block, ?latency_s, "confirmed");
        Ok(RowProgress::Done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replacement_fees_rise_by_at_least_an_eighth() {
        assert_eq!(bumped(0), 1);
        assert_eq!(bumped(1), 2);
        assert_eq!(bumped(8), 9);
        assert_eq!(bumped(1_000_000_000), 1_125_000_000);
        assert_eq!(bumped(1_000_000_001), 1_125_000_002);
        for x in [7u128, 1_234_567, 30_000_000_000] {
            assert!(bumped(x) * 8 >= x * 9, "{x}");
        }
        assert_eq!(bumped(u128::MAX), u128::MAX);
    }
}
