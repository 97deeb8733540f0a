//! LibreChat's request and response shapes.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `POST /api/auth/register`.
#[derive(Debug, Deserialize)]
pub struct RegisterRequest {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub email: String,
    pub username: Option<String>,
    #[serde(default)]
    pub password: String,
    pub confirm_password: Option<String>,
    /// An invitation token.
    pub token: Option<String>,
}

/// `POST /api/auth/login`.
#[derive(Debug, Deserialize)]
pub struct LoginRequest {
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub password: String,
    /// A TOTP code, for an account with two-factor authentication (`TLoginUser`).
    #[serde(default)]
    pub token: Option<String>,
    #[serde(default, rename = "backupCode")]
    pub backup_code: Option<String>,
}

/// `POST /api/auth/requestPasswordReset`, `POST /api/user/verify/resend`.
#[derive(Debug, Deserialize)]
pub struct EmailRequest {
    #[serde(default)]
    pub email: String,
}

/// `POST /api/auth/resetPassword`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResetPasswordRequest {
    #[serde(default)]
    pub user_id: Option<String>,
    #[serde(default)]
    pub token: String,
    #[serde(default)]
    pub password: String,
    #[serde(rename = "confirm_password")]
    pub confirm_password: Option<String>,
}

/// `POST /api/user/verify`: the seed's `{userId, token}` or the client's `{email, token}`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifyRequest {
    #[serde(default)]
    pub token: String,
    pub email: Option<String>,
    pub user_id: Option<String>,
}

/// `POST /api/user/plugins`: the seed's `{plugins: [...]}` or the client's
/// `{pluginKey, action, auth?, isEntityTool?}`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PluginsRequest {
    pub plugins: Option<Vec<String>>,
    pub plugin_key: Option<String>,
    pub action: Option<String>,
    #[allow(dead_code)]
    pub auth: Option<Value>,
    #[allow(dead_code)]
    pub is_entity_tool: Option<bool>,
}

/// `POST /api/user/settings/favorites`.
#[derive(Debug, Deserialize)]
pub struct FavoritesRequest {
    pub favorites: Vec<Value>,
}

/// `POST /api/user/settings/pinned-order`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PinnedOrderRequest {
    pub pinned_order: Vec<String>,
}

/// `POST /api/user/settings/skills/active`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SkillStatesRequest {
    pub skill_states: serde_json::Map<String, Value>,
}

/// The user (`TUser`, the fields of `PUBLIC_USER_RESPONSE_FIELDS`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserBody {
    #[serde(rename = "_id")]
    pub object_id: String,
    pub id: String,
    pub name: String,
    pub username: String,
    pub email: String,
    pub email_verified: bool,
    pub avatar: Option<String>,
    pub provider: String,
    pub role: &'static str,
    pub plugins: Vec<Value>,
    pub two_factor_enabled: bool,
    pub terms_accepted: bool,
    pub personalization: Value,
    pub favorites: Vec<Value>,
    pub skill_states: Value,
    pub created_at: String,
    pub updated_at: String,
}

/// `{token, user}` of login and refresh.
#[derive(Debug, Serialize)]
pub struct TokenResponse {
    pub token: String,
    pub user: UserBody,
}

/// `GET /api/user/terms`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TermsBody {
    pub terms_accepted: bool,
    /// The version the user accepted last (None: never).
    pub terms_version: Option<String>,
    /// The version in force.
    pub current_terms_version: String,
    pub accepted_at: Option<String>,
    pub terms_accepted_at: Option<String>,
}

/// `GET /api/balance`: LibreChat 0.8's `TBalanceResponse`; the refill fields only when
/// auto-refill is on (its controller deletes them otherwise).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BalanceBody {
    pub token_credits: i64,
    pub auto_refill_enabled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refill_interval_value: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refill_interval_unit: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_refill: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refill_amount: Option<i64>,
}

/// `POST /api/files/images/avatar`.
#[derive(Debug, Serialize)]
pub struct AvatarBody {
    pub url: String,
    pub filepath: String,
}
