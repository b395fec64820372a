-- Accounts, devices, sessions and per-user data.
-- Timestamps are milliseconds since the Unix epoch; flags are 0/1 integers
-- so that one set of queries serves SQLite and PostgreSQL.

CREATE TABLE users (
    user_id        TEXT PRIMARY KEY,
    password_hash  TEXT,
    created_at     BIGINT NOT NULL,
    is_admin       BIGINT NOT NULL DEFAULT 0,
    deactivated    BIGINT NOT NULL DEFAULT 0,
    erase_requested BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE profile_fields (
    user_id  TEXT NOT NULL REFERENCES users(user_id),
    field    TEXT NOT NULL,
    value    TEXT NOT NULL,
    PRIMARY KEY (user_id, field)
);

CREATE TABLE devices (
    user_id       TEXT NOT NULL REFERENCES users(user_id),
    device_id     TEXT NOT NULL,
    display_name  TEXT,
    created_at    BIGINT NOT NULL,
    last_seen_at  BIGINT,
    last_seen_ip  TEXT,
    PRIMARY KEY (user_id, device_id)
);

CREATE TABLE access_tokens (
    token_hash     TEXT PRIMARY KEY,
    user_id        TEXT NOT NULL,
    device_id      TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    expires_at     BIGINT,
    -- Refresh token issued together with this access token.
    refresh_hash   TEXT,
    -- 1 until first use: that use revokes the refresh token it replaced.
    first_use      BIGINT NOT NULL DEFAULT 0,
    FOREIGN KEY (user_id, device_id) REFERENCES devices(user_id, device_id) ON DELETE CASCADE
);
CREATE INDEX access_tokens_device ON access_tokens(user_id, device_id);

CREATE TABLE refresh_tokens (
    token_hash  TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL,
    device_id   TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    -- The refresh token that replaced this one; this one dies when that is used.
    next_hash   TEXT,
    FOREIGN KEY (user_id, device_id) REFERENCES devices(user_id, device_id) ON DELETE CASCADE
);
CREATE INDEX refresh_tokens_device ON refresh_tokens(user_id, device_id);
CREATE INDEX refresh_tokens_next ON refresh_tokens(next_hash);

CREATE TABLE account_data (
    user_id    TEXT NOT NULL REFERENCES users(user_id),
    -- '' for global account data.
    room_id    TEXT NOT NULL,
    data_type  TEXT NOT NULL,
    content    TEXT NOT NULL,
    PRIMARY KEY (user_id, room_id, data_type)
);

CREATE TABLE filters (
    filter_id   BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users(user_id),
    definition  TEXT NOT NULL
);

CREATE TABLE push_rules (
    user_id  TEXT PRIMARY KEY REFERENCES users(user_id),
    ruleset  TEXT NOT NULL
);

CREATE TABLE uia_sessions (
    session_id  TEXT PRIMARY KEY,
    user_id     TEXT,
    -- JSON array of the stages completed so far.
    completed   TEXT NOT NULL,
    expires_at  BIGINT NOT NULL
);
