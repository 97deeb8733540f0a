-- Webhook subscriptions and their delivery log, SQLite flavour.
-- Keep in step with ../postgres/0010_webhooks.sql (the parity tests check this).
-- Events come from the outbox (0009): a worker copies each event a subscription wants into
-- `webhook_deliveries` (in `seq` order, advancing the subscription's `fanned_out_seq`), then sends
-- the deliveries, the earliest pending one per (subscription, user) at a time.

-- Where events go. `event_types` is a JSON array (empty: every type). `start_seq` is the
-- outbox position when the subscription was made: it receives the events after it.
CREATE TABLE webhook_subscriptions (
    id                    BIGINT NOT NULL PRIMARY KEY,
    url                   TEXT NOT NULL,
    event_types           TEXT NOT NULL CHECK (json_valid(event_types)),
    secret                TEXT NOT NULL,
    required_for_deletion BOOLEAN NOT NULL,
    description           TEXT,
    created_by            BIGINT,
    created_at            BIGINT NOT NULL,
    start_seq             BIGINT NOT NULL,
    fanned_out_seq        BIGINT NOT NULL
);

-- One event for one subscription: its state, attempts and last outcome. A claim is a lease
-- (`claimed_by` until `claimed_until`), so an instance that dies mid-send is replaced.
CREATE TABLE webhook_deliveries (
    id               INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    subscription_id  BIGINT NOT NULL REFERENCES webhook_subscriptions (id) ON DELETE CASCADE,
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
    UNIQUE (subscription_id, event_seq)
);
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (status, next_attempt_at);
CREATE INDEX webhook_deliveries_order_idx ON webhook_deliveries (subscription_id, subject_id, event_seq);
CREATE INDEX webhook_deliveries_event_idx ON webhook_deliveries (event_seq);

-- Named leases: on SQLite one instance at a time holds `delivery` and sends.
CREATE TABLE webhook_leases (
    name   TEXT NOT NULL PRIMARY KEY,
    holder TEXT NOT NULL,
    until  BIGINT NOT NULL
);

-- Deletions are found by event type.
CREATE INDEX outbox_type_idx ON outbox (event_type, seq);
