//! `/admin/audit`: the audit trail with the API's filters (actor, target, action, time
//! range), newest first in pages, and downloads as CSV or JSON (`format=csv|json`, every
//! matching entry up to [`MAX_DOWNLOAD`]) in the API's entry shape.

use super::view::{AdminChrome, render, when};
use super::{Admin, download, error_page};
use crate::dialect::native::audit::{entry_body, time, user_id};
use crate::pages::PageQuery;
use crate::state::AppState;
use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use roster_core::Error;
use roster_core::journal::AuditEntry;
use roster_core::service::{ListAudit, MAX_AUDIT_PAGE};
use serde::Deserialize;

/// How many entries a page shows.
const PAGE_SIZE: u32 = 50;
/// The most entries one download holds.
pub const MAX_DOWNLOAD: usize = 10_000;

#[derive(Debug, Default, Deserialize, Clone)]
#[serde(default)]
pub struct AuditQuery {
    actor: String,
    target: String,
    action: String,
    since: String,
    until: String,
    cursor: Option<String>,
    format: String,
}

fn given(value: &str) -> Option<&str> {
    Some(value.trim()).filter(|v| !v.is_empty())
}

impl AuditQuery {
    fn request(&self, limit: u32) -> Result<ListAudit, Error> {
        Ok(ListAudit {
            actor: user_id("actor", given(&self.actor))?,
            target: user_id("target", given(&self.target))?,
            action: given(&self.action).map(str::to_string),
            since: time("since", given(&self.since))?,
            until: time("until", given(&self.until))?,
            cursor: self.cursor.clone().filter(|c| !c.is_empty()),
            limit: Some(limit),
        })
    }

    fn filters_query(&self) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (name, value) in [
            ("actor", &self.actor),
            ("target", &self.target),
            ("action", &self.action),
            ("since", &self.since),
            ("until", &self.until),
        ] {
            if !value.trim().is_empty() {
                query.append_pair(name, value.trim());
            }
        }
        query.finish()
    }
}

#[derive(Debug, Clone)]
pub struct EntryRow {
    pub time: String,
    pub actor: String,
    pub actor_href: Option<String>,
    pub action: String,
    pub target: String,
    pub target_href: Option<String>,
    pub ip: String,
    pub details: String,
}

#[derive(Template)]
#[template(path = "pages/admin/audit.html")]
pub struct AuditPage {
    pub chrome: AdminChrome,
    pub t: &'static super::strings::AdminStrings,
    pub actor: String,
    pub target: String,
    pub action: String,
    pub since: String,
    pub until: String,
    pub rows: Vec<EntryRow>,
    pub next: Option<String>,
    pub first: Option<String>,
    pub csv: String,
    pub json: String,
}

fn with_query(path: &str, query: &str, extra: &str) -> String {
    match (query.is_empty(), extra.is_empty()) {
        (true, true) => path.to_string(),
        (true, false) => format!("{path}?{extra}"),
        (false, true) => format!("{path}?{query}"),
        (false, false) => format!("{path}?{query}&{extra}"),
    }
}

/// Every matching entry (up to [`MAX_DOWNLOAD`]), newest first.
async fn all_entries(state: &AppState, admin: &Admin, query: &AuditQuery) -> Result<Vec<AuditEntry>, Error> {
    let mut request = query.request(MAX_AUDIT_PAGE)?;
    request.cursor = None;
    let mut entries = Vec::new();
    loop {
        let page = state.core.list_audit(&admin.actor, request.clone()).await?;
        entries.extend(page.entries);
        match page.next_cursor {
            Some(next) if entries.len() < MAX_DOWNLOAD => request.cursor = Some(next),
            _ => break,
        }
    }
    entries.truncate(MAX_DOWNLOAD);
    Ok(entries)
}

fn csv_of(entries: Vec<AuditEntry>) -> Result<String, Error> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let internal = |e: &dyn std::fmt::Display| Error::Internal(anyhow::anyhow!("writing CSV: {e}"));
    writer
        .write_record(["id", "at", "actor_id", "action", "target_id", "ip", "details"])
        .map_err(|e| internal(&e))?;
    for entry in entries {
        let body = entry_body(entry);
        writer
            .write_record([
                body.id,
                body.at,
                body.actor_id.unwrap_or_default(),
                body.action,
                body.target_id.unwrap_or_default(),
                body.ip.unwrap_or_default(),
                body.details.to_string(),
            ])
            .map_err(|e| internal(&e))?;
    }
    let bytes = writer.into_inner().map_err(|e| internal(&e))?;
    String::from_utf8(bytes).map_err(|e| internal(&e))
}

/// `GET /admin/audit` (`format=csv` or `format=json` downloads).
pub async fn page(State(state): State<AppState>, admin: Admin, PageQuery(query): PageQuery<AuditQuery>) -> Response {
    let t = admin.t;
    let mut chrome = AdminChrome::new(&state, &admin, t.audit_title, "/admin/audit");
    let mut status = StatusCode::OK;
    let known = ["actor", "target", "action", "since", "until"];
    if matches!(query.format.as_str(), "csv" | "json") {
        let downloaded = match all_entries(&state, &admin, &query).await {
            Ok(entries) if query.format == "csv" => {
                csv_of(entries).map(|body| download("text/csv; charset=utf-8", "audit.csv", body))
            }
            Ok(entries) => {
                let bodies: Vec<_> = entries.into_iter().map(entry_body).collect();
                serde_json::to_string_pretty(&bodies)
                    .map(|body| download("application/json", "audit.json", body))
                    .map_err(|e| Error::Internal(anyhow::anyhow!("writing JSON: {e}")))
            }
            Err(error) => Err(error),
        };
        match downloaded {
            Ok(response) => return response,
            Err(error @ (Error::Invalid { .. } | Error::InvalidId)) => {
                status = StatusCode::UNPROCESSABLE_ENTITY;
                chrome = chrome.core_error(&error, &known);
            }
            Err(error) => return error_page(&state, &admin, &error),
        }
    }
    let page = if status == StatusCode::OK {
        match query.request(PAGE_SIZE) {
            Ok(request) => match state.core.list_audit(&admin.actor, request).await {
                Ok(page) => Some(page),
                Err(error @ Error::Invalid { .. }) => {
                    status = StatusCode::UNPROCESSABLE_ENTITY;
                    chrome = chrome.core_error(&error, &known);
                    None
                }
                Err(error) => return error_page(&state, &admin, &error),
            },
            Err(error) => {
                status = StatusCode::UNPROCESSABLE_ENTITY;
                chrome = chrome.core_error(&error, &known);
                None
            }
        }
    } else {
        None
    };
    let filters = query.filters_query();
    let (rows, next) = match page {
        Some(page) => (
            page.entries
                .iter()
                .map(|e| EntryRow {
                    time: when(e.at),
                    actor: e.actor_id.map_or_else(|| t.none.to_string(), |a| a.to_string()),
                    actor_href: e.actor_id.map(|a| format!("/admin/users/{a}")),
                    action: e.action.clone(),
                    target: e.target_id.map_or_else(|| t.none.to_string(), |a| a.to_string()),
                    target_href: e.target_id.map(|a| format!("/admin/users/{a}")),
                    ip: e.ip.clone().unwrap_or_default(),
                    details: e.details.to_string(),
                })
                .collect(),
            page.next_cursor.map(|cursor| {
                let cursor: String = form_urlencoded::byte_serialize(cursor.as_bytes()).collect();
                with_query("/admin/audit", &filters, &format!("cursor={cursor}"))
            }),
        ),
        None => (Vec::new(), None),
    };
    let view = AuditPage {
        chrome,
        t,
        actor: query.actor.clone(),
        target: query.target.clone(),
        action: query.action.clone(),
        since: query.since.clone(),
        until: query.until.clone(),
        rows,
        next,
        first: query.cursor.as_ref().map(|_| with_query("/admin/audit", &filters, "")),
        csv: with_query("/admin/audit", &filters, "format=csv"),
        json: with_query("/admin/audit", &filters, "format=json"),
    };
    render(&state, &admin, status, &view)
}
