//! The email address page (`/account/email`) and the page of an email change's link.

use super::*;

pub(super) async fn email_panels(ctx: &Ctx, view: &View) -> Result<Vec<Panel>, Error> {
    let a = ctx.a;
    let user = &ctx.session.user;
    let mut panel = Panel::plain();
    match &user.email {
        Some(email) => {
            let state = if user.email_verified {
                a.email_verified
            } else {
                a.email_unverified
            };
            panel = panel.fact(a.email_current, format!("{email} ({state})"));
        }
        None => panel = panel.paragraph(a.email_none),
    }
    if let Some(pending) = ctx.state.core.pending_email_change(&ctx.session.actor()).await? {
        panel = panel
            .paragraph(fill(
                a.email_pending,
                &[("email", &pending.new_email), ("until", &when(pending.expires_at))],
            ))
            .form(PanelForm::new(
                EMAIL_CANCEL_PATH,
                &ctx.csrf.token,
                Button::secondary(a.email_cancel_button),
            ));
    }
    let mut form = PanelForm::new(EMAIL_PATH, &ctx.csrf.token, Button::primary(a.email_change_button)).field(
        Field::new("new_email", "email", a.new_email_label)
            .value(view.value_of("new_email").unwrap_or_default())
            .autocomplete("email")
            .required()
            .error(view.field_error("new_email")),
    );
    if user.password_hash.is_some() {
        form = form.field(
            Field::new("current_password", "password", a.current_password_label)
                .autocomplete("current-password")
                .required()
                .error(view.field_error("current_password")),
        );
    }
    Ok(vec![panel.form(form)])
}

/// `POST /account/email` (`new_email`, `current_password`): mails a link to the new
/// address ([`roster_core::Core::request_email_change`]); the address changes when it is
/// used.
pub(super) async fn email_submit(
    State(state): State<AppState>,
    Lang(t): Lang,
    Meta(meta): Meta,
    headers: HeaderMap,
    CurrentSession(session): CurrentSession,
    body: Bytes,
) -> Response {
    let (ctx, form) = match posted::<EmailForm>(state, t, &headers, session, &body, Section::Email).await {
        Ok(posted) => posted,
        Err(response) => return *response,
    };
    let a = ctx.a;
    let new_email = form.new_email.unwrap_or_default();
    let typed = View::default().value("new_email", new_email.clone());
    let result = ctx
        .state
        .core
        .request_email_change(
            &ctx.session.actor(),
            &new_email,
            &form.current_password.unwrap_or_default(),
            EMAIL_CHANGE_CONFIRM_PATH,
            &meta,
        )
        .await;
    match result {
        Ok(pending) => {
            let view = View {
                notice: Some(fill(a.email_sent, &[("email", &pending.new_email)])),
                ..Default::default()
            };
            render(&ctx, Section::Email, view).await
        }
        Err(Error::Invalid {
            field: "current_password",
            ..
        }) => {
            let view = View {
                status: Some(StatusCode::UNPROCESSABLE_ENTITY),
                ..typed
            }
            .error(a.error_current_password, Some("current_password"));
            render(&ctx, Section::Email, view).await
        }
        Err(error) => {
            let label = |field: &str| (field == "email").then(|| ("new_email", a.new_email_label.to_string()));
            failed(&ctx, Section::Email, error, typed, label).await
        }
    }
}

/// `POST /account/email/cancel`: drops the pending change
/// ([`roster_core::Core::cancel_email_change`]).
pub(super) async fn email_cancel(
    State(state): State<AppState>,
    Lang(t): Lang,
    headers: HeaderMap,
    CurrentSession(session): CurrentSession,
    body: Bytes,
) -> Response {
    let (ctx, _) = match posted::<CsrfOnly>(state, t, &headers, session, &body, Section::Email).await {
        Ok(posted) => posted,
        Err(response) => return *response,
    };
    match ctx.state.core.cancel_email_change(&ctx.session.actor()).await {
        Ok(_) => done(Section::Email, "email-cancelled"),
        Err(error) => failed(&ctx, Section::Email, error, View::default(), |_| None).await,
    }
}

/// The query of the email change's link.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct TokenQuery {
    token: Option<String>,
}

/// The page of the email change's link: a button that confirms (a link alone changes
/// nothing, so that a mail scanner opening it does not). No session needed: the token is
/// the proof.
fn email_confirm_form(
    state: &AppState,
    t: &'static Strings,
    csrf: &Csrf,
    token: &str,
    status: StatusCode,
    error: Option<&str>,
) -> Response {
    let a = strings::for_lang(t.lang);
    let mut chrome = Chrome::new(state, t, a.email_confirm_title).paragraph(a.email_confirm_intro);
    if let Some(error) = error {
        chrome = chrome.error(error, None);
    }
    let page = crate::pages::render::FormPage {
        chrome,
        action: EMAIL_CHANGE_CONFIRM_PATH.into(),
        hidden: vec![(CSRF_FIELD, csrf.token.clone()), ("token", token.to_string())],
        fields: Vec::new(),
        submit: a.email_confirm_button.into(),
        cancel: None,
    };
    let mut response = respond(state, status, &page);
    csrf.set_on(state, &mut response);
    response
}

/// `GET /account/email/confirm?token=...`.
pub(super) async fn email_confirm_page(
    State(state): State<AppState>,
    Lang(t): Lang,
    headers: HeaderMap,
    PageQuery(query): PageQuery<TokenQuery>,
) -> Response {
    let token = query.token.unwrap_or_default();
    email_confirm_form(&state, t, &Csrf::of(&headers), &token, StatusCode::OK, None)
}

/// `POST /account/email/confirm` (`token`): applies the change
/// ([`roster_core::Core::confirm_email_change`]).
pub(super) async fn email_confirm_submit(
    State(state): State<AppState>,
    Lang(t): Lang,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let a = strings::for_lang(t.lang);
    let Some(form) = read_form::<TokenForm>(&headers, &body) else {
        return email_confirm_form(
            &state,
            t,
            &Csrf::of(&headers),
            "",
            StatusCode::BAD_REQUEST,
            Some(t.error_bad_request),
        );
    };
    let token = form.token.clone().unwrap_or_default();
    if !Csrf::verify(&state, &headers, form.csrf()) {
        return email_confirm_form(
            &state,
            t,
            &Csrf::fresh(),
            &token,
            StatusCode::FORBIDDEN,
            Some(t.error_form_expired),
        );
    }
    match state.core.confirm_email_change(&token).await {
        Ok(user) => {
            let email = user.email.unwrap_or_default();
            let chrome = Chrome::new(&state, t, a.email_confirm_title)
                .paragraph(fill(a.email_changed, &[("email", &email)]))
                .link(ACCOUNT_PATH, a.profile_title);
            crate::pages::render::message(&state, StatusCode::OK, chrome)
        }
        Err(Error::Invalid { field: "token", .. }) => {
            let chrome = Chrome::new(&state, t, a.email_confirm_title)
                .error(a.email_link_invalid, None)
                .link(EMAIL_PATH, a.email_title);
            crate::pages::render::message(&state, StatusCode::UNPROCESSABLE_ENTITY, chrome)
        }
        Err(error @ Error::Conflict { .. }) => {
            let chrome = Chrome::new(&state, t, a.email_confirm_title).error(error.to_string(), None);
            crate::pages::render::message(&state, StatusCode::CONFLICT, chrome)
        }
        Err(error) => crate::pages::render::failure(&state, t, &error),
    }
}
