-- Media of other servers, fetched once over federation and kept here.
CREATE TABLE remote_media (
    server        TEXT NOT NULL,
    media_id      TEXT NOT NULL,
    content_type  TEXT,
    filename      TEXT,
    size          BIGINT NOT NULL,
    sha256        TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    PRIMARY KEY (server, media_id)
);
