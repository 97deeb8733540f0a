-- Substring search over users.search_key through a trigram index (SQLite FTS5), kept in
-- step with the users table by triggers. The store asks it for candidates when a search
-- matches few users; ../postgres/0002_search.sql uses pg_trgm for the same purpose.
CREATE VIRTUAL TABLE users_search USING fts5(
    search_key,
    content = 'users',
    content_rowid = 'id',
    tokenize = 'trigram',
    detail = 'none'
);

INSERT INTO users_search (users_search) VALUES ('rebuild');

CREATE TRIGGER users_search_after_insert AFTER INSERT ON users BEGIN
    INSERT INTO users_search (rowid, search_key) VALUES (new.id, new.search_key);
END;

CREATE TRIGGER users_search_after_delete AFTER DELETE ON users BEGIN
    INSERT INTO users_search (users_search, rowid, search_key) VALUES ('delete', old.id, old.search_key);
END;

CREATE TRIGGER users_search_after_update AFTER UPDATE OF search_key ON users BEGIN
    INSERT INTO users_search (users_search, rowid, search_key) VALUES ('delete', old.id, old.search_key);
    INSERT INTO users_search (rowid, search_key) VALUES (new.id, new.search_key);
END;
