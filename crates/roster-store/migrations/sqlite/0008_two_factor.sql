-- Two-factor authentication and secrets at rest, sqlite flavour. Keep in step with
-- ../postgres/0008_two_factor.sql (the parity tests check this). Secrets are sealed by the
-- core (roster_core::secret) before they reach these tables; everything here goes with its
-- user (ON DELETE CASCADE), inside the user's delete transaction.

-- Values every instance shares: the check value of the secret key ('secret_key_check').
CREATE TABLE instance_settings (
    name       TEXT NOT NULL PRIMARY KEY,
    value      TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- TOTP enrolments: pending until a first code confirms them (enabled_at set).
CREATE TABLE two_factor (
    user_id        BIGINT NOT NULL PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    -- The sealed TOTP secret.
    secret         TEXT NOT NULL,
    enabled_at     BIGINT,
    -- The last time step whose code was accepted: the replay guard.
    last_used_step BIGINT,
    created_at     BIGINT NOT NULL
);

-- Single-use backup codes, as SHA-256 digests of user id and code.
CREATE TABLE two_factor_backup_codes (
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    digest  TEXT NOT NULL,
    used_at BIGINT,
    PRIMARY KEY (user_id, digest)
);

-- Logins waiting for their second step; the challenge token as a SHA-256 digest.
CREATE TABLE two_factor_challenges (
    digest     TEXT NOT NULL PRIMARY KEY,
    user_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    attempts   INTEGER NOT NULL
);
CREATE INDEX two_factor_challenges_user_id_idx ON two_factor_challenges (user_id);

-- Secrets users keep with Roster, sealed (Langflow's store API key).
CREATE TABLE user_secrets (
    user_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    value      TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, name)
);
