//! What the provider shows in the browser (through the sign-in pages' templates, strings and
//! CSRF protection), and who is signed in there (the browser session).

use crate::pages::csrf::{CSRF_FIELD, Csrf};
use crate::pages::render::{Chrome, FormPage, Link, failure, message};
use crate::pages::{ConsentPage, SignInRequest, browser_session, form_response, language, signin_redirect, strings};
use crate::state::AppState;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use roster_core::service::BrowserSession;
use roster_core::service::oidc::{EndSessionRequest, EndSessionTarget, SignedIn};

/// An error the user sees (never sent to an unverified redirect URI).
pub fn error_page(state: &AppState, headers: &HeaderMap, error: &str, description: &str) -> Response {
    let status = match error {
        "server_error" => StatusCode::INTERNAL_SERVER_ERROR,
        "temporarily_unavailable" => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::BAD_REQUEST,
    };
    let t = language(headers);
    let chrome = Chrome::new(state, t, "Sign-in error")
        .error(description.to_string(), None)
        .paragraph(format!("({error})"));
    message(state, status, chrome)
}

/// The browser session, if any; Err: the page to answer when it cannot be read.
pub async fn current(state: &AppState, headers: &HeaderMap) -> Result<Option<BrowserSession>, Response> {
    browser_session(state, headers)
        .await
        .map_err(|e| failure(state, language(headers), &e))
}

/// Who is signed in, as the core's authorization step sees it.
pub fn signed_in(session: &BrowserSession) -> SignedIn {
    SignedIn {
        user: session.user.clone(),
        session_id: session.session_id,
        auth_time: session.auth_time,
        amr: session.amr.clone(),
    }
}

/// To the sign-in page, coming back to `return_to`.
pub fn to_sign_in(return_to: &str, force: bool, login_hint: Option<&str>) -> Response {
    signin_redirect(&SignInRequest {
        return_to: Some(return_to.to_string()),
        force,
        login_hint: login_hint.map(str::to_string),
    })
}

/// The consent page: posts `decision=allow|deny` back to the authorization endpoint with the
/// request's parameters and a CSRF token.
pub fn consent(
    state: &AppState,
    headers: &HeaderMap,
    session: &BrowserSession,
    params: Vec<(String, String)>,
    client_name: &str,
    scopes: &[String],
) -> Response {
    let t = language(headers);
    let csrf = Csrf::of(headers);
    let who = session
        .user
        .name
        .clone()
        .or_else(|| session.user.email.clone())
        .or_else(|| session.user.username.clone())
        .unwrap_or_else(|| session.user.id.to_string());
    let mut hidden: Vec<(&'static str, String)> = vec![(CSRF_FIELD, csrf.token.clone())];
    for (k, v) in params {
        if let Some(name) = AUTHORIZE_PARAMS.iter().find(|p| **p == k) {
            hidden.push((name, v));
        }
    }
    let scopes: Vec<&str> = scopes.iter().map(String::as_str).collect();
    let page = ConsentPage::new(
        &state.config.pages,
        t,
        client_name,
        &scopes,
        &who,
        "/oidc/authorize",
        hidden,
    );
    form_response(state, &csrf, StatusCode::OK, &page)
}

/// The authorization request's parameters carried through the consent form.
pub const AUTHORIZE_PARAMS: [&str; 13] = [
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "prompt",
    "max_age",
    "login_hint",
    "response_mode",
    "auth_after",
];

/// The logout confirmation's answer (posted back with the end-session parameters).
#[derive(serde::Deserialize, Default)]
pub struct LogoutAnswer {
    pub confirm: Option<String>,
    pub csrf: Option<String>,
}

/// Asks whether to sign out (a logout request that does not prove it comes from a client the
/// user signed in to, RP-Initiated Logout 1.0 §2: without it, any site could sign the user
/// out). The form posts the request's parameters back with `confirm` and a CSRF token.
fn logout_confirmation(
    state: &AppState,
    headers: &HeaderMap,
    request: &EndSessionRequest,
    redirect: bool,
    csrf: Csrf,
    status: StatusCode,
    notice: Option<&str>,
) -> Response {
    let t = language(headers);
    let product = state.config.pages.product_name.trim().to_string();
    let mut chrome =
        Chrome::new(state, t, t.sign_out_title).paragraph(strings::fill(t.sign_out_question, &[("product", &product)]));
    if redirect {
        chrome = chrome.paragraph(t.sign_out_return_body);
    }
    if let Some(notice) = notice {
        chrome = chrome.error(notice.to_string(), None);
    }
    let mut hidden: Vec<(&'static str, String)> = vec![(CSRF_FIELD, csrf.token.clone()), ("confirm", "yes".into())];
    for (name, value) in [
        ("id_token_hint", &request.id_token_hint),
        ("post_logout_redirect_uri", &request.post_logout_redirect_uri),
        ("client_id", &request.client_id),
        ("logout_hint", &request.logout_hint),
        ("state", &request.state),
    ] {
        if let Some(value) = value {
            hidden.push((name, value.clone()));
        }
    }
    let page = FormPage {
        chrome,
        action: "/oidc/logout".into(),
        hidden,
        fields: Vec::new(),
        submit: t.sign_out_button.into(),
        cancel: Some(Link::new(crate::pages::SIGNIN_PATH, t.cancel)),
    };
    form_response(state, &csrf, status, &page)
}

/// Ends the browser session and goes where the client asked (its registered
/// `post_logout_redirect_uri`, with `state`), or says "Signed out". When the request proves
/// it comes from a client the user signed in to (an `id_token_hint` of the signed-in user),
/// at once; otherwise only once the user confirmed (`answer`, CSRF-checked).
pub async fn end_session(
    state: &AppState,
    headers: &HeaderMap,
    request: &EndSessionRequest,
    target: EndSessionTarget,
    answer: Option<LogoutAnswer>,
) -> Response {
    let session = match current(state, headers).await {
        Ok(s) => s,
        Err(page) => return page,
    };
    let t = language(headers);
    if let Some(session) = &session {
        // An ID token of this user (of this or an earlier session) is proof enough that the
        // request comes from a client the user signed in to.
        let hinted = target.hinted.is_some_and(|(user, _)| user == session.user.id);
        let redirect = target.redirect.is_some();
        match answer {
            _ if hinted => {}
            None => {
                return logout_confirmation(
                    state,
                    headers,
                    request,
                    redirect,
                    Csrf::of(headers),
                    StatusCode::OK,
                    None,
                );
            }
            Some(answer) if !Csrf::verify(state, headers, answer.csrf.as_deref()) => {
                let notice = Some(t.error_form_expired);
                let csrf = Csrf::fresh();
                return logout_confirmation(state, headers, request, redirect, csrf, StatusCode::FORBIDDEN, notice);
            }
            Some(_) => {}
        }
        if let Err(e) = state.core.end_browser_session(session, false).await {
            return failure(state, t, &e);
        }
    }
    let mut response = match target.redirect {
        Some(to) => no_store(Redirect::to(&to).into_response()),
        None => message(
            state,
            StatusCode::OK,
            Chrome::new(state, t, t.signed_out_title).paragraph(t.signed_out_body),
        ),
    };
    if session.is_some() {
        crate::pages::clear_session_cookie(state).append_to(&mut response);
    }
    response
}

fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
