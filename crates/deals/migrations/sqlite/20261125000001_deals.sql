CREATE TABLE categories (
    id   INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
);
CREATE TABLE units (
    name     TEXT PRIMARY KEY,
    position INTEGER NOT NULL
);
INSERT INTO categories (id, name) VALUES
    (1, '디지털기기'),
    (2, '생활가전'),
    (3, '가구/인테리어'),
    (4, '생활/주방'),
    (5, '유아동'),
    (6, '유아도서'),
    (7, '여성의류'),
    (8, '여성잡화'),
    (9, '남성패션/잡화'),
    (10, '뷰티/미용'),
    (11, '스포츠/레저'),
    (12, '취미/게임/음반'),
    (13, '도서'),
    (14, '티켓/교환권'),
    (15, '가공식품'),
    (16, '반려동물용품'),
    (17, '식물'),
    (18, '기타 물품');
INSERT INTO units (name, position) VALUES
    ('개', 1),
    ('권', 2),
    ('병', 3),
    ('장', 4),
    ('팩', 5),
    ('묶음', 6),
    ('박스', 7),
    ('세트', 8),
    ('자루', 9),
    ('켤레', 10),
    ('g', 11),
    ('kg', 12);

-- Times are UTC unix milliseconds: exact to compare and sort on both backends.
CREATE TABLE deals (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    id              BLOB NOT NULL UNIQUE,
    host_id         BLOB NOT NULL,
    host_login_id   TEXT NOT NULL,
    title           TEXT NOT NULL CHECK (length(title) BETWEEN 2 AND 60),
    description     TEXT NOT NULL,
    category_id     INTEGER NOT NULL REFERENCES categories (id),
    product_url     TEXT,
    total_price     BIGINT NOT NULL CHECK (total_price BETWEEN 100 AND 10000000),
    shares_total    INTEGER NOT NULL CHECK (shares_total BETWEEN 2 AND 100),
    shares_taken    INTEGER NOT NULL CHECK (shares_taken >= 0),
    min_shares      INTEGER NOT NULL,
    items_per_share INTEGER NOT NULL CHECK (items_per_share >= 1),
    unit            TEXT NOT NULL REFERENCES units (name),
    deadline        BIGINT NOT NULL,
    meeting_name    TEXT,
    meeting_lat     REAL,
    meeting_lon     REAL,
    keywords        TEXT NOT NULL DEFAULT '[]',
    images          TEXT NOT NULL DEFAULT '[]',
    status          TEXT NOT NULL CHECK (status IN ('recruiting', 'confirmed', 'completed', 'cancelled', 'failed')),
    is_open         INTEGER GENERATED ALWAYS AS (status IN ('recruiting', 'confirmed')) VIRTUAL,
    views           BIGINT NOT NULL DEFAULT 0,
    deadline_notice_sent BOOLEAN NOT NULL DEFAULT FALSE,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    -- No overbooking, whatever the code does.
    CHECK (shares_taken <= shares_total),
    CHECK (min_shares BETWEEN 2 AND shares_total)
);
CREATE INDEX deals_status_deadline ON deals (status, deadline);
-- The home page: open deals, newest first, without sorting every open deal.
CREATE INDEX deals_open_newest ON deals (is_open, seq);
CREATE INDEX deals_host ON deals (host_id, seq);

-- One row per member per deal; the host is a member too.
CREATE TABLE deal_members (
    deal_id   BLOB NOT NULL REFERENCES deals (id),
    user_id   BLOB NOT NULL,
    login_id  TEXT NOT NULL,
    shares    INTEGER NOT NULL CHECK (shares >= 1),
    is_host   BOOLEAN NOT NULL,
    joined_at BIGINT NOT NULL,
    PRIMARY KEY (deal_id, user_id)
);
CREATE INDEX deal_members_user ON deal_members (user_id);


-- One view per viewer per day (Asia/Seoul); `deals.views` counts the rows.
CREATE TABLE deal_views (
    deal_id TEXT NOT NULL,
    viewer  TEXT NOT NULL,
    day     TEXT NOT NULL,
    PRIMARY KEY (deal_id, viewer, day)
);

-- Where users live, learnt from accounts' UserRegistered and NeighborhoodChanged events
-- (for "nearest to me").
CREATE TABLE user_places (
    user_id BLOB PRIMARY KEY,
    lat     REAL NOT NULL,
    lon     REAL NOT NULL
);
