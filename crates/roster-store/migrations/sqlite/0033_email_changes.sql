-- Email changes waiting for their confirmation, SQLite flavour. Keep in step with
-- ../postgres/0033_email_changes.sql.
-- A user asks for a new address; a link with a random token (stored as its digest) is mailed
-- to the NEW address, and the change is applied when that link is used before expires_at
-- (unix milliseconds). One pending change per user: a new request replaces the earlier one.
CREATE TABLE email_changes (
    user_id    BIGINT NOT NULL PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    digest     TEXT NOT NULL UNIQUE,
    new_email  TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
