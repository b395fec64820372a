-- Receipts and presence, each with a position on its own sync stream.

CREATE TABLE receipts (
    room_id       TEXT NOT NULL,
    user_id       TEXT NOT NULL,
    receipt_type  TEXT NOT NULL,
    -- '' for unthreaded receipts.
    thread_id     TEXT NOT NULL,
    event_id      TEXT NOT NULL,
    ts            BIGINT NOT NULL,
    stream_id     BIGINT NOT NULL,
    PRIMARY KEY (room_id, user_id, receipt_type, thread_id)
);
CREATE INDEX receipts_stream ON receipts(stream_id);

CREATE TABLE presence (
    user_id         TEXT PRIMARY KEY,
    state           TEXT NOT NULL,
    status_msg      TEXT,
    last_active_at  BIGINT NOT NULL,
    stream_id       BIGINT NOT NULL
);
CREATE INDEX presence_stream ON presence(stream_id);

INSERT INTO stream_counters (name, value) VALUES ('receipts', 0);
INSERT INTO stream_counters (name, value) VALUES ('presence', 0);
