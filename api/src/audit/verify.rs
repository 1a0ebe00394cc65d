//! The client side of the audit log, behind `gridproof audit verify`: fetch the service's current
//! signed head, check its signature and key, check with a consistency proof that it extends an
//! older head the client kept and the head anchored on-chain (RevenueOracle's
//! `latestAuditHead`, read by the caller), fetch every entry, recompute the roots of all heads
//! from the entries, and check the inclusion proofs of the newest entries. Trusts nothing the
//! service says that it cannot check; the only trust is in the old head (and its key) given, and
//! in the chain.

use std::time::Duration;

use serde::de::DeserializeOwned;

use super::head::SignedTreeHead;
use super::tree::{self, Hash};
use super::wire::{
    parse_hash, parse_hashes, ConsistencyProofView, EntriesPage, InclusionProofView, TreeHeadView,
};
use super::LeafV1;
use crate::chain::OnChainAuditHead;

/// Entries per page fetched (the service's maximum).
pub const PAGE: u64 = 1000;

/// What to check.
#[derive(Debug, Clone)]
pub struct VerifyOptions {
    /// The service, e.g. `http://127.0.0.1:8080`.
    pub url: String,
    /// A bearer token (any role).
    pub token: Option<String>,
    /// The head kept from last time (as `GET /v1/audit/head` served it).
    pub since: Option<TreeHeadView>,
    /// The public key the heads must be signed with (default: the one of `since`).
    pub public_key: Option<[u8; 32]>,
    /// Inclusion proofs to fetch and check, for the newest entries (0: none; the root is
    /// recomputed from every entry anyway).
    pub inclusion_proofs: u64,
    /// The head anchored on-chain ([`crate::chain::read_audit_head`]): its signature must verify
    /// with the service's key (the pinned one, else the current head's), and the current log
    /// must extend it. Catches a service that rewrote its log after publishing, even for a
    /// client that kept no head of its own.
    pub on_chain: Option<OnChainAuditHead>,
}

/// One check passed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// Its name (`head signature`, `consistency`, ...).
    pub name: &'static str,
    /// What was found.
    pub detail: String,
}

/// Why verification stopped.
#[derive(Debug, thiserror::Error)]
pub enum AuditVerifyError {
    /// The service could not be reached or answered something unexpected.
    #[error("cannot fetch {what}: {detail}")]
    Fetch {
        /// The route.
        what: String,
        /// Why.
        detail: String,
    },
    /// A check failed: the log or the head is not what it must be.
    #[error("audit check `{check}` FAILED: {detail}")]
    Failed {
        /// The check's name.
        check: &'static str,
        /// What is wrong.
        detail: String,
    },
}

fn failed(check: &'static str, detail: impl Into<String>) -> AuditVerifyError {
    AuditVerifyError::Failed {
        check,
        detail: detail.into(),
    }
}

/// An earlier head the current log must extend, and the names of its checks.
struct Reference {
    /// "old head" or "on-chain head".
    label: &'static str,
    consistency: &'static str,
    root: &'static str,
    head: SignedTreeHead,
}

struct Client {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl Client {
    async fn get<T: DeserializeOwned>(&self, path_and_query: &str) -> Result<T, AuditVerifyError> {
        let fetch = |detail: String| AuditVerifyError::Fetch {
            what: path_and_query.to_string(),
            detail,
        };
        let mut req = self.http.get(format!("{}{path_and_query}", self.base));
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.map_err(|e| fetch(e.to_string()))?;
        let status = resp.status();
        let body = resp.bytes().await.map_err(|e| fetch(e.to_string()))?;
        if !status.is_success() {
            let text = String::from_utf8_lossy(&body);
            return Err(fetch(format!("HTTP {status}: {}", text.trim())));
        }
        serde_json::from_slice(&body).map_err(|e| fetch(format!("unexpected JSON: {e}")))
    }
}

/// Runs every check, calling `report` for each one passed; returns the service's current head
/// (to keep for next time) or the first failure.
pub async fn verify_log(
    options: &VerifyOptions,
    mut report: impl FnMut(&Check),
) -> Result<TreeHeadView, AuditVerifyError> {
    let client = Client {
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| AuditVerifyError::Fetch {
                what: options.url.clone(),
                detail: e.to_string(),
            })?,
        base: options.url.trim_end_matches('/').to_string(),
        token: options.token.clone(),
    };
    let mut pass = |name: &'static str, detail: String| report(&Check { name, detail });

    // 1. The current head: well-formed, signed, by the expected key.
    let view: TreeHeadView = client.get("/v1/audit/head").await?;
    let head = view.to_signed().map_err(|e| failed("head signature", e))?;
    head.verify().map_err(|e| {
        failed(
            "head signature",
            format!("head of size {}: {e}", head.tree_size),
        )
    })?;
    pass(
        "head signature",
        format!(
            "head of {} entries, root {}, signed at {} ms",
            head.tree_size, view.root_hash, head.timestamp_ms
        ),
    );
    let old = match &options.since {
        Some(since) => {
            let old = since
                .to_signed()
                .map_err(|e| failed("old head signature", e))?;
            old.verify()
                .map_err(|e| failed("old head signature", e.to_string()))?;
            pass(
                "old head signature",
                format!(
                    "old head of {} entries, root {}",
                    old.tree_size, since.root_hash
                ),
            );
            Some(old)
        }
        None => None,
    };
    let pinned = options.public_key.or(old.as_ref().map(|o| o.public_key));
    match pinned {
        Some(key) if key != head.public_key => {
            return Err(failed(
                "public key",
                format!(
                    "the head is signed by {}, not by the expected {}",
                    view.public_key,
                    hex::encode(key)
                ),
            ))
        }
        Some(_) => pass("public key", format!("{} as expected", view.public_key)),
        None => pass(
            "public key",
            format!(
                "{} (no earlier head or --public-key: trusted on first use)",
                view.public_key
            ),
        ),
    }

    // 2. The head anchored on-chain, signed by the service's key.
    let mut references: Vec<Reference> = Vec::new();
    if let Some(old) = &old {
        references.push(Reference {
            label: "old head",
            consistency: "consistency",
            root: "old root from entries",
            head: old.clone(),
        });
    }
    match &options.on_chain {
        Some(anchored) if anchored.is_empty() => pass(
            "on-chain head",
            format!(
                "{} holds no audit head yet: nothing to compare",
                anchored.source
            ),
        ),
        Some(anchored) => {
            let key = pinned.unwrap_or(head.public_key);
            let check = "on-chain head signature";
            let signed = anchored
                .signed_by(key)
                .map_err(|e| failed(check, format!("{}: {e}", anchored.source)))?;
            signed.verify().map_err(|e| {
                failed(
                    check,
                    format!(
                        "the head of {} entries on {} does not verify with the service key {}: {e}",
                        anchored.tree_size,
                        anchored.source,
                        hex::encode(key)
                    ),
                )
            })?;
            pass(
                check,
                format!(
                    "head of {} entries, root {}, signed at {} ms, on {}",
                    anchored.tree_size,
                    hex::encode(anchored.root_hash),
                    anchored.timestamp_ms,
                    anchored.source
                ),
            );
            references.push(Reference {
                label: "on-chain head",
                consistency: "on-chain consistency",
                root: "on-chain root from entries",
                head: signed,
            });
        }
        None => {}
    }

    // 3. The current log extends each earlier head.
    for reference in &references {
        let (old, check) = (&reference.head, reference.consistency);
        if old.tree_size > head.tree_size {
            return Err(failed(
                check,
                format!(
                    "the log shrank from {} entries (the {}) to {}: it was truncated",
                    old.tree_size, reference.label, head.tree_size
                ),
            ));
        }
        if old.tree_size == 0 {
            pass(
                check,
                format!("the {} is empty: nothing to compare", reference.label),
            );
            continue;
        }
        let proof = if old.tree_size == head.tree_size {
            Vec::new()
        } else {
            let view: ConsistencyProofView = client
                .get(&format!(
                    "/v1/audit/proof/consistency?from_size={}&to_size={}",
                    old.tree_size, head.tree_size
                ))
                .await?;
            if (view.from_size, view.to_size) != (old.tree_size, head.tree_size) {
                return Err(failed(check, "the proof is for other sizes"));
            }
            parse_hashes(&view.consistency_path, "consistency_path")
                .map_err(|e| failed(check, e))?
        };
        tree::verify_consistency(
            old.tree_size,
            head.tree_size,
            &old.root_hash,
            &head.root_hash,
            &proof,
        )
        .map_err(|e| {
            failed(
                check,
                format!(
                    "{} -> {} entries: {e} (rewritten or truncated log)",
                    old.tree_size, head.tree_size
                ),
            )
        })?;
        pass(
            check,
            format!(
                "the log of {} entries extends the {} of {} ({} proof hashes)",
                head.tree_size,
                reference.label,
                old.tree_size,
                proof.len()
            ),
        );
    }

    // 4. Every entry: well-formed, hashed as served, and the roots recomputed from them.
    let mut leaves: Vec<Hash> = Vec::with_capacity(head.tree_size.min(1 << 24) as usize);
    let mut from = 0u64;
    while from < head.tree_size {
        let to = (from + PAGE).min(head.tree_size);
        let page: EntriesPage = client
            .get(&format!("/v1/audit/entries?from={from}&to={to}"))
            .await?;
        if page.entries.len() as u64 != to - from {
            return Err(failed(
                "entries",
                format!(
                    "asked for entries {from}..{to}, got {} (the log lost entries)",
                    page.entries.len()
                ),
            ));
        }
        for (offset, entry) in page.entries.iter().enumerate() {
            let index = from + offset as u64;
            let leaf: LeafV1 = serde_json::from_str(&entry.leaf).map_err(|e| {
                failed(
                    "entries",
                    format!("entry {index}: its leaf is not leaf v1: {e}"),
                )
            })?;
            let agrees = leaf.v == 1
                && leaf.index == index
                && entry.index == index
                && leaf.time_ms == entry.time_ms
                && leaf.kind == entry.kind
                && leaf.actor_token_id == entry.actor_token_id
                && leaf.details == entry.details;
            if !agrees {
                return Err(failed(
                    "entries",
                    format!("entry {index}: its fields differ from its leaf"),
                ));
            }
            let hash = tree::leaf_hash(entry.leaf.as_bytes());
            if parse_hash(&entry.leaf_hash, "leaf_hash").ok() != Some(hash) {
                return Err(failed(
                    "entries",
                    format!("entry {index}: leaf_hash is not SHA-256(0x00 || leaf)"),
                ));
            }
            leaves.push(hash);
        }
        from = to;
    }
    pass(
        "entries",
        format!("{} entries fetched, each leaf well-formed", leaves.len()),
    );
    for reference in &references {
        let old = &reference.head;
        let old_root = tree::root_of(&leaves[..old.tree_size as usize]);
        if old_root != old.root_hash {
            return Err(failed(
                reference.root,
                format!(
                    "entries 0..{} hash to {}, not to the {}'s root: entries were rewritten",
                    old.tree_size,
                    hex::encode(old_root),
                    reference.label
                ),
            ));
        }
        pass(
            reference.root,
            format!(
                "entries 0..{} hash to the {}'s root",
                old.tree_size, reference.label
            ),
        );
    }
    let root = tree::root_of(&leaves);
    if root != head.root_hash {
        return Err(failed(
            "root from entries",
            format!(
                "the {} entries hash to {}, not to the head's root: entries were rewritten",
                leaves.len(),
                hex::encode(root)
            ),
        ));
    }
    pass(
        "root from entries",
        format!("the {} entries hash to the head's root", leaves.len()),
    );

    // 5. Inclusion proofs of the newest entries against the signed head.
    let first = head
        .tree_size
        .saturating_sub(options.inclusion_proofs)
        .max(old.as_ref().map_or(0, |o| o.tree_size).min(head.tree_size));
    for index in first..head.tree_size {
        let view: InclusionProofView = client
            .get(&format!(
                "/v1/audit/proof/inclusion?index={index}&tree_size={}",
                head.tree_size
            ))
            .await?;
        let path = parse_hashes(&view.inclusion_path, "inclusion_path")
            .map_err(|e| failed("inclusion", e))?;
        tree::verify_inclusion(
            &leaves[index as usize],
            index,
            head.tree_size,
            &path,
            &head.root_hash,
        )
        .map_err(|e| failed("inclusion", format!("entry {index}: {e}")))?;
    }
    if first < head.tree_size {
        pass(
            "inclusion",
            format!(
                "entries {first}..{} proved in the head of {} entries",
                head.tree_size, head.tree_size
            ),
        );
    }
    Ok(view)
}
