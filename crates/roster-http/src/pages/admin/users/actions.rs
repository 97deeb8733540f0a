//! What a user's page posts: each action one core call as the administrator, back to the
//! page with what was done or with the error.

use super::*;
use axum::extract::Multipart;
use axum::extract::multipart::MultipartRejection;
use axum::http::HeaderMap;
use roster_core::service::NATIVE_AVATAR_BASE;

/// Where an action on user `id` ends: back to the user's page saying what was done, or the
/// page again with the error (its status).
async fn outcome<T>(state: &AppState, admin: &Admin, id: UserId, result: Result<T, Error>, key: &str) -> Response {
    match result {
        Ok(_) => done(&format!("/admin/users/{id}"), key),
        Err(error @ (Error::Unavailable | Error::Internal(_))) => error_page(state, admin, &error),
        Err(error) => {
            let status = crate::error::status_of(&error);
            let chrome = AdminChrome::new(state, admin, admin.t.users_title, "/admin/users").core_error(
                &error,
                &[
                    "name", "username", "email", "bio", "timezone", "duration", "reason", "amount", "file",
                ],
            );
            user_view(state, admin, id, chrome, status).await
        }
    }
}

/// The user's id in an action's path, or the not-found page.
macro_rules! user_id {
    ($state:expr, $admin:expr, $id:expr) => {
        match path_id::<UserId>(&$state, &$admin, &$id, "user") {
            Ok(id) => id,
            Err(response) => return response,
        }
    };
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ProfileForm {
    name: String,
    username: String,
    email: String,
    bio: String,
    timezone: String,
    email_verified: Option<String>,
}

fn patch(value: &str) -> Patch<String> {
    match value.trim() {
        "" => Patch::Clear,
        v => Patch::Set(v.to_string()),
    }
}

/// `POST /admin/users/{id}/profile`: name, username, email, bio, time zone, verified.
pub async fn profile(
    State(state): State<AppState>,
    Path(id): Path<String>,
    AdminForm { admin, form }: AdminForm<ProfileForm>,
) -> Response {
    let id = user_id!(state, admin, id);
    let changes = AdminUserChanges {
        profile: ProfileChanges {
            name: patch(&form.name),
            username: patch(&form.username),
            email: patch(&form.email),
            bio: patch(&form.bio),
            timezone: patch(&form.timezone),
            ..ProfileChanges::default()
        },
        email_verified: Some(form.email_verified.as_deref() == Some("on")),
        ..AdminUserChanges::default()
    };
    let result = state.core.admin_update_user(&admin.actor, id, changes).await;
    outcome(&state, &admin, id, result, "saved").await
}

/// `POST /admin/users/{id}/avatar` (`multipart/form-data`: `csrf`, then `file`, the image):
/// a new avatar for the user through [`roster_core::Core::set_user_avatar`], the pipeline of
/// the API's avatar uploads with its limits and errors (the field `file`), audited with the
/// administrator as the actor.
pub async fn avatar(
    State(state): State<AppState>,
    Path(id): Path<String>,
    admin: Admin,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> Response {
    let Ok(mut multipart) = multipart else {
        return admin.bad_form(&state);
    };
    let mut csrf = None;
    let mut image = Vec::new();
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(error) => return avatar_body_refused(&state, &admin, &id, error.status()).await,
        };
        let name = field.name().unwrap_or_default().to_string();
        let bytes = match field.bytes().await {
            Ok(bytes) => bytes,
            Err(error) => return avatar_body_refused(&state, &admin, &id, error.status()).await,
        };
        match name.as_str() {
            crate::pages::csrf::CSRF_FIELD => csrf = String::from_utf8(bytes.to_vec()).ok(),
            "file" => image = bytes.to_vec(),
            _ => {}
        }
    }
    if let Err(response) = admin.check_csrf(&state, &headers, csrf.as_deref()) {
        return response;
    }
    let id = user_id!(state, admin, id);
    // An empty or missing file is the core's error too ("file: is required").
    let result = state
        .core
        .set_user_avatar(&admin.actor, id, image, NATIVE_AVATAR_BASE)
        .await;
    outcome(&state, &admin, id, result, "avatar").await
}

/// The answer to an upload whose body could not be read: larger than the limit (the core's
/// "too large" error on the user's page, `413`), or not a form (`400`).
async fn avatar_body_refused(state: &AppState, admin: &Admin, id: &str, status: StatusCode) -> Response {
    if status != StatusCode::PAYLOAD_TOO_LARGE {
        return admin.bad_form(state);
    }
    let id = user_id!(state, admin, id);
    let too_large: Result<(), Error> = Err(Error::TooLarge("the image is larger than the upload limit"));
    outcome(state, admin, id, too_large, "avatar").await
}

/// `POST /admin/users/{id}/avatar/remove`: clears the user's avatar
/// ([`roster_core::Core::admin_update_user`], which removes Roster's file of it).
pub async fn remove_avatar(
    State(state): State<AppState>,
    Path(id): Path<String>,
    AdminForm { admin, .. }: AdminForm<Empty>,
) -> Response {
    let id = user_id!(state, admin, id);
    let changes = AdminUserChanges {
        profile: ProfileChanges {
            avatar: Patch::Clear,
            ..ProfileChanges::default()
        },
        ..AdminUserChanges::default()
    };
    let result = state.core.admin_update_user(&admin.actor, id, changes).await;
    outcome(&state, &admin, id, result, "avatar_removed").await
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RoleForm {
    role: String,
    #[serde(flatten)]
    confirmation: Confirmation,
}

/// `POST /admin/users/{id}/role`; taking the administrator role away is confirmed.
pub async fn role(
    State(state): State<AppState>,
    meta: Meta,
    Path(id): Path<String>,
    AdminForm { admin, form }: AdminForm<RoleForm>,
) -> Response {
    let id = user_id!(state, admin, id);
    let role = match Role::parse(&form.role) {
        Ok(role) => role,
        Err(_) => return outcome::<()>(&state, &admin, id, Err(Error::invalid("role", "is not a role")), "").await,
    };
    let user = match state.core.get_user(&admin.actor, id).await {
        Ok(user) => user,
        Err(error) => return error_page(&state, &admin, &error),
    };
    if user.role == Role::Admin && role != Role::Admin {
        let question = ("role", admin.t.confirm_demote, false);
        let hidden = vec![("role", role.as_str().to_string())];
        if let Err(response) = confirm_on(&state, &admin, &meta, &user, question, hidden, &form.confirmation).await {
            return response;
        }
    }
    let changes = AdminUserChanges {
        role: Some(role),
        ..AdminUserChanges::default()
    };
    let result = state.core.admin_update_user(&admin.actor, id, changes).await;
    outcome(&state, &admin, id, result, "role").await
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ActiveForm {
    active: String,
}

/// `POST /admin/users/{id}/active`: `active=true` activates, `false` deactivates.
pub async fn active(
    State(state): State<AppState>,
    Path(id): Path<String>,
    AdminForm { admin, form }: AdminForm<ActiveForm>,
) -> Response {
    let id = user_id!(state, admin, id);
    let active = match form.active.as_str() {
        "true" => true,
        "false" => false,
        _ => {
            return outcome::<()>(
                &state,
                &admin,
                id,
                Err(Error::invalid("active", "must be true or false")),
                "",
            )
            .await;
        }
    };
    let changes = AdminUserChanges {
        active: Some(active),
        ..AdminUserChanges::default()
    };
    let result = state.core.admin_update_user(&admin.actor, id, changes).await;
    outcome(
        &state,
        &admin,
        id,
        result,
        if active { "activated" } else { "deactivated" },
    )
    .await
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct BanForm {
    duration: String,
    reason: String,
}

/// `POST /admin/users/{id}/ban`: for a duration (`30m`, `12h`, `7d`, ...), with a reason.
pub async fn ban(
    State(state): State<AppState>,
    Path(id): Path<String>,
    AdminForm { admin, form }: AdminForm<BanForm>,
) -> Response {
    let id = user_id!(state, admin, id);
    let result = match parse_duration("duration", form.duration.trim()) {
        Ok(duration) => {
            let reason = Some(form.reason.trim()).filter(|r| !r.is_empty());
            state
                .core
                .ban_user(&admin.actor, id, duration, reason)
                .await
                .map(|_| ())
        }
        Err(error) => Err(error),
    };
    outcome(&state, &admin, id, result, "banned").await
}

/// `POST /admin/users/{id}/unban`.
pub async fn unban(
    State(state): State<AppState>,
    Path(id): Path<String>,
    AdminForm { admin, .. }: AdminForm<Empty>,
) -> Response {
    let id = user_id!(state, admin, id);
    let result = state.core.unban_user(&admin.actor, id).await;
    outcome(&state, &admin, id, result, "unbanned").await
}

/// `POST /admin/users/{id}/reset-link`: a single-use password-reset link, shown once.
pub async fn reset_link(
    State(state): State<AppState>,
    Path(id): Path<String>,
    AdminForm { admin, .. }: AdminForm<Empty>,
) -> Response {
    let id = user_id!(state, admin, id);
    match state
        .core
        .create_password_reset(&admin.actor, id, RESET_LINK_LIFETIME)
        .await
    {
        Ok(link) => shown_reset_link(&state, &admin, id, &link),
        Err(error) => outcome::<()>(&state, &admin, id, Err(error), "").await,
    }
}

/// `POST /admin/users/{id}/send-reset-link`: a single-use password-reset link mailed to the
/// user; without mail (or an address) it is shown once, as `reset-link` does.
pub async fn send_reset_link(
    State(state): State<AppState>,
    Path(id): Path<String>,
    AdminForm { admin, .. }: AdminForm<Empty>,
) -> Response {
    let id = user_id!(state, admin, id);
    match state
        .core
        .send_password_reset(&admin.actor, id, RESET_LINK_LIFETIME, RESET_PASSWORD_PATH)
        .await
    {
        Ok(ResetLinkSent::Mailed { .. }) => done(&format!("/admin/users/{id}"), "reset_mailed"),
        Ok(ResetLinkSent::Shown(link)) => shown_reset_link(&state, &admin, id, &link),
        Err(error) => outcome::<()>(&state, &admin, id, Err(error), "").await,
    }
}

/// The answer page that shows a reset link once.
fn shown_reset_link(state: &AppState, admin: &Admin, id: UserId, link: &ResetLinkCreated) -> Response {
    let token: String = form_urlencoded::byte_serialize(link.token.as_bytes()).collect();
    let url = format!(
        "{}{RESET_PASSWORD_PATH}?token={token}",
        state.core.config.public_url.trim_end_matches('/')
    );
    let page = MessagePage {
        chrome: AdminChrome::new(state, admin, admin.t.reset_link_title, "/admin/users"),
        paragraphs: vec![fill(admin.t.reset_link_body, &[("until", &when(link.expires_at))])],
        code: Some(url),
        back: admin.t.back,
        back_href: format!("/admin/users/{id}"),
    };
    render(state, admin, StatusCode::OK, &page)
}

/// The confirmation of a dangerous action on `user` (at `path` under the user's): the
/// question of `text` (`{user}`), the action's own fields `hidden` sent again, typed
/// confirmation (the user's login) when `typed`.
async fn confirm_on(
    state: &AppState,
    admin: &Admin,
    meta: &Meta,
    user: &User,
    (path, text, typed): (&str, &str, bool),
    hidden: Vec<(&'static str, String)>,
    given: &Confirmation,
) -> Result<(), Response> {
    let id = user.id;
    let ask = Ask {
        action: format!("/admin/users/{id}/{path}"),
        question: fill(text, &[("user", &display_name(user))]),
        hidden,
        typed: typed.then(|| login_of(user)),
        cancel: format!("/admin/users/{id}"),
    };
    confirm(state, admin, meta, ask, given).await
}

/// As [`confirm_on`], for user `id` (read first), with no fields of the action's own.
async fn ask_about(
    state: &AppState,
    admin: &Admin,
    meta: &Meta,
    id: UserId,
    question: (&str, &str, bool),
    given: &Confirmation,
) -> Result<(), Response> {
    let user = state
        .core
        .get_user(&admin.actor, id)
        .await
        .map_err(|e| error_page(state, admin, &e))?;
    confirm_on(state, admin, meta, &user, question, Vec::new(), given).await
}

/// `POST /admin/users/{id}/reset-two-factor` (confirmed).
pub async fn reset_two_factor(
    State(state): State<AppState>,
    meta: Meta,
    Path(id): Path<String>,
    AdminForm { admin, form }: AdminForm<Confirmation>,
) -> Response {
    let id = user_id!(state, admin, id);
    let text = admin.t.confirm_reset_two_factor;
    if let Err(response) = ask_about(&state, &admin, &meta, id, ("reset-two-factor", text, false), &form).await {
        return response;
    }
    let result = state.core.admin_disable_two_factor(&admin.actor, id).await;
    outcome(&state, &admin, id, result, "two_factor").await
}

/// `POST /admin/users/{id}/sessions/revoke-all` (confirmed).
pub async fn revoke_all(
    State(state): State<AppState>,
    meta: Meta,
    Path(id): Path<String>,
    AdminForm { admin, form }: AdminForm<Confirmation>,
) -> Response {
    let id = user_id!(state, admin, id);
    let text = admin.t.confirm_revoke_all;
    if let Err(response) = ask_about(&state, &admin, &meta, id, ("sessions/revoke-all", text, false), &form).await {
        return response;
    }
    let result = state.core.revoke_user_sessions(&admin.actor, id).await;
    outcome(&state, &admin, id, result, "sessions").await
}

/// `POST /admin/users/{id}/sessions/{session}/revoke`.
pub async fn revoke_session(
    State(state): State<AppState>,
    Path((id, session)): Path<(String, String)>,
    AdminForm { admin, .. }: AdminForm<Empty>,
) -> Response {
    let id = user_id!(state, admin, id);
    let result = match session.parse() {
        Ok(session) => state.core.revoke_user_session(&admin.actor, id, session).await,
        Err(_) => Err(Error::NotFound("session")),
    };
    outcome(&state, &admin, id, result, "session").await
}

/// `POST /admin/users/{id}/api-keys/{key}/revoke`.
pub async fn revoke_api_key(
    State(state): State<AppState>,
    Path((id, key)): Path<(String, String)>,
    AdminForm { admin, .. }: AdminForm<Empty>,
) -> Response {
    let id = user_id!(state, admin, id);
    let result = match key.parse() {
        Ok(key) => state.core.revoke_user_api_key(&admin.actor, id, key).await,
        Err(_) => Err(Error::NotFound("API key")),
    };
    outcome(&state, &admin, id, result, "key").await
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct GroupForm {
    group: String,
}

/// `POST /admin/users/{id}/groups`: adds the user to `group`.
pub async fn add_group(
    State(state): State<AppState>,
    Path(id): Path<String>,
    AdminForm { admin, form }: AdminForm<GroupForm>,
) -> Response {
    let id = user_id!(state, admin, id);
    let result = match form.group.parse::<GroupId>() {
        Ok(group) => state
            .core
            .add_group_members(&admin.actor, group, &[id])
            .await
            .map(|_| ()),
        Err(_) => Err(Error::invalid("group", "is not a group")),
    };
    outcome(&state, &admin, id, result, "group_added").await
}

/// `POST /admin/users/{id}/groups/{group}/remove`.
pub async fn remove_group(
    State(state): State<AppState>,
    Path((id, group)): Path<(String, String)>,
    AdminForm { admin, .. }: AdminForm<Empty>,
) -> Response {
    let id = user_id!(state, admin, id);
    let result = match group.parse::<GroupId>() {
        Ok(group) => state
            .core
            .remove_group_members(&admin.actor, group, &[id])
            .await
            .map(|_| ()),
        Err(_) => Err(Error::NotFound("group")),
    };
    outcome(&state, &admin, id, result, "group_removed").await
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct CreditsForm {
    amount: String,
    op: String,
}

/// `POST /admin/users/{id}/credits`: `op=add` adds `amount` (negative takes), `op=set` sets
/// the balance.
pub async fn credits(
    State(state): State<AppState>,
    Path(id): Path<String>,
    AdminForm { admin, form }: AdminForm<CreditsForm>,
) -> Response {
    let id = user_id!(state, admin, id);
    let result = match form.amount.trim().parse::<i64>() {
        Err(_) => Err(Error::invalid("amount", "must be a whole number")),
        Ok(amount) => match form.op.as_str() {
            "add" => state.core.add_balance(&admin.actor, id, amount).await,
            "set" => state.core.set_balance(&admin.actor, id, amount).await,
            _ => Err(Error::invalid("op", "must be add or set")),
        },
    };
    outcome(&state, &admin, id, result, "credits").await
}

/// `POST /admin/users/{id}/delete` (confirmed by typing the user's login).
pub async fn delete(
    State(state): State<AppState>,
    meta: Meta,
    Path(id): Path<String>,
    AdminForm { admin, form }: AdminForm<Confirmation>,
) -> Response {
    let id = user_id!(state, admin, id);
    let text = admin.t.confirm_delete;
    if let Err(response) = ask_about(&state, &admin, &meta, id, ("delete", text, true), &form).await {
        return response;
    }
    match state.core.delete_user(&admin.actor, id).await {
        Ok(()) => done("/admin/users", "deleted"),
        Err(error) => outcome::<()>(&state, &admin, id, Err(error), "").await,
    }
}
