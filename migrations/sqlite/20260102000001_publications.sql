-- On-chain publication of proved epochs (docs/service-publisher.md): one row per transaction
-- subject, i.e. per (epoch, kind, batch): the epoch's opening on RevenueOracle (batch_index NULL)
-- and each batch's submission. The row is the transaction's life: built -> sent -> mined ->
-- confirmed (or failed), so a restarted publisher finds what it sent and never sends it twice.
-- Fees are wei per gas; hashes are 32 bytes; addresses 20 bytes.
CREATE TABLE publications (
    id                       INTEGER PRIMARY KEY AUTOINCREMENT,
    epoch                    INTEGER NOT NULL REFERENCES epochs (epoch),
    kind                     TEXT    NOT NULL CHECK (kind IN ('open_epoch', 'submit_batch')),
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
    CHECK ((kind = 'open_epoch') = (batch_index IS NULL)),
    CHECK (state IN ('built', 'failed') OR accepted_elsewhere = 1
           OR (nonce IS NOT NULL AND tx_hash IS NOT NULL AND raw_tx IS NOT NULL))
);
CREATE UNIQUE INDEX publications_subject ON publications (epoch, kind, COALESCE(batch_index, -1));
CREATE INDEX publications_by_sender ON publications (sender, state, nonce);
