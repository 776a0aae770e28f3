-- A second neighbourhood (work, parents' home) the user can switch to; the first is the active
-- one. Same shape as the neighborhood_* columns, without a reach (the reach is the user's).
ALTER TABLE users ADD COLUMN second_name TEXT;
ALTER TABLE users ADD COLUMN second_lat DOUBLE PRECISION CHECK (second_lat BETWEEN -90 AND 90);
ALTER TABLE users ADD COLUMN second_lon DOUBLE PRECISION CHECK (second_lon BETWEEN -180 AND 180);
ALTER TABLE users ADD COLUMN second_code TEXT CHECK (second_code ~ '^[0-9]{8}$');
ALTER TABLE users ADD COLUMN second_verified_at TIMESTAMPTZ;
