-- Groups, group membership and permission templates, PostgreSQL flavour.
-- Keep in step with ../sqlite/0005_groups.sql (the parity tests check this).

-- A group grants its members permissions (a JSON object, OR-merged over the template).
CREATE TABLE groups (
    id          BIGINT NOT NULL PRIMARY KEY,
    name        TEXT NOT NULL,
    description TEXT NOT NULL,
    permissions JSONB NOT NULL,
    created_by  BIGINT,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

CREATE TABLE group_members (
    group_id   BIGINT NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    user_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX group_members_user_id_idx ON group_members (user_id);

-- Named permission templates (`default`: what every user has before groups).
CREATE TABLE permission_templates (
    name        TEXT NOT NULL PRIMARY KEY,
    permissions JSONB NOT NULL,
    updated_at  BIGINT NOT NULL
);
