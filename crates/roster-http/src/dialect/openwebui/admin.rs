//! `/api/v1/auths/admin/...`: the administrator's contact shown to pending users, and the
//! user-management part of Open WebUI's admin configuration (`AdminConfig` of
//! `routers/auths.py`, 0.12.4), stored in Roster (see [`roster_core::Core::product_config`])
//! and read by the routes it governs: sign-up, the sign-up role and default group, token
//! lifetime, API keys, user status, the default interface settings.

use super::caller::{Caller, Identity, Result};
use super::error::{self, OpenWebUiError};
use super::map;
use crate::extract::Json;
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use roster_core::GroupId;
use roster_core::Role;
use roster_core::id::id_from_uuid;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The name Roster keeps this configuration under.
const PRODUCT: &str = "openwebui";

/// How long a token lasts when `JWT_EXPIRES_IN` is `-1` or `0` (Open WebUI's "never"): the
/// core caps it at the session's lifetime, which a sign-out or revocation still ends.
const UNLIMITED_TOKEN_TTL: time::Duration = time::Duration::days(365 * 100);

/// The user-management fields of Open WebUI's `AdminConfig`, as `GET /auths/admin/config`
/// answers them. Unset fields take Open WebUI's defaults, or Roster's settings where Roster
/// has one (`openwebui_enable_signup`, `openwebui_default_role`,
/// `openwebui_token_ttl_seconds`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub(super) struct AdminConfig {
    pub show_admin_details: bool,
    pub admin_email: Option<String>,
    pub webui_url: String,
    pub enable_login_form: bool,
    pub enable_signup: bool,
    pub enable_api_keys: bool,
    pub enable_api_keys_endpoint_restrictions: bool,
    pub api_keys_allowed_endpoints: String,
    pub default_user_role: String,
    pub default_group_id: String,
    pub default_interface_settings: Map<String, Value>,
    pub jwt_expires_in: String,
    pub enable_user_webhooks: bool,
    pub enable_user_status: bool,
    pub pending_user_overlay_title: Option<String>,
    pub pending_user_overlay_content: Option<String>,
}

/// `POST /auths/admin/config`: the fields Open WebUI requires, and the optional ones with its
/// defaults. Other fields of Open WebUI's form (chat, channels, folders, ...) are not Roster's
/// and are ignored.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub(super) struct AdminConfigForm {
    show_admin_details: bool,
    #[serde(default)]
    admin_email: Option<String>,
    webui_url: String,
    /// Changed only when given.
    #[serde(default)]
    enable_login_form: Option<bool>,
    enable_signup: bool,
    enable_api_keys: bool,
    enable_api_keys_endpoint_restrictions: bool,
    api_keys_allowed_endpoints: String,
    default_user_role: String,
    default_group_id: String,
    #[serde(default)]
    default_interface_settings: Option<Map<String, Value>>,
    jwt_expires_in: String,
    enable_user_webhooks: bool,
    enable_user_status: bool,
    #[serde(default)]
    pending_user_overlay_title: Option<String>,
    #[serde(default)]
    pending_user_overlay_content: Option<String>,
}

/// A number of seconds in Open WebUI's duration format, in the largest whole unit.
fn duration_text(seconds: i64) -> String {
    for (unit, size) in [("w", 604_800), ("d", 86_400), ("h", 3_600), ("m", 60)] {
        if seconds != 0 && seconds % size == 0 {
            return format!("{}{unit}", seconds / size);
        }
    }
    format!("{seconds}s")
}

/// Whether `value` fits what Open WebUI stores for `JWT_EXPIRES_IN`:
/// `^(-1|0|(-?\d+(\.\d+)?)(ms|s|m|h|d|w))$`.
fn valid_duration(value: &str) -> bool {
    parse_duration(value).is_some()
}

/// Open WebUI's `parse_duration` of a value that fits its pattern: `Some(None)` for `-1` and
/// `0` (no expiry), `Some(Some(seconds))` otherwise; None when it does not fit.
fn parse_duration(value: &str) -> Option<Option<f64>> {
    if value == "-1" || value == "0" {
        return Some(None);
    }
    let (number, size) = [
        ("ms", 0.001),
        ("s", 1.0),
        ("m", 60.0),
        ("h", 3_600.0),
        ("d", 86_400.0),
        ("w", 604_800.0),
    ]
    .into_iter()
    .find_map(|(unit, size)| value.strip_suffix(unit).map(|n| (n, size)))?;
    // "5ms" also ends with "s": the number must then be digits, which "5m" is not.
    let digits = number.strip_prefix('-').unwrap_or(number);
    let (whole, fraction) = match digits.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (digits, None),
    };
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(whole) || fraction.is_some_and(|f| !all_digits(f)) {
        return None;
    }
    Some(Some(number.parse::<f64>().ok()? * size))
}

impl AdminConfig {
    /// Open WebUI's defaults, with Roster's settings where it has them.
    fn defaults(state: &AppState) -> Self {
        let config = &state.config;
        AdminConfig {
            show_admin_details: true,
            admin_email: None,
            webui_url: String::new(),
            enable_login_form: true,
            enable_signup: config.openwebui_enable_signup,
            // Roster's API keys predate this switch and are governed by `features.api_keys`;
            // they stay on until an administrator turns them off (Open WebUI's default is off).
            enable_api_keys: true,
            enable_api_keys_endpoint_restrictions: false,
            api_keys_allowed_endpoints: String::new(),
            default_user_role: config.openwebui_default_role.as_str().to_string(),
            default_group_id: String::new(),
            default_interface_settings: Map::new(),
            jwt_expires_in: duration_text(config.openwebui_token_ttl_seconds),
            enable_user_webhooks: false,
            enable_user_status: true,
            pending_user_overlay_title: Some(String::new()),
            pending_user_overlay_content: Some(String::new()),
        }
    }

    /// The configuration in force: what an administrator stored over the defaults.
    pub async fn load(state: &AppState) -> Result<Self> {
        let stored = state.core.product_config(PRODUCT).await?;
        Ok(Self::over_defaults(state, stored))
    }

    fn over_defaults(state: &AppState, stored: Map<String, Value>) -> Self {
        let defaults = Self::defaults(state);
        let Ok(Value::Object(mut merged)) = serde_json::to_value(&defaults) else {
            return defaults;
        };
        for (key, value) in stored {
            if merged.contains_key(&key) {
                merged.insert(key, value);
            }
        }
        serde_json::from_value(Value::Object(merged)).unwrap_or(defaults)
    }

    /// Whether sign-up is open after the first account (`ENABLE_SIGNUP` and `ENABLE_LOGIN_FORM`).
    pub fn signup_open(&self) -> bool {
        self.enable_signup && self.enable_login_form
    }

    /// The role of new sign-ups (`DEFAULT_USER_ROLE`).
    pub fn default_role(&self) -> Role {
        Role::parse(&self.default_user_role).unwrap_or(Role::Pending)
    }

    /// The group new accounts join (`DEFAULT_GROUP_ID`), when it names one of Roster's.
    pub fn default_group(&self) -> Option<GroupId> {
        let id = self.default_group_id.trim();
        if id.is_empty() {
            return None;
        }
        let group = id_from_uuid(id).ok().map(GroupId);
        if group.is_none() {
            // Open WebUI logs a default group it cannot join and goes on.
            tracing::warn!(default_group_id = id, "DEFAULT_GROUP_ID names no group");
        }
        group
    }

    /// How long a sign-in token lasts (`JWT_EXPIRES_IN`), at least a second.
    pub fn token_ttl(&self) -> time::Duration {
        match parse_duration(&self.jwt_expires_in) {
            Some(None) => UNLIMITED_TOKEN_TTL,
            Some(Some(seconds)) => {
                time::Duration::seconds_f64(seconds.clamp(1.0, UNLIMITED_TOKEN_TTL.as_seconds_f64()))
            }
            // Never stored (only values that fit are): Open WebUI's default, four weeks.
            None => time::Duration::weeks(4),
        }
    }

    /// Whether an API key may call `path` (`ENABLE_API_KEYS_ENDPOINT_RESTRICTIONS` with the
    /// comma-separated `API_KEYS_ALLOWED_ENDPOINTS`: the path itself or below it).
    pub fn api_key_may_call(&self, path: &str) -> bool {
        !self.enable_api_keys_endpoint_restrictions
            || self
                .api_keys_allowed_endpoints
                .split(',')
                .map(str::trim)
                .filter(|allowed| !allowed.is_empty())
                .any(|allowed| path == allowed || path.strip_prefix(allowed).is_some_and(|rest| rest.starts_with('/')))
    }

    /// The form applied as Open WebUI applies it: a `DEFAULT_USER_ROLE` outside
    /// `pending, user, admin` and a `JWT_EXPIRES_IN` outside its format leave the stored
    /// values; `ENABLE_LOGIN_FORM` changes only when given; no `DEFAULT_INTERFACE_SETTINGS`
    /// stores `{}`.
    fn apply(mut self, form: AdminConfigForm) -> Self {
        self.show_admin_details = form.show_admin_details;
        self.admin_email = form.admin_email;
        self.webui_url = form.webui_url;
        if let Some(enabled) = form.enable_login_form {
            self.enable_login_form = enabled;
        }
        self.enable_signup = form.enable_signup;
        self.enable_api_keys = form.enable_api_keys;
        self.enable_api_keys_endpoint_restrictions = form.enable_api_keys_endpoint_restrictions;
        self.api_keys_allowed_endpoints = form.api_keys_allowed_endpoints;
        if matches!(form.default_user_role.as_str(), "pending" | "user" | "admin") {
            self.default_user_role = form.default_user_role;
        }
        self.default_group_id = form.default_group_id;
        self.default_interface_settings = form.default_interface_settings.unwrap_or_default();
        if valid_duration(&form.jwt_expires_in) {
            self.jwt_expires_in = form.jwt_expires_in;
        }
        self.enable_user_webhooks = form.enable_user_webhooks;
        self.enable_user_status = form.enable_user_status;
        self.pending_user_overlay_title = form.pending_user_overlay_title;
        self.pending_user_overlay_content = form.pending_user_overlay_content;
        self
    }
}

/// `GET /auths/admin/details` (any signed-in account, pending ones too): the contact shown to
/// pending users, `{name, email}` of `ADMIN_EMAIL`'s account (the name null when no account
/// has it), else of the first account; 400 `ACTION_PROHIBITED` when `SHOW_ADMIN_DETAILS` is off.
pub(super) async fn details_get(State(state): State<AppState>, caller: Identity) -> Result<axum::Json<Value>> {
    let config = AdminConfig::load(&state).await?;
    if !config.show_admin_details {
        return Err(OpenWebUiError::Detail(
            StatusCode::BAD_REQUEST,
            error::ACTION_PROHIBITED,
        ));
    }
    let admin_email = config.admin_email.filter(|e| !e.is_empty());
    let contact = state
        .core
        .contact_account(&caller.actor, admin_email.as_deref())
        .await?;
    let name = contact.as_ref().map(map::display_name);
    let email = admin_email.or_else(|| contact.and_then(|user| user.email));
    Ok(axum::Json(serde_json::json!({ "name": name, "email": email })))
}

/// `GET /auths/admin/config` (administrators).
pub(super) async fn config_get(State(state): State<AppState>, caller: Caller) -> Result<axum::Json<AdminConfig>> {
    let stored = state.core.admin_product_config(&caller.actor, PRODUCT).await?;
    Ok(axum::Json(AdminConfig::over_defaults(&state, stored)))
}

/// `POST /auths/admin/config` (administrators): stores the form over the configuration in
/// force → the configuration and `sessions_revoked` (Open WebUI revokes sessions only for its
/// MFA fields, which Roster's own two-factor settings replace: always false).
pub(super) async fn config_post(
    State(state): State<AppState>,
    caller: Caller,
    Json(form): Json<AdminConfigForm>,
) -> Result<axum::Json<Value>> {
    let current = AdminConfig::over_defaults(&state, state.core.admin_product_config(&caller.actor, PRODUCT).await?);
    let updated = current.apply(form);
    let Ok(Value::Object(document)) = serde_json::to_value(&updated) else {
        return Err(roster_core::Error::Internal(anyhow::anyhow!("admin configuration did not serialise")).into());
    };
    let mut answer = state.core.set_product_config(&caller.actor, PRODUCT, document).await?;
    answer.insert("sessions_revoked".into(), Value::Bool(false));
    Ok(axum::Json(Value::Object(answer)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_as_open_webui_reads_them() {
        assert_eq!(parse_duration("-1"), Some(None));
        assert_eq!(parse_duration("0"), Some(None));
        assert_eq!(parse_duration("4w"), Some(Some(2_419_200.0)));
        assert_eq!(parse_duration("1.5h"), Some(Some(5_400.0)));
        assert_eq!(parse_duration("250ms"), Some(Some(0.25)));
        assert_eq!(parse_duration("-5m"), Some(Some(-300.0)));
        for bad in ["", "4", "4W", " 4w", "1e3s", "-0", "4w2d", "h", ".5h", "5.h"] {
            assert_eq!(parse_duration(bad), None, "{bad:?}");
        }
        assert_eq!(duration_text(2_419_200), "4w");
        assert_eq!(duration_text(86_400 * 3), "3d");
        assert_eq!(duration_text(5_400), "90m");
        assert_eq!(duration_text(61), "61s");
    }

    #[test]
    fn api_key_endpoints() {
        let mut config = AdminConfig {
            show_admin_details: true,
            admin_email: None,
            webui_url: String::new(),
            enable_login_form: true,
            enable_signup: false,
            enable_api_keys: true,
            enable_api_keys_endpoint_restrictions: false,
            api_keys_allowed_endpoints: " /api/v1/users , ,/api/v1/groups/".into(),
            default_user_role: "pending".into(),
            default_group_id: String::new(),
            default_interface_settings: Map::new(),
            jwt_expires_in: "4w".into(),
            enable_user_webhooks: false,
            enable_user_status: true,
            pending_user_overlay_title: None,
            pending_user_overlay_content: None,
        };
        assert!(config.api_key_may_call("/anything"));
        config.enable_api_keys_endpoint_restrictions = true;
        assert!(config.api_key_may_call("/api/v1/users"));
        assert!(config.api_key_may_call("/api/v1/users/user/settings"));
        assert!(!config.api_key_may_call("/api/v1/usersx"));
        assert!(!config.api_key_may_call("/api/v1/groups"));
        assert!(config.api_key_may_call("/api/v1/groups//x"));
        assert!(!config.api_key_may_call(""));
        config.api_keys_allowed_endpoints = String::new();
        assert!(!config.api_key_may_call("/api/v1/users"));
    }
}
