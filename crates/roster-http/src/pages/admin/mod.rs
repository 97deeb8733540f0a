//! The admin console at `/admin`: server-rendered pages for administrators over the same core
//! services as the API and the command line (every rule, and every audit entry with the
//! administrator as its actor, is the core's). Signed in through the browser session of the
//! sign-in pages; every form carries the CSRF token; dangerous actions ask for confirmation
//! and, when the sign-in is older than [`REAUTH_AFTER`], for the password again. No script.

// The error of the helpers below is the page to answer with, built once per request.
#![allow(clippy::result_large_err)]

mod audit;
mod clients;
mod dashboard;
mod groups;
mod integrations;
pub mod strings;
mod users;
mod view;

use super::csrf::Csrf;
use super::session::{SignInRequest, browser_session, see_other, signin_redirect};
use super::{language, read_form};
use crate::state::AppState;
use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use roster_core::Error;
use roster_core::service::{Actor, BrowserSession};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use strings::{AdminStrings, admin_strings};
use time::Duration;

/// Where the console is.
pub const ADMIN_PATH: &str = "/admin";
/// The console's stylesheet (besides the pages' own).
pub const ADMIN_STYLESHEET_PATH: &str = "/admin/style.css";
/// How old a sign-in may be before a dangerous action asks for the password again.
pub const REAUTH_AFTER: Duration = Duration::minutes(5);

/// The console's routes; a user's avatar upload takes bodies as large as the API's avatar
/// routes do.
pub fn routes(state: &AppState) -> Router<AppState> {
    let avatar_limit = crate::dialect::avatar_body_limit(state.core.config.avatar_max_bytes);
    Router::new()
        .route(ADMIN_PATH, get(dashboard::page))
        .route(ADMIN_STYLESHEET_PATH, get(view::stylesheet))
        .route("/admin/pending/{id}/approve", post(dashboard::approve))
        .route("/admin/pending/{id}/reject", post(dashboard::reject))
        .route("/admin/users", get(users::list))
        .route("/admin/users/{id}", get(users::page))
        .route("/admin/users/{id}/profile", post(users::profile))
        .route(
            "/admin/users/{id}/avatar",
            post(users::avatar).layer(axum::extract::DefaultBodyLimit::max(avatar_limit)),
        )
        .route("/admin/users/{id}/avatar/remove", post(users::remove_avatar))
        .route("/admin/users/{id}/role", post(users::role))
        .route("/admin/users/{id}/active", post(users::active))
        .route("/admin/users/{id}/ban", post(users::ban))
        .route("/admin/users/{id}/unban", post(users::unban))
        .route("/admin/users/{id}/reset-link", post(users::reset_link))
        .route("/admin/users/{id}/send-reset-link", post(users::send_reset_link))
        .route("/admin/users/{id}/reset-two-factor", post(users::reset_two_factor))
        .route("/admin/users/{id}/sessions/revoke-all", post(users::revoke_all))
        .route(
            "/admin/users/{id}/sessions/{session}/revoke",
            post(users::revoke_session),
        )
        .route("/admin/users/{id}/api-keys/{key}/revoke", post(users::revoke_api_key))
        .route("/admin/users/{id}/groups", post(users::add_group))
        .route("/admin/users/{id}/groups/{group}/remove", post(users::remove_group))
        .route("/admin/users/{id}/credits", post(users::credits))
        .route("/admin/users/{id}/delete", post(users::delete))
        .route("/admin/groups", get(groups::list).post(groups::create))
        .route("/admin/groups/{id}", get(groups::page))
        .route("/admin/groups/{id}/rename", post(groups::rename))
        .route("/admin/groups/{id}/members", post(groups::add_member))
        .route("/admin/groups/{id}/members/{user}/remove", post(groups::remove_member))
        .route("/admin/groups/{id}/permissions", post(groups::permissions))
        .route("/admin/groups/{id}/delete", post(groups::delete))
        .route("/admin/permissions", get(groups::template).post(groups::save_template))
        .route("/admin/audit", get(audit::page))
        .route("/admin/clients", get(clients::list).post(clients::create))
        .route("/admin/clients/{id}", get(clients::page).post(clients::update))
        .route("/admin/clients/{id}/rotate-secret", post(clients::rotate))
        .route("/admin/clients/{id}/delete", post(clients::remove))
        .route(
            "/admin/invitations",
            get(integrations::invitations).post(integrations::invite),
        )
        .route("/admin/invitations/{id}/revoke", post(integrations::revoke_invitation))
        .route(
            "/admin/webhooks",
            get(integrations::webhooks).post(integrations::create_webhook),
        )
        .route("/admin/webhooks/{id}", get(integrations::webhook))
        .route("/admin/webhooks/{id}/delete", post(integrations::delete_webhook))
        .route(
            "/admin/webhooks/{id}/deliveries/{delivery}/replay",
            post(integrations::replay),
        )
}

/// A signed-in administrator's request: the session, the caller it is for the core, the
/// console's strings and the CSRF token its forms carry. Not signed in: a redirect to sign in
/// (back here afterwards for a page); signed in but not an administrator: 403.
pub(crate) struct Admin {
    pub session: BrowserSession,
    pub actor: Actor,
    pub t: &'static AdminStrings,
    pub csrf: Csrf,
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let page_strings = language(&parts.headers);
        let t = admin_strings(page_strings.lang);
        let session = match browser_session(state, &parts.headers).await {
            Ok(Some(session)) => session,
            Ok(None) => {
                let return_to = if parts.method == Method::GET {
                    parts
                        .uri
                        .path_and_query()
                        .map_or(ADMIN_PATH.to_string(), |p| p.as_str().to_string())
                } else {
                    ADMIN_PATH.to_string()
                };
                return Err(signin_redirect(&SignInRequest {
                    return_to: Some(return_to),
                    ..Default::default()
                }));
            }
            Err(error) => return Err(super::render::failure(state, page_strings, &error)),
        };
        let actor = session.actor();
        if actor.require_admin().is_err() {
            return Err(view::refusal(
                state,
                t,
                StatusCode::FORBIDDEN,
                t.forbidden_title,
                t.forbidden_body,
            ));
        }
        Ok(Admin {
            session,
            actor,
            t,
            csrf: Csrf::of(&parts.headers),
        })
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct CsrfField {
    csrf: Option<String>,
}

impl Admin {
    /// A form's fields, once its CSRF token is checked: refused with 403 (and a fresh token)
    /// when it does not match, 400 when the body is not a form.
    pub fn form<T: DeserializeOwned>(&self, state: &AppState, headers: &HeaderMap, body: &[u8]) -> Result<T, Response> {
        let token = read_form::<CsrfField>(headers, body).and_then(|f| f.csrf);
        self.check_csrf(state, headers, token.as_deref())?;
        read_form::<T>(headers, body).ok_or_else(|| self.bad_form(state))
    }

    /// Checks a form's CSRF token (`token`, the form's `csrf` field): refused with 403 (and a
    /// fresh token) when it does not match the cookie or the request is cross-site.
    pub fn check_csrf(&self, state: &AppState, headers: &HeaderMap, token: Option<&str>) -> Result<(), Response> {
        if Csrf::verify(state, headers, token) {
            return Ok(());
        }
        let fresh = Csrf::fresh();
        let mut response = view::refusal(
            state,
            self.t,
            StatusCode::FORBIDDEN,
            self.t.confirm_title,
            self.t.form_expired,
        );
        fresh.set_on(state, &mut response);
        Err(response)
    }

    /// The answer to a body that is not the form it should be (400).
    pub fn bad_form(&self, state: &AppState) -> Response {
        view::refusal(
            state,
            self.t,
            StatusCode::BAD_REQUEST,
            self.t.confirm_title,
            self.t.bad_form,
        )
    }

    /// Whether a dangerous action must ask for the password again.
    pub fn needs_reauth(&self, state: &AppState) -> bool {
        !self.session.authenticated_within(REAUTH_AFTER, state.core.clock.now())
    }
}

/// The largest form body an action reads.
const FORM_LIMIT: usize = 1 << 20;

/// An action's request: the signed-in administrator (as [`Admin`]) and the form's fields,
/// once its CSRF token is checked ([`Admin::form`]). The one setup every console POST shares:
/// extract it last, after the path and [`crate::extract::Meta`]; a dangerous action then asks
/// through [`view::confirm`] (which asks for the password again when the sign-in is old).
pub(crate) struct AdminForm<T> {
    pub admin: Admin,
    pub form: T,
}

impl<T: DeserializeOwned + Send> axum::extract::FromRequest<AppState> for AdminForm<T> {
    type Rejection = Response;

    async fn from_request(request: axum::extract::Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = request.into_parts();
        let admin = Admin::from_request_parts(&mut parts, state).await?;
        let Ok(bytes) = axum::body::to_bytes(body, FORM_LIMIT).await else {
            return Err(view::refusal(
                state,
                admin.t,
                StatusCode::BAD_REQUEST,
                admin.t.confirm_title,
                admin.t.bad_form,
            ));
        };
        let form = admin.form::<T>(state, &parts.headers, &bytes)?;
        Ok(AdminForm { admin, form })
    }
}

/// A form without fields of its own (its CSRF token only).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Empty {}

/// A page's query after an action: what was done.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct DoneQuery {
    pub done: Option<String>,
}

/// The id in a path (a user's, a group's, ...), or the not-found page of `what`.
pub(crate) fn path_id<I: std::str::FromStr>(
    state: &AppState,
    admin: &Admin,
    raw: &str,
    what: &'static str,
) -> Result<I, Response> {
    raw.parse::<I>()
        .map_err(|_| error_page(state, admin, &Error::NotFound(what)))
}

/// After a change: back to `to` (a page of the console) with `done`, the message it shows.
pub(crate) fn done(to: &str, done: &str) -> Response {
    let separator = if to.contains('?') { '&' } else { '?' };
    see_other(&format!("{to}{separator}done={done}"))
}

/// The page a core error gets when no form can show it: its status and message.
pub(crate) fn error_page(state: &AppState, admin: &Admin, error: &Error) -> Response {
    match error {
        Error::Unavailable | Error::Internal(_) => {
            super::render::failure(state, super::strings::negotiate(Some(admin.t.lang)), error)
        }
        _ => view::refusal(
            state,
            admin.t,
            crate::error::status_of(error),
            admin.t.errors_heading,
            &error.to_string(),
        ),
    }
}

/// Responds with a download (`filename`), never cached.
pub(crate) fn download(content_type: &'static str, filename: &str, body: String) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    response
}

/// The field every confirmed form has; see [`view::ConfirmPage`].
pub(crate) const CONFIRMED_FIELD: &str = "confirmed";
