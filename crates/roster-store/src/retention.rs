//! Retention's SQL: per kind, the table, its key and which rows may go (`$1`: the cut-off in
//! milliseconds). A batch deletes the first rows by key in one statement, so each batch is a
//! short transaction and writers wait at most for one batch.

use roster_core::store::PurgeKind;

/// The table, its key column and the condition (on `$1`, the cut-off) of a kind.
pub(crate) fn target(kind: PurgeKind) -> (&'static str, &'static str, &'static str) {
    match kind {
        PurgeKind::Audit => ("audit_log", "id", "at < $1"),
        // Owed to no receiver: every subscription has queued past it (fan-out), none of its
        // deliveries is pending or failed (a failed one may be replayed), and it is not the
        // newest event (PostgreSQL numbers new events after the highest number there is).
        PurgeKind::Outbox => (
            "outbox",
            "id",
            "seq IS NOT NULL AND occurred_at < $1 \
             AND seq < (SELECT MAX(o.seq) FROM outbox o) \
             AND NOT EXISTS (SELECT 1 FROM webhook_subscriptions s WHERE s.fanned_out_seq < outbox.seq) \
             AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.event_seq = outbox.seq \
                             AND d.status <> 'delivered')",
        ),
        // Delivered ones only (a failed one is still owed: it may be replayed). A delivery to a
        // subscription required for deletions is the proof that a deletion event still in the
        // outbox was delivered (see `LIST_PENDING_DELETIONS`): it goes after its event.
        PurgeKind::Deliveries => (
            "webhook_deliveries",
            "id",
            "status = 'delivered' AND COALESCE(delivered_at, created_at) < $1 \
             AND (NOT EXISTS (SELECT 1 FROM outbox o WHERE o.seq = webhook_deliveries.event_seq) \
                  OR NOT EXISTS (SELECT 1 FROM webhook_subscriptions s \
                                 WHERE s.id = webhook_deliveries.subscription_id AND s.required_for_deletion = TRUE))",
        ),
        // An offline grant keeps its session: it ends with the grant.
        PurgeKind::Sessions => (
            "sessions",
            "id",
            "expires_at < $1 AND NOT EXISTS (SELECT 1 FROM oidc_grants g WHERE g.session_id = sessions.id \
             AND g.expires_at >= $1)",
        ),
        PurgeKind::AccountTokens => ("account_tokens", "digest", "expires_at < $1"),
        PurgeKind::EmailVerifications => ("email_verifications", "digest", "expires_at < $1"),
        PurgeKind::EmailChanges => ("email_changes", "user_id", "expires_at < $1"),
        PurgeKind::TwoFactorChallenges => ("two_factor_challenges", "digest", "expires_at < $1"),
        PurgeKind::OidcCodes => ("oidc_codes", "digest", "expires_at < $1"),
        PurgeKind::OidcGrants => ("oidc_grants", "id", "expires_at < $1"),
        PurgeKind::BackchannelLogouts => (
            "oidc_logouts",
            "id",
            "status = 'delivered' AND COALESCE(delivered_at, created_at) < $1",
        ),
    }
}

/// Deletes the first `$2` rows of the kind.
pub(crate) fn delete_batch(kind: PurgeKind) -> String {
    let (table, key, condition) = target(kind);
    format!("DELETE FROM {table} WHERE {key} IN (SELECT {key} FROM {table} WHERE {condition} ORDER BY {key} LIMIT $2)")
}

/// Counts the rows of the kind.
pub(crate) fn count(kind: PurgeKind) -> String {
    let (table, _, condition) = target(kind);
    format!("SELECT COUNT(*) FROM {table} WHERE {condition}")
}
