//! `/admin/clients`: the OpenID Connect relying parties. List, show, create (the generated
//! secret shown once), change the settings, replace the secret (shown once) and remove
//! (confirmed, with the password again when the sign-in is old): each one call of the core
//! service `roster clients` and `/v1/clients` use.

use super::view::{AdminChrome, Ask, Confirmation, MessagePage, confirm, render, when};
use super::{Admin, AdminForm, DoneQuery, done, error_page};
use crate::extract::Meta;
use crate::pages::PageQuery;
use crate::pages::strings::fill;
use crate::state::AppState;
use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use roster_core::Error;
use roster_core::service::oidc::{ClientChanges, ClientCreated, ClientView, NewClient};
use serde::Deserialize;

/// The fields of the settings form (create and update) a core error may name.
const FIELDS: &[&str] = &[
    "client_id",
    "name",
    "redirect_uris",
    "post_logout_redirect_uris",
    "scopes",
    "grant_types",
    "audience",
    "backchannel_logout_uri",
    "access_token_ttl",
    "id_token_ttl",
    "refresh_token_ttl",
];

/// The settings form, as typed: lists one a line (or separated by commas or spaces).
#[derive(Debug, Default, Deserialize, Clone)]
#[serde(default)]
pub struct ClientForm {
    client_id: String,
    public: Option<String>,
    name: String,
    redirect_uris: String,
    post_logout_redirect_uris: String,
    scopes: String,
    grant_types: String,
    audience: String,
    first_party: Option<String>,
    backchannel_logout_uri: String,
    access_token_ttl: String,
    id_token_ttl: String,
    refresh_token_ttl: String,
}

/// A list typed in a text area: one entry a line, or separated by commas or spaces.
fn entries(text: &str) -> Vec<String> {
    text.split([',', ' ', '\n', '\r', '\t'])
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// An optional text: empty clears.
fn clearable(text: &str) -> Option<Option<String>> {
    Some(Some(text.trim().to_string()).filter(|s| !s.is_empty()))
}

/// A lifetime in seconds: empty keeps it (a new client: the default).
fn seconds(field: &'static str, text: &str) -> Result<Option<i64>, Error> {
    match text.trim() {
        "" => Ok(None),
        s => s
            .parse::<i64>()
            .map(Some)
            .map_err(|_| Error::invalid(field, "must be a whole number of seconds")),
    }
}

impl ClientForm {
    /// The settings as the core takes them. Every list is replaced by the form's; an empty
    /// scope or grant list keeps the current one (a new client: the default).
    fn changes(&self) -> Result<ClientChanges, Error> {
        let some_list = |text: &str| Some(entries(text)).filter(|l| !l.is_empty());
        Ok(ClientChanges {
            name: clearable(&self.name),
            redirect_uris: Some(entries(&self.redirect_uris)),
            post_logout_redirect_uris: Some(entries(&self.post_logout_redirect_uris)),
            scopes: some_list(&self.scopes),
            grant_types: some_list(&self.grant_types),
            audience: clearable(&self.audience),
            first_party: Some(self.first_party.as_deref() == Some("on")),
            backchannel_logout_uri: clearable(&self.backchannel_logout_uri),
            signing_alg: None,
            access_token_ttl: seconds("access_token_ttl", &self.access_token_ttl)?,
            id_token_ttl: seconds("id_token_ttl", &self.id_token_ttl)?,
            refresh_token_ttl: seconds("refresh_token_ttl", &self.refresh_token_ttl)?,
            roles_claim: None,
            groups_claim: None,
        })
    }

    /// The form filled with a client's settings.
    fn of(client: &ClientView) -> Self {
        ClientForm {
            client_id: client.client_id.clone(),
            public: (!client.confidential).then(|| "on".into()),
            name: client.name.clone().unwrap_or_default(),
            redirect_uris: client.redirect_uris.join("\n"),
            post_logout_redirect_uris: client.post_logout_redirect_uris.join("\n"),
            scopes: client.scopes.join(" "),
            grant_types: client.grant_types.join(" "),
            audience: client.audience.clone().unwrap_or_default(),
            first_party: client.first_party.then(|| "on".into()),
            backchannel_logout_uri: client.backchannel_logout_uri.clone().unwrap_or_default(),
            access_token_ttl: client.access_token_ttl.to_string(),
            id_token_ttl: client.id_token_ttl.to_string(),
            refresh_token_ttl: client.refresh_token_ttl.to_string(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct ClientRow {
    pub href: String,
    pub client_id: String,
    pub name: String,
    pub kind: &'static str,
    pub first_party: &'static str,
    pub redirect_uris: String,
}

#[derive(Template)]
#[template(path = "pages/admin/clients.html")]
pub struct ClientsPage {
    pub chrome: AdminChrome,
    pub t: &'static super::strings::AdminStrings,
    pub rows: Vec<ClientRow>,
    pub form: ClientForm,
}

fn kind(admin: &Admin, client: &ClientView) -> &'static str {
    if client.confidential {
        admin.t.client_confidential
    } else {
        admin.t.client_public
    }
}

async fn clients_view(
    state: &AppState,
    admin: &Admin,
    chrome: AdminChrome,
    status: StatusCode,
    form: ClientForm,
) -> Response {
    let t = admin.t;
    let clients = match state.core.list_oidc_clients(&admin.actor).await {
        Ok(clients) => clients,
        Err(error) => return error_page(state, admin, &error),
    };
    let page = ClientsPage {
        chrome,
        t,
        rows: clients
            .iter()
            .map(|c| ClientRow {
                href: client_href(&c.client_id),
                client_id: c.client_id.clone(),
                name: c.name.clone().unwrap_or_default(),
                kind: kind(admin, c),
                first_party: if c.first_party { t.yes } else { t.no },
                redirect_uris: c.redirect_uris.join(" "),
            })
            .collect(),
        form,
    };
    render(state, admin, status, &page)
}

/// A client's page (its id escaped for the path).
fn client_href(client_id: &str) -> String {
    let id: String = form_urlencoded::byte_serialize(client_id.as_bytes()).collect();
    format!("/admin/clients/{id}")
}

/// `GET /admin/clients`.
pub async fn list(State(state): State<AppState>, admin: Admin, PageQuery(query): PageQuery<DoneQuery>) -> Response {
    let notice = (query.done.as_deref() == Some("removed")).then(|| admin.t.client_removed.to_string());
    let chrome = AdminChrome::new(&state, &admin, admin.t.clients_title, "/admin/clients").notice(notice);
    let form = ClientForm {
        scopes: "openid profile email".into(),
        grant_types: "authorization_code refresh_token".into(),
        ..ClientForm::default()
    };
    clients_view(&state, &admin, chrome, StatusCode::OK, form).await
}

/// The page that shows a secret once (or says the client has none).
fn secret_page(state: &AppState, admin: &Admin, title: &str, created: ClientCreated) -> Response {
    let t = admin.t;
    let id = &created.client.client_id;
    let paragraphs = match &created.secret {
        Some(_) => vec![fill(t.client_secret_body, &[("client", id)])],
        None => vec![fill(t.client_public_body, &[("client", id)])],
    };
    let page = MessagePage {
        chrome: AdminChrome::new(state, admin, title, "/admin/clients"),
        paragraphs,
        code: created.secret,
        back: t.back,
        back_href: client_href(id),
    };
    render(state, admin, StatusCode::CREATED, &page)
}

/// `POST /admin/clients`: registers a client; its generated secret is shown once.
pub async fn create(State(state): State<AppState>, AdminForm { admin, form }: AdminForm<ClientForm>) -> Response {
    let t = admin.t;
    let created = async {
        let new = NewClient {
            client_id: form.client_id.trim().to_string(),
            public: form.public.as_deref() == Some("on"),
            secret: None,
            settings: form.changes()?,
        };
        state.core.create_oidc_client(&admin.actor, new).await
    }
    .await;
    match created {
        Ok(created) => secret_page(&state, &admin, t.client_created_title, created),
        Err(error @ (Error::Unavailable | Error::Internal(_))) => error_page(&state, &admin, &error),
        Err(error) => {
            let chrome = AdminChrome::new(&state, &admin, t.clients_title, "/admin/clients").core_error(&error, FIELDS);
            clients_view(&state, &admin, chrome, crate::error::status_of(&error), form).await
        }
    }
}

#[derive(Template)]
#[template(path = "pages/admin/client.html")]
pub struct ClientPage {
    pub chrome: AdminChrome,
    pub t: &'static super::strings::AdminStrings,
    pub base: String,
    pub facts: Vec<(&'static str, String)>,
    pub confidential: bool,
    pub form: ClientForm,
}

async fn client_view(
    state: &AppState,
    admin: &Admin,
    client_id: &str,
    chrome: AdminChrome,
    status: StatusCode,
    form: Option<ClientForm>,
) -> Response {
    let t = admin.t;
    let client = match state.core.get_oidc_client(&admin.actor, client_id).await {
        Ok(client) => client,
        Err(error) => return error_page(state, admin, &error),
    };
    let mut chrome = chrome;
    chrome.title = fill(t.client_title, &[("client", &client.client_id)]);
    let page = ClientPage {
        t,
        base: client_href(&client.client_id),
        facts: vec![
            (t.col_client_id, client.client_id.clone()),
            (t.col_type, kind(admin, &client).to_string()),
            (t.col_signing_alg, client.signing_alg.clone()),
            (t.col_claims, format!("{}, {}", client.roles_claim, client.groups_claim)),
            (t.col_created, when(client.created_at)),
            (t.col_updated, when(client.updated_at)),
        ],
        confidential: client.confidential,
        form: form.unwrap_or_else(|| ClientForm::of(&client)),
        chrome,
    };
    render(state, admin, status, &page)
}

/// `GET /admin/clients/{id}`.
pub async fn page(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
    PageQuery(query): PageQuery<DoneQuery>,
) -> Response {
    let notice = (query.done.as_deref() == Some("saved")).then(|| admin.t.client_saved.to_string());
    let chrome = AdminChrome::new(&state, &admin, admin.t.clients_title, "/admin/clients").notice(notice);
    client_view(&state, &admin, &id, chrome, StatusCode::OK, None).await
}

/// `POST /admin/clients/{id}`: replaces the client's settings with the form's.
pub async fn update(
    State(state): State<AppState>,
    Path(id): Path<String>,
    AdminForm { admin, form }: AdminForm<ClientForm>,
) -> Response {
    let result = match form.changes() {
        Ok(changes) => state.core.update_oidc_client(&admin.actor, &id, changes).await,
        Err(error) => Err(error),
    };
    match result {
        Ok(client) => done(&client_href(&client.client_id), "saved"),
        Err(error @ (Error::Unavailable | Error::Internal(_) | Error::NotFound(_))) => {
            error_page(&state, &admin, &error)
        }
        Err(error) => {
            let chrome =
                AdminChrome::new(&state, &admin, admin.t.clients_title, "/admin/clients").core_error(&error, FIELDS);
            let status = crate::error::status_of(&error);
            client_view(&state, &admin, &id, chrome, status, Some(form)).await
        }
    }
}

/// Asks before a dangerous action on client `id` (at `path` under the client's page).
async fn ask_about(
    state: &AppState,
    admin: &Admin,
    meta: &Meta,
    (id, path, question, typed): (&str, &str, &str, bool),
    given: &Confirmation,
) -> Result<ClientView, Response> {
    let client = state
        .core
        .get_oidc_client(&admin.actor, id)
        .await
        .map_err(|e| error_page(state, admin, &e))?;
    let base = client_href(&client.client_id);
    let ask = Ask {
        action: format!("{base}/{path}"),
        question: fill(question, &[("client", &client.client_id)]),
        hidden: Vec::new(),
        typed: typed.then(|| client.client_id.clone()),
        cancel: base,
    };
    confirm(state, admin, meta, ask, given).await?;
    Ok(client)
}

/// `POST /admin/clients/{id}/rotate-secret` (confirmed): a new secret, shown once; the old
/// one stops working.
pub async fn rotate(
    State(state): State<AppState>,
    meta: Meta,
    Path(id): Path<String>,
    AdminForm { admin, form }: AdminForm<Confirmation>,
) -> Response {
    let question = admin.t.confirm_rotate_secret;
    let client = match ask_about(&state, &admin, &meta, (&id, "rotate-secret", question, false), &form).await {
        Ok(client) => client,
        Err(response) => return response,
    };
    match state
        .core
        .rotate_oidc_client_secret(&admin.actor, &client.client_id, None)
        .await
    {
        Ok(created) => secret_page(&state, &admin, admin.t.client_rotated_title, created),
        Err(error) => error_page(&state, &admin, &error),
    }
}

/// `POST /admin/clients/{id}/delete` (confirmed by typing the client id): removes the client
/// with its grants and tokens.
pub async fn remove(
    State(state): State<AppState>,
    meta: Meta,
    Path(id): Path<String>,
    AdminForm { admin, form }: AdminForm<Confirmation>,
) -> Response {
    let question = admin.t.confirm_remove_client;
    let client = match ask_about(&state, &admin, &meta, (&id, "delete", question, true), &form).await {
        Ok(client) => client,
        Err(response) => return response,
    };
    match state.core.delete_oidc_client(&admin.actor, &client.client_id).await {
        Ok(()) => done("/admin/clients", "removed"),
        Err(error) => error_page(&state, &admin, &error),
    }
}
