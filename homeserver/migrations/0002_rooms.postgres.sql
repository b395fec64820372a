-- Rooms and their events: the event graph, state at every event (as state
-- groups stored as deltas), the current state, and per-device txn ids.

CREATE TABLE server_signing_keys (
    key_id      TEXT PRIMARY KEY,
    -- PKCS#8 document, base64.
    secret      TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);

CREATE TABLE rooms (
    room_id       TEXT PRIMARY KEY,
    room_version  TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    -- Published in the public room directory.
    is_public     BIGINT NOT NULL DEFAULT 0
);

-- Every event, local or remote, in the order this server accepted them.
-- `stream` orders sync and pagination; `depth` is the graph position.
CREATE TABLE events (
    stream           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id         TEXT NOT NULL UNIQUE,
    room_id          TEXT NOT NULL,
    sender           TEXT NOT NULL,
    event_type       TEXT NOT NULL,
    state_key        TEXT,
    depth            BIGINT NOT NULL,
    origin_server_ts BIGINT NOT NULL,
    -- The PDU as signed (redacted in place once redacted).
    pdu              TEXT NOT NULL,
    -- State after this event.
    state_group      BIGINT NOT NULL,
    redacted_by      TEXT,
    -- Set for events this server's clients sent, to echo transaction ids.
    sender_device    TEXT,
    txn_id           TEXT
);
CREATE INDEX events_room_stream ON events(room_id, stream);
CREATE INDEX events_member ON events(room_id, event_type, state_key);

-- State groups: a delta on `parent`, or a full snapshot when parent is NULL.
CREATE TABLE state_groups (
    group_id   BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    room_id    TEXT NOT NULL,
    parent     BIGINT,
    -- Deltas since the last snapshot, to bound how far a lookup walks.
    chain_len  BIGINT NOT NULL
);

CREATE TABLE state_group_entries (
    group_id    BIGINT NOT NULL,
    event_type  TEXT NOT NULL,
    state_key   TEXT NOT NULL,
    event_id    TEXT NOT NULL,
    PRIMARY KEY (group_id, event_type, state_key)
);

-- The room's state now, derived from the events; membership is denormalised
-- so that "rooms where @u is joined" is one index lookup.
CREATE TABLE current_state (
    room_id     TEXT NOT NULL,
    event_type  TEXT NOT NULL,
    state_key   TEXT NOT NULL,
    event_id    TEXT NOT NULL,
    membership  TEXT,
    PRIMARY KEY (room_id, event_type, state_key)
);
CREATE INDEX current_state_member ON current_state(state_key, event_type, membership);

-- The events with no children yet: the next event's prev_events.
CREATE TABLE forward_extremities (
    room_id   TEXT NOT NULL,
    event_id  TEXT NOT NULL,
    PRIMARY KEY (room_id, event_id)
);

CREATE TABLE event_txns (
    user_id    TEXT NOT NULL,
    device_id  TEXT NOT NULL,
    txn_id     TEXT NOT NULL,
    event_id   TEXT NOT NULL,
    PRIMARY KEY (user_id, device_id, txn_id)
);

CREATE TABLE room_aliases (
    alias       TEXT PRIMARY KEY,
    room_id     TEXT NOT NULL,
    creator     TEXT NOT NULL
);
CREATE INDEX room_aliases_room ON room_aliases(room_id);

-- Rooms a user has forgotten (hidden from their sync and history).
CREATE TABLE forgotten_rooms (
    user_id  TEXT NOT NULL,
    room_id  TEXT NOT NULL,
    PRIMARY KEY (user_id, room_id)
);

-- Monotonic counters for the streams that sync follows besides events.
CREATE TABLE stream_counters (
    name   TEXT PRIMARY KEY,
    value  BIGINT NOT NULL
);
INSERT INTO stream_counters (name, value) VALUES ('account_data', 0);
ALTER TABLE account_data ADD COLUMN stream_id BIGINT NOT NULL DEFAULT 0;
CREATE INDEX account_data_stream ON account_data(user_id, stream_id);
