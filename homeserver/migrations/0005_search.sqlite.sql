-- Full-text search over message bodies, room names and topics. The text is
-- kept on the event row; SQLite indexes it with FTS5 (rowid = stream).
ALTER TABLE events ADD COLUMN search_text TEXT;
CREATE VIRTUAL TABLE event_search USING fts5(body, tokenize = 'unicode61');
CREATE TRIGGER event_search_insert AFTER INSERT ON events
WHEN new.search_text IS NOT NULL
BEGIN
    INSERT INTO event_search (rowid, body) VALUES (new.stream, new.search_text);
END;
CREATE TRIGGER event_search_forget AFTER UPDATE OF search_text ON events
WHEN new.search_text IS NULL AND old.search_text IS NOT NULL
BEGIN
    DELETE FROM event_search WHERE rowid = old.stream;
END;
