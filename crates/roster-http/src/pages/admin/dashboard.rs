//! `/admin`: totals by role and status, sign-ups and sign-ins per day for 30 days as
//! server-rendered SVG charts (and the same numbers as tables), refused and throttled sign-ins
//! of the last 24 hours, the outbox's and every webhook subscription's lag, and the accounts
//! waiting for approval.

use super::users::{UserRow, user_row};
use super::view::{AdminChrome, render, when};
use super::{Admin, AdminForm, DoneQuery, Empty, done, error_page, path_id};
use crate::pages::PageQuery;
use crate::pages::strings::fill;
use crate::state::AppState;
use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use roster_core::service::{AdminUserChanges, BACKLOG_CAP, ListUsers, STATS_CACHE_TTL};
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
    /// When the totals were counted (they are reused for a while).
    pub counted: String,
    pub charts: Vec<Series>,
    pub failed_logins: i64,
    pub throttled: i64,
    /// The outbox's backlog, in words.
    pub outbox: String,
    pub lags: Vec<LagRow>,
    pub pending: Vec<(UserRow, String)>,
}

/// A chart with its heading, summary and table.
#[derive(Debug, Clone)]
pub struct Series {
    /// The section's id (`signups`, `logins`).
    pub id: &'static str,
    pub heading: &'static str,
    pub chart: Chart,
    pub summary: String,
    pub caption: &'static str,
    pub column: &'static str,
    pub days: Vec<(String, i64)>,
}

impl Series {
    fn of(id: &'static str, (heading, caption, column, summary): Words, days: &[(Date, i64)]) -> Self {
        let total: i64 = days.iter().map(|(_, n)| n).sum();
        Series {
            id,
            heading,
            chart: chart(days),
            summary: fill(
                summary,
                &[("total", &total.to_string()), ("days", &days.len().to_string())],
            ),
            caption,
            column,
            days: days.iter().map(|(d, n)| (d.to_string(), *n)).collect(),
        }
    }
}

/// A series' heading, table caption, column and summary (`{total}`, `{days}`).
type Words = (&'static str, &'static str, &'static str, &'static str);

/// One webhook subscription's lag.
#[derive(Debug, Clone)]
pub struct LagRow {
    pub href: String,
    pub url: String,
    pub unfanned: String,
    pub pending: String,
    pub oldest: String,
}

/// A backlog count: past the cap, "more than".
fn backlog(admin: &Admin, n: i64) -> String {
    if n >= BACKLOG_CAP {
        fill(admin.t.more_than, &[("n", &BACKLOG_CAP.to_string())])
    } else {
        n.to_string()
    }
}

/// How long ago `at` was, in words (`3 min`, `2 h 5 min`, `4 d 1 h`).
pub fn age(now: time::OffsetDateTime, at: time::OffsetDateTime) -> String {
    let minutes = (now - at).whole_minutes().max(0);
    let (days, hours, minutes) = (minutes / 1440, minutes / 60 % 24, minutes % 60);
    match (days, hours) {
        (0, 0) => format!("{minutes} min"),
        (0, _) => format!("{hours} h {minutes} min"),
        _ => format!("{days} d {hours} h"),
    }
}

/// `GET /admin`.
pub async fn page(State(state): State<AppState>, admin: Admin, PageQuery(query): PageQuery<DoneQuery>) -> Response {
    let t = admin.t;
    let now = state.core.clock.now();
    let (stats, counted_at) = match state.core.cached_user_stats(&admin.actor).await {
        Ok(counted) => counted,
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
    let activity = match state.core.activity(&admin.actor).await {
        Ok(activity) => activity,
        Err(error) => return error_page(&state, &admin, &error),
    };
    let notice = match query.done.as_deref() {
        Some("approved") => Some(t.approved.to_string()),
        Some("rejected") => Some(t.rejected.to_string()),
        _ => None,
    };
    let outbox = match &activity.outbox {
        None => t.outbox_no_reader.to_string(),
        Some(lag) => match lag.oldest_at {
            Some(oldest) if lag.backlog > 0 => fill(
                t.outbox_backlog,
                &[("n", &backlog(&admin, lag.backlog)), ("age", &age(now, oldest))],
            ),
            _ => t.outbox_empty.to_string(),
        },
    };
    let page = DashboardPage {
        chrome: AdminChrome::new(&state, &admin, t.dashboard_title, "/admin").notice(notice),
        t,
        totals,
        counted: fill(
            t.totals_counted_at,
            &[
                ("at", &when(counted_at)),
                ("seconds", &STATS_CACHE_TTL.whole_seconds().to_string()),
            ],
        ),
        charts: vec![
            Series::of(
                "signups",
                (t.signups_heading, t.signups_table_caption, t.signups, t.signups_summary),
                &stats.signups_by_day,
            ),
            Series::of(
                "logins",
                (t.logins_heading, t.logins_table_caption, t.logins, t.logins_summary),
                &activity.logins_by_day,
            ),
        ],
        failed_logins: activity.failed_logins_24h,
        throttled: activity.throttled_24h,
        outbox,
        lags: activity
            .subscriptions
            .iter()
            .map(|s| LagRow {
                href: format!("/admin/webhooks/{}?status=pending", s.subscription_id),
                url: s.url.clone(),
                unfanned: backlog(&admin, s.unfanned),
                pending: backlog(&admin, s.pending),
                oldest: s
                    .oldest_pending_at
                    .map_or_else(|| t.none.to_string(), |at| fill(t.ago, &[("age", &age(now, at))])),
            })
            .collect(),
        pending: pending
            .iter()
            .map(|u| (user_row(&admin, u, now), u.id.to_string()))
            .collect(),
    };
    render(&state, &admin, StatusCode::OK, &page)
}

/// Approves (`approve`: the role `user`) or rejects (deactivates) a waiting account.
async fn decide(state: AppState, admin: Admin, id: String, approve: bool) -> Response {
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
    Path(id): Path<String>,
    AdminForm { admin, .. }: AdminForm<Empty>,
) -> Response {
    decide(state, admin, id, true).await
}

/// `POST /admin/pending/{id}/reject`.
pub async fn reject(
    State(state): State<AppState>,
    Path(id): Path<String>,
    AdminForm { admin, .. }: AdminForm<Empty>,
) -> Response {
    decide(state, admin, id, false).await
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

    #[test]
    fn ages_read_in_minutes_hours_and_days() {
        let now = time::macros::datetime!(2026-01-10 12:00 UTC);
        assert_eq!(age(now, now - time::Duration::minutes(3)), "3 min");
        assert_eq!(age(now, now - time::Duration::minutes(125)), "2 h 5 min");
        assert_eq!(age(now, now - time::Duration::hours(97)), "4 d 1 h");
        assert_eq!(age(now, now + time::Duration::minutes(5)), "0 min");
    }
}
