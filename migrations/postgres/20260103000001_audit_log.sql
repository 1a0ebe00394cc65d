-- The tamper-evident audit log, PostgreSQL (docs/audit-log.md). An RFC 6962 Merkle log: entries
-- in order, and the hash of every complete subtree (level 0: the leaf hashes) so that any proof or
-- past root is O(log n) indexed reads. Rows are only ever inserted (by the store, under
-- pg_advisory_xact_lock, one append at a time); a row changed or removed behind its back is what
-- `gridproof audit verify` detects. No secret, token or location is ever written here.

CREATE TABLE audit_entries (
    idx             BIGINT PRIMARY KEY CHECK (idx >= 0),
    created_at_ms   BIGINT NOT NULL,
    kind            TEXT   NOT NULL CHECK (length(kind) > 0),
    actor_token_id  BIGINT,
    -- The details' JSON text exactly as appended (TEXT, not JSONB: the leaf hashes this text).
    details         TEXT   NOT NULL
);

CREATE TABLE audit_nodes (
    level           INTEGER NOT NULL CHECK (level BETWEEN 0 AND 63),
    idx             BIGINT  NOT NULL CHECK (idx >= 0),
    hash            BYTEA   NOT NULL CHECK (length(hash) = 32),
    PRIMARY KEY (level, idx)
);
