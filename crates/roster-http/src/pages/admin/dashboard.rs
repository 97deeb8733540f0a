//! `/admin`: totals by role and status, sign-ups per day for 30 days as a server-rendered SVG
//! chart (and the same numbers as a table), and the accounts waiting for approval.

use super::users::{UserRow, user_row};
use super::view::{AdminChrome, render};
use super::{Admin, DoneQuery, Empty, done, error_page, path_id};
use crate::pages::PageQuery;
use crate::pages::strings::fill;
use crate::state::AppState;
use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use roster_core::service::{AdminUserChanges, ListUsers};
use roster_core::store::UserSort;
use roster_core::{Role, UserId};
use time::Date;

/// How many waiting accounts the dashboard lists (the users page lists them all).
const PENDING_SHOWN: u32 = 50;

/// One bar of the chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
    /// `2026-01-31: 4`, the bar's tooltip.
    pub label: String,
}

/// A bar chart of counts per day, laid out for an SVG `viewBox` of `WIDTH` × `HEIGHT`.
#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    pub width: u32,
    pub height: u32,
    pub bars: Vec<Bar>,
    /// The largest count (the top of the scale).
    pub max: i64,
    pub first_day: String,
    pub last_day: String,
    /// The baseline's y.
    pub base: u32,
}

const WIDTH: u32 = 600;
const HEIGHT: u32 = 180;
const TOP: u32 = 16;
const BOTTOM: u32 = 24;

/// Lays out `days` (oldest first) as bars scaled to the largest count.
pub fn chart(days: &[(Date, i64)]) -> Chart {
    let max = days.iter().map(|(_, n)| *n).max().unwrap_or(0).max(1);
    let plot = HEIGHT - TOP - BOTTOM;
    let slot = WIDTH / (days.len().max(1) as u32);
    let bars = days
        .iter()
        .enumerate()
        .map(|(i, (day, n))| {
            let height = ((*n).max(0) as u64 * u64::from(plot) / max as u64) as u32;
            Bar {
                x: i as u32 * slot + 1,
                y: TOP + plot - height,
                width: slot.saturating_sub(2).max(1),
                height,
                label: format!("{day}: {n}"),
            }
        })
        .collect();
    Chart {
        width: WIDTH,
        height: HEIGHT,
        bars,
        max,
        first_day: days.first().map(|(d, _)| d.to_string()).unwrap_or_default(),
        last_day: days.last().map(|(d, _)| d.to_string()).unwrap_or_default(),
        base: TOP + plot,
    }
}

#[derive(Template)]
#[template(path = "pages/admin/dashboard.html")]
pub struct DashboardPage {
    pub chrome: AdminChrome,
    pub t: &'static super::strings::AdminStrings,
    pub totals: Vec<(&'static str, i64, String)>,
    pub chart: Chart,
    pub signups_summary: String,
    pub days: Vec<(String, i64)>,
    pub pending: Vec<(UserRow, String)>,
}

/// `GET /admin`.
pub async fn page(State(state): State<AppState>, admin: Admin, PageQuery(query): PageQuery<DoneQuery>) -> Response {
    let t = admin.t;
    let now = state.core.clock.now();
    let stats = match state.core.user_stats(&admin.actor).await {
        Ok(stats) => stats,
        Err(error) => return error_page(&state, &admin, &error),
    };
    let pending = state
        .core
        .list_users(
            &admin.actor,
            ListUsers {
                role: Some(Role::Pending),
                active: Some(true),
                sort: UserSort::CreatedAt,
                limit: Some(PENDING_SHOWN),
                ..ListUsers::default()
            },
        )
        .await;
    let pending = match pending {
        Ok(page) => page.users,
        Err(error) => return error_page(&state, &admin, &error),
    };
    let role_count = |role: &str| stats.by_role.iter().find(|(r, _)| r == role).map_or(0, |(_, n)| *n);
    let totals = vec![
        (t.total_users, stats.total, "/admin/users".to_string()),
        (t.role_admin, role_count("admin"), "/admin/users?role=admin".to_string()),
        (t.role_user, role_count("user"), "/admin/users?role=user".to_string()),
        (
            t.role_pending,
            role_count("pending"),
            "/admin/users?status=pending".to_string(),
        ),
        (t.status_active, stats.active, "/admin/users?status=active".to_string()),
        (
            t.status_deactivated,
            stats.deactivated,
            "/admin/users?status=deactivated".to_string(),
        ),
        (t.status_banned, stats.banned, "/admin/users?status=banned".to_string()),
        (
            t.status_unverified,
            stats.email_unverified,
            "/admin/users?status=unverified".to_string(),
        ),
        (t.active_24h, stats.active_last_24_hours, String::new()),
        (t.active_7d, stats.active_last_7_days, String::new()),
        (t.active_30d, stats.active_last_30_days, String::new()),
    ];
    let signups: i64 = stats.signups_by_day.iter().map(|(_, n)| n).sum();
    let notice = match query.done.as_deref() {
        Some("approved") => Some(t.approved.to_string()),
        Some("rejected") => Some(t.rejected.to_string()),
        _ => None,
    };
    let page = DashboardPage {
        chrome: AdminChrome::new(&state, &admin, t.dashboard_title, "/admin").notice(notice),
        t,
        totals,
        chart: chart(&stats.signups_by_day),
        signups_summary: fill(
            t.signups_summary,
            &[
                ("total", &signups.to_string()),
                ("days", &stats.signups_by_day.len().to_string()),
            ],
        ),
        days: stats.signups_by_day.iter().map(|(d, n)| (d.to_string(), *n)).collect(),
        pending: pending
            .iter()
            .map(|u| (user_row(&admin, u, now), u.id.to_string()))
            .collect(),
    };
    render(&state, &admin, StatusCode::OK, &page)
}

/// Approves (`approve`: the role `user`) or rejects (deactivates) a waiting account.
async fn decide(state: AppState, admin: Admin, id: String, headers: HeaderMap, body: Bytes, approve: bool) -> Response {
    if let Err(response) = admin.form::<Empty>(&state, &headers, &body) {
        return response;
    }
    let id: UserId = match path_id(&state, &admin, &id, "user") {
        Ok(id) => id,
        Err(response) => return response,
    };
    let changes = if approve {
        AdminUserChanges {
            role: Some(Role::User),
            ..AdminUserChanges::default()
        }
    } else {
        AdminUserChanges {
            active: Some(false),
            ..AdminUserChanges::default()
        }
    };
    match state.core.admin_update_user(&admin.actor, id, changes).await {
        Ok(_) => done("/admin", if approve { "approved" } else { "rejected" }),
        Err(error) => error_page(&state, &admin, &error),
    }
}

/// `POST /admin/pending/{id}/approve`.
pub async fn approve(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    decide(state, admin, id, headers, body, true).await
}

/// `POST /admin/pending/{id}/reject`.
pub async fn reject(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    decide(state, admin, id, headers, body, false).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn bars_scale_to_the_largest_day() {
        let days = [
            (date!(2026 - 01 - 01), 0),
            (date!(2026 - 01 - 02), 4),
            (date!(2026 - 01 - 03), 2),
        ];
        let c = chart(&days);
        assert_eq!(c.max, 4);
        assert_eq!(c.bars.len(), 3);
        assert_eq!(c.bars[0].height, 0);
        assert_eq!(c.bars[1].height, HEIGHT - TOP - BOTTOM);
        assert_eq!(c.bars[2].height, (HEIGHT - TOP - BOTTOM) / 2);
        assert_eq!(c.bars[1].y, TOP);
        assert_eq!(c.bars[2].x, 2 * (WIDTH / 3) + 1);
        assert_eq!(c.bars[1].label, "2026-01-02: 4");
        assert_eq!(
            (c.first_day.as_str(), c.last_day.as_str()),
            ("2026-01-01", "2026-01-03")
        );
        assert_eq!(chart(&[]).bars, []);
    }
}
