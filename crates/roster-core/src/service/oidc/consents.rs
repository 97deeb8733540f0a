//! Remembered consent: what a user allowed a client that is not first-party, so that the
//! consent page is shown again only for scopes not allowed yet (or with `prompt=consent`).
//! Users list and withdraw their consents; withdrawing ends the client's grants of the user
//! (its refresh and access tokens). Removing a client or a user removes the consents.

use super::action;
use crate::error::{Error, Result};
use crate::id::UserId;
use crate::service::{Actor, Core};
use crate::store::{OidcClient, OidcConsent, StoreError};
use serde::Serialize;

/// A consent as its user sees it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConsentView {
    pub client_id: String,
    /// The client's display name (its id when it has none).
    pub client_name: String,
    /// The scopes allowed.
    pub scopes: Vec<String>,
    /// When the user first allowed the client.
    #[serde(with = "time::serde::rfc3339")]
    pub granted_at: time::OffsetDateTime,
    /// When the user last allowed it (more scopes, or again after `prompt=consent`).
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: time::OffsetDateTime,
}

impl Core {
    /// Whether the user has already allowed every one of `scopes` to the client.
    pub(super) async fn oidc_consent_covers(&self, user: UserId, client_id: &str, scopes: &[String]) -> Result<bool> {
        Ok(match self.store.get_oidc_consent(user, client_id).await? {
            Some(consent) => scopes.iter().all(|s| consent.scopes.contains(s)),
            None => false,
        })
    }

    /// Remembers that the user allowed `scopes` to the client (added to what was allowed
    /// before), audited as `oidc.consent_granted`.
    pub(super) async fn remember_oidc_consent(
        &self,
        user: UserId,
        client: &OidcClient,
        scopes: &[String],
    ) -> Result<()> {
        let now = self.clock.now();
        let earlier = self.store.get_oidc_consent(user, &client.client_id).await?;
        let mut all = earlier.as_ref().map(|c| c.scopes.clone()).unwrap_or_default();
        for scope in scopes {
            if !all.contains(scope) {
                all.push(scope.clone());
            }
        }
        let consent = OidcConsent {
            user_id: user,
            client_id: client.client_id.clone(),
            scopes: all,
            created_at: earlier.map_or(now, |c| c.created_at),
            updated_at: now,
        };
        let journal = self
            .journal(Some(user))
            .audit(
                action::CONSENT_GRANTED,
                Some(user),
                serde_json::json!({ "client_id": client.client_id, "scopes": scopes }),
            )
            .build();
        self.store
            .put_oidc_consent(&consent, &journal)
            .await
            .map_err(|e| match e {
                // The client was removed meanwhile.
                StoreError::NotFound => Error::NotFound("client"),
                e => e.into(),
            })
    }

    async fn consent_view(&self, consent: OidcConsent) -> Result<Option<ConsentView>> {
        let client = match self.store.get_oidc_client(&consent.client_id).await {
            Ok(c) => c,
            Err(StoreError::NotFound) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        Ok(Some(ConsentView {
            client_name: client.name.unwrap_or_else(|| client.client_id.clone()),
            client_id: consent.client_id,
            scopes: consent.scopes,
            granted_at: consent.created_at,
            updated_at: consent.updated_at,
        }))
    }

    /// The caller's consents to clients, by client id.
    pub async fn list_oidc_consents(&self, by: &Actor) -> Result<Vec<ConsentView>> {
        let mut out = Vec::new();
        for consent in self.store.list_oidc_consents(by.user.id).await? {
            if let Some(view) = self.consent_view(consent).await? {
                out.push(view);
            }
        }
        Ok(out)
    }

    /// The caller's consent to one client; NotFound (`consent`) when there is none.
    pub async fn get_oidc_consent(&self, by: &Actor, client_id: &str) -> Result<ConsentView> {
        let consent = self.store.get_oidc_consent(by.user.id, client_id).await?;
        match consent {
            Some(consent) => self.consent_view(consent).await?.ok_or(Error::NotFound("consent")),
            None => Err(Error::NotFound("consent")),
        }
    }

    /// Withdraws the caller's consent to a client: the consent is forgotten (the consent page
    /// is shown at the next authorization) and every grant the client holds of the caller
    /// ends, with its refresh and access tokens. Audited as `oidc.consent_withdrawn`.
    pub async fn withdraw_oidc_consent(&self, by: &Actor, client_id: &str) -> Result<()> {
        let user = by.user.id;
        let journal = self
            .journal(Some(user))
            .audit(
                action::CONSENT_WITHDRAWN,
                Some(user),
                serde_json::json!({ "client_id": client_id }),
            )
            .build();
        self.store
            .delete_oidc_consent(user, client_id, &journal)
            .await
            .map_err(|e| match e {
                StoreError::NotFound => Error::NotFound("consent"),
                e => e.into(),
            })
    }
}
