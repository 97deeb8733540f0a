//! The password page (`/account/password`).

use super::*;

pub(super) fn password_panel(ctx: &Ctx, view: &View) -> Panel {
    let (a, t) = (ctx.a, ctx.t);
    let min = ctx.state.core.config.min_password_length.to_string();
    Panel::plain().form(
        PanelForm::new(
            PASSWORD_PATH,
            &ctx.csrf.token,
            Button::primary(a.change_password_button),
        )
        .hidden("username", display_name(&ctx.session))
        .field(
            Field::new("current_password", "password", a.current_password_label)
                .autocomplete("current-password")
                .required()
                .error(view.field_error("current_password")),
        )
        .field(
            Field::new("new_password", "password", t.new_password_label)
                .hint(fill(t.new_password_hint, &[("min", &min)]))
                .autocomplete("new-password")
                .required()
                .error(view.field_error("new_password")),
        )
        .field(
            Field::new("confirm_password", "password", t.confirm_password_label)
                .autocomplete("new-password")
                .required()
                .error(view.field_error("confirm_password")),
        ),
    )
}

/// `POST /account/password`: the current password, the new one twice (through
/// [`roster_core::Core::change_password`], which keeps this session and ends the others).
pub(super) async fn password_submit(
    State(state): State<AppState>,
    Lang(t): Lang,
    Meta(meta): Meta,
    headers: HeaderMap,
    CurrentSession(session): CurrentSession,
    body: Bytes,
) -> Response {
    let (ctx, form) = match posted::<PasswordForm>(state, t, &headers, session, &body, Section::Password).await {
        Ok(posted) => posted,
        Err(response) => return *response,
    };
    let current = form.current_password.unwrap_or_default();
    let new = form.new_password.unwrap_or_default();
    let status = View::status(StatusCode::UNPROCESSABLE_ENTITY);
    if current.is_empty() {
        let view = status.error(t.error_password_missing, Some("current_password"));
        return render(&ctx, Section::Password, view).await;
    }
    if new != form.confirm_password.unwrap_or_default() {
        let view = status.error(t.error_password_mismatch, Some("confirm_password"));
        return render(&ctx, Section::Password, view).await;
    }
    match ctx
        .state
        .core
        .change_password(&ctx.session.actor(), &current, &new, &meta)
        .await
    {
        Ok(()) => done(Section::Password, "password"),
        Err(
            Error::Invalid {
                field: "current_password",
                ..
            }
            | Error::InvalidCredentials,
        ) => {
            let view = status.error(ctx.a.error_current_password, Some("current_password"));
            render(&ctx, Section::Password, view).await
        }
        Err(error) => {
            let label = |field: &str| match field {
                "new_password" | "password" => Some(("new_password", t.new_password_label.to_string())),
                _ => None,
            };
            failed(&ctx, Section::Password, error, View::default(), label).await
        }
    }
}
