//! Signing in and proving identity: login, refresh, logout, access tokens, introspection.

use super::users::not_found;
use super::{Actor, Core, Credential};
use crate::error::{Error, Result};
use crate::id::SessionId;
use crate::password::Verified;
use crate::store::{Session, StoreError};
use crate::token::{AccessClaims, ISSUER, digest, random_secret};
use crate::user::User;
use time::Duration;

/// How often last-use times are written at most, per session, key or user.
pub(super) const TOUCH_INTERVAL: Duration = Duration::seconds(60);

/// Who is calling, as far as the transport can tell.
#[derive(Debug, Clone, Default)]
pub struct ClientMeta {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// A fresh access token and refresh token.
#[derive(Debug, Clone)]
pub struct TokenPair {
    pub access_token: String,
    pub refresh_token: String,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    pub session_id: SessionId,
}

/// The result of a registration or login: the user and, unless the account may not sign in
/// yet, its tokens.
#[derive(Debug, Clone)]
pub struct LoginOutcome {
    pub user: User,
    pub tokens: Option<TokenPair>,
}

/// RFC 7662 introspection result.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Introspection {
    pub active: bool,
    pub token_type: Option<&'static str>,
    pub sub: Option<String>,
    pub sid: Option<String>,
    pub username: Option<String>,
    pub scope: Option<String>,
    pub exp: Option<i64>,
    pub iat: Option<i64>,
}

pub(super) fn truncate(s: Option<&str>, max: usize) -> Option<String> {
    s.map(|s| s.chars().take(max).collect())
}

impl Core {
    /// Starts a session for a user who may sign in, returning its tokens.
    pub(crate) async fn start_session(&self, user: &User, meta: &ClientMeta) -> Result<TokenPair> {
        self.start_session_with_ttl(user, meta, self.config.access_token_ttl)
            .await
    }

    /// As [`Core::start_session`], with the access token valid for `access_ttl` (at most as
    /// long as the session itself). For products whose clients cannot refresh.
    pub(crate) async fn start_session_with_ttl(
        &self,
        user: &User,
        meta: &ClientMeta,
        access_ttl: Duration,
    ) -> Result<TokenPair> {
        let access_ttl = access_ttl.min(self.config.refresh_token_ttl);
        let now = self.clock.now();
        let session = Session {
            id: SessionId(self.next_id()),
            user_id: user.id,
            created_at: now,
            last_used_at: now,
            expires_at: now + self.config.refresh_token_ttl,
            user_agent: truncate(meta.user_agent.as_deref(), 512),
            ip: truncate(meta.ip.as_deref(), 64),
        };
        let refresh_token = random_secret();
        self.store.insert_session(&session, &digest(&refresh_token)).await?;
        let access_token = self.sign_access_token_with_ttl(user, session.id, access_ttl)?;
        Ok(TokenPair {
            access_token,
            refresh_token,
            expires_in: access_ttl.whole_seconds(),
            session_id: session.id,
        })
    }

    fn sign_access_token(&self, user: &User, session: SessionId) -> Result<String> {
        self.sign_access_token_with_ttl(user, session, self.config.access_token_ttl)
    }

    fn sign_access_token_with_ttl(&self, user: &User, session: SessionId, ttl: Duration) -> Result<String> {
        let now = self.clock.now().unix_timestamp();
        self.keys().sign(&AccessClaims {
            iss: ISSUER.into(),
            sub: user.id.to_string(),
            sid: session.to_string(),
            iat: now,
            exp: now + ttl.whole_seconds(),
        })
    }

    /// Checks a password for the account named by `login` (email or username). Unknown
    /// accounts cost the same work and give the same error as a wrong password.
    pub async fn check_password(&self, login: &str, password: &str) -> Result<User> {
        self.check_password_for(login, password, false, &ClientMeta::default())
            .await
    }

    /// As [`Core::check_password`]; with `allow_pending`, a pending account passes too. Every
    /// password login of every dialect comes here: the login rate limit and the throttle of
    /// the account and of the client's address apply (see [`crate::limit::Throttle`]), and the
    /// outcome is audited: `login.success` with the login itself, `login.failure` (the
    /// attempted login name and the reason, never the password) on its own.
    pub(crate) async fn check_password_for(
        &self,
        login: &str,
        password: &str,
        allow_pending: bool,
        meta: &ClientMeta,
    ) -> Result<User> {
        let outcome = self.verify_password_login(login, password, allow_pending, meta).await;
        crate::telemetry::login(
            crate::telemetry::LoginMethod::Password,
            crate::telemetry::login_outcome(&outcome),
        );
        if let Ok(user) = &outcome {
            crate::telemetry::note_request_user(user.id);
        }
        if let Err(error) = &outcome {
            self.audit_login_failure(login, error).await;
        }
        outcome
    }

    /// Records a failed login (wrong credentials or an account that may not sign in).
    async fn audit_login_failure(&self, login: &str, error: &Error) {
        let reason = match error {
            Error::InvalidCredentials => "invalid_credentials",
            Error::AccountPending => "account_pending",
            Error::AccountDisabled => "account_disabled",
            Error::Banned { .. } => "banned",
            Error::EmailNotVerified => "email_not_verified",
            Error::RateLimited { .. } => "throttled",
            _ => return,
        };
        let attempted: String = login.trim().chars().take(256).collect();
        let target = self
            .store
            .find_user_by_login(&attempted.to_lowercase())
            .await
            .ok()
            .map(|u| u.id);
        let journal = self
            .journal(None)
            .audit(
                crate::journal::audit::LOGIN_FAILURE,
                target,
                serde_json::json!({ "login": attempted, "reason": reason }),
            )
            .build();
        if let Err(error) = self.store.append_journal(&journal).await {
            tracing::warn!(%error, "a failed login could not be audited");
        }
    }

    async fn verify_password_login(
        &self,
        login: &str,
        password: &str,
        allow_pending: bool,
        meta: &ClientMeta,
    ) -> Result<User> {
        let login = login.trim().to_lowercase();
        let user = match self.store.find_user_by_login(&login).await {
            Ok(user) => Some(user),
            Err(StoreError::NotFound) => None,
            Err(e) => return Err(e.into()),
        };
        let keys = self.login_keys(&login, user.as_ref(), meta);
        self.ensure_login_allowed(&keys, meta).await?;
        match self.verify_login(user, password, allow_pending).await {
            Err(Error::InvalidCredentials) => {
                self.record_login_failure(&keys).await;
                Err(Error::InvalidCredentials)
            }
            Ok(user) => {
                self.record_login_success(&keys).await;
                Ok(user)
            }
            Err(e) => Err(e),
        }
    }

    /// Checks the current password of a signed-in `user` before a change that needs it (a new
    /// password, an account change): whether it matches. Every such check of every dialect
    /// comes here, and is throttled as a login is (see [`Core::check_password_for`]): the
    /// login rate limit of the client's address, and the locks of the account and the
    /// address, which a wrong current password counts towards as a wrong login password does
    /// (429 with `Retry-After` while locked, the password not checked).
    pub(crate) async fn verify_current_password(&self, user: &User, password: &str, meta: &ClientMeta) -> Result<bool> {
        let keys = self.login_keys("", Some(user), meta);
        self.ensure_login_allowed(&keys, meta).await?;
        let matches = match &user.password_hash {
            Some(stored) => self.hasher.verify(password, stored).await? != Verified::No,
            None => {
                self.hasher.verify_dummy(password).await?;
                false
            }
        };
        if matches {
            self.record_login_success(&keys).await;
        } else {
            self.record_login_failure(&keys).await;
        }
        Ok(matches)
    }

    /// The password check itself, for the account found (or None).
    async fn verify_login(&self, user: Option<User>, password: &str, allow_pending: bool) -> Result<User> {
        let Some(user) = user else {
            self.hasher.verify_dummy(password).await?;
            return Err(Error::InvalidCredentials);
        };
        let Some(stored) = &user.password_hash else {
            self.hasher.verify_dummy(password).await?;
            return Err(Error::InvalidCredentials);
        };
        let rehash = match self.hasher.verify(password, stored).await? {
            Verified::No => return Err(Error::InvalidCredentials),
            Verified::Yes => None,
            Verified::YesRehashed(h) => Some(h),
        };
        let now = self.clock.now();
        if allow_pending {
            user.ensure_may_identify_at(now)?;
        } else {
            user.ensure_may_sign_in_at(now)?;
        }
        if !self.config.allow_unverified_email_login && user.email.is_some() && !user.email_verified {
            return Err(Error::EmailNotVerified);
        }
        // Accounts with two-factor authentication get a challenge instead (every dialect).
        self.two_factor_gate(&user).await?;
        let journal = self.login_journal(user.id, "password");
        self.store
            .record_login(user.id, now, rehash.as_ref().map(|h| h.0.as_str()), &journal)
            .await?;
        let mut user = user;
        user.last_login_at = Some(now);
        if let Some(h) = rehash {
            user.password_hash = Some(h);
        }
        Ok(user)
    }

    /// The audit entry of a successful sign-in, `method` being `password`, `two_factor` or
    /// `auto_login`.
    pub(super) fn login_journal(&self, user: crate::id::UserId, method: &str) -> crate::journal::Journal {
        self.journal(Some(user))
            .audit(
                crate::journal::audit::LOGIN_SUCCESS,
                Some(user),
                serde_json::json!({ "method": method }),
            )
            .build()
    }

    /// Password login by email or username.
    pub async fn login(&self, login: &str, password: &str, meta: &ClientMeta) -> Result<LoginOutcome> {
        if login.trim().is_empty() {
            return Err(Error::invalid("login", "must not be empty"));
        }
        if password.is_empty() {
            return Err(Error::invalid("password", "must not be empty"));
        }
        let user = self.check_password_for(login, password, false, meta).await?;
        let tokens = self.start_session(&user, meta).await?;
        tracing::info!(user = %user.id, session = %tokens.session_id, "login");
        Ok(LoginOutcome {
            user,
            tokens: Some(tokens),
        })
    }

    /// Exchanges a refresh token for a new pair. A refresh token that was already used
    /// revokes its whole session (it has leaked).
    pub async fn refresh(&self, refresh_token: &str) -> Result<LoginOutcome> {
        let old = digest(refresh_token);
        let record = self.store.get_refresh_token(&old).await.map_err(|e| match e {
            StoreError::NotFound => Error::InvalidToken,
            e => e.into(),
        })?;
        if record.used_at.is_some() {
            self.revoke_session_after_reuse(record.session_id).await?;
            return Err(Error::InvalidToken);
        }
        let session = self
            .store
            .get_session(record.session_id)
            .await
            .map_err(|_| Error::InvalidToken)?;
        let now = self.clock.now();
        if session.expires_at <= now {
            self.end_session_because(session.user_id, session.id, "expired").await?;
            return Err(Error::InvalidToken);
        }
        let user = self
            .store
            .get_user(session.user_id)
            .await
            .map_err(|_| Error::InvalidToken)?;
        user.ensure_may_sign_in_at(now)?;
        let refresh_token = random_secret();
        if !self
            .store
            .rotate_refresh_token(session.id, &old, &digest(&refresh_token), now)
            .await?
        {
            self.revoke_session_after_reuse(session.id).await?;
            return Err(Error::InvalidToken);
        }
        let access_token = self.sign_access_token(&user, session.id)?;
        Ok(LoginOutcome {
            user,
            tokens: Some(TokenPair {
                access_token,
                refresh_token,
                expires_in: self.config.access_token_ttl.whole_seconds(),
                session_id: session.id,
            }),
        })
    }

    async fn revoke_session_after_reuse(&self, session: SessionId) -> Result<()> {
        if let Ok(s) = self.store.get_session(session).await {
            tracing::warn!(user = %s.user_id, session = %s.id, "refresh token reused; session revoked");
            self.end_session_because(s.user_id, s.id, "refresh_token_reused")
                .await?;
        }
        Ok(())
    }

    /// Ends the session a refresh token belongs to. Unknown tokens are ignored.
    pub async fn logout_refresh_token(&self, refresh_token: &str) -> Result<()> {
        if let Ok(record) = self.store.get_refresh_token(&digest(refresh_token)).await
            && let Ok(session) = self.store.get_session(record.session_id).await
        {
            self.end_session(session.user_id, session.id).await?;
        }
        Ok(())
    }

    /// Ends the caller's current session (no-op for API keys).
    pub async fn logout(&self, actor: &Actor) -> Result<()> {
        if let Some(session) = actor.session() {
            self.end_session(actor.user.id, session).await?;
        }
        Ok(())
    }

    /// Authenticates an access token: signature, expiry, a live session, an account that
    /// may sign in. Revocation therefore takes effect on the next request.
    pub async fn authenticate_access_token(&self, token: &str) -> Result<Actor> {
        self.authenticate_access_token_for(token, false).await
    }

    /// As [`Core::authenticate_access_token`]; with `allow_pending`, the session of a pending
    /// account authenticates too (see [`User::ensure_may_identify_at`]).
    pub(crate) async fn authenticate_access_token_for(&self, token: &str, allow_pending: bool) -> Result<Actor> {
        let now = self.clock.now();
        let VerifiedToken {
            user: user_id,
            session: session_id,
            ..
        } = self.verify_access_token(token, now).await?;
        crate::telemetry::note_request_user(user_id);
        let mut found = self.session_with_user(session_id).await?;
        let session = &mut found.record;
        if session.user_id != user_id || session.expires_at <= now {
            return Err(Error::InvalidToken);
        }
        if allow_pending {
            found.user.ensure_may_identify_at(now)?;
        } else {
            found.user.ensure_may_sign_in_at(now)?;
        }
        let mut touched = false;
        if now - session.last_used_at >= TOUCH_INTERVAL {
            self.store.touch_session(session.id, now).await?;
            session.last_used_at = now;
            touched = true;
        }
        if self.activity_due(&found.user, now) {
            self.store.touch_user(found.user.id, now).await?;
            found.user.last_active_at = Some(now);
            touched = true;
        }
        if touched {
            self.remember_session(&found);
        }
        let (session, user) = (found.record, found.user);
        Ok(Actor {
            user,
            credential: Credential::Session(session.id),
            surface: super::Surface::default(),
        })
    }

    /// What became of the account of an access token that no longer authenticates, for
    /// products that tell their clients (Langflow). Only a token Roster signed, not yet
    /// expired, says anything: [`TokenHolder::Gone`] when its user no longer exists,
    /// [`TokenHolder::Inactive`] when the user may not sign in (deactivated, pending,
    /// banned); `None` for anything else (a bad or expired token, a session ended while the
    /// account may still sign in).
    pub async fn access_token_holder(&self, token: &str) -> Result<Option<TokenHolder>> {
        let now = self.clock.now();
        let Ok(VerifiedToken { user: user_id, .. }) = self.verify_access_token(token, now).await else {
            return Ok(None);
        };
        match self.store.get_user(user_id).await {
            Ok(user) => Ok(user
                .ensure_may_sign_in_at(now)
                .is_err()
                .then_some(TokenHolder::Inactive)),
            Err(StoreError::NotFound) => Ok(Some(TokenHolder::Gone)),
            Err(e) => Err(e.into()),
        }
    }

    /// Checks an access token's signature (remembered per token, since it cannot change),
    /// issuer and expiry, and reads the user and session it names. Says nothing about
    /// revocation: the caller checks the session.
    async fn verify_access_token(&self, token: &str, now: time::OffsetDateTime) -> Result<VerifiedToken> {
        if let Some(verified) = self.verified_tokens.get(token) {
            if verified.exp <= now.unix_timestamp() {
                return Err(Error::InvalidToken);
            }
            return Ok(verified);
        }
        let claims = self.keys_for(token).await?.verify(token, now)?;
        let (user, session) = claims.ids()?;
        let verified = VerifiedToken {
            user,
            session,
            exp: claims.exp,
        };
        self.verified_tokens.insert(token.to_string(), verified);
        Ok(verified)
    }

    /// When an access token expires (Unix seconds): from its checked signature, issuer and
    /// expiry, remembered per token as [`Core::authenticate_access_token`] remembers them (so
    /// a route that has just authenticated the token checks no signature again). None for
    /// anything that is not a valid access token now. Says nothing about revocation.
    pub async fn access_token_expiry(&self, token: &str) -> Option<i64> {
        self.verify_access_token(token, self.clock.now())
            .await
            .ok()
            .map(|verified| verified.exp)
    }

    /// Whether a user's activity is due to be recorded (at most once per `activity_interval`,
    /// a minute).
    pub(crate) fn activity_due(&self, user: &User, now: time::OffsetDateTime) -> bool {
        user.last_active_at
            .is_none_or(|t| now - t >= self.config.activity_interval)
    }

    /// Records that a user is active, at most once per `activity_interval` (a minute).
    pub(crate) async fn touch_user_activity(&self, mut user: User, now: time::OffsetDateTime) -> Result<User> {
        if self.activity_due(&user, now) {
            self.store.touch_user(user.id, now).await?;
            user.last_active_at = Some(now);
        }
        Ok(user)
    }

    /// Authenticates a bearer credential of either kind: an access token (a JWT) or an API key.
    pub async fn authenticate_bearer(&self, token: &str) -> Result<Actor> {
        if super::is_api_key(token) {
            self.authenticate_api_key(token).await
        } else {
            self.authenticate_access_token(token).await
        }
    }

    /// RFC 7662: says whether a token is active right now. Only callers using an API key with
    /// the `introspect` scope may ask.
    pub async fn introspect(&self, actor: &Actor, token: &str) -> Result<Introspection> {
        if !actor.has_scope(super::SCOPE_INTROSPECT) {
            return Err(Error::Forbidden(crate::error::Refusal::IntrospectScopeRequired));
        }
        let token = token.trim();
        if token.is_empty() {
            return Err(Error::invalid("token", "must not be empty"));
        }
        if super::is_api_key(token) {
            return Ok(match self.authenticate_api_key(token).await {
                Ok(a) => {
                    let id = match &a.credential {
                        Credential::ApiKey { id, .. } => Some(id.to_string()),
                        Credential::Session(_) => None,
                    };
                    let scopes = a.scopes().collect::<Vec<_>>().join(" ");
                    let key = self.store.get_api_key_by_digest(&digest(token)).await.ok();
                    Introspection {
                        active: true,
                        token_type: Some("api_key"),
                        sub: Some(a.user.id.to_string()),
                        sid: id,
                        username: a.user.username.clone(),
                        scope: Some(scopes).filter(|s| !s.is_empty()),
                        exp: key.as_ref().and_then(|k| k.expires_at).map(|t| t.unix_timestamp()),
                        iat: key.map(|k| k.created_at.unix_timestamp()),
                    }
                }
                Err(Error::Unavailable) => return Err(Error::Unavailable),
                Err(_) => Introspection::default(),
            });
        }
        if token.contains('.') {
            return Ok(match self.authenticate_access_token(token).await {
                Ok(a) => {
                    let claims = self.keys().verify(token, self.clock.now())?;
                    Introspection {
                        active: true,
                        token_type: Some("access_token"),
                        sub: Some(claims.sub),
                        sid: Some(claims.sid),
                        username: a.user.username,
                        scope: None,
                        exp: Some(claims.exp),
                        iat: Some(claims.iat),
                    }
                }
                Err(Error::Unavailable) => return Err(Error::Unavailable),
                Err(_) => Introspection::default(),
            });
        }
        // A refresh token: active while unused, its session live and its user allowed in.
        let Ok(record) = self.store.get_refresh_token(&digest(token)).await else {
            return Ok(Introspection::default());
        };
        let now = self.clock.now();
        let live = async {
            let session = self.store.get_session(record.session_id).await.ok()?;
            let user = self.store.get_user(session.user_id).await.ok()?;
            (record.used_at.is_none() && session.expires_at > now && user.ensure_may_sign_in_at(now).is_ok())
                .then_some((session, user))
        };
        Ok(match live.await {
            Some((session, user)) => Introspection {
                active: true,
                token_type: Some("refresh_token"),
                sub: Some(user.id.to_string()),
                sid: Some(session.id.to_string()),
                username: user.username,
                scope: None,
                exp: Some(session.expires_at.unix_timestamp()),
                iat: Some(session.created_at.unix_timestamp()),
            },
            None => Introspection::default(),
        })
    }

    /// Reads a session owned by `actor`.
    pub(crate) async fn own_session(&self, actor: &Actor, id: SessionId) -> Result<Session> {
        let session = self.store.get_session(id).await.map_err(not_found("session"))?;
        if session.user_id != actor.user.id {
            return Err(Error::NotFound("session"));
        }
        Ok(session)
    }
}

/// What a checked access token says (see `Core::verify_access_token`): its user, its
/// session and its expiry (Unix seconds), kept per token instead of its claims' text.
#[derive(Debug, Clone, Copy)]
pub(super) struct VerifiedToken {
    pub user: crate::id::UserId,
    pub session: SessionId,
    pub exp: i64,
}

/// What became of the account of an access token that no longer authenticates (see
/// [`Core::access_token_holder`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenHolder {
    /// The user was deleted.
    Gone,
    /// The user may not sign in: deactivated, awaiting approval or banned.
    Inactive,
}
