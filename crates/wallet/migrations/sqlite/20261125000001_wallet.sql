-- Everyone the wallet knows, learnt from UserRegistered (or on first use).
CREATE TABLE holders (
    user_id   BLOB PRIMARY KEY NOT NULL,
    login_id  TEXT NOT NULL UNIQUE,
    opened_at INTEGER NOT NULL
);

-- Ledger accounts: each holder has a wallet (coins) and a simulated bank account. The one system
-- account is where opening deposits come from; it is the only balance allowed below zero.
CREATE TABLE ledger_accounts (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id BLOB REFERENCES holders (user_id),
    kind    TEXT NOT NULL CHECK (kind IN ('wallet', 'bank', 'system')),
    balance INTEGER NOT NULL DEFAULT 0,
    CHECK (kind = 'system' OR balance >= 0),
    CHECK ((kind = 'system') = (user_id IS NULL)),
    UNIQUE (user_id, kind)
);
INSERT INTO ledger_accounts (id, user_id, kind, balance) VALUES (1, NULL, 'system', 0);

-- The journal: one row per movement, never changed or deleted.
CREATE TABLE journal_entries (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    id           BLOB NOT NULL UNIQUE,
    kind         TEXT NOT NULL CHECK (kind IN ('opening', 'charge', 'withdraw', 'transfer')),
    amount       INTEGER NOT NULL CHECK (amount > 0),
    initiator    BLOB,
    counterparty BLOB,
    memo         TEXT,
    deal_id      BLOB,
    created_at   INTEGER NOT NULL
);

-- Double entry: the postings of one entry sum to zero (checked by `gonggu wallet verify`).
CREATE TABLE postings (
    entry_seq     INTEGER NOT NULL REFERENCES journal_entries (seq),
    account_id    INTEGER NOT NULL REFERENCES ledger_accounts (id),
    amount        INTEGER NOT NULL CHECK (amount <> 0),
    balance_after INTEGER NOT NULL,
    PRIMARY KEY (entry_seq, account_id)
);
CREATE INDEX postings_by_account ON postings (account_id, entry_seq);

CREATE TRIGGER journal_entries_immutable_update BEFORE UPDATE ON journal_entries
BEGIN SELECT RAISE(ABORT, 'journal entries are immutable'); END;
CREATE TRIGGER journal_entries_immutable_delete BEFORE DELETE ON journal_entries
BEGIN SELECT RAISE(ABORT, 'journal entries are immutable'); END;
CREATE TRIGGER postings_immutable_update BEFORE UPDATE ON postings
BEGIN SELECT RAISE(ABORT, 'postings are immutable'); END;
CREATE TRIGGER postings_immutable_delete BEFORE DELETE ON postings
BEGIN SELECT RAISE(ABORT, 'postings are immutable'); END;

-- Stored answers to money-moving requests, per user and key, kept at least 24 hours.
CREATE TABLE idempotency_keys (
    user_id      BLOB NOT NULL,
    key          TEXT NOT NULL,
    request_hash BLOB NOT NULL,
    status       INTEGER,
    body         TEXT,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (user_id, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

