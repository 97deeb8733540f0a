//! Changing one's email address with the new address verified first: the request (with the
//! current password) stores a pending change and mails a single-use link to the NEW address
//! (and a notice to the old one); the change is applied, the new address verified, only when
//! that link is used before it expires. Until then the account keeps its address.

use super::auth::ClientMeta;
use super::users::not_found;
use super::verification::{link, message};
use super::{Actor, Core};
use crate::error::{Error, Result};
use crate::journal::audit;
use crate::store::{EmailChange, StoreError};
use crate::token::{digest, random_secret_hex};
use crate::user::{Email, User};
use serde_json::json;
use time::{Duration, OffsetDateTime};

/// How long an email change's link may be used.
pub const EMAIL_CHANGE_TTL: Duration = Duration::hours(24);

/// A change asked for: where the link went, until when it works.
#[derive(Debug, Clone, PartialEq)]
pub struct EmailChangeRequested {
    pub new_email: String,
    pub expires_at: OffsetDateTime,
}

fn bad_link() -> Error {
    Error::invalid("token", "the email change link is invalid or has expired")
}

impl Core {
    /// The caller asks to change their address to `new_email`, proving it is them with
    /// `current_password` (needed when the account has a password). Needs a session, not an
    /// API key. A link to `{public_url}{confirm_page}?token=...` goes to the new address (or
    /// is logged without mail), a notice to the old one; an earlier pending change is
    /// replaced. The address is taken: 409 on `email`.
    pub async fn request_email_change(
        &self,
        actor: &Actor,
        new_email: &str,
        current_password: &str,
        confirm_page: &str,
        meta: &ClientMeta,
    ) -> Result<EmailChangeRequested> {
        actor.require_session()?;
        let user = self.store.get_user(actor.user.id).await.map_err(not_found("user"))?;
        if user.password_hash.is_some() && !self.verify_current_password(&user, current_password, meta).await? {
            return Err(Error::invalid("current_password", "is incorrect"));
        }
        let email = Email::parse(new_email)?;
        if user.has_email(&email) {
            return Err(Error::invalid("email", "is already the account's address"));
        }
        match self.store.find_user_by_login(email.as_str()).await {
            Ok(other) if other.id != user.id => return Err(Error::Conflict { field: "email" }),
            Ok(_) | Err(StoreError::NotFound) => {}
            Err(e) => return Err(e.into()),
        }
        let now = self.clock.now();
        let token = random_secret_hex();
        let change = EmailChange {
            user_id: user.id,
            new_email: email.as_str().to_string(),
            created_at: now,
            expires_at: now + EMAIL_CHANGE_TTL,
        };
        let journal = self
            .journal(Some(user.id))
            .audit(
                audit::EMAIL_CHANGE_REQUEST,
                Some(user.id),
                json!({ "new_email": change.new_email }),
            )
            .build();
        self.store.put_email_change(&change, &digest(&token), &journal).await?;
        let url = link(&self.config.public_url, confirm_page, &[("token", &token)]);
        let hours = EMAIL_CHANGE_TTL.whole_hours();
        let confirm = message(
            &change.new_email,
            "Confirm your new email address",
            &format!(
                "Someone asked to use this address for their account. If it was you, confirm it within {hours} hours."
            ),
            &url,
            "Confirm the new address",
        );
        self.deliver(confirm).await?;
        if let Some(old) = user.email.as_deref() {
            self.notify_old_address(old, &change.new_email).await;
        }
        tracing::info!(user = %user.id, "email change requested");
        Ok(EmailChangeRequested {
            new_email: change.new_email,
            expires_at: change.expires_at,
        })
    }

    /// Tells the old address that a change to `new_email` was asked for (a failure to send is
    /// logged: the change itself still needs the new address's link).
    async fn notify_old_address(&self, old: &str, new_email: &str) {
        let Some(mailer) = &self.mailer else {
            tracing::info!(to = %old, "mail not configured; email change notice not sent");
            return;
        };
        let text = format!(
            "A change of your account's email address to {new_email} was asked for. It takes effect only when \
             the link sent to that address is used. If you did not ask for this, change your password.\n"
        );
        let notice = crate::mail::MailMessage {
            to: old.to_string(),
            subject: "Your email address is being changed".into(),
            html: format!("<p>{}</p>", crate::mail::html_escape(&text)),
            text,
        };
        if let Err(error) = mailer.send(&notice).await {
            tracing::warn!(%error, "the email change notice could not be sent");
        }
    }

    /// The caller's pending email change, if any (an expired one is not).
    pub async fn pending_email_change(&self, actor: &Actor) -> Result<Option<EmailChangeRequested>> {
        let now = self.clock.now();
        Ok(self
            .store
            .get_email_change(actor.user.id)
            .await?
            .filter(|c| c.expires_at > now)
            .map(|c| EmailChangeRequested {
                new_email: c.new_email,
                expires_at: c.expires_at,
            }))
    }

    /// The caller drops their pending email change (its link stops working); whether there
    /// was one.
    pub async fn cancel_email_change(&self, actor: &Actor) -> Result<bool> {
        let user = actor.user.id;
        let journal = self
            .journal(Some(user))
            .audit(audit::EMAIL_CHANGE_CANCEL, Some(user), json!({}))
            .build();
        Ok(self.store.delete_email_change(user, None, &journal).await?)
    }

    /// Uses an email change's link: the account's address becomes the new one, verified, and
    /// the link is spent. An unknown, used or expired link is refused (`token`); an address
    /// taken meanwhile is 409 on `email` (the link stays, for after the other account lets it
    /// go).
    pub async fn confirm_email_change(&self, token: &str) -> Result<User> {
        let token = token.trim();
        if token.is_empty() {
            return Err(bad_link());
        }
        let token_digest = digest(token);
        let change = match self.store.get_email_change_by_digest(&token_digest).await {
            Ok(change) => change,
            Err(StoreError::NotFound) => return Err(bad_link()),
            Err(e) => return Err(e.into()),
        };
        if change.expires_at <= self.clock.now() {
            return Err(bad_link());
        }
        let email = Email::parse(&change.new_email)?;
        let (_, user) = self
            .modify_user(
                change.user_id,
                Some(change.user_id),
                Some(audit::EMAIL_CHANGE_CONFIRM),
                |u| {
                    u.email = Some(email.as_str().to_string());
                    u.email_verified = true;
                    Ok(())
                },
            )
            .await?;
        let spent = self.journal(Some(change.user_id)).build();
        self.store
            .delete_email_change(change.user_id, Some(&token_digest), &spent)
            .await?;
        tracing::info!(user = %user.id, "email changed");
        Ok(user)
    }
}
