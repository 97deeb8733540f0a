//! Request and response bodies of the native API.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub use crate::extract::double_option;

/// A user as the native API shows it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UserBody {
    /// Decimal snowflake id.
    pub id: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub username: Option<String>,
    pub name: Option<String>,
    /// `admin`, `user` or `pending`.
    pub role: String,
    pub active: bool,
    pub avatar_url: Option<String>,
    pub bio: Option<String>,
    pub timezone: Option<String>,
    pub provider: String,
    pub terms_version: Option<String>,
    /// RFC 3339.
    pub terms_accepted_at: Option<String>,
    /// Free-form JSON object.
    pub preferences: serde_json::Value,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
    /// RFC 3339.
    pub last_login_at: Option<String>,
    /// RFC 3339.
    pub last_active_at: Option<String>,
}

/// `POST /v1/auth/register`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    pub email: Option<String>,
    pub username: Option<String>,
    pub name: Option<String>,
    pub password: String,
    /// An invitation (from `roster invite-user`): registration then works even when
    /// self-registration is off, the email must be the invited one, and the account gets the
    /// invited role.
    #[serde(default)]
    pub invite_token: Option<String>,
}

/// The answer to every registration with `quiet_registration` on: the same whether the
/// email was free (the account exists now) or taken; the mail to the address tells which.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RegisterAccepted {
    /// Always `accepted`.
    pub status: String,
    pub message: String,
}

/// The message of [`RegisterAccepted`].
pub const REGISTER_ACCEPTED: &str = "If the address can be registered, the account is created: sign in with your password. A mail to the address tells what happened.";

/// `POST /v1/auth/reset-password`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetPasswordRequest {
    /// The token of a reset link (from `roster reset-password --link`).
    pub token: String,
    pub new_password: String,
}

/// `POST /v1/auth/login`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// Email or username.
    pub login: String,
    pub password: String,
}

/// `POST /v1/auth/refresh`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

/// `POST /v1/auth/logout` (optional body).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LogoutRequest {
    /// Ends the session of this refresh token, when the call carries no access token.
    pub refresh_token: Option<String>,
}

/// The answer to register, login and refresh. Tokens are absent when the account awaits approval.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AuthResponse {
    pub user: UserBody,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// Always `Bearer`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_type: Option<String>,
    /// Seconds until the access token expires.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_in: Option<i64>,
}

/// Declares a profile-update request: the profile fields every such request shares (absent:
/// kept, `null`: cleared), followed by the request's own fields.
macro_rules! profile_update_request {
    ($(#[$meta:meta])* $name:ident { $($(#[$field_meta:meta])* $field:ident: $type:ty,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Default, Deserialize, ToSchema)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            #[serde(default, deserialize_with = "double_option")]
            #[schema(value_type = Option<String>)]
            pub email: Option<Option<String>>,
            #[serde(default, deserialize_with = "double_option")]
            #[schema(value_type = Option<String>)]
            pub username: Option<Option<String>>,
            #[serde(default, deserialize_with = "double_option")]
            #[schema(value_type = Option<String>)]
            pub name: Option<Option<String>>,
            #[serde(default, deserialize_with = "double_option")]
            #[schema(value_type = Option<String>)]
            pub avatar_url: Option<Option<String>>,
            #[serde(default, deserialize_with = "double_option")]
            #[schema(value_type = Option<String>)]
            pub bio: Option<Option<String>>,
            #[serde(default, deserialize_with = "double_option")]
            #[schema(value_type = Option<String>)]
            pub timezone: Option<Option<String>>,
            /// Replaces the whole preferences object.
            pub preferences: Option<serde_json::Value>,
            $($(#[$field_meta])* pub $field: $type,)*
        }
    };
}

profile_update_request!(
    /// `PATCH /v1/me`: absent fields are kept, `null` clears.
    UpdateMeRequest {
        /// Records acceptance of this terms version now.
        accept_terms_version: Option<String>,
    }
);

/// `POST /v1/me/password`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    pub current_password: String,
    pub new_password: String,
}

/// A session.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SessionBody {
    pub id: String,
    pub created_at: String,
    pub last_used_at: String,
    pub expires_at: String,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
    /// Whether this is the session making the request.
    pub current: bool,
}

/// How many sessions were revoked.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RevokedBody {
    pub revoked: u64,
}

/// `POST /v1/me/api-keys`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKeyRequest {
    pub name: String,
    /// RFC 3339; absent for a key that does not expire.
    pub expires_at: Option<String>,
    /// `introspect` (administrators only).
    #[serde(default)]
    pub scopes: Vec<String>,
}

/// An API key; the secret is never shown again after creation.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ApiKeyBody {
    pub id: String,
    pub name: String,
    /// The first characters of the key.
    pub prefix: String,
    pub scopes: Vec<String>,
    pub created_at: String,
    pub expires_at: Option<String>,
    pub last_used_at: Option<String>,
}

/// A key just created, with its secret (shown once).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ApiKeyCreatedBody {
    #[serde(flatten)]
    pub key: ApiKeyBody,
    pub secret: String,
}

/// `GET /v1/users` query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListUsersQuery {
    /// Case-insensitive substring of email, username or name.
    pub q: Option<String>,
    /// `admin`, `user` or `pending`.
    pub role: Option<String>,
    pub active: Option<bool>,
    /// `created_at` (default), `email`, `username`, `name`, `updated_at`, `last_active_at`, `role`.
    pub sort: Option<String>,
    /// `asc` (default) or `desc`.
    pub order: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// 1 to 200, default 50.
    pub limit: Option<u32>,
    /// `true` to also count every match (`total`).
    pub total: Option<bool>,
}

/// A page of users.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UserListBody {
    pub users: Vec<UserBody>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
    /// How many users match in all; present when asked for with `total=true`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<i64>,
}

/// `POST /v1/users`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUserRequest {
    pub email: Option<String>,
    pub username: Option<String>,
    pub name: Option<String>,
    /// Absent: an account that cannot log in with a password.
    pub password: Option<String>,
    pub role: Option<String>,
    pub active: Option<bool>,
    #[serde(default)]
    pub email_verified: bool,
    pub provider: Option<String>,
}

profile_update_request!(
    /// `PATCH /v1/users/{id}`: the profile fields of `PATCH /v1/me` (absent kept, `null` clears),
    /// plus the administrative ones.
    UpdateUserRequest {
        /// `admin`, `user` or `pending`.
        role: Option<String>,
        active: Option<bool>,
        email_verified: Option<bool>,
        /// Sets a new password and revokes all the user's sessions.
        password: Option<String>,
        /// With `password`: also delete all the user's API keys (default false).
        revoke_api_keys: Option<bool>,
    }
);

/// `POST /v1/introspect` (form-encoded, RFC 7662).
#[derive(Debug, Deserialize, ToSchema)]
pub struct IntrospectRequest {
    pub token: String,
    pub token_type_hint: Option<String>,
}

/// RFC 7662 answer. Only `active` is present for an inactive token.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct IntrospectBody {
    pub active: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
}

/// A group of users and the permissions it grants them.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct GroupBody {
    /// Decimal snowflake id.
    pub id: String,
    pub name: String,
    pub description: String,
    /// JSON object of permissions, OR-merged over the default template for members.
    pub permissions: serde_json::Value,
    /// The administrator who created it.
    pub created_by: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

/// Creates a group.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateGroupRequest {
    pub name: String,
    pub description: Option<String>,
    /// JSON object; default `{}`.
    pub permissions: Option<serde_json::Value>,
}

/// Changes a group; absent fields are kept.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateGroupRequest {
    pub name: Option<String>,
    pub description: Option<String>,
    /// Replaces the permissions object.
    pub permissions: Option<serde_json::Value>,
}

/// A group's members, or users to add to or remove from it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MembersBody {
    /// Decimal user ids.
    pub user_ids: Vec<String>,
}

/// Groups.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct GroupListBody {
    pub groups: Vec<GroupBody>,
}
