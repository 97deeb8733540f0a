//! Roster's own pages: sign-in (password, then a second factor when the account has one),
//! sign-out, and the pages the emailed links lead to. Server-rendered HTML from askama
//! templates compiled into the binary (`templates/pages/`), every form working without
//! script (the account pages and the console load one small script of Roster's,
//! [`SCRIPT`], for copy buttons and typed confirmations; the sign-in pages none), every form
//! protected against cross-site request forgery ([`csrf`]), every string from a table per
//! language ([`strings`]), the branding from the deployment's settings ([`theme`]).
//!
//! The browser session these pages start is the core's
//! ([`roster_core::service::BrowserSession`]); [`session`] has what other routes (the
//! OpenID Connect endpoints) need of it: the extractor, the cookie, the redirect to sign in.

pub mod account;
pub mod admin;
pub mod csrf;
pub mod ledger;
mod links;
pub mod render;
pub mod session;
mod signin;
pub mod strings;
pub mod theme;
mod verify;

pub use account::{ACCOUNT_PATH, EMAIL_CHANGE_CONFIRM_PATH};
pub use links::{REGISTER_PATH, RESET_PASSWORD_PATH};
pub use render::ConsentPage;
pub use session::{
    CHALLENGE_COOKIE, CurrentSession, SESSION_COOKIE, SIGNIN_PATH, SignInRequest, browser_session,
    clear_session_cookie, safe_return_to, session_cookie, signin_redirect,
};
pub(crate) use signin::form_response;
pub use signin::{SECOND_FACTOR_PATH, SIGNOUT_PATH};
pub use strings::Strings;
pub use theme::PageSettings;
pub use verify::{RESEND_VERIFICATION_PATH, VERIFY_EMAIL_PATH};

use crate::state::AppState;
use axum::Router;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::de::DeserializeOwned;
use std::convert::Infallible;

/// The pages' routes, at the root whatever the dialects' prefixes.
pub fn mount(state: &AppState) -> Router<AppState> {
    Router::new()
        .route(SIGNIN_PATH, get(signin::signin_page).post(signin::signin_submit))
        .route(
            SECOND_FACTOR_PATH,
            get(signin::second_factor_page).post(signin::second_factor_submit),
        )
        .route(SIGNOUT_PATH, get(signin::signout_page).post(signin::signout_submit))
        .route(render::STYLESHEET_PATH, get(stylesheet))
        .route(render::SCRIPT_PATH, get(script))
        .merge(links::routes())
        .merge(admin::routes(state))
        .merge(verify::routes())
        .merge(account::routes())
        .route_layer(crate::extract::RejectNulInUri)
}

/// The strings of the request's language (`Accept-Language`, English by default).
#[derive(Debug, Clone, Copy)]
pub struct Lang(pub &'static Strings);

impl<S: Send + Sync> FromRequestParts<S> for Lang {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Lang(language(&parts.headers)))
    }
}

/// The strings for a request's headers.
pub fn language(headers: &HeaderMap) -> &'static Strings {
    strings::negotiate(headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()))
}

/// A page's query: what parses of it; a query that does not (a repeated or undecodable
/// parameter) counts as empty, since a page has nothing better to show than its default.
#[derive(Debug, Clone, Default)]
pub struct PageQuery<T>(pub T);

impl<T: DeserializeOwned + Default, S: Send + Sync> FromRequestParts<S> for PageQuery<T> {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or("");
        Ok(PageQuery(serde_urlencoded::from_str(query).unwrap_or_default()))
    }
}

/// A form's body (`application/x-www-form-urlencoded`); None if it is of another type or does
/// not parse (a repeated field, bytes that are not UTF-8, a NUL character, which no store can
/// hold).
pub(crate) fn read_form<T: DeserializeOwned>(headers: &HeaderMap, body: &[u8]) -> Option<T> {
    let content_type = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    let essence = content_type.split(';').next()?.trim();
    if !essence.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        return None;
    }
    if form_urlencoded::parse(body).any(|(name, value)| name.contains('\0') || value.contains('\0')) {
        return None;
    }
    serde_urlencoded::from_bytes(body).ok()
}

/// Roster's one script (progressive enhancement), compiled into the binary.
pub const SCRIPT: &str = include_str!("../../assets/roster.js");

/// `GET /pages/roster.js`: [`SCRIPT`], cached as the stylesheet is.
async fn script() -> Response {
    let mut response = SCRIPT.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/javascript; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}

/// `GET /pages/style.css`: the pages' stylesheet in the deployment's colours.
async fn stylesheet(State(state): State<AppState>) -> Response {
    let mut response = state.config.pages.stylesheet().into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/css; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
    response
}
