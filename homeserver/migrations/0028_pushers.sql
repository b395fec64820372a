-- Where a user's notifications are pushed: one row per (user, app id,
-- pushkey). The pusher is kept as the client set it (JSON) and handed back
-- by GET /pushers; kind and url are columns for the push sender. A pusher
-- goes with the device that set it, and pushes only events after
-- since_stream (the event stream's position when it was set).
CREATE TABLE pushers (
    user_id     TEXT NOT NULL,
    app_id      TEXT NOT NULL,
    pushkey     TEXT NOT NULL,
    device_id   TEXT NOT NULL,
    kind        TEXT NOT NULL,
    url         TEXT,
    pusher      TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    since_stream BIGINT NOT NULL,
    PRIMARY KEY (user_id, app_id, pushkey)
);
CREATE INDEX pushers_by_key ON pushers(app_id, pushkey);
CREATE INDEX pushers_by_device ON pushers(user_id, device_id);
