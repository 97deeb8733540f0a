-- Changes to sessions, API keys and accounts, for the credential cache, SQLite flavour. Keep
-- in step with ../postgres/0040_auth_changes.sql.
-- Each server remembers sessions, API keys and their users between requests and forgets them
-- when they change. Its own changes it marks itself; those of other processes on the same file
-- (the admin commands, a second server) it learns from this count, which the triggers below
-- raise in the changing transaction and which every server polls. A last-use touch
-- (`last_active_at`, `last_used_at` alone) changes nothing remembered and counts nothing.
CREATE TABLE auth_changes (
    id INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    n  BIGINT NOT NULL
);
INSERT INTO auth_changes (id, n) VALUES (1, 0);

CREATE TRIGGER auth_changes_users_update AFTER UPDATE ON users
WHEN NOT (OLD.last_active_at IS NOT NEW.last_active_at AND OLD.revision = NEW.revision
          AND OLD.last_login_at IS NEW.last_login_at)
BEGIN
    UPDATE auth_changes SET n = n + 1 WHERE id = 1;
END;
CREATE TRIGGER auth_changes_users_delete AFTER DELETE ON users
BEGIN
    UPDATE auth_changes SET n = n + 1 WHERE id = 1;
END;
CREATE TRIGGER auth_changes_sessions_update AFTER UPDATE ON sessions
WHEN OLD.expires_at IS NOT NEW.expires_at OR OLD.user_id IS NOT NEW.user_id
BEGIN
    UPDATE auth_changes SET n = n + 1 WHERE id = 1;
END;
CREATE TRIGGER auth_changes_sessions_delete AFTER DELETE ON sessions
BEGIN
    UPDATE auth_changes SET n = n + 1 WHERE id = 1;
END;
CREATE TRIGGER auth_changes_api_keys_update AFTER UPDATE ON api_keys
WHEN OLD.last_used_at IS NEW.last_used_at
BEGIN
    UPDATE auth_changes SET n = n + 1 WHERE id = 1;
END;
CREATE TRIGGER auth_changes_api_keys_delete AFTER DELETE ON api_keys
BEGIN
    UPDATE auth_changes SET n = n + 1 WHERE id = 1;
END;
