-- SQLite only: the event writer fills its full-text table itself now.
-- PostgreSQL's index follows the events table as before.
SELECT 1;
