//! The account pages (`/account/...`), for every signed-in user: profile and picture,
//! password, two-step verification (a QR code Roster draws itself), sessions, API keys, the
//! terms, credits, deleting the account. Server-rendered, no script, every form protected
//! against cross-site request forgery; every action is a call of the same core service the
//! API calls (the core decides and audits), these handlers only read forms and render.
//!
//! A browser without a session is sent to sign in and brought back. A pending, deactivated
//! or banned account has no session (the sign-in page shows it its own page instead).

mod qr;
pub mod strings;
mod view;

pub use strings::AccountStrings;

use super::csrf::{CSRF_FIELD, Csrf};
use super::render::{Chrome, Field, Notice, respond};
use super::session::{CurrentSession, SignInRequest, clear_session_cookie, see_other, signin_redirect};
use super::strings::{Strings, fill};
use super::{Lang, PageQuery, read_form};
use crate::extract::Meta;
use crate::state::AppState;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Multipart, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use roster_core::service::{BrowserSession, NATIVE_AVATAR_BASE, NewApiKey, Patch, ProfileChanges};
use roster_core::store::BalanceKind;
use roster_core::{ApiKeyId, Error, SessionId};
use serde::Deserialize;
use time::OffsetDateTime;
use view::{AccountPage, Button, Item, NavItem, Panel, PanelForm, Table};

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

/// Ledger entries the credits page lists.
const LEDGER_SHOWN: i64 = 100;

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
    };
    let mut response = respond(&ctx.state, view.status.unwrap_or(StatusCode::OK), &page);
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
        Section::Credits => credits_panels(ctx).await,
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
    let view = View {
        notice,
        ..Default::default()
    };
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

// ---- Profile ----

fn profile_label(a: &'static AccountStrings) -> impl Fn(&str) -> Option<(&'static str, String)> {
    move |field| {
        Some(match field {
            "name" => ("name", a.name_label.to_string()),
            "username" => ("username", a.username_label.to_string()),
            "timezone" => ("timezone", a.timezone_label.to_string()),
            "bio" => ("bio", a.bio_label.to_string()),
            "avatar" | "file" | "image" => ("avatar", a.avatar_label.to_string()),
            _ => return None,
        })
    }
}

fn profile_panels(ctx: &Ctx, view: &View) -> Vec<Panel> {
    let a = ctx.a;
    let user = &ctx.session.user;
    let csrf = &ctx.csrf.token;
    let value = |name: &'static str, stored: &Option<String>| {
        view.value_of(name)
            .unwrap_or_else(|| stored.clone().unwrap_or_default())
    };
    let mut profile = Panel::headed("profile", a.profile_title);
    if let Some(email) = &user.email {
        let state = if user.email_verified {
            a.email_verified
        } else {
            a.email_unverified
        };
        profile = profile.fact(a.email_label, format!("{email} ({state})"));
    }
    let profile = profile.form(
        PanelForm::new(PROFILE_PATH, csrf, Button::primary(a.save_button))
            .field(
                Field::new("name", "text", a.name_label)
                    .value(value("name", &user.name))
                    .autocomplete("name")
                    .error(view.field_error("name")),
            )
            .field(
                Field::new("username", "text", a.username_label)
                    .value(value("username", &user.username))
                    .autocomplete("username")
                    .error(view.field_error("username")),
            )
            .field(
                Field::new("timezone", "text", a.timezone_label)
                    .value(value("timezone", &user.timezone))
                    .hint(a.timezone_hint)
                    .error(view.field_error("timezone")),
            )
            .field(
                Field::new("bio", "textarea", a.bio_label)
                    .value(value("bio", &user.bio))
                    .error(view.field_error("bio")),
            ),
    );
    let mut avatar = Panel::headed("avatar", a.avatar_heading);
    match local_avatar(user) {
        Some(url) => avatar.image = Some((url.to_string(), a.avatar_alt.to_string())),
        None if user.avatar.is_none() => avatar = avatar.paragraph(a.avatar_none),
        None => {}
    }
    avatar = avatar.form(
        PanelForm::new(AVATAR_PATH, csrf, Button::primary(a.avatar_button))
            .multipart()
            .field(
                Field::new("avatar", "file", a.avatar_label)
                    .hint(a.avatar_hint)
                    .error(view.field_error("avatar")),
            ),
    );
    if user.avatar.is_some() {
        avatar = avatar.form(PanelForm::new(
            AVATAR_REMOVE_PATH,
            csrf,
            Button::secondary(a.avatar_remove_button),
        ));
    }
    vec![profile, avatar]
}

/// An optional text field: empty clears it.
fn patch(value: Option<String>) -> Patch<String> {
    match value.map(|v| v.trim().to_string()) {
        None => Patch::Keep,
        Some(v) if v.is_empty() => Patch::Clear,
        Some(v) => Patch::Set(v),
    }
}

/// `POST /account/profile`: name, username, time zone, about (through
/// [`roster_core::Core::update_profile`]).
async fn profile_submit(
    State(state): State<AppState>,
    Lang(t): Lang,
    headers: HeaderMap,
    CurrentSession(session): CurrentSession,
    body: Bytes,
) -> Response {
    let (ctx, form) = match posted::<ProfileForm>(state, t, &headers, session, &body, Section::Profile).await {
        Ok(posted) => posted,
        Err(response) => return *response,
    };
    let typed = View::default()
        .value("name", form.name.clone().unwrap_or_default())
        .value("username", form.username.clone().unwrap_or_default())
        .value("timezone", form.timezone.clone().unwrap_or_default())
        .value("bio", form.bio.clone().unwrap_or_default());
    let changes = ProfileChanges {
        name: patch(form.name),
        username: patch(form.username),
        timezone: patch(form.timezone),
        bio: form.bio.map_or(Patch::Keep, |b| {
            if b.trim().is_empty() {
                Patch::Clear
            } else {
                Patch::Set(b)
            }
        }),
        ..Default::default()
    };
    match ctx.state.core.update_profile(&ctx.session.actor(), changes).await {
        Ok(_) => done(Section::Profile, "saved"),
        Err(error) => failed(&ctx, Section::Profile, error, typed, profile_label(ctx.a)).await,
    }
}

/// `POST /account/avatar` (`multipart/form-data`: `csrf`, then `avatar`, the image).
async fn avatar_submit(
    State(state): State<AppState>,
    Lang(t): Lang,
    headers: HeaderMap,
    CurrentSession(session): CurrentSession,
    mut multipart: Multipart,
) -> Response {
    let mut ctx = match require(state, t, &headers, session, ACCOUNT_PATH) {
        Ok(ctx) => ctx,
        Err(response) => return *response,
    };
    let mut csrf = None;
    let mut image = None;
    loop {
        match multipart.next_field().await {
            Ok(Some(field)) => {
                let name = field.name().unwrap_or_default().to_string();
                let Ok(bytes) = field.bytes().await else {
                    let view = View::status(StatusCode::BAD_REQUEST).error(t.error_bad_request, None);
                    return render(&ctx, Section::Profile, view).await;
                };
                match name.as_str() {
                    CSRF_FIELD => csrf = String::from_utf8(bytes.to_vec()).ok(),
                    "avatar" if !bytes.is_empty() => image = Some(bytes.to_vec()),
                    _ => {}
                }
            }
            Ok(None) => break,
            Err(_) => {
                let view = View::status(StatusCode::BAD_REQUEST).error(t.error_bad_request, None);
                return render(&ctx, Section::Profile, view).await;
            }
        }
    }
    if !Csrf::verify(&ctx.state, &headers, csrf.as_deref()) {
        ctx.csrf = Csrf::fresh();
        let view = View::status(StatusCode::FORBIDDEN).error(t.error_form_expired, None);
        return render(&ctx, Section::Profile, view).await;
    }
    let Some(image) = image else {
        let view = View::status(StatusCode::UNPROCESSABLE_ENTITY).error(ctx.a.error_avatar_missing, Some("avatar"));
        return render(&ctx, Section::Profile, view).await;
    };
    match ctx
        .state
        .core
        .set_avatar(&ctx.session.actor(), image, NATIVE_AVATAR_BASE)
        .await
    {
        Ok(_) => done(Section::Profile, "saved"),
        Err(error) => {
            let label = |field: &str| profile_label(ctx.a)(field).or(Some(("avatar", ctx.a.avatar_label.to_string())));
            failed(&ctx, Section::Profile, error, View::default(), label).await
        }
    }
}

/// `POST /account/avatar/remove`.
async fn avatar_remove(
    State(state): State<AppState>,
    Lang(t): Lang,
    headers: HeaderMap,
    CurrentSession(session): CurrentSession,
    body: Bytes,
) -> Response {
    let (ctx, _) = match posted::<CsrfOnly>(state, t, &headers, session, &body, Section::Profile).await {
        Ok(posted) => posted,
        Err(response) => return *response,
    };
    let changes = ProfileChanges {
        avatar: Patch::Clear,
        ..Default::default()
    };
    match ctx.state.core.update_profile(&ctx.session.actor(), changes).await {
        Ok(_) => done(Section::Profile, "saved"),
        Err(error) => failed(&ctx, Section::Profile, error, View::default(), profile_label(ctx.a)).await,
    }
}

// ---- Email address ----

async fn email_panels(ctx: &Ctx, view: &View) -> Result<Vec<Panel>, Error> {
    let a = ctx.a;
    let user = &ctx.session.user;
    let mut panel = Panel::plain();
    match &user.email {
        Some(email) => {
            let state = if user.email_verified {
                a.email_verified
            } else {
                a.email_unverified
            };
            panel = panel.fact(a.email_current, format!("{email} ({state})"));
        }
        None => panel = panel.paragraph(a.email_none),
    }
    if let Some(pending) = ctx.state.core.pending_email_change(&ctx.session.actor()).await? {
        panel = panel
            .paragraph(fill(
                a.email_pending,
                &[("email", &pending.new_email), ("until", &when(pending.expires_at))],
            ))
            .form(PanelForm::new(
                EMAIL_CANCEL_PATH,
                &ctx.csrf.token,
                Button::secondary(a.email_cancel_button),
            ));
    }
    let mut form = PanelForm::new(EMAIL_PATH, &ctx.csrf.token, Button::primary(a.email_change_button)).field(
        Field::new("new_email", "email", a.new_email_label)
            .value(view.value_of("new_email").unwrap_or_default())
            .autocomplete("email")
            .required()
            .error(view.field_error("new_email")),
    );
    if user.password_hash.is_some() {
        form = form.field(
            Field::new("current_password", "password", a.current_password_label)
                .autocomplete("current-password")
                .required()
                .error(view.field_error("current_password")),
        );
    }
    Ok(vec![panel.form(form)])
}

/// `POST /account/email` (`new_email`, `current_password`): mails a link to the new
/// address ([`roster_core::Core::request_email_change`]); the address changes when it is
/// used.
async fn email_submit(
    State(state): State<AppState>,
    Lang(t): Lang,
    Meta(meta): Meta,
    headers: HeaderMap,
    CurrentSession(session): CurrentSession,
    body: Bytes,
) -> Response {
    let (ctx, form) = match posted::<EmailForm>(state, t, &headers, session, &body, Section::Email).await {
        Ok(posted) => posted,
        Err(response) => return *response,
    };
    let a = ctx.a;
    let new_email = form.new_email.unwrap_or_default();
    let typed = View::default().value("new_email", new_email.clone());
    let result = ctx
        .state
        .core
        .request_email_change(
            &ctx.session.actor(),
            &new_email,
            &form.current_password.unwrap_or_default(),
            EMAIL_CHANGE_CONFIRM_PATH,
            &meta,
        )
        .await;
    match result {
        Ok(pending) => {
            let view = View {
                notice: Some(fill(a.email_sent, &[("email", &pending.new_email)])),
                ..Default::default()
            };
            render(&ctx, Section::Email, view).await
        }
        Err(Error::Invalid {
            field: "current_password",
            ..
        }) => {
            let view = View {
                status: Some(StatusCode::UNPROCESSABLE_ENTITY),
                ..typed
            }
            .error(a.error_current_password, Some("current_password"));
            render(&ctx, Section::Email, view).await
        }
        Err(error) => {
            let label = |field: &str| (field == "email").then(|| ("new_email", a.new_email_label.to_string()));
            failed(&ctx, Section::Email, error, typed, label).await
        }
    }
}

/// `POST /account/email/cancel`: drops the pending change
/// ([`roster_core::Core::cancel_email_change`]).
async fn email_cancel(
    State(state): State<AppState>,
    Lang(t): Lang,
    headers: HeaderMap,
    CurrentSession(session): CurrentSession,
    body: Bytes,
) -> Response {
    let (ctx, _) = match posted::<CsrfOnly>(state, t, &headers, session, &body, Section::Email).await {
        Ok(posted) => posted,
        Err(response) => return *response,
    };
    match ctx.state.core.cancel_email_change(&ctx.session.actor()).await {
        Ok(_) => done(Section::Email, "email-cancelled"),
        Err(error) => failed(&ctx, Section::Email, error, View::default(), |_| None).await,
    }
}

/// The query of the email change's link.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct TokenQuery {
    token: Option<String>,
}

/// The page of the email change's link: a button that confirms (a link alone changes
/// nothing, so that a mail scanner opening it does not). No session needed: the token is
/// the proof.
fn email_confirm_form(
    state: &AppState,
    t: &'static Strings,
    csrf: &Csrf,
    token: &str,
    status: StatusCode,
    error: Option<&str>,
) -> Response {
    let a = strings::for_lang(t.lang);
    let mut chrome = Chrome::new(state, t, a.email_confirm_title).paragraph(a.email_confirm_intro);
    if let Some(error) = error {
        chrome = chrome.error(error, None);
    }
    let page = super::render::FormPage {
        chrome,
        action: EMAIL_CHANGE_CONFIRM_PATH.into(),
        hidden: vec![(CSRF_FIELD, csrf.token.clone()), ("token", token.to_string())],
        fields: Vec::new(),
        submit: a.email_confirm_button.into(),
        cancel: None,
    };
    let mut response = respond(state, status, &page);
    csrf.set_on(state, &mut response);
    response
}

/// `GET /account/email/confirm?token=...`.
async fn email_confirm_page(
    State(state): State<AppState>,
    Lang(t): Lang,
    headers: HeaderMap,
    PageQuery(query): PageQuery<TokenQuery>,
) -> Response {
    let token = query.token.unwrap_or_default();
    email_confirm_form(&state, t, &Csrf::of(&headers), &token, StatusCode::OK, None)
}

/// `POST /account/email/confirm` (`token`): applies the change
/// ([`roster_core::Core::confirm_email_change`]).
async fn email_confirm_submit(
    State(state): State<AppState>,
    Lang(t): Lang,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let a = strings::for_lang(t.lang);
    let Some(form) = read_form::<TokenForm>(&headers, &body) else {
        return email_confirm_form(
            &state,
            t,
            &Csrf::of(&headers),
            "",
            StatusCode::BAD_REQUEST,
            Some(t.error_bad_request),
        );
    };
    let token = form.token.clone().unwrap_or_default();
    if !Csrf::verify(&state, &headers, form.csrf()) {
        return email_confirm_form(
            &state,
            t,
            &Csrf::fresh(),
            &token,
            StatusCode::FORBIDDEN,
            Some(t.error_form_expired),
        );
    }
    match state.core.confirm_email_change(&token).await {
        Ok(user) => {
            let email = user.email.unwrap_or_default();
            let chrome = Chrome::new(&state, t, a.email_confirm_title)
                .paragraph(fill(a.email_changed, &[("email", &email)]))
                .link(ACCOUNT_PATH, a.profile_title);
            super::render::message(&state, StatusCode::OK, chrome)
        }
        Err(Error::Invalid { field: "token", .. }) => {
            let chrome = Chrome::new(&state, t, a.email_confirm_title)
                .error(a.email_link_invalid, None)
                .link(EMAIL_PATH, a.email_title);
            super::render::message(&state, StatusCode::UNPROCESSABLE_ENTITY, chrome)
        }
        Err(error @ Error::Conflict { .. }) => {
            let chrome = Chrome::new(&state, t, a.email_confirm_title).error(error.to_string(), None);
            super::render::message(&state, StatusCode::CONFLICT, chrome)
        }
        Err(error) => super::render::failure(&state, t, &error),
    }
}

// ---- Password ----

fn password_panel(ctx: &Ctx, view: &View) -> Panel {
    let (a, t) = (ctx.a, ctx.t);
    let min = ctx.state.core.config.min_password_length.to_string();
    Panel::plain().form(
        PanelForm::new(
            PASSWORD_PATH,
            &ctx.csrf.token,
            Button::primary(a.change_password_button),
        )
        .hidden("username", display_name(&ctx.session))
        .field(
            Field::new("current_password", "password", a.current_password_label)
                .autocomplete("current-password")
                .required()
                .error(view.field_error("current_password")),
        )
        .field(
            Field::new("new_password", "password", t.new_password_label)
                .hint(fill(t.new_password_hint, &[("min", &min)]))
                .autocomplete("new-password")
                .required()
                .error(view.field_error("new_password")),
        )
        .field(
            Field::new("confirm_password", "password", t.confirm_password_label)
                .autocomplete("new-password")
                .required()
                .error(view.field_error("confirm_password")),
        ),
    )
}

/// `POST /account/password`: the current password, the new one twice (through
/// [`roster_core::Core::change_password`], which keeps this session and ends the others).
async fn password_submit(
    State(state): State<AppState>,
    Lang(t): Lang,
    Meta(meta): Meta,
    headers: HeaderMap,
    CurrentSession(session): CurrentSession,
    body: Bytes,
) -> Response {
    let (ctx, form) = match posted::<PasswordForm>(state, t, &headers, session, &body, Section::Password).await {
        Ok(posted) => posted,
        Err(response) => return *response,
    };
    let current = form.current_password.unwrap_or_default();
    let new = form.new_password.unwrap_or_default();
    let status = View::status(StatusCode::UNPROCESSABLE_ENTITY);
    if current.is_empty() {
        let view = status.error(t.error_password_missing, Some("current_password"));
        return render(&ctx, Section::Password, view).await;
    }
    if new != form.confirm_password.unwrap_or_default() {
        let view = status.error(t.error_password_mismatch, Some("confirm_password"));
        return render(&ctx, Section::Password, view).await;
    }
    match ctx
        .state
        .core
        .change_password(&ctx.session.actor(), &current, &new, &meta)
        .await
    {
        Ok(()) => done(Section::Password, "password"),
        Err(
            Error::Invalid {
                field: "current_password",
                ..
            }
            | Error::InvalidCredentials,
        ) => {
            let view = status.error(ctx.a.error_current_password, Some("current_password"));
            render(&ctx, Section::Password, view).await
        }
        Err(error) => {
            let label = |field: &str| match field {
                "new_password" | "password" => Some(("new_password", t.new_password_label.to_string())),
                _ => None,
            };
            failed(&ctx, Section::Password, error, View::default(), label).await
        }
    }
}

// ---- Two-step verification ----

fn code_label(a: &'static AccountStrings) -> impl Fn(&str) -> Option<(&'static str, String)> {
    move |field| match field {
        "code" | "token" | "backup_code" => Some(("code", a.disable_code_label.to_string())),
        _ => None,
    }
}

async fn two_factor_panels(ctx: &Ctx, view: &View) -> Result<Vec<Panel>, Error> {
    let a = ctx.a;
    let csrf = &ctx.csrf.token;
    let status = ctx.state.core.two_factor_status(ctx.session.user.id).await?;
    let mut panel = Panel::headed("two-factor-status", a.two_factor_title);
    if status.enabled {
        panel = panel
            .paragraph(a.two_factor_on)
            .paragraph(fill(
                a.backup_codes_remaining,
                &[("count", &status.backup_codes_remaining.to_string())],
            ))
            .form(
                PanelForm::new(
                    TWO_FACTOR_MANAGE_PATH,
                    csrf,
                    Button::primary(a.two_factor_disable_button).action("disable"),
                )
                .button(Button::secondary(a.new_backup_codes_button).action("backup-codes"))
                .field(
                    Field::new("code", "text", a.disable_code_label)
                        .hint(a.disable_code_hint)
                        .autocomplete("one-time-code")
                        .required()
                        .error(view.field_error("code")),
                ),
            );
        return Ok(vec![panel]);
    }
    panel = panel.paragraph(a.two_factor_off);
    if status.pending && view.once.is_empty() {
        panel = panel.paragraph(a.two_factor_pending).form(confirm_form(ctx, view));
    }
    if view.once.is_empty() {
        let start = if status.pending {
            Button::secondary(a.two_factor_restart_button)
        } else {
            Button::primary(a.two_factor_start_button)
        };
        panel = panel.form(PanelForm::new(TWO_FACTOR_SETUP_PATH, csrf, start));
    }
    Ok(vec![panel])
}

/// The form that turns a pending enrolment on with a first code.
fn confirm_form(ctx: &Ctx, view: &View) -> PanelForm {
    let a = ctx.a;
    PanelForm::new(
        TWO_FACTOR_CONFIRM_PATH,
        &ctx.csrf.token,
        Button::primary(a.two_factor_confirm_button),
    )
    .field(
        Field::new("code", "text", a.confirm_code_label)
            .hint(a.confirm_code_hint)
            .autocomplete("one-time-code")
            .inputmode("numeric")
            .required()
            .error(view.field_error("code")),
    )
}

/// The panel of backup codes shown once.
fn backup_codes_panel(a: &'static AccountStrings, codes: Vec<String>) -> Panel {
    let mut panel = Panel::headed("backup-codes", a.backup_codes_heading).paragraph(a.backup_codes_intro);
    panel.codes = codes;
    panel.codes_id = "backup-codes-list";
    panel
}

/// `POST /account/two-factor/setup`: a new secret (shown once as a QR code and as text),
/// backup codes (shown once) and the form for the first code
/// ([`roster_core::Core::begin_two_factor`]).
async fn two_factor_setup(
    State(state): State<AppState>,
    Lang(t): Lang,
    headers: HeaderMap,
    CurrentSession(session): CurrentSession,
    body: Bytes,
) -> Response {
    let (ctx, _) = match posted::<CsrfOnly>(state, t, &headers, session, &body, Section::TwoFactor).await {
        Ok(posted) => posted,
        Err(response) => return *response,
    };
    let a = ctx.a;
    let enrolment = match ctx.state.core.begin_two_factor(&ctx.session.actor()).await {
        Ok(enrolment) => enrolment,
        Err(error) => return failed(&ctx, Section::TwoFactor, error, View::default(), code_label(a)).await,
    };
    let mut scan = Panel::headed("two-factor-setup", a.two_factor_start_button).paragraph(a.two_factor_scan);
    match qr::svg(&enrolment.otpauth_url) {
        Some(svg) => {
            scan.qr = Some(view::Qr {
                svg,
                label: a.qr_label.to_string(),
            })
        }
        None => tracing::warn!("the enrolment's QR code could not be drawn"),
    }
    scan.secret = Some((a.secret_label.to_string(), enrolment.secret.clone(), "totp-secret"));
    let mut view = View::default();
    scan = scan.form(confirm_form(&ctx, &view));
    // The secret and the codes are in this answer only: the page is never cached
    // ([`respond`]), and the page of a pending enrolment does not show them again.
    view.once = vec![scan, backup_codes_panel(a, enrolment.backup_codes)];
    render(&ctx, Section::TwoFactor, view).await
}

/// `POST /account/two-factor/confirm`: the first code turns the pending enrolment on
/// ([`roster_core::Core::confirm_two_factor`]).
async fn two_factor_confirm(
    State(state): State<AppState>,
    Lang(t): Lang,
    headers: HeaderMap,
    CurrentSession(session): CurrentSession,
    body: Bytes,
) -> Response {
    let (ctx, form) = match posted::<CodeForm>(state, t, &headers, session, &body, Section::TwoFactor).await {
        Ok(posted) => posted,
        Err(response) => return *response,
    };
    let code: String = form
        .code
        .unwrap_or_default()
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    if code.is_empty() {
        let view = View::status(StatusCode::UNPROCESSABLE_ENTITY).error(t.error_code_missing, Some("code"));
        return render(&ctx, Section::TwoFactor, view).await;
    }
    match ctx.state.core.confirm_two_factor(&ctx.session.actor(), &code).await {
        Ok(()) => done(Section::TwoFactor, "two-factor-on"),
        Err(error) => failed(&ctx, Section::TwoFactor, error, View::default(), code_label(ctx.a)).await,
    }
}

/// `POST /account/two-factor/manage`: with a code or backup code, `action=disable` turns
/// two-step verification off ([`roster_core::Core::disable_two_factor`]), `action=backup-codes`
/// replaces the backup codes, shown once ([`roster_core::Core::regenerate_backup_codes`]).
async fn two_factor_manage(
    State(state): State<AppState>,
    Lang(t): Lang,
    headers: HeaderMap,
    CurrentSession(session): CurrentSession,
    body: Bytes,
) -> Response {
    let (ctx, form) = match posted::<CodeForm>(state, t, &headers, session, &body, Section::TwoFactor).await {
        Ok(posted) => posted,
        Err(response) => return *response,
    };
    let code = form.code.unwrap_or_default();
    if code.trim().is_empty() {
        let view = View::status(StatusCode::UNPROCESSABLE_ENTITY).error(t.error_code_missing, Some("code"));
        return render(&ctx, Section::TwoFactor, view).await;
    }
    let factor = super::signin::second_factor(&code);
    let actor = ctx.session.actor();
    match form.action.as_deref() {
        Some("disable") => match ctx.state.core.disable_two_factor(&actor, Some(&factor)).await {
            Ok(()) => done(Section::TwoFactor, "two-factor-off"),
            Err(error) => failed(&ctx, Section::TwoFactor, error, View::default(), code_label(ctx.a)).await,
        },
        Some("backup-codes") => match ctx.state.core.regenerate_backup_codes(&actor, Some(&factor)).await {
            Ok(codes) => {
                let view = View {
                    once: vec![backup_codes_panel(ctx.a, codes.codes)],
                    ..Default::default()
                };
                render(&ctx, Section::TwoFactor, view).await
            }
            Err(error) => failed(&ctx, Section::TwoFactor, error, View::default(), code_label(ctx.a)).await,
        },
        _ => {
            let view = View::status(StatusCode::BAD_REQUEST).error(t.error_bad_request, None);
            render(&ctx, Section::TwoFactor, view).await
        }
    }
}

// ---- Sessions ----

async fn sessions_panels(ctx: &Ctx) -> Result<Vec<Panel>, Error> {
    let a = ctx.a;
    let csrf = &ctx.csrf.token;
    let sessions = ctx.state.core.list_my_sessions(&ctx.session.actor()).await?;
    let mut panel = Panel::plain().paragraph(a.sessions_intro);
    for session in sessions {
        let current = session.id == ctx.session.session_id;
        let device = session.user_agent.clone().unwrap_or_else(|| a.unknown.to_string());
        let heading = if current {
            a.this_session.to_string()
        } else {
            device.clone()
        };
        panel.items.push(Item {
            heading,
            facts: vec![
                (a.session_device.to_string(), device),
                (
                    a.session_ip.to_string(),
                    session.ip.clone().unwrap_or_else(|| a.unknown.to_string()),
                ),
                (a.session_created.to_string(), when(session.created_at)),
                (a.session_last_seen.to_string(), when(session.last_used_at)),
            ],
            forms: vec![
                PanelForm::new(SESSION_REVOKE_PATH, csrf, Button::secondary(a.revoke_button))
                    .hidden("id", session.id.to_string()),
            ],
        });
    }
    panel = panel
        .form(PanelForm::new(
            SESSIONS_OTHERS_PATH,
            csrf,
            Button::secondary(a.revoke_others_button),
        ))
        .form(PanelForm::new(
            SESSIONS_EVERYWHERE_PATH,
            csrf,
            Button::primary(a.sign_out_everywhere_button),
        ));
    Ok(vec![panel])
}

/// The answer once this browser's own session has ended: signed out, the cookie cleared.
fn signed_out(ctx: &Ctx, everywhere: bool) -> Response {
    let t = ctx.t;
    let body = if everywhere {
        t.signed_out_everywhere_body
    } else {
        t.signed_out_body
    };
    let chrome = Chrome::new(&ctx.state, t, t.signed_out_title)
        .paragraph(body)
        .link(super::SIGNIN_PATH, t.sign_in_again);
    let mut response = super::render::message(&ctx.state, StatusCode::OK, chrome);
    clear_session_cookie(&ctx.state).append_to(&mut response);
    response
}

/// `POST /account/sessions/revoke` (`id`): ends one of the user's sessions
/// ([`roster_core::Core::revoke_my_session`]); this browser's own signs it out.
async fn session_revoke(
    State(state): State<AppState>,
    Lang(t): Lang,
    headers: HeaderMap,
    CurrentSession(session): CurrentSession,
    body: Bytes,
) -> Response {
    let (ctx, form) = match posted::<IdForm>(state, t, &headers, session, &body, Section::Sessions).await {
        Ok(posted) => posted,
        Err(response) => return *response,
    };
    let id = match form.id.unwrap_or_default().parse::<SessionId>() {
        Ok(id) => id,
        Err(error) => return failed(&ctx, Section::Sessions, error, View::default(), |_| None).await,
    };
    if id == ctx.session.session_id {
        return match ctx.state.core.end_browser_session(&ctx.session, false).await {
            Ok(_) => signed_out(&ctx, false),
            Err(error) => super::render::failure(&ctx.state, t, &error),
        };
    }
    match ctx.state.core.revoke_my_session(&ctx.session.actor(), id).await {
        Ok(()) => done(Section::Sessions, "session"),
        Err(error) => failed(&ctx, Section::Sessions, error, View::default(), |_| None).await,
    }
}

/// `POST /account/sessions/revoke-others`: ends every session but this one
/// ([`roster_core::Core::revoke_my_other_sessions`]).
async fn sessions_revoke_others(
    State(state): State<AppState>,
    Lang(t): Lang,
    headers: HeaderMap,
    CurrentSession(session): CurrentSession,
    body: Bytes,
) -> Response {
    let (ctx, _) = match posted::<CsrfOnly>(state, t, &headers, session, &body, Section::Sessions).await {
        Ok(posted) => posted,
        Err(response) => return *response,
    };
    match ctx.state.core.revoke_my_other_sessions(&ctx.session.actor()).await {
        Ok(n) => see_other(&format!("{SESSIONS_PATH}?done=revoked&revoked={n}")),
        Err(error) => failed(&ctx, Section::Sessions, error, View::default(), |_| None).await,
    }
}

/// `POST /account/sessions/everywhere`: ends every session of the user, this one too (as
/// signing out everywhere does, [`roster_core::Core::end_browser_session`]).
async fn sessions_everywhere(
    State(state): State<AppState>,
    Lang(t): Lang,
    headers: HeaderMap,
    CurrentSession(session): CurrentSession,
    body: Bytes,
) -> Response {
    let (ctx, _) = match posted::<CsrfOnly>(state, t, &headers, session, &body, Section::Sessions).await {
        Ok(posted) => posted,
        Err(response) => return *response,
    };
    match ctx.state.core.end_browser_session(&ctx.session, true).await {
        Ok(_) => signed_out(&ctx, true),
        Err(error) => super::render::failure(&ctx.state, t, &error),
    }
}

// ---- API keys ----

async fn api_keys_panels(ctx: &Ctx, view: &View) -> Result<Vec<Panel>, Error> {
    let a = ctx.a;
    let csrf = &ctx.csrf.token;
    let keys = ctx.state.core.list_my_api_keys(&ctx.session.actor()).await?;
    let mut panel = Panel::plain().paragraph(a.api_keys_intro);
    if keys.is_empty() {
        panel = panel.paragraph(a.api_keys_none);
    }
    for key in keys {
        panel.items.push(Item {
            heading: key.name.clone(),
            facts: vec![
                (a.key_prefix.to_string(), format!("{}…", key.prefix)),
                (a.key_created.to_string(), when(key.created_at)),
                (
                    a.key_last_used.to_string(),
                    key.last_used_at.map_or_else(|| a.never.to_string(), when),
                ),
                (
                    a.key_expires.to_string(),
                    key.expires_at.map_or_else(|| a.never.to_string(), when),
                ),
            ],
            forms: vec![
                PanelForm::new(API_KEY_REVOKE_PATH, csrf, Button::secondary(a.key_revoke_button))
                    .hidden("id", key.id.to_string()),
            ],
        });
    }
    let create = Panel::headed("new-key", a.create_key_button).form(
        PanelForm::new(API_KEYS_PATH, csrf, Button::primary(a.create_key_button)).field(
            Field::new("name", "text", a.key_name_label)
                .value(view.value_of("name").unwrap_or_default())
                .required()
                .error(view.field_error("name")),
        ),
    );
    Ok(vec![panel, create])
}

/// `POST /account/api-keys` (`name`): a new key, its secret shown in this answer only
/// ([`roster_core::Core::create_api_key`]).
async fn api_key_create(
    State(state): State<AppState>,
    Lang(t): Lang,
    headers: HeaderMap,
    CurrentSession(session): CurrentSession,
    body: Bytes,
) -> Response {
    let (ctx, form) = match posted::<KeyForm>(state, t, &headers, session, &body, Section::ApiKeys).await {
        Ok(posted) => posted,
        Err(response) => return *response,
    };
    let a = ctx.a;
    let name = form.name.unwrap_or_default();
    let input = NewApiKey {
        name: name.clone(),
        ..Default::default()
    };
    match ctx.state.core.create_api_key(&ctx.session.actor(), input).await {
        Ok(created) => {
            let mut panel = Panel::headed("key-secret", a.key_secret_heading).paragraph(a.key_secret_intro);
            panel.secret = Some((created.key.name.clone(), created.secret.clone(), "api-key-secret"));
            let view = View {
                status: Some(StatusCode::CREATED),
                once: vec![panel],
                ..Default::default()
            };
            render(&ctx, Section::ApiKeys, view).await
        }
        Err(error) => {
            let label = |field: &str| (field == "name").then(|| ("name", a.key_name_label.to_string()));
            failed(
                &ctx,
                Section::ApiKeys,
                error,
                View::default().value("name", name),
                label,
            )
            .await
        }
    }
}

/// `POST /account/api-keys/revoke` (`id`): revokes one of the user's keys at once
/// ([`roster_core::Core::revoke_my_api_key`]); another user's is not found.
async fn api_key_revoke(
    State(state): State<AppState>,
    Lang(t): Lang,
    headers: HeaderMap,
    CurrentSession(session): CurrentSession,
    body: Bytes,
) -> Response {
    let (ctx, form) = match posted::<IdForm>(state, t, &headers, session, &body, Section::ApiKeys).await {
        Ok(posted) => posted,
        Err(response) => return *response,
    };
    let id = match form.id.unwrap_or_default().parse::<ApiKeyId>() {
        Ok(id) => id,
        Err(error) => return failed(&ctx, Section::ApiKeys, error, View::default(), |_| None).await,
    };
    match ctx.state.core.revoke_my_api_key(&ctx.session.actor(), id).await {
        Ok(()) => done(Section::ApiKeys, "key-revoked"),
        Err(error) => failed(&ctx, Section::ApiKeys, error, View::default(), |_| None).await,
    }
}

// ---- Terms ----

async fn terms_panels(ctx: &Ctx) -> Result<Vec<Panel>, Error> {
    let a = ctx.a;
    let actor = ctx.session.actor();
    let status = ctx.state.core.terms_status(&actor).await?;
    let mut panel = Panel::plain().paragraph(fill(a.terms_version, &[("version", &status.version)]));
    match status.accepted_at.filter(|_| status.accepted) {
        Some(at) => panel = panel.paragraph(fill(a.terms_accepted, &[("at", &when(at))])),
        None => {
            panel = panel.paragraph(a.terms_not_accepted).form(PanelForm::new(
                TERMS_PATH,
                &ctx.csrf.token,
                Button::primary(a.accept_terms_button),
            ))
        }
    }
    let acceptances = ctx.state.core.list_terms_acceptances(&actor).await?;
    let mut panels = vec![panel];
    if !acceptances.is_empty() {
        let mut history = Panel::headed("terms-history", a.terms_history_heading);
        for acceptance in acceptances {
            history = history.fact(acceptance.version, when(acceptance.accepted_at));
        }
        panels.push(history);
    }
    Ok(panels)
}

/// `POST /account/terms`: accepts the terms in force ([`roster_core::Core::accept_terms`]).
async fn terms_accept(
    State(state): State<AppState>,
    Lang(t): Lang,
    headers: HeaderMap,
    CurrentSession(session): CurrentSession,
    body: Bytes,
) -> Response {
    let (ctx, _) = match posted::<CsrfOnly>(state, t, &headers, session, &body, Section::Terms).await {
        Ok(posted) => posted,
        Err(response) => return *response,
    };
    match ctx.state.core.accept_terms(&ctx.session.actor()).await {
        Ok(_) => done(Section::Terms, "saved"),
        Err(error) => failed(&ctx, Section::Terms, error, View::default(), |_| None).await,
    }
}

// ---- Credits ----

async fn credits_panels(ctx: &Ctx) -> Result<Vec<Panel>, Error> {
    let a = ctx.a;
    let actor = ctx.session.actor();
    let balance = ctx.state.core.balance_details(&actor).await?;
    let ledger = ctx.state.core.my_balance_transactions(&actor, LEDGER_SHOWN).await?;
    let summary = Panel::plain().paragraph(fill(a.credits_balance, &[("credits", &balance.credits.to_string())]));
    let mut history = Panel::headed("credits-history", a.credits_history_heading);
    if ledger.is_empty() {
        history = history.paragraph(a.credits_history_none);
    } else {
        history.table = Some(Table {
            caption: a.credits_history_heading.to_string(),
            head: vec![
                a.key_created.to_string(),
                a.credits_title.to_string(),
                String::from("±"),
            ],
            rows: ledger
                .into_iter()
                .map(|t| {
                    let kind = match t.kind {
                        BalanceKind::StartGrant => a.kind_start_grant,
                        BalanceKind::Spend => a.kind_spend,
                        BalanceKind::Refill => a.kind_refill,
                        BalanceKind::Adjustment => a.kind_adjustment,
                    };
                    let amount = if t.amount > 0 {
                        format!("+{}", t.amount)
                    } else {
                        t.amount.to_string()
                    };
                    vec![when(t.created_at), kind.to_string(), amount]
                })
                .collect(),
        });
    }
    Ok(vec![summary, history])
}

// ---- Deleting the account ----

async fn delete_panels(ctx: &Ctx, view: &View) -> Result<Vec<Panel>, Error> {
    let a = ctx.a;
    let two_factor = ctx.state.core.two_factor_status(ctx.session.user.id).await?.enabled;
    let mut form = PanelForm::new(DELETE_PATH, &ctx.csrf.token, Button::primary(a.delete_button)).field(
        Field::new("confirm", "text", a.delete_confirm_label)
            .hint(fill(a.delete_confirm_hint, &[("word", a.delete_confirm_word)]))
            .required()
            .error(view.field_error("confirm")),
    );
    if two_factor {
        form = form.field(
            Field::new("code", "text", a.delete_code_label)
                .autocomplete("one-time-code")
                .required()
                .error(view.field_error("code")),
        );
    }
    Ok(vec![Panel::plain().paragraph(a.delete_intro).form(form)])
}

/// `POST /account/delete` (`confirm`, the word typed; `code` with two-step verification):
/// deletes the account where the core allows it
/// ([`roster_core::Core::delete_own_account_with_factor`]).
async fn delete_submit(
    State(state): State<AppState>,
    Lang(t): Lang,
    headers: HeaderMap,
    CurrentSession(session): CurrentSession,
    body: Bytes,
) -> Response {
    let (ctx, form) = match posted::<DeleteForm>(state, t, &headers, session, &body, Section::Delete).await {
        Ok(posted) => posted,
        Err(response) => return *response,
    };
    let a = ctx.a;
    if form.confirm.as_deref().map(str::trim) != Some(a.delete_confirm_word) {
        let view = View::status(StatusCode::UNPROCESSABLE_ENTITY).error(a.error_delete_confirm, Some("confirm"));
        return render(&ctx, Section::Delete, view).await;
    }
    let factor = form
        .code
        .as_deref()
        .filter(|c| !c.trim().is_empty())
        .map(super::signin::second_factor);
    match ctx
        .state
        .core
        .delete_own_account_with_factor(&ctx.session.actor(), factor.as_ref())
        .await
    {
        Ok(()) => {
            let chrome = Chrome::new(&ctx.state, t, a.deleted_title).paragraph(a.deleted_body);
            let mut response = super::render::message(&ctx.state, StatusCode::OK, chrome);
            clear_session_cookie(&ctx.state).append_to(&mut response);
            response
        }
        Err(error) => {
            let label = |field: &str| match field {
                "code" | "token" | "backup_code" => Some(("code", a.delete_code_label.to_string())),
                _ => None,
            };
            failed(&ctx, Section::Delete, error, View::default(), label).await
        }
    }
}

/// The user's avatar when the pages may show it: a picture Roster serves (a path on this
/// site); another site's is not loaded (the pages' Content-Security-Policy allows none).
pub(crate) fn local_avatar(user: &roster_core::User) -> Option<&str> {
    user.avatar
        .as_deref()
        .filter(|url| url.starts_with('/') && !url.starts_with("//"))
}
