-- The trigram index takes new entries into a pending list (GIN's fast update), which every
-- search reads through until the list is merged. With the default limit of 4 MB, the writes of
-- a busy minute (16,000 profile updates: a user update adds an entry to every index) made a
-- rare-term search read 253 pending pages: 1.4 ms instead of 0.25. At 256 kB the list is merged
-- eight times as often, by the writer that fills it; the same 16,000 updates took no longer
-- (1.63 s against 1.71 s), and left 30 pending pages.
-- Keep in step with ../sqlite/0051_search_index_pending_list.sql.
ALTER INDEX users_search_trgm_idx SET (gin_pending_list_limit = 256);
