-- The 읍면동 (법정동 code) a neighbourhood is in, and when 동네 인증 last confirmed the user there.
ALTER TABLE users ADD COLUMN neighborhood_code TEXT CHECK (neighborhood_code ~ '^[0-9]{8}$');
ALTER TABLE users ADD COLUMN neighborhood_verified_at TIMESTAMPTZ;
