-- Keeps the migration numbers of both backends in step with
-- ../postgres/0050_search_key_statistics.sql, which gives PostgreSQL's planner a larger sample of
-- `search_key`. SQLite chooses a search's plan by probing its trigram index: nothing changes here.
SELECT 1;
