-- How many users a search matches, as the planner guesses it from the statistics of
-- `search_key`: with the default 100 histogram entries a term carried by 3% of the users
-- often matches none of them, is taken for a rare one, and its every match is read and
-- sorted (190 ms at a million users, where walking the sort order finds a page in 1 ms).
-- A thousand entries (ANALYZE then samples 300,000 rows) tell such a term from a rare one.
-- Keep in step with ../sqlite/0050_search_key_statistics.sql.
ALTER TABLE users ALTER COLUMN search_key SET STATISTICS 1000;
ANALYZE users;
