-- Everyone the wallet knows, learnt from UserRegistered (or on first use).
CREATE TABLE holders (
    user_id   UUID PRIMARY KEY,
    login_id  TEXT NOT NULL UNIQUE,
    opened_at BIGINT NOT NULL
);

-- Ledger accounts: each holder has a wallet (coins) and a simulated bank account. The one system
-- account is where opening deposits come from; it is the only balance allowed below zero.
CREATE TABLE ledger_accounts (
    id      BIGSERIAL PRIMARY KEY,
    user_id UUID REFERENCES holders (user_id),
    kind    TEXT NOT NULL CHECK (kind IN ('wallet', 'bank', 'system')),
    balance BIGINT NOT NULL DEFAULT 0,
    CHECK (kind = 'system' OR balance >= 0),
    CHECK ((kind = 'system') = (user_id IS NULL)),
    UNIQUE (user_id, kind)
);
INSERT INTO ledger_accounts (id, user_id, kind, balance) VALUES (1, NULL, 'system', 0);
SELECT setval(pg_get_serial_sequence('ledger_accounts', 'id'), 1);

-- The journal: one row per movement, never changed or deleted.
CREATE TABLE journal_entries (
    seq          BIGSERIAL PRIMARY KEY,
    id           UUID NOT NULL UNIQUE,
    kind         TEXT NOT NULL CHECK (kind IN ('opening', 'charge', 'withdraw', 'transfer')),
    amount       BIGINT NOT NULL CHECK (amount > 0),
    initiator    UUID,
    counterparty UUID,
    memo         TEXT,
    deal_id      UUID,
    created_at   BIGINT NOT NULL
);

-- Double entry: the postings of one entry sum to zero (checked by `gonggu wallet verify`).
CREATE TABLE postings (
    entry_seq     BIGINT NOT NULL REFERENCES journal_entries (seq),
    account_id    BIGINT NOT NULL REFERENCES ledger_accounts (id),
    amount        BIGINT NOT NULL CHECK (amount <> 0),
    balance_after BIGINT NOT NULL,
    PRIMARY KEY (entry_seq, account_id)
);
CREATE INDEX postings_by_account ON postings (account_id, entry_seq);

CREATE FUNCTION reject_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% rows are immutable', TG_TABLE_NAME;
END;
$$;
CREATE TRIGGER journal_entries_immutable BEFORE UPDATE OR DELETE ON journal_entries
    FOR EACH ROW EXECUTE FUNCTION reject_change();
CREATE TRIGGER postings_immutable BEFORE UPDATE OR DELETE ON postings
    FOR EACH ROW EXECUTE FUNCTION reject_change();

-- Stored answers to money-moving requests, per user and key, kept at least 24 hours.
CREATE TABLE idempotency_keys (
    user_id      UUID NOT NULL,
    key          TEXT NOT NULL,
    request_hash BYTEA NOT NULL,
    status       INTEGER,
    body         TEXT,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (user_id, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

