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
    pub errors_heading: &'static str,
    pub errors: Vec<Notice>,
    pub paragraphs: Vec<String>,
    pub links: Vec<Link>,
}

impl Chrome {
    /// A page titled `title`, in the language of `t`.
    pub fn new(state: &AppState, t: &'static Strings, title: &str) -> Self {
        let pages = &state.config.pages;
        Chrome {
            lang: t.lang,
            title: fill(title, &[("product", pages.product_name.trim())]),
            product: pages.product_name.trim().to_string(),
            logo_url: pages.logo_url.clone(),
            stylesheet: STYLESHEET_PATH,
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

/// A rendered page as a response with `status`: HTML, `Cache-Control: no-store`, the
/// pages' Content-Security-Policy.
pub fn respond(state: &AppState, status: StatusCode, page: &impl Template) -> Response {
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
    if let Ok(csp) = HeaderValue::from_str(&state.config.pages.content_security_policy()) {
        headers.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
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
