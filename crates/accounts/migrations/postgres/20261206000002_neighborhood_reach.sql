-- How far (km) the home feed and keyword alerts reach around the neighbourhood.
ALTER TABLE users ADD COLUMN neighborhood_reach_km BIGINT NOT NULL DEFAULT 5 CHECK (neighborhood_reach_km IN (1, 3, 5, 10));
