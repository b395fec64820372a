-- Sessions of the server's own account page (second factors), held in a
-- cookie: the token is stored hashed, with the form token that every
-- change must carry (against cross-site requests). Short-lived: a session
-- exists only just after a full sign-in.
CREATE TABLE web_sessions (
    token_hash TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL,
    csrf       TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX web_sessions_by_user ON web_sessions(user_id);
