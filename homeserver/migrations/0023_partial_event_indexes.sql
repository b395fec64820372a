-- Messages have no state key and most events no relation: indexing only the
-- rows that have one spares each message two index insertions. Lookups
-- compare the column with a value, which implies IS NOT NULL, so both
-- databases still use these indexes for them.
DROP INDEX events_member;
CREATE INDEX events_member ON events(room_id, event_type, state_key) WHERE state_key IS NOT NULL;
DROP INDEX events_relates;
CREATE INDEX events_relates ON events(relates_to, rel_type, stream) WHERE relates_to IS NOT NULL;
