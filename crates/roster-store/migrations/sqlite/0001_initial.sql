-- Roster's initial schema, SQLite flavour. Keep in step with ../postgres/0001_initial.sql:
-- the same tables, columns, nullability and index names (the parity tests check this).
-- Timestamps are milliseconds since the Unix epoch (UTC); ids are snowflakes made by
-- roster-core and never generated here (INTEGER PRIMARY KEY only makes the id the rowid).

CREATE TABLE users (
    id                INTEGER NOT NULL PRIMARY KEY,
    -- Lower-cased by the core.
    email             TEXT UNIQUE,
    email_verified    BOOLEAN NOT NULL,
    -- As given; uniqueness ignores case through username_key.
    username          TEXT,
    -- Lower-case username, maintained by the store.
    username_key      TEXT UNIQUE,
    name              TEXT,
    password_hash     TEXT,
    provider          TEXT NOT NULL,
    role              TEXT NOT NULL CHECK (role IN ('admin', 'user', 'pending')),
    active            BOOLEAN NOT NULL,
    avatar            TEXT,
    bio               TEXT,
    timezone          TEXT,
    terms_version     TEXT,
    terms_accepted_at BIGINT,
    preferences       TEXT NOT NULL CHECK (json_valid(preferences)),
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL,
    last_login_at     BIGINT,
    last_active_at    BIGINT,
    revision          BIGINT NOT NULL,
    -- Lower-case "email username name", maintained by the store, for substring search.
    search_key        TEXT NOT NULL
);

-- Keyset pagination, one index per sort order.
CREATE INDEX users_created_at_idx ON users (created_at, id);
CREATE INDEX users_email_sort_idx ON users (COALESCE(email, ''), id);
CREATE INDEX users_username_sort_idx ON users (COALESCE(username_key, ''), id);
CREATE INDEX users_name_sort_idx ON users (COALESCE(name, ''), id);

-- One-time markers; 'first_account' is taken by the first user ever inserted.
CREATE TABLE instance_state (
    name TEXT NOT NULL PRIMARY KEY
);

CREATE TABLE sessions (
    id           INTEGER NOT NULL PRIMARY KEY,
    user_id      BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    user_agent   TEXT,
    ip           TEXT
);
CREATE INDEX sessions_user_id_idx ON sessions (user_id);

CREATE TABLE refresh_tokens (
    digest     TEXT NOT NULL PRIMARY KEY,
    session_id BIGINT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    used_at    BIGINT
);
CREATE INDEX refresh_tokens_session_id_idx ON refresh_tokens (session_id);

CREATE TABLE api_keys (
    id           INTEGER NOT NULL PRIMARY KEY,
    user_id      BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    prefix       TEXT NOT NULL,
    digest       TEXT NOT NULL UNIQUE,
    -- JSON array of strings.
    scopes       TEXT NOT NULL CHECK (json_valid(scopes)),
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT,
    last_used_at BIGINT
);
CREATE INDEX api_keys_user_id_idx ON api_keys (user_id);

CREATE TABLE signing_keys (
    kid         TEXT NOT NULL PRIMARY KEY,
    generation  BIGINT NOT NULL UNIQUE,
    private_key BLOB NOT NULL,
    public_key  BLOB NOT NULL,
    created_at  BIGINT NOT NULL
);
