-- Changes to what the current-user routes show beside the user, for the core's per-user
-- facts (crates/roster-core/src/service/user_facts.rs), SQLite flavour. Keep in step with
-- ../postgres/0048_auth_changes_user_facts.sql.
-- Each server remembers a user's effective permissions (the permission template OR-merged
-- with the user's groups), whether two-factor authentication is on, the badges and the sealed
-- Langflow store key, and forgets them when they change. Those of other processes on the same
-- file it learns from the change count of migration 0040, which the triggers below raise too.
-- A two-factor code's use (`last_used_step`) changes nothing remembered and counts nothing.

CREATE TRIGGER auth_changes_group_members_insert AFTER INSERT ON group_members
BEGIN
    UPDATE auth_changes SET n = n + 1 WHERE id = 1;
END;
CREATE TRIGGER auth_changes_group_members_update AFTER UPDATE ON group_members
BEGIN
    UPDATE auth_changes SET n = n + 1 WHERE id = 1;
END;
CREATE TRIGGER auth_changes_group_members_delete AFTER DELETE ON group_members
BEGIN
    UPDATE auth_changes SET n = n + 1 WHERE id = 1;
END;
CREATE TRIGGER auth_changes_groups_update AFTER UPDATE ON groups
WHEN OLD.permissions IS NOT NEW.permissions
BEGIN
    UPDATE auth_changes SET n = n + 1 WHERE id = 1;
END;
CREATE TRIGGER auth_changes_groups_delete AFTER DELETE ON groups
BEGIN
    UPDATE auth_changes SET n = n + 1 WHERE id = 1;
END;
CREATE TRIGGER auth_changes_permission_templates_insert AFTER INSERT ON permission_templates
BEGIN
    UPDATE auth_changes SET n = n + 1 WHERE id = 1;
END;
CREATE TRIGGER auth_changes_permission_templates_update AFTER UPDATE ON permission_templates
BEGIN
    UPDATE auth_changes SET n = n + 1 WHERE id = 1;
END;
CREATE TRIGGER auth_changes_permission_templates_delete AFTER DELETE ON permission_templates
BEGIN
    UPDATE auth_changes SET n = n + 1 WHERE id = 1;
END;
CREATE TRIGGER auth_changes_user_badges_insert AFTER INSERT ON user_badges
BEGIN
    UPDATE auth_changes SET n = n + 1 WHERE id = 1;
END;
CREATE TRIGGER auth_changes_user_badges_update AFTER UPDATE ON user_badges
BEGIN
    UPDATE auth_changes SET n = n + 1 WHERE id = 1;
END;
CREATE TRIGGER auth_changes_user_badges_delete AFTER DELETE ON user_badges
BEGIN
    UPDATE auth_changes SET n = n + 1 WHERE id = 1;
END;
CREATE TRIGGER auth_changes_user_secrets_insert AFTER INSERT ON user_secrets
BEGIN
    UPDATE auth_changes SET n = n + 1 WHERE id = 1;
END;
CREATE TRIGGER auth_changes_user_secrets_update AFTER UPDATE ON user_secrets
BEGIN
    UPDATE auth_changes SET n = n + 1 WHERE id = 1;
END;
CREATE TRIGGER auth_changes_user_secrets_delete AFTER DELETE ON user_secrets
BEGIN
    UPDATE auth_changes SET n = n + 1 WHERE id = 1;
END;
CREATE TRIGGER auth_changes_two_factor_insert AFTER INSERT ON two_factor
BEGIN
    UPDATE auth_changes SET n = n + 1 WHERE id = 1;
END;
CREATE TRIGGER auth_changes_two_factor_update AFTER UPDATE ON two_factor
WHEN OLD.enabled_at IS NOT NEW.enabled_at OR OLD.user_id IS NOT NEW.user_id
BEGIN
    UPDATE auth_changes SET n = n + 1 WHERE id = 1;
END;
CREATE TRIGGER auth_changes_two_factor_delete AFTER DELETE ON two_factor
BEGIN
    UPDATE auth_changes SET n = n + 1 WHERE id = 1;
END;
