-- Events scheduled to be sent later (MSC4140). A row is the event as the
-- client asked for it; it is sent, then deleted, once send_at has passed
-- (send_at moves on with each restart). state_event_id is the state the
-- event would replace, as it was when scheduled: a delayed state event
-- whose key someone has written since is dropped rather than sent.
CREATE TABLE delayed_events (
    delay_id       TEXT PRIMARY KEY,
    user_id        TEXT NOT NULL,
    device_id      TEXT NOT NULL,
    txn_id         TEXT,
    room_id        TEXT NOT NULL,
    event_type     TEXT NOT NULL,
    state_key      TEXT,
    state_event_id TEXT,
    content        TEXT NOT NULL,
    delay_ms       BIGINT NOT NULL,
    running_since  BIGINT NOT NULL,
    send_at        BIGINT NOT NULL
);
CREATE INDEX delayed_events_by_time ON delayed_events(send_at);
CREATE INDEX delayed_events_by_user ON delayed_events(user_id);
CREATE UNIQUE INDEX delayed_events_by_txn ON delayed_events(user_id, device_id, txn_id);
