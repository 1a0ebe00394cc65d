-- Selective disclosure to regulators, PostgreSQL (docs/service-api.md, "Disclosures"; DESIGN.md,
-- "Selective disclosure"). Same conventions as 20260101000001_service_storage.sql; expiries are
-- Unix seconds (what the bundle binds), other times Unix milliseconds.

-- A regulator and the X25519 public key its bundles are encrypted to.
CREATE TABLE regulators (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name            TEXT    NOT NULL UNIQUE CHECK (length(name) > 0),
    public_key      BYTEA   NOT NULL CHECK (length(public_key) = 32),
    created_at_ms   BIGINT  NOT NULL
);

-- The regulator a token of role regulator acts for: at most one per token (the primary key).
-- Rows are only written with the token, in the same transaction, by POST /v1/regulators.
CREATE TABLE regulator_tokens (
    token_id        BIGINT  PRIMARY KEY REFERENCES api_tokens (id),
    regulator_id    BIGINT  NOT NULL REFERENCES regulators (id)
);
CREATE INDEX regulator_tokens_by_regulator ON regulator_tokens (regulator_id);

-- One request for (site, epoch). `state` is what was decided; "expired" is derived from
-- expires_at_s and the clock, never stored. A decision is final.
CREATE TABLE disclosures (
    id                  TEXT    PRIMARY KEY CHECK (length(id) = 36 AND substr(id, 1, 4) = 'dsc_'),
    regulator_id        BIGINT  NOT NULL REFERENCES regulators (id),
    requested_by        BIGINT  NOT NULL REFERENCES api_tokens (id),
    site_id             BIGINT  NOT NULL REFERENCES installations (site_id),
    epoch               BIGINT  NOT NULL REFERENCES epochs (epoch),
    legal_basis         TEXT    NOT NULL CHECK (length(legal_basis) > 0),
    reason              TEXT    NOT NULL,
    expires_at_s        BIGINT  NOT NULL CHECK (expires_at_s > 0),
    state               TEXT    NOT NULL CHECK (state IN ('pending', 'granted', 'refused')),
    decided_by          BIGINT  REFERENCES api_tokens (id),
    decision_reason     TEXT,
    decided_at_ms       BIGINT,
    downloads           BIGINT  NOT NULL DEFAULT 0 CHECK (downloads >= 0),
    last_download_at_ms BIGINT,
    created_at_ms       BIGINT  NOT NULL,
    updated_at_ms       BIGINT  NOT NULL,
    CHECK ((state = 'pending') = (decided_at_ms IS NULL)),
    CHECK ((state = 'pending') = (decided_by IS NULL)),
    CHECK ((state = 'pending') = (decision_reason IS NULL)),
    CHECK (state = 'granted' OR downloads = 0)
);
CREATE INDEX disclosures_by_site ON disclosures (site_id, created_at_ms);
CREATE INDEX disclosures_by_regulator ON disclosures (regulator_id, created_at_ms);
