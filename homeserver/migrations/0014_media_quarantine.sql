-- Media an admin quarantined is no longer served (the admin who did it).
ALTER TABLE media ADD COLUMN quarantined_by TEXT;
