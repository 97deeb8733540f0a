//! What the provider shows in the browser, and who is signed in there.

use crate::state::AppState;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use roster_core::service::oidc::{EndSessionTarget, SignedIn};

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// An error the user sees (never sent to an unverified redirect URI): 400.
pub fn error_page(error: &str, description: &str) -> Response {
    let status = match error {
        "server_error" => StatusCode::INTERNAL_SERVER_ERROR,
        "temporarily_unavailable" => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::BAD_REQUEST,
    };
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Sign-in error</title></head>\
         <body><main><h1>Sign-in error</h1><p role=\"alert\">{}</p><p><code>{}</code></p></main></body></html>",
        escape(description),
        escape(error)
    );
    let mut response = (status, axum::response::Html(html)).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Who is signed in in this browser.
pub async fn signed_in(_state: &AppState, _headers: &HeaderMap) -> Option<SignedIn> {
    None
}

/// To the sign-in page, coming back to `return_to`.
pub fn to_sign_in(return_to: &str, force: bool, login_hint: Option<&str>) -> Response {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query.append_pair("return_to", return_to);
    if force {
        query.append_pair("prompt", "login");
    }
    if let Some(hint) = login_hint.map(str::trim).filter(|h| !h.is_empty()) {
        query.append_pair("login_hint", hint);
    }
    Redirect::to(&format!("/signin?{}", query.finish())).into_response()
}

/// The consent page.
pub fn consent_unavailable(_client_id: &str, client_name: &str, _scopes: &[String]) -> Response {
    error_page(
        "consent_required",
        &format!("{client_name} needs your consent, which this server cannot ask for yet"),
    )
}

/// Ends the browser session the hint names, then goes where the client asked.
pub async fn end_session(_state: &AppState, _headers: &HeaderMap, target: EndSessionTarget) -> Response {
    match target.redirect {
        Some(to) => Redirect::to(&to).into_response(),
        None => error_page("logged_out", "You are signed out."),
    }
}
