-- Simplified sliding sync (MSC4186). A connection is one client's conn_id
-- on one device; each answer is a position (`pos`) holding the stream
-- positions it was made at and each list's room count. What was sent of a
-- room is a row per (connection, room, position that sent it), so that a
-- client retrying an older position (its answer lost on the way) finds
-- the state as of that position. Stored, so that positions survive restarts.
CREATE TABLE sliding_connections (
    conn_key   BIGINT PRIMARY KEY,
    user_id    TEXT NOT NULL,
    device_id  TEXT NOT NULL,
    conn_id    TEXT NOT NULL,
    last_used  BIGINT NOT NULL
);
CREATE UNIQUE INDEX sliding_connections_by_client ON sliding_connections(user_id, device_id, conn_id);

CREATE TABLE sliding_positions (
    pos         BIGINT PRIMARY KEY,
    conn_key    BIGINT NOT NULL,
    tokens      TEXT NOT NULL,
    list_counts TEXT NOT NULL
);
CREATE INDEX sliding_positions_by_connection ON sliding_positions(conn_key, pos);

CREATE TABLE sliding_rooms (
    conn_key   BIGINT NOT NULL,
    room_id    TEXT NOT NULL,
    pos        BIGINT NOT NULL,
    -- join, invite or leave: a change of membership sends the room afresh.
    membership TEXT NOT NULL,
    -- The event stream position the room's timeline was sent up to.
    stream     BIGINT NOT NULL,
    -- The required_state the room was sent with, so that a wider one sends
    -- the state not sent before, and the members sent for $LAZY (JSON).
    config     TEXT NOT NULL,
    PRIMARY KEY (conn_key, room_id, pos)
);

-- Connection keys and positions come from one counter.
INSERT INTO stream_counters (name, value) VALUES ('sliding_sync', 0);
