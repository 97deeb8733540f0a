-- The audit trail and the event outbox, SQLite flavour.
-- Keep in step with ../postgres/0009_journal.sql (the parity tests check this).
-- Both are written in the same transaction as the change they describe (see
-- roster_core::journal), so a change that rolls back leaves no trace and one that commits
-- is never without its record.

-- Who did what to whom, when, from where. `id` is a snowflake, so it orders by time.
CREATE TABLE audit_log (
    id        BIGINT NOT NULL PRIMARY KEY,
    at        BIGINT NOT NULL,
    actor_id  BIGINT,
    action    TEXT NOT NULL,
    target_id BIGINT,
    ip        TEXT,
    details   TEXT NOT NULL CHECK (json_valid(details))
);
CREATE INDEX audit_log_actor_idx ON audit_log (actor_id, id);
CREATE INDEX audit_log_target_idx ON audit_log (target_id, id);
CREATE INDEX audit_log_action_idx ON audit_log (action, id);

-- Events for the rest of the platform, in commit order (`seq`). Rows are never updated;
-- delivery state lives with the subscriptions.
CREATE TABLE outbox (
    seq         INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    id          BIGINT NOT NULL UNIQUE,
    event_type  TEXT NOT NULL,
    subject_id  BIGINT NOT NULL,
    actor_id    BIGINT,
    occurred_at BIGINT NOT NULL,
    payload     TEXT NOT NULL CHECK (json_valid(payload))
);
CREATE INDEX outbox_subject_idx ON outbox (subject_id, seq);
