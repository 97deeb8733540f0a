-- External references: which record of another product's installation (Open WebUI,
-- Langflow, LibreChat) became which Roster record, so that `roster migrate` run again
-- updates instead of duplicating. Keep in step with ../postgres/0012_external_refs.sql.
-- `kind` is user, group, api_key or transaction; `local_id` the Roster id. `fingerprint`
-- is a digest of the source's password hash when the user was imported: a re-run takes a
-- source hash only when it changed there (a password changed in Roster since is kept).
CREATE TABLE external_refs (
    source      TEXT NOT NULL,
    kind        TEXT NOT NULL,
    external_id TEXT NOT NULL,
    local_id    BIGINT NOT NULL,
    fingerprint TEXT,
    imported_at BIGINT NOT NULL,
    PRIMARY KEY (source, kind, external_id)
);
CREATE INDEX external_refs_local_id_idx ON external_refs (kind, local_id);
