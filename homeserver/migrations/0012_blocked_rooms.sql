-- Rooms shut down by an admin: nobody on this server may join them again.
CREATE TABLE blocked_rooms (
    room_id     TEXT PRIMARY KEY,
    blocked_by  TEXT NOT NULL,
    blocked_at  BIGINT NOT NULL
);
