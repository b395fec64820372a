-- Full-text search over message bodies, room names and topics. The text is
-- kept on the event row; PostgreSQL indexes its tsvector with GIN.
ALTER TABLE events ADD COLUMN search_text TEXT;
CREATE INDEX events_search ON events USING GIN (to_tsvector('simple', COALESCE(search_text, '')));
