-- SQLite's search index now follows a user's search key only when the key changes (see
-- ../sqlite/0045_search_index_on_change.sql). PostgreSQL's trigram index is an index of the
-- table, kept by the database itself: nothing to change here.
SELECT 1;
