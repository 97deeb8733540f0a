-- Auto-refill of balances (LibreChat's): a user's own settings, each NULL for the deployment's
-- default, and when the last automatic refill was made (NULL: none yet; the ledger's first
-- entry counts instead).
CREATE TABLE balance_settings (
    user_id               BIGINT NOT NULL PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    auto_refill_enabled   BOOLEAN,
    refill_interval_value BIGINT,
    refill_interval_unit  TEXT CHECK (refill_interval_unit IN ('seconds', 'minutes', 'hours', 'days', 'weeks', 'months')),
    refill_amount         BIGINT,
    last_refill_at        BIGINT
);
