-- Selective disclosure to regulators, SQLite (docs/service-api.md, "Disclosures"; DESIGN.md,
-- "Selective disclosure"). Same conventions as 20260101000001_service_storage.sql; expiries are
-- Unix seconds (what the bundle binds), other times Unix milliseconds.

-- A regulator and the X25519 public key its bundles are encrypted to.
CREATE TABLE regulators (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    name            TEXT    NOT NULL UNIQUE CHECK (length(name) > 0),
    public_key      BLOB    NOT NULL CHECK (length(public_key) = 32),
    created_at_ms   INTEGER NOT NULL
);

-- The regulator a token of role regulator acts for: at most one per token (the primary key).
-- Rows are only written with the token, in the same transaction, by POST /v1/regulators.
CREATE TABLE regulator_tokens (
    token_id        INTEGER PRIMARY KEY REFERENCES api_tokens (id),
    regulator_id    INTEGER NOT NULL REFERENCES regulators (id)
);
CREATE INDEX regulator_tokens_by_regulator ON regulator_tokens (regulator_id);

-- One request for (site, epoch). `state` is what was decided; "expired" is derived from
-- expires_at_s and the clock, never stored. A decision is final.
CREATE TABLE disclosures (
    id                  TEXT    PRIMARY KEY CHECK (length(id) = 36 AND substr(id, 1, 4) = 'dsc_'),
    regulator_id        INTEGER NOT NULL REFERENCES regulators (id),
    requested_by        INTEGER NOT NULL REFERENCES api_tokens (id),
    site_id             INTEGER NOT NULL REFERENCES installations (site_id),
    epoch               INTEGER NOT NULL REFERENCES epochs (epoch),
    legal_basis         TEXT    NOT NULL CHECK (length(legal_basis) > 0),
    reason              TEXT    NOT NULL,
    expires_at_s        INTEGER NOT NULL CHECK (expires_at_s > 0),
    state               TEXT    NOT NULL CHECK (state IN ('pending', 'granted', 'refused')),
    decided_by          INTEGER REFERENCES api_tokens (id),
    decision_reason     TEXT,
    decided_at_ms       INTEGER,
    downloads           INTEGER NOT NULL DEFAULT 0 CHECK (downloads >= 0),
    last_download_at_ms INTEGER,
    created_at_ms       INTEGER NOT NULL,
    updated_at_ms       INTEGER NOT NULL,
    CHECK ((state = 'pending') = (decided_at_ms IS NULL)),
    CHECK ((state = 'pending') = (decided_by IS NULL)),
    CHECK ((state = 'pending') = (decision_reason IS NULL)),
    CHECK (state = 'granted' OR downloads = 0)
);
CREATE INDEX disclosures_by_site ON disclosures (site_id, created_at_ms);
CREATE INDEX disclosures_by_regulator ON disclosures (regulator_id, created_at_ms);
