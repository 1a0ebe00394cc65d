-- Audit heads on-chain (docs/audit-log.md, "On-chain heads"): the publisher also anchors the
-- audit log's signed tree head on RevenueOracle (`publishAuditHead`), as rows of `publications`
-- with the same transaction life (built -> sent -> mined -> confirmed, or failed). Such a row
-- (kind `audit_head`) has no epoch and no batch; its subject is the tree size it publishes
-- (`audit_tree_size`), one row per size.
-- SQLite cannot change a column's NOT NULL or a CHECK in place: the table is rebuilt with the
-- same columns (plus audit_tree_size), rows and indexes. Nothing references publications.
CREATE TABLE publications_v2 (
    id                       INTEGER PRIMARY KEY AUTOINCREMENT,
    epoch                    INTEGER REFERENCES epochs (epoch),
    kind                     TEXT    NOT NULL
                             CHECK (kind IN ('open_epoch', 'submit_batch', 'audit_head')),
    batch_index              INTEGER CHECK (batch_index >= 0),
    state                    TEXT    NOT NULL
                             CHECK (state IN ('built', 'sent', 'mined', 'confirmed', 'failed')),
    chain_id                 INTEGER NOT NULL,
    sender                   BLOB    NOT NULL CHECK (length(sender) = 20),
    contract                 BLOB    NOT NULL CHECK (length(contract) = 20),
    calldata                 BLOB    NOT NULL,
    nonce                    INTEGER,
    tx_hash                  BLOB    CHECK (tx_hash IS NULL OR length(tx_hash) = 32),
    raw_tx                   BLOB,
    gas_limit                INTEGER,
    max_fee_per_gas          INTEGER,
    max_priority_fee_per_gas INTEGER,
    previous_tx_hashes       BLOB    NOT NULL DEFAULT x'' CHECK (length(previous_tx_hashes) % 32 = 0),
    replacements             INTEGER NOT NULL DEFAULT 0,
    sent_at_ms               INTEGER,
    block_number             INTEGER,
    accepted_elsewhere       INTEGER NOT NULL DEFAULT 0 CHECK (accepted_elsewhere IN (0, 1)),
    error                    TEXT,
    created_at_ms            INTEGER NOT NULL,
    updated_at_ms            INTEGER NOT NULL,
    audit_tree_size          INTEGER CHECK (audit_tree_size > 0),
    CHECK ((kind = 'submit_batch') = (batch_index IS NOT NULL)),
    CHECK ((kind = 'audit_head') = (audit_tree_size IS NOT NULL)
           AND (kind = 'audit_head') = (epoch IS NULL)),
    CHECK (state IN ('built', 'failed') OR accepted_elsewhere = 1
           OR (nonce IS NOT NULL AND tx_hash IS NOT NULL AND raw_tx IS NOT NULL))
);
INSERT INTO publications_v2 (id, epoch, kind, batch_index, state, chain_id, sender, contract,
    calldata, nonce, tx_hash, raw_tx, gas_limit, max_fee_per_gas, max_priority_fee_per_gas,
    previous_tx_hashes, replacements, sent_at_ms, block_number, accepted_elsewhere, error,
    created_at_ms, updated_at_ms)
SELECT id, epoch, kind, batch_index, state, chain_id, sender, contract,
    calldata, nonce, tx_hash, raw_tx, gas_limit, max_fee_per_gas, max_priority_fee_per_gas,
    previous_tx_hashes, replacements, sent_at_ms, block_number, accepted_elsewhere, error,
    created_at_ms, updated_at_ms
FROM publications;
DROP TABLE publications;
ALTER TABLE publications_v2 RENAME TO publications;
CREATE UNIQUE INDEX publications_subject ON publications (epoch, kind, COALESCE(batch_index, -1));
CREATE INDEX publications_by_sender ON publications (sender, state, nonce);
CREATE UNIQUE INDEX publications_audit_head ON publications (audit_tree_size)
    WHERE kind = 'audit_head';
