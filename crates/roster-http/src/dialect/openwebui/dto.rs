//! Request and response bodies as Open WebUI's models describe them
//! (`models/users.py`, `models/auths.py`, `models/groups.py`).

use crate::dialect::fastapi::{FromQuery, QueryReader};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `UserModel`.
#[derive(Debug, Serialize)]
pub struct UserModel {
    pub id: String,
    pub email: String,
    pub username: Option<String>,
    pub role: String,
    pub name: String,
    pub profile_image_url: String,
    pub profile_banner_image_url: Option<String>,
    pub bio: Option<String>,
    pub gender: Option<String>,
    pub date_of_birth: Option<String>,
    pub timezone: Option<String>,
    pub presence_state: Option<String>,
    pub status_emoji: Option<String>,
    pub status_message: Option<String>,
    pub status_expires_at: Option<i64>,
    pub info: Option<Value>,
    pub settings: Option<Value>,
    pub oauth: Option<Value>,
    pub scim: Option<Value>,
    pub last_active_at: i64,
    pub updated_at: i64,
    pub created_at: i64,
}

/// `{id, name}` of a group, as user responses list them.
#[derive(Debug, Serialize)]
pub struct GroupRef {
    pub id: String,
    pub name: String,
}

/// `UserModel` with `group_ids` (the admin listing).
#[derive(Debug, Serialize)]
pub struct UserWithGroupIds {
    #[serde(flatten)]
    pub user: UserModel,
    pub group_ids: Vec<String>,
}

/// `UserModel` with `groups` and `is_active` (`GET /users/{id}`).
#[derive(Debug, Serialize)]
pub struct UserWithGroups {
    #[serde(flatten)]
    pub user: UserModel,
    pub groups: Vec<GroupRef>,
    pub is_active: bool,
}

/// `UserInfoResponse`.
#[derive(Debug, Serialize)]
pub struct UserInfoResponse {
    pub id: String,
    pub name: String,
    pub email: String,
    pub role: String,
    pub bio: Option<String>,
    pub last_active_at: Option<i64>,
    pub timezone: Option<String>,
    pub groups: Vec<GroupRef>,
    pub is_active: bool,
    pub status_emoji: Option<String>,
    pub status_message: Option<String>,
    pub status_expires_at: Option<i64>,
}

/// `{"users": [...], "total": n}`.
#[derive(Debug, Serialize)]
pub struct UserList<T> {
    pub users: Vec<T>,
    pub total: i64,
}

/// Query of `GET /users/` and `/users/search` (`page: int | None = 1`).
#[derive(Debug, Default)]
pub struct ListQuery {
    pub query: Option<String>,
    pub order_by: Option<String>,
    pub direction: Option<String>,
    pub page: Option<i64>,
}

impl FromQuery for ListQuery {
    fn from_query(q: &mut QueryReader) -> Self {
        ListQuery {
            query: q.string("query"),
            order_by: q.string("order_by"),
            direction: q.string("direction"),
            page: q.int("page", None, None),
        }
    }
}

/// `?include_inherited=` (`bool = False`).
#[derive(Debug, Default)]
pub struct GroupsQuery {
    pub include_inherited: Option<bool>,
}

impl FromQuery for GroupsQuery {
    fn from_query(q: &mut QueryReader) -> Self {
        GroupsQuery {
            include_inherited: q.bool("include_inherited"),
        }
    }
}

/// `?raw=` (`bool = False`).
#[derive(Debug, Default)]
pub struct SettingsQuery {
    pub raw: Option<bool>,
}

impl FromQuery for SettingsQuery {
    fn from_query(q: &mut QueryReader) -> Self {
        SettingsQuery { raw: q.bool("raw") }
    }
}

/// `UserStatus`.
#[derive(Debug, Deserialize)]
pub struct StatusForm {
    pub status_emoji: Option<String>,
    pub status_message: Option<String>,
    pub status_expires_at: Option<i64>,
}

/// `UserUpdateForm`.
#[derive(Debug, Deserialize)]
pub struct UserUpdateForm {
    pub role: Option<String>,
    pub name: Option<String>,
    pub email: Option<String>,
    pub profile_image_url: Option<String>,
    pub password: Option<String>,
}

/// `SigninForm`.
#[derive(Debug, Deserialize)]
pub struct SigninForm {
    pub email: String,
    pub password: String,
}

/// `SignupForm`.
#[derive(Debug, Deserialize)]
pub struct SignupForm {
    pub name: String,
    pub email: String,
    pub password: String,
    pub profile_image_url: Option<String>,
}

/// `AddUserForm`.
#[derive(Debug, Deserialize)]
pub struct AddUserForm {
    pub name: String,
    pub email: String,
    pub password: String,
    pub profile_image_url: Option<String>,
    pub role: Option<String>,
}

/// `UpdatePasswordForm`.
#[derive(Debug, Deserialize)]
pub struct UpdatePasswordForm {
    pub password: String,
    pub new_password: String,
}

/// `UpdateProfileForm`.
#[derive(Debug, Deserialize)]
pub struct UpdateProfileForm {
    pub profile_image_url: String,
    pub name: String,
    pub bio: Option<String>,
    pub gender: Option<String>,
    pub date_of_birth: Option<String>,
}

/// `UpdateTimezoneForm`.
#[derive(Debug, Deserialize)]
pub struct UpdateTimezoneForm {
    pub timezone: String,
}

/// The session answer of sign-in, sign-up and `GET /auths/`.
#[derive(Debug, Serialize)]
pub struct SessionUserResponse<'a> {
    pub token: &'a str,
    pub token_type: &'static str,
    pub expires_at: Option<i64>,
    pub id: String,
    pub email: &'a str,
    pub name: String,
    pub role: &'static str,
    pub profile_image_url: String,
    pub bio: Option<&'a str>,
    pub gender: Option<&'a str>,
    pub date_of_birth: Option<&'a str>,
    pub status_emoji: Option<&'a str>,
    pub status_message: Option<&'a str>,
    pub status_expires_at: Option<i64>,
    /// Written once per change of the user's permissions (see `Permissions`).
    pub permissions: &'a roster_core::service::Permissions,
}

/// The answer of `POST /auths/add`.
#[derive(Debug, Serialize)]
pub struct AddUserResponse {
    pub token: String,
    pub token_type: &'static str,
    pub id: String,
    pub email: String,
    pub name: String,
    pub role: String,
    pub profile_image_url: String,
}

/// The answer of `POST /auths/update/profile`.
#[derive(Debug, Serialize)]
pub struct ProfileResponse {
    pub id: String,
    pub name: String,
    pub role: String,
    pub email: String,
    pub profile_image_url: String,
}

/// `{"api_key": ...}`.
#[derive(Debug, Serialize)]
pub struct ApiKeyResponse {
    pub api_key: String,
}

/// `GroupModel` / `GroupResponse`.
#[derive(Debug, Serialize)]
pub struct GroupResponse {
    pub id: String,
    pub user_id: Option<String>,
    pub name: String,
    pub description: String,
    pub permissions: Value,
    pub data: Option<Value>,
    pub meta: Option<Value>,
    pub created_at: i64,
    pub updated_at: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub member_count: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_ids: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub membership_type: Option<&'static str>,
}

/// `GroupForm` (create) and `GroupUpdateForm`.
#[derive(Debug, Deserialize)]
pub struct GroupForm {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub permissions: Option<Value>,
    pub user_ids: Option<Vec<String>>,
}

/// `UserIdsForm`.
#[derive(Debug, Deserialize)]
pub struct UserIdsForm {
    #[serde(default)]
    pub user_ids: Vec<String>,
}
