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
    /// Where the Open WebUI dialect is mounted (`/openwebui`; `/` for the root).
    pub openwebui_prefix: String,
    /// Where the Langflow dialect is mounted (`/langflow`; `/` for the root).
    pub langflow_prefix: String,
    /// Whether Langflow sign-ups are active at once (Langflow's `NEW_USER_IS_ACTIVE`, false:
    /// they wait for a superuser's approval).
    pub langflow_new_user_is_active: bool,
    /// Role of Open WebUI sign-ups after the first account (Open WebUI's `DEFAULT_USER_ROLE`).
    pub openwebui_default_role: roster_core::Role,
    /// Whether Open WebUI sign-up stays open after the first account (Open WebUI closes it).
    pub openwebui_enable_signup: bool,
    /// Lifetime of the tokens Open WebUI sign-in and sign-up hand out, seconds (its frontend
    /// never refreshes; Open WebUI's `JWT_EXPIRES_IN` is four weeks).
    pub openwebui_token_ttl_seconds: i64,
    /// Where the Plexichat dialect is mounted (`/plexichat`; `/` for the root).
    pub plexichat_prefix: String,
    /// Whether Langflow's `GET /api/v1/auto_login` signs in as `langflow_superuser` (Langflow's
    /// `AUTO_LOGIN`); off: 403.
    pub langflow_auto_login: bool,
    /// The administrator auto-login signs in as (Langflow's `SUPERUSER`).
    pub langflow_superuser: String,
    /// Proxies whose `X-Forwarded-For` is believed (addresses or CIDR blocks); see
    /// [`crate::client_ip`].
    pub trusted_proxies: Vec<crate::client_ip::IpNet>,
    /// Largest request head (request line and headers), bytes; larger: 431.
    pub max_header_bytes: usize,
    /// How long a client may take to send the request head before it is disconnected.
    pub header_read_timeout: std::time::Duration,
    /// How long a request may take in all, body included (zero: no limit); longer: 408.
    pub request_timeout: std::time::Duration,
    /// Security headers on every response.
    pub security_headers: crate::protect::SecurityHeaders,
    /// Cross-origin access (off by default).
    pub cors: crate::protect::CorsSettings,
    /// The sign-in pages' branding.
    pub pages: crate::pages::PageSettings,
    /// Forward authentication: the identity headers' names and where a browser may return.
    pub forward_auth: crate::forward_auth::ForwardAuthSettings,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            body_limit: 1024 * 1024,
            trust_forwarded_for: false,
            librechat_prefix: "/librechat".into(),
            openwebui_prefix: "/openwebui".into(),
            langflow_prefix: "/langflow".into(),
            langflow_new_user_is_active: false,
            openwebui_default_role: roster_core::Role::Pending,
            openwebui_enable_signup: false,
            openwebui_token_ttl_seconds: 28 * 86_400,
            plexichat_prefix: "/plexichat".into(),
            langflow_auto_login: false,
            langflow_superuser: "langflow".into(),
            trusted_proxies: Vec::new(),
            max_header_bytes: 16 * 1024,
            header_read_timeout: std::time::Duration::from_secs(10),
            request_timeout: std::time::Duration::from_secs(30),
            security_headers: crate::protect::SecurityHeaders::default(),
            cors: crate::protect::CorsSettings::default(),
            pages: crate::pages::PageSettings::default(),
            forward_auth: crate::forward_auth::ForwardAuthSettings::default(),
        }
    }
}

/// Shared state: the core services and transport settings.
#[derive(Clone)]
pub struct AppState {
    pub core: Arc<Core>,
    pub config: Arc<HttpConfig>,
    /// The HTTP metrics' handles (see [`crate::observe`]).
    pub(crate) http_metrics: Arc<crate::observe::HttpMetrics>,
    /// What `GET /metrics` renders; None: the app has no `/metrics` route.
    pub(crate) metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
}

impl AppState {
    /// State over a built core.
    pub fn new(core: Arc<Core>, config: HttpConfig) -> Self {
        Self {
            core,
            http_metrics: Arc::new(crate::observe::HttpMetrics::new(&config)),
            config: Arc::new(config),
            metrics: None,
        }
    }

    /// The same state, serving `GET /metrics` from `handle` (the installed Prometheus recorder's).
    pub fn with_metrics(mut self, handle: metrics_exporter_prometheus::PrometheusHandle) -> Self {
        self.metrics = Some(handle);
        self
    }
}
