-- The OpenID Connect provider, postgres flavour. Keep in step with ../sqlite/0020_oidc.sql.
-- Lists (redirect URIs, scopes, amr) are JSON arrays kept as text in both flavours.

-- Signing keys of ID and access tokens, per algorithm (RS256, EdDSA). Within an algorithm the
-- highest generation is the next key (published, not yet used), the one below it signs, older
-- ones are retired (published until every token they signed has expired, then deleted).
-- private_key is sealed with the secret key (see roster_core::secret).
CREATE TABLE oidc_signing_keys (
    kid         TEXT NOT NULL PRIMARY KEY,
    alg         TEXT NOT NULL,
    generation  BIGINT NOT NULL,
    private_key BYTEA NOT NULL,
    public_key  BYTEA NOT NULL,
    created_at  BIGINT NOT NULL,
    UNIQUE (alg, generation)
);

-- Relying parties. secret_digest is the SHA-256 of the secret (NULL: a public client).
CREATE TABLE oidc_clients (
    client_id                 TEXT NOT NULL PRIMARY KEY,
    name                      TEXT,
    secret_digest             TEXT,
    redirect_uris             TEXT NOT NULL,
    post_logout_redirect_uris TEXT NOT NULL,
    scopes                    TEXT NOT NULL,
    grant_types               TEXT NOT NULL,
    audience                  TEXT,
    first_party               BOOLEAN NOT NULL,
    backchannel_logout_uri    TEXT,
    signing_alg               TEXT NOT NULL,
    access_token_ttl          BIGINT NOT NULL,
    id_token_ttl              BIGINT NOT NULL,
    refresh_token_ttl         BIGINT NOT NULL,
    roles_claim               TEXT NOT NULL,
    groups_claim              TEXT NOT NULL,
    created_at                BIGINT NOT NULL,
    updated_at                BIGINT NOT NULL
);

-- What a user granted a client in one browser session (session_id: the OpenID sid). Ending
-- the session, deleting the user or the client ends the grant and every token it issued.
CREATE TABLE oidc_grants (
    id         BIGINT NOT NULL PRIMARY KEY,
    client_id  TEXT NOT NULL REFERENCES oidc_clients (client_id) ON DELETE CASCADE,
    user_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    session_id BIGINT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    scope      TEXT NOT NULL,
    auth_time  BIGINT NOT NULL,
    amr        TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX oidc_grants_user_idx ON oidc_grants (user_id);
CREATE INDEX oidc_grants_session_idx ON oidc_grants (session_id);
CREATE INDEX oidc_grants_client_idx ON oidc_grants (client_id);

-- Authorization codes, by the SHA-256 of the code: single use (used_at), short-lived.
CREATE TABLE oidc_codes (
    digest         TEXT NOT NULL PRIMARY KEY,
    grant_id       BIGINT NOT NULL REFERENCES oidc_grants (id) ON DELETE CASCADE,
    redirect_uri   TEXT NOT NULL,
    nonce          TEXT,
    code_challenge TEXT,
    created_at     BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL,
    used_at        BIGINT
);
CREATE INDEX oidc_codes_grant_idx ON oidc_codes (grant_id);

-- Refresh tokens, by digest: each is exchanged once for the next (used_at); a used one
-- presented again ends its grant.
CREATE TABLE oidc_refresh_tokens (
    digest     TEXT NOT NULL PRIMARY KEY,
    grant_id   BIGINT NOT NULL REFERENCES oidc_grants (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    used_at    BIGINT
);
CREATE INDEX oidc_refresh_tokens_grant_idx ON oidc_refresh_tokens (grant_id);
