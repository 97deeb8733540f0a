//! The state every handler receives.

use roster_core::Core;
use std::sync::Arc;

/// Transport settings.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Largest accepted request body, in bytes.
    pub body_limit: usize,
    /// Take the client address from `X-Forwarded-For` (only behind a trusted proxy).
    pub trust_forwarded_for: bool,
    /// Where the LibreChat dialect is mounted (`/librechat`; `/` for the root).
    pub librechat_prefix: String,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            body_limit: 1024 * 1024,
            trust_forwarded_for: false,
            librechat_prefix: "/librechat".into(),
        }
    }
}

/// Shared state: the core services and transport settings.
#[derive(Clone)]
pub struct AppState {
    pub core: Arc<Core>,
    pub config: Arc<HttpConfig>,
}

impl AppState {
    /// State over a built core.
    pub fn new(core: Arc<Core>, config: HttpConfig) -> Self {
        Self {
            core,
            config: Arc::new(config),
        }
    }
}
