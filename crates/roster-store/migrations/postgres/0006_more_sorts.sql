-- Keyset pagination for the remaining sort orders (Open WebUI's order_by keys).
CREATE INDEX users_updated_at_sort_idx ON users (updated_at, id);
CREATE INDEX users_last_active_at_sort_idx ON users (COALESCE(last_active_at, 0), id);
CREATE INDEX users_role_sort_idx ON users (role, id);
