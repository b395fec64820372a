-- WebAuthn credentials (passkeys and security keys). `passkey` is the
-- serialised credential webauthn-rs checks assertions against; its
-- signature counter is updated after each use.
CREATE TABLE webauthn_credentials (
    credential_id  TEXT PRIMARY KEY,
    user_id        TEXT NOT NULL,
    name           TEXT NOT NULL,
    passkey        TEXT NOT NULL,
    created_ts     BIGINT NOT NULL
);
CREATE INDEX webauthn_credentials_user ON webauthn_credentials (user_id);

-- A WebAuthn ceremony in progress: the challenge's server-side state,
-- keyed by the UIA session (sign-in) or a registration id. One use only.
CREATE TABLE webauthn_ceremonies (
    id          TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL,
    state       TEXT NOT NULL,
    expires_ts  BIGINT NOT NULL
);

-- m.login.token: short-lived, single-use tokens the web login page hands
-- to the client it redirects to; stored as SHA-256 hashes.
CREATE TABLE login_tokens (
    token_hash  TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL,
    expires_ts  BIGINT NOT NULL
);
