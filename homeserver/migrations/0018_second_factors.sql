-- Second factors. A TOTP secret counts once confirmed with a first code;
-- `last_step` refuses a code that was already used.
CREATE TABLE totp_factors (
    user_id    TEXT PRIMARY KEY,
    secret     TEXT NOT NULL,
    confirmed  BIGINT NOT NULL DEFAULT 0,
    last_step  BIGINT NOT NULL DEFAULT 0
);

-- Single-use recovery codes, stored as SHA-256 hashes.
CREATE TABLE recovery_codes (
    user_id    TEXT NOT NULL,
    code_hash  TEXT NOT NULL,
    PRIMARY KEY (user_id, code_hash)
);
