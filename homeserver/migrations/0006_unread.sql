-- Finding a user's own latest event per room (an implicit read marker).
CREATE INDEX events_sender ON events(sender, room_id, stream);
