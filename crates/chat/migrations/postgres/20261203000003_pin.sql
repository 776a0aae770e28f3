-- The one notice the host pins at the top of the room (pickup place and time, say).
ALTER TABLE rooms ADD COLUMN pinned_body TEXT;
ALTER TABLE rooms ADD COLUMN pinned_at TIMESTAMPTZ;
