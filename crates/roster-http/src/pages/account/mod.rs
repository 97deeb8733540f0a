//! The account pages (`/account/...`), for every signed-in user: profile and picture,
//! password, two-step verification (a QR code Roster draws itself), sessions, API keys, the
//! terms, credits, deleting the account. Server-rendered, no script, every form protected
//! against cross-site request forgery; every action is a call of the same core service the
//! API calls (the core decides and audits), these handlers only read forms and render.
//!
//! A browser without a session is sent to sign in and brought back. A pending, deactivated
//! or banned account has no session (the sign-in page shows it its own page instead).

mod api_keys;
mod credits;
mod delete;
mod email;
mod password;
mod profile;
mod qr;
mod sessions;
pub mod strings;
mod terms;
mod two_factor;
mod view;

pub use strings::AccountStrings;

use super::csrf::{CSRF_FIELD, Csrf};
use super::render::{Chrome, Field, Notice, respond, respond_scripted};
use super::session::{CurrentSession, SignInRequest, clear_session_cookie, see_other, signin_redirect};
use super::strings::{Strings, fill};
use super::{Lang, PageQuery, read_form};
use crate::extract::Meta;
use crate::state::AppState;
use api_keys::*;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use credits::*;
use delete::*;
use email::*;
use password::*;
use profile::*;
use roster_core::Error;
use roster_core::service::BrowserSession;
use serde::Deserialize;
use sessions::*;
use terms::*;
use time::OffsetDateTime;
use two_factor::*;
use view::{AccountPage, Button, Item, NavItem, Panel, PanelForm};

/// The account's first page (the profile).
pub const ACCOUNT_PATH: &str = "/account";
const PROFILE_PATH: &str = "/account/profile";
const AVATAR_PATH: &str = "/account/avatar";
const AVATAR_REMOVE_PATH: &str = "/account/avatar/remove";
const EMAIL_PATH: &str = "/account/email";
const EMAIL_CANCEL_PATH: &str = "/account/email/cancel";
/// The page the link of an email change leads to (the token in its query).
pub const EMAIL_CHANGE_CONFIRM_PATH: &str = "/account/email/confirm";
const PASSWORD_PATH: &str = "/account/password";
const TWO_FACTOR_PATH: &str = "/account/two-factor";
const TWO_FACTOR_SETUP_PATH: &str = "/account/two-factor/setup";
const TWO_FACTOR_CONFIRM_PATH: &str = "/account/two-factor/confirm";
const TWO_FACTOR_MANAGE_PATH: &str = "/account/two-factor/manage";
const SESSIONS_PATH: &str = "/account/sessions";
const SESSION_REVOKE_PATH: &str = "/account/sessions/revoke";
const SESSIONS_OTHERS_PATH: &str = "/account/sessions/revoke-others";
const SESSIONS_EVERYWHERE_PATH: &str = "/account/sessions/everywhere";
const API_KEYS_PATH: &str = "/account/api-keys";
const API_KEY_REVOKE_PATH: &str = "/account/api-keys/revoke";
const TERMS_PATH: &str = "/account/terms";
const CREDITS_PATH: &str = "/account/credits";
const DELETE_PATH: &str = "/account/delete";

/// Ledger transactions the credits page lists at a time.
const LEDGER_PAGE: i64 = 50;

/// The account pages' routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(ACCOUNT_PATH, get(profile_page))
        .route(PROFILE_PATH, post(profile_submit))
        .route(AVATAR_PATH, post(avatar_submit))
        .route(AVATAR_REMOVE_PATH, post(avatar_remove))
        .route(EMAIL_PATH, get(email_page).post(email_submit))
        .route(EMAIL_CANCEL_PATH, post(email_cancel))
        .route(
            EMAIL_CHANGE_CONFIRM_PATH,
            get(email_confirm_page).post(email_confirm_submit),
        )
        .route(PASSWORD_PATH, get(password_page).post(password_submit))
        .route(TWO_FACTOR_PATH, get(two_factor_page))
        .route(TWO_FACTOR_SETUP_PATH, post(two_factor_setup))
        .route(TWO_FACTOR_CONFIRM_PATH, post(two_factor_confirm))
        .route(TWO_FACTOR_MANAGE_PATH, post(two_factor_manage))
        .route(SESSIONS_PATH, get(sessions_page))
        .route(SESSION_REVOKE_PATH, post(session_revoke))
        .route(SESSIONS_OTHERS_PATH, post(sessions_revoke_others))
        .route(SESSIONS_EVERYWHERE_PATH, post(sessions_everywhere))
        .route(API_KEYS_PATH, get(api_keys_page).post(api_key_create))
        .route(API_KEY_REVOKE_PATH, post(api_key_revoke))
        .route(TERMS_PATH, get(terms_page).post(terms_accept))
        .route(CREDITS_PATH, get(credits_page))
        .route(DELETE_PATH, get(delete_page).post(delete_submit))
}

/// The sections, in the navigation's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Section {
    Profile,
    Email,
    Password,
    TwoFactor,
    Sessions,
    ApiKeys,
    Terms,
    Credits,
    Delete,
}

impl Section {
    const ALL: [Section; 9] = [
        Section::Profile,
        Section::Email,
        Section::Password,
        Section::TwoFactor,
        Section::Sessions,
        Section::ApiKeys,
        Section::Terms,
        Section::Credits,
        Section::Delete,
    ];

    fn path(self) -> &'static str {
        match self {
            Section::Profile => ACCOUNT_PATH,
            Section::Email => EMAIL_PATH,
            Section::Password => PASSWORD_PATH,
            Section::TwoFactor => TWO_FACTOR_PATH,
            Section::Sessions => SESSIONS_PATH,
            Section::ApiKeys => API_KEYS_PATH,
            Section::Terms => TERMS_PATH,
            Section::Credits => CREDITS_PATH,
            Section::Delete => DELETE_PATH,
        }
    }

    fn title(self, a: &'static AccountStrings) -> &'static str {
        match self {
            Section::Profile => a.profile_title,
            Section::Email => a.email_title,
            Section::Password => a.password_title,
            Section::TwoFactor => a.two_factor_title,
            Section::Sessions => a.sessions_title,
            Section::ApiKeys => a.api_keys_title,
            Section::Terms => a.terms_title,
            Section::Credits => a.credits_title,
            Section::Delete => a.delete_title,
        }
    }
}

/// What a done action's redirect (`?done=...`) says on the page it lands on.
fn done_notice(a: &'static AccountStrings, done: &str) -> Option<&'static str> {
    Some(match done {
        "saved" => a.saved,
        "password" => a.password_changed,
        "two-factor-on" => a.two_factor_enabled,
        "two-factor-off" => a.two_factor_disabled,
        "session" => a.session_revoked,
        "key-revoked" => a.key_revoked,
        "email-cancelled" => a.email_cancelled,
        _ => return None,
    })
}

/// The query of a page after an action.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct DoneQuery {
    done: Option<String>,
    revoked: Option<u64>,
    /// The credits history's page (see [`crate::pages::ledger`]).
    ledger: String,
}

/// A signed-in request: its session, strings and CSRF token.
struct Ctx {
    state: AppState,
    t: &'static Strings,
    a: &'static AccountStrings,
    session: BrowserSession,
    csrf: Csrf,
}

/// What one rendering of a section shows besides its stored state.
#[derive(Default)]
struct View {
    status: Option<StatusCode>,
    notice: Option<String>,
    errors: Vec<Notice>,
    /// Errors of fields, by field name.
    field_errors: Vec<(&'static str, String)>,
    /// Values typed into a form that failed, by field name.
    values: Vec<(&'static str, String)>,
    /// Panels shown once, before the section's own (a new key's secret, a new enrolment).
    once: Vec<Panel>,
    /// The credits history's page (its cursor; empty: the newest).
    ledger: String,
}

impl View {
    fn status(status: StatusCode) -> Self {
        View {
            status: Some(status),
            ..Default::default()
        }
    }

    fn error(mut self, message: impl Into<String>, field: Option<&'static str>) -> Self {
        let message = message.into();
        if let Some(field) = field {
            self.field_errors.push((field, message.clone()));
        }
        self.errors.push(Notice { message, field });
        self
    }

    fn value(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.values.push((name, value.into()));
        self
    }

    fn field_error(&self, name: &str) -> Option<String> {
        self.field_errors
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, e)| e.clone())
    }

    fn value_of(&self, name: &str) -> Option<String> {
        self.values.iter().find(|(n, _)| *n == name).map(|(_, v)| v.clone())
    }
}

/// The request's session, or the redirect to sign in and come back to `back_to`.
fn require(
    state: AppState,
    t: &'static Strings,
    headers: &HeaderMap,
    session: Option<BrowserSession>,
    back_to: &str,
) -> Result<Ctx, Box<Response>> {
    let Some(session) = session else {
        return Err(Box::new(signin_redirect(&SignInRequest {
            return_to: Some(back_to.to_string()),
            ..Default::default()
        })));
    };
    Ok(Ctx {
        state,
        a: strings::for_lang(t.lang),
        t,
        session,
        csrf: Csrf::of(headers),
    })
}

/// A signed-in POST whose CSRF token checks out: its context and form, or the answer
/// (the redirect to sign in, or `section` again saying the form expired).
async fn posted<T: serde::de::DeserializeOwned + CsrfField>(
    state: AppState,
    t: &'static Strings,
    headers: &HeaderMap,
    session: Option<BrowserSession>,
    body: &[u8],
    section: Section,
) -> Result<(Ctx, T), Box<Response>> {
    let mut ctx = require(state, t, headers, session, section.path())?;
    let Some(form) = read_form::<T>(headers, body) else {
        let view = View::status(StatusCode::BAD_REQUEST).error(t.error_bad_request, None);
        return Err(Box::new(render(&ctx, section, view).await));
    };
    if !Csrf::verify(&ctx.state, headers, form.csrf()) {
        ctx.csrf = Csrf::fresh();
        let view = View::status(StatusCode::FORBIDDEN).error(t.error_form_expired, None);
        return Err(Box::new(render(&ctx, section, view).await));
    }
    Ok((ctx, form))
}

/// A form's CSRF field.
trait CsrfField {
    fn csrf(&self) -> Option<&str>;
}

macro_rules! forms {
    ($($name:ident { $($field:ident),* })*) => {
        $(
            #[derive(Debug, Default, Deserialize)]
            #[serde(default)]
            struct $name {
                csrf: Option<String>,
                $($field: Option<String>,)*
            }

            impl CsrfField for $name {
                fn csrf(&self) -> Option<&str> {
                    self.csrf.as_deref()
                }
            }
        )*
    };
}

forms! {
    ProfileForm { name, username, timezone, bio }
    CsrfOnly {}
    PasswordForm { current_password, new_password, confirm_password }
    CodeForm { code, action }
    IdForm { id }
    KeyForm { name }
    DeleteForm { confirm, code }
    EmailForm { new_email, current_password }
    TokenForm { token }
}

/// A time as `2026-12-06 20:40 UTC`.
fn when(at: OffsetDateTime) -> String {
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

/// The user's name for the page's "signed in as".
fn display_name(session: &BrowserSession) -> String {
    let user = &session.user;
    user.name
        .clone()
        .or_else(|| user.username.clone())
        .or_else(|| user.email.clone())
        .unwrap_or_else(|| user.id.to_string())
}

/// What a core error means on a form: a message, and the field at fault (None: the form).
/// None for errors no form can help with (the failure page then).
fn form_error(
    ctx: &Ctx,
    error: &Error,
    label: impl Fn(&str) -> Option<(&'static str, String)>,
) -> Option<(String, Option<&'static str>)> {
    let a = ctx.a;
    match error {
        Error::Invalid { field, reason } => Some(match label(field) {
            Some((id, label)) => (fill(a.error_field, &[("field", &label), ("reason", reason)]), Some(id)),
            None => (fill(a.error_field, &[("field", field), ("reason", reason)]), None),
        }),
        Error::Conflict { field } => Some(match label(field) {
            Some((id, label)) => (
                fill(a.error_field, &[("field", &label), ("reason", &error.to_string())]),
                Some(id),
            ),
            None => (error.to_string(), None),
        }),
        Error::TooLarge(_) => Some((error.to_string(), None)),
        Error::InvalidTwoFactorCode => Some((a.error_code_invalid.to_string(), label("code").map(|(id, _)| id))),
        Error::Forbidden(refusal) => Some((format!("{}: {refusal}", a.not_allowed), None)),
        Error::RateLimited { retry_after } => {
            let seconds = (retry_after.as_secs_f64().ceil() as i64).max(1);
            Some((fill(ctx.t.error_throttled, &[("seconds", &seconds.to_string())]), None))
        }
        Error::NotFound(_) | Error::InvalidId => Some((a.not_found.to_string(), None)),
        _ => None,
    }
}

/// The status of a form error.
fn error_status(error: &Error) -> StatusCode {
    match error {
        Error::Forbidden(_) => StatusCode::FORBIDDEN,
        Error::NotFound(_) => StatusCode::NOT_FOUND,
        Error::Conflict { .. } => StatusCode::CONFLICT,
        Error::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
        Error::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
        Error::InvalidTwoFactorCode => StatusCode::UNAUTHORIZED,
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    }
}

/// `section` again with the error of an action (or the failure page).
async fn failed(
    ctx: &Ctx,
    section: Section,
    error: Error,
    view: View,
    label: impl Fn(&str) -> Option<(&'static str, String)>,
) -> Response {
    match form_error(ctx, &error, label) {
        Some((message, field)) => {
            let view = View {
                status: Some(error_status(&error)),
                ..view
            }
            .error(message, field);
            render(ctx, section, view).await
        }
        None => super::render::failure(&ctx.state, ctx.t, &error),
    }
}

/// The redirect after an action that shows nothing once: back to `section` saying `done`.
fn done(section: Section, done: &str) -> Response {
    see_other(&format!("{}?done={done}", section.path()))
}

/// Renders `section` for `ctx` with `view`.
async fn render(ctx: &Ctx, section: Section, view: View) -> Response {
    let panels = match section_panels(ctx, section, &view).await {
        Ok(panels) => panels,
        Err(error) => return super::render::failure(&ctx.state, ctx.t, &error),
    };
    let a = ctx.a;
    let mut chrome = Chrome::new(&ctx.state, ctx.t, section.title(a));
    chrome.errors = view.errors.clone();
    chrome.script = Some(super::render::SCRIPT_PATH);
    let mut nav: Vec<NavItem> = Section::ALL
        .iter()
        .map(|s| NavItem {
            href: s.path(),
            text: s.title(a),
            current: *s == section,
        })
        .collect();
    nav.push(NavItem {
        href: super::SIGNOUT_PATH,
        text: a.sign_out_link,
        current: false,
    });
    let page = AccountPage {
        chrome,
        nav_label: a.nav_label,
        signed_in_as: fill(a.signed_in_as, &[("name", &display_name(&ctx.session))]),
        nav,
        notice: view.notice.clone(),
        panels: view.once.iter().cloned().chain(panels).collect(),
        copy: a.copy,
        copied: a.copied,
    };
    let mut response = respond_scripted(&ctx.state, view.status.unwrap_or(StatusCode::OK), &page);
    ctx.csrf.set_on(&ctx.state, &mut response);
    response
}

/// The panels of `section` (read through the core).
async fn section_panels(ctx: &Ctx, section: Section, view: &View) -> Result<Vec<Panel>, Error> {
    match section {
        Section::Profile => Ok(profile_panels(ctx, view)),
        Section::Email => email_panels(ctx, view).await,
        Section::Password => Ok(vec![password_panel(ctx, view)]),
        Section::TwoFactor => two_factor_panels(ctx, view).await,
        Section::Sessions => sessions_panels(ctx).await,
        Section::ApiKeys => api_keys_panels(ctx, view).await,
        Section::Terms => terms_panels(ctx).await,
        Section::Credits => credits_panels(ctx, view).await,
        Section::Delete => delete_panels(ctx, view).await,
    }
}

/// A GET of `section`: the redirect to sign in, or the page with what `?done=` says.
async fn show(
    state: AppState,
    t: &'static Strings,
    headers: &HeaderMap,
    session: Option<BrowserSession>,
    section: Section,
    query: DoneQuery,
) -> Response {
    let ctx = match require(state, t, headers, session, section.path()) {
        Ok(ctx) => ctx,
        Err(response) => return *response,
    };
    let notice = match (query.done.as_deref(), query.revoked) {
        (Some("revoked"), Some(n)) => Some(fill(ctx.a.sessions_revoked, &[("count", &n.to_string())])),
        (Some(done), _) => done_notice(ctx.a, done).map(str::to_string),
        _ => None,
    };
    let mut view = View {
        notice,
        ..Default::default()
    };
    if section == Section::Credits {
        // A history page that is not one is the field's error, over the newest page.
        match crate::pages::ledger::parse_cursor(&query.ledger) {
            Ok(_) => view.ledger = query.ledger,
            Err(error) => {
                let (message, field) = form_error(&ctx, &error, |_| None).unwrap_or_default();
                view = View {
                    status: Some(error_status(&error)),
                    ..view
                }
                .error(message, field);
            }
        }
    }
    render(&ctx, section, view).await
}

macro_rules! page_handler {
    ($($name:ident => $section:expr;)*) => {
        $(
            async fn $name(
                State(state): State<AppState>,
                Lang(t): Lang,
                headers: HeaderMap,
                CurrentSession(session): CurrentSession,
                PageQuery(query): PageQuery<DoneQuery>,
            ) -> Response {
                show(state, t, &headers, session, $section, query).await
            }
        )*
    };
}

page_handler! {
    profile_page => Section::Profile;
    email_page => Section::Email;
    password_page => Section::Password;
    two_factor_page => Section::TwoFactor;
    sessions_page => Section::Sessions;
    api_keys_page => Section::ApiKeys;
    terms_page => Section::Terms;
    credits_page => Section::Credits;
    delete_page => Section::Delete;
}

/// The user's avatar when the pages may show it: a picture Roster serves (a path on this
/// site); another site's is not loaded (the pages' Content-Security-Policy allows none).
pub(crate) fn local_avatar(user: &roster_core::User) -> Option<&str> {
    user.avatar
        .as_deref()
        .filter(|url| url.starts_with('/') && !url.starts_with("//"))
}
