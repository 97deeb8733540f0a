//! The profile page (`/account`): name, username, time zone, about, and the picture.

use super::*;
use axum::extract::Multipart;
use roster_core::service::{NATIVE_AVATAR_BASE, Patch, ProfileChanges};

fn profile_label(a: &'static AccountStrings) -> impl Fn(&str) -> Option<(&'static str, String)> {
    move |field| {
        Some(match field {
            "name" => ("name", a.name_label.to_string()),
            "username" => ("username", a.username_label.to_string()),
            "timezone" => ("timezone", a.timezone_label.to_string()),
            "bio" => ("bio", a.bio_label.to_string()),
            "avatar" | "file" | "image" => ("avatar", a.avatar_label.to_string()),
            _ => return None,
        })
    }
}

pub(super) fn profile_panels(ctx: &Ctx, view: &View) -> Vec<Panel> {
    let a = ctx.a;
    let user = &ctx.session.user;
    let csrf = &ctx.csrf.token;
    let value = |name: &'static str, stored: &Option<String>| {
        view.value_of(name)
            .unwrap_or_else(|| stored.clone().unwrap_or_default())
    };
    let mut profile = Panel::headed("profile", a.profile_title);
    if let Some(email) = &user.email {
        let state = if user.email_verified {
            a.email_verified
        } else {
            a.email_unverified
        };
        profile = profile.fact(a.email_label, format!("{email} ({state})"));
    }
    let profile = profile.form(
        PanelForm::new(PROFILE_PATH, csrf, Button::primary(a.save_button))
            .field(
                Field::new("name", "text", a.name_label)
                    .value(value("name", &user.name))
                    .autocomplete("name")
                    .error(view.field_error("name")),
            )
            .field(
                Field::new("username", "text", a.username_label)
                    .value(value("username", &user.username))
                    .autocomplete("username")
                    .error(view.field_error("username")),
            )
            .field(
                Field::new("timezone", "text", a.timezone_label)
                    .value(value("timezone", &user.timezone))
                    .hint(a.timezone_hint)
                    .error(view.field_error("timezone")),
            )
            .field(
                Field::new("bio", "textarea", a.bio_label)
                    .value(value("bio", &user.bio))
                    .error(view.field_error("bio")),
            ),
    );
    let mut avatar = Panel::headed("avatar", a.avatar_heading);
    match local_avatar(user) {
        Some(url) => avatar.image = Some((url.to_string(), a.avatar_alt.to_string())),
        None if user.avatar.is_none() => avatar = avatar.paragraph(a.avatar_none),
        None => {}
    }
    avatar = avatar.form(
        PanelForm::new(AVATAR_PATH, csrf, Button::primary(a.avatar_button))
            .multipart()
            .field(
                Field::new("avatar", "file", a.avatar_label)
                    .hint(a.avatar_hint)
                    .error(view.field_error("avatar")),
            ),
    );
    if user.avatar.is_some() {
        avatar = avatar.form(PanelForm::new(
            AVATAR_REMOVE_PATH,
            csrf,
            Button::secondary(a.avatar_remove_button),
        ));
    }
    vec![profile, avatar]
}

/// An optional text field: empty clears it.
fn patch(value: Option<String>) -> Patch<String> {
    match value.map(|v| v.trim().to_string()) {
        None => Patch::Keep,
        Some(v) if v.is_empty() => Patch::Clear,
        Some(v) => Patch::Set(v),
    }
}

/// `POST /account/profile`: name, username, time zone, about (through
/// [`roster_core::Core::update_profile`]).
pub(super) async fn profile_submit(
    State(state): State<AppState>,
    Lang(t): Lang,
    headers: HeaderMap,
    CurrentSession(session): CurrentSession,
    body: Bytes,
) -> Response {
    let (ctx, form) = match posted::<ProfileForm>(state, t, &headers, session, &body, Section::Profile).await {
        Ok(posted) => posted,
        Err(response) => return *response,
    };
    let typed = View::default()
        .value("name", form.name.clone().unwrap_or_default())
        .value("username", form.username.clone().unwrap_or_default())
        .value("timezone", form.timezone.clone().unwrap_or_default())
        .value("bio", form.bio.clone().unwrap_or_default());
    let changes = ProfileChanges {
        name: patch(form.name),
        username: patch(form.username),
        timezone: patch(form.timezone),
        bio: form.bio.map_or(Patch::Keep, |b| {
            if b.trim().is_empty() {
                Patch::Clear
            } else {
                Patch::Set(b)
            }
        }),
        ..Default::default()
    };
    match ctx.state.core.update_profile(&ctx.session.actor(), changes).await {
        Ok(_) => done(Section::Profile, "saved"),
        Err(error) => failed(&ctx, Section::Profile, error, typed, profile_label(ctx.a)).await,
    }
}

/// `POST /account/avatar` (`multipart/form-data`: `csrf`, then `avatar`, the image).
pub(super) async fn avatar_submit(
    State(state): State<AppState>,
    Lang(t): Lang,
    headers: HeaderMap,
    CurrentSession(session): CurrentSession,
    mut multipart: Multipart,
) -> Response {
    let mut ctx = match require(state, t, &headers, session, ACCOUNT_PATH) {
        Ok(ctx) => ctx,
        Err(response) => return *response,
    };
    let mut csrf = None;
    let mut image = None;
    loop {
        match multipart.next_field().await {
            Ok(Some(field)) => {
                let name = field.name().unwrap_or_default().to_string();
                let Ok(bytes) = field.bytes().await else {
                    let view = View::status(StatusCode::BAD_REQUEST).error(t.error_bad_request, None);
                    return render(&ctx, Section::Profile, view).await;
                };
                match name.as_str() {
                    CSRF_FIELD => csrf = String::from_utf8(bytes.to_vec()).ok(),
                    "avatar" if !bytes.is_empty() => image = Some(bytes.to_vec()),
                    _ => {}
                }
            }
            Ok(None) => break,
            Err(_) => {
                let view = View::status(StatusCode::BAD_REQUEST).error(t.error_bad_request, None);
                return render(&ctx, Section::Profile, view).await;
            }
        }
    }
    if !Csrf::verify(&ctx.state, &headers, csrf.as_deref()) {
        ctx.csrf = Csrf::fresh();
        let view = View::status(StatusCode::FORBIDDEN).error(t.error_form_expired, None);
        return render(&ctx, Section::Profile, view).await;
    }
    let Some(image) = image else {
        let view = View::status(StatusCode::UNPROCESSABLE_ENTITY).error(ctx.a.error_avatar_missing, Some("avatar"));
        return render(&ctx, Section::Profile, view).await;
    };
    match ctx
        .state
        .core
        .set_avatar(&ctx.session.actor(), image, NATIVE_AVATAR_BASE)
        .await
    {
        Ok(_) => done(Section::Profile, "saved"),
        Err(error) => {
            let label = |field: &str| profile_label(ctx.a)(field).or(Some(("avatar", ctx.a.avatar_label.to_string())));
            failed(&ctx, Section::Profile, error, View::default(), label).await
        }
    }
}

/// `POST /account/avatar/remove`.
pub(super) async fn avatar_remove(
    State(state): State<AppState>,
    Lang(t): Lang,
    headers: HeaderMap,
    CurrentSession(session): CurrentSession,
    body: Bytes,
) -> Response {
    let (ctx, _) = match posted::<CsrfOnly>(state, t, &headers, session, &body, Section::Profile).await {
        Ok(posted) => posted,
        Err(response) => return *response,
    };
    let changes = ProfileChanges {
        avatar: Patch::Clear,
        ..Default::default()
    };
    match ctx.state.core.update_profile(&ctx.session.actor(), changes).await {
        Ok(_) => done(Section::Profile, "saved"),
        Err(error) => failed(&ctx, Section::Profile, error, View::default(), profile_label(ctx.a)).await,
    }
}
