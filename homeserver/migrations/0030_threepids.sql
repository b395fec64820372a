-- E-mail addresses bound to accounts (for password resets and login by
-- e-mail), and the validation sessions that prove an address is someone's:
-- a token mailed to the address, clicked once. Tokens are stored hashed.
CREATE TABLE user_threepids (
    medium       TEXT NOT NULL,
    address      TEXT NOT NULL,
    user_id      TEXT NOT NULL,
    validated_at BIGINT NOT NULL,
    added_at     BIGINT NOT NULL,
    PRIMARY KEY (medium, address)
);
CREATE INDEX user_threepids_by_user ON user_threepids(user_id);

CREATE TABLE threepid_validations (
    session_id    TEXT PRIMARY KEY,
    client_secret TEXT NOT NULL,
    medium        TEXT NOT NULL,
    address       TEXT NOT NULL,
    token_hash    TEXT NOT NULL,
    send_attempt  BIGINT NOT NULL,
    next_link     TEXT,
    validated_at  BIGINT,
    expires_at    BIGINT NOT NULL
);
CREATE INDEX threepid_validations_by_secret ON threepid_validations(client_secret, medium, address);
