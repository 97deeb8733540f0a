//! The page of an email verification link: `GET /verify-email?token=...&email=...` asks to
//! confirm (mail scanners open links: opening one uses nothing up), `POST /verify-email`
//! verifies the address through the core's [`roster_core::Core::verify_email`] (the service
//! every dialect's verification uses), and `POST /verify-email/resend` mails a new link
//! through [`roster_core::Core::resend_verification`] (rate limited, the same answer for
//! every address).

use super::csrf::{CSRF_FIELD, Csrf};
use super::links::link_form;
use super::render::{Chrome, Field, FormPage, failure, message};
use super::session::SIGNIN_PATH;
use super::signin::{submitted, throttled};
use super::strings::Strings;
use super::{Lang, PageQuery};
use crate::extract::Meta;
use crate::state::AppState;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use roster_core::Error;
use serde::Deserialize;

/// Path of the verification page (the links `roster create-user` mails lead here).
pub const VERIFY_EMAIL_PATH: &str = "/verify-email";
/// Path of the form that asks for a new verification link.
pub const RESEND_VERIFICATION_PATH: &str = "/verify-email/resend";

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route(VERIFY_EMAIL_PATH, get(verify_page).post(verify_submit))
        .route(RESEND_VERIFICATION_PATH, post(resend_submit))
}

/// The link's query, and the confirmation form's fields.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct VerifyForm {
    token: Option<String>,
    email: Option<String>,
}

/// The confirmation: one button, the link's token and address carried as hidden fields.
fn confirm_form(
    state: &AppState,
    t: &'static Strings,
    csrf: &Csrf,
    status: StatusCode,
    form: &VerifyForm,
    notice: Option<String>,
) -> Response {
    let mut chrome = Chrome::new(state, t, t.verify_email_title).paragraph(t.verify_email_intro);
    if let Some(email) = form.email.as_deref().filter(|e| !e.is_empty()) {
        chrome = chrome.paragraph(email.to_string());
    }
    if let Some(notice) = notice {
        chrome = chrome.error(notice, None);
    }
    let page = FormPage {
        chrome,
        action: VERIFY_EMAIL_PATH.into(),
        hidden: vec![
            (CSRF_FIELD, csrf.token.clone()),
            ("token", form.token.clone().unwrap_or_default()),
            ("email", form.email.clone().unwrap_or_default()),
        ],
        fields: Vec::new(),
        submit: t.verify_email_button.into(),
        cancel: None,
    };
    link_form(state, csrf, status, &page)
}

/// The form that asks for a new link, under `notice` (why: the link failed, or the form's
/// own error).
fn resend_form(
    state: &AppState,
    t: &'static Strings,
    csrf: &Csrf,
    status: StatusCode,
    email: &str,
    notice: (String, Option<&'static str>),
) -> Response {
    let field_error = notice.1.map(|_| notice.0.clone());
    let page = FormPage {
        chrome: Chrome::new(state, t, t.verify_email_title).error(notice.0, notice.1),
        action: RESEND_VERIFICATION_PATH.into(),
        hidden: vec![(CSRF_FIELD, csrf.token.clone())],
        fields: vec![
            Field::new("email", "email", t.email_label)
                .value(email)
                .error(field_error)
                .autocomplete("email")
                .required()
                .autofocus(true),
        ],
        submit: t.resend_verification_button.into(),
        cancel: None,
    };
    link_form(state, csrf, status, &page)
}

/// `GET /verify-email?token=...&email=...`: asks to confirm; uses nothing up. Without a
/// token: the form asking for a new link.
async fn verify_page(
    State(state): State<AppState>,
    Lang(t): Lang,
    headers: HeaderMap,
    PageQuery(query): PageQuery<VerifyForm>,
) -> Response {
    let csrf = Csrf::of(&headers);
    if query.token.as_deref().is_none_or(|t| t.trim().is_empty()) {
        // No token: nothing to confirm; offer a new link.
        let email = query.email.as_deref().unwrap_or_default();
        let notice = (t.link_invalid_body.to_string(), None);
        return resend_form(&state, t, &csrf, StatusCode::NOT_FOUND, email, notice);
    }
    confirm_form(&state, t, &csrf, StatusCode::OK, &query, None)
}

/// `POST /verify-email`: uses the link; on success says so, otherwise says the link is
/// expired or used and offers a new one.
async fn verify_submit(State(state): State<AppState>, Lang(t): Lang, headers: HeaderMap, body: Bytes) -> Response {
    let (form, checked) = submitted::<VerifyForm>(&state, t, &headers, &body);
    let csrf = match checked {
        Ok(csrf) => csrf,
        Err(refused) => {
            let notice = Some(refused.notice.into());
            return confirm_form(&state, t, &refused.csrf, refused.status, &form, notice);
        }
    };
    let token = form.token.as_deref().unwrap_or_default();
    match state.core.verify_email(token, form.email.as_deref(), None).await {
        Ok(_) => {
            let chrome = Chrome::new(&state, t, t.verify_email_title)
                .paragraph(t.email_verified_body)
                .link(SIGNIN_PATH, t.sign_in_title);
            message(&state, StatusCode::OK, chrome)
        }
        Err(Error::Invalid { .. } | Error::NotFound(_)) => resend_form(
            &state,
            t,
            &csrf,
            StatusCode::NOT_FOUND,
            form.email.as_deref().unwrap_or_default(),
            (t.verify_email_failed_body.into(), None),
        ),
        Err(error) => failure(&state, t, &error),
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ResendForm {
    email: Option<String>,
}

/// `POST /verify-email/resend`: mails a new link to an address that has an account still
/// to verify; the same answer for every address.
async fn resend_submit(
    State(state): State<AppState>,
    Lang(t): Lang,
    Meta(meta): Meta,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (form, checked) = submitted::<ResendForm>(&state, t, &headers, &body);
    let email = form.email.unwrap_or_default().trim().to_string();
    let csrf = match checked {
        Ok(csrf) => csrf,
        Err(refused) => {
            let notice = (refused.notice.to_string(), None);
            return resend_form(&state, t, &refused.csrf, refused.status, &email, notice);
        }
    };
    match state.core.resend_verification(&email, &meta, VERIFY_EMAIL_PATH).await {
        Ok(()) => {
            let chrome = Chrome::new(&state, t, t.verify_email_title).paragraph(t.verification_resent_body);
            message(&state, StatusCode::OK, chrome)
        }
        Err(Error::Invalid { .. }) => {
            let notice = (t.error_email_invalid.to_string(), Some("email"));
            resend_form(&state, t, &csrf, StatusCode::UNPROCESSABLE_ENTITY, &email, notice)
        }
        Err(Error::RateLimited { retry_after }) => throttled(retry_after, t, |notice| {
            resend_form(&state, t, &csrf, StatusCode::TOO_MANY_REQUESTS, &email, (notice, None))
        }),
        Err(error) => failure(&state, t, &error),
    }
}
