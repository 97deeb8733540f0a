-- The search index follows a user's search key only when the key changes. Every update of a
-- user names `search_key` in its SET list, so the trigger of 0002_search.sql deleted and wrote
-- again the row's trigram entries on every change (a new bio, new preferences), and each such
-- commit flushed a new segment of the index. Keep in step with
-- ../postgres/0045_search_index_on_change.sql.
DROP TRIGGER users_search_after_update;

CREATE TRIGGER users_search_after_update AFTER UPDATE OF search_key ON users
WHEN old.search_key IS NOT new.search_key
BEGIN
    INSERT INTO users_search (users_search, rowid, search_key) VALUES ('delete', old.id, old.search_key);
    INSERT INTO users_search (rowid, search_key) VALUES (new.id, new.search_key);
END;
