-- Rooms: one per deal (the room id is the deal id), kept from deal events.
CREATE TABLE rooms (
    id          UUID PRIMARY KEY,
    title       TEXT NOT NULL,
    host_id     UUID NOT NULL,
    -- open: members talk; closed: the deal was cancelled or failed, the room is read-only.
    state       TEXT NOT NULL CHECK (state IN ('open', 'closed')),
    -- The seq of the newest message; the next one gets last_seq + 1, in the same transaction.
    last_seq    BIGINT NOT NULL DEFAULT 0 CHECK (last_seq >= 0),
    last_at     TIMESTAMPTZ NOT NULL,
    -- When deals' facts about the room were last applied (events may arrive out of order).
    facts_at    TIMESTAMPTZ NOT NULL
);

-- Who is in each room now. read_seq: the newest seq this member has read.
CREATE TABLE room_members (
    room_id   UUID NOT NULL REFERENCES rooms (id),
    user_id   UUID NOT NULL,
    login_id  TEXT NOT NULL,
    read_seq  BIGINT NOT NULL DEFAULT 0 CHECK (read_seq >= 0),
    joined_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (room_id, user_id)
);
CREATE INDEX room_members_user ON room_members (user_id);

-- Messages and notices, gap-free per room. A sender's client_id makes a resend the same message.
CREATE TABLE messages (
    room_id     UUID NOT NULL REFERENCES rooms (id),
    seq         BIGINT NOT NULL CHECK (seq > 0),
    kind        TEXT NOT NULL CHECK (kind IN ('text', 'image', 'notice')),
    sender_id   UUID,
    sender_login_id TEXT,
    client_id   TEXT,
    body        TEXT NOT NULL,
    image_key   TEXT,
    sent_at     TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (room_id, seq),
    CHECK ((kind = 'notice') = (sender_id IS NULL))
);
CREATE UNIQUE INDEX messages_client ON messages (room_id, sender_id, client_id) WHERE client_id IS NOT NULL;
