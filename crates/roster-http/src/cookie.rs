//! Cookies: the one place the dialects read a request's cookies and build the `Set-Cookie`
//! headers they send. Every cookie Roster sets is `HttpOnly` on `Path=/`; the sign-in pages'
//! cookies are also `Secure` when users reach Roster over https.

use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;

/// The value of cookie `name` in the request's `Cookie` headers: the first that is not empty.
pub fn get(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, value)| *n == name && !value.is_empty())
        .map(|(_, value)| value.to_string())
}

/// A cookie's `SameSite` attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SameSite {
    Lax,
    Strict,
}

/// A `Set-Cookie` header: `name=value; HttpOnly; Path=/; SameSite=...` and, when given,
/// `; Max-Age=...`.
#[derive(Debug, Clone)]
pub struct SetCookie {
    name: String,
    value: String,
    same_site: SameSite,
    max_age: Option<i64>,
    secure: bool,
}

impl SetCookie {
    /// A session cookie (no `Max-Age`).
    pub fn new(name: &str, value: impl Into<String>, same_site: SameSite) -> Self {
        SetCookie {
            name: name.to_string(),
            value: value.into(),
            same_site,
            max_age: None,
            secure: false,
        }
    }

    /// The header that removes cookie `name`: empty, `Max-Age=0`.
    pub fn removal(name: &str, same_site: SameSite) -> Self {
        SetCookie::new(name, "", same_site).max_age(0)
    }

    /// Lasts `seconds`.
    pub fn max_age(mut self, seconds: i64) -> Self {
        self.max_age = Some(seconds);
        self
    }

    /// Sent over https only (`Secure`) when `secure`.
    pub fn secure(mut self, secure: bool) -> Self {
        self.secure = secure;
        self
    }

    /// The header value.
    pub fn render(&self) -> String {
        let same_site = match self.same_site {
            SameSite::Lax => "Lax",
            SameSite::Strict => "Strict",
        };
        let mut out = format!("{}={}; HttpOnly; Path=/; SameSite={same_site}", self.name, self.value);
        if let Some(age) = self.max_age {
            out.push_str(&format!("; Max-Age={age}"));
        }
        if self.secure {
            out.push_str("; Secure");
        }
        out
    }

    /// Appends the header to `response` (a value that is not a valid header is left out).
    pub fn append_to(&self, response: &mut Response) {
        if let Ok(value) = HeaderValue::from_str(&self.render()) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_first_non_empty_cookie_of_a_name() {
        let mut headers = HeaderMap::new();
        headers.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; token=; refreshToken=xyz"),
        );
        headers.append(header::COOKIE, HeaderValue::from_static("token=t2"));
        assert_eq!(get(&headers, "refreshToken").as_deref(), Some("xyz"));
        assert_eq!(get(&headers, "token").as_deref(), Some("t2"));
        assert_eq!(get(&headers, "a").as_deref(), Some("1"));
        assert_eq!(get(&headers, "missing"), None);
    }

    #[test]
    fn renders_set_cookie_headers() {
        assert_eq!(
            SetCookie::new("token", "abc", SameSite::Lax).render(),
            "token=abc; HttpOnly; Path=/; SameSite=Lax"
        );
        assert_eq!(
            SetCookie::new("refreshToken", "r", SameSite::Strict)
                .max_age(60)
                .render(),
            "refreshToken=r; HttpOnly; Path=/; SameSite=Strict; Max-Age=60"
        );
        assert_eq!(
            SetCookie::removal("token", SameSite::Lax).render(),
            "token=; HttpOnly; Path=/; SameSite=Lax; Max-Age=0"
        );
        assert_eq!(
            SetCookie::new("s", "v", SameSite::Lax).secure(true).render(),
            "s=v; HttpOnly; Path=/; SameSite=Lax; Secure"
        );
    }
}
