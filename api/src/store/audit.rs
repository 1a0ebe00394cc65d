//! The audit log's storage (docs/audit-log.md): entries in `audit_entries`, and in `audit_nodes`
//! the hash of every complete subtree of the RFC 6962 tree (leaf hashes at level 0). Complete
//! subtrees never change once written, so any inclusion or consistency proof, and the root of
//! any past tree size, is one indexed query of O(log n) rows ([`crate::audit::tree`] plans
//! which).
//!
//! Appends are serialised (SQLite: the single writer's `BEGIN IMMEDIATE`; PostgreSQL:
//! `pg_advisory_xact_lock` on [`AUDIT_LOCK_KEY`]) and atomic: the entries and every node they
//! complete commit together, or nothing does. An action and its entry can share one
//! transaction: [`append_in_tx`] appends inside a `write_tx!` body (token creation does
//! this). Nothing here signs: heads are signed by the HTTP layer with a key kept out of the
//! database.

use std::collections::HashMap;

use crate::audit::tree::{self, Hash, LeafRange, Subtree};
use crate::audit::{entry_leaf, forbidden_detail_key, AuditKind};

use super::codec::unix_ms;
use super::tokens::{OperatorId, Role, TokenId};
use super::{read_pool, write_tx, Store, StoreError};

/// Key of the PostgreSQL advisory lock that serialises appends ("gpaudit" in ASCII).
pub const AUDIT_LOCK_KEY: i64 = 0x0067_7061_7564_6974;

/// Rows per multi-row `INSERT` on SQLite (5 parameters each; SQLite allows 32766).
const SQLITE_ROWS_PER_INSERT: usize = 1000;
/// Rows per `UNNEST` insert on PostgreSQL.
const PG_ROWS_PER_INSERT: usize = 20_000;

/// Something to record. Details are public to every token holder: ids, roles, states, reasons;
/// never a secret, a token, a location or a salt (keys named like those are refused).
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEvent {
    /// What happened.
    pub kind: AuditKind,
    /// The token that did it (`None`: the command line or the service itself).
    pub actor: Option<TokenId>,
    /// The non-secret details (a JSON object).
    pub details: serde_json::Value,
}

impl AuditEvent {
    /// An event of `kind` by `actor` with `details`.
    pub fn new(kind: AuditKind, actor: Option<TokenId>, details: serde_json::Value) -> Self {
        AuditEvent {
            kind,
            actor,
            details,
        }
    }

    /// Token `token` of `role` (for `operator`, labelled `label`) was made by `actor`.
    pub fn token_created(
        actor: Option<TokenId>,
        token: TokenId,
        role: Role,
        operator: Option<OperatorId>,
        label: &str,
    ) -> Self {
        AuditEvent::new(
            AuditKind::TokenCreated,
            actor,
            serde_json::json!({
                "token_id": token.0,
                "role": role.as_str(),
                "operator_id": operator.map(|o| o.0),
                "label": label,
            }),
        )
    }

    /// Token `token` was revoked by `actor`.
    pub fn token_revoked(actor: Option<TokenId>, token: TokenId) -> Self {
        AuditEvent::new(
            AuditKind::TokenRevoked,
            actor,
            serde_json::json!({ "token_id": token.0 }),
        )
    }

    /// Checks the details and fixes their text (what the leaf will hash).
    pub(crate) fn prepare(&self) -> Result<PreparedEvent, StoreError> {
        if !self.details.is_object() {
            return Err(StoreError::Invalid(
                "audit details must be a JSON object".into(),
            ));
        }
        if let Some(key) = forbidden_detail_key(&self.details) {
            return Err(StoreError::Invalid(format!(
                "audit details may not hold {key:?}: the log is readable by every token holder"
            )));
        }
        let details_json = serde_json::to_string(&self.details)
            .map_err(|e| StoreError::Invalid(format!("audit details: {e}")))?;
        Ok(PreparedEvent {
            kind: self.kind,
            actor: self.actor.map(|t| t.0),
            details_json,
        })
    }
}

/// An event ready to append (checked, details as text).
#[derive(Debug, Clone)]
pub(crate) struct PreparedEvent {
    pub(crate) kind: AuditKind,
    pub(crate) actor: Option<i64>,
    pub(crate) details_json: String,
}

/// An entry as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// Its position (from 0).
    pub index: u64,
    /// When it was appended (Unix ms).
    pub time_ms: i64,
    /// What it records.
    pub kind: AuditKind,
    /// The token that acted.
    pub actor: Option<TokenId>,
    /// The details' JSON text exactly as appended.
    pub details_json: String,
}

impl AuditEntry {
    /// The bytes its Merkle leaf hashes ([`entry_leaf`]).
    pub fn leaf(&self) -> String {
        entry_leaf(
            self.index,
            self.time_ms,
            self.kind.as_str(),
            self.actor.map(|t| t.0),
            &self.details_json,
        )
    }

    /// `SHA-256(0x00 || leaf)`.
    pub fn leaf_hash(&self) -> Hash {
        tree::leaf_hash(self.leaf().as_bytes())
    }

    /// The details as JSON.
    pub fn details(&self) -> Result<serde_json::Value, StoreError> {
        serde_json::from_str(&self.details_json)
            .map_err(|e| StoreError::corrupt("audit_entries.details", e.to_string()))
    }
}

/// The size and root of the log at some point (unsigned).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditRoot {
    /// Entries.
    pub tree_size: u64,
    /// Their RFC 6962 Merkle Tree Hash.
    pub root_hash: Hash,
}

/// An audit path with what it proves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InclusionProof {
    /// The entry.
    pub index: u64,
    /// The tree.
    pub tree_size: u64,
    /// The entry's leaf hash as stored.
    pub leaf_hash: Hash,
    /// The tree's root.
    pub root_hash: Hash,
    /// PATH(index, D[tree_size]).
    pub path: Vec<Hash>,
}

/// The in-memory part of an append: the new nodes, given the frontier (the complete subtrees of
/// the current root, left to right) and the new leaves' hashes starting at `first_index`.
/// Returns the nodes to insert and the new root.
pub(crate) fn grow(
    frontier: Vec<(Subtree, Hash)>,
    first_index: u64,
    leaves: &[Hash],
) -> (Vec<(Subtree, Hash)>, Hash) {
    let mut stack = frontier;
    let mut new_nodes = Vec::with_capacity(leaves.len() * 2);
    for (i, leaf) in leaves.iter().enumerate() {
        let mut node = (
            Subtree {
                level: 0,
                index: first_index + i as u64,
            },
            *leaf,
        );
        new_nodes.push(node);
        while let Some(&(top, top_hash)) = stack.last() {
            if top.level != node.0.level {
                break;
            }
            stack.pop();
            node = (
                Subtree {
                    level: top.level + 1,
                    index: top.index >> 1,
                },
                tree::node_hash(&top_hash, &node.1),
            );
            new_nodes.push(node);
        }
        stack.push(node);
    }
    let hashes: Vec<Hash> = stack.iter().map(|(_, h)| *h).collect();
    let root = tree::fold_subtrees(&hashes).unwrap_or_else(tree::empty_root);
    (new_nodes, root)
}

fn node_row(level: i32, index: i64, hash: Vec<u8>) -> Result<(Subtree, Hash), StoreError> {
    let hash: Hash = hash
        .try_into()
        .map_err(|_| StoreError::corrupt("audit_nodes.hash", "not 32 bytes"))?;
    if !(0..64).contains(&level) || index < 0 {
        return Err(StoreError::corrupt(
            "audit_nodes",
            format!("level {level} index {index}"),
        ));
    }
    Ok((
        Subtree {
            level: level as u32,
            index: index as u64,
        },
        hash,
    ))
}

/// The backend-specific steps of the log on one connection (a write transaction's for appends).
pub(crate) trait AuditConnection {
    /// Takes the append lock for the rest of the transaction (PostgreSQL; SQLite's write
    /// transaction already excludes every other writer).
    async fn lock_audit(&mut self) -> Result<(), StoreError>;
    /// The current size.
    async fn audit_size_in_tx(&mut self) -> Result<u64, StoreError>;
    /// The stored hashes of `subtrees` (one query).
    async fn audit_nodes_in_tx(
        &mut self,
        subtrees: &[Subtree],
    ) -> Result<HashMap<Subtree, Hash>, StoreError>;
    /// Inserts the entries (indices from `first`) and the nodes.
    async fn insert_audit(
        &mut self,
        first: u64,
        time_ms: i64,
        events: &[PreparedEvent],
        nodes: &[(Subtree, Hash)],
    ) -> Result<(), StoreError>;
}

fn nodes_from_rows(rows: Vec<(i32, i64, Vec<u8>)>) -> Result<HashMap<Subtree, Hash>, StoreError> {
    rows.into_iter()
        .map(|(level, idx, hash)| node_row(level, idx, hash))
        .collect()
}

const SIZE_SQL: &str = "SELECT COALESCE(MAX(idx) + 1, 0) FROM audit_entries";

fn size_from(size: i64) -> Result<u64, StoreError> {
    u64::try_from(size).map_err(|_| StoreError::corrupt("audit_entries.idx", "negative"))
}

impl AuditConnection for sqlx::PgConnection {
    async fn lock_audit(&mut self) -> Result<(), StoreError> {
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(AUDIT_LOCK_KEY)
            .execute(&mut *self)
            .await?;
        Ok(())
    }

    async fn audit_size_in_tx(&mut self) -> Result<u64, StoreError> {
        size_from(sqlx::query_scalar(SIZE_SQL).fetch_one(&mut *self).await?)
    }

    async fn audit_nodes_in_tx(
        &mut self,
        subtrees: &[Subtree],
    ) -> Result<HashMap<Subtree, Hash>, StoreError> {
        // One statement whatever the number of subtrees (prepared once per connection).
        let levels: Vec<i32> = subtrees.iter().map(|s| s.level as i32).collect();
        let idx: Vec<i64> = subtrees.iter().map(|s| s.index as i64).collect();
        let rows: Vec<(i32, i64, Vec<u8>)> = sqlx::query_as(
            "SELECT n.level, n.idx, n.hash FROM UNNEST($1::INT[], $2::BIGINT[]) AS w (level, idx) \
             JOIN audit_nodes n ON n.level = w.level AND n.idx = w.idx",
        )
        .bind(levels)
        .bind(idx)
        .fetch_all(&mut *self)
        .await?;
        nodes_from_rows(rows)
    }

    async fn insert_audit(
        &mut self,
        first: u64,
        time_ms: i64,
        events: &[PreparedEvent],
        nodes: &[(Subtree, Hash)],
    ) -> Result<(), StoreError> {
        for (c, chunk) in events.chunks(PG_ROWS_PER_INSERT).enumerate() {
            let base = first as i64 + (c * PG_ROWS_PER_INSERT) as i64;
            let idx: Vec<i64> = (0..chunk.len() as i64).map(|i| base + i).collect();
            let kinds: Vec<&str> = chunk.iter().map(|e| e.kind.as_str()).collect();
            let actors: Vec<Option<i64>> = chunk.iter().map(|e| e.actor).collect();
            let details: Vec<&str> = chunk.iter().map(|e| e.details_json.as_str()).collect();
            sqlx::query(
                "INSERT INTO audit_entries (idx, created_at_ms, kind, actor_token_id, details) \
                 SELECT i, $2, k, a, d FROM UNNEST($1::BIGINT[], $3::TEXT[], $4::BIGINT[], \
                 $5::TEXT[]) AS t (i, k, a, d)",
            )
            .bind(idx)
            .bind(time_ms)
            .bind(kinds)
            .bind(actors)
            .bind(details)
            .execute(&mut *self)
            .await?;
        }
        for chunk in nodes.chunks(PG_ROWS_PER_INSERT) {
            let levels: Vec<i32> = chunk.iter().map(|(s, _)| s.level as i32).collect();
            let idx: Vec<i64> = chunk.iter().map(|(s, _)| s.index as i64).collect();
            let hashes: Vec<Vec<u8>> = chunk.iter().map(|(_, h)| h.to_vec()).collect();
            sqlx::query(
                "INSERT INTO audit_nodes (level, idx, hash) \
                 SELECT * FROM UNNEST($1::INT[], $2::BIGINT[], $3::BYTEA[])",
            )
            .bind(levels)
            .bind(idx)
            .bind(hashes)
            .execute(&mut *self)
            .await?;
        }
        Ok(())
    }
}

impl AuditConnection for sqlx::SqliteConnection {
    async fn lock_audit(&mut self) -> Result<(), StoreError> {
        Ok(())
    }

    async fn audit_size_in_tx(&mut self) -> Result<u64, StoreError> {
        size_from(sqlx::query_scalar(SIZE_SQL).fetch_one(&mut *self).await?)
    }

    async fn audit_nodes_in_tx(
        &mut self,
        subtrees: &[Subtree],
    ) -> Result<HashMap<Subtree, Hash>, StoreError> {
        if subtrees.is_empty() {
            return Ok(HashMap::new());
        }
        let mut sql = String::from("SELECT level, idx, hash FROM audit_nodes WHERE ");
        for i in 0..subtrees.len() {
            if i > 0 {
                sql.push_str(" OR ");
            }
            sql.push_str("(level = ? AND idx = ?)");
        }
        let mut q = sqlx::query_as::<_, (i32, i64, Vec<u8>)>(sqlx::AssertSqlSafe(sql));
        for s in subtrees {
            q = q.bind(s.level as i32).bind(s.index as i64);
        }
        nodes_from_rows(q.fetch_all(&mut *self).await?)
    }

    async fn insert_audit(
        &mut self,
        first: u64,
        time_ms: i64,
        events: &[PreparedEvent],
        nodes: &[(Subtree, Hash)],
    ) -> Result<(), StoreError> {
        for (c, chunk) in events.chunks(SQLITE_ROWS_PER_INSERT).enumerate() {
            let sql = sqlite_insert_sql(
                "INSERT INTO audit_entries (idx, created_at_ms, kind, actor_token_id, details) \
                 VALUES ",
                "(?, ?, ?, ?, ?)",
                chunk.len(),
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (i, e) in chunk.iter().enumerate() {
                q = q
                    .bind(first as i64 + (c * SQLITE_ROWS_PER_INSERT + i) as i64)
                    .bind(time_ms)
                    .bind(e.kind.as_str())
                    .bind(e.actor)
                    .bind(e.details_json.as_str());
            }
            q.execute(&mut *self).await?;
        }
        for chunk in nodes.chunks(SQLITE_ROWS_PER_INSERT) {
            let sql = sqlite_insert_sql(
                "INSERT INTO audit_nodes (level, idx, hash) VALUES ",
                "(?, ?, ?)",
                chunk.len(),
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (s, h) in chunk {
                q = q.bind(s.level as i32).bind(s.index as i64).bind(h.to_vec());
            }
            q.execute(&mut *self).await?;
        }
        Ok(())
    }
}

fn sqlite_insert_sql(head: &str, row: &str, rows: usize) -> String {
    let mut sql = String::with_capacity(head.len() + rows * (row.len() + 2));
    sql.push_str(head);
    for i in 0..rows {
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push_str(row);
    }
    sql
}

/// Appends `events` (from [`AuditEvent::prepare`]) on the connection of a write transaction
/// (`&mut *tx` inside a `write_tx!` body), after taking the append lock; returns the first
/// index, the timestamp and the new root. Use it to record an action in the same transaction as
/// the action itself, so that neither commits without the other.
pub(crate) async fn append_in_tx<C: AuditConnection>(
    conn: &mut C,
    events: &[PreparedEvent],
) -> Result<(u64, i64, AuditRoot), StoreError> {
    conn.lock_audit().await?;
    let first = conn.audit_size_in_tx().await?;
    let frontier_trees = tree::subtrees_of(LeafRange {
        start: 0,
        end: first,
    });
    let found = conn.audit_nodes_in_tx(&frontier_trees).await?;
    let frontier = frontier_from(&frontier_trees, &found)?;
    let time_ms = unix_ms();
    let leaves: Vec<Hash> = events
        .iter()
        .enumerate()
        .map(|(i, e)| {
            tree::leaf_hash(
                entry_leaf(
                    first + i as u64,
                    time_ms,
                    e.kind.as_str(),
                    e.actor,
                    &e.details_json,
                )
                .as_bytes(),
            )
        })
        .collect();
    let (nodes, root) = grow(frontier, first, &leaves);
    conn.insert_audit(first, time_ms, events, &nodes).await?;
    Ok((
        first,
        time_ms,
        AuditRoot {
            tree_size: first + events.len() as u64,
            root_hash: root,
        },
    ))
}

/// The frontier's hashes in order; a missing node is corruption (the log was tampered with).
fn frontier_from(
    subtrees: &[Subtree],
    found: &HashMap<Subtree, Hash>,
) -> Result<Vec<(Subtree, Hash)>, StoreError> {
    subtrees
        .iter()
        .map(|s| {
            found.get(s).map(|h| (*s, *h)).ok_or_else(|| {
                StoreError::corrupt(
                    "audit_nodes",
                    format!("subtree level {} index {} is missing", s.level, s.index),
                )
            })
        })
        .collect()
}

#[derive(sqlx::FromRow)]
struct EntryRow {
    idx: i64,
    created_at_ms: i64,
    kind: String,
    actor_token_id: Option<i64>,
    details: String,
}

impl EntryRow {
    fn into_entry(self) -> Result<AuditEntry, StoreError> {
        Ok(AuditEntry {
            index: u64::try_from(self.idx)
                .map_err(|_| StoreError::corrupt("audit_entries.idx", "negative"))?,
            time_ms: self.created_at_ms,
            kind: AuditKind::parse(&self.kind)
                .ok_or_else(|| StoreError::corrupt("audit_entries.kind", self.kind.clone()))?,
            actor: self.actor_token_id.map(TokenId),
            details_json: self.details,
        })
    }
}

impl Store {
    /// Appends one entry (serialised with every other append, atomic) and returns it.
    pub async fn append_audit(&self, event: &AuditEvent) -> Result<AuditEntry, StoreError> {
        let prepared = [event.prepare()?];
        let (index, time_ms, _root) =
            write_tx!(self, |tx, _pg| append_in_tx(&mut *tx, &prepared).await?);
        let [p] = prepared;
        Ok(AuditEntry {
            index,
            time_ms,
            kind: p.kind,
            actor: p.actor.map(TokenId),
            details_json: p.details_json,
        })
    }

    /// Appends many entries in one transaction (imports, load tests): they get consecutive
    /// indices and one timestamp. Returns the new size and root.
    pub async fn append_audit_batch(&self, events: &[AuditEvent]) -> Result<AuditRoot, StoreError> {
        let prepared = events
            .iter()
            .map(AuditEvent::prepare)
            .collect::<Result<Vec<_>, _>>()?;
        let (_, _, root) = write_tx!(self, |tx, _pg| append_in_tx(&mut *tx, &prepared).await?);
        Ok(root)
    }

    /// Entries in the log.
    pub async fn audit_size(&self) -> Result<u64, StoreError> {
        let size: i64 = read_pool!(self, |pool, _pg| {
            sqlx::query_scalar("SELECT COALESCE(MAX(idx) + 1, 0) FROM audit_entries")
                .fetch_one(pool)
                .await?
        });
        u64::try_from(size).map_err(|_| StoreError::corrupt("audit_entries.idx", "negative"))
    }

    /// The current size and root (sign it with [`crate::audit::AuditKey::sign_head`]).
    pub async fn audit_head(&self) -> Result<AuditRoot, StoreError> {
        let tree_size = self.audit_size().await?;
        self.audit_root(tree_size).await
    }

    /// The root of the log when it had `tree_size` entries (at most the current size).
    pub async fn audit_root(&self, tree_size: u64) -> Result<AuditRoot, StoreError> {
        let full = [LeafRange {
            start: 0,
            end: tree_size,
        }];
        let mut hashes = self.resolve_ranges(tree_size, &full, &[]).await?.0;
        Ok(AuditRoot {
            tree_size,
            root_hash: hashes.pop().unwrap_or_else(tree::empty_root),
        })
    }

    /// Entries `from..to` (`to` is clamped to the log's size), in order.
    pub async fn audit_entries(&self, from: u64, to: u64) -> Result<Vec<AuditEntry>, StoreError> {
        if to < from {
            return Err(StoreError::Invalid(format!(
                "audit entries {from}..{to}: the end is before the start"
            )));
        }
        let (from, to) = (
            i64::try_from(from).unwrap_or(i64::MAX),
            i64::try_from(to).unwrap_or(i64::MAX),
        );
        let rows: Vec<EntryRow> = read_pool!(self, |pool, _pg| {
            sqlx::query_as(
                "SELECT idx, created_at_ms, kind, actor_token_id, details FROM audit_entries \
                 WHERE idx >= $1 AND idx < $2 ORDER BY idx",
            )
            .bind(from)
            .bind(to)
            .fetch_all(pool)
            .await?
        });
        rows.into_iter().map(EntryRow::into_entry).collect()
    }

    /// The audit path of entry `index` in the tree of `tree_size` entries (at most the current
    /// size), with the leaf hash and root it connects.
    pub async fn audit_inclusion(
        &self,
        index: u64,
        tree_size: u64,
    ) -> Result<InclusionProof, StoreError> {
        let ranges = tree::inclusion_ranges(index, tree_size)
            .map_err(|e| StoreError::Invalid(e.to_string()))?;
        let leaf = Subtree { level: 0, index };
        let (path, found) = self.resolve_ranges(tree_size, &ranges, &[leaf]).await?;
        let leaf_hash = *found.get(&leaf).ok_or_else(|| {
            StoreError::corrupt("audit_nodes", format!("leaf {index} is missing"))
        })?;
        let root_hash = self.root_from(tree_size, &found)?;
        Ok(InclusionProof {
            index,
            tree_size,
            leaf_hash,
            root_hash,
            path,
        })
    }

    /// The consistency proof PROOF(from_size, D[to_size]) (0 < from_size <= to_size <= current
    /// size).
    pub async fn audit_consistency(
        &self,
        from_size: u64,
        to_size: u64,
    ) -> Result<Vec<Hash>, StoreError> {
        let ranges = tree::consistency_ranges(from_size, to_size)
            .map_err(|e| StoreError::Invalid(e.to_string()))?;
        Ok(self.resolve_ranges(to_size, &ranges, &[]).await?.0)
    }

    fn root_from(
        &self,
        tree_size: u64,
        found: &HashMap<Subtree, Hash>,
    ) -> Result<Hash, StoreError> {
        let full = [LeafRange {
            start: 0,
            end: tree_size,
        }];
        tree::resolve(&full, |s| found.get(&s).copied())
            .map(|mut v| v.pop().unwrap_or_else(tree::empty_root))
            .map_err(|e| StoreError::corrupt("audit_nodes", e.to_string()))
    }

    /// The hashes of `ranges` of the tree of `tree_size`, reading in one query every subtree
    /// they need plus `extra` and the root's subtrees; also returns what was read.
    async fn resolve_ranges(
        &self,
        tree_size: u64,
        ranges: &[LeafRange],
        extra: &[Subtree],
    ) -> Result<(Vec<Hash>, HashMap<Subtree, Hash>), StoreError> {
        let size = self.audit_size().await?;
        if tree_size > size {
            return Err(StoreError::NotFound {
                what: format!("an audit tree of {tree_size} entries (the log has {size})"),
            });
        }
        let mut all = tree::subtrees_needed(ranges);
        all.extend_from_slice(extra);
        all.extend(tree::subtrees_of(LeafRange {
            start: 0,
            end: tree_size,
        }));
        all.sort_unstable();
        all.dedup();
        let found: HashMap<Subtree, Hash> = read_pool!(self, |pool, _pg| {
            let mut conn = pool.acquire().await?;
            conn.audit_nodes_in_tx(&all).await?
        });
        let hashes = tree::resolve(ranges, |s| found.get(&s).copied())
            .map_err(|e| StoreError::corrupt("audit_nodes", e.to_string()))?;
        Ok((hashes, found))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn growing_matches_the_recursive_root() {
        let leaves: Vec<Hash> = (0..40u32)
            .map(|i| tree::leaf_hash(&i.to_be_bytes()))
            .collect();
        // Appending in uneven batches gives the same nodes and roots as the definition.
        let mut all: HashMap<Subtree, Hash> = HashMap::new();
        let mut size = 0u64;
        for batch in [1usize, 2, 5, 1, 8, 3, 20] {
            let trees = tree::subtrees_of(LeafRange {
                start: 0,
                end: size,
            });
            let frontier = frontier_from(&trees, &all).unwrap();
            let (nodes, root) = grow(
                frontier,
                size,
                &leaves[size as usize..size as usize + batch],
            );
            for (s, h) in nodes {
                assert_eq!(
                    h,
                    tree::root_of(&leaves[s.start() as usize..s.end() as usize])
                );
                assert!(all.insert(s, h).is_none(), "{s:?} written twice");
            }
            size += batch as u64;
            assert_eq!(root, tree::root_of(&leaves[..size as usize]));
        }
        // Every complete subtree is stored: 2n - popcount(n) nodes.
        assert_eq!(all.len() as u64, 2 * size - u64::from(size.count_ones()));
        assert!(frontier_from(&[Subtree { level: 9, index: 0 }], &all).is_err());
    }

    #[test]
    fn secret_details_are_refused() {
        let e = AuditEvent::new(
            AuditKind::DisclosureGranted,
            None,
            serde_json::json!({"site_id": 1, "location": [1, 2]}),
        );
        assert!(matches!(e.prepare(), Err(StoreError::Invalid(_))));
        let e = AuditEvent::new(AuditKind::DisclosureGranted, None, serde_json::json!([1]));
        assert!(e.prepare().is_err());
        let e = AuditEvent::token_created(None, TokenId(3), Role::Admin, None, "ops");
        let p = e.prepare().unwrap();
        assert!(p.details_json.contains("\"token_id\":3"));
    }
}
