-- Reports of events and rooms, for the server's moderators.
CREATE TABLE reports (
    received_at  BIGINT NOT NULL,
    reporter     TEXT NOT NULL,
    room_id      TEXT NOT NULL,
    -- NULL for a report about the whole room.
    event_id     TEXT,
    reason       TEXT
);
CREATE INDEX reports_received ON reports(received_at);
