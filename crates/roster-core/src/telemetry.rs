//! What Roster reports about itself: the names of its Prometheus metrics, the few helpers that
//! record the core's own (logins, limit hits, the password hasher's queue, deliveries, the
//! gauges refreshed on an interval), and the request's user slot the HTTP layer's request log
//! reads. Recording goes through the `metrics` facade: without an installed recorder (the
//! admin commands, the tests) every call is a no-op. Labels are fixed words, never user data.

use crate::id::UserId;
use std::cell::Cell;

/// HTTP requests: `route` (the route template), `dialect`, `method`, `status`.
pub const HTTP_REQUESTS: &str = "roster_http_requests_total";
/// HTTP request latency, seconds: `route`, `dialect`, `method`.
pub const HTTP_DURATION: &str = "roster_http_request_duration_seconds";
/// Sign-ins: `method` (see [`LoginMethod`]) and `outcome` (see [`login_outcome`]).
pub const LOGINS: &str = "roster_logins_total";
/// Requests refused by a rate limit (`limit`: login, register, password_reset, two_factor,
/// verification_resend) or by a login throttle's lock (`limit`: login_throttle).
pub const LIMIT_HITS: &str = "roster_limit_hits_total";
/// Password hashing jobs waiting for a hasher thread.
pub const HASHER_QUEUE: &str = "roster_password_hasher_queue_depth";
/// How long a hashing job waited for a thread, seconds.
pub const HASHER_WAIT: &str = "roster_password_hasher_wait_seconds";
/// Database connections: `pool` (sqlite: reader, writer; postgres: main), `state` (in_use,
/// idle, and waiting: acquisitions waiting for a connection now).
pub const DB_CONNECTIONS: &str = "roster_db_connections";
/// Largest size of each database pool: `pool`.
pub const DB_CONNECTIONS_MAX: &str = "roster_db_connections_max";
/// Outbox events not yet queued for some webhook subscription.
pub const OUTBOX_UNQUEUED: &str = "roster_outbox_unqueued_events";
/// Deliveries queued and not yet delivered or given up.
pub const DELIVERIES_PENDING: &str = "roster_deliveries_pending";
/// Age of the oldest event some receiver is still owed, seconds (0: none).
pub const OUTBOX_OLDEST_AGE: &str = "roster_outbox_oldest_undelivered_age_seconds";
/// Delivery attempts: `kind` (webhook, ...) and `outcome` (delivered, retry, failed).
pub const DELIVERIES: &str = "roster_deliveries_total";
/// Rows deleted by retention's purges: `kind` (`audit`, `outbox`, `sessions`, ...).
pub const PURGED: &str = "roster_purged_total";
/// Users: `role` and `status` (active, inactive, banned), refreshed on an interval.
pub const USERS: &str = "roster_users";
/// When the gauges above were last refreshed (Unix seconds).
pub const GAUGES_REFRESHED: &str = "roster_gauges_refreshed_timestamp_seconds";

/// How a user signed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginMethod {
    /// A login name and password (every dialect, the sign-in pages).
    Password,
    /// The second step of a login with two-factor authentication.
    TwoFactor,
    /// An authorization code exchanged at the OpenID Connect token endpoint.
    Oidc,
    /// A request authenticated by an API key.
    ApiKey,
}

impl LoginMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            LoginMethod::Password => "password",
            LoginMethod::TwoFactor => "two_factor",
            LoginMethod::Oidc => "oidc",
            LoginMethod::ApiKey => "api_key",
        }
    }
}

/// The `outcome` label of a sign-in's result: `success`, `two_factor_required`, `throttled`,
/// `invalid_credentials`, `refused` (an account that may not sign in) or `error`.
pub fn login_outcome<T>(result: &crate::Result<T>) -> &'static str {
    use crate::Error;
    match result {
        Ok(_) => "success",
        Err(Error::TwoFactorRequired(_)) => "two_factor_required",
        Err(Error::RateLimited { .. }) => "throttled",
        Err(Error::InvalidCredentials | Error::InvalidToken | Error::InvalidTwoFactorCode | Error::Unauthenticated) => {
            "invalid_credentials"
        }
        Err(
            Error::AccountPending
            | Error::AccountDisabled
            | Error::Banned { .. }
            | Error::EmailNotVerified
            | Error::Forbidden(..),
        ) => "refused",
        Err(_) => "error",
    }
}

/// Counts one sign-in.
pub fn login(method: LoginMethod, outcome: &'static str) {
    metrics::counter!(LOGINS, "method" => method.as_str(), "outcome" => outcome).increment(1);
}

/// Counts one request refused by `limit`.
pub fn limit_hit(limit: &'static str) {
    metrics::counter!(LIMIT_HITS, "limit" => limit).increment(1);
}

/// Counts one delivery attempt of `kind` (`webhook`, ...) with `outcome`.
pub fn delivery(kind: &'static str, outcome: &'static str) {
    metrics::counter!(DELIVERIES, "kind" => kind, "outcome" => outcome).increment(1);
}

/// An address as logs may show it: the first character of the local part and the domain
/// (`a***@example.org`); never the whole address.
pub fn mask_email(address: &str) -> String {
    match address.rsplit_once('@') {
        Some((local, domain)) => {
            let first = local.chars().next().map(String::from).unwrap_or_default();
            format!("{first}***@{domain}")
        }
        None => "***".to_string(),
    }
}

/// Sets the connection pool gauges (cheap: no round trip; called before each scrape).
pub fn refresh_pool_gauges(store: &dyn crate::Store) {
    for pool in store.pool_stats() {
        let in_use = pool.size.saturating_sub(pool.idle);
        metrics::gauge!(DB_CONNECTIONS, "pool" => pool.pool, "state" => "in_use").set(f64::from(in_use));
        metrics::gauge!(DB_CONNECTIONS, "pool" => pool.pool, "state" => "idle").set(f64::from(pool.idle));
        metrics::gauge!(DB_CONNECTIONS, "pool" => pool.pool, "state" => "waiting").set(f64::from(pool.waiting));
        metrics::gauge!(DB_CONNECTIONS_MAX, "pool" => pool.pool).set(f64::from(pool.max));
    }
}

const ROLES: [crate::Role; 3] = [crate::Role::Admin, crate::Role::User, crate::Role::Pending];
const STATUSES: [&str; 3] = ["active", "inactive", "banned"];

impl crate::Core {
    /// Sets the gauges read from the database: users by role and status (every pair, zero
    /// included) and the outbox backlog. One pass over the users table and a few indexed
    /// look-ups: meant for an interval (`metrics_refresh_seconds`), never per scrape.
    pub async fn refresh_database_gauges(&self) -> crate::Result<()> {
        let now = self.clock.now();
        let census = self.store.users_by_role_and_status(now).await?;
        for role in ROLES {
            for status in STATUSES {
                let n = census
                    .iter()
                    .find(|(r, s, _)| r == role.as_str() && s == status)
                    .map_or(0, |(_, _, n)| *n);
                metrics::gauge!(USERS, "role" => role.as_str(), "status" => status).set(n as f64);
            }
        }
        let backlog = self.store.outbox_backlog().await?;
        metrics::gauge!(OUTBOX_UNQUEUED).set(backlog.unqueued_events as f64);
        metrics::gauge!(DELIVERIES_PENDING).set(backlog.pending_deliveries as f64);
        let now_ms = (now.unix_timestamp_nanos() / 1_000_000) as i64;
        let age = backlog
            .oldest_undelivered_ms
            .map_or(0.0, |at| (now_ms - at).max(0) as f64 / 1000.0);
        metrics::gauge!(OUTBOX_OLDEST_AGE).set(age);
        metrics::gauge!(GAUGES_REFRESHED).set(now.unix_timestamp() as f64);
        Ok(())
    }
}

tokio::task_local! {
    static REQUEST_USER: Cell<Option<UserId>>;
}

/// Runs `work` with a slot for the user the request turns out to be from, and returns that
/// user with its output. The HTTP layer's request log wraps every request in it.
pub async fn with_request_user<F: std::future::Future>(work: F) -> (F::Output, Option<UserId>) {
    REQUEST_USER
        .scope(Cell::new(None), async move {
            let output = work.await;
            let user = REQUEST_USER.try_with(Cell::get).ok().flatten();
            (output, user)
        })
        .await
}

/// Notes the current request's user, once a credential or a password has proved it (nothing
/// outside a request).
pub fn note_request_user(user: UserId) {
    let _ = REQUEST_USER.try_with(|slot| slot.set(Some(user)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_request_user_slot_holds_what_was_noted_inside_it() {
        let id = UserId(42);
        let ((), user) = with_request_user(async move { note_request_user(id) }).await;
        assert_eq!(user, Some(id));
        let ((), user) = with_request_user(async {}).await;
        assert_eq!(user, None);
        note_request_user(id); // outside a request: nothing, no panic
    }

    #[test]
    fn masked_addresses_keep_only_the_first_character_and_the_domain() {
        assert_eq!(mask_email("alice@example.org"), "a***@example.org");
        assert_eq!(mask_email("nobody"), "***");
    }
}
