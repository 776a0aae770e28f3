-- Raised with every change of a room's members, in the same transaction, so an instance can
-- keep a room's member list in memory and know from the room's row whether it is still current.
ALTER TABLE rooms ADD COLUMN members_version BIGINT NOT NULL DEFAULT 0;
