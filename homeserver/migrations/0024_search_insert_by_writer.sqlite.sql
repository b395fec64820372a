-- The event writer indexes new messages for search itself, with a second
-- statement after its multi-row INSERT. Through the trigger, that INSERT
-- wrote into a virtual table, so SQLite kept a statement journal for it
-- (a copy of every page it touched) in case it had to roll back alone.
DROP TRIGGER event_search_insert;
