//! Rendering: the templates (askama, compiled into the binary from
//! `crates/roster-http/templates/pages/`, HTML-escaped), the pieces every page has, and the
//! response headers every page gets (HTML, never cached, the pages' Content-Security-Policy).

use super::strings::{Strings, fill};
use crate::state::AppState;
use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use roster_core::Error;

/// The stylesheet's path.
pub const STYLESHEET_PATH: &str = "/pages/style.css";
/// The path of Roster's one script (progressive enhancement: copy buttons, typed
/// confirmations), served by the binary; only the account pages and the console load it.
pub const SCRIPT_PATH: &str = "/pages/roster.js";

/// A message in the error summary (`role="alert"`), linking to its field when it has one.
#[derive(Debug, Clone)]
pub struct Notice {
    pub message: String,
    /// The id of the field at fault.
    pub field: Option<&'static str>,
}

/// A link.
#[derive(Debug, Clone)]
pub struct Link {
    pub href: String,
    pub text: String,
}

impl Link {
    pub fn new(href: impl Into<String>, text: impl Into<String>) -> Self {
        Link {
            href: href.into(),
            text: text.into(),
        }
    }
}

/// What every page has: its language, title, the product's branding, the error summary,
/// paragraphs and links under the content.
#[derive(Debug, Clone)]
pub struct Chrome {
    pub lang: &'static str,
    pub title: String,
    pub product: String,
    pub logo_url: Option<String>,
    pub stylesheet: &'static str,
    /// The script the page loads ([`SCRIPT_PATH`], deferred), if any; a page that loads it
    /// must be answered by [`respond_scripted`].
    pub script: Option<&'static str>,
    pub errors_heading: &'static str,
    pub errors: Vec<Notice>,
    pub paragraphs: Vec<String>,
    pub links: Vec<Link>,
}

impl Chrome {
    /// A page titled `title`, in the language of `t`.
    pub fn new(state: &AppState, t: &'static Strings, title: &str) -> Self {
        Chrome::branded(&state.config.pages, t, title)
    }

    /// As [`Chrome::new`], from the branding settings alone.
    pub fn branded(pages: &super::PageSettings, t: &'static Strings, title: &str) -> Self {
        Chrome {
            lang: t.lang,
            title: fill(title, &[("product", pages.product_name.trim())]),
            product: pages.product_name.trim().to_string(),
            logo_url: pages.logo_url.clone(),
            stylesheet: STYLESHEET_PATH,
            script: None,
            errors_heading: t.errors_heading,
            errors: Vec::new(),
            paragraphs: Vec::new(),
            links: Vec::new(),
        }
    }

    pub fn paragraph(mut self, text: impl Into<String>) -> Self {
        self.paragraphs.push(text.into());
        self
    }

    pub fn link(mut self, href: impl Into<String>, text: impl Into<String>) -> Self {
        self.links.push(Link::new(href, text));
        self
    }

    pub fn error(mut self, message: impl Into<String>, field: Option<&'static str>) -> Self {
        self.errors.push(Notice {
            message: message.into(),
            field,
        });
        self
    }
}

/// A form field: a labelled input (its hint and error tied to it by `aria-describedby`), or a
/// checkbox.
#[derive(Debug, Clone)]
pub struct Field {
    /// Its name and id.
    pub name: &'static str,
    /// `text`, `email`, `password` or `checkbox`.
    pub kind: &'static str,
    pub label: String,
    /// The value to show (never shown for passwords); `on` checks a checkbox.
    pub value: String,
    pub hint: Option<String>,
    pub error: Option<String>,
    pub autocomplete: &'static str,
    pub inputmode: &'static str,
    pub required: bool,
    pub autofocus: bool,
    /// What must be typed, exactly (trimmed), for the form to be sent: with the script, its
    /// submit button stays disabled until it is (the server checks it either way).
    pub expect: Option<String>,
}

impl Field {
    pub fn new(name: &'static str, kind: &'static str, label: &str) -> Self {
        Field {
            name,
            kind,
            label: label.to_string(),
            value: String::new(),
            hint: None,
            error: None,
            autocomplete: "",
            inputmode: "",
            required: false,
            autofocus: false,
            expect: None,
        }
    }

    pub fn value(mut self, value: impl Into<String>) -> Self {
        self.value = value.into();
        self
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub fn error(mut self, error: Option<String>) -> Self {
        self.error = error;
        self
    }

    pub fn autocomplete(mut self, autocomplete: &'static str) -> Self {
        self.autocomplete = autocomplete;
        self
    }

    pub fn inputmode(mut self, inputmode: &'static str) -> Self {
        self.inputmode = inputmode;
        self
    }

    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }

    pub fn expect(mut self, expect: impl Into<String>) -> Self {
        self.expect = Some(expect.into());
        self
    }

    pub fn autofocus(mut self, autofocus: bool) -> Self {
        self.autofocus = autofocus;
        self
    }

    /// The ids of its hint and error, for `aria-describedby`.
    pub fn described_by(&self) -> String {
        let mut ids = Vec::new();
        if self.hint.is_some() {
            ids.push(format!("{}-hint", self.name));
        }
        if self.error.is_some() {
            ids.push(format!("{}-error", self.name));
        }
        ids.join(" ")
    }
}

/// A page with one form.
#[derive(Template)]
#[template(path = "pages/form.html")]
pub struct FormPage {
    pub chrome: Chrome,
    pub action: String,
    /// Hidden fields (the CSRF token, `return_to`, ...).
    pub hidden: Vec<(&'static str, String)>,
    pub fields: Vec<Field>,
    pub submit: String,
    pub cancel: Option<Link>,
}

/// A page that only says something.
#[derive(Template)]
#[template(path = "pages/message.html")]
pub struct MessagePage {
    pub chrome: Chrome,
}

/// The consent page of an OpenID Connect authorization (filled by its endpoint).
#[derive(Template)]
#[template(path = "pages/consent.html")]
pub struct ConsentPage {
    pub chrome: Chrome,
    /// "{client} is asking to:"
    pub intro: String,
    /// What each requested scope allows, in words.
    pub scopes: Vec<String>,
    /// "You are signed in as {name}."
    pub signed_in_as: String,
    pub action: String,
    /// Hidden fields (the CSRF token and whatever the endpoint needs back).
    pub hidden: Vec<(&'static str, String)>,
    pub allow: String,
    pub deny: String,
}

impl ConsentPage {
    /// The consent page of `client` (its display name) asking `user_name` for `scopes`, in
    /// the language of `t`: each scope in words (an unknown one by its name), a form posting
    /// `decision=allow` or `decision=deny` to `action` with the `hidden` fields (put the CSRF
    /// token among them: [`super::csrf::Csrf`]).
    pub fn new(
        pages: &super::PageSettings,
        t: &'static Strings,
        client: &str,
        scopes: &[&str],
        user_name: &str,
        action: &str,
        hidden: Vec<(&'static str, String)>,
    ) -> Self {
        let scopes = scopes
            .iter()
            .map(|scope| match *scope {
                "openid" => t.scope_openid.to_string(),
                "profile" => t.scope_profile.to_string(),
                "email" => t.scope_email.to_string(),
                "offline_access" => t.scope_offline_access.to_string(),
                "roles" => t.scope_roles.to_string(),
                "groups" => t.scope_groups.to_string(),
                other => fill(t.scope_other, &[("scope", other)]),
            })
            .collect();
        ConsentPage {
            chrome: Chrome::branded(pages, t, t.consent_title),
            intro: fill(t.consent_intro, &[("client", client)]),
            scopes,
            signed_in_as: fill(t.consent_signed_in_as, &[("name", user_name)]),
            action: action.to_string(),
            hidden,
            allow: t.consent_allow.to_string(),
            deny: t.consent_deny.to_string(),
        }
    }
}

/// A rendered page as a response with `status`: HTML, `Cache-Control: no-store`, the
/// pages' Content-Security-Policy, `X-Frame-Options: DENY`.
pub fn respond(state: &AppState, status: StatusCode, page: &impl Template) -> Response {
    respond_with_policy(status, page, &state.config.pages.content_security_policy())
}

/// As [`respond`], for a page that loads Roster's script ([`SCRIPT_PATH`]): the policy also
/// allows `script-src 'self'`.
pub fn respond_scripted(state: &AppState, status: StatusCode, page: &impl Template) -> Response {
    respond_with_policy(status, page, &state.config.pages.content_security_policy_with_script())
}

fn respond_with_policy(status: StatusCode, page: &impl Template, policy: &str) -> Response {
    let html = match page.render() {
        Ok(html) => html,
        Err(error) => {
            tracing::error!(%error, "a page could not be rendered");
            return (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response();
        }
    };
    let mut response = (status, html).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(csp) = HeaderValue::from_str(policy) {
        headers.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    // Never framed (clickjacking), whatever the deployment's API headers say: the policy's
    // `frame-ancestors 'none'`, and this for browsers that know only the older header.
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

/// A message page.
pub fn message(state: &AppState, status: StatusCode, chrome: Chrome) -> Response {
    respond(state, status, &MessagePage { chrome })
}

/// The page of an error no form can help with: the service unavailable (503), or an
/// unexpected failure (500, logged, never shown).
pub fn failure(state: &AppState, t: &'static Strings, error: &Error) -> Response {
    let status = match error {
        Error::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        _ => {
            tracing::error!(%error, "a page failed");
            StatusCode::INTERNAL_SERVER_ERROR
        }
    };
    let body = match error {
        Error::Unavailable => t.error_unavailable,
        _ => t.error_title,
    };
    let mut response = message(state, status, Chrome::new(state, t, t.error_title).paragraph(body));
    if status == StatusCode::SERVICE_UNAVAILABLE {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pages::PageSettings;
    use crate::pages::strings::{DE, EN};

    #[test]
    fn the_consent_page_names_the_client_and_the_scopes_escaped() {
        let page = ConsentPage::new(
            &PageSettings::default(),
            &EN,
            "Chat <script>",
            &["openid", "email", "groups", "x\"y"],
            "Ann",
            "/oauth/consent",
            vec![("csrf", "token-1".into()), ("request", "r1".into())],
        );
        let html = page.render().unwrap();
        let doc = scraper::Html::parse_document(&html);
        let select = |s: &str| scraper::Selector::parse(s).unwrap();
        let text = |s: &str| -> Vec<String> {
            doc.select(&select(s))
                .map(|e| e.text().collect::<String>().trim().to_string())
                .collect()
        };
        assert_eq!(text("h1"), ["Allow access?"]);
        assert!(!html.contains("<script>"), "{html}");
        assert_eq!(
            text(".scopes li"),
            [
                "Know who you are",
                "See your email address",
                "See the groups you belong to",
                "Use the permission \u{201c}x\"y\u{201d}"
            ]
        );
        assert!(text("main p").contains(&"Chat <script> is asking to:".to_string()));
        let form = doc.select(&select("form[action=\"/oauth/consent\"]")).next().unwrap();
        let buttons: Vec<_> = form
            .select(&select("button[name=decision]"))
            .map(|b| b.value().attr("value").unwrap().to_string())
            .collect();
        assert_eq!(buttons, ["allow", "deny"]);
        let hidden: Vec<_> = form
            .select(&select("input[type=hidden]"))
            .map(|i| (i.value().attr("name").unwrap(), i.value().attr("value").unwrap()))
            .collect();
        assert_eq!(hidden, [("csrf", "token-1"), ("request", "r1")]);
        let german = ConsentPage::new(&PageSettings::default(), &DE, "Chat", &["openid"], "Ann", "/c", vec![]);
        assert!(german.render().unwrap().contains("Zugriff erlauben?"));
    }
}
