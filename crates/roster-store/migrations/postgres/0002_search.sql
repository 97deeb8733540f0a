-- Substring search over users.search_key through a trigram index (pg_trgm, a trusted
-- extension since PostgreSQL 13). ../sqlite/0002_search.sql uses FTS5 for the same purpose.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE INDEX users_search_trgm_idx ON users USING gin (search_key gin_trgm_ops);
