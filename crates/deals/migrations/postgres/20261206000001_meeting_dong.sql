-- The 읍면동 (법정동 code) of the meeting place, and the grid cell of its point: the local feed
-- (deals within a reach of a neighbourhood) reads the few cells the reach covers through an
-- index instead of measuring the distance to every open deal. A cell is 0.125° × 0.125°
-- (about 14 × 11 km), numbered from whole microdegrees as store::cell_of does.
ALTER TABLE deals ADD COLUMN meeting_code TEXT;
ALTER TABLE deals ADD COLUMN meeting_cell BIGINT;
UPDATE deals SET meeting_cell = ((meeting_lat_e6 + 90000000) / 125000) * 4096 + (meeting_lon_e6 + 180000000) / 125000
    WHERE meeting_lat_e6 IS NOT NULL AND meeting_lon_e6 IS NOT NULL;
CREATE INDEX deals_open_by_cell ON deals (is_open, meeting_cell, seq);
-- How far each user's feed reaches (km), learnt with their neighbourhood.
ALTER TABLE user_places ADD COLUMN reach_km BIGINT NOT NULL DEFAULT 5;
