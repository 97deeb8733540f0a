-- Users of one role in creation order: the admin console's list filtered by role or status
-- (`/admin/users?status=pending`, the dashboard's accounts waiting for approval) in its default
-- order. Without it, SQLite (whose statistics know how rare pending accounts are) read every
-- account of the role through the (role, id) index and sorted them: at a million users, each
-- page sorted 50,000 rows. Keep in step with the other backend's 0046.
CREATE INDEX users_role_created_idx ON users (role, created_at, id);
