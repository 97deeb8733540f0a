-- Changes to sessions, API keys and accounts, for the credential cache, PostgreSQL flavour.
-- Keep in step with ../sqlite/0040_auth_changes.sql.
-- Each instance remembers sessions, API keys and their users between requests and forgets
-- them when they change. The triggers below notify the channel `roster_auth` with the user's
-- id in the changing transaction (PostgreSQL delivers the notice after the commit, to every
-- instance that listens). A last-use touch (`last_active_at`, `last_used_at` alone) changes
-- nothing remembered and notifies nothing.
-- `auth_changes` is SQLite's change count (there, servers poll it); it exists here too so
-- that both schemas keep the same tables, and nothing writes it.
CREATE TABLE auth_changes (
    id INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    n  BIGINT NOT NULL
);
INSERT INTO auth_changes (id, n) VALUES (1, 0);

CREATE FUNCTION auth_changes_notify_user() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('roster_auth', OLD.id::text);
    RETURN NULL;
END
$$;
CREATE FUNCTION auth_changes_notify_owner() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('roster_auth', OLD.user_id::text);
    RETURN NULL;
END
$$;

CREATE TRIGGER auth_changes_users_update AFTER UPDATE ON users FOR EACH ROW
WHEN (NOT (OLD.last_active_at IS DISTINCT FROM NEW.last_active_at AND OLD.revision = NEW.revision
           AND OLD.last_login_at IS NOT DISTINCT FROM NEW.last_login_at))
EXECUTE FUNCTION auth_changes_notify_user();
CREATE TRIGGER auth_changes_users_delete AFTER DELETE ON users FOR EACH ROW
EXECUTE FUNCTION auth_changes_notify_user();
CREATE TRIGGER auth_changes_sessions_update AFTER UPDATE ON sessions FOR EACH ROW
WHEN (OLD.expires_at IS DISTINCT FROM NEW.expires_at OR OLD.user_id IS DISTINCT FROM NEW.user_id)
EXECUTE FUNCTION auth_changes_notify_owner();
CREATE TRIGGER auth_changes_sessions_delete AFTER DELETE ON sessions FOR EACH ROW
EXECUTE FUNCTION auth_changes_notify_owner();
CREATE TRIGGER auth_changes_api_keys_update AFTER UPDATE ON api_keys FOR EACH ROW
WHEN (OLD.last_used_at IS NOT DISTINCT FROM NEW.last_used_at)
EXECUTE FUNCTION auth_changes_notify_owner();
CREATE TRIGGER auth_changes_api_keys_delete AFTER DELETE ON api_keys FOR EACH ROW
EXECUTE FUNCTION auth_changes_notify_owner();
