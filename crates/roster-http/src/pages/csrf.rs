//! Cross-site request forgery protection of the pages' forms: a random token in a cookie
//! (`HttpOnly`, `SameSite=Lax`, `Secure` behind https) that every form repeats in a hidden
//! field; a POST is accepted only when the two match (compared in constant time) and the
//! browser does not say the request came from another site (`Sec-Fetch-Site: cross-site`, or
//! an `Origin` that is not Roster's own).

use crate::cookie::{self, SameSite, SetCookie};
use crate::state::AppState;
use axum::http::{HeaderMap, header};
use axum::response::Response;
use roster_core::token::{digests_equal, random_secret};

/// The CSRF cookie.
pub const CSRF_COOKIE: &str = "roster_csrf";
/// The hidden form field that repeats it.
pub const CSRF_FIELD: &str = "csrf";

/// The browser's CSRF token: its cookie's, or a new one the response sets.
#[derive(Debug, Clone)]
pub struct Csrf {
    pub token: String,
    fresh: bool,
}

/// A token Roster could have made: 43 base64url characters.
fn well_formed(token: &str) -> bool {
    token.len() == 43
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl Csrf {
    /// The token of the request's cookie, or a fresh one.
    pub fn of(headers: &HeaderMap) -> Csrf {
        match cookie::get(headers, CSRF_COOKIE).filter(|t| well_formed(t)) {
            Some(token) => Csrf { token, fresh: false },
            None => Csrf::fresh(),
        }
    }

    /// A new token (after a failed check, so the next form carries a good one).
    pub fn fresh() -> Csrf {
        Csrf {
            token: random_secret(),
            fresh: true,
        }
    }

    /// Sets the cookie on `response` when the token is new.
    pub fn set_on(&self, state: &AppState, response: &mut Response) {
        if self.fresh {
            SetCookie::new(CSRF_COOKIE, self.token.clone(), SameSite::Lax)
                .secure(super::session::secure_cookies(state))
                .append_to(response);
        }
    }

    /// Whether a form's POST may be trusted: `submitted` (the hidden field) equals the
    /// cookie, and the browser does not report another site as its origin.
    pub fn verify(state: &AppState, headers: &HeaderMap, submitted: Option<&str>) -> bool {
        let Some(cookie) = cookie::get(headers, CSRF_COOKIE).filter(|t| well_formed(t)) else {
            return false;
        };
        let Some(submitted) = submitted else {
            return false;
        };
        if !digests_equal(&cookie, submitted) {
            return false;
        }
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        if header("sec-fetch-site") == Some("cross-site") {
            return false;
        }
        match headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
            None | Some("null") => true,
            Some(origin) => origin.eq_ignore_ascii_case(&public_origin(&state.core.config.public_url)),
        }
    }
}

/// The origin of `public_url` (`https://host[:port]`).
fn public_origin(public_url: &str) -> String {
    match public_url.split_once("://") {
        Some((scheme, rest)) => format!("{scheme}://{}", rest.split('/').next().unwrap_or(rest)),
        None => public_url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_public_origin_drops_the_path() {
        assert_eq!(public_origin("https://id.example.org/roster"), "https://id.example.org");
        assert_eq!(public_origin("http://127.0.0.1:8480"), "http://127.0.0.1:8480");
    }

    #[test]
    fn only_tokens_roster_makes_are_read() {
        assert!(well_formed(&random_secret()));
        assert!(!well_formed("short"));
        assert!(!well_formed(&"a".repeat(42).replace('a', "\"")));
    }
}
