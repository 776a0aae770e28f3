-- When each user signed up (the UserRegistered event's time, ms), for "since when" on seller
-- pages; unknown for users deals learnt of before.
ALTER TABLE known_users ADD COLUMN joined_at BIGINT;
