//! Pure mapping between native DTOs and core types.

use super::dto::*;
use roster_core::service::{AdminUserChanges, ApiKeyCreated, Introspection, LoginOutcome, Patch, ProfileChanges};
use roster_core::store::{ApiKey, Session};
use roster_core::{SessionId, User};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// RFC 3339 rendering of a time.
pub fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

fn rfc3339_opt(t: Option<OffsetDateTime>) -> Option<String> {
    t.map(rfc3339)
}

/// The native view of a user.
pub fn user_body(u: User) -> UserBody {
    UserBody {
        id: u.id.to_string(),
        email: u.email,
        email_verified: u.email_verified,
        username: u.username,
        name: u.name,
        role: u.role.as_str().to_string(),
        active: u.active,
        avatar_url: u.avatar,
        bio: u.bio,
        timezone: u.timezone,
        provider: u.provider,
        terms_version: u.terms_version,
        terms_accepted_at: rfc3339_opt(u.terms_accepted_at),
        preferences: u.preferences,
        created_at: rfc3339(u.created_at),
        updated_at: rfc3339(u.updated_at),
        last_login_at: rfc3339_opt(u.last_login_at),
        last_active_at: rfc3339_opt(u.last_active_at),
    }
}

/// The answer to register, login and refresh.
pub fn auth_response(outcome: LoginOutcome) -> AuthResponse {
    let tokens = outcome.tokens;
    AuthResponse {
        user: user_body(outcome.user),
        token_type: tokens.as_ref().map(|_| "Bearer".to_string()),
        expires_in: tokens.as_ref().map(|t| t.expires_in),
        access_token: tokens.as_ref().map(|t| t.access_token.clone()),
        refresh_token: tokens.map(|t| t.refresh_token),
    }
}

/// Profile changes from `PATCH /v1/me`.
pub fn profile_changes(r: UpdateMeRequest) -> ProfileChanges {
    ProfileChanges {
        email: Patch::from_json(r.email),
        username: Patch::from_json(r.username),
        name: Patch::from_json(r.name),
        avatar: Patch::from_json(r.avatar_url),
        bio: Patch::from_json(r.bio),
        timezone: Patch::from_json(r.timezone),
        preferences: r.preferences,
        accept_terms_version: r.accept_terms_version,
    }
}

/// Administrative changes from `PATCH /v1/users/{id}`.
pub fn admin_changes(r: UpdateUserRequest) -> roster_core::Result<AdminUserChanges> {
    Ok(AdminUserChanges {
        profile: profile_changes(UpdateMeRequest {
            email: r.email,
            username: r.username,
            name: r.name,
            avatar_url: r.avatar_url,
            bio: r.bio,
            timezone: r.timezone,
            preferences: r.preferences,
            accept_terms_version: None,
        }),
        role: r.role.as_deref().map(roster_core::Role::parse).transpose()?,
        active: r.active,
        email_verified: r.email_verified,
        password: r.password,
        revoke_api_keys: r.revoke_api_keys.unwrap_or(false),
    })
}

/// The native view of a session.
pub fn session_body(s: Session, current: Option<SessionId>) -> SessionBody {
    SessionBody {
        id: s.id.to_string(),
        created_at: rfc3339(s.created_at),
        last_used_at: rfc3339(s.last_used_at),
        expires_at: rfc3339(s.expires_at),
        user_agent: s.user_agent,
        ip: s.ip,
        current: current == Some(s.id),
    }
}

/// The native view of an API key.
pub fn api_key_body(k: ApiKey) -> ApiKeyBody {
    ApiKeyBody {
        id: k.id.to_string(),
        name: k.name,
        prefix: k.prefix,
        scopes: k.scopes,
        created_at: rfc3339(k.created_at),
        expires_at: rfc3339_opt(k.expires_at),
        last_used_at: rfc3339_opt(k.last_used_at),
    }
}

/// A key just created.
pub fn api_key_created_body(c: ApiKeyCreated) -> ApiKeyCreatedBody {
    ApiKeyCreatedBody {
        key: api_key_body(c.key),
        secret: c.secret,
    }
}

/// Parses an RFC 3339 time from `field`.
pub fn parse_time(field: &'static str, raw: &str) -> roster_core::Result<OffsetDateTime> {
    OffsetDateTime::parse(raw, &Rfc3339)
        .map_err(|_| roster_core::Error::invalid(field, "must be an RFC 3339 time such as 2030-01-31T12:00:00Z"))
}

/// RFC 7662 body.
pub fn introspect_body(i: Introspection) -> IntrospectBody {
    IntrospectBody {
        active: i.active,
        iss: i.active.then(|| roster_core::token::ISSUER.to_string()),
        token_type: i.token_type.map(str::to_string),
        sub: i.sub,
        sid: i.sid,
        username: i.username,
        scope: i.scope,
        exp: i.exp,
        iat: i.iat,
    }
}

/// A group as the native API shows it.
pub fn group_body(g: roster_core::store::Group) -> GroupBody {
    GroupBody {
        id: g.id.to_string(),
        name: g.name,
        description: g.description,
        permissions: g.permissions,
        created_by: g.created_by.map(|u| u.to_string()),
        created_at: rfc3339(g.created_at),
        updated_at: rfc3339(g.updated_at),
    }
}

/// User ids as the native API writes them.
pub fn member_ids(ids: Vec<roster_core::UserId>) -> MembersBody {
    MembersBody {
        user_ids: ids.into_iter().map(|id| id.to_string()).collect(),
    }
}
