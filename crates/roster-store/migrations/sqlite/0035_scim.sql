-- SCIM provisioning (Roster as a SCIM 2.0 service provider): what a directory sent for a
-- user or a group that Roster has no column for. Keep in step with ../postgres/0035_scim.sql.
-- `external_id` is the directory's own id (SCIM `externalId`); `attributes` a JSON object
-- of the other attributes it sent (the enterprise extension, phone numbers, the parts of the
-- name, ...), returned as sent. A row goes with its user or group.
CREATE TABLE scim_users (
    user_id     BIGINT NOT NULL PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    external_id TEXT,
    attributes  TEXT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE INDEX scim_users_external_id_idx ON scim_users (external_id);

CREATE TABLE scim_groups (
    group_id    BIGINT NOT NULL PRIMARY KEY REFERENCES groups (id) ON DELETE CASCADE,
    external_id TEXT,
    attributes  TEXT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE INDEX scim_groups_external_id_idx ON scim_groups (external_id);
