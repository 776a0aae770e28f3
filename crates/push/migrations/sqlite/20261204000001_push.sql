-- Times are milliseconds since the Unix epoch on both engines, so comparisons are numeric.
-- The server's VAPID key (one row), made at first start unless configured.
CREATE TABLE vapid_keys (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    pkcs8      BLOB NOT NULL,
    created_at INTEGER NOT NULL
);

-- A browser's push subscription; the endpoint is the device. It belongs to whoever registered
-- it last, under the session that did (that session's end removes it).
CREATE TABLE subscriptions (
    endpoint   TEXT PRIMARY KEY CHECK (length(endpoint) <= 2048),
    user_id    BLOB NOT NULL,
    session_id BLOB,
    p256dh     TEXT NOT NULL,
    auth       TEXT NOT NULL,
    origin     TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX subscriptions_user ON subscriptions (user_id);
CREATE INDEX subscriptions_session ON subscriptions (session_id);

-- What a user wants pushed; no row means the defaults (everything on, no quiet hours).
CREATE TABLE preferences (
    user_id     BLOB PRIMARY KEY,
    deal        BOOLEAN NOT NULL,
    chat        BOOLEAN NOT NULL,
    keyword     BOOLEAN NOT NULL,
    wallet      BOOLEAN NOT NULL,
    -- Minutes after midnight, Seoul time; both or neither.
    quiet_start INTEGER CHECK (quiet_start BETWEEN 0 AND 1439),
    quiet_end   INTEGER CHECK (quiet_end BETWEEN 0 AND 1439),
    CHECK ((quiet_start IS NULL) = (quiet_end IS NULL))
);

CREATE TABLE muted_rooms (
    user_id BLOB NOT NULL,
    room_id BLOB NOT NULL,
    PRIMARY KEY (user_id, room_id)
);

-- Users' interest keywords, from accounts' KeywordsChanged; version says when the in-memory
-- matcher must be rebuilt.
CREATE TABLE user_keywords (
    user_id BLOB NOT NULL,
    keyword TEXT NOT NULL,
    PRIMARY KEY (user_id, keyword)
);
CREATE TABLE keywords_version (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
);
INSERT INTO keywords_version (id, version) VALUES (1, 0);

-- The 알림 inbox: every notice, per user, kept 30 days. dedupe makes a notice once per user
-- (an event id, one keyword alert per deal, one open chat notice per room).
CREATE TABLE notifications (
    id         BLOB PRIMARY KEY,
    user_id    BLOB NOT NULL,
    kind       TEXT NOT NULL CHECK (kind IN ('deal', 'chat', 'keyword', 'wallet')),
    event      TEXT NOT NULL,
    title      TEXT NOT NULL,
    body       TEXT NOT NULL,
    url        TEXT NOT NULL,
    deal_id    BLOB,
    keyword    TEXT,
    urgency    TEXT NOT NULL,
    dedupe     TEXT NOT NULL,
    -- Chat notices gather a room's messages while unread.
    count      INTEGER NOT NULL DEFAULT 1 CHECK (count >= 1),
    -- Pushes scheduled so far for this notice (chat: one round a minute at most).
    push_round INTEGER NOT NULL DEFAULT 0,
    pushed_at  INTEGER,
    read_at    INTEGER,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (user_id, dedupe)
);
CREATE INDEX notifications_user ON notifications (user_id, updated_at DESC, id DESC);
CREATE INDEX notifications_unread ON notifications (user_id) WHERE read_at IS NULL;
CREATE INDEX notifications_age ON notifications (updated_at);

-- One push of one notice (round) to one device. state: pending → sending → sent, or gone (the
-- device unsubscribed), failed (gave up), abandoned (the sender died mid-send: never resent, so
-- a device hears a notice at most once).
CREATE TABLE deliveries (
    notification_id BLOB NOT NULL REFERENCES notifications (id) ON DELETE CASCADE,
    round           INTEGER NOT NULL,
    endpoint        TEXT NOT NULL,
    origin          TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('pending', 'sending', 'sent', 'gone', 'failed', 'abandoned')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    due_at          INTEGER NOT NULL,
    lease_until     INTEGER,
    last_status     INTEGER,
    -- Which claim took it to send (the claimer reads back its own rows).
    claim_id        BLOB,
    PRIMARY KEY (notification_id, round, endpoint)
);
CREATE INDEX deliveries_due ON deliveries (state, due_at);
