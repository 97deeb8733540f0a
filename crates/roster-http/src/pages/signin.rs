//! Signing in and out: `GET/POST /signin`, `GET/POST /signin/second-factor`,
//! `GET/POST /signout`. The rules are the core's ([`roster_core::Core::browser_sign_in`] and
//! the rest); these handlers render the forms and their errors.

use super::csrf::{CSRF_FIELD, Csrf};
use super::render::{Chrome, Field, FormPage, message, respond};
use super::session::{
    CHALLENGE_COOKIE, CurrentSession, SIGNIN_PATH, SignInRequest, clear_session_cookie, safe_return_to, secure_cookies,
    see_other, session_cookie,
};
use super::strings::{Strings, fill};
use super::{Lang, PageQuery, read_form};
use crate::cookie::{self, SameSite, SetCookie};
use crate::extract::Meta;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use roster_core::Error;
use roster_core::service::{BrowserSession, BrowserSessionStarted};
use roster_core::service::{BrowserSignIn, SecondFactor};
use serde::Deserialize;
use serde::de::DeserializeOwned;

/// Path of the second step.
pub const SECOND_FACTOR_PATH: &str = "/signin/second-factor";
/// Path of sign-out.
pub const SIGNOUT_PATH: &str = "/signout";

/// The sign-in page's query.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct SignInQuery {
    return_to: Option<String>,
    prompt: Option<String>,
    login_hint: Option<String>,
}

impl SignInQuery {
    fn request(&self) -> SignInRequest {
        SignInRequest {
            return_to: self.return_to.as_deref().and_then(safe_return_to),
            force: self.prompt.as_deref() == Some("login"),
            login_hint: self.login_hint.clone(),
        }
    }
}

/// The sign-in form's fields.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct SignInForm {
    return_to: Option<String>,
    identifier: Option<String>,
    password: Option<String>,
}

/// A page with a form as a response, with the CSRF cookie when its token is new.
pub(crate) fn form_response(
    state: &AppState,
    csrf: &Csrf,
    status: StatusCode,
    page: &impl askama::Template,
) -> Response {
    let mut response = respond(state, status, page);
    csrf.set_on(state, &mut response);
    response
}

/// Why a posted form was not taken: it could not be read (400), or its CSRF check failed
/// (403, with a fresh token for the form shown again).
pub(super) struct Refused {
    pub status: StatusCode,
    pub notice: &'static str,
    pub csrf: Csrf,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct CsrfField {
    csrf: Option<String>,
}

/// Reads a posted form (its default when it cannot be read) and checks its CSRF token: Ok
/// with the token to render the next form with, or why it was refused.
pub(super) fn submitted<T: DeserializeOwned + Default>(
    state: &AppState,
    t: &'static Strings,
    headers: &HeaderMap,
    body: &[u8],
) -> (T, Result<Csrf, Refused>) {
    let Some(form) = read_form::<T>(headers, body) else {
        let refused = Refused {
            status: StatusCode::BAD_REQUEST,
            notice: t.error_bad_request,
            csrf: Csrf::of(headers),
        };
        return (T::default(), Err(refused));
    };
    let token = read_form::<CsrfField>(headers, body).and_then(|f| f.csrf);
    if !Csrf::verify(state, headers, token.as_deref()) {
        let refused = Refused {
            status: StatusCode::FORBIDDEN,
            notice: t.error_form_expired,
            csrf: Csrf::fresh(),
        };
        return (form, Err(refused));
    }
    (form, Ok(Csrf::of(headers)))
}

/// A throttled answer: `render` gets the message in words; the answer gets `Retry-After`.
pub(super) fn throttled(
    wait: std::time::Duration,
    t: &'static Strings,
    render: impl FnOnce(String) -> Response,
) -> Response {
    let seconds = (wait.as_secs_f64().ceil() as i64).max(1);
    let mut response = render(fill(t.error_throttled, &[("seconds", &seconds.to_string())]));
    if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

/// A finished sign-in: the browser session this browser had before ends, the new one's
/// cookie is set, and the browser goes on to `return_to`.
async fn signed_in(
    state: &AppState,
    previous: Option<BrowserSession>,
    started: &BrowserSessionStarted,
    return_to: Option<&str>,
) -> Response {
    if let Some(previous) = previous
        && let Err(error) = state.core.end_browser_session(&previous, false).await
    {
        tracing::warn!(%error, "the replaced browser session could not be ended");
    }
    let mut response = after_sign_in(return_to);
    session_cookie(state, started).append_to(&mut response);
    response
}

/// What the sign-in form shows besides its fields.
#[derive(Default)]
struct SignInView {
    return_to: Option<String>,
    identifier: String,
    identifier_error: Option<String>,
    password_error: Option<String>,
    notice: Option<String>,
}

fn signin_form(state: &AppState, t: &'static Strings, csrf: &Csrf, status: StatusCode, view: SignInView) -> Response {
    let mut chrome = Chrome::new(state, t, t.sign_in_heading);
    for (error, field) in [
        (&view.identifier_error, Some("identifier")),
        (&view.password_error, Some("password")),
        (&view.notice, None),
    ] {
        if let Some(error) = error {
            chrome = chrome.error(error.clone(), field);
        }
    }
    let focus_password = view.identifier_error.is_none() && !view.identifier.is_empty();
    let page = FormPage {
        chrome,
        action: SIGNIN_PATH.into(),
        hidden: vec![
            (CSRF_FIELD, csrf.token.clone()),
            ("return_to", view.return_to.clone().unwrap_or_default()),
        ],
        fields: vec![
            Field::new("identifier", "text", t.identifier_label)
                .value(view.identifier.clone())
                .error(view.identifier_error.clone())
                .autocomplete("username")
                .required()
                .autofocus(!focus_password),
            Field::new("password", "password", t.password_label)
                .error(view.password_error.clone())
                .autocomplete("current-password")
                .required()
                .autofocus(focus_password),
        ],
        submit: t.sign_in_button.into(),
        cancel: None,
    };
    form_response(state, csrf, status, &page)
}

/// Where a signed-in browser goes: `return_to`, else the sign-in page (which then says who
/// is signed in).
fn after_sign_in(return_to: Option<&str>) -> Response {
    see_other(return_to.and_then(safe_return_to).as_deref().unwrap_or(SIGNIN_PATH))
}

/// `GET /signin`: the form; a browser already signed in goes on to `return_to` (or sees who
/// it is signed in as), unless `prompt=login` asks to sign in again.
pub(super) async fn signin_page(
    State(state): State<AppState>,
    Lang(t): Lang,
    headers: HeaderMap,
    CurrentSession(session): CurrentSession,
    PageQuery(query): PageQuery<SignInQuery>,
) -> Response {
    let request = query.request();
    if let Some(session) = session.filter(|_| !request.force) {
        if request.return_to.is_some() {
            return after_sign_in(request.return_to.as_deref());
        }
        let name = session
            .user
            .name
            .clone()
            .or_else(|| session.user.username.clone())
            .or_else(|| session.user.email.as_ref().map(|e| e.to_string()))
            .unwrap_or_else(|| session.user.id.to_string());
        let forced = SignInRequest {
            force: true,
            ..Default::default()
        };
        let chrome = Chrome::new(&state, t, t.signed_in_title)
            .paragraph(fill(t.signed_in_body, &[("name", &name)]))
            .link(SIGNOUT_PATH, t.sign_out_title)
            .link(forced.url(), t.sign_in_as_someone_else);
        return message(&state, StatusCode::OK, chrome);
    }
    let view = SignInView {
        return_to: request.return_to,
        identifier: request.login_hint.unwrap_or_default(),
        ..Default::default()
    };
    signin_form(&state, t, &Csrf::of(&headers), StatusCode::OK, view)
}

/// The page for an account that may not sign in (pending, deactivated, banned), or None.
fn account_refusal(state: &AppState, t: &'static Strings, error: &Error) -> Option<Response> {
    let chrome = match error {
        Error::AccountPending => Chrome::new(state, t, t.pending_title).paragraph(t.pending_body),
        Error::AccountDisabled => Chrome::new(state, t, t.disabled_title).paragraph(t.disabled_body),
        Error::Banned { until } => {
            let body = if until.year() >= 9999 {
                t.banned_body_permanent.to_string()
            } else {
                let until = until
                    .format(&time::format_description::well_known::Rfc2822)
                    .unwrap_or_else(|_| until.to_string());
                fill(t.banned_body, &[("until", &until)])
            };
            Chrome::new(state, t, t.banned_title).paragraph(body)
        }
        _ => return None,
    };
    Some(message(state, StatusCode::FORBIDDEN, chrome))
}

/// `POST /signin`.
pub(super) async fn signin_submit(
    State(state): State<AppState>,
    Lang(t): Lang,
    Meta(meta): Meta,
    headers: HeaderMap,
    CurrentSession(previous): CurrentSession,
    body: Bytes,
) -> Response {
    let (form, checked) = submitted::<SignInForm>(&state, t, &headers, &body);
    let return_to = form.return_to.as_deref().and_then(safe_return_to);
    let identifier = form.identifier.unwrap_or_default().trim().to_string();
    let password = form.password.unwrap_or_default();
    let mut view = SignInView {
        return_to: return_to.clone(),
        identifier: identifier.clone(),
        ..Default::default()
    };
    let csrf = match checked {
        Ok(csrf) => csrf,
        Err(refused) => {
            view.notice = Some(refused.notice.into());
            return signin_form(&state, t, &refused.csrf, refused.status, view);
        }
    };
    if identifier.is_empty() || password.is_empty() {
        view.identifier_error = identifier.is_empty().then(|| t.error_identifier_missing.into());
        view.password_error = password.is_empty().then(|| t.error_password_missing.into());
        return signin_form(&state, t, &csrf, StatusCode::UNPROCESSABLE_ENTITY, view);
    }
    match state.core.browser_sign_in(&identifier, &password, &meta).await {
        Ok(BrowserSignIn::SignedIn(started)) => signed_in(&state, previous, &started, return_to.as_deref()).await,
        Ok(BrowserSignIn::SecondFactor { challenge, expires_in }) => {
            let mut next = String::from(SECOND_FACTOR_PATH);
            if let Some(to) = &return_to {
                next.push('?');
                next.push_str(
                    &form_urlencoded::Serializer::new(String::new())
                        .append_pair("return_to", to)
                        .finish(),
                );
            }
            let mut response = see_other(&next);
            SetCookie::new(CHALLENGE_COOKIE, challenge, SameSite::Lax)
                .secure(secure_cookies(&state))
                .max_age(expires_in)
                .append_to(&mut response);
            response
        }
        Err(Error::InvalidCredentials) => {
            view.notice = Some(t.error_invalid_credentials.into());
            signin_form(&state, t, &csrf, StatusCode::UNAUTHORIZED, view)
        }
        Err(Error::EmailNotVerified) => {
            view.notice = Some(t.error_email_not_verified.into());
            signin_form(&state, t, &csrf, StatusCode::FORBIDDEN, view)
        }
        Err(Error::RateLimited { retry_after }) => throttled(retry_after, t, |notice| {
            view.notice = Some(notice);
            signin_form(&state, t, &csrf, StatusCode::TOO_MANY_REQUESTS, view)
        }),
        Err(Error::Invalid { field, .. }) => {
            // Only a login or password the core will not read gets here (too long, ...).
            if field == "password" {
                view.password_error = Some(t.error_invalid_credentials.into());
            } else {
                view.identifier_error = Some(t.error_invalid_credentials.into());
            }
            signin_form(&state, t, &csrf, StatusCode::UNPROCESSABLE_ENTITY, view)
        }
        Err(error) => account_refusal(&state, t, &error).unwrap_or_else(|| super::render::failure(&state, t, &error)),
    }
}

/// The second step's query.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct ReturnQuery {
    return_to: Option<String>,
}

/// The second step's form.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct SecondFactorForm {
    return_to: Option<String>,
    code: Option<String>,
}

fn second_factor_form(
    state: &AppState,
    t: &'static Strings,
    csrf: &Csrf,
    status: StatusCode,
    return_to: Option<&str>,
    error: Option<String>,
    notice: Option<String>,
) -> Response {
    let mut chrome = Chrome::new(state, t, t.second_factor_title).paragraph(t.second_factor_intro);
    if let Some(error) = &error {
        chrome = chrome.error(error.clone(), Some("code"));
    }
    if let Some(notice) = notice {
        chrome = chrome.error(notice, None);
    }
    let restart = SignInRequest {
        return_to: return_to.map(str::to_string),
        ..Default::default()
    };
    let page = FormPage {
        chrome: chrome.link(restart.url(), t.start_over),
        action: SECOND_FACTOR_PATH.into(),
        hidden: vec![
            (CSRF_FIELD, csrf.token.clone()),
            ("return_to", return_to.unwrap_or_default().to_string()),
        ],
        fields: vec![
            Field::new("code", "text", t.code_label)
                .hint(t.code_hint)
                .error(error)
                .autocomplete("one-time-code")
                .required()
                .autofocus(true),
        ],
        submit: t.verify_button.into(),
        cancel: None,
    };
    form_response(state, csrf, status, &page)
}

/// A TOTP code is six digits (spaces ignored); anything else is taken as a backup code.
pub(super) fn second_factor(code: &str) -> SecondFactor {
    let digits: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if digits.len() == 6 && digits.bytes().all(|b| b.is_ascii_digit()) {
        SecondFactor::Code(digits)
    } else {
        SecondFactor::BackupCode(code.trim().to_string())
    }
}

fn clear_challenge(state: &AppState, response: &mut Response) {
    SetCookie::removal(CHALLENGE_COOKIE, SameSite::Lax)
        .secure(secure_cookies(state))
        .append_to(response);
}

/// The page for a challenge that is gone (expired, used up, never there).
fn challenge_expired(state: &AppState, t: &'static Strings, return_to: Option<&str>) -> Response {
    let restart = SignInRequest {
        return_to: return_to.map(str::to_string),
        ..Default::default()
    };
    let chrome = Chrome::new(state, t, t.second_factor_title)
        .error(t.error_challenge_expired, None)
        .link(restart.url(), t.start_over);
    let mut response = message(state, StatusCode::UNAUTHORIZED, chrome);
    clear_challenge(state, &mut response);
    response
}

/// `GET /signin/second-factor`.
pub(super) async fn second_factor_page(
    State(state): State<AppState>,
    Lang(t): Lang,
    headers: HeaderMap,
    PageQuery(query): PageQuery<ReturnQuery>,
) -> Response {
    let return_to = query.return_to.as_deref().and_then(safe_return_to);
    if cookie::get(&headers, CHALLENGE_COOKIE).is_none() {
        return challenge_expired(&state, t, return_to.as_deref());
    }
    second_factor_form(
        &state,
        t,
        &Csrf::of(&headers),
        StatusCode::OK,
        return_to.as_deref(),
        None,
        None,
    )
}

/// `POST /signin/second-factor`.
pub(super) async fn second_factor_submit(
    State(state): State<AppState>,
    Lang(t): Lang,
    Meta(meta): Meta,
    headers: HeaderMap,
    CurrentSession(previous): CurrentSession,
    body: Bytes,
) -> Response {
    let (form, checked) = submitted::<SecondFactorForm>(&state, t, &headers, &body);
    let return_to = form.return_to.as_deref().and_then(safe_return_to);
    let show = |csrf: &Csrf, status: StatusCode, error: Option<&str>, notice: Option<String>| {
        let error = error.map(str::to_string);
        second_factor_form(&state, t, csrf, status, return_to.as_deref(), error, notice)
    };
    let csrf = match checked {
        Ok(csrf) => csrf,
        Err(refused) => return show(&refused.csrf, refused.status, None, Some(refused.notice.into())),
    };
    let Some(challenge) = cookie::get(&headers, CHALLENGE_COOKIE) else {
        return challenge_expired(&state, t, return_to.as_deref());
    };
    let code = form.code.unwrap_or_default();
    if code.trim().is_empty() {
        return show(
            &csrf,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(t.error_code_missing),
            None,
        );
    }
    match state
        .core
        .complete_browser_two_factor(&challenge, &second_factor(&code), &meta)
        .await
    {
        Ok(started) => {
            let mut response = signed_in(&state, previous, &started, return_to.as_deref()).await;
            clear_challenge(&state, &mut response);
            response
        }
        Err(Error::InvalidTwoFactorCode) => show(&csrf, StatusCode::UNAUTHORIZED, Some(t.error_code_invalid), None),
        Err(Error::InvalidToken | Error::Invalid { .. }) => challenge_expired(&state, t, return_to.as_deref()),
        Err(Error::RateLimited { retry_after }) => throttled(retry_after, t, |notice| {
            show(&csrf, StatusCode::TOO_MANY_REQUESTS, None, Some(notice))
        }),
        Err(error) => {
            let mut response =
                account_refusal(&state, t, &error).unwrap_or_else(|| super::render::failure(&state, t, &error));
            if response.status() == StatusCode::FORBIDDEN {
                clear_challenge(&state, &mut response);
            }
            response
        }
    }
}

/// The sign-out form.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct SignOutForm {
    everywhere: Option<String>,
    return_to: Option<String>,
}

fn signout_form(
    state: &AppState,
    t: &'static Strings,
    csrf: &Csrf,
    status: StatusCode,
    return_to: Option<&str>,
    notice: Option<String>,
) -> Response {
    let mut chrome = Chrome::new(state, t, t.sign_out_title);
    if let Some(notice) = notice {
        chrome = chrome.error(notice, None);
    }
    let product = state.config.pages.product_name.trim().to_string();
    let page = FormPage {
        chrome: chrome.paragraph(fill(t.sign_out_question, &[("product", &product)])),
        action: SIGNOUT_PATH.into(),
        hidden: vec![
            (CSRF_FIELD, csrf.token.clone()),
            ("return_to", return_to.unwrap_or_default().to_string()),
        ],
        fields: vec![Field::new("everywhere", "checkbox", t.sign_out_everywhere_label)],
        submit: t.sign_out_button.into(),
        cancel: Some(super::render::Link::new(
            return_to.unwrap_or(SIGNIN_PATH).to_string(),
            t.cancel,
        )),
    };
    form_response(state, csrf, status, &page)
}

/// `GET /signout`: asks to confirm (a link alone never signs anyone out).
pub(super) async fn signout_page(
    State(state): State<AppState>,
    Lang(t): Lang,
    headers: HeaderMap,
    CurrentSession(session): CurrentSession,
    PageQuery(query): PageQuery<ReturnQuery>,
) -> Response {
    let return_to = query.return_to.as_deref().and_then(safe_return_to);
    if session.is_none() {
        let chrome = Chrome::new(&state, t, t.sign_out_title)
            .paragraph(t.not_signed_in_body)
            .link(SIGNIN_PATH, t.sign_in_title);
        return message(&state, StatusCode::OK, chrome);
    }
    signout_form(
        &state,
        t,
        &Csrf::of(&headers),
        StatusCode::OK,
        return_to.as_deref(),
        None,
    )
}

/// `POST /signout`: ends the browser session, or with `everywhere` every session of the user.
pub(super) async fn signout_submit(
    State(state): State<AppState>,
    Lang(t): Lang,
    headers: HeaderMap,
    CurrentSession(session): CurrentSession,
    body: Bytes,
) -> Response {
    let (form, checked) = submitted::<SignOutForm>(&state, t, &headers, &body);
    let return_to = form.return_to.as_deref().and_then(safe_return_to);
    if let Err(refused) = checked {
        let notice = Some(refused.notice.into());
        return signout_form(&state, t, &refused.csrf, refused.status, return_to.as_deref(), notice);
    }
    let everywhere = form.everywhere.as_deref() == Some("on");
    if let Some(session) = &session
        && let Err(error) = state.core.end_browser_session(session, everywhere).await
    {
        return super::render::failure(&state, t, &error);
    }
    let mut response = match &return_to {
        Some(to) => see_other(to),
        None => {
            let body = if everywhere && session.is_some() {
                t.signed_out_everywhere_body
            } else {
                t.signed_out_body
            };
            let chrome = Chrome::new(&state, t, t.signed_out_title)
                .paragraph(body)
                .link(SIGNIN_PATH, t.sign_in_again);
            message(&state, StatusCode::OK, chrome)
        }
    };
    clear_session_cookie(&state).append_to(&mut response);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn six_digits_are_a_code_anything_else_a_backup_code() {
        assert_eq!(second_factor("123456"), SecondFactor::Code("123456".into()));
        assert_eq!(second_factor(" 123 456 "), SecondFactor::Code("123456".into()));
        assert_eq!(
            second_factor("ABCD-EFGH-JKLM"),
            SecondFactor::BackupCode("ABCD-EFGH-JKLM".into())
        );
        assert_eq!(second_factor("1234567"), SecondFactor::BackupCode("1234567".into()));
    }
}
