-- gridproof service storage, SQLite (docs/service-storage.md explains every table).
-- Conventions shared with migrations/postgres: u64 identifiers (site_id, epoch) are stored as
-- the 64-bit two's-complement pattern in a signed 64-bit integer; times are Unix milliseconds;
-- field elements are 32 bytes big-endian; u32 arrays are 4 bytes big-endian per element.

CREATE TABLE operators (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    name            TEXT    NOT NULL UNIQUE,
    created_at_ms   INTEGER NOT NULL
);

-- Only the SHA-256 of a token is stored: a copy of the database yields no usable token.
CREATE TABLE api_tokens (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    token_sha256    BLOB    NOT NULL UNIQUE CHECK (length(token_sha256) = 32),
    role            TEXT    NOT NULL CHECK (role IN ('admin', 'operator', 'regulator', 'protocol')),
    operator_id     INTEGER REFERENCES operators (id),
    label           TEXT    NOT NULL DEFAULT '',
    created_at_ms   INTEGER NOT NULL,
    revoked_at_ms   INTEGER,
    CHECK ((role = 'operator') = (operator_id IS NOT NULL))
);

-- The location (CEII) is only ever stored sealed (AEAD, key outside the database).
CREATE TABLE installations (
    site_id             INTEGER PRIMARY KEY,
    operator_id         INTEGER NOT NULL REFERENCES operators (id),
    meter_key_x         BLOB    NOT NULL CHECK (length(meter_key_x) = 32),
    meter_key_y         BLOB    NOT NULL CHECK (length(meter_key_y) = 32),
    capacity_w          INTEGER NOT NULL CHECK (capacity_w BETWEEN 0 AND 4294967295),
    prices_uusd_per_kwh BLOB    NOT NULL CHECK (length(prices_uusd_per_kwh) % 4 = 0),
    location_sealed     BLOB    NOT NULL,
    location_key_id     TEXT    NOT NULL,
    registered_at_ms    INTEGER NOT NULL
);
CREATE INDEX installations_by_operator ON installations (operator_id, site_id);

CREATE TABLE epochs (
    epoch            INTEGER PRIMARY KEY,
    interval_seconds INTEGER NOT NULL CHECK (interval_seconds BETWEEN 1 AND 4294967295),
    slots            BLOB    NOT NULL,
    status           TEXT    NOT NULL
                     CHECK (status IN ('open', 'proving', 'proved', 'published', 'final', 'failed')),
    opened_at_ms     INTEGER NOT NULL,
    closed_at_ms     INTEGER,
    registry_root    BLOB    CHECK (registry_root IS NULL OR length(registry_root) = 32),
    error            TEXT,
    updated_at_ms    INTEGER NOT NULL
);

-- One signed reading set per (site, epoch); body_sha256 makes a resubmission idempotent.
CREATE TABLE readings (
    epoch            INTEGER NOT NULL REFERENCES epochs (epoch),
    site_id          INTEGER NOT NULL REFERENCES installations (site_id),
    interval_seconds INTEGER NOT NULL,
    readings_wh      BLOB    NOT NULL,
    signature        BLOB    NOT NULL CHECK (length(signature) = 96),
    body_sha256      BLOB    NOT NULL CHECK (length(body_sha256) = 32),
    received_at_ms   INTEGER NOT NULL,
    PRIMARY KEY (epoch, site_id)
) WITHOUT ROWID;

CREATE TABLE batches (
    epoch           INTEGER NOT NULL REFERENCES epochs (epoch),
    batch_index     INTEGER NOT NULL CHECK (batch_index >= 0),
    status          TEXT    NOT NULL CHECK (status IN ('pending', 'proved', 'published', 'failed')),
    public_inputs   TEXT,
    proof           TEXT,
    tx_hash         BLOB,
    error           TEXT,
    updated_at_ms   INTEGER NOT NULL,
    PRIMARY KEY (epoch, batch_index)
);

-- Registry position of a site in an epoch: batch_index * S + position.
CREATE TABLE batch_sites (
    epoch       INTEGER NOT NULL,
    batch_index INTEGER NOT NULL,
    position    INTEGER NOT NULL CHECK (position >= 0),
    site_id     INTEGER NOT NULL REFERENCES installations (site_id),
    PRIMARY KEY (epoch, batch_index, position),
    UNIQUE (epoch, site_id),
    FOREIGN KEY (epoch, batch_index) REFERENCES batches (epoch, batch_index)
);

-- Durable work queue (docs/service-storage.md, "Jobs"): a job is held under a lease that its
-- worker extends by heartbeats; (lease_owner, attempts) fences a worker whose lease was taken over.
CREATE TABLE jobs (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    kind                TEXT    NOT NULL,
    epoch               INTEGER NOT NULL REFERENCES epochs (epoch),
    batch_index         INTEGER,
    state               TEXT    NOT NULL CHECK (state IN ('queued', 'running', 'succeeded', 'failed')),
    attempts            INTEGER NOT NULL DEFAULT 0,
    max_attempts        INTEGER NOT NULL CHECK (max_attempts >= 1),
    run_after_ms        INTEGER NOT NULL,
    lease_owner         TEXT,
    lease_expires_at_ms INTEGER,
    last_error          TEXT,
    created_at_ms       INTEGER NOT NULL,
    updated_at_ms       INTEGER NOT NULL,
    finished_at_ms      INTEGER
);
CREATE UNIQUE INDEX jobs_one_per_subject ON jobs (kind, epoch, coalesce(batch_index, -1));
CREATE INDEX jobs_runnable ON jobs (state, id) WHERE state IN ('queued', 'running');
CREATE INDEX jobs_by_epoch ON jobs (epoch, id);
