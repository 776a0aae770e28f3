-- Who exists, learnt from accounts' UserRegistered events, so that a seller page can tell a user
-- without deals (an empty list) from a login id nobody has (404). Users seen before this table
-- existed are filled in from the deals they opened or joined.
CREATE TABLE known_users (
    user_id  BLOB PRIMARY KEY,
    login_id TEXT NOT NULL UNIQUE
);
INSERT INTO known_users (user_id, login_id)
    SELECT host_id, host_login_id FROM deals
    UNION
    SELECT user_id, login_id FROM deal_members
    WHERE true
ON CONFLICT DO NOTHING;
