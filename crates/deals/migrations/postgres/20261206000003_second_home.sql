-- The name of the user's second neighbourhood, for the feed's 동네 menu (switch to it).
ALTER TABLE user_places ADD COLUMN second_name TEXT;
