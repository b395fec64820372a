-- Encryption at rest: the ids of the keys data was written with, so that a
-- server started with another key (or none) refuses before it writes.
CREATE TABLE encryption_keys (
    key_id      TEXT PRIMARY KEY,
    created_at  BIGINT NOT NULL
);
