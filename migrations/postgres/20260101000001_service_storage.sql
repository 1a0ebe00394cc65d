-- gridproof service storage, PostgreSQL (docs/service-storage.md explains every table).
-- Same tables, columns and meaning as migrations/sqlite: u64 identifiers (site_id, epoch) are
-- stored as the 64-bit two's-complement pattern in a BIGINT; times are Unix milliseconds; field
-- elements are 32 bytes big-endian; u32 arrays are 4 bytes big-endian per element. Every integer
-- column is BIGINT so that both backends decode to i64.

CREATE TABLE operators (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name            TEXT   NOT NULL UNIQUE,
    created_at_ms   BIGINT NOT NULL
);

-- Only the SHA-256 of a token is stored: a copy of the database yields no usable token.
CREATE TABLE api_tokens (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    token_sha256    BYTEA  NOT NULL UNIQUE CHECK (length(token_sha256) = 32),
    role            TEXT   NOT NULL CHECK (role IN ('admin', 'operator', 'regulator', 'protocol')),
    operator_id     BIGINT REFERENCES operators (id),
    label           TEXT   NOT NULL DEFAULT '',
    created_at_ms   BIGINT NOT NULL,
    revoked_at_ms   BIGINT,
    CHECK ((role = 'operator') = (operator_id IS NOT NULL))
);

-- The location (CEII) is only ever stored sealed (AEAD, key outside the database).
CREATE TABLE installations (
    site_id             BIGINT PRIMARY KEY,
    operator_id         BIGINT NOT NULL REFERENCES operators (id),
    meter_key_x         BYTEA  NOT NULL CHECK (length(meter_key_x) = 32),
    meter_key_y         BYTEA  NOT NULL CHECK (length(meter_key_y) = 32),
    capacity_w          BIGINT NOT NULL CHECK (capacity_w BETWEEN 0 AND 4294967295),
    prices_uusd_per_kwh BYTEA  NOT NULL CHECK (length(prices_uusd_per_kwh) % 4 = 0),
    location_sealed     BYTEA  NOT NULL,
    location_key_id     TEXT   NOT NULL,
    registered_at_ms    BIGINT NOT NULL
);
CREATE INDEX installations_by_operator ON installations (operator_id, site_id);

CREATE TABLE epochs (
    epoch            BIGINT PRIMARY KEY,
    interval_seconds BIGINT NOT NULL CHECK (interval_seconds BETWEEN 1 AND 4294967295),
    slots            BYTEA  NOT NULL,
    status           TEXT   NOT NULL
                     CHECK (status IN ('open', 'proving', 'proved', 'published', 'final', 'failed')),
    opened_at_ms     BIGINT NOT NULL,
    closed_at_ms     BIGINT,
    registry_root    BYTEA  CHECK (registry_root IS NULL OR length(registry_root) = 32),
    error            TEXT,
    updated_at_ms    BIGINT NOT NULL
);

-- One signed reading set per (site, epoch); body_sha256 makes a resubmission idempotent.
-- No foreign keys here, unlike SQLite: PostgreSQL checks them with a trigger query per row,
-- which cost 8 of 10.5 us per inserted row (measured with INSERT ... SELECT of 100,000 rows).
-- Store::insert_readings checks the epoch (under FOR SHARE) and the site inside the insert's
-- transaction instead, and the store never deletes installations or epochs.
CREATE TABLE readings (
    epoch            BIGINT NOT NULL,
    site_id          BIGINT NOT NULL,
    interval_seconds BIGINT NOT NULL,
    readings_wh      BYTEA  NOT NULL,
    signature        BYTEA  NOT NULL CHECK (length(signature) = 96),
    body_sha256      BYTEA  NOT NULL CHECK (length(body_sha256) = 32),
    received_at_ms   BIGINT NOT NULL,
    PRIMARY KEY (epoch, site_id)
);

CREATE TABLE batches (
    epoch           BIGINT NOT NULL REFERENCES epochs (epoch),
    batch_index     BIGINT NOT NULL CHECK (batch_index >= 0),
    status          TEXT   NOT NULL CHECK (status IN ('pending', 'proved', 'published', 'failed')),
    public_inputs   TEXT,
    proof           TEXT,
    tx_hash         BYTEA,
    error           TEXT,
    updated_at_ms   BIGINT NOT NULL,
    PRIMARY KEY (epoch, batch_index)
);

-- Registry position of a site in an epoch: batch_index * S + position.
CREATE TABLE batch_sites (
    epoch       BIGINT NOT NULL,
    batch_index BIGINT NOT NULL,
    position    BIGINT NOT NULL CHECK (position >= 0),
    site_id     BIGINT NOT NULL REFERENCES installations (site_id),
    PRIMARY KEY (epoch, batch_index, position),
    UNIQUE (epoch, site_id),
    FOREIGN KEY (epoch, batch_index) REFERENCES batches (epoch, batch_index)
);

-- Durable work queue (docs/service-storage.md, "Jobs"): a job is held under a lease that its
-- worker extends by heartbeats; (lease_owner, attempts) fences a worker whose lease was taken over.
CREATE TABLE jobs (
    id                  BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind                TEXT   NOT NULL,
    epoch               BIGINT NOT NULL REFERENCES epochs (epoch),
    batch_index         BIGINT,
    state               TEXT   NOT NULL CHECK (state IN ('queued', 'running', 'succeeded', 'failed')),
    attempts            BIGINT NOT NULL DEFAULT 0,
    max_attempts        BIGINT NOT NULL CHECK (max_attempts >= 1),
    run_after_ms        BIGINT NOT NULL,
    lease_owner         TEXT,
    lease_expires_at_ms BIGINT,
    last_error          TEXT,
    created_at_ms       BIGINT NOT NULL,
    updated_at_ms       BIGINT NOT NULL,
    finished_at_ms      BIGINT
);
CREATE UNIQUE INDEX jobs_one_per_subject ON jobs (kind, epoch, coalesce(batch_index, -1));
CREATE INDEX jobs_runnable ON jobs (state, id) WHERE state IN ('queued', 'running');
CREATE INDEX jobs_by_epoch ON jobs (epoch, id);
