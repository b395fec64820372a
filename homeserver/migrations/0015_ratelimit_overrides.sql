-- Per-user rate limits set by admins (0 and 0: exempt).
CREATE TABLE ratelimit_overrides (
    user_id      TEXT PRIMARY KEY,
    per_second   BIGINT NOT NULL,
    burst        BIGINT NOT NULL
);
