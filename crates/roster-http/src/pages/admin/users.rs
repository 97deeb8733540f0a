//! `/admin/users`: the list (the API's substring search, filters, sort, keyset pages, the
//! count) and a user's page with its actions, each one core call as the administrator.

use super::view::{
    AdminChrome, Ask, Confirmation, MessagePage, confirm, display_name, login_of, render, when, when_or,
};
use super::{Admin, AdminForm, Empty, done, error_page, id_and_form, path_id};
use crate::extract::Meta;
use crate::pages::PageQuery;
use crate::pages::RESET_PASSWORD_PATH;
use crate::pages::strings::fill;
use crate::state::AppState;
use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use roster_core::service::{
    AdminUserChanges, ListAudit, ListUsers, Patch, ProfileChanges, ResetLinkCreated, ResetLinkSent, parse_duration,
};
use roster_core::store::UserSort;
use roster_core::{Error, GroupId, Role, User, UserId};
use serde::Deserialize;
use time::Duration;

/// How many users a page of the list shows.
const PAGE_SIZE: u32 = 50;
/// How long a password-reset link made here lasts.
const RESET_LINK_LIFETIME: Duration = Duration::days(1);

/// An option of a `<select>`.
#[derive(Debug, Clone)]
pub struct Choice {
    pub value: String,
    pub text: String,
    pub selected: bool,
}

pub fn choices(options: &[(&str, &str)], current: &str) -> Vec<Choice> {
    options
        .iter()
        .map(|(value, text)| Choice {
            value: value.to_string(),
            text: text.to_string(),
            selected: *value == current,
        })
        .collect()
}

/// The list's query.
#[derive(Debug, Default, Deserialize, Clone)]
#[serde(default)]
pub struct UsersQuery {
    q: String,
    role: String,
    status: String,
    group: String,
    provider: String,
    sort: String,
    order: String,
    cursor: Option<String>,
    done: Option<String>,
}

impl UsersQuery {
    /// The query string of these filters (without the cursor).
    fn filters_query(&self) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (name, value) in [
            ("q", &self.q),
            ("role", &self.role),
            ("status", &self.status),
            ("group", &self.group),
            ("provider", &self.provider),
            ("sort", &self.sort),
            ("order", &self.order),
        ] {
            if !value.is_empty() {
                query.append_pair(name, value);
            }
        }
        query.finish()
    }

    /// The core's listing request for these filters; a value the console never offers is a
    /// field error.
    fn request(&self, now: time::OffsetDateTime) -> Result<ListUsers, Error> {
        let mut request = ListUsers {
            search: Some(self.q.clone()).filter(|q| !q.trim().is_empty()),
            role: match self.role.as_str() {
                "" => None,
                role => Some(Role::parse(role).map_err(|_| Error::invalid("role", "is not a role"))?),
            },
            sort: match self.sort.as_str() {
                "" => UserSort::CreatedAt,
                sort => UserSort::parse(sort)?,
            },
            descending: self.order != "asc",
            cursor: self.cursor.clone().filter(|c| !c.is_empty()),
            limit: Some(PAGE_SIZE),
            with_total: true,
            ..ListUsers::default()
        };
        let filters = &mut request.filters;
        match self.status.as_str() {
            "" => {}
            "active" => {
                request.active = Some(true);
                filters.banned = Some((false, now));
            }
            "deactivated" => request.active = Some(false),
            "pending" => request.role = Some(Role::Pending),
            "banned" => filters.banned = Some((true, now)),
            "unverified" => filters.email_verified = Some(false),
            "two_factor" => filters.two_factor = Some(true),
            _ => return Err(Error::invalid("status", "is not a status")),
        }
        if !self.group.is_empty() {
            let group = self
                .group
                .parse::<GroupId>()
                .map_err(|_| Error::invalid("group", "is not a group"))?;
            request.filters.group = Some(group);
        }
        if !self.provider.trim().is_empty() {
            request.filters.provider = Some(self.provider.trim().to_string());
        }
        Ok(request)
    }
}

/// A row of the list.
#[derive(Debug, Clone)]
pub struct UserRow {
    pub href: String,
    pub name: String,
    pub email: String,
    pub username: String,
    pub role: String,
    pub status: String,
    pub created: String,
    pub last_active: String,
}

/// What a user's state is, in words: pending, deactivated, banned, active; unverified.
pub fn status_words(admin: &Admin, user: &User, now: time::OffsetDateTime) -> String {
    let t = admin.t;
    let mut words = Vec::new();
    if user.banned_until.is_some_and(|until| until > now) {
        words.push(t.status_banned);
    }
    if !user.active {
        words.push(t.status_deactivated);
    } else if user.role == Role::Pending {
        words.push(t.status_pending);
    } else if words.is_empty() {
        words.push(t.status_active);
    }
    if !user.email_verified && user.email.is_some() {
        words.push(t.status_unverified);
    }
    words.join(", ")
}

pub fn role_name(admin: &Admin, role: Role) -> &'static str {
    match role {
        Role::Admin => admin.t.role_admin,
        Role::User => admin.t.role_user,
        Role::Pending => admin.t.role_pending,
    }
}

pub fn user_row(admin: &Admin, user: &User, now: time::OffsetDateTime) -> UserRow {
    UserRow {
        href: format!("/admin/users/{}", user.id),
        name: display_name(user),
        email: user.email.clone().unwrap_or_default(),
        username: user.username.clone().unwrap_or_default(),
        role: role_name(admin, user.role).to_string(),
        status: status_words(admin, user, now),
        created: when(user.created_at),
        last_active: when_or(user.last_active_at, admin.t.never),
    }
}

#[derive(Template)]
#[template(path = "pages/admin/users.html")]
pub struct UsersPage {
    pub chrome: AdminChrome,
    pub t: &'static super::strings::AdminStrings,
    pub q: String,
    pub provider: String,
    pub roles: Vec<Choice>,
    pub statuses: Vec<Choice>,
    pub groups: Vec<Choice>,
    pub sorts: Vec<Choice>,
    pub orders: Vec<Choice>,
    pub count: Option<String>,
    pub rows: Vec<UserRow>,
    pub next: Option<String>,
    pub first: Option<String>,
}

/// `GET /admin/users`.
pub async fn list(State(state): State<AppState>, admin: Admin, PageQuery(query): PageQuery<UsersQuery>) -> Response {
    let t = admin.t;
    let now = state.core.clock.now();
    let mut chrome = AdminChrome::new(&state, &admin, t.users_title, "/admin/users")
        .notice(query.done.as_deref().and_then(|d| notice(&admin, d)));
    let mut status = StatusCode::OK;
    let page = match query.request(now) {
        Ok(request) => match state.core.list_users(&admin.actor, request).await {
            Ok(page) => Some(page),
            Err(error @ (Error::Invalid { .. } | Error::Conflict { .. })) => {
                status = StatusCode::UNPROCESSABLE_ENTITY;
                chrome = chrome.core_error(&error, &["q", "role", "status", "group", "sort"]);
                None
            }
            Err(error) => return error_page(&state, &admin, &error),
        },
        Err(error) => {
            status = StatusCode::UNPROCESSABLE_ENTITY;
            chrome = chrome.core_error(&error, &["q", "role", "status", "group", "sort"]);
            None
        }
    };
    let groups = match state.core.list_groups(&admin.actor).await {
        Ok(groups) => groups,
        Err(error) => return error_page(&state, &admin, &error),
    };
    let mut group_choices = vec![Choice {
        value: String::new(),
        text: t.any.into(),
        selected: query.group.is_empty(),
    }];
    group_choices.extend(groups.iter().map(|g| Choice {
        value: g.id.to_string(),
        text: g.name.clone(),
        selected: g.id.to_string() == query.group,
    }));
    let filters = query.filters_query();
    let (rows, count, next) = match &page {
        Some(page) => (
            page.users.iter().map(|u| user_row(&admin, u, now)).collect(),
            page.total.map(|n| fill(t.users_count, &[("count", &n.to_string())])),
            page.next_cursor.as_ref().map(|cursor| {
                let cursor: String = form_urlencoded::byte_serialize(cursor.as_bytes()).collect();
                if filters.is_empty() {
                    format!("/admin/users?cursor={cursor}")
                } else {
                    format!("/admin/users?{filters}&cursor={cursor}")
                }
            }),
        ),
        None => (Vec::new(), None, None),
    };
    let first = query.cursor.as_ref().map(|_| {
        if filters.is_empty() {
            "/admin/users".to_string()
        } else {
            format!("/admin/users?{filters}")
        }
    });
    let view = UsersPage {
        chrome,
        t,
        q: query.q.clone(),
        provider: query.provider.clone(),
        roles: choices(
            &[
                ("", t.any),
                ("admin", t.role_admin),
                ("user", t.role_user),
                ("pending", t.role_pending),
            ],
            &query.role,
        ),
        statuses: choices(
            &[
                ("", t.any),
                ("active", t.status_active),
                ("pending", t.status_pending),
                ("deactivated", t.status_deactivated),
                ("banned", t.status_banned),
                ("unverified", t.status_unverified),
                ("two_factor", t.status_two_factor),
            ],
            &query.status,
        ),
        groups: group_choices,
        sorts: choices(
            &[
                ("created_at", t.sort_created),
                ("email", t.sort_email),
                ("username", t.sort_username),
                ("name", t.sort_name),
                ("last_active_at", t.sort_last_active),
            ],
            if query.sort.is_empty() {
                "created_at"
            } else {
                &query.sort
            },
        ),
        orders: choices(&[("desc", t.order_desc), ("asc", t.order_asc)], &query.order),
        count,
        rows,
        next,
        first,
    };
    render(&state, &admin, status, &view)
}

/// The message of a `done` key.
fn notice(admin: &Admin, key: &str) -> Option<String> {
    let t = admin.t;
    Some(
        match key {
            "saved" => t.saved,
            "role" => t.role_changed,
            "activated" => t.activated,
            "deactivated" => t.deactivated,
            "banned" => t.banned,
            "unbanned" => t.unbanned,
            "two_factor" => t.two_factor_reset,
            "session" => t.session_revoked,
            "sessions" => t.sessions_revoked,
            "key" => t.api_key_revoked,
            "group_added" => t.group_added,
            "group_removed" => t.group_removed,
            "credits" => t.credits_changed,
            "deleted" => t.user_deleted,
            "reset_mailed" => t.reset_link_mailed,
            _ => return None,
        }
        .to_string(),
    )
}

#[derive(Debug, Clone)]
pub struct SessionRow {
    pub device: String,
    pub ip: String,
    pub created: String,
    pub last_seen: String,
    pub action: String,
}

#[derive(Debug, Clone)]
pub struct KeyRow {
    pub name: String,
    pub prefix: String,
    pub scopes: String,
    pub created: String,
    pub expires: String,
    pub last_used: String,
    pub action: String,
}

#[derive(Debug, Clone)]
pub struct GroupRow {
    pub name: String,
    pub href: String,
    pub action: String,
}

#[derive(Debug, Clone)]
pub struct AuditRow {
    pub time: String,
    pub action: String,
    pub actor: String,
    pub details: String,
}

#[derive(Debug, Clone)]
pub struct LedgerRow {
    pub time: String,
    pub kind: String,
    pub amount: String,
}

/// How many ledger transactions a user's page shows at a time.
const LEDGER_PAGE: i64 = 20;

/// A user's page's query: what was done, and the ledger's page (`ledger`: the time in
/// milliseconds and the id of the last transaction of the page before, `1767225600000.42`).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct UserQuery {
    pub done: Option<String>,
    pub ledger: String,
}

/// A ledger cursor as the page writes it.
fn ledger_cursor(at: time::OffsetDateTime, id: i64) -> String {
    format!("{}.{id}", at.unix_timestamp_nanos() / 1_000_000)
}

/// Reads a ledger cursor; empty is the first page.
fn parse_ledger_cursor(raw: &str) -> Result<Option<(time::OffsetDateTime, i64)>, Error> {
    if raw.is_empty() {
        return Ok(None);
    }
    let bad = || Error::invalid("ledger", "is not a page of the ledger");
    let (ms, id) = raw.split_once('.').ok_or_else(bad)?;
    let ms: i64 = ms.parse().map_err(|_| bad())?;
    let id: i64 = id.parse().map_err(|_| bad())?;
    let at = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).map_err(|_| bad())?;
    Ok(Some((at, id)))
}

#[derive(Template)]
#[template(path = "pages/admin/user.html")]
pub struct UserPage {
    pub chrome: AdminChrome,
    pub t: &'static super::strings::AdminStrings,
    pub base: String,
    pub name: String,
    pub username: String,
    pub email: String,
    pub email_verified: bool,
    pub bio: String,
    pub timezone: String,
    pub facts: Vec<(&'static str, String)>,
    pub roles: Vec<Choice>,
    pub active: bool,
    pub ban: Option<String>,
    pub two_factor: bool,
    pub sessions: Vec<SessionRow>,
    pub keys: Vec<KeyRow>,
    pub groups: Vec<GroupRow>,
    pub other_groups: Vec<Choice>,
    pub credits: String,
    /// The avatar Roster serves, if any; `avatar_note` says what else there is.
    pub avatar: Option<String>,
    pub avatar_note: Option<String>,
    pub ledger: Vec<LedgerRow>,
    /// The next (older) page of the ledger, and the first when on another.
    pub ledger_next: Option<String>,
    pub ledger_first: Option<String>,
    pub audit: Vec<AuditRow>,
    pub audit_href: String,
}

/// The user's page, with `chrome` (its messages) already made.
async fn user_view(state: &AppState, admin: &Admin, id: UserId, chrome: AdminChrome, status: StatusCode) -> Response {
    user_view_at(state, admin, id, chrome, status, "").await
}

/// The user's page with the ledger at page `ledger` (see [`UserQuery`]).
async fn user_view_at(
    state: &AppState,
    admin: &Admin,
    id: UserId,
    chrome: AdminChrome,
    status: StatusCode,
    ledger: &str,
) -> Response {
    let t = admin.t;
    let core = &state.core;
    let actor = &admin.actor;
    let now = core.clock.now();
    let loaded = async {
        let user = core.get_user(actor, id).await?;
        let two_factor = core.two_factor_status(id).await?;
        let sessions = core.list_user_sessions(actor, id).await?;
        let keys = core.list_user_api_keys(actor, id).await?;
        let groups = core.groups_of_user(actor, id).await?;
        let all_groups = core.list_groups(actor).await?;
        let credits = core.balance_of(actor, id).await?;
        let before = parse_ledger_cursor(ledger)?;
        let transactions = core
            .user_balance_transactions(actor, id, before, LEDGER_PAGE + 1)
            .await?;
        let audit = core
            .list_audit(
                actor,
                ListAudit {
                    target: Some(id),
                    limit: Some(10),
                    ..ListAudit::default()
                },
            )
            .await?;
        Ok::<_, Error>((
            user,
            two_factor,
            sessions,
            keys,
            groups,
            all_groups,
            (credits, transactions),
            audit,
        ))
    }
    .await;
    let (user, two_factor, sessions, keys, groups, all_groups, (credits, mut transactions), audit) = match loaded {
        Ok(loaded) => loaded,
        Err(error) => return error_page(state, admin, &error),
    };
    let base = format!("/admin/users/{id}");
    let more = transactions.len() > LEDGER_PAGE as usize;
    transactions.truncate(LEDGER_PAGE as usize);
    let ledger_next = transactions
        .last()
        .filter(|_| more)
        .map(|last| format!("{base}?ledger={}#ledger-heading", ledger_cursor(last.created_at, last.id)));
    let avatar = crate::pages::account::local_avatar(&user).map(str::to_string);
    let avatar_note = match (&avatar, &user.avatar) {
        (Some(_), _) => None,
        (None, Some(url)) => Some(fill(t.avatar_elsewhere, &[("url", url)])),
        (None, None) => Some(t.avatar_none.to_string()),
    };
    let mut chrome = chrome;
    chrome.title = format!("{} {}", t.user_title_prefix, display_name(&user));
    let page = UserPage {
        t,
        name: user.name.clone().unwrap_or_default(),
        username: user.username.clone().unwrap_or_default(),
        email: user.email.clone().unwrap_or_default(),
        email_verified: user.email_verified,
        bio: user.bio.clone().unwrap_or_default(),
        timezone: user.timezone.clone().unwrap_or_default(),
        facts: vec![
            ("Id", user.id.to_string()),
            (t.col_role, role_name(admin, user.role).to_string()),
            (t.col_status, status_words(admin, &user, now)),
            (t.provider_label, user.provider.clone()),
            (t.col_created, when(user.created_at)),
            (t.col_last_active, when_or(user.last_active_at, t.never)),
        ],
        roles: choices(
            &[
                ("admin", t.role_admin),
                ("user", t.role_user),
                ("pending", t.role_pending),
            ],
            user.role.as_str(),
        ),
        active: user.active,
        ban: user.banned_until.filter(|until| *until > now).map(|until| {
            fill(
                t.banned_until,
                &[
                    ("until", &when(until)),
                    ("reason", user.ban_reason.as_deref().unwrap_or(t.none)),
                ],
            )
        }),
        two_factor: two_factor.enabled,
        sessions: sessions
            .iter()
            .map(|s| SessionRow {
                device: s.user_agent.clone().unwrap_or_else(|| t.none.to_string()),
                ip: s.ip.clone().unwrap_or_else(|| t.none.to_string()),
                created: when(s.created_at),
                last_seen: when(s.last_used_at),
                action: format!("{base}/sessions/{}/revoke", s.id),
            })
            .collect(),
        keys: keys
            .iter()
            .map(|k| KeyRow {
                name: k.name.clone(),
                prefix: k.prefix.clone(),
                scopes: k.scopes.join(" "),
                created: when(k.created_at),
                expires: when_or(k.expires_at, t.never),
                last_used: when_or(k.last_used_at, t.never),
                action: format!("{base}/api-keys/{}/revoke", k.id),
            })
            .collect(),
        other_groups: all_groups
            .iter()
            .filter(|g| !groups.iter().any(|mine| mine.id == g.id))
            .map(|g| Choice {
                value: g.id.to_string(),
                text: g.name.clone(),
                selected: false,
            })
            .collect(),
        groups: groups
            .iter()
            .map(|g| GroupRow {
                name: g.name.clone(),
                href: format!("/admin/groups/{}", g.id),
                action: format!("{base}/groups/{}/remove", g.id),
            })
            .collect(),
        credits: fill(t.credits_balance, &[("credits", &credits.to_string())]),
        avatar,
        avatar_note,
        ledger: transactions
            .iter()
            .map(|x| LedgerRow {
                time: when(x.created_at),
                kind: x.kind.as_str().to_string(),
                amount: format!("{:+}", x.amount),
            })
            .collect(),
        ledger_next,
        ledger_first: (!ledger.is_empty()).then(|| format!("{base}#ledger-heading")),
        audit: audit
            .entries
            .iter()
            .map(|e| AuditRow {
                time: when(e.at),
                action: e.action.clone(),
                actor: e.actor_id.map_or_else(|| t.none.to_string(), |a| a.to_string()),
                details: e.details.to_string(),
            })
            .collect(),
        audit_href: format!("/admin/audit?target={id}"),
        base,
        chrome,
    };
    render(state, admin, status, &page)
}

/// `GET /admin/users/{id}`.
pub async fn page(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
    PageQuery(query): PageQuery<UserQuery>,
) -> Response {
    let id: UserId = match path_id(&state, &admin, &id, "user") {
        Ok(id) => id,
        Err(response) => return response,
    };
    let chrome = AdminChrome::new(&state, &admin, admin.t.users_title, "/admin/users")
        .notice(query.done.as_deref().and_then(|d| notice(&admin, d)));
    user_view_at(&state, &admin, id, chrome, StatusCode::OK, &query.ledger).await
}

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
                    "name", "username", "email", "bio", "timezone", "duration", "reason", "amount",
                ],
            );
            user_view(state, admin, id, chrome, status).await
        }
    }
}

macro_rules! prepared {
    ($state:expr, $admin:expr, $id:expr, $headers:expr, $body:expr, $form:ty) => {
        match id_and_form::<UserId, $form>(&$state, &$admin, (&$id, "user"), &$headers, &$body) {
            Ok(prepared) => prepared,
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
    admin: Admin,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (id, form) = prepared!(state, admin, id, headers, body, ProfileForm);
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
    admin: Admin,
    meta: Meta,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (id, form) = prepared!(state, admin, id, headers, body, RoleForm);
    let role = match Role::parse(&form.role) {
        Ok(role) => role,
        Err(_) => return outcome::<()>(&state, &admin, id, Err(Error::invalid("role", "is not a role")), "").await,
    };
    let user = match state.core.get_user(&admin.actor, id).await {
        Ok(user) => user,
        Err(error) => return error_page(&state, &admin, &error),
    };
    if user.role == Role::Admin && role != Role::Admin {
        let ask = Ask {
            action: format!("/admin/users/{id}/role"),
            question: fill(admin.t.confirm_demote, &[("user", &display_name(&user))]),
            hidden: vec![("role", role.as_str().to_string())],
            typed: None,
            cancel: format!("/admin/users/{id}"),
        };
        if let Err(response) = confirm(&state, &admin, &meta, ask, &form.confirmation).await {
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
    admin: Admin,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (id, form) = prepared!(state, admin, id, headers, body, ActiveForm);
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
    admin: Admin,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (id, form) = prepared!(state, admin, id, headers, body, BanForm);
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
    admin: Admin,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (id, _) = prepared!(state, admin, id, headers, body, Empty);
    let result = state.core.unban_user(&admin.actor, id).await;
    outcome(&state, &admin, id, result, "unbanned").await
}

/// `POST /admin/users/{id}/reset-link`: a single-use password-reset link, shown once.
pub async fn reset_link(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (id, _) = prepared!(state, admin, id, headers, body, Empty);
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
    let id: UserId = match path_id(&state, &admin, &id, "user") {
        Ok(id) => id,
        Err(response) => return response,
    };
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

/// A dangerous action on user `id` (at `path` under the user's): the question of `text`
/// (`{user}`), typed confirmation when `typed`.
async fn ask_about(
    state: &AppState,
    admin: &Admin,
    meta: &Meta,
    id: UserId,
    (path, text, typed): (&str, &str, bool),
    given: &Confirmation,
) -> Result<(), Response> {
    let user = state
        .core
        .get_user(&admin.actor, id)
        .await
        .map_err(|e| error_page(state, admin, &e))?;
    let ask = Ask {
        action: format!("/admin/users/{id}/{path}"),
        question: fill(text, &[("user", &display_name(&user))]),
        hidden: Vec::new(),
        typed: typed.then(|| login_of(&user)),
        cancel: format!("/admin/users/{id}"),
    };
    confirm(state, admin, meta, ask, given).await
}

/// `POST /admin/users/{id}/reset-two-factor` (confirmed).
pub async fn reset_two_factor(
    State(state): State<AppState>,
    admin: Admin,
    meta: Meta,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (id, form) = prepared!(state, admin, id, headers, body, Confirmation);
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
    admin: Admin,
    meta: Meta,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (id, form) = prepared!(state, admin, id, headers, body, Confirmation);
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
    admin: Admin,
    Path((id, session)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (id, _) = prepared!(state, admin, id, headers, body, Empty);
    let result = match session.parse() {
        Ok(session) => state.core.revoke_user_session(&admin.actor, id, session).await,
        Err(_) => Err(Error::NotFound("session")),
    };
    outcome(&state, &admin, id, result, "session").await
}

/// `POST /admin/users/{id}/api-keys/{key}/revoke`.
pub async fn revoke_api_key(
    State(state): State<AppState>,
    admin: Admin,
    Path((id, key)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (id, _) = prepared!(state, admin, id, headers, body, Empty);
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
    admin: Admin,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (id, form) = prepared!(state, admin, id, headers, body, GroupForm);
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
    admin: Admin,
    Path((id, group)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (id, _) = prepared!(state, admin, id, headers, body, Empty);
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
    admin: Admin,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (id, form) = prepared!(state, admin, id, headers, body, CreditsForm);
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
    admin: Admin,
    meta: Meta,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (id, form) = prepared!(state, admin, id, headers, body, Confirmation);
    let text = admin.t.confirm_delete;
    if let Err(response) = ask_about(&state, &admin, &meta, id, ("delete", text, true), &form).await {
        return response;
    }
    match state.core.delete_user(&admin.actor, id).await {
        Ok(()) => done("/admin/users", "deleted"),
        Err(error) => outcome::<()>(&state, &admin, id, Err(error), "").await,
    }
}
