-- `sort=nearest` orders by a whole number that Rust, SQLite and PostgreSQL compute alike from
-- whole microdegrees (see store::nearest_key): a float cast to an integer rounds on PostgreSQL
-- and truncates on SQLite, so a cursor made from it repeated or skipped deals. The store fills
-- these from meeting_lat/meeting_lon, for older deals when it opens.
ALTER TABLE deals ADD COLUMN meeting_lat_e6 BIGINT;
ALTER TABLE deals ADD COLUMN meeting_lon_e6 BIGINT;
