-- Instances sharing one PostgreSQL database. While an instance runs it
-- holds a session advisory lock keyed by its id: that lock, not a
-- heartbeat, is how the others know it is alive (it goes when its
-- connection does, SIGKILL included).
CREATE TABLE cluster_instances (
    id          BIGINT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    started_at  BIGINT NOT NULL
);

-- The one instance that builds and writes each room's events now (a
-- room's head lives in that instance's memory). Rows of dead instances are
-- taken over; a writer's batch locks its rooms' rows to check they are
-- still its own before it commits.
CREATE TABLE room_writers (
    room_id   TEXT PRIMARY KEY,
    instance  BIGINT NOT NULL
);
CREATE INDEX room_writers_instance ON room_writers(instance);
