-- Transfers tagged with a deal, from a member to its host, learnt from wallet's CoinsReceived:
-- a member's `paid` is the sum of theirs (DESIGN §4). One row per wallet entry, so an event
-- delivered twice counts once.
CREATE TABLE deal_payments (
    entry_id BLOB PRIMARY KEY,
    deal_id  BLOB NOT NULL REFERENCES deals (id),
    user_id  BLOB NOT NULL,
    amount   BIGINT NOT NULL CHECK (amount > 0),
    paid_at  BIGINT NOT NULL
);
CREATE INDEX deal_payments_member ON deal_payments (deal_id, user_id);
