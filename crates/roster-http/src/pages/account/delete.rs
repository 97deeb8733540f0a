//! The page that deletes the account (`/account/delete`).

use super::*;

pub(super) async fn delete_panels(ctx: &Ctx, view: &View) -> Result<Vec<Panel>, Error> {
    let a = ctx.a;
    let two_factor = ctx.state.core.two_factor_status(ctx.session.user.id).await?.enabled;
    let mut form = PanelForm::new(DELETE_PATH, &ctx.csrf.token, Button::primary(a.delete_button)).field(
        Field::new("confirm", "text", a.delete_confirm_label)
            .hint(fill(a.delete_confirm_hint, &[("word", a.delete_confirm_word)]))
            .expect(a.delete_confirm_word)
            .required()
            .error(view.field_error("confirm")),
    );
    if two_factor {
        form = form.field(
            Field::new("code", "text", a.delete_code_label)
                .autocomplete("one-time-code")
                .required()
                .error(view.field_error("code")),
        );
    }
    Ok(vec![Panel::plain().paragraph(a.delete_intro).form(form)])
}

/// `POST /account/delete` (`confirm`, the word typed; `code` with two-step verification):
/// deletes the account where the core allows it
/// ([`roster_core::Core::delete_own_account_with_factor`]).
pub(super) async fn delete_submit(
    State(state): State<AppState>,
    Lang(t): Lang,
    headers: HeaderMap,
    CurrentSession(session): CurrentSession,
    body: Bytes,
) -> Response {
    let (ctx, form) = match posted::<DeleteForm>(state, t, &headers, session, &body, Section::Delete).await {
        Ok(posted) => posted,
        Err(response) => return *response,
    };
    let a = ctx.a;
    if form.confirm.as_deref().map(str::trim) != Some(a.delete_confirm_word) {
        let view = View::status(StatusCode::UNPROCESSABLE_ENTITY).error(a.error_delete_confirm, Some("confirm"));
        return render(&ctx, Section::Delete, view).await;
    }
    let factor = form
        .code
        .as_deref()
        .filter(|c| !c.trim().is_empty())
        .map(crate::pages::signin::second_factor);
    match ctx
        .state
        .core
        .delete_own_account_with_factor(&ctx.session.actor(), factor.as_ref())
        .await
    {
        Ok(()) => {
            let chrome = Chrome::new(&ctx.state, t, a.deleted_title).paragraph(a.deleted_body);
            let mut response = crate::pages::render::message(&ctx.state, StatusCode::OK, chrome);
            clear_session_cookie(&ctx.state).append_to(&mut response);
            response
        }
        Err(error) => {
            let label = |field: &str| match field {
                "code" | "token" | "backup_code" => Some(("code", a.delete_code_label.to_string())),
                _ => None,
            };
            failed(&ctx, Section::Delete, error, View::default(), label).await
        }
    }
}
