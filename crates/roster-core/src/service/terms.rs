//! Terms of service: versioned (`terms_version`); a user has accepted the terms only if they
//! accepted the version in force. Every acceptance is kept with its version and time.

use super::users::not_found;
use super::{Actor, Core};
use crate::error::Result;
use crate::store::TermsAcceptance;
use crate::user::User;
use time::OffsetDateTime;

/// Where a user stands with the terms in force.
#[derive(Debug, Clone, PartialEq)]
pub struct TermsStatus {
    /// Whether the user accepted the version in force.
    pub accepted: bool,
    /// The version in force.
    pub version: String,
    /// When the user accepted the version in force (None if they have not).
    pub accepted_at: Option<OffsetDateTime>,
}

impl Core {
    /// The status of `user` against the terms in force.
    pub fn terms_status_of(&self, user: &User) -> TermsStatus {
        let accepted = user.terms_version.as_deref() == Some(self.config.terms_version.as_str());
        TermsStatus {
            accepted,
            version: self.config.terms_version.clone(),
            accepted_at: if accepted { user.terms_accepted_at } else { None },
        }
    }

    /// The caller's status against the terms in force.
    pub async fn terms_status(&self, actor: &Actor) -> Result<TermsStatus> {
        let user = self.store.get_user(actor.user.id).await.map_err(not_found("user"))?;
        Ok(self.terms_status_of(&user))
    }

    /// The caller accepts the terms in force; the acceptance is kept.
    pub async fn accept_terms(&self, actor: &Actor) -> Result<TermsStatus> {
        let journal = self
            .journal(Some(actor.user.id))
            .event(
                crate::journal::event::USER_UPDATED,
                actor.user.id,
                serde_json::json!({ "fields": ["terms_version"] }),
            )
            .build();
        let user = self
            .store
            .record_terms_acceptance(
                self.next_id(),
                actor.user.id,
                &self.config.terms_version,
                self.clock.now(),
                &journal,
            )
            .await
            .map_err(not_found("user"))?;
        tracing::info!(user = %user.id, version = %self.config.terms_version, "terms accepted");
        Ok(self.terms_status_of(&user))
    }

    /// The caller's acceptances, newest first.
    pub async fn list_terms_acceptances(&self, actor: &Actor) -> Result<Vec<TermsAcceptance>> {
        Ok(self.store.list_terms_acceptances(actor.user.id).await?)
    }
}
