//! `GET /admin/users`: the list, its filters and keyset pages.

use super::*;

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

#[derive(Template)]
#[template(path = "pages/admin/users.html")]
pub struct UsersPage {
    pub chrome: AdminChrome,
    pub t: &'static crate::pages::admin::strings::AdminStrings,
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
