-- SQLite keeps giving `outbox.seq` at insert (see ../postgres/0013_outbox_sequencer.sql): its
-- one writer at a time already makes insert order commit order. `written_at`, which PostgreSQL
-- numbers rows by, is kept for the two schemas to match and is not used here.
ALTER TABLE outbox ADD COLUMN written_at BIGINT;
