//! The browser session as the HTTP layer sees it: its cookie, the extractor that reads it,
//! the redirect to the sign-in page and the check of where a sign-in may return to. The
//! OpenID Connect endpoints use these; the rules are the core's
//! ([`roster_core::service::BrowserSession`]).

use crate::cookie::{self, SameSite, SetCookie};
use crate::state::AppState;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use roster_core::Error;
use roster_core::service::{BrowserSession, BrowserSessionStarted};

/// The cookie that holds a browser session (`HttpOnly`, `SameSite=Lax` so that a top-level
/// redirect back from a relying party carries it, `Secure` when `public_url` is https).
pub const SESSION_COOKIE: &str = "roster_session";
/// The cookie that holds a sign-in's two-factor challenge between the two forms.
pub const CHALLENGE_COOKIE: &str = "roster_signin_challenge";
/// Where a sign-in starts.
pub const SIGNIN_PATH: &str = "/signin";
/// Longest `return_to` accepted.
pub const MAX_RETURN_TO: usize = 4096;

/// Whether cookies get `Secure`: when users reach Roster over https.
pub fn secure_cookies(state: &AppState) -> bool {
    state.core.config.public_url.starts_with("https://")
}

/// The `Set-Cookie` of a browser session just started: lasts as long as the session.
pub fn session_cookie(state: &AppState, started: &BrowserSessionStarted) -> SetCookie {
    let now = state.core.clock.now();
    SetCookie::new(SESSION_COOKIE, started.cookie.clone(), SameSite::Lax)
        .secure(secure_cookies(state))
        .max_age((started.session.expires_at - now).whole_seconds().max(0))
}

/// The `Set-Cookie` that removes the browser session's cookie.
pub fn clear_session_cookie(state: &AppState) -> SetCookie {
    SetCookie::removal(SESSION_COOKIE, SameSite::Lax).secure(secure_cookies(state))
}

/// The request's browser session: None without a cookie, or with one that names no live
/// session of a user who may sign in (ended, expired, deactivated, banned, pending).
pub async fn browser_session(state: &AppState, headers: &HeaderMap) -> Result<Option<BrowserSession>, Error> {
    let Some(value) = cookie::get(headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    match state.core.browser_session(&value).await {
        Ok(session) => Ok(Some(session)),
        Err(e @ (Error::Unavailable | Error::Internal(_))) => Err(e),
        Err(_) => Ok(None),
    }
}

/// Extracts the request's browser session, if any (see [`browser_session`]). Rejects only
/// when the database cannot be asked (a 503 page).
#[derive(Debug, Clone)]
pub struct CurrentSession(pub Option<BrowserSession>);

impl FromRequestParts<AppState> for CurrentSession {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        match browser_session(state, &parts.headers).await {
            Ok(session) => Ok(CurrentSession(session)),
            Err(error) => {
                let t =
                    super::strings::negotiate(parts.headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()));
                Err(super::render::failure(state, t, &error))
            }
        }
    }
}

/// Where a sign-in may return to: a path on Roster itself (`/...`, not `//...` nor `/\...`),
/// printable ASCII without backslashes, at most [`MAX_RETURN_TO`] bytes. Anything else (an
/// absolute URL, a scheme, a host) is None: never an open redirect.
pub fn safe_return_to(raw: &str) -> Option<String> {
    let raw = raw.trim();
    let ok = raw.starts_with('/')
        && !raw.starts_with("//")
        && raw.len() <= MAX_RETURN_TO
        && raw.bytes().all(|b| b.is_ascii_graphic() && b != b'\\');
    ok.then(|| raw.to_string())
}

/// What the sign-in page is asked to do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SignInRequest {
    /// Where to go once signed in (checked with [`safe_return_to`]; anything else is
    /// dropped).
    pub return_to: Option<String>,
    /// Show the form even to a signed-in browser, and replace its session (OpenID
    /// Connect's `prompt=login`, or `max_age` exceeded).
    pub force: bool,
    /// Prefills the identifier (OpenID Connect's `login_hint`).
    pub login_hint: Option<String>,
}

impl SignInRequest {
    /// The sign-in page's URL for this request (`/signin?return_to=...&prompt=login&login_hint=...`).
    pub fn url(&self) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        if let Some(to) = self.return_to.as_deref().and_then(safe_return_to) {
            query.append_pair("return_to", &to);
        }
        if self.force {
            query.append_pair("prompt", "login");
        }
        if let Some(hint) = self.login_hint.as_deref().map(str::trim).filter(|h| !h.is_empty()) {
            query.append_pair("login_hint", hint);
        }
        let query = query.finish();
        if query.is_empty() {
            SIGNIN_PATH.to_string()
        } else {
            format!("{SIGNIN_PATH}?{query}")
        }
    }
}

/// Answers with a redirect (303) to the sign-in page for `request`.
pub fn signin_redirect(request: &SignInRequest) -> Response {
    see_other(&request.url())
}

/// A 303 to a path on Roster (or to `/` if `to` is not a safe one).
pub(crate) fn see_other(to: &str) -> Response {
    redirect(StatusCode::SEE_OTHER, &safe_return_to(to).unwrap_or_else(|| "/".into()))
}

/// A redirect (`status`) to `location` exactly, never cached: the caller has checked the
/// target (see [`safe_return_to`], [`crate::forward_auth::ForwardAuthSettings::allowed_url`]).
pub(crate) fn redirect(status: StatusCode, location: &str) -> Response {
    let mut response = status.into_response();
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    no_store(response)
}

/// `response` with `Cache-Control: no-store`.
pub(crate) fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn return_to_is_a_path_on_roster_only() {
        for ok in ["/", "/oauth/authorize?client_id=a&state=x%20y", "/signin"] {
            assert_eq!(safe_return_to(ok).as_deref(), Some(ok));
        }
        for bad in [
            "",
            "https://evil.example/",
            "//evil.example/",
            "/\\evil.example",
            "\\\\evil.example",
            "javascript:alert(1)",
            "/a b",
            "/a\nLocation: x",
            "evil.example",
            "/\u{e9}",
        ] {
            assert_eq!(safe_return_to(bad), None, "{bad:?}");
        }
        assert_eq!(safe_return_to(&format!("/{}", "a".repeat(MAX_RETURN_TO))), None);
    }

    #[test]
    fn builds_the_sign_in_url() {
        assert_eq!(SignInRequest::default().url(), "/signin");
        let request = SignInRequest {
            return_to: Some("/oauth/authorize?a=1&b=2".into()),
            force: true,
            login_hint: Some("ann@example.org".into()),
        };
        assert_eq!(
            request.url(),
            "/signin?return_to=%2Foauth%2Fauthorize%3Fa%3D1%26b%3D2&prompt=login&login_hint=ann%40example.org"
        );
        let unsafe_target = SignInRequest {
            return_to: Some("https://evil.example".into()),
            ..Default::default()
        };
        assert_eq!(unsafe_target.url(), "/signin");
    }
}
