-- Keys other servers no longer list (rotated, or the server was reinstalled
-- under the same name): each still checks what it signed before expired_ts.
CREATE TABLE retired_server_keys (
    server_name  TEXT NOT NULL,
    key_id       TEXT NOT NULL,
    public_key   TEXT NOT NULL,
    expired_ts   BIGINT NOT NULL,
    PRIMARY KEY (server_name, key_id)
);
