-- OpenID Connect Back-Channel Logout 1.0, PostgreSQL flavour. Keep in step with
-- ../sqlite/0026_backchannel_logout.sql.
--
-- A grant (0020) ends with its browser session (the foreign key's cascade), its user, or on its
-- own (revocation, a replayed code, a reused refresh token, a ban). Whatever the path, the row of
-- oidc_grants is deleted, and this trigger queues a logout for the client in the same
-- transaction: a path added later cannot forget it. `quiet_end` marks the grants that end
-- without one (expired grants swept away). A client without a back-channel logout URI, or one
-- being deleted (its row is already gone when its grants cascade), gets nothing.
--
-- One pending logout per (client, sid): several grants of one client in one browser session,
-- or a session and its grants ending together, make one logout token. The workers in
-- `roster serve` claim due rows with FOR UPDATE SKIP LOCKED and a lease (claimed_by,
-- claimed_until), sign a logout_token and POST it; after the last attempt the row is `failed`
-- (kept, visible).
ALTER TABLE oidc_grants ADD COLUMN quiet_end BOOLEAN NOT NULL DEFAULT FALSE;

CREATE TABLE oidc_logouts (
    id               BIGSERIAL PRIMARY KEY,
    client_id        TEXT NOT NULL,
    user_id          BIGINT NOT NULL,
    sid              BIGINT NOT NULL,
    status           TEXT NOT NULL,
    attempts         BIGINT NOT NULL,
    next_attempt_at  BIGINT NOT NULL,
    claimed_by       TEXT,
    claimed_until    BIGINT,
    last_attempt_at  BIGINT,
    last_status_code BIGINT,
    last_error       TEXT,
    delivered_at     BIGINT,
    created_at       BIGINT NOT NULL
);
CREATE UNIQUE INDEX oidc_logouts_pending_idx ON oidc_logouts (client_id, sid) WHERE status = 'pending';
CREATE INDEX oidc_logouts_due_idx ON oidc_logouts (status, next_attempt_at);
CREATE INDEX oidc_logouts_user_idx ON oidc_logouts (user_id);

-- next_attempt_at 0: due at once; created_at: the database's clock, in milliseconds.
CREATE FUNCTION oidc_grant_ended() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO oidc_logouts (client_id, user_id, sid, status, attempts, next_attempt_at, created_at)
    SELECT OLD.client_id, OLD.user_id, OLD.session_id, 'pending', 0, 0,
           (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT
    FROM oidc_clients c
    WHERE c.client_id = OLD.client_id AND c.backchannel_logout_uri IS NOT NULL
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;

CREATE TRIGGER oidc_grants_backchannel_logout AFTER DELETE ON oidc_grants
FOR EACH ROW WHEN (NOT OLD.quiet_end) EXECUTE FUNCTION oidc_grant_ended();
