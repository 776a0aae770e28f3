CREATE TABLE users (
    id                UUID PRIMARY KEY,
    login_id          TEXT NOT NULL UNIQUE CHECK (length(login_id) BETWEEN 3 AND 20),
    email             TEXT NOT NULL UNIQUE,
    password_hash     TEXT NOT NULL,
    neighborhood_name TEXT,
    neighborhood_lat  DOUBLE PRECISION CHECK (neighborhood_lat BETWEEN -90 AND 90),
    neighborhood_lon  DOUBLE PRECISION CHECK (neighborhood_lon BETWEEN -180 AND 180),
    keywords          TEXT NOT NULL DEFAULT '[]',
    created_at        TIMESTAMPTZ NOT NULL,
    updated_at        TIMESTAMPTZ NOT NULL
);

-- A session is one refresh-token family: one login on one device.
CREATE TABLE sessions (
    id           UUID PRIMARY KEY,
    user_id      UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at   TIMESTAMPTZ NOT NULL,
    expires_at   TIMESTAMPTZ NOT NULL,
    last_used_at TIMESTAMPTZ NOT NULL,
    revoked_at   TIMESTAMPTZ,
    user_agent   TEXT,
    ip           TEXT
);
CREATE INDEX sessions_user ON sessions (user_id, revoked_at);

-- Only SHA-256 hashes of refresh tokens are stored. A used token stays as evidence for reuse detection.
CREATE TABLE refresh_tokens (
    token_hash BYTEA PRIMARY KEY,
    session_id UUID NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    created_at TIMESTAMPTZ NOT NULL,
    used_at    TIMESTAMPTZ
);
CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id);

CREATE TABLE one_time_codes (
    user_id      UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose      TEXT NOT NULL CHECK (purpose IN ('password_reset', 'email_change')),
    code_hash    BYTEA NOT NULL,
    target_email TEXT,
    expires_at   TIMESTAMPTZ NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, purpose)
);

