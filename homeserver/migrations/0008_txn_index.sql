-- Transaction ids live on the event row itself: one unique index instead of
-- a second table written for every message.
CREATE UNIQUE INDEX events_txn ON events(sender, sender_device, txn_id) WHERE txn_id IS NOT NULL;
DROP TABLE event_txns;
