-- Shadow-banned users: their actions seem to succeed and reach nobody.
ALTER TABLE users ADD COLUMN shadow_banned BIGINT NOT NULL DEFAULT 0;
