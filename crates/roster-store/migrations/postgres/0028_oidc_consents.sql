-- Remembered consent to OpenID Connect clients, postgres flavour. Keep in step with
-- ../sqlite/0028_oidc_consents.sql.
-- What a user allowed a client that is not first-party: the scopes (a JSON list, the union of
-- every approval), so that the consent page is shown again only for scopes not yet allowed (or
-- with prompt=consent). Deleting the user or the client deletes the consent.
CREATE TABLE oidc_consents (
    user_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id  TEXT NOT NULL REFERENCES oidc_clients (client_id) ON DELETE CASCADE,
    scopes     TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, client_id)
);
CREATE INDEX oidc_consents_client_idx ON oidc_consents (client_id);
