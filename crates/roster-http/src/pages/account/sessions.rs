//! The sessions page (`/account/sessions`): this browser's and the others, ended one by one or
//! all at once.

use super::*;
use roster_core::SessionId;

pub(super) async fn sessions_panels(ctx: &Ctx) -> Result<Vec<Panel>, Error> {
    let a = ctx.a;
    let csrf = &ctx.csrf.token;
    let sessions = ctx.state.core.list_my_sessions(&ctx.session.actor()).await?;
    let mut panel = Panel::plain().paragraph(a.sessions_intro);
    for session in sessions {
        let current = session.id == ctx.session.session_id;
        let device = session.user_agent.clone().unwrap_or_else(|| a.unknown.to_string());
        let heading = if current {
            a.this_session.to_string()
        } else {
            device.clone()
        };
        panel.items.push(Item {
            heading,
            facts: vec![
                (a.session_device.to_string(), device),
                (
                    a.session_ip.to_string(),
                    session.ip.clone().unwrap_or_else(|| a.unknown.to_string()),
                ),
                (a.session_created.to_string(), when(session.created_at)),
                (a.session_last_seen.to_string(), when(session.last_used_at)),
            ],
            forms: vec![
                PanelForm::new(SESSION_REVOKE_PATH, csrf, Button::secondary(a.revoke_button))
                    .hidden("id", session.id.to_string()),
            ],
        });
    }
    panel = panel
        .form(PanelForm::new(
            SESSIONS_OTHERS_PATH,
            csrf,
            Button::secondary(a.revoke_others_button),
        ))
        .form(PanelForm::new(
            SESSIONS_EVERYWHERE_PATH,
            csrf,
            Button::primary(a.sign_out_everywhere_button),
        ));
    Ok(vec![panel])
}

/// The answer once this browser's own session has ended: signed out, the cookie cleared.
fn signed_out(ctx: &Ctx, everywhere: bool) -> Response {
    let t = ctx.t;
    let body = if everywhere {
        t.signed_out_everywhere_body
    } else {
        t.signed_out_body
    };
    let chrome = Chrome::new(&ctx.state, t, t.signed_out_title)
        .paragraph(body)
        .link(crate::pages::SIGNIN_PATH, t.sign_in_again);
    let mut response = crate::pages::render::message(&ctx.state, StatusCode::OK, chrome);
    clear_session_cookie(&ctx.state).append_to(&mut response);
    response
}

/// `POST /account/sessions/revoke` (`id`): ends one of the user's sessions
/// ([`roster_core::Core::revoke_my_session`]); this browser's own signs it out.
pub(super) async fn session_revoke(
    State(state): State<AppState>,
    Lang(t): Lang,
    headers: HeaderMap,
    CurrentSession(session): CurrentSession,
    body: Bytes,
) -> Response {
    let (ctx, form) = match posted::<IdForm>(state, t, &headers, session, &body, Section::Sessions).await {
        Ok(posted) => posted,
        Err(response) => return *response,
    };
    let id = match form.id.unwrap_or_default().parse::<SessionId>() {
        Ok(id) => id,
        Err(error) => return failed(&ctx, Section::Sessions, error, View::default(), |_| None).await,
    };
    if id == ctx.session.session_id {
        return match ctx.state.core.end_browser_session(&ctx.session, false).await {
            Ok(_) => signed_out(&ctx, false),
            Err(error) => crate::pages::render::failure(&ctx.state, t, &error),
        };
    }
    match ctx.state.core.revoke_my_session(&ctx.session.actor(), id).await {
        Ok(()) => done(Section::Sessions, "session"),
        Err(error) => failed(&ctx, Section::Sessions, error, View::default(), |_| None).await,
    }
}

/// `POST /account/sessions/revoke-others`: ends every session but this one
/// ([`roster_core::Core::revoke_my_other_sessions`]).
pub(super) async fn sessions_revoke_others(
    State(state): State<AppState>,
    Lang(t): Lang,
    headers: HeaderMap,
    CurrentSession(session): CurrentSession,
    body: Bytes,
) -> Response {
    let (ctx, _) = match posted::<CsrfOnly>(state, t, &headers, session, &body, Section::Sessions).await {
        Ok(posted) => posted,
        Err(response) => return *response,
    };
    match ctx.state.core.revoke_my_other_sessions(&ctx.session.actor()).await {
        Ok(n) => see_other(&format!("{SESSIONS_PATH}?done=revoked&revoked={n}")),
        Err(error) => failed(&ctx, Section::Sessions, error, View::default(), |_| None).await,
    }
}

/// `POST /account/sessions/everywhere`: ends every session of the user, this one too (as
/// signing out everywhere does, [`roster_core::Core::end_browser_session`]).
pub(super) async fn sessions_everywhere(
    State(state): State<AppState>,
    Lang(t): Lang,
    headers: HeaderMap,
    CurrentSession(session): CurrentSession,
    body: Bytes,
) -> Response {
    let (ctx, _) = match posted::<CsrfOnly>(state, t, &headers, session, &body, Section::Sessions).await {
        Ok(posted) => posted,
        Err(response) => return *response,
    };
    match ctx.state.core.end_browser_session(&ctx.session, true).await {
        Ok(_) => signed_out(&ctx, true),
        Err(error) => crate::pages::render::failure(&ctx.state, t, &error),
    }
}
