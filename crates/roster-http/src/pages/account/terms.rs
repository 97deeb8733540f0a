//! The terms page (`/account/terms`).

use super::*;

pub(super) async fn terms_panels(ctx: &Ctx) -> Result<Vec<Panel>, Error> {
    let a = ctx.a;
    let actor = ctx.session.actor();
    let status = ctx.state.core.terms_status(&actor).await?;
    let mut panel = Panel::plain().paragraph(fill(a.terms_version, &[("version", &status.version)]));
    match status.accepted_at.filter(|_| status.accepted) {
        Some(at) => panel = panel.paragraph(fill(a.terms_accepted, &[("at", &when(at))])),
        None => {
            panel = panel.paragraph(a.terms_not_accepted).form(PanelForm::new(
                TERMS_PATH,
                &ctx.csrf.token,
                Button::primary(a.accept_terms_button),
            ))
        }
    }
    let acceptances = ctx.state.core.list_terms_acceptances(&actor).await?;
    let mut panels = vec![panel];
    if !acceptances.is_empty() {
        let mut history = Panel::headed("terms-history", a.terms_history_heading);
        for acceptance in acceptances {
            history = history.fact(acceptance.version, when(acceptance.accepted_at));
        }
        panels.push(history);
    }
    Ok(panels)
}

/// `POST /account/terms`: accepts the terms in force ([`roster_core::Core::accept_terms`]).
pub(super) async fn terms_accept(
    State(state): State<AppState>,
    Lang(t): Lang,
    headers: HeaderMap,
    CurrentSession(session): CurrentSession,
    body: Bytes,
) -> Response {
    let (ctx, _) = match posted::<CsrfOnly>(state, t, &headers, session, &body, Section::Terms).await {
        Ok(posted) => posted,
        Err(response) => return *response,
    };
    match ctx.state.core.accept_terms(&ctx.session.actor()).await {
        Ok(_) => done(Section::Terms, "saved"),
        Err(error) => failed(&ctx, Section::Terms, error, View::default(), |_| None).await,
    }
}
