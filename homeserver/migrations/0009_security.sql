-- Security: failed logins per account (for lockout) and the audit log.
CREATE TABLE login_failures (
    user_id       TEXT PRIMARY KEY,
    failures      BIGINT NOT NULL,
    -- How many times the account was locked, for the growing lockout.
    lockouts      BIGINT NOT NULL DEFAULT 0,
    locked_until  BIGINT
);

CREATE TABLE audit_log (
    -- Milliseconds; several records may share one.
    ts        BIGINT NOT NULL,
    kind      TEXT NOT NULL,
    user_id   TEXT,
    address   TEXT,
    details   TEXT NOT NULL
);
CREATE INDEX audit_log_ts ON audit_log(ts);
