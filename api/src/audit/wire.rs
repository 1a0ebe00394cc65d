//! The JSON of the audit routes, shared by the service (which writes it) and `gridproof audit
//! verify` (which reads it). Hashes, keys and signatures are lowercase hex.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::head::SignedTreeHead;
use super::tree::Hash;

/// `GET /v1/audit/head`: the current tree head signed by the service. Save the whole object:
/// it is what `gridproof audit verify --since` takes next time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TreeHeadView {
    /// Entries in the log.
    pub tree_size: u64,
    /// RFC 6962 Merkle Tree Hash of the entries' leaves (64 hex).
    pub root_hash: String,
    /// When the head was signed (Unix ms).
    pub timestamp_ms: u64,
    /// The service's Ed25519 public key (64 hex).
    pub public_key: String,
    /// Ed25519 over "gridproof audit tree head v1\0" || tree_size (u64 BE) || root_hash ||
    /// timestamp_ms (u64 BE) (128 hex).
    pub signature: String,
}

impl From<&SignedTreeHead> for TreeHeadView {
    fn from(h: &SignedTreeHead) -> Self {
        TreeHeadView {
            tree_size: h.tree_size,
            root_hash: hex::encode(h.root_hash),
            timestamp_ms: h.timestamp_ms,
            public_key: hex::encode(h.public_key),
            signature: hex::encode(h.signature),
        }
    }
}

impl TreeHeadView {
    /// The head as bytes (its signature is not checked here: see [`SignedTreeHead::verify`]).
    pub fn to_signed(&self) -> Result<SignedTreeHead, String> {
        Ok(SignedTreeHead {
            tree_size: self.tree_size,
            root_hash: parse_hash(&self.root_hash, "root_hash")?,
            timestamp_ms: self.timestamp_ms,
            public_key: parse_hex_array(&self.public_key, "public_key")?,
            signature: parse_hex_array(&self.signature, "signature")?,
        })
    }
}

/// One entry of the log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EntryView {
    /// Its position (from 0).
    pub index: u64,
    /// When it was appended (Unix ms).
    pub time_ms: i64,
    /// What it records (token_created, regulator_registered, disclosure_requested,
    /// disclosure_granted, disclosure_refused, bundle_downloaded, token_revoked).
    pub kind: String,
    /// The token that acted (null: the command line or the service).
    pub actor_token_id: Option<i64>,
    /// What happened (ids, roles, states; never a secret or a location).
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
    /// The exact bytes the Merkle leaf hashes, as text (the fields above, in a fixed order).
    pub leaf: String,
    /// SHA-256(0x00 || leaf), 64 hex.
    pub leaf_hash: String,
}

/// `GET /v1/audit/entries`: entries `from..to` (at most 1000).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EntriesPage {
    /// Entries in the log when the page was read.
    pub tree_size: u64,
    /// First index of the page.
    pub from: u64,
    /// One past the last index of the page (at most `tree_size`).
    pub to: u64,
    /// The entries, in order.
    pub entries: Vec<EntryView>,
}

/// `GET /v1/audit/proof/inclusion`: the audit path of one entry in the tree of `tree_size`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InclusionProofView {
    /// The entry.
    pub index: u64,
    /// The tree the path leads to the root of.
    pub tree_size: u64,
    /// The entry's leaf hash (64 hex).
    pub leaf_hash: String,
    /// The root of the tree of `tree_size` (compare it with a signed head, never trust it
    /// alone).
    pub root_hash: String,
    /// PATH(index, D[tree_size]) of RFC 6962, leaf level first (64 hex each).
    pub inclusion_path: Vec<String>,
}

/// `GET /v1/audit/proof/consistency`: the tree of `from_size` is a prefix of the tree of
/// `to_size`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsistencyProofView {
    /// The older tree's size.
    pub from_size: u64,
    /// The newer tree's size.
    pub to_size: u64,
    /// PROOF(from_size, D[to_size]) of RFC 6962 (64 hex each).
    pub consistency_path: Vec<String>,
}

/// 32 bytes from 64 hex characters; the error names `what`.
pub fn parse_hash(s: &str, what: &str) -> Result<Hash, String> {
    parse_hex_array(s, what)
}

fn parse_hex_array<const N: usize>(s: &str, what: &str) -> Result<[u8; N], String> {
    let bytes = hex::decode(s).map_err(|e| format!("{what} is not hex: {e}"))?;
    bytes
        .try_into()
        .map_err(|b: Vec<u8>| format!("{what} has {} bytes, not {N}", b.len()))
}

/// A list of hashes from hex; the error names `what` and the position.
pub fn parse_hashes(items: &[String], what: &str) -> Result<Vec<Hash>, String> {
    items
        .iter()
        .enumerate()
        .map(|(i, s)| parse_hash(s, &format!("{what}[{i}]")))
        .collect()
}
