-- Browser sessions, SQLite flavour. Keep in step with ../postgres/0025_browser_sessions.sql.
-- A browser session (the sign-in pages' cookie, the single sign-on of OpenID Connect) is a row
-- of sessions like any other, so that every path that ends sessions (logout, ban,
-- deactivation, password reset, deletion) ends it too; this table adds what only a browser
-- session has: the digest of its cookie, when the user last proved who they are (auth_time,
-- unix milliseconds) and how (amr: space-separated RFC 8176 values, e.g. "pwd otp").
CREATE TABLE browser_sessions (
    session_id BIGINT NOT NULL PRIMARY KEY REFERENCES sessions (id) ON DELETE CASCADE,
    digest     TEXT NOT NULL UNIQUE,
    auth_time  BIGINT NOT NULL,
    amr        TEXT NOT NULL
);
