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

-- Thumbnails made on demand, one per media, size and method.
CREATE TABLE media_thumbnails (
    media_id      TEXT NOT NULL,
    width         BIGINT NOT NULL,
    height        BIGINT NOT NULL,
    method        TEXT NOT NULL,
    content_type  TEXT NOT NULL,
    size          BIGINT NOT NULL,
    sha256        TEXT NOT NULL,
    PRIMARY KEY (media_id, width, height, method)
);
