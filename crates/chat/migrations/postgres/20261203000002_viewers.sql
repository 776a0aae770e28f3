-- Which sockets show which room right now (a tab with the room open and visible), on any
-- instance, so a message's event can say who needs no push for it. A socket refreshes its row
-- while it stays; a row not refreshed (its instance went away) no longer counts.
CREATE TABLE room_viewers (
    socket_id UUID PRIMARY KEY,
    room_id   UUID NOT NULL REFERENCES rooms (id),
    user_id   UUID NOT NULL,
    seen_at   TIMESTAMPTZ NOT NULL
);
CREATE INDEX room_viewers_room ON room_viewers (room_id, seen_at);
