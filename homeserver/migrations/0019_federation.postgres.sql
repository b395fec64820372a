-- Federation: other servers' keys, events known only as state or auth
-- (outliers), the outbound queue, and each room's current state group.

-- Each remote server's key document as it signed it.
CREATE TABLE remote_server_keys (
    server_name     TEXT PRIMARY KEY,
    keys_json       TEXT NOT NULL,
    valid_until_ts  BIGINT NOT NULL
);

-- Events of rooms joined over federation that are state or auth events
-- only, never part of this server's timeline.
CREATE TABLE outlier_events (
    event_id  TEXT PRIMARY KEY,
    room_id   TEXT NOT NULL,
    pdu       TEXT NOT NULL
);

-- What is still to be sent to each server, in order; rows leave once the
-- destination acknowledged the transaction carrying them.
CREATE TABLE federation_outbox (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    destination  TEXT NOT NULL,
    kind         TEXT NOT NULL,
    payload      TEXT NOT NULL
);
CREATE INDEX federation_outbox_destination ON federation_outbox(destination, id);

-- The state group of the room's current state (it differs from the latest
-- event's once branches of the event graph have been merged).
ALTER TABLE rooms ADD COLUMN current_group BIGINT;
UPDATE rooms SET current_group = (SELECT e.state_group FROM events e WHERE e.room_id = rooms.room_id ORDER BY e.stream DESC LIMIT 1);
