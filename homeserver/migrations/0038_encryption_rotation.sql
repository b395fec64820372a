-- Key rotation: when every media file was last found under a key (set by
-- the pass that re-encrypts them); earlier keys are forgotten then.
ALTER TABLE encryption_keys ADD COLUMN media_done_at BIGINT;
