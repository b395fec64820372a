-- OpenID tokens: a user proves who they are to a third party (an
-- integration manager), which checks the token with this server.
CREATE TABLE openid_tokens (
    token_hash  TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL,
    expires_at  BIGINT NOT NULL
);
