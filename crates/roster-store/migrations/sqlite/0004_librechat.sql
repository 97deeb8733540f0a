-- The LibreChat dialect's records: email verifications, terms acceptances and the credit
-- ledger. Keep in step with ../postgres/0004_librechat.sql (the parity tests check this).
-- Verifications and acceptances go with their user (ON DELETE CASCADE), inside the user's
-- delete transaction.

-- Single-use email verification secrets, stored as SHA-256 digests.
CREATE TABLE email_verifications (
    digest     TEXT NOT NULL PRIMARY KEY,
    user_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    email      TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
);
CREATE INDEX email_verifications_user_id_idx ON email_verifications (user_id);

-- Every acceptance of a version of the terms of service.
CREATE TABLE terms_acceptances (
    id          BIGINT NOT NULL PRIMARY KEY,
    user_id     BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    version     TEXT NOT NULL,
    accepted_at BIGINT NOT NULL
);
CREATE INDEX terms_acceptances_user_id_idx ON terms_acceptances (user_id, accepted_at);

-- The credit ledger: a balance is the sum of its user's transactions. No foreign key: the
-- store deletes a user's ledger with the user, unless an administrator keeps the history
-- (`roster delete-user --keep-transactions`).
CREATE TABLE balance_transactions (
    id         BIGINT NOT NULL PRIMARY KEY,
    user_id    BIGINT NOT NULL,
    kind       TEXT NOT NULL CHECK (kind IN ('start_grant', 'spend', 'refill', 'adjustment')),
    amount     BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX balance_transactions_user_id_idx ON balance_transactions (user_id);
-- At most one start grant per user.
CREATE UNIQUE INDEX balance_transactions_start_grant_idx ON balance_transactions (user_id)
    WHERE kind = 'start_grant';
