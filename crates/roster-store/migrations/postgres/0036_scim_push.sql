-- SCIM push: Roster as a SCIM 2.0 client of other products (Open WebUI), PostgreSQL flavour.
-- Keep in step with ../sqlite/0036_scim_push.sql.
--
-- A target is a SCIM service provider (its base URL and bearer token, sealed). The delivery
-- worker copies the outbox's user and group events after `fanned_out_seq` into
-- `scim_deliveries` (the same columns as `webhook_deliveries`, so one claim, attempt and
-- replay statement serves both), then sends the earliest pending one per (target, subject) at
-- a time. `start_seq` is the outbox position when the target was added.
CREATE TABLE scim_targets (
    id                   BIGINT NOT NULL PRIMARY KEY,
    name                 TEXT NOT NULL UNIQUE,
    url                  TEXT NOT NULL,
    token                TEXT NOT NULL,
    push_groups          BOOLEAN NOT NULL,
    deactivate_on_delete BOOLEAN NOT NULL,
    created_by           BIGINT,
    created_at           BIGINT NOT NULL,
    start_seq            BIGINT NOT NULL,
    fanned_out_seq       BIGINT NOT NULL
);

CREATE TABLE scim_deliveries (
    id               BIGSERIAL PRIMARY KEY,
    target_id        BIGINT NOT NULL REFERENCES scim_targets (id) ON DELETE CASCADE,
    event_seq        BIGINT NOT NULL,
    event_id         BIGINT NOT NULL,
    event_type       TEXT NOT NULL,
    subject_id       BIGINT NOT NULL,
    status           TEXT NOT NULL,
    attempts         BIGINT NOT NULL,
    next_attempt_at  BIGINT NOT NULL,
    claimed_by       TEXT,
    claimed_until    BIGINT,
    last_attempt_at  BIGINT,
    last_status_code BIGINT,
    last_error       TEXT,
    delivered_at     BIGINT,
    created_at       BIGINT NOT NULL,
    UNIQUE (target_id, event_seq)
);
CREATE INDEX scim_deliveries_due_idx ON scim_deliveries (status, next_attempt_at);
CREATE INDEX scim_deliveries_subject_idx ON scim_deliveries (target_id, subject_id, event_seq);
