//! The pages Roster's links lead to: `GET/POST /reset-password?token=...` (a password-reset
//! link: the command line's, and LibreChat's when its dialect is at the root) and
//! `GET/POST /register?token=...` (an invitation). Neither link is used up by opening it: only
//! the form's POST uses it (mail scanners open links).

use super::csrf::{CSRF_FIELD, Csrf};
use super::render::{Chrome, Field, FormPage, failure, message};
use super::session::{SIGNIN_PATH, SignInRequest, clear_session_cookie};
use super::signin::form_response;
use super::strings::{Strings, fill};
use super::{Lang, PageQuery, read_form};
use crate::extract::Meta;
use crate::state::AppState;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use axum::routing::get;
use roster_core::Error;
use roster_core::service::Registration;
use serde::Deserialize;

/// Path of the password-reset page.
pub const RESET_PASSWORD_PATH: &str = "/reset-password";
/// Path of the invitation page.
pub const REGISTER_PATH: &str = "/register";

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route(RESET_PASSWORD_PATH, get(reset_page).post(reset_submit))
        .route(REGISTER_PATH, get(invitation_page).post(invitation_submit))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct TokenQuery {
    token: Option<String>,
}

/// The page of a link that cannot be used.
fn link_invalid(state: &AppState, t: &'static Strings, title: &str) -> Response {
    message(
        state,
        StatusCode::NOT_FOUND,
        Chrome::new(state, t, title).error(t.link_invalid_body, None),
    )
}

/// A password's error in words, from the core's rule (its length).
fn password_error(state: &AppState, t: &'static Strings, password: &str) -> String {
    if password.chars().count() > 128 {
        t.error_password_too_long.to_string()
    } else {
        let min = state.core.config.min_password_length.to_string();
        fill(t.error_password_too_short, &[("min", &min)])
    }
}

/// The two password fields of a form that sets one.
fn new_password_fields(
    state: &AppState,
    t: &'static Strings,
    password_error: Option<String>,
    confirm_error: Option<String>,
    autofocus: bool,
) -> [Field; 2] {
    let min = state.core.config.min_password_length.to_string();
    [
        Field::new("password", "password", t.new_password_label)
            .hint(fill(t.new_password_hint, &[("min", &min)]))
            .error(password_error)
            .autocomplete("new-password")
            .required()
            .autofocus(autofocus),
        Field::new("confirm_password", "password", t.confirm_password_label)
            .error(confirm_error)
            .autocomplete("new-password")
            .required(),
    ]
}

/// A form page of a link as a response: the link's token is in the URL, so it must not travel
/// on in a Referer.
pub(super) fn link_form(state: &AppState, csrf: &Csrf, status: StatusCode, page: &FormPage) -> Response {
    let mut response = form_response(state, csrf, status, page);
    response
        .headers_mut()
        .insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}

fn reset_form(
    state: &AppState,
    t: &'static Strings,
    csrf: &Csrf,
    status: StatusCode,
    token: &str,
    errors: (Option<String>, Option<String>),
    notice: Option<String>,
) -> Response {
    let mut chrome = Chrome::new(state, t, t.reset_password_title);
    if let Some(e) = &errors.0 {
        chrome = chrome.error(e.clone(), Some("password"));
    }
    if let Some(e) = &errors.1 {
        chrome = chrome.error(e.clone(), Some("confirm_password"));
    }
    if let Some(notice) = notice {
        chrome = chrome.error(notice, None);
    }
    let page = FormPage {
        chrome,
        action: RESET_PASSWORD_PATH.into(),
        hidden: vec![(CSRF_FIELD, csrf.token.clone()), ("token", token.to_string())],
        fields: new_password_fields(state, t, errors.0, errors.1, true).to_vec(),
        submit: t.reset_password_button.into(),
        cancel: None,
    };
    link_form(state, csrf, status, &page)
}

/// `GET /reset-password?token=...`: the form, if the link can still be used.
async fn reset_page(
    State(state): State<AppState>,
    Lang(t): Lang,
    headers: HeaderMap,
    PageQuery(query): PageQuery<TokenQuery>,
) -> Response {
    let token = query.token.unwrap_or_default();
    match state.core.password_reset_link_usable(&token).await {
        Ok(true) => reset_form(
            &state,
            t,
            &Csrf::of(&headers),
            StatusCode::OK,
            &token,
            (None, None),
            None,
        ),
        Ok(false) => link_invalid(&state, t, t.reset_password_title),
        Err(error) => failure(&state, t, &error),
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ResetForm {
    csrf: Option<String>,
    token: Option<String>,
    password: Option<String>,
    confirm_password: Option<String>,
}

/// `POST /reset-password`: sets the password; every session of the user ends (this browser's
/// too), as with every reset by link.
async fn reset_submit(State(state): State<AppState>, Lang(t): Lang, headers: HeaderMap, body: Bytes) -> Response {
    let Some(form) = read_form::<ResetForm>(&headers, &body) else {
        return link_invalid(&state, t, t.reset_password_title);
    };
    let token = form.token.unwrap_or_default();
    if !Csrf::verify(&state, &headers, form.csrf.as_deref()) {
        return reset_form(
            &state,
            t,
            &Csrf::fresh(),
            StatusCode::FORBIDDEN,
            &token,
            (None, None),
            Some(t.error_form_expired.into()),
        );
    }
    let csrf = Csrf::of(&headers);
    let password = form.password.unwrap_or_default();
    let confirm = form.confirm_password.unwrap_or_default();
    if password != confirm {
        return reset_form(
            &state,
            t,
            &csrf,
            StatusCode::UNPROCESSABLE_ENTITY,
            &token,
            (None, Some(t.error_password_mismatch.into())),
            None,
        );
    }
    match state
        .core
        .reset_password_confirmed(&token, &password, Some(&confirm), None)
        .await
    {
        Ok(_) => {
            let chrome = Chrome::new(&state, t, t.reset_password_title)
                .paragraph(t.password_changed_body)
                .link(SIGNIN_PATH, t.sign_in_title);
            let mut response = message(&state, StatusCode::OK, chrome);
            clear_session_cookie(&state).append_to(&mut response);
            response
        }
        Err(Error::Invalid {
            field: "new_password" | "password",
            ..
        }) => reset_form(
            &state,
            t,
            &csrf,
            StatusCode::UNPROCESSABLE_ENTITY,
            &token,
            (Some(password_error(&state, t, &password)), None),
            None,
        ),
        Err(Error::Invalid { .. }) | Err(Error::NotFound(_)) => link_invalid(&state, t, t.reset_password_title),
        Err(error) => failure(&state, t, &error),
    }
}

/// What the invitation form shows.
#[derive(Default)]
struct InvitationView {
    email: String,
    name: String,
    username: String,
    email_error: Option<String>,
    name_error: Option<String>,
    username_error: Option<String>,
    password_error: Option<String>,
    confirm_error: Option<String>,
    notice: Option<String>,
}

fn invitation_form(
    state: &AppState,
    t: &'static Strings,
    csrf: &Csrf,
    status: StatusCode,
    token: &str,
    view: InvitationView,
) -> Response {
    let product = state.config.pages.product_name.trim().to_string();
    let mut chrome =
        Chrome::new(state, t, t.invitation_title).paragraph(fill(t.invitation_intro, &[("product", &product)]));
    for (error, field) in [
        (&view.email_error, "email"),
        (&view.name_error, "name"),
        (&view.username_error, "username"),
        (&view.password_error, "password"),
        (&view.confirm_error, "confirm_password"),
    ] {
        if let Some(error) = error {
            chrome = chrome.error(error.clone(), Some(field));
        }
    }
    if let Some(notice) = view.notice {
        chrome = chrome.error(notice, None);
    }
    let optional = |label: &str| format!("{label} ({})", t.optional);
    let mut fields = vec![
        Field::new("email", "email", t.email_label)
            .value(view.email)
            .error(view.email_error)
            .autocomplete("email")
            .required()
            .autofocus(true),
        Field::new("name", "text", &optional(t.name_label))
            .value(view.name)
            .error(view.name_error)
            .autocomplete("name"),
        Field::new("username", "text", &optional(t.username_label))
            .value(view.username)
            .error(view.username_error)
            .autocomplete("username"),
    ];
    fields.extend(new_password_fields(
        state,
        t,
        view.password_error,
        view.confirm_error,
        false,
    ));
    let page = FormPage {
        chrome,
        action: REGISTER_PATH.into(),
        hidden: vec![(CSRF_FIELD, csrf.token.clone()), ("token", token.to_string())],
        fields,
        submit: t.create_account_button.into(),
        cancel: None,
    };
    link_form(state, csrf, status, &page)
}

/// `GET /register?token=...`: the form, with the invited address filled in.
async fn invitation_page(
    State(state): State<AppState>,
    Lang(t): Lang,
    headers: HeaderMap,
    PageQuery(query): PageQuery<TokenQuery>,
) -> Response {
    let token = query.token.unwrap_or_default();
    match state.core.invitation_email(&token).await {
        Ok(Some(email)) => {
            let view = InvitationView {
                email,
                ..Default::default()
            };
            invitation_form(&state, t, &Csrf::of(&headers), StatusCode::OK, &token, view)
        }
        Ok(None) => link_invalid(&state, t, t.invitation_title),
        Err(error) => failure(&state, t, &error),
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct InvitationForm {
    csrf: Option<String>,
    token: Option<String>,
    email: Option<String>,
    name: Option<String>,
    username: Option<String>,
    password: Option<String>,
    confirm_password: Option<String>,
}

/// `POST /register`: creates the account with the invited role (the core's rules), then sends
/// the new user to sign in.
async fn invitation_submit(
    State(state): State<AppState>,
    Lang(t): Lang,
    Meta(meta): Meta,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(form) = read_form::<InvitationForm>(&headers, &body) else {
        return link_invalid(&state, t, t.invitation_title);
    };
    let token = form.token.unwrap_or_default();
    let password = form.password.unwrap_or_default();
    let confirm = form.confirm_password.unwrap_or_default();
    let mut view = InvitationView {
        email: form.email.unwrap_or_default().trim().to_string(),
        name: form.name.unwrap_or_default().trim().to_string(),
        username: form.username.unwrap_or_default().trim().to_string(),
        ..Default::default()
    };
    if !Csrf::verify(&state, &headers, form.csrf.as_deref()) {
        view.notice = Some(t.error_form_expired.into());
        return invitation_form(&state, t, &Csrf::fresh(), StatusCode::FORBIDDEN, &token, view);
    }
    let csrf = Csrf::of(&headers);
    if password != confirm {
        view.confirm_error = Some(t.error_password_mismatch.into());
        return invitation_form(&state, t, &csrf, StatusCode::UNPROCESSABLE_ENTITY, &token, view);
    }
    match state.core.invitation_email(&token).await {
        Ok(Some(invited)) if invited.eq_ignore_ascii_case(&view.email) => {}
        Ok(Some(_)) => {
            view.email_error = Some(t.error_email_not_invited.into());
            return invitation_form(&state, t, &csrf, StatusCode::UNPROCESSABLE_ENTITY, &token, view);
        }
        Ok(None) => return link_invalid(&state, t, t.invitation_title),
        Err(error) => return failure(&state, t, &error),
    }
    let registration = Registration {
        email: Some(view.email.clone()),
        username: Some(view.username.clone()).filter(|u| !u.is_empty()),
        name: Some(view.name.clone()).filter(|n| !n.is_empty()),
        password: password.clone(),
        preferences: None,
    };
    match state.core.accept_invitation(registration, &token, &meta).await {
        Ok(user) => {
            let body = if user.ensure_may_sign_in().is_ok() {
                t.account_created_body
            } else {
                t.account_created_pending_body
            };
            let signin = SignInRequest {
                login_hint: Some(view.email),
                ..Default::default()
            };
            let chrome = Chrome::new(&state, t, t.invitation_title)
                .paragraph(body)
                .link(signin.url(), t.sign_in_title);
            message(&state, StatusCode::CREATED, chrome)
        }
        Err(Error::Invalid {
            field: "invite_token", ..
        }) => link_invalid(&state, t, t.invitation_title),
        Err(error) => {
            let status = match &error {
                Error::Conflict { .. } => StatusCode::CONFLICT,
                Error::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
                _ => StatusCode::UNPROCESSABLE_ENTITY,
            };
            match error {
                Error::Conflict { field: "email" } => view.email_error = Some(t.error_email_taken.into()),
                Error::Conflict { .. } => view.username_error = Some(t.error_username_taken.into()),
                Error::Invalid { field: "email", .. } => view.email_error = Some(t.error_email_invalid.into()),
                Error::Invalid { field: "username", .. } => view.username_error = Some(t.error_username_invalid.into()),
                Error::Invalid { field: "name", .. } => view.name_error = Some(t.error_name_invalid.into()),
                Error::Invalid { field: "password", .. } => {
                    view.password_error = Some(password_error(&state, t, &password))
                }
                Error::RateLimited { retry_after } => {
                    let seconds = (retry_after.as_secs_f64().ceil() as i64).max(1).to_string();
                    view.notice = Some(fill(t.error_throttled, &[("seconds", &seconds)]));
                }
                error => return failure(&state, t, &error),
            }
            invitation_form(&state, t, &csrf, status, &token, view)
        }
    }
}
