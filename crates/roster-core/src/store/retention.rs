//! Retention: deleting, in batches, what has expired or is older than the deployment keeps.

use super::StoreResult;
use async_trait::async_trait;
use time::OffsetDateTime;

/// A kind of record retention deletes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PurgeKind {
    /// Audit entries older than the cut-off.
    Audit,
    /// Outbox events older than the cut-off that no receiver is still owed: every webhook
    /// subscription has queued past them, no delivery of them is pending or failed, and they
    /// are not the newest event (whose number the next ones count from).
    Outbox,
    /// Webhook deliveries delivered before the cut-off (failed ones stay: they are owed); one
    /// to a subscription required for deletions stays while its event is in the outbox.
    Deliveries,
    /// Sessions expired before the cut-off (with their refresh tokens and browser sessions),
    /// unless a grant that has not expired still hangs on them.
    Sessions,
    /// Password reset links and invitations expired before the cut-off.
    AccountTokens,
    /// Email verification links expired before the cut-off.
    EmailVerifications,
    /// Email-change requests expired before the cut-off.
    EmailChanges,
    /// Two-factor sign-in challenges expired before the cut-off.
    TwoFactorChallenges,
    /// OpenID Connect authorization codes expired before the cut-off.
    OidcCodes,
    /// OpenID Connect grants expired before the cut-off (with their codes and refresh tokens).
    OidcGrants,
    /// Back-channel logouts delivered before the cut-off.
    BackchannelLogouts,
}

impl PurgeKind {
    /// Every kind, in the order a purge goes through them.
    pub const ALL: [PurgeKind; 11] = [
        PurgeKind::Audit,
        PurgeKind::Outbox,
        PurgeKind::Deliveries,
        PurgeKind::BackchannelLogouts,
        PurgeKind::OidcCodes,
        PurgeKind::OidcGrants,
        PurgeKind::Sessions,
        PurgeKind::AccountTokens,
        PurgeKind::EmailVerifications,
        PurgeKind::EmailChanges,
        PurgeKind::TwoFactorChallenges,
    ];

    /// The kind's name (in `roster purge`'s output and the `kind` label of the metrics).
    pub fn as_str(self) -> &'static str {
        match self {
            PurgeKind::Audit => "audit",
            PurgeKind::Outbox => "outbox",
            PurgeKind::Deliveries => "deliveries",
            PurgeKind::Sessions => "sessions",
            PurgeKind::AccountTokens => "account_tokens",
            PurgeKind::EmailVerifications => "email_verifications",
            PurgeKind::EmailChanges => "email_changes",
            PurgeKind::TwoFactorChallenges => "two_factor_challenges",
            PurgeKind::OidcCodes => "oidc_codes",
            PurgeKind::OidcGrants => "oidc_grants",
            PurgeKind::BackchannelLogouts => "backchannel_logouts",
        }
    }
}

/// What a database must offer for retention (a part of [`crate::store::Store`]).
#[async_trait]
pub trait RetentionStore: Send + Sync {
    /// Deletes at most `limit` records of `kind` from before `before`, in one short
    /// transaction of its own; returns how many went.
    async fn purge_batch(&self, kind: PurgeKind, before: OffsetDateTime, limit: u32) -> StoreResult<u64>;
    /// How many records of `kind` from before `before` a purge would delete now.
    async fn count_purgeable(&self, kind: PurgeKind, before: OffsetDateTime) -> StoreResult<u64>;
}
