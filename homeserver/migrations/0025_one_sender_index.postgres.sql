-- SQLite only: PostgreSQL keeps its two sender indexes, since several
-- instances may write and the unique one guards transaction ids.
SELECT 1;
