//! Langflow's request and response shapes (`services/database/models/user/model.py`,
//! `api/v1/schemas`, `models/api_key/model.py`).

use crate::dialect::fastapi::{FromQuery, QueryReader};
use crate::extract::double_option;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `OAuth2PasswordRequestForm`: `username`, `password` (and fields Roster ignores).
#[derive(Debug, Deserialize)]
pub struct LoginForm {
    pub username: String,
    pub password: String,
}

/// `Token`.
#[derive(Debug, Serialize)]
pub struct Token {
    pub access_token: String,
    pub refresh_token: String,
    pub token_type: &'static str,
}

/// `UserRead`.
#[derive(Debug, Serialize)]
pub struct UserRead {
    pub id: String,
    pub username: String,
    pub profile_image: Option<String>,
    pub store_api_key: Option<String>,
    pub is_active: bool,
    pub is_superuser: bool,
    pub create_at: String,
    pub updated_at: String,
    pub last_login_at: Option<String>,
    pub optins: Value,
}

/// `UsersResponse`.
#[derive(Debug, Serialize)]
pub struct UsersResponse {
    pub total_count: i64,
    pub users: Vec<UserRead>,
}

/// `UserCreate`.
#[derive(Debug, Deserialize)]
pub struct UserCreate {
    pub username: String,
    pub password: String,
    #[serde(default)]
    pub optins: Option<Value>,
}

/// `UserUpdate`: every field optional.
#[derive(Debug, Default, Deserialize)]
pub struct UserUpdate {
    pub username: Option<String>,
    /// Absent, `null` (no picture) or a value.
    #[serde(default, deserialize_with = "double_option")]
    pub profile_image: Option<Option<String>>,
    pub password: Option<String>,
    pub is_active: Option<bool>,
    pub is_superuser: Option<bool>,
    /// Accepted and ignored: Roster records logins itself.
    #[serde(default)]
    pub last_login_at: Option<Value>,
    pub optins: Option<Value>,
}

/// `PasswordResetRequest` (current) or `UserUpdate` with `password` (classic).
#[derive(Debug, Deserialize)]
pub struct PasswordReset {
    pub password: String,
    pub current_password: Option<String>,
}

/// `GET /users/` query: `skip` (≥ 0, default 0), `limit` (1 to 200, default 10), `search`.
#[derive(Debug)]
pub struct ListQuery {
    pub skip: i64,
    pub limit: i64,
    pub search: Option<String>,
}

impl FromQuery for ListQuery {
    fn from_query(query: &mut QueryReader) -> Self {
        ListQuery {
            skip: query.int("skip", Some(0), None).unwrap_or(0),
            limit: query.int("limit", Some(1), Some(200)).unwrap_or(10),
            search: query.string("search"),
        }
    }
}

/// `ApiKeyCreate`.
#[derive(Debug, Default, Deserialize)]
pub struct ApiKeyCreate {
    pub name: Option<String>,
}

/// `POST /api/v1/api_key/store`.
#[derive(Debug, Deserialize)]
pub struct ApiKeyStore {
    pub api_key: String,
}

/// `ApiKeyRead` (masked) and `UnmaskedApiKeyRead`.
#[derive(Debug, Serialize)]
pub struct ApiKeyRead {
    pub id: String,
    pub name: String,
    pub api_key: String,
    pub user_id: String,
    pub created_at: String,
    pub last_used_at: Option<String>,
    pub total_uses: i64,
    pub is_active: bool,
}

/// `ApiKeysResponse`.
#[derive(Debug, Serialize)]
pub struct ApiKeysResponse {
    pub total_count: i64,
    pub user_id: String,
    pub api_keys: Vec<ApiKeyRead>,
}
