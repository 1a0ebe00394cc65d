//! The tamper-evident audit log (DESIGN.md, "Selective disclosure"; docs/audit-log.md): every
//! token creation, regulator registration, disclosure request, decision and bundle download is
//! an entry of an append-only RFC 6962 Merkle log whose heads the service signs with Ed25519.
//! A client that kept an old head checks with a consistency proof that the current log extends
//! it, so a rewritten or truncated log is detected, and with inclusion proofs (or the root
//! recomputed from every entry) that each entry is in it.
//!
//! This module is the part both sides share and has no I/O: the Merkle tree ([`tree`]), the
//! entry's leaf encoding ([`entry_leaf`]), signed heads and the key file ([`head`]) and the JSON
//! of the routes ([`wire`]). Storage is `crate::store::audit`, the routes `crate::http::audit`,
//! the client `gridproof audit verify` ([`verify`]).

use serde::{Deserialize, Serialize};

pub mod head;
pub mod tree;
pub mod verify;
pub mod wire;

pub use head::{AuditKey, AuditKeyError, HeadError, SignedTreeHead};
pub use tree::{Hash, ProofError, TreeError};

/// What an entry records. The names are part of the leaf encoding: never rename one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuditKind {
    /// An API token was made (its id, role, operator and label; never its secret).
    TokenCreated,
    /// An API token was revoked.
    TokenRevoked,
    /// A regulator and its public key were registered.
    RegulatorRegistered,
    /// A regulator asked for a disclosure.
    DisclosureRequested,
    /// An admin granted a disclosure.
    DisclosureGranted,
    /// An admin refused a disclosure.
    DisclosureRefused,
    /// A regulator downloaded a granted bundle.
    BundleDownloaded,
}

impl AuditKind {
    /// Every kind, for parsing and documentation.
    pub const ALL: [AuditKind; 7] = [
        AuditKind::TokenCreated,
        AuditKind::TokenRevoked,
        AuditKind::RegulatorRegistered,
        AuditKind::DisclosureRequested,
        AuditKind::DisclosureGranted,
        AuditKind::DisclosureRefused,
        AuditKind::BundleDownloaded,
    ];

    /// The name in the database and in the leaf.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditKind::TokenCreated => "token_created",
            AuditKind::TokenRevoked => "token_revoked",
            AuditKind::RegulatorRegistered => "regulator_registered",
            AuditKind::DisclosureRequested => "disclosure_requested",
            AuditKind::DisclosureGranted => "disclosure_granted",
            AuditKind::DisclosureRefused => "disclosure_refused",
            AuditKind::BundleDownloaded => "bundle_downloaded",
        }
    }

    /// Inverse of [`AuditKind::as_str`].
    pub fn parse(s: &str) -> Option<AuditKind> {
        AuditKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl std::fmt::Display for AuditKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Keys that an entry's details may never hold, at any depth: the log is public to every token
/// holder, and CEII or secrets in it could never be removed.
pub const FORBIDDEN_DETAIL_KEYS: &[&str] = &[
    "location",
    "latitude",
    "longitude",
    "lat",
    "lon",
    "salt",
    "secret",
    "token",
    "private_key",
    "password",
];

/// The first forbidden key ([`FORBIDDEN_DETAIL_KEYS`]) anywhere in `details`, if any.
pub fn forbidden_detail_key(details: &serde_json::Value) -> Option<String> {
    match details {
        serde_json::Value::Object(map) => map.iter().find_map(|(k, v)| {
            if FORBIDDEN_DETAIL_KEYS.contains(&k.to_ascii_lowercase().as_str()) {
                Some(k.clone())
            } else {
                forbidden_detail_key(v)
            }
        }),
        serde_json::Value::Array(items) => items.iter().find_map(forbidden_detail_key),
        _ => None,
    }
}

/// The bytes of entry `index` that its Merkle leaf hashes (`SHA-256(0x00 || leaf)`): one line
/// of JSON with the keys in this order, `details` being the exact JSON text stored at append:
///
/// `{"v":1,"index":I,"time_ms":T,"kind":"K","actor_token_id":A|null,"details":D}`
///
/// The routes serve this text as each entry's `leaf`, so a client hashes exactly what the
/// service hashed and needs no canonical JSON of its own.
pub fn entry_leaf(
    index: u64,
    time_ms: i64,
    kind: &str,
    actor_token_id: Option<i64>,
    details_json: &str,
) -> String {
    let kind = serde_json::Value::from(kind);
    let actor = actor_token_id.map_or_else(|| "null".to_string(), |a| a.to_string());
    format!(
        "{{\"v\":1,\"index\":{index},\"time_ms\":{time_ms},\"kind\":{kind},\
         \"actor_token_id\":{actor},\"details\":{details_json}}}"
    )
}

/// An entry's leaf parsed back (what `audit verify` reads from [`entry_leaf`]'s text).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeafV1 {
    /// Always 1.
    pub v: u32,
    /// Its position in the log.
    pub index: u64,
    /// When it was appended (Unix ms).
    pub time_ms: i64,
    /// [`AuditKind`]'s name (kept as text: a client may be older than the service).
    pub kind: String,
    /// The token that acted, if any (`null`: the command line or the service itself).
    pub actor_token_id: Option<i64>,
    /// What happened (never a secret or a location).
    pub details: serde_json::Value,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaves_are_stable_json() {
        let leaf = entry_leaf(7, 1_700, "token_created", Some(3), r#"{"role":"admin"}"#);
        assert_eq!(
            leaf,
            r#"{"v":1,"index":7,"time_ms":1700,"kind":"token_created","actor_token_id":3,"details":{"role":"admin"}}"#
        );
        let parsed: LeafV1 = serde_json::from_str(&leaf).unwrap();
        assert_eq!(parsed.index, 7);
        assert_eq!(parsed.actor_token_id, Some(3));
        let none = entry_leaf(0, 1, "token_revoked", None, "{}");
        assert!(none.contains(r#""actor_token_id":null"#));
        for kind in AuditKind::ALL {
            assert_eq!(AuditKind::parse(kind.as_str()), Some(kind));
            assert_eq!(
                serde_json::to_value(kind).unwrap(),
                serde_json::Value::from(kind.as_str())
            );
        }
        assert_eq!(AuditKind::parse("token-created"), None);
    }

    #[test]
    fn secrets_are_spotted_at_any_depth() {
        let ok = serde_json::json!({"token_id": 4, "role": "admin", "sites": [1, 2]});
        assert_eq!(forbidden_detail_key(&ok), None);
        let deep = serde_json::json!({"a": [{"b": {"Location": "x"}}]});
        assert_eq!(forbidden_detail_key(&deep), Some("Location".into()));
        assert_eq!(
            forbidden_detail_key(&serde_json::json!({"salt": "1"})),
            Some("salt".into())
        );
    }
}
