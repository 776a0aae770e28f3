CREATE TABLE users (
    id                BLOB PRIMARY KEY NOT NULL,
    login_id          TEXT NOT NULL UNIQUE CHECK (length(login_id) BETWEEN 3 AND 20),
    email             TEXT NOT NULL UNIQUE,
    password_hash     TEXT NOT NULL,
    neighborhood_name TEXT,
    neighborhood_lat  REAL CHECK (neighborhood_lat BETWEEN -90 AND 90),
    neighborhood_lon  REAL CHECK (neighborhood_lon BETWEEN -180 AND 180),
    keywords          TEXT NOT NULL DEFAULT '[]',
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL
);

-- A session is one refresh-token family: one login on one device.
CREATE TABLE sessions (
    id           BLOB PRIMARY KEY NOT NULL,
    user_id      BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at   TEXT NOT NULL,
    expires_at   TEXT NOT NULL,
    last_used_at TEXT NOT NULL,
    revoked_at   TEXT,
    user_agent   TEXT,
    ip           TEXT
);
CREATE INDEX sessions_user ON sessions (user_id, revoked_at);

-- Only SHA-256 hashes of refresh tokens are stored. A used token stays as evidence for reuse detection.
CREATE TABLE refresh_tokens (
    token_hash BLOB PRIMARY KEY NOT NULL,
    session_id BLOB NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    used_at    TEXT
);
CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id);

CREATE TABLE one_time_codes (
    user_id      BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose      TEXT NOT NULL CHECK (purpose IN ('password_reset', 'email_change')),
    code_hash    BLOB NOT NULL,
    target_email TEXT,
    expires_at   TEXT NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, purpose)
);

