//! `GET /admin/users/{id}`: a user's page (facts, forms, sessions, keys, groups, credits and
//! the ledger, the avatar, the audit entries).

use super::*;

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

/// A user's page's query: what was done, and the ledger's page (`ledger`: the cursor of
/// [`crate::pages::ledger`]).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct UserQuery {
    pub done: Option<String>,
    pub ledger: String,
}

#[derive(Template)]
#[template(path = "pages/admin/user.html")]
pub struct UserPage {
    pub chrome: AdminChrome,
    pub t: &'static crate::pages::admin::strings::AdminStrings,
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
    /// Whether the user has an avatar (Roster's or another site's) to remove.
    pub has_avatar: bool,
    pub ledger: Vec<LedgerRow>,
    /// The next (older) page of the ledger, and the first when on another.
    pub ledger_next: Option<String>,
    pub ledger_first: Option<String>,
    pub audit: Vec<AuditRow>,
    pub audit_href: String,
}

/// The user's page, with `chrome` (its messages) already made.
pub(super) async fn user_view(
    state: &AppState,
    admin: &Admin,
    id: UserId,
    chrome: AdminChrome,
    status: StatusCode,
) -> Response {
    user_view_at(state, admin, id, chrome, status, "").await
}

/// The user's page with the ledger at page `ledger` (see [`UserQuery`]).
pub(super) async fn user_view_at(
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
        let before = crate::pages::ledger::parse_cursor(ledger)?;
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
    let (user, two_factor, sessions, keys, groups, all_groups, (credits, transactions), audit) = match loaded {
        Ok(loaded) => loaded,
        Err(error) => return error_page(state, admin, &error),
    };
    let base = format!("/admin/users/{id}");
    let ledger_page = crate::pages::ledger::LedgerPage::new(transactions, LEDGER_PAGE, &base, "ledger-heading", ledger);
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
        has_avatar: user.avatar.is_some(),
        avatar,
        avatar_note,
        ledger: ledger_page
            .transactions
            .iter()
            .map(|x| LedgerRow {
                time: when(x.created_at),
                kind: x.kind.as_str().to_string(),
                amount: format!("{:+}", x.amount),
            })
            .collect(),
        ledger_next: ledger_page.older,
        ledger_first: ledger_page.newest,
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
