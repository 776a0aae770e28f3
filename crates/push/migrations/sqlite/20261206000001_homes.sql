-- Where users live and how far their keyword alerts reach, learnt from accounts' events: a
-- keyword alert goes only to users whose reach takes in the deal's meeting place.
CREATE TABLE homes (
    user_id  BLOB PRIMARY KEY,
    lat      REAL NOT NULL,
    lon      REAL NOT NULL,
    reach_km INTEGER NOT NULL
);
