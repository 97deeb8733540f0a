-- Changes to what the current-user routes show beside the user, for the core's per-user
-- facts (crates/roster-core/src/service/user_facts.rs), PostgreSQL flavour. Keep in step with
-- ../sqlite/0048_auth_changes_user_facts.sql.
-- Each instance remembers a user's effective permissions (the permission template OR-merged
-- with the user's groups), whether two-factor authentication is on, the badges and the sealed
-- Langflow store key, and forgets them when they change, through the channel of migration
-- 0040: a change of a membership, a two-factor enrolment, a badge or a stored secret notifies
-- `roster_auth` with its user's id; a change of a template or of a group's permissions may
-- touch any user and notifies `*` (everything). A two-factor code's use (`last_used_step`)
-- changes nothing remembered and notifies nothing.

CREATE FUNCTION auth_changes_notify_row_user() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('roster_auth', OLD.user_id::text);
    ELSE
        PERFORM pg_notify('roster_auth', NEW.user_id::text);
        IF TG_OP = 'UPDATE' AND OLD.user_id IS DISTINCT FROM NEW.user_id THEN
            PERFORM pg_notify('roster_auth', OLD.user_id::text);
        END IF;
    END IF;
    RETURN NULL;
END
$$;
CREATE FUNCTION auth_changes_notify_everything() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('roster_auth', '*');
    RETURN NULL;
END
$$;

CREATE TRIGGER auth_changes_group_members AFTER INSERT OR UPDATE OR DELETE ON group_members
FOR EACH ROW EXECUTE FUNCTION auth_changes_notify_row_user();
CREATE TRIGGER auth_changes_groups_update AFTER UPDATE ON groups FOR EACH ROW
WHEN (OLD.permissions IS DISTINCT FROM NEW.permissions)
EXECUTE FUNCTION auth_changes_notify_everything();
CREATE TRIGGER auth_changes_groups_delete AFTER DELETE ON groups FOR EACH ROW
EXECUTE FUNCTION auth_changes_notify_everything();
CREATE TRIGGER auth_changes_permission_templates AFTER INSERT OR UPDATE OR DELETE ON permission_templates
FOR EACH ROW EXECUTE FUNCTION auth_changes_notify_everything();
CREATE TRIGGER auth_changes_user_badges AFTER INSERT OR UPDATE OR DELETE ON user_badges
FOR EACH ROW EXECUTE FUNCTION auth_changes_notify_row_user();
CREATE TRIGGER auth_changes_user_secrets AFTER INSERT OR UPDATE OR DELETE ON user_secrets
FOR EACH ROW EXECUTE FUNCTION auth_changes_notify_row_user();
CREATE TRIGGER auth_changes_two_factor_insert_delete AFTER INSERT OR DELETE ON two_factor
FOR EACH ROW EXECUTE FUNCTION auth_changes_notify_row_user();
CREATE TRIGGER auth_changes_two_factor_update AFTER UPDATE ON two_factor FOR EACH ROW
WHEN (OLD.enabled_at IS DISTINCT FROM NEW.enabled_at OR OLD.user_id IS DISTINCT FROM NEW.user_id)
EXECUTE FUNCTION auth_changes_notify_row_user();
