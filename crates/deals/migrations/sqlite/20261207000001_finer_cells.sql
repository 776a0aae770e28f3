-- Finer grid cells for the local feed: 1/64° (15,625 microdegrees, about 1.7 × 1.4 km) instead of
-- 0.125°. A 5 km reach touched up to four 14 × 11 km cells, a quarter of greater Seoul, and the
-- feed measured every open deal in them; now it reads the few dozen small cells the circle
-- covers. store::cell_at numbers them the same way: row × 23,040 + column, from whole
-- microdegrees offset to be non-negative.
UPDATE deals SET meeting_cell = ((meeting_lat_e6 + 90000000) / 15625) * 23040 + (meeting_lon_e6 + 180000000) / 15625
    WHERE meeting_lat_e6 IS NOT NULL AND meeting_lon_e6 IS NOT NULL;
-- The cell first, so that the cells are index ranges whatever the status filter; the status, the
-- point and seq in the index, so that the status and distance tests and the newest-first cut read
-- the index alone and only the page's rows are read from the table. `status`, not `is_open`: an
-- index holding a generated column is never covering in SQLite (it counts the column as reading
-- `status` from the table).
DROP INDEX deals_open_by_cell;
CREATE INDEX deals_by_cell ON deals (meeting_cell, status, meeting_lat_e6, meeting_lon_e6, seq);
