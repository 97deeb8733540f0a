-- The outbox's `seq` is given after commit, not at insert (PostgreSQL only; see
-- ../sqlite/0013_outbox_sequencer.sql). Until now every writer of events took one advisory
-- lock and held it through its commit, so that `seq` order was commit order: changes with
-- events committed one at a time across all instances. Now writers insert rows without a
-- `seq`, and a reader that pages by `seq` first numbers the committed rows that have none,
-- under that lock (`PgStore::sequence_outbox`): each turn's numbers are above every number
-- committed before it, so a reader never passes a row that commits late. Rows are numbered
-- in the order they were written (`written_at`, the database clock when the row was inserted,
-- at the end of its transaction, then `id`): a change that waited for another's row lock, or
-- that began after another committed, writes its events later, so the numbering keeps commit
-- order wherever commit order is fixed (one user's changes, causally related changes).
ALTER TABLE outbox DROP CONSTRAINT outbox_pkey;
ALTER TABLE outbox ALTER COLUMN seq DROP DEFAULT;
ALTER TABLE outbox ALTER COLUMN seq DROP NOT NULL;
DROP SEQUENCE IF EXISTS outbox_seq_seq;
ALTER TABLE outbox ADD CONSTRAINT outbox_seq_key UNIQUE (seq);
CREATE INDEX outbox_unsequenced_idx ON outbox (id) WHERE seq IS NULL;
ALTER TABLE outbox ADD COLUMN written_at BIGINT
    DEFAULT (EXTRACT(EPOCH FROM clock_timestamp()) * 1000000)::BIGINT;
