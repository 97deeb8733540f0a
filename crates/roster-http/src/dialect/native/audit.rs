//! `GET /v1/audit`: the audit trail, for administrators.

use crate::error::{ApiError, Problem};
use crate::extract::{Auth, Query};
use crate::state::AppState;
use axum::extract::State;
use roster_core::journal::AuditEntry;
use roster_core::service::ListAudit;
use roster_core::time::OffsetDateTime;
use roster_core::user::rfc3339;
use roster_core::{Error, UserId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `GET /v1/audit` query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQueryParams {
    /// Only entries of this actor (user id).
    pub actor: Option<String>,
    /// Only entries about this user (user id).
    pub target: Option<String>,
    /// Only this action, such as `user.update` or `login.failure`.
    pub action: Option<String>,
    /// Only entries at or after this time (RFC 3339).
    pub since: Option<String>,
    /// Only entries before this time (RFC 3339).
    pub until: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// 1 to 200, default 50.
    pub limit: Option<u32>,
}

/// One entry of the audit trail.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AuditEntryBody {
    /// Decimal snowflake id; entries order by it.
    pub id: String,
    /// RFC 3339.
    pub at: String,
    /// Who acted (user id); null for the admin command line or an anonymous client.
    pub actor_id: Option<String>,
    /// What happened, such as `user.update` or `login.failure`.
    pub action: String,
    /// Whom it concerned (user id).
    pub target_id: Option<String>,
    /// The client's address, when the change came over HTTP.
    pub ip: Option<String>,
    /// What changed (a JSON object; never a secret).
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
}

/// A page of the audit trail, newest first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AuditListBody {
    pub entries: Vec<AuditEntryBody>,
    /// Pass as `cursor` for the next (older) page; null on the last page.
    pub next_cursor: Option<String>,
}

pub(crate) fn user_id(field: &'static str, raw: Option<&str>) -> Result<Option<UserId>, Error> {
    raw.map(|s| {
        s.trim()
            .parse::<UserId>()
            .map_err(|_| Error::invalid(field, "must be a user id"))
    })
    .transpose()
}

pub(crate) fn time(field: &'static str, raw: Option<&str>) -> Result<Option<OffsetDateTime>, Error> {
    raw.map(|s| {
        OffsetDateTime::parse(s.trim(), &time::format_description::well_known::Rfc3339)
            .map_err(|_| Error::invalid(field, "must be an RFC 3339 time such as 2026-01-31T12:00:00Z"))
    })
    .transpose()
}

pub(crate) fn entry_body(entry: AuditEntry) -> AuditEntryBody {
    AuditEntryBody {
        id: entry.id.to_string(),
        at: rfc3339(entry.at),
        actor_id: entry.actor_id.map(|u| u.to_string()),
        action: entry.action,
        target_id: entry.target_id.map(|u| u.to_string()),
        ip: entry.ip,
        details: entry.details,
    }
}

/// Reads the audit trail (administrators): who did what to whom, when, from where. Filters
/// by actor, target, action and time; pages with a cursor, newest first.
#[utoipa::path(get, path = "/v1/audit", tag = "audit", security(("bearer" = [])), params(AuditQueryParams),
    responses((status = 200, body = AuditListBody), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 422, body = Problem)))]
pub(super) async fn audit_get(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Query(query): Query<AuditQueryParams>,
) -> Result<axum::Json<AuditListBody>, ApiError> {
    let request = ListAudit {
        actor: user_id("actor", query.actor.as_deref())?,
        target: user_id("target", query.target.as_deref())?,
        action: query.action,
        since: time("since", query.since.as_deref())?,
        until: time("until", query.until.as_deref())?,
        cursor: query.cursor,
        limit: query.limit,
    };
    let page = state.core.list_audit(&actor, request).await?;
    Ok(axum::Json(AuditListBody {
        entries: page.entries.into_iter().map(entry_body).collect(),
        next_cursor: page.next_cursor,
    }))
}
