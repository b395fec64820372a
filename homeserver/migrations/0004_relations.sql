-- Relations (edits, threads, references, annotations): each event's parent
-- and relation type, taken from content.m.relates_to when it is stored.
ALTER TABLE events ADD COLUMN relates_to TEXT;
ALTER TABLE events ADD COLUMN rel_type TEXT;
CREATE INDEX events_relates ON events(relates_to, rel_type, stream);
