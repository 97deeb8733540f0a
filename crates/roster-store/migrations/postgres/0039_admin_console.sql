-- What the admin console reads, PostgreSQL flavour. Keep in step with
-- ../sqlite/0039_admin_console.sql.

-- Invitations are listed newest first.
CREATE INDEX account_tokens_kind_created_idx ON account_tokens (kind, created_at);

-- Hourly counts of what the dashboard charts: `login` (a successful sign-in),
-- `login_failure` (a refused one) and `login_throttled` (refused by the login throttle),
-- kept by the journal writer in the transaction that writes the audit entry counted, so
-- the dashboard reads at most 24 rows a day per metric instead of the audit trail.
CREATE TABLE activity_counts (
    metric TEXT NOT NULL,
    hour   BIGINT NOT NULL,
    n      BIGINT NOT NULL,
    PRIMARY KEY (metric, hour)
);

-- A subscription's pending deliveries and the oldest of them (webhook lag).
CREATE INDEX webhook_deliveries_pending_idx ON webhook_deliveries (subscription_id, status, created_at);
