-- Keeps the migration numbers of both backends in step with
-- ../postgres/0051_search_index_pending_list.sql, which bounds the pending list of PostgreSQL's
-- trigram index. SQLite's FTS5 index has no pending list: nothing changes here.
SELECT 1;
