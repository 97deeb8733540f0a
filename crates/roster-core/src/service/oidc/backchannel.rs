//! OpenID Connect Back-Channel Logout 1.0: when a grant ends, its client is told with a signed
//! `logout_token` POSTed to its `backchannel_logout_uri`.
//!
//! Queueing is the database's: every deletion of an `oidc_grants` row (its browser session
//! ended, its user was deleted, a ban, a revocation, a replayed code, a reused refresh token)
//! queues an `oidc_logouts` row in the same transaction, by a trigger (migration 0026), so no
//! path that ends sessions can forget it and nothing is queued for a change that rolled back.
//! Sending is the delivery worker's ([`crate::service::DeliveryWorker`]): the same claims with a
//! lease, transport, address policy, back-off and bound on attempts as webhooks. A logout given
//! up stays visible as `failed`; delivered and failed ones are audited.

use super::action;
use crate::error::{Error, Result};
use crate::id::{SessionId, UserId};
use crate::service::webhooks::{attempt_record, post_checked};
use crate::service::{Authority, Core, WebhookSettings, WebhookTransport};
use crate::store::{OidcClient, OidcLogout, StoreError};
use crate::token::random_secret;
use crate::webhooks::{AttemptRecord, DeliveryStatus};
use serde_json::json;
use time::{Duration, OffsetDateTime};

/// The event of a logout token (Back-Channel Logout 1.0 §2.4).
pub const BACKCHANNEL_LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
/// The `typ` header of a logout token (§2.4, RFC 8725 explicit typing).
pub const LOGOUT_TOKEN_TYPE: &str = "logout+jwt";
/// How long a logout token is valid; each attempt signs a new one.
pub const LOGOUT_TOKEN_TTL: Duration = Duration::minutes(2);
/// The most logouts one listing holds.
pub const MAX_LOGOUTS_PAGE: u32 = 500;

impl Core {
    /// A signed logout token for `user`'s browser session `sid` at `client`: `iss`, `aud` (the
    /// client id), `iat`, `exp`, `jti`, `sub`, `sid`, `events`, and no `nonce`; signed with the
    /// client's algorithm and the current key (`kid` set), `typ: logout+jwt`.
    pub async fn oidc_logout_token(&self, client: &OidcClient, user: UserId, sid: SessionId) -> Result<String> {
        let now = OffsetDateTime::now_utc();
        let claims = json!({
            "iss": self.oidc_issuer(),
            "aud": client.client_id,
            "iat": now.unix_timestamp(),
            "exp": (now + LOGOUT_TOKEN_TTL).unix_timestamp(),
            "jti": random_secret(),
            "sub": user.to_string(),
            "sid": sid.to_string(),
            "events": { BACKCHANNEL_LOGOUT_EVENT: {} },
        });
        self.oidc_keys()
            .await?
            .sign(&client.signing_alg, Some(LOGOUT_TOKEN_TYPE), &claims)
    }

    /// Sends one claimed logout and records the attempt; a delivered or given-up logout is
    /// audited (`oidc.backchannel_logout`) in the same transaction as its outcome.
    pub(crate) async fn send_oidc_logout(
        &self,
        transport: &dyn WebhookTransport,
        settings: &WebhookSettings,
        owner: &str,
        logout: OidcLogout,
    ) -> Result<()> {
        let client = match self.store.get_oidc_client(&logout.client_id).await {
            Ok(client) => Some(client),
            Err(StoreError::NotFound) => None,
            Err(e) => return Err(e.into()),
        };
        let target = client
            .as_ref()
            .and_then(|c| c.backchannel_logout_uri.clone().map(|uri| (c, uri)));
        let record = match target {
            Some((client, uri)) => {
                let token = self.oidc_logout_token(client, logout.user_id, logout.sid).await?;
                let body = url::form_urlencoded::Serializer::new(String::new())
                    .append_pair("logout_token", &token)
                    .finish()
                    .into_bytes();
                let headers = [("content-type", "application/x-www-form-urlencoded".to_string())];
                let outcome = post_checked(self, transport, settings, &uri, &headers, body).await;
                attempt_record("backchannel_logout", outcome, logout.attempts, settings)
            }
            None => {
                // The client was deleted, or takes no back-channel logouts any more: nothing
                // to send, ever.
                let now = OffsetDateTime::now_utc();
                AttemptRecord {
                    status: DeliveryStatus::Failed,
                    attempted_at: now,
                    status_code: None,
                    error: Some(
                        if client.is_none() {
                            "the client was deleted"
                        } else {
                            "the client has no backchannel_logout_uri"
                        }
                        .into(),
                    ),
                    next_attempt_at: now,
                }
            }
        };
        let attempts = logout.attempts + 1;
        let journal = match record.status {
            DeliveryStatus::Pending => {
                tracing::info!(logout = logout.id, client = %logout.client_id, attempts, error = ?record.error, "back-channel logout attempt failed; will retry");
                crate::journal::Journal::default()
            }
            status => {
                if status == DeliveryStatus::Failed {
                    tracing::warn!(logout = logout.id, client = %logout.client_id, attempts, error = ?record.error, "back-channel logout given up");
                } else {
                    tracing::info!(logout = logout.id, client = %logout.client_id, attempts, "back-channel logout delivered");
                }
                self.journal(None)
                    .audit(
                        action::BACKCHANNEL_LOGOUT,
                        Some(logout.user_id),
                        json!({
                            "client_id": logout.client_id,
                            "sid": logout.sid.to_string(),
                            "status": status.as_str(),
                            "attempts": attempts,
                            "error": record.error,
                        }),
                    )
                    .build()
            }
        };
        if !self
            .store
            .record_oidc_logout_attempt(logout.id, owner, &record, &journal)
            .await?
        {
            tracing::warn!(
                logout = logout.id,
                "the claim on a back-channel logout lapsed before its outcome was recorded"
            );
        }
        Ok(())
    }

    /// The back-channel logouts queued (administrators and the operator), newest first: of
    /// one client or all, of one status (`pending`, `delivered`, `failed`) or all.
    pub async fn list_oidc_logouts(
        &self,
        by: impl Into<Authority<'_>>,
        client_id: Option<&str>,
        status: Option<&str>,
        limit: Option<u32>,
    ) -> Result<Vec<OidcLogout>> {
        by.into().require_admin()?;
        let status = status.map(DeliveryStatus::parse).transpose()?;
        let limit = limit.unwrap_or(100);
        if limit == 0 || limit > MAX_LOGOUTS_PAGE {
            return Err(Error::invalid("limit", format!("must be 1 to {MAX_LOGOUTS_PAGE}")));
        }
        Ok(self.store.list_oidc_logouts(client_id, status, limit).await?)
    }
}
