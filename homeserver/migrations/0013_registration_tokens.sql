-- Registration tokens that admins hand out (besides those in the config).
CREATE TABLE registration_tokens (
    token         TEXT PRIMARY KEY,
    -- NULL: unlimited.
    uses_allowed  BIGINT,
    completed     BIGINT NOT NULL DEFAULT 0,
    -- Unix milliseconds; NULL: never expires.
    expiry_time   BIGINT
);
