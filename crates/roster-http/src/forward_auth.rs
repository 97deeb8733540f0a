//! Forward authentication for reverse proxies (Caddy `forward_auth`, nginx `auth_request`,
//! Traefik `ForwardAuth`): `GET /v1/forward-auth` answers whether the request the proxy is
//! about to pass on comes from a signed-in user, and who that is, in headers the proxy copies
//! onto the upstream request (Open WebUI's trusted-header mode reads them).
//!
//! - a live browser session (the `roster_session` cookie) or a bearer token / API key: 200 with
//!   the user's id, email, name, groups and role in the configured headers;
//! - otherwise an API call gets 401, and a browser (it accepts `text/html` and sent no
//!   credential) a redirect to the sign-in page, which returns through
//!   `GET /v1/forward-auth/return?rd=<original URL>` to the page first asked for. The original
//!   URL comes from `X-Forwarded-Proto`/`-Host`/`-Uri` (Caddy, Traefik) or `X-Original-URL`
//!   (nginx), and is followed only to a host in `forward_auth_allowed_hosts`: never an open
//!   redirect. With `?unauthenticated=401` browsers get 401 too, with the redirect's target in
//!   `X-Roster-Sign-In` (nginx cannot pass a redirect from `auth_request` on; its
//!   `error_page 401` does it).

use crate::error::ApiError;
use crate::extract::credential_of;
use crate::pages::session::{no_store, redirect};
use crate::pages::{SignInRequest, browser_session};
use crate::state::AppState;
use axum::Router;
use axum::extract::State;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use roster_core::Error;
use roster_core::service::Actor;

/// The endpoint the proxy asks.
pub const FORWARD_AUTH_PATH: &str = "/v1/forward-auth";
/// Where the sign-in page returns to before the browser goes back to the original URL.
pub const FORWARD_AUTH_RETURN_PATH: &str = "/v1/forward-auth/return";
/// The header that carries the sign-in URL on a 401 to a browser (`?unauthenticated=401`).
pub const SIGN_IN_HEADER: &str = "x-roster-sign-in";
/// Longest original URL followed back.
const MAX_ORIGINAL_URL: usize = 4096;

/// The names of the headers the identity is answered in.
#[derive(Debug, Clone)]
pub struct ForwardAuthHeaders {
    pub user: HeaderName,
    pub email: HeaderName,
    pub name: HeaderName,
    pub groups: HeaderName,
    pub role: HeaderName,
}

impl Default for ForwardAuthHeaders {
    fn default() -> Self {
        Self {
            user: HeaderName::from_static("x-roster-user"),
            email: HeaderName::from_static("x-roster-email"),
            name: HeaderName::from_static("x-roster-name"),
            groups: HeaderName::from_static("x-roster-groups"),
            role: HeaderName::from_static("x-roster-role"),
        }
    }
}

/// Forward authentication's settings.
#[derive(Debug, Clone, Default)]
pub struct ForwardAuthSettings {
    pub headers: ForwardAuthHeaders,
    /// Hosts a browser may be sent back to after signing in: `name` or `name:port` exactly,
    /// or `*.domain` for any subdomain (with `:port`, that port only); compared without case. Empty: none (the sign-in
    /// then ends on Roster's own start page).
    pub allowed_hosts: Vec<String>,
}

impl ForwardAuthSettings {
    /// Whether `host` (`name` or `name:port`, from a URL) is one a browser may be sent to: an
    /// allowed entry without a port allows every port of its name.
    pub fn host_allowed(&self, host: &str) -> bool {
        let host = host.to_ascii_lowercase();
        let (name, port) = split_port(&host);
        self.allowed_hosts.iter().any(|allowed| {
            let allowed = allowed.trim().to_ascii_lowercase();
            let (pattern, allowed_port) = split_port(&allowed);
            if allowed_port.is_some() && allowed_port != port {
                return false;
            }
            match pattern.strip_prefix("*.") {
                Some(domain) => name.len() > domain.len() + 1 && name.ends_with(&format!(".{domain}")),
                None => pattern == name,
            }
        })
    }

    /// `raw` when it is an absolute http(s) URL to an allowed host (see
    /// [`ForwardAuthSettings::host_allowed`]), printable ASCII, without credentials; else None.
    pub fn allowed_url(&self, raw: &str) -> Option<String> {
        let raw = raw.trim();
        if raw.len() > MAX_ORIGINAL_URL || !raw.bytes().all(|b| b.is_ascii_graphic()) {
            return None;
        }
        let url = url::Url::parse(raw).ok()?;
        if !matches!(url.scheme(), "http" | "https") || !url.username().is_empty() || url.password().is_some() {
            return None;
        }
        let host = url.host_str()?;
        let authority = match url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_string(),
        };
        self.host_allowed(&authority).then(|| url.to_string())
    }
}

/// `name:port` as (`name`, Some(`port`)); anything else as (it, None).
fn split_port(host: &str) -> (&str, Option<&str>) {
    match host.rsplit_once(':') {
        Some((name, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => (name, Some(port)),
        _ => (host, None),
    }
}

/// The routes, at the root whatever the dialects' prefixes.
pub fn mount(_state: &AppState) -> Router<AppState> {
    Router::new()
        .route(FORWARD_AUTH_PATH, get(check))
        .route(FORWARD_AUTH_RETURN_PATH, get(return_to_original))
        .route_layer(crate::extract::RejectNulInUri)
}

/// The URL the proxy was asked for: `X-Original-URL`, else built from `X-Forwarded-Proto`,
/// `X-Forwarded-Host` and `X-Forwarded-Uri`. None when the proxy sent neither.
fn original_url(headers: &HeaderMap) -> Option<String> {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    if let Some(url) = get("x-original-url").filter(|u| !u.is_empty()) {
        return Some(url.to_string());
    }
    let host = get("x-forwarded-host").filter(|h| !h.is_empty())?;
    let proto = get("x-forwarded-proto").filter(|p| !p.is_empty()).unwrap_or("https");
    let uri = get("x-forwarded-uri").filter(|u| u.starts_with('/')).unwrap_or("/");
    Some(format!("{proto}://{host}{uri}"))
}

/// Whether the request comes from a browser navigating (it wants HTML and sent no credential
/// of an API client).
fn is_browser(parts: &Parts) -> bool {
    let wants_html = parts
        .headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.to_ascii_lowercase().contains("text/html"));
    wants_html && credential_of(parts).is_none()
}

/// The sign-in page that returns to `original` (when allowed) through
/// [`FORWARD_AUTH_RETURN_PATH`]. A path on the host the browser is on: Roster's pages are
/// served there (see the README's "Provisioning").
fn sign_in_url(state: &AppState, original: Option<&str>) -> String {
    let return_to = original
        .and_then(|url| state.config.forward_auth.allowed_url(url))
        .map(|url| {
            let query = form_urlencoded::Serializer::new(String::new())
                .append_pair("rd", &url)
                .finish();
            format!("{FORWARD_AUTH_RETURN_PATH}?{query}")
        });
    SignInRequest {
        return_to,
        ..Default::default()
    }
    .url()
}

/// The caller: a live browser session first (the application's own `Authorization` header,
/// such as Open WebUI's frontend sends with its calls, is then not Roster's business), else a
/// bearer credential. `Ok(None)` when there is neither; a credential that does not
/// authenticate is its error (401, 403).
async fn caller(state: &AppState, parts: &Parts) -> Result<Option<Actor>, Error> {
    if let Some(session) = browser_session(state, &parts.headers).await? {
        return Ok(Some(session.actor()));
    }
    match credential_of(parts) {
        Some(credential) => state.core.authenticate_bearer(&credential).await.map(Some),
        None => Ok(None),
    }
}

/// `GET /v1/forward-auth`.
async fn check(State(state): State<AppState>, request: axum::extract::Request) -> Response {
    let (parts, _) = request.into_parts();
    let actor = match caller(&state, &parts).await {
        Ok(Some(actor)) => actor,
        Ok(None) => return unauthenticated(&state, &parts),
        Err(e) => return no_store(ApiError::from(e).into_response()),
    };
    let groups = match state.core.groups_of_user(&actor, actor.user.id).await {
        Ok(groups) => groups,
        Err(e) => return no_store(ApiError::from(e).into_response()),
    };
    let names = &state.config.forward_auth.headers;
    let user = &actor.user;
    let mut response = StatusCode::OK.into_response();
    let out = response.headers_mut();
    let mut put = |name: &HeaderName, value: &str| {
        // Names and emails hold no control characters (validated when stored); a value that
        // still cannot be a header is left out rather than answered wrongly.
        if let Ok(value) = HeaderValue::from_bytes(value.as_bytes()) {
            out.insert(name.clone(), value);
        }
    };
    put(&names.user, &user.id.to_string());
    put(&names.email, user.email.as_deref().unwrap_or(""));
    put(
        &names.name,
        &percent_encode(
            user.name
                .as_deref()
                .or(user.username.as_deref())
                .or(user.email.as_deref())
                .unwrap_or(""),
        ),
    );
    let groups: Vec<&str> = groups.iter().map(|g| g.name.as_str()).collect();
    put(&names.groups, &groups.join(","));
    put(&names.role, user.role.as_str());
    no_store(response)
}

/// No credential: 401 for an API call, the
/// sign-in page for a browser (a 302, or with `?unauthenticated=401` a 401 naming it).
fn unauthenticated(state: &AppState, parts: &Parts) -> Response {
    if !is_browser(parts) {
        return no_store(ApiError::from(Error::Unauthenticated).into_response());
    }
    let target = sign_in_url(state, original_url(&parts.headers).as_deref());
    let only_401 = parts
        .uri
        .query()
        .is_some_and(|q| form_urlencoded::parse(q.as_bytes()).any(|(k, v)| k == "unauthenticated" && v == "401"));
    if !only_401 {
        return redirect(StatusCode::FOUND, &target);
    }
    let mut response = ApiError::from(Error::Unauthenticated).into_response();
    if let Ok(value) = HeaderValue::from_str(&target) {
        response
            .headers_mut()
            .insert(HeaderName::from_static(SIGN_IN_HEADER), value);
    }
    no_store(response)
}

/// `GET /v1/forward-auth/return?rd=URL`: where the sign-in page returns to. Signed in and
/// `rd` on an allowed host: a 303 there. Not signed in: back to the sign-in page. `rd`
/// missing or not allowed: 400.
async fn return_to_original(State(state): State<AppState>, parts: Parts) -> Response {
    let rd = parts.uri.query().and_then(|q| {
        form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "rd")
            .map(|(_, v)| v.into_owned())
    });
    let Some(target) = rd.as_deref().and_then(|rd| state.config.forward_auth.allowed_url(rd)) else {
        return no_store(ApiError::from(Error::invalid("rd", "must be a URL on an allowed host")).into_response());
    };
    match browser_session(&state, &parts.headers).await {
        Ok(Some(_)) => redirect(StatusCode::SEE_OTHER, &target),
        Ok(None) => crate::pages::signin_redirect(&SignInRequest {
            return_to: Some(
                parts
                    .uri
                    .path_and_query()
                    .map_or(FORWARD_AUTH_RETURN_PATH.to_string(), |p| p.to_string()),
            ),
            ..Default::default()
        }),
        Err(e) => no_store(ApiError::from(e).into_response()),
    }
}

/// `%`, control characters and every non-ASCII byte as `%XX` (UTF-8): a header carries
/// ASCII, and Open WebUI URL-decodes the name header.
fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte == b'%' || !(0x20..0x7f).contains(&byte) {
            out.push_str(&format!("%{byte:02X}"));
        } else {
            out.push(char::from(byte));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(hosts: &[&str]) -> ForwardAuthSettings {
        ForwardAuthSettings {
            allowed_hosts: hosts.iter().map(|h| h.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn only_allowed_hosts_are_followed() {
        let s = settings(&["chat.example.org", "*.apps.example.org", "127.0.0.1:8080"]);
        for ok in [
            "https://chat.example.org/c/1?x=y",
            "http://CHAT.example.org:8443/",
            "https://a.apps.example.org/",
            "http://127.0.0.1:8080/x",
            "https://b.c.apps.example.org:8443/",
        ] {
            assert!(s.allowed_url(ok).is_some(), "{ok}");
        }
        for bad in [
            "https://evil.example/",
            "https://chat.example.org.evil.example/",
            "https://apps.example.org/",
            "https://xapps.example.org/",
            "https://user:pw@chat.example.org/",
            "javascript:alert(1)",
            "/relative",
            "//chat.example.org/",
            "http://127.0.0.1:8081/",
            "https://chat.example.org/a b",
        ] {
            assert!(s.allowed_url(bad).is_none(), "{bad}");
        }
        assert!(settings(&[]).allowed_url("https://chat.example.org/").is_none());
    }

    #[test]
    fn names_are_percent_encoded_beyond_ascii() {
        assert_eq!(percent_encode("Ann Lee"), "Ann Lee");
        assert_eq!(percent_encode("Zoë 100%"), "Zo%C3%AB 100%25");
    }

    #[test]
    fn the_original_url_comes_from_the_proxy_headers() {
        let mut headers = HeaderMap::new();
        assert_eq!(original_url(&headers), None);
        headers.insert("x-forwarded-host", HeaderValue::from_static("chat.example.org"));
        headers.insert("x-forwarded-proto", HeaderValue::from_static("http"));
        headers.insert("x-forwarded-uri", HeaderValue::from_static("/c/1?q=2"));
        assert_eq!(
            original_url(&headers).as_deref(),
            Some("http://chat.example.org/c/1?q=2")
        );
        headers.insert("x-original-url", HeaderValue::from_static("https://a.example/b"));
        assert_eq!(original_url(&headers).as_deref(), Some("https://a.example/b"));
    }
}
