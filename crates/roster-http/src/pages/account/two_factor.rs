//! The two-step verification page (`/account/two-factor`): enrolment with a QR code, backup
//! codes, turning it off.

use super::*;

fn code_label(a: &'static AccountStrings) -> impl Fn(&str) -> Option<(&'static str, String)> {
    move |field| match field {
        "code" | "token" | "backup_code" => Some(("code", a.disable_code_label.to_string())),
        _ => None,
    }
}

pub(super) async fn two_factor_panels(ctx: &Ctx, view: &View) -> Result<Vec<Panel>, Error> {
    let a = ctx.a;
    let csrf = &ctx.csrf.token;
    let status = ctx.state.core.two_factor_status(ctx.session.user.id).await?;
    let mut panel = Panel::headed("two-factor-status", a.two_factor_title);
    if status.enabled {
        panel = panel
            .paragraph(a.two_factor_on)
            .paragraph(fill(
                a.backup_codes_remaining,
                &[("count", &status.backup_codes_remaining.to_string())],
            ))
            .form(
                PanelForm::new(
                    TWO_FACTOR_MANAGE_PATH,
                    csrf,
                    Button::primary(a.two_factor_disable_button).action("disable"),
                )
                .button(Button::secondary(a.new_backup_codes_button).action("backup-codes"))
                .field(
                    Field::new("code", "text", a.disable_code_label)
                        .hint(a.disable_code_hint)
                        .autocomplete("one-time-code")
                        .required()
                        .error(view.field_error("code")),
                ),
            );
        return Ok(vec![panel]);
    }
    panel = panel.paragraph(a.two_factor_off);
    if status.pending && view.once.is_empty() {
        panel = panel.paragraph(a.two_factor_pending).form(confirm_form(ctx, view));
    }
    if view.once.is_empty() {
        let start = if status.pending {
            Button::secondary(a.two_factor_restart_button)
        } else {
            Button::primary(a.two_factor_start_button)
        };
        panel = panel.form(PanelForm::new(TWO_FACTOR_SETUP_PATH, csrf, start));
    }
    Ok(vec![panel])
}

/// The form that turns a pending enrolment on with a first code.
fn confirm_form(ctx: &Ctx, view: &View) -> PanelForm {
    let a = ctx.a;
    PanelForm::new(
        TWO_FACTOR_CONFIRM_PATH,
        &ctx.csrf.token,
        Button::primary(a.two_factor_confirm_button),
    )
    .field(
        Field::new("code", "text", a.confirm_code_label)
            .hint(a.confirm_code_hint)
            .autocomplete("one-time-code")
            .inputmode("numeric")
            .required()
            .error(view.field_error("code")),
    )
}

/// The panel of backup codes shown once.
fn backup_codes_panel(a: &'static AccountStrings, codes: Vec<String>) -> Panel {
    let mut panel = Panel::headed("backup-codes", a.backup_codes_heading).paragraph(a.backup_codes_intro);
    panel.codes = codes;
    panel.codes_id = "backup-codes-list";
    panel
}

/// `POST /account/two-factor/setup`: a new secret (shown once as a QR code and as text),
/// backup codes (shown once) and the form for the first code
/// ([`roster_core::Core::begin_two_factor`]).
pub(super) async fn two_factor_setup(
    State(state): State<AppState>,
    Lang(t): Lang,
    headers: HeaderMap,
    CurrentSession(session): CurrentSession,
    body: Bytes,
) -> Response {
    let (ctx, _) = match posted::<CsrfOnly>(state, t, &headers, session, &body, Section::TwoFactor).await {
        Ok(posted) => posted,
        Err(response) => return *response,
    };
    let a = ctx.a;
    let enrolment = match ctx.state.core.begin_two_factor(&ctx.session.actor()).await {
        Ok(enrolment) => enrolment,
        Err(error) => return failed(&ctx, Section::TwoFactor, error, View::default(), code_label(a)).await,
    };
    let mut scan = Panel::headed("two-factor-setup", a.two_factor_start_button).paragraph(a.two_factor_scan);
    match qr::svg(&enrolment.otpauth_url) {
        Some(svg) => {
            scan.qr = Some(view::Qr {
                svg,
                label: a.qr_label.to_string(),
            })
        }
        None => tracing::warn!("the enrolment's QR code could not be drawn"),
    }
    scan.secret = Some((a.secret_label.to_string(), enrolment.secret.clone(), "totp-secret"));
    let mut view = View::default();
    scan = scan.form(confirm_form(&ctx, &view));
    // The secret and the codes are in this answer only: the page is never cached
    // ([`respond`]), and the page of a pending enrolment does not show them again.
    view.once = vec![scan, backup_codes_panel(a, enrolment.backup_codes)];
    render(&ctx, Section::TwoFactor, view).await
}

/// `POST /account/two-factor/confirm`: the first code turns the pending enrolment on
/// ([`roster_core::Core::confirm_two_factor`]).
pub(super) async fn two_factor_confirm(
    State(state): State<AppState>,
    Lang(t): Lang,
    headers: HeaderMap,
    CurrentSession(session): CurrentSession,
    body: Bytes,
) -> Response {
    let (ctx, form) = match posted::<CodeForm>(state, t, &headers, session, &body, Section::TwoFactor).await {
        Ok(posted) => posted,
        Err(response) => return *response,
    };
    let code: String = form
        .code
        .unwrap_or_default()
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    if code.is_empty() {
        let view = View::status(StatusCode::UNPROCESSABLE_ENTITY).error(t.error_code_missing, Some("code"));
        return render(&ctx, Section::TwoFactor, view).await;
    }
    match ctx.state.core.confirm_two_factor(&ctx.session.actor(), &code).await {
        Ok(()) => done(Section::TwoFactor, "two-factor-on"),
        Err(error) => failed(&ctx, Section::TwoFactor, error, View::default(), code_label(ctx.a)).await,
    }
}

/// `POST /account/two-factor/manage`: with a code or backup code, `action=disable` turns
/// two-step verification off ([`roster_core::Core::disable_two_factor`]), `action=backup-codes`
/// replaces the backup codes, shown once ([`roster_core::Core::regenerate_backup_codes`]).
pub(super) async fn two_factor_manage(
    State(state): State<AppState>,
    Lang(t): Lang,
    headers: HeaderMap,
    CurrentSession(session): CurrentSession,
    body: Bytes,
) -> Response {
    let (ctx, form) = match posted::<CodeForm>(state, t, &headers, session, &body, Section::TwoFactor).await {
        Ok(posted) => posted,
        Err(response) => return *response,
    };
    let code = form.code.unwrap_or_default();
    if code.trim().is_empty() {
        let view = View::status(StatusCode::UNPROCESSABLE_ENTITY).error(t.error_code_missing, Some("code"));
        return render(&ctx, Section::TwoFactor, view).await;
    }
    let factor = crate::pages::signin::second_factor(&code);
    let actor = ctx.session.actor();
    match form.action.as_deref() {
        Some("disable") => match ctx.state.core.disable_two_factor(&actor, Some(&factor)).await {
            Ok(()) => done(Section::TwoFactor, "two-factor-off"),
            Err(error) => failed(&ctx, Section::TwoFactor, error, View::default(), code_label(ctx.a)).await,
        },
        Some("backup-codes") => match ctx.state.core.regenerate_backup_codes(&actor, Some(&factor)).await {
            Ok(codes) => {
                let view = View {
                    once: vec![backup_codes_panel(ctx.a, codes.codes)],
                    ..Default::default()
                };
                render(&ctx, Section::TwoFactor, view).await
            }
            Err(error) => failed(&ctx, Section::TwoFactor, error, View::default(), code_label(ctx.a)).await,
        },
        _ => {
            let view = View::status(StatusCode::BAD_REQUEST).error(t.error_bad_request, None);
            render(&ctx, Section::TwoFactor, view).await
        }
    }
}
