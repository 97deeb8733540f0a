//! The API keys page (`/account/api-keys`): create (the secret shown once) and revoke.

use super::*;
use roster_core::ApiKeyId;
use roster_core::service::NewApiKey;

pub(super) async fn api_keys_panels(ctx: &Ctx, view: &View) -> Result<Vec<Panel>, Error> {
    let a = ctx.a;
    let csrf = &ctx.csrf.token;
    let keys = ctx.state.core.list_my_api_keys(&ctx.session.actor()).await?;
    let mut panel = Panel::plain().paragraph(a.api_keys_intro);
    if keys.is_empty() {
        panel = panel.paragraph(a.api_keys_none);
    }
    for key in keys {
        panel.items.push(Item {
            heading: key.name.clone(),
            facts: vec![
                (a.key_prefix.to_string(), format!("{}…", key.prefix)),
                (a.key_created.to_string(), when(key.created_at)),
                (
                    a.key_last_used.to_string(),
                    key.last_used_at.map_or_else(|| a.never.to_string(), when),
                ),
                (
                    a.key_expires.to_string(),
                    key.expires_at.map_or_else(|| a.never.to_string(), when),
                ),
            ],
            forms: vec![
                PanelForm::new(API_KEY_REVOKE_PATH, csrf, Button::secondary(a.key_revoke_button))
                    .hidden("id", key.id.to_string()),
            ],
        });
    }
    let create = Panel::headed("new-key", a.create_key_button).form(
        PanelForm::new(API_KEYS_PATH, csrf, Button::primary(a.create_key_button)).field(
            Field::new("name", "text", a.key_name_label)
                .value(view.value_of("name").unwrap_or_default())
                .required()
                .error(view.field_error("name")),
        ),
    );
    Ok(vec![panel, create])
}

/// `POST /account/api-keys` (`name`): a new key, its secret shown in this answer only
/// ([`roster_core::Core::create_api_key`]).
pub(super) async fn api_key_create(
    State(state): State<AppState>,
    Lang(t): Lang,
    headers: HeaderMap,
    CurrentSession(session): CurrentSession,
    body: Bytes,
) -> Response {
    let (ctx, form) = match posted::<KeyForm>(state, t, &headers, session, &body, Section::ApiKeys).await {
        Ok(posted) => posted,
        Err(response) => return *response,
    };
    let a = ctx.a;
    let name = form.name.unwrap_or_default();
    let input = NewApiKey {
        name: name.clone(),
        ..Default::default()
    };
    match ctx.state.core.create_api_key(&ctx.session.actor(), input).await {
        Ok(created) => {
            let mut panel = Panel::headed("key-secret", a.key_secret_heading).paragraph(a.key_secret_intro);
            panel.secret = Some((created.key.name.clone(), created.secret.clone(), "api-key-secret"));
            let view = View {
                status: Some(StatusCode::CREATED),
                once: vec![panel],
                ..Default::default()
            };
            render(&ctx, Section::ApiKeys, view).await
        }
        Err(error) => {
            let label = |field: &str| (field == "name").then(|| ("name", a.key_name_label.to_string()));
            failed(
                &ctx,
                Section::ApiKeys,
                error,
                View::default().value("name", name),
                label,
            )
            .await
        }
    }
}

/// `POST /account/api-keys/revoke` (`id`): revokes one of the user's keys at once
/// ([`roster_core::Core::revoke_my_api_key`]); another user's is not found.
pub(super) async fn api_key_revoke(
    State(state): State<AppState>,
    Lang(t): Lang,
    headers: HeaderMap,
    CurrentSession(session): CurrentSession,
    body: Bytes,
) -> Response {
    let (ctx, form) = match posted::<IdForm>(state, t, &headers, session, &body, Section::ApiKeys).await {
        Ok(posted) => posted,
        Err(response) => return *response,
    };
    let id = match form.id.unwrap_or_default().parse::<ApiKeyId>() {
        Ok(id) => id,
        Err(error) => return failed(&ctx, Section::ApiKeys, error, View::default(), |_| None).await,
    };
    match ctx.state.core.revoke_my_api_key(&ctx.session.actor(), id).await {
        Ok(()) => done(Section::ApiKeys, "key-revoked"),
        Err(error) => failed(&ctx, Section::ApiKeys, error, View::default(), |_| None).await,
    }
}
