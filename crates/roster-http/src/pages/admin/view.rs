//! What every console page has (the header, the navigation, the messages), the
//! confirmation of dangerous actions, and the formatting the pages share.

use super::strings::AdminStrings;
use super::{ADMIN_STYLESHEET_PATH, Admin, CONFIRMED_FIELD};
use crate::extract::Meta;
use crate::pages::csrf::CSRF_FIELD;
use crate::pages::render::{Notice, SCRIPT_PATH, STYLESHEET_PATH, respond, respond_scripted};
use crate::pages::strings::fill;
use crate::state::AppState;
use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use roster_core::{Error, User};
use serde::Deserialize;
use time::OffsetDateTime;

/// A link of the navigation.
#[derive(Debug, Clone)]
pub struct NavItem {
    pub href: &'static str,
    pub text: &'static str,
    pub current: bool,
}

/// The frame of every console page.
#[derive(Debug, Clone)]
pub struct AdminChrome {
    pub lang: &'static str,
    pub title: String,
    pub product: String,
    pub console: &'static str,
    pub skip: &'static str,
    pub nav_label: &'static str,
    pub nav: Vec<NavItem>,
    pub signed_in_as: String,
    pub sign_out: &'static str,
    pub stylesheets: [&'static str; 2],
    /// Roster's one script, deferred (progressive enhancement only).
    pub script: &'static str,
    /// The words of the copy buttons the script adds next to what is shown once.
    pub copy: &'static str,
    pub copied: &'static str,
    pub errors_heading: &'static str,
    pub errors: Vec<Notice>,
    /// What the last action did (`role="status"`).
    pub notice: Option<String>,
    /// The CSRF token every form repeats.
    pub csrf: String,
    pub csrf_field: &'static str,
}

impl AdminChrome {
    /// A page titled `title`; `section` is the navigation's current entry (its path).
    pub fn new(state: &AppState, admin: &Admin, title: impl Into<String>, section: &str) -> Self {
        let t = admin.t;
        let nav = [
            ("/admin", t.nav_dashboard),
            ("/admin/users", t.nav_users),
            ("/admin/groups", t.nav_groups),
            ("/admin/permissions", t.nav_permissions),
            ("/admin/invitations", t.nav_invitations),
            ("/admin/clients", t.nav_clients),
            ("/admin/webhooks", t.nav_webhooks),
            ("/admin/audit", t.nav_audit),
        ]
        .into_iter()
        .map(|(href, text)| NavItem {
            href,
            text,
            current: href == section,
        })
        .collect();
        AdminChrome {
            lang: t.lang,
            title: title.into(),
            product: state.config.pages.product_name.trim().to_string(),
            console: t.console,
            skip: t.skip_to_content,
            nav_label: t.nav_label,
            nav,
            signed_in_as: fill(t.signed_in_as, &[("name", &display_name(&admin.session.user))]),
            sign_out: t.sign_out,
            stylesheets: [STYLESHEET_PATH, ADMIN_STYLESHEET_PATH],
            script: SCRIPT_PATH,
            copy: t.copy,
            copied: t.copied,
            errors_heading: t.errors_heading,
            errors: Vec::new(),
            notice: None,
            csrf: admin.csrf.token.clone(),
            csrf_field: CSRF_FIELD,
        }
    }

    pub fn error(mut self, message: impl Into<String>, field: Option<&'static str>) -> Self {
        self.errors.push(Notice {
            message: message.into(),
            field,
        });
        self
    }

    /// Adds a core error, tied to its field when the field is `known` on the page.
    pub fn core_error(self, error: &Error, known: &[&'static str]) -> Self {
        let field = error.field().and_then(|f| known.iter().copied().find(|k| *k == f));
        self.error(error.to_string(), field)
    }

    pub fn notice(mut self, notice: Option<String>) -> Self {
        self.notice = notice;
        self
    }
}

/// Renders a console page (which loads Roster's script), setting the CSRF cookie when its
/// token is new.
pub fn render(state: &AppState, admin: &Admin, status: StatusCode, page: &impl Template) -> Response {
    let mut response = respond_scripted(state, status, page);
    admin.csrf.set_on(state, &mut response);
    response
}

/// A page that only says something (no navigation: the caller may not be an administrator).
#[derive(Template)]
#[template(path = "pages/admin/refusal.html")]
pub struct RefusalPage {
    pub lang: &'static str,
    pub title: String,
    pub product: String,
    pub stylesheets: [&'static str; 2],
    pub body: String,
    pub back: &'static str,
}

/// A refusal or error page with `status`.
pub fn refusal(state: &AppState, t: &AdminStrings, status: StatusCode, title: &str, body: &str) -> Response {
    let page = RefusalPage {
        lang: t.lang,
        title: title.to_string(),
        product: state.config.pages.product_name.trim().to_string(),
        stylesheets: [STYLESHEET_PATH, ADMIN_STYLESHEET_PATH],
        body: body.to_string(),
        back: t.back,
    };
    respond(state, status, &page)
}

/// The confirmation fields of a dangerous action's form.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Confirmation {
    /// `yes` once the administrator confirmed on the confirmation page.
    pub confirmed: Option<String>,
    /// What the administrator typed, when typing is asked for.
    pub typed: Option<String>,
    /// The administrator's password, when the sign-in is old.
    pub password: Option<String>,
}

/// A dangerous action's question.
pub struct Ask {
    /// Where the confirmed form posts (the action itself).
    pub action: String,
    pub question: String,
    /// The action's own fields, sent again.
    pub hidden: Vec<(&'static str, String)>,
    /// What must be typed to confirm (a user's login), if anything.
    pub typed: Option<String>,
    /// Where "cancel" goes.
    pub cancel: String,
}

/// The confirmation page of a dangerous action.
#[derive(Template)]
#[template(path = "pages/admin/confirm.html")]
pub struct ConfirmPage {
    pub chrome: AdminChrome,
    pub question: String,
    pub action: String,
    pub hidden: Vec<(&'static str, String)>,
    pub confirmed_field: &'static str,
    pub typed_label: Option<String>,
    /// What must be typed (for the script, which keeps the button disabled until it is).
    pub typed_expected: Option<String>,
    pub typed_error: Option<String>,
    pub password_label: Option<&'static str>,
    pub password_hint: &'static str,
    pub password_error: Option<String>,
    pub confirm: &'static str,
    pub cancel: &'static str,
    pub cancel_href: String,
}

/// Passes when the administrator confirmed (typed what was asked, and gave the password again
/// when the sign-in is old, checked by the core with the login throttle); otherwise the
/// confirmation page, with what was wrong.
pub async fn confirm(
    state: &AppState,
    admin: &Admin,
    meta: &Meta,
    ask: Ask,
    given: &Confirmation,
) -> Result<(), Response> {
    let t = admin.t;
    let reauth = admin.needs_reauth(state);
    let page = |status: StatusCode, typed_error: Option<String>, password_error: Option<String>| {
        let mut chrome = AdminChrome::new(state, admin, t.confirm_title, "");
        if let Some(e) = &typed_error {
            chrome = chrome.error(e.clone(), Some("typed"));
        }
        if let Some(e) = &password_error {
            chrome = chrome.error(e.clone(), Some("password"));
        }
        let page = ConfirmPage {
            chrome,
            question: ask.question.clone(),
            action: ask.action.clone(),
            hidden: ask.hidden.clone(),
            confirmed_field: CONFIRMED_FIELD,
            typed_label: ask
                .typed
                .as_deref()
                .map(|login| fill(t.type_to_confirm, &[("login", login)])),
            typed_expected: ask.typed.clone(),
            typed_error,
            password_label: reauth.then_some(t.your_password_label),
            password_hint: t.reauth_hint,
            password_error,
            confirm: t.confirm_button,
            cancel: t.cancel,
            cancel_href: ask.cancel.clone(),
        };
        render(state, admin, status, &page)
    };
    if given.confirmed.as_deref() != Some("yes") {
        return Err(page(StatusCode::OK, None, None));
    }
    if let Some(expected) = &ask.typed
        && given.typed.as_deref().map(str::trim) != Some(expected.as_str())
    {
        return Err(page(
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(t.error_typed_mismatch.into()),
            None,
        ));
    }
    if reauth {
        let password = given.password.as_deref().unwrap_or("");
        if password.is_empty() {
            return Err(page(
                StatusCode::UNPROCESSABLE_ENTITY,
                None,
                Some(t.your_password_label.to_string()),
            ));
        }
        match state.core.confirm_own_password(&admin.actor, password, &meta.0).await {
            Ok(()) => {}
            Err(Error::InvalidCredentials) => {
                return Err(page(
                    StatusCode::UNAUTHORIZED,
                    None,
                    Some(t.error_password_wrong.into()),
                ));
            }
            Err(Error::RateLimited { retry_after }) => {
                let mut response = page(StatusCode::TOO_MANY_REQUESTS, None, Some(t.error_throttled.into()));
                if let Ok(value) = HeaderValue::from_str(&retry_after.as_secs().max(1).to_string()) {
                    response.headers_mut().insert(header::RETRY_AFTER, value);
                }
                return Err(response);
            }
            Err(error) => return Err(super::error_page(state, admin, &error)),
        }
    }
    Ok(())
}

/// A user as people name them: name, else username, else email, else id.
pub fn display_name(user: &User) -> String {
    user.name
        .clone()
        .filter(|n| !n.trim().is_empty())
        .or_else(|| user.username.clone())
        .or_else(|| user.email.clone())
        .unwrap_or_else(|| user.id.to_string())
}

/// What a user types to confirm a deletion: the email, else the username, else the id.
pub fn login_of(user: &User) -> String {
    user.email
        .clone()
        .or_else(|| user.username.clone())
        .unwrap_or_else(|| user.id.to_string())
}

/// A time as the pages show it: `2026-01-31 14:05 UTC`.
pub fn when(at: OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02} UTC",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute()
    )
}

/// An optional time, or `never`.
pub fn when_or(at: Option<OffsetDateTime>, never: &str) -> String {
    at.map_or_else(|| never.to_string(), when)
}

/// `GET /admin/style.css`: the console's layout (wide pages, tables, sections), over the
/// pages' stylesheet and its colours.
pub async fn stylesheet() -> Response {
    let mut response = ADMIN_CSS.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/css; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
    response
}

const ADMIN_CSS: &str = r#"body.admin{padding:0}
.skip{position:absolute;left:-999px;top:0;padding:.5rem 1rem;background:var(--bg)}
.skip:focus{left:0;z-index:2}
.admin-header{display:flex;flex-wrap:wrap;gap:.5rem 1.5rem;align-items:center;padding:.75rem 1rem;border-bottom:2px solid currentColor}
.admin-header .product{font-weight:700}
.admin-header nav ul{display:flex;flex-wrap:wrap;gap:.25rem 1rem;list-style:none;margin:0;padding:0}
.admin-header nav a{display:inline-block;padding:.5rem 0;min-height:2.75rem}
.admin-header nav a[aria-current=page]{font-weight:700;text-decoration-thickness:3px}
.admin-header .who{margin-left:auto}
body.admin main{max-width:72rem;margin:0 auto;padding:1.5rem 1rem 3rem}
section{margin:0 0 2rem}
.notice{border-left:6px solid var(--accent);padding:.5rem 1rem;margin:0 0 1.5rem;font-weight:600}
.table-wrap{overflow-x:auto;margin:0 0 1rem}
table{border-collapse:collapse;width:100%}
caption{text-align:left;font-weight:600;padding:0 0 .5rem}
th,td{text-align:left;padding:.5rem;border-bottom:1px solid currentColor;vertical-align:top}
td form{margin:0}
td button{min-height:2.75rem;padding:.25rem .75rem}
.filters{display:flex;flex-wrap:wrap;gap:0 1rem;align-items:flex-end}
.filters .field{min-width:10rem;flex:1 1 10rem}
.inline{display:flex;flex-wrap:wrap;gap:.75rem;align-items:flex-end;margin:0 0 1rem}
.inline .field{margin:0;flex:1 1 12rem}
select,textarea,input[type=number],input[type=search],input[type=url]{display:block;width:100%;min-height:2.75rem;padding:.5rem .75rem;font:inherit;color:var(--text);background:var(--bg);border:2px solid currentColor;border-radius:4px}
textarea{min-height:10rem;font-family:ui-monospace,monospace}
select:focus-visible,textarea:focus-visible,summary:focus-visible,.table-wrap:focus-visible{outline:3px solid var(--accent);outline-offset:2px}
button.danger{background:#b3261e;border-color:#b3261e;color:#fff}
.facts{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem;margin:0 0 1.5rem}
.facts dt{font-weight:600}
.facts dd{margin:0;overflow-wrap:anywhere}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(9rem,1fr));gap:1rem;list-style:none;padding:0;margin:0 0 1.5rem}
.cards li{border:2px solid currentColor;border-radius:4px;padding:.75rem}
.cards .n{display:block;font-size:1.5rem;font-weight:700}
.chart{max-width:100%;height:auto;display:block;margin:0 0 1rem}
.chart rect{fill:var(--accent)}
.chart line{stroke:currentColor}
.chart text{fill:currentColor;font-size:10px}
fieldset{border:2px solid currentColor;border-radius:4px;margin:0 0 1rem;padding:.75rem}
legend{font-weight:600;padding:0 .25rem}
.perm-grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(14rem,1fr));gap:.25rem 1rem}
.pager{display:flex;gap:1.5rem;margin:1rem 0}
.avatar{display:block;border-radius:50%;object-fit:cover;margin:0 0 1rem}
.chart.logins rect{fill:currentColor;opacity:.75}
.lag{font-variant-numeric:tabular-nums}
code{word-break:break-all}
h1{overflow-wrap:anywhere}
@media (max-width:40rem){.admin-header .who{margin-left:0}th,td{padding:.375rem}}
"#;

/// A console page that says something (a link shown once, ...).
#[derive(Template)]
#[template(path = "pages/admin/message.html")]
pub struct MessagePage {
    pub chrome: AdminChrome,
    pub paragraphs: Vec<String>,
    /// Something to copy, shown as code.
    pub code: Option<String>,
    pub back: &'static str,
    pub back_href: String,
}
