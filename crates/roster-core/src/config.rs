//! The settings the core's rules depend on.

use crate::user::Role;
use time::Duration;

/// Rule settings, with defaults that work on a laptop.
#[derive(Debug, Clone)]
pub struct CoreConfig {
    /// Shortest accepted password, in characters.
    pub min_password_length: usize,
    /// Role given to accounts after the first.
    pub default_role: Role,
    /// Whether anyone may register.
    pub allow_registration: bool,
    /// Lifetime of an access token.
    pub access_token_ttl: Duration,
    /// Lifetime of a session's refresh chain.
    pub refresh_token_ttl: Duration,
    /// Snowflake node id of this instance.
    pub node_id: u16,
    /// Threads that hash passwords (at lowered priority).
    pub hash_concurrency: usize,
}

impl Default for CoreConfig {
    fn default() -> Self {
        Self {
            min_password_length: 8,
            default_role: Role::User,
            allow_registration: true,
            access_token_ttl: Duration::minutes(15),
            refresh_token_ttl: Duration::days(30),
            node_id: 0,
            hash_concurrency: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2),
        }
    }
}
