-- The audit trail and the event outbox, PostgreSQL flavour.
-- Keep in step with ../sqlite/0009_journal.sql (the parity tests check this).
-- Both are written in the same transaction as the change they describe (see
-- roster_core::journal). Writers of `outbox` take the transaction-level advisory lock
-- 7420001 just before inserting, so `seq` order is commit order and a reader that pages
-- by `seq` never skips a row that commits late.

-- Who did what to whom, when, from where. `id` is a snowflake, so it orders by time.
CREATE TABLE audit_log (
    id        BIGINT NOT NULL PRIMARY KEY,
    at        BIGINT NOT NULL,
    actor_id  BIGINT,
    action    TEXT NOT NULL,
    target_id BIGINT,
    ip        TEXT,
    details   JSONB NOT NULL
);
CREATE INDEX audit_log_actor_idx ON audit_log (actor_id, id);
CREATE INDEX audit_log_target_idx ON audit_log (target_id, id);
CREATE INDEX audit_log_action_idx ON audit_log (action, id);

-- Events for the rest of the platform, in commit order (`seq`). Rows are never updated;
-- delivery state lives with the subscriptions.
CREATE TABLE outbox (
    seq         BIGSERIAL PRIMARY KEY,
    id          BIGINT NOT NULL UNIQUE,
    event_type  TEXT NOT NULL,
    subject_id  BIGINT NOT NULL,
    actor_id    BIGINT,
    occurred_at BIGINT NOT NULL,
    payload     JSONB NOT NULL
);
CREATE INDEX outbox_subject_idx ON outbox (subject_id, seq);
