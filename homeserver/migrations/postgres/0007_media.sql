-- Uploaded media. The bytes live in files named by their SHA-256 (so equal
-- uploads share one file); a row here is what an mxc:// URI names.
CREATE TABLE media (
    media_id      TEXT PRIMARY KEY,
    uploader      TEXT NOT NULL,
    content_type  TEXT,
    filename      TEXT,
    size          BIGINT,
    -- NULL until the content arrives (async uploads).
    sha256        TEXT,
    created_at    BIGINT NOT NULL,
    -- Async uploads must arrive before this.
    expires_at    BIGINT
);
CREATE INDEX media_uploader ON media(uploader);
