-- Bans, invitations and password-reset links (the admin command line), SQLite flavour.
-- Keep in step with ../postgres/0003_admin.sql (the parity tests check this).

-- A ban is in force while banned_until (ms since the epoch) is in the future; it is read
-- with the user, so enforcing it costs no extra query.
ALTER TABLE users ADD COLUMN banned_until BIGINT;
ALTER TABLE users ADD COLUMN ban_reason TEXT;
CREATE INDEX users_banned_until_idx ON users (banned_until);

-- Single-use secrets stored as SHA-256 digests: invitations (an email and a role, no user
-- yet) and password-reset links (a user).
CREATE TABLE account_tokens (
    digest     TEXT NOT NULL PRIMARY KEY,
    kind       TEXT NOT NULL CHECK (kind IN ('invitation', 'password_reset')),
    user_id    BIGINT REFERENCES users (id) ON DELETE CASCADE,
    email      TEXT,
    role       TEXT CHECK (role IN ('admin', 'user', 'pending')),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
);
CREATE INDEX account_tokens_user_id_idx ON account_tokens (user_id);
CREATE INDEX account_tokens_email_idx ON account_tokens (email);
