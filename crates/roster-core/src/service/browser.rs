//! Browser sessions: the sessions of Roster's own sign-in pages, held by a browser in a
//! cookie, which give single sign-on to the relying parties of OpenID Connect.
//!
//! A browser session is a row of `sessions` like any other (so every path that ends a user's
//! sessions, logout, a ban, deactivation, a password reset, deletion, ends it too), found by
//! the digest of its cookie rather than by a refresh token, with the time the user last proved
//! who they are (`auth_time`) and how (`amr`). Signing in goes through the same password check
//! as every other login ([`Core::check_password_for`]: throttling, the rules on pending,
//! deactivated and banned accounts, two-factor challenges, the audit trail).

use super::auth::{ClientMeta, TOUCH_INTERVAL, truncate};
use super::two_factor::SecondFactor;
use super::{Actor, Core, Credential, Surface};
use crate::error::{Error, Result};
use crate::id::SessionId;
use crate::store::{Session, StoreError};
use crate::token::{digest, random_secret};
use crate::user::User;
use time::{Duration, OffsetDateTime};

/// The `amr` value of a password (RFC 8176).
pub const AMR_PASSWORD: &str = "pwd";
/// The `amr` value of a one-time code, TOTP or backup code (RFC 8176).
pub const AMR_OTP: &str = "otp";

/// A live browser session and its user.
#[derive(Debug, Clone, PartialEq)]
pub struct BrowserSession {
    pub user: User,
    /// The session's id: OpenID Connect's `sid`.
    pub session_id: SessionId,
    /// When the user last proved who they are in this session.
    pub auth_time: OffsetDateTime,
    /// How: [`AMR_PASSWORD`], and [`AMR_OTP`] after a second factor.
    pub amr: Vec<String>,
    /// When the session ends at the latest.
    pub expires_at: OffsetDateTime,
}

impl BrowserSession {
    /// The caller this session is, for core calls made on the user's behalf.
    pub fn actor(&self) -> Actor {
        Actor {
            user: self.user.clone(),
            credential: Credential::Session(self.session_id),
            surface: Surface::default(),
        }
    }

    /// Whether the user proved who they are at most `max_age` before `now` (OpenID Connect's
    /// `max_age`).
    pub fn authenticated_within(&self, max_age: Duration, now: OffsetDateTime) -> bool {
        now - self.auth_time <= max_age
    }
}

/// A browser session just started, with the cookie value that names it: the only time that
/// value is seen (the store keeps its digest).
#[derive(Clone)]
pub struct BrowserSessionStarted {
    pub session: BrowserSession,
    pub cookie: String,
}

impl std::fmt::Debug for BrowserSessionStarted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrowserSessionStarted")
            .field("session", &self.session)
            .finish_non_exhaustive()
    }
}

/// The outcome of a sign-in form.
#[derive(Debug, Clone)]
pub enum BrowserSignIn {
    /// Signed in.
    SignedIn(Box<BrowserSessionStarted>),
    /// The password was right; the account needs its second factor, given with this
    /// challenge to [`Core::complete_browser_two_factor`] within `expires_in` seconds.
    SecondFactor { challenge: String, expires_in: i64 },
}

impl Core {
    /// Signs a browser in with a login (email or username) and a password. Every rule of a
    /// password login applies (see [`Core::check_password_for`]); an account with two-factor
    /// authentication gets [`BrowserSignIn::SecondFactor`].
    pub async fn browser_sign_in(&self, login: &str, password: &str, meta: &ClientMeta) -> Result<BrowserSignIn> {
        if login.trim().is_empty() {
            return Err(Error::invalid("login", "must not be empty"));
        }
        if password.is_empty() {
            return Err(Error::invalid("password", "must not be empty"));
        }
        match self.check_password_for(login, password, false, meta).await {
            Ok(user) => Ok(BrowserSignIn::SignedIn(Box::new(
                self.start_browser_session(user, &[AMR_PASSWORD], meta).await?,
            ))),
            Err(Error::TwoFactorRequired(challenge)) => Ok(BrowserSignIn::SecondFactor {
                challenge: challenge.token,
                expires_in: challenge.expires_in,
            }),
            Err(e) => Err(e),
        }
    }

    /// The second step of a browser sign-in: the challenge of
    /// [`BrowserSignIn::SecondFactor`] and a TOTP or backup code (the rules of
    /// [`Core::complete_two_factor_login`]).
    pub async fn complete_browser_two_factor(
        &self,
        challenge: &str,
        factor: &SecondFactor,
        meta: &ClientMeta,
    ) -> Result<BrowserSessionStarted> {
        let user = self.pass_two_factor_challenge(challenge, factor).await?;
        self.start_browser_session(user, &[AMR_PASSWORD, AMR_OTP], meta).await
    }

    async fn start_browser_session(
        &self,
        user: User,
        amr: &[&str],
        meta: &ClientMeta,
    ) -> Result<BrowserSessionStarted> {
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
        let cookie = random_secret();
        let amr: Vec<String> = amr.iter().map(|s| s.to_string()).collect();
        self.store
            .insert_browser_session(&session, &digest(&cookie), now, &amr)
            .await?;
        tracing::info!(user = %user.id, session = %session.id, "browser sign-in");
        Ok(BrowserSessionStarted {
            session: BrowserSession {
                user,
                session_id: session.id,
                auth_time: now,
                amr,
                expires_at: session.expires_at,
            },
            cookie,
        })
    }

    /// The browser session a cookie names: live, and its user still allowed to sign in.
    /// Anything else is [`Error::InvalidToken`] (or the account's own refusal: pending,
    /// deactivated, banned).
    pub async fn browser_session(&self, cookie: &str) -> Result<BrowserSession> {
        let cookie = cookie.trim();
        if cookie.is_empty() || cookie.len() > 128 {
            return Err(Error::InvalidToken);
        }
        let (record, user) = self
            .store
            .get_browser_session(&digest(cookie))
            .await
            .map_err(|e| match e {
                StoreError::NotFound => Error::InvalidToken,
                e => e.into(),
            })?;
        let now = self.clock.now();
        if record.session.user_id != user.id || record.session.expires_at <= now {
            return Err(Error::InvalidToken);
        }
        crate::telemetry::note_request_user(user.id);
        user.ensure_may_sign_in_at(now)?;
        if now - record.session.last_used_at >= TOUCH_INTERVAL {
            self.store.touch_session(record.session.id, now).await?;
        }
        let user = self.touch_user_activity(user, now).await?;
        Ok(BrowserSession {
            user,
            session_id: record.session.id,
            auth_time: record.auth_time,
            amr: record.amr,
            expires_at: record.session.expires_at,
        })
    }

    /// Signs a browser out: ends its session, or with `everywhere` every session of the user
    /// (browser sessions, token sessions of every dialect). Returns how many ended.
    pub async fn end_browser_session(&self, session: &BrowserSession, everywhere: bool) -> Result<u64> {
        let user = session.user.id;
        if everywhere {
            let n = self
                .revoke_sessions(Some(user), user, None, "logout_everywhere", true)
                .await?;
            tracing::info!(user = %user, revoked = n, "signed out everywhere");
            Ok(n)
        } else {
            self.end_session(user, session.session_id).await?;
            Ok(1)
        }
    }
}
