-- Where users live and how far their keyword alerts reach, learnt from accounts' events: a
-- keyword alert goes only to users whose reach takes in the deal's meeting place.
CREATE TABLE homes (
    user_id  UUID PRIMARY KEY,
    lat      DOUBLE PRECISION NOT NULL,
    lon      DOUBLE PRECISION NOT NULL,
    reach_km BIGINT NOT NULL
);
