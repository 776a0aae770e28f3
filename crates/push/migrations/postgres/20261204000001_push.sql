-- Times are milliseconds since the Unix epoch on both engines, so comparisons are numeric.
-- The server's VAPID key (one row), made at first start unless configured.
CREATE TABLE vapid_keys (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    pkcs8      BYTEA NOT NULL,
    created_at BIGINT NOT NULL
);

-- A browser's push subscription; the endpoint is the device. It belongs to whoever registered
-- it last, under the session that did (that session's end removes it).
CREATE TABLE subscriptions (
    endpoint   TEXT PRIMARY KEY CHECK (length(endpoint) <= 2048),
    user_id    UUID NOT NULL,
    session_id UUID,
    p256dh     TEXT NOT NULL,
    auth       TEXT NOT NULL,
    origin     TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX subscriptions_user ON subscriptions (user_id);
CREATE INDEX subscriptions_session ON subscriptions (session_id);

-- What a user wants pushed; no row means the defaults (everything on, no quiet hours).
CREATE TABLE preferences (
    user_id     UUID PRIMARY KEY,
    deal        BOOLEAN NOT NULL,
    chat        BOOLEAN NOT NULL,
    keyword     BOOLEAN NOT NULL,
    wallet      BOOLEAN NOT NULL,
    -- Minutes after midnight, Seoul time; both or neither.
    quiet_start BIGINT CHECK (quiet_start BETWEEN 0 AND 1439),
    quiet_end   BIGINT CHECK (quiet_end BETWEEN 0 AND 1439),
    CHECK ((quiet_start IS NULL) = (quiet_end IS NULL))
);

CREATE TABLE muted_rooms (
    user_id UUID NOT NULL,
    room_id UUID NOT NULL,
    PRIMARY KEY (user_id, room_id)
);

-- Users' interest keywords, from accounts' KeywordsChanged; version says when the in-memory
-- matcher must be rebuilt.
CREATE TABLE user_keywords (
    user_id UUID NOT NULL,
    keyword TEXT NOT NULL,
    PRIMARY KEY (user_id, keyword)
);
CREATE TABLE keywords_version (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version BIGINT NOT NULL
);
INSERT INTO keywords_version (id, version) VALUES (1, 0);

-- The 알림 inbox: every notice, per user, kept 30 days. dedupe makes a notice once per user
-- (an event id, one keyword alert per deal, one open chat notice per room).
CREATE TABLE notifications (
    id         UUID PRIMARY KEY,
    user_id    UUID NOT NULL,
    kind       TEXT NOT NULL CHECK (kind IN ('deal', 'chat', 'keyword', 'wallet')),
    event      TEXT NOT NULL,
    title      TEXT NOT NULL,
    body       TEXT NOT NULL,
    url        TEXT NOT NULL,
    deal_id    UUID,
    keyword    TEXT,
    urgency    TEXT NOT NULL,
    dedupe     TEXT NOT NULL,
    -- Chat notices gather a room's messages while unread.
    count      BIGINT NOT NULL DEFAULT 1 CHECK (count >= 1),
    -- Pushes scheduled so far for this notice (chat: one round a minute at most).
    push_round BIGINT NOT NULL DEFAULT 0,
    pushed_at  BIGINT,
    read_at    BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (user_id, dedupe)
);
CREATE INDEX notifications_user ON notifications (user_id, updated_at DESC, id DESC);
CREATE INDEX notifications_unread ON notifications (user_id) WHERE read_at IS NULL;
CREATE INDEX notifications_age ON notifications (updated_at);

-- One push of one notice (round) to one device. state: pending → sending → sent, or gone (the
-- device unsubscribed), failed (gave up), abandoned (the sender died mid-send: never resent, so
-- a device hears a notice at most once).
CREATE TABLE deliveries (
    notification_id UUID NOT NULL REFERENCES notifications (id) ON DELETE CASCADE,
    round           BIGINT NOT NULL,
    endpoint        TEXT NOT NULL,
    origin          TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('pending', 'sending', 'sent', 'gone', 'failed', 'abandoned')),
    attempts        BIGINT NOT NULL DEFAULT 0,
    due_at          BIGINT NOT NULL,
    lease_until     BIGINT,
    last_status     BIGINT,
    -- Which claim took it to send (the claimer reads back its own rows).
    claim_id        UUID,
    PRIMARY KEY (notification_id, round, endpoint)
);
CREATE INDEX deliveries_due ON deliveries (state, due_at);
