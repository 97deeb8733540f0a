-- Keeps the migration numbers of both backends in step with ../postgres/0049_auth_changes_redis.sql,
-- which lets PostgreSQL's change triggers collect the changed ids for Redis instead of notifying.
-- SQLite's servers poll the change count of migration 0040 and never use Redis for this:
-- nothing changes here.
SELECT 1;
