-- The change triggers of migrations 0040 and 0048 either notify `roster_auth` (as before) or,
-- on a connection that says `roster.auth_channel = redis` at start-up (a store with Redis
-- configured), collect the ids in the transaction-local setting `roster.auth_changed`, which
-- the store reads before its commit and publishes through Redis
-- (crates/roster-store/src/redis_changes.rs). PostgreSQL only: SQLite's servers poll the
-- change count and never use Redis for this.
-- Past 2,000 characters, or for a change that may touch anyone, the collection becomes `*`.

CREATE FUNCTION auth_changes_signal(payload text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    so_far text;
BEGIN
    IF current_setting('roster.auth_channel', true) IS DISTINCT FROM 'redis' THEN
        PERFORM pg_notify('roster_auth', payload);
        RETURN;
    END IF;
    so_far := coalesce(current_setting('roster.auth_changed', true), '');
    IF so_far = '*' THEN
        RETURN;
    ELSIF payload = '*' OR length(so_far) > 2000 THEN
        PERFORM set_config('roster.auth_changed', '*', true);
    ELSIF so_far = '' THEN
        PERFORM set_config('roster.auth_changed', payload, true);
    ELSIF position(',' || payload || ',' IN ',' || so_far || ',') = 0 THEN
        PERFORM set_config('roster.auth_changed', so_far || ',' || payload, true);
    END IF;
END
$$;

CREATE OR REPLACE FUNCTION auth_changes_notify_user() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM auth_changes_signal(OLD.id::text);
    RETURN NULL;
END
$$;
CREATE OR REPLACE FUNCTION auth_changes_notify_owner() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM auth_changes_signal(OLD.user_id::text);
    RETURN NULL;
END
$$;
CREATE OR REPLACE FUNCTION auth_changes_notify_row_user() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM auth_changes_signal(OLD.user_id::text);
    ELSE
        PERFORM auth_changes_signal(NEW.user_id::text);
        IF TG_OP = 'UPDATE' AND OLD.user_id IS DISTINCT FROM NEW.user_id THEN
            PERFORM auth_changes_signal(OLD.user_id::text);
        END IF;
    END IF;
    RETURN NULL;
END
$$;
CREATE OR REPLACE FUNCTION auth_changes_notify_everything() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM auth_changes_signal('*');
    RETURN NULL;
END
$$;
