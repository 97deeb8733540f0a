-- Offline access (the offline_access scope), PostgreSQL flavour. Keep in step with
-- ../sqlite/0027_offline_grants.sql.
--
-- A grant with offline_access outlives the browser session it came from (as Keycloak's offline
-- sessions do): its session_id is a session of its own (an "offline session", listed with the
-- user's sessions), which every path that ends all of a user's sessions (log out everywhere,
-- an administrator's revocation, deactivation, a password change or reset, deletion) ends, and
-- with it the grant (0020's cascade, 0026's logout). Signing out of the browser session ends
-- only that session. `sid` is the browser session the grant came from (the `sid` of its tokens
-- and logouts; NULL: session_id is the browser session).
ALTER TABLE oidc_grants ADD COLUMN sid BIGINT;
ALTER TABLE oidc_grants ADD COLUMN offline BOOLEAN NOT NULL DEFAULT FALSE;
CREATE INDEX oidc_grants_sid_idx ON oidc_grants (sid);

-- Logouts carry the browser session's id.
CREATE OR REPLACE FUNCTION oidc_grant_ended() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO oidc_logouts (client_id, user_id, sid, status, attempts, next_attempt_at, created_at)
    SELECT OLD.client_id, OLD.user_id, COALESCE(OLD.sid, OLD.session_id), 'pending', 0, 0,
           (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT
    FROM oidc_clients c
    WHERE c.client_id = OLD.client_id AND c.backchannel_logout_uri IS NOT NULL
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;

-- An offline grant that ends (revoked, a ban, its client deleted, expired) takes its offline
-- session with it.
CREATE FUNCTION oidc_offline_grant_ended() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM sessions WHERE id = OLD.session_id;
    RETURN NULL;
END
$$;
CREATE TRIGGER oidc_grants_offline_session AFTER DELETE ON oidc_grants
FOR EACH ROW WHEN (OLD.offline) EXECUTE FUNCTION oidc_offline_grant_ended();

-- A browser session that ends tells the clients of the offline grants that came from it
-- (Back-Channel Logout 1.0 §2.7: their sign-in ends, the offline grant stays).
CREATE FUNCTION oidc_session_ended() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO oidc_logouts (client_id, user_id, sid, status, attempts, next_attempt_at, created_at)
    SELECT g.client_id, g.user_id, OLD.id, 'pending', 0, 0,
           (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT
    FROM oidc_grants g JOIN oidc_clients c ON c.client_id = g.client_id
    WHERE g.sid = OLD.id AND g.offline AND c.backchannel_logout_uri IS NOT NULL
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;
CREATE TRIGGER sessions_offline_backchannel_logout AFTER DELETE ON sessions
FOR EACH ROW EXECUTE FUNCTION oidc_session_ended();
