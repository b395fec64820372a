-- Message retention (m.room.retention and the server's defaults): what the
-- purge job last did in each room, for the admin API.
CREATE TABLE retention_purges (
    room_id         TEXT PRIMARY KEY,
    -- The lifetime in force at the last run, in milliseconds.
    max_lifetime    BIGINT NOT NULL,
    purged_events   BIGINT NOT NULL DEFAULT 0,
    purged_media    BIGINT NOT NULL DEFAULT 0,
    last_run_at     BIGINT NOT NULL
);

-- The purge job finds a room's expired events by time.
CREATE INDEX events_room_time ON events(room_id, origin_server_ts);
