//! Invitations: a single-use link that lets one email address register with a given role,
//! even when self-registration is off.

use super::auth::ClientMeta;
use super::users::parse_email;
use super::{Authority, Core, LoginOutcome, Registration};
use crate::error::{Error, Result};
use crate::store::{AccountToken, AccountTokenKind, InvitationPosition, StoreError};
use crate::token::{digest, random_secret};
use crate::user::Role;
use time::{Duration, OffsetDateTime};

/// The longest an invitation or a reset link may stay valid.
pub const MAX_TOKEN_LIFETIME: Duration = Duration::days(365);

/// An invitation to create.
#[derive(Debug, Clone)]
pub struct NewInvitation {
    pub email: String,
    /// None: the default role for new accounts.
    pub role: Option<Role>,
    pub expires_in: Duration,
}

/// An invitation just created: the only time its token is seen.
#[derive(Debug, Clone)]
pub struct InvitationCreated {
    /// The secret to put in the registration link.
    pub token: String,
    pub email: String,
    pub role: Role,
    pub expires_at: OffsetDateTime,
}

/// Checks the lifetime of a single-use link.
pub(super) fn validate_lifetime(field: &'static str, lifetime: Duration) -> Result<()> {
    if lifetime < Duration::minutes(1) {
        return Err(Error::invalid(field, "must be at least one minute"));
    }
    if lifetime > MAX_TOKEN_LIFETIME {
        return Err(Error::invalid(field, "must be at most 365 days"));
    }
    Ok(())
}

/// Where an invitation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvitationStatus {
    /// Unused and unexpired: its link still works.
    Pending,
    Used,
    Expired,
}

impl InvitationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            InvitationStatus::Pending => "pending",
            InvitationStatus::Used => "used",
            InvitationStatus::Expired => "expired",
        }
    }
}

/// An invitation as administrators see it (never its secret). `id` names it for
/// [`Core::revoke_invitation`]: the digest of its secret, with which nobody can register.
#[derive(Debug, Clone, PartialEq)]
pub struct InvitationView {
    pub id: String,
    pub email: String,
    pub role: Option<Role>,
    pub status: InvitationStatus,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub used_at: Option<OffsetDateTime>,
}

/// The most invitations one page of [`Core::list_invitations`] holds.
pub const MAX_INVITATIONS_LISTED: u32 = 500;

/// A page of invitations to list.
#[derive(Debug, Clone, Default)]
pub struct ListInvitations {
    /// `next_cursor` of the previous page; None: the newest.
    pub cursor: Option<String>,
    /// 1 to [`MAX_INVITATIONS_LISTED`], default 50.
    pub limit: Option<u32>,
}

/// One page of invitations, newest first, and where the next starts.
#[derive(Debug, Clone, PartialEq)]
pub struct InvitationPage {
    pub invitations: Vec<InvitationView>,
    pub next_cursor: Option<String>,
}

const CURSOR_PREFIX: &str = "invitation|";

/// The cursor of the page after `last` (its creation time in milliseconds and its id).
fn encode_cursor(last: &InvitationView) -> String {
    use base64::Engine as _;
    let ms = last.created_at.unix_timestamp_nanos() / 1_000_000;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{CURSOR_PREFIX}{ms}|{}", last.id))
}

fn decode_cursor(cursor: &str) -> Result<InvitationPosition> {
    use base64::Engine as _;
    let bad = || Error::invalid("cursor", "is not a cursor of this listing");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor.trim())
        .map_err(|_| bad())?;
    let raw = String::from_utf8(bytes).map_err(|_| bad())?;
    let (ms, id) = raw
        .strip_prefix(CURSOR_PREFIX)
        .and_then(|rest| rest.split_once('|'))
        .ok_or_else(bad)?;
    let ms: i64 = ms.parse().map_err(|_| bad())?;
    let created_at = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).map_err(|_| bad())?;
    if id.is_empty() || id.len() > 128 {
        return Err(bad());
    }
    Ok(InvitationPosition {
        created_at,
        id: id.to_string(),
    })
}

fn bad_invitation() -> Error {
    Error::invalid("invite_token", "the invitation is invalid, expired or already used")
}

impl Core {
    /// Creates an invitation for an address no account uses yet (administrators and the
    /// operator).
    pub async fn create_invitation(
        &self,
        by: impl Into<Authority<'_>>,
        input: NewInvitation,
    ) -> Result<InvitationCreated> {
        by.into().require_admin()?;
        let email = parse_email(Some(&input.email))?.ok_or_else(|| Error::invalid("email", "must not be empty"))?;
        validate_lifetime("expires", input.expires_in)?;
        match self.store.find_user_by_login(email.as_str()).await {
            // Another account's email, or another account's username: a login names one account.
            Ok(_) => return Err(Error::Conflict { field: "email" }),
            Err(StoreError::NotFound) => {}
            Err(e) => return Err(e.into()),
        }
        let role = input.role.unwrap_or(self.config.default_role);
        let now = self.clock.now();
        let token = random_secret();
        let record = AccountToken {
            kind: AccountTokenKind::Invitation,
            user_id: None,
            email: Some(email.as_str().to_string()),
            role: Some(role),
            created_at: now,
            expires_at: now + input.expires_in,
            used_at: None,
        };
        self.store.insert_account_token(&record, &digest(&token)).await?;
        tracing::info!(role = %role, "invitation created");
        Ok(InvitationCreated {
            token,
            email: email.as_str().to_string(),
            role,
            expires_at: record.expires_at,
        })
    }

    /// A page of the invitations sent, newest first (pending, used and expired ones), and the
    /// cursor of the next (administrators and the operator). Keyset pages: a page costs the
    /// same however many invitations come before it.
    pub async fn list_invitations(
        &self,
        by: impl Into<Authority<'_>>,
        request: ListInvitations,
    ) -> Result<InvitationPage> {
        by.into().require_admin()?;
        let limit = request.limit.unwrap_or(50);
        if !(1..=MAX_INVITATIONS_LISTED).contains(&limit) {
            return Err(Error::invalid(
                "limit",
                format!("must be 1 to {MAX_INVITATIONS_LISTED}"),
            ));
        }
        let after = request.cursor.as_deref().map(decode_cursor).transpose()?;
        let now = self.clock.now();
        let rows = self
            .store
            .list_invitations(after.as_ref(), i64::from(limit) + 1)
            .await?;
        let mut invitations: Vec<InvitationView> = rows
            .into_iter()
            .map(|row| {
                let t = row.token;
                let status = if t.used_at.is_some() {
                    InvitationStatus::Used
                } else if t.expires_at <= now {
                    InvitationStatus::Expired
                } else {
                    InvitationStatus::Pending
                };
                InvitationView {
                    id: row.id,
                    email: t.email.unwrap_or_default(),
                    role: t.role,
                    status,
                    created_at: t.created_at,
                    expires_at: t.expires_at,
                    used_at: t.used_at,
                }
            })
            .collect();
        let next_cursor = if invitations.len() > limit as usize {
            invitations.truncate(limit as usize);
            invitations.last().map(encode_cursor)
        } else {
            None
        };
        Ok(InvitationPage {
            invitations,
            next_cursor,
        })
    }

    /// Revokes a pending invitation (administrators and the operator): its link stops working.
    /// Audited as `invitation.revoke` with the invited address. NotFound when no pending
    /// invitation has that id (unknown, used or expired).
    pub async fn revoke_invitation(&self, by: impl Into<Authority<'_>>, id: &str) -> Result<()> {
        let by = by.into().require_admin()?;
        let now = self.clock.now();
        let invitation = match self.store.get_account_token(id).await {
            Ok(t) if t.kind == AccountTokenKind::Invitation && t.usable_at(now) => t,
            Ok(_) | Err(StoreError::NotFound) => return Err(Error::NotFound("invitation")),
            Err(e) => return Err(e.into()),
        };
        let journal = self
            .journal(by)
            .audit(
                crate::journal::audit::INVITATION_REVOKE,
                None,
                serde_json::json!({ "email": invitation.email, "role": invitation.role.map(Role::as_str) }),
            )
            .build();
        match self.store.delete_pending_invitation(id, now, &journal).await {
            Ok(()) => {}
            Err(StoreError::NotFound) => return Err(Error::NotFound("invitation")),
            Err(e) => return Err(e.into()),
        }
        tracing::info!("invitation revoked");
        Ok(())
    }

    /// Registers with an invitation: allowed even when self-registration is off; the email
    /// must be the invited one; the account gets the invited role (the first account ever
    /// still becomes admin); the invitation is used up in the same transaction.
    pub async fn register_with_invitation(
        &self,
        input: Registration,
        invite_token: &str,
        meta: &ClientMeta,
    ) -> Result<LoginOutcome> {
        self.check_client_rate_limit(crate::limit::Limit::Register, meta)
            .await?;
        let user = self.register_invited_account(input, invite_token).await?;
        if user.ensure_may_sign_in().is_err() {
            return Ok(LoginOutcome { user, tokens: None });
        }
        let tokens = self.start_session(&user, meta).await?;
        Ok(LoginOutcome {
            user,
            tokens: Some(tokens),
        })
    }

    /// The address an invitation is for, while it can be used (a page shows it before the
    /// form is sent); None for a link that is unknown, used, expired or not an invitation.
    /// Uses nothing up.
    pub async fn invitation_email(&self, invite_token: &str) -> Result<Option<String>> {
        match self.store.get_account_token(&digest(invite_token.trim())).await {
            Ok(t) if t.kind == AccountTokenKind::Invitation && t.usable_at(self.clock.now()) => Ok(t.email),
            Ok(_) | Err(StoreError::NotFound) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Accepts an invitation from a page: the registration of
    /// [`Core::register_with_invitation`] (its rate limit, its rules), without starting a
    /// session; the page sends the new user on to sign in.
    pub async fn accept_invitation(
        &self,
        input: Registration,
        invite_token: &str,
        meta: &ClientMeta,
    ) -> Result<crate::User> {
        self.check_client_rate_limit(crate::limit::Limit::Register, meta)
            .await?;
        self.register_invited_account(input, invite_token).await
    }

    /// Registration with an invitation, without signing in (see
    /// [`Core::register_with_invitation`]).
    pub async fn register_invited_account(&self, input: Registration, invite_token: &str) -> Result<crate::User> {
        let token_digest = digest(invite_token.trim());
        let invitation = match self.store.get_account_token(&token_digest).await {
            Ok(t) if t.kind == AccountTokenKind::Invitation && t.usable_at(self.clock.now()) => t,
            Ok(_) | Err(StoreError::NotFound) => return Err(bad_invitation()),
            Err(e) => return Err(e.into()),
        };
        let email = parse_email(input.email.as_deref())?
            .ok_or_else(|| Error::invalid("email", "the invited email address is required"))?;
        if invitation.email.as_deref() != Some(email.as_str()) {
            return Err(Error::invalid("email", "does not match the invitation"));
        }
        let mut user = self.user_from_registration(&input).await?;
        user.role = invitation.role.unwrap_or(self.config.default_role);
        let journal = self.journal(None).user_created(&user, None).build();
        let user = match self
            .store
            .insert_user_with_invitation(&user, &token_digest, self.clock.now(), &journal)
            .await
        {
            Ok(user) => user,
            Err(StoreError::NotFound) => return Err(bad_invitation()),
            Err(e) => return Err(e.into()),
        };
        tracing::info!(user = %user.id, role = %user.role, "user registered with an invitation");
        Ok(user)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(ms: i64, id: &str) -> InvitationView {
        let at = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).unwrap();
        InvitationView {
            id: id.into(),
            email: "a@example.org".into(),
            role: None,
            status: InvitationStatus::Pending,
            created_at: at,
            expires_at: at,
            used_at: None,
        }
    }

    #[test]
    fn cursors_round_trip_and_reject_others() {
        let position = decode_cursor(&encode_cursor(&view(1_700_000_000_123, "ab12"))).unwrap();
        assert_eq!(position.id, "ab12");
        assert_eq!(position.created_at.unix_timestamp_nanos(), 1_700_000_000_123_000_000);
        assert!(decode_cursor("%%").is_err());
        // Another listing's cursor (the audit trail's), and ones missing a part.
        assert!(decode_cursor("YXVkaXR8NDI").is_err());
        use base64::Engine as _;
        let encode = |raw: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw);
        assert!(decode_cursor(&encode("invitation|12")).is_err());
        assert!(decode_cursor(&encode("invitation|12|")).is_err());
        assert!(decode_cursor(&encode("invitation|soon|ab")).is_err());
        assert_eq!(decode_cursor(&encode("invitation|12|a|b")).unwrap().id, "a|b");
    }
}
