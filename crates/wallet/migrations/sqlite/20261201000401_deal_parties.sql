-- Who may tag a transfer with a deal: the deal's host and its members, as deals' events last said.
-- `updated_at` (Unix ms of that event) keeps an older event from undoing a newer one.
CREATE TABLE deal_parties (
    deal_id    BLOB PRIMARY KEY NOT NULL,
    host_id    BLOB NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE deal_party_members (
    deal_id BLOB NOT NULL REFERENCES deal_parties (deal_id),
    user_id BLOB NOT NULL,
    PRIMARY KEY (deal_id, user_id)
);
