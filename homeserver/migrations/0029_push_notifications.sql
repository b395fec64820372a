-- What the push sender decided: each event that notified a user (GET
-- /notifications lists them, and the badge count is made of them), and
-- how far the sender has read the event stream, so a restart resumes it.
CREATE TABLE push_notifications (
    user_id    TEXT NOT NULL,
    stream     BIGINT NOT NULL,
    room_id    TEXT NOT NULL,
    event_id   TEXT NOT NULL,
    highlight  BIGINT NOT NULL,
    actions    TEXT NOT NULL,
    ts         BIGINT NOT NULL,
    PRIMARY KEY (user_id, stream)
);

-- Starts at the newest event: history from before pushers existed is not pushed.
INSERT INTO stream_counters (name, value) SELECT 'push_sender', COALESCE(MAX(stream), 0) FROM events;
