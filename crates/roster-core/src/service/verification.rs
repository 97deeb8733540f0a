//! Signing up with email verification, verification links (random, stored as digests,
//! single use, expiring), resending them (rate limited per client address, the same answer
//! for unknown addresses) and password-reset requests, with mail over SMTP or, without
//! SMTP, the link logged.

use super::auth::ClientMeta;
use super::users::not_found;
use super::{Core, Registration};
use crate::error::{Error, Result};
use crate::id::UserId;
use crate::journal::event;
use crate::mail::{MailMessage, html_escape};
use crate::password::validate_password;
use crate::store::{EmailVerification, StoreError};
use crate::token::{digest, random_secret_hex};
use crate::user::{Email, User, Username};
use time::Duration;

/// A sign-up form as chat products send it.
#[derive(Debug, Clone, Default)]
pub struct SignupForm {
    pub name: String,
    pub email: String,
    /// Empty: none.
    pub username: Option<String>,
    pub password: String,
    /// When given, must equal `password`.
    pub confirm_password: Option<String>,
    /// An invitation token (lets the invited address register even when registration is off).
    pub invite_token: Option<String>,
}

/// Characters that reveal an injection attempt in a username.
const INJECTION_MARKERS: &[&str] = &[
    "'", "--", "$ne", "$gt", "$lt", "$or", "{", "}", "*", ";", "<", ">", "/", "=",
];

impl SignupForm {
    /// Checks the form the way the products' sign-up forms do.
    fn validate(&self, min_password_length: usize) -> Result<()> {
        let name_length = self.name.trim().chars().count();
        if !(3..=80).contains(&name_length) {
            return Err(Error::invalid("name", "Name must be between 3 and 80 characters"));
        }
        if let Some(username) = self.username.as_deref().map(str::trim).filter(|u| !u.is_empty()) {
            if INJECTION_MARKERS.iter().any(|m| username.contains(m)) {
                return Err(Error::invalid("username", "Potential injection attack detected"));
            }
            if Username::parse(username).is_err() {
                return Err(Error::invalid("username", "Invalid characters in username"));
            }
        }
        Email::parse(&self.email).map_err(|_| Error::invalid("email", "Invalid email"))?;
        if self.password.trim().is_empty() && !self.password.is_empty() {
            return Err(Error::invalid("password", "Password cannot be only spaces"));
        }
        validate_password("password", &self.password, min_password_length).map_err(|_| {
            Error::invalid(
                "password",
                format!("Password must be between {min_password_length} and 128 characters"),
            )
        })?;
        if let Some(confirm) = &self.confirm_password
            && confirm != &self.password
        {
            return Err(Error::invalid("confirm_password", "The passwords did not match"));
        }
        Ok(())
    }
}

fn bad_verification() -> Error {
    Error::invalid("token", "Invalid or expired email verification token")
}

/// A link: `{public_url}{page}?{query}`.
pub(super) fn link(public_url: &str, page: &str, query: &[(&str, &str)]) -> String {
    let query: Vec<String> = query
        .iter()
        .map(|(k, v)| format!("{k}={}", percent_encode(v)))
        .collect();
    format!("{}{}?{}", public_url.trim_end_matches('/'), page, query.join("&"))
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub(super) fn message(to: &str, subject: &str, intro: &str, url: &str, action: &str) -> MailMessage {
    MailMessage {
        to: to.to_string(),
        subject: subject.to_string(),
        text: format!("{intro}\n\n{action}: {url}\n\nIf you did not ask for this, ignore this message.\n"),
        html: format!(
            "<p>{}</p><p><a href=\"{}\">{}</a></p><p>If you did not ask for this, ignore this message.</p>",
            html_escape(intro),
            html_escape(url),
            html_escape(action)
        ),
    }
}

impl Core {
    /// Whether mail is sent (SMTP configured).
    pub fn mail_enabled(&self) -> bool {
        self.mailer.is_some()
    }

    /// Sends a message; without an SMTP server, logs that it was not sent (never the link).
    pub(super) async fn deliver(&self, message: MailMessage) -> Result<()> {
        match &self.mailer {
            Some(mailer) => mailer.send(&message).await,
            None => {
                tracing::info!(to = %crate::telemetry::mask_email(&message.to), subject = %message.subject, "mail not configured; the link was not sent");
                Ok(())
            }
        }
    }

    /// Stores a link (`write`) and then sends its mail, outside the request: the answer (and
    /// its timing) must not tell whether an account exists, so neither the write nor the SMTP
    /// round trip is waited for. A failure is logged.
    fn deliver_later(
        &self,
        write: impl std::future::Future<Output = std::result::Result<(), StoreError>> + Send + 'static,
        message: MailMessage,
    ) {
        let mailer = self.mailer.clone();
        tokio::spawn(async move {
            if let Err(e) = write.await {
                tracing::error!(error = %e, subject = %message.subject, "could not store the link; no mail sent");
                return;
            }
            match mailer {
                Some(mailer) => {
                    if let Err(e) = mailer.send(&message).await {
                        tracing::error!(error = ?e, subject = %message.subject, "could not send mail");
                    }
                }
                None => {
                    tracing::info!(to = %crate::telemetry::mask_email(&message.to), subject = %message.subject, "mail not configured; the link was not sent");
                }
            }
        });
    }

    /// Signs up from a product's form: validates it, creates the account (with an invitation
    /// when one is given) and, when mail is sent, mails a verification link to
    /// `{public_url}{verify_page}`; without mail the address counts as verified. Does not sign in.
    pub async fn sign_up(&self, form: SignupForm, verify_page: &str, meta: &ClientMeta) -> Result<User> {
        self.check_client_rate_limit(crate::limit::Limit::Register, meta)
            .await?;
        form.validate(self.config.min_password_length)?;
        let input = Registration {
            email: Some(form.email.clone()),
            username: form.username.clone().filter(|u| !u.trim().is_empty()),
            name: Some(form.name.trim().to_string()),
            password: form.password.clone(),
            preferences: None,
        };
        let user = match form.invite_token.as_deref().filter(|t| !t.trim().is_empty()) {
            Some(token) => self.register_invited_account(input, token).await?,
            None => self.register_account(input).await?,
        };
        if self.mail_enabled() {
            // The account exists either way; a failed mail is logged, and the user can ask
            // for another link.
            if let Err(e) = self.send_verification(&user, verify_page).await {
                tracing::error!(user = %user.id, error = ?e, "could not mail the verification link");
            }
            Ok(user)
        } else {
            let (_, user) = self
                .modify_user(user.id, None, None, |u| {
                    u.email_verified = true;
                    Ok(())
                })
                .await?;
            Ok(user)
        }
    }

    /// Self-registration that does not tell whether an identifier is taken (the native API
    /// with `quiet_registration`, as LibreChat's sign-up does): the same answer (`Ok`) for a
    /// new account and for an email or username another account holds, after the same work
    /// (validated, the password hashed, one insert tried). The address given is mailed either
    /// way, outside the request: a welcome for a new account; for a taken address a notice to
    /// its owner that someone tried to register with it; for a taken username a notice to
    /// choose another. An email is required (it is where the answer goes). Does not sign in.
    pub async fn register_quietly(&self, input: Registration, meta: &ClientMeta) -> Result<()> {
        self.check_client_rate_limit(crate::limit::Limit::Register, meta)
            .await?;
        if !self.config.allow_registration {
            return Err(Error::RegistrationDisabled);
        }
        if input.email.as_deref().is_none_or(|e| e.trim().is_empty()) {
            return Err(Error::invalid("email", "is required"));
        }
        let user = self.user_from_registration(&input).await?;
        let address = user.email.clone().unwrap_or_default();
        let journal = self.journal(None).user_created(&user, None).build();
        let (subject, text) = match self.store.insert_user(&user, true, &journal).await {
            Ok(user) => {
                tracing::info!(user = %user.id, role = %user.role, "user registered");
                (
                    "Your account was created",
                    "An account was created with this address. Sign in with the password you chose.",
                )
            }
            Err(StoreError::Conflict { field: "username" }) => {
                tracing::info!("registration with a taken username answered quietly");
                (
                    "Your account was not created",
                    "Someone asked to create an account with this address, but the username chosen is taken. \
                     Register again with another username.",
                )
            }
            Err(StoreError::Conflict { field }) => {
                tracing::info!(field, "registration with a taken email answered quietly");
                (
                    "Someone tried to register with your address",
                    "Someone tried to create an account with this address, which is already in use. \
                     If it was you, sign in, or ask for a password reset. If not, you need do nothing.",
                )
            }
            Err(e) => return Err(e.into()),
        };
        // To the address as its account stores it (the owner's spelling of a lookalike), else
        // as given; looked up on every path, so that no path does less.
        let to = match self.store.find_user_by_login(&address).await {
            Ok(holder) => holder.email.unwrap_or(address),
            Err(StoreError::NotFound) => address,
            Err(e) => return Err(e.into()),
        };
        let mail = MailMessage {
            to,
            subject: subject.to_string(),
            text: format!("{text}\n"),
            html: format!("<p>{}</p>", html_escape(text)),
        };
        self.deliver_later(async { Ok(()) }, mail);
        Ok(())
    }

    /// Creates a verification link for the user's address (replacing earlier ones) and mails
    /// it (when SMTP is configured). Returns the link.
    pub async fn send_verification(&self, user: &User, verify_page: &str) -> Result<String> {
        let (record, token_digest, mail, url) = self.new_verification(user, verify_page)?;
        self.store.insert_email_verification(&record, &token_digest).await?;
        self.deliver(mail).await?;
        Ok(url)
    }

    /// A new verification link for the user's address (replacing earlier ones when stored):
    /// the record, its token's digest, the mail and the link. Writes nothing.
    fn new_verification(
        &self,
        user: &User,
        verify_page: &str,
    ) -> Result<(EmailVerification, String, MailMessage, String)> {
        let Some(email) = user.email.clone() else {
            return Err(Error::invalid("email", "the account has no email address"));
        };
        let now = self.clock.now();
        let token = random_secret_hex();
        let record = EmailVerification {
            user_id: user.id,
            email: email.clone(),
            created_at: now,
            expires_at: now + self.config.verification_token_ttl,
        };
        let url = link(
            &self.config.public_url,
            verify_page,
            &[("token", &token), ("email", &email)],
        );
        let minutes = self.config.verification_token_ttl.whole_minutes();
        let mail = message(
            &email,
            "Verify your email",
            &format!("Please verify your email address. The link is valid for {minutes} minutes."),
            &url,
            "Verify email",
        );
        Ok((record, digest(&token), mail, url))
    }

    /// Resends a verification link: rate limited per client address; the same answer whether
    /// or not the address has an account (or is verified already), the mail sent outside the
    /// request.
    pub async fn resend_verification(&self, email: &str, meta: &ClientMeta, verify_page: &str) -> Result<()> {
        self.check_client_rate_limit(crate::limit::Limit::VerificationResend, meta)
            .await?;
        let Ok(email) = Email::parse(email) else {
            return Err(Error::invalid("email", "Invalid email"));
        };
        match self.store.find_user_by_login(email.as_str()).await {
            Ok(user) if user.has_email(&email) && !user.email_verified => {
                let (record, token_digest, mail, _) = self.new_verification(&user, verify_page)?;
                let store = self.store.clone();
                self.deliver_later(
                    async move { store.insert_email_verification(&record, &token_digest).await },
                    mail,
                );
            }
            Ok(_) | Err(StoreError::NotFound) => {}
            Err(e) => return Err(e.into()),
        }
        Ok(())
    }

    /// Uses a verification link: the address it was sent to becomes verified. Single use.
    /// When the request names the address or the user, the link must be theirs.
    pub async fn verify_email(&self, token: &str, email: Option<&str>, user: Option<UserId>) -> Result<User> {
        let token = token.trim();
        if token.is_empty() {
            return Err(bad_verification());
        }
        let email = match email.map(str::trim).filter(|e| !e.is_empty()) {
            Some(e) => Some(Email::parse(e).map_err(|_| bad_verification())?),
            None => None,
        };
        let record = match self
            .store
            .use_email_verification(
                &digest(token),
                email.as_ref().map(Email::as_str),
                user,
                self.clock.now(),
                &|id| {
                    self.journal(Some(id))
                        .event(
                            event::USER_UPDATED,
                            id,
                            serde_json::json!({ "fields": ["email_verified"] }),
                        )
                        .build()
                },
            )
            .await
        {
            Ok(r) => r,
            Err(StoreError::NotFound) => return Err(bad_verification()),
            Err(e) => return Err(e.into()),
        };
        tracing::info!(user = %record.user_id, "email verified");
        self.store.get_user(record.user_id).await.map_err(not_found("user"))
    }

    /// A password-reset request from a product's "forgot password" form: rate limited per
    /// client address. For an existing account a single-use link to
    /// `{public_url}{reset_page}?token=...&userId=...` (with `user_id` rendering the id) is
    /// mailed outside the request (without mail, logged). The answer is the same whether or
    /// not the address has an account.
    pub async fn request_password_reset(
        &self,
        email: &str,
        meta: &ClientMeta,
        reset_page: &str,
        user_id: impl Fn(&User) -> String,
    ) -> Result<()> {
        self.check_client_rate_limit(crate::limit::Limit::PasswordReset, meta)
            .await?;
        let Ok(email) = Email::parse(email) else {
            return Err(Error::invalid("email", "Invalid email"));
        };
        // The account whose address this is (not one whose username merely looks like it);
        // the mail goes to the address as stored.
        let (user, address) = match self.store.find_user_by_login(email.as_str()).await {
            Ok(user) if user.has_email(&email) => {
                let address = user.email.clone().unwrap_or_default();
                (user, address)
            }
            Ok(_) | Err(StoreError::NotFound) => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        let now = self.clock.now();
        let token = crate::token::random_secret();
        let record = crate::store::AccountToken {
            kind: crate::store::AccountTokenKind::PasswordReset,
            user_id: Some(user.id),
            email: None,
            role: None,
            created_at: now,
            expires_at: now + self.config.verification_token_ttl.max(Duration::minutes(1)),
            used_at: None,
        };
        let token_digest = digest(&token);
        let url = link(
            &self.config.public_url,
            reset_page,
            &[("token", &token), ("userId", &user_id(&user))],
        );
        let mail = message(
            &address,
            "Password reset request",
            "Someone asked to reset the password of your account.",
            &url,
            "Reset password",
        );
        let store = self.store.clone();
        self.deliver_later(
            async move { store.insert_account_token(&record, &token_digest).await },
            mail,
        );
        Ok(())
    }

    /// Uses a reset link from a product's form, which may repeat the password.
    /// When the form names the user, the link must be theirs.
    pub async fn reset_password_confirmed(
        &self,
        token: &str,
        password: &str,
        confirm_password: Option<&str>,
        user: Option<UserId>,
    ) -> Result<super::PasswordResetDone> {
        if confirm_password.is_some_and(|c| c != password) {
            return Err(Error::invalid("confirm_password", "The passwords did not match"));
        }
        if let Some(user) = user {
            match self.store.get_account_token(&digest(token.trim())).await {
                Ok(t) if t.user_id == Some(user) => {}
                Ok(_) | Err(StoreError::NotFound) => {
                    return Err(Error::invalid(
                        "token",
                        "the reset link is invalid, expired or already used",
                    ));
                }
                Err(e) => return Err(e.into()),
            }
        }
        self.reset_password_with_token(token, password).await
    }

    /// Mails an invitation link (when mail is sent); returns whether it was mailed.
    pub async fn mail_invitation(&self, email: &str, url: &str, product: &str) -> Result<bool> {
        if !self.mail_enabled() {
            return Ok(false);
        }
        let mail = message(
            email,
            &format!("Invite to join {product}!"),
            &format!("You have been invited to join {product}."),
            url,
            "Create your account",
        );
        self.deliver(mail).await?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form() -> SignupForm {
        SignupForm {
            name: "Ann Lee".into(),
            email: "ann@example.org".into(),
            username: Some("ann".into()),
            password: "long enough".into(),
            confirm_password: Some("long enough".into()),
            invite_token: None,
        }
    }

    #[test]
    fn forms_are_checked_like_the_products() {
        assert!(form().validate(8).is_ok());
        let e = |f: SignupForm| match f.validate(8).unwrap_err() {
            Error::Invalid { reason, .. } => reason,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            e(SignupForm {
                confirm_password: Some("other".into()),
                ..form()
            }),
            "The passwords did not match"
        );
        assert_eq!(
            e(SignupForm {
                username: Some("a$ne".into()),
                ..form()
            }),
            "Potential injection attack detected"
        );
        assert_eq!(
            e(SignupForm {
                username: Some("a b".into()),
                ..form()
            }),
            "Invalid characters in username"
        );
        assert_eq!(
            e(SignupForm {
                password: "         ".into(),
                confirm_password: None,
                ..form()
            }),
            "Password cannot be only spaces"
        );
        assert!(percent_encode("a@b.c").contains("%40"));
    }
}
