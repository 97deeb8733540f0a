//! The OpenID Connect fixtures, made through the real flow: an administrator registers a
//! public first-party client over `/v1/clients`, users sign in on Roster's sign-in page (a
//! browser session cookie each), and `/oidc/authorize` issues the codes (single use, so the
//! code exchange scenario gets a pool made just before it runs).

use crate::load::{call, call_raw, request};
use anyhow::{Context, bail};
use hyper::Method;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub const CLIENT_ID: &str = "rosterbench";
pub const REDIRECT_URI: &str = "http://127.0.0.1:9/callback";
const SCOPE: &str = "openid profile email";
/// A PKCE verifier (43 to 128 characters) and its S256 challenge; one pair serves every
/// code (each code is single-use, so reusing the pair weakens nothing the bench measures).
const VERIFIER: &str = "roster-bench-pkce-verifier-0123456789-abcdefghij";
/// Any well-formed token works as the CSRF cookie, as long as the form repeats it.
const CSRF: &str = "cnN0ZXItYmVuY2gtY3NyZi10b2tlbi0wMTIzNDU2Nzg";

/// A registered client and signed-in browser sessions.
pub struct Oidc {
    address: String,
    /// `roster_session` cookies of signed-in users.
    sessions: Vec<String>,
    challenge: String,
}

pub(crate) fn form(fields: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (k, v) in fields {
        if !out.is_empty() {
            out.push('&');
        }
        out.push_str(k);
        out.push('=');
        out.push_str(&urlencode(v));
    }
    out
}

fn urlencode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The body of a `/oidc/token` request that exchanges `code`.
pub fn exchange_body(code: &str) -> String {
    form(&[
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT_URI),
        ("client_id", CLIENT_ID),
        ("code_verifier", VERIFIER),
    ])
}

/// Signs `email` in on the sign-in page; the `roster_session` cookie's value.
pub async fn browser_session(address: String, email: String, password: String) -> anyhow::Result<String> {
    let body = form(&[("csrf", CSRF), ("identifier", &email), ("password", &password)]);
    let req = hyper::Request::builder()
        .method(Method::POST)
        .uri("/signin")
        .header("host", &address)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("cookie", format!("roster_csrf={CSRF}"))
        .body(http_body_util::Full::new(hyper::body::Bytes::from(body)))
        .unwrap_or_default();
    let (status, headers, _) = call_raw(&address, req).await?;
    let cookie = headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix("roster_session="))
        .and_then(|v| v.split(';').next())
        .filter(|v| !v.is_empty())
        .with_context(|| format!("sign-in gave no session cookie (status {status})"))?;
    Ok(cookie.to_string())
}

impl Oidc {
    /// Registers the client and signs `users` in through the sign-in page.
    pub async fn prepare(
        address: &str,
        emails: &[String],
        password: &str,
        admin_token: &str,
        users: usize,
    ) -> anyhow::Result<Self> {
        let bearer = format!("Bearer {admin_token}");
        let client = json!({
            "client_id": CLIENT_ID,
            "public": true,
            "first_party": true,
            "redirect_uris": [REDIRECT_URI],
            "access_token_ttl": 86_400,
        });
        let (status, body) = call(
            address,
            request(
                Method::POST,
                address,
                "/v1/clients",
                Some(("authorization", &bearer)),
                Some(&client),
            ),
        )
        .await?;
        if status != 201 && status != 200 {
            bail!("registering the OIDC client failed: {status} {body}");
        }
        let sign_ins = emails
            .iter()
            .take(users.max(1))
            .map(|email| browser_session(address.to_string(), email.clone(), password.to_string()));
        let mut sessions = Vec::new();
        for session in futures_join(sign_ins).await {
            sessions.push(session?);
        }
        use base64::Engine as _;
        use sha2::Digest as _;
        let challenge =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(VERIFIER.as_bytes()));
        Ok(Self {
            address: address.to_string(),
            sessions,
            challenge,
        })
    }

    /// One code from `/oidc/authorize` for the browser session `i`.
    async fn authorize(&self, i: usize) -> anyhow::Result<String> {
        let a = self.address.as_str();
        let path = format!(
            "/oidc/authorize?response_type=code&client_id={CLIENT_ID}&redirect_uri={}&scope={}&state=s&\
             code_challenge={}&code_challenge_method=S256",
            urlencode(REDIRECT_URI),
            urlencode(SCOPE),
            self.challenge
        );
        let session = &self.sessions[i % self.sessions.len()];
        let req = hyper::Request::builder()
            .method(Method::GET)
            .uri(path)
            .header("host", a)
            .header("cookie", format!("roster_session={session}"))
            .body(http_body_util::Full::new(hyper::body::Bytes::new()))
            .unwrap_or_default();
        let (status, headers, _) = call_raw(a, req).await?;
        let location = headers
            .get("location")
            .and_then(|v| v.to_str().ok())
            .with_context(|| format!("authorize answered {status} without a redirect"))?;
        let query = location.split_once('?').map(|(_, q)| q).unwrap_or("");
        query
            .split('&')
            .find_map(|p| p.strip_prefix("code="))
            .map(str::to_string)
            .with_context(|| format!("authorize redirected without a code: {location}"))
    }

    /// Up to `n` codes, made on `connections` connections, for at most `limit`.
    pub async fn codes(self: &Arc<Self>, n: usize, connections: usize, limit: Duration) -> anyhow::Result<Vec<String>> {
        let started = Instant::now();
        let next = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..connections.max(1))
            .map(|_| {
                let (this, next) = (self.clone(), next.clone());
                tokio::spawn(async move {
                    let mut out = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= n || started.elapsed() > limit {
                            return anyhow::Ok(out);
                        }
                        out.push(this.authorize(i).await?);
                    }
                })
            })
            .collect();
        let mut codes = Vec::with_capacity(n);
        for t in tasks {
            codes.extend(t.await??);
        }
        Ok(codes)
    }

    /// Exchanges one code per entry of `n` for an access token (for userinfo).
    pub async fn access_tokens(self: &Arc<Self>, n: usize) -> anyhow::Result<Vec<String>> {
        let a = self.address.as_str();
        let mut tokens = Vec::new();
        for code in self.codes(n, 4, Duration::from_secs(60)).await? {
            let (status, body) = call(a, token_request(a, &code)).await?;
            if status != 200 {
                bail!("code exchange failed: {status} {body}");
            }
            tokens.push(body["access_token"].as_str().context("access_token")?.to_string());
        }
        Ok(tokens)
    }
}

/// A `POST /oidc/token` exchanging `code`.
pub fn token_request(address: &str, code: &str) -> hyper::Request<http_body_util::Full<hyper::body::Bytes>> {
    hyper::Request::builder()
        .method(Method::POST)
        .uri("/oidc/token")
        .header("host", address)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(http_body_util::Full::new(hyper::body::Bytes::from(exchange_body(code))))
        .unwrap_or_default()
}

/// Awaits every future, concurrently, in order.
async fn futures_join<F: std::future::Future + Send + 'static>(futures: impl Iterator<Item = F>) -> Vec<F::Output>
where
    F::Output: Send + 'static,
{
    let tasks: Vec<_> = futures.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for t in tasks {
        if let Ok(v) = t.await {
            out.push(v);
        }
    }
    out
}
