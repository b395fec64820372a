-- One index by sender instead of two: every message inserted a row into
-- both at a place of its own (a page per distinct sender in a write batch,
-- i.e. a WAL frame per sender per index). The merged index answers the
-- read-position query (a scan of the sender's entries, as before) and the
-- transaction-id lookups (a seek on sender, device and id). SQLite has one
-- writer, which checks transaction ids in memory under a per-id lock, so
-- the index need not enforce their uniqueness.
DROP INDEX events_txn;
DROP INDEX events_sender;
CREATE INDEX events_sender ON events(sender, sender_device, txn_id, room_id, stream);
