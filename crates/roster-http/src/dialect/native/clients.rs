//! `/v1/clients`: the OpenID Connect relying parties, for administrators (the same core
//! services as `roster clients`). Secrets are shown once, in the answer that makes them.

use super::dto::double_option;
use crate::error::{ApiError, Problem};
use crate::extract::{Auth, Json};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use roster_core::service::oidc::{ClientChanges, ClientCreated, ClientView, NewClient};
use roster_core::user::rfc3339;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

type ApiResult<T> = Result<T, ApiError>;

/// The client routes, merged into the native router.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(clients_get, clients_post))
        .routes(routes!(clients_id_get, clients_id_patch, clients_id_delete))
        .routes(routes!(clients_id_secret_post))
}

/// A relying party (never its secret).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ClientBody {
    pub client_id: String,
    pub name: Option<String>,
    /// Authenticates with a secret (false: a public client, PKCE only).
    pub confidential: bool,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub scopes: Vec<String>,
    pub grant_types: Vec<String>,
    /// The `aud` of its access tokens (null: its client id).
    pub audience: Option<String>,
    /// Users are not asked to consent.
    pub first_party: bool,
    pub backchannel_logout_uri: Option<String>,
    /// `RS256` or `EdDSA`.
    pub signing_alg: String,
    pub access_token_ttl: i64,
    pub id_token_ttl: i64,
    pub refresh_token_ttl: i64,
    pub roles_claim: String,
    pub groups_claim: String,
    /// RFC 3339.
    pub created_at: String,
    pub updated_at: String,
}

/// A client with its secret, shown this once.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ClientCreatedBody {
    pub client: ClientBody,
    /// The secret (null for a public client, or when the request gave it).
    pub client_secret: Option<String>,
}

/// The clients.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ClientListBody {
    pub clients: Vec<ClientBody>,
}

/// `POST /v1/clients`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateClientRequest {
    /// 1 to 64 letters and digits.
    pub client_id: String,
    /// A public client: no secret, PKCE required.
    #[serde(default)]
    pub public: bool,
    /// 32 to 128 letters and digits; absent: one is generated and returned.
    pub client_secret: Option<String>,
    #[serde(flatten)]
    pub settings: ClientSettingsRequest,
}

/// `PATCH /v1/clients/{id}` (and the settings of a new client): absent fields are left as
/// they are (or get their default); `null` clears the optional ones.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientSettingsRequest {
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub name: Option<Option<String>>,
    /// Exact-match redirect URIs (http or https, no fragment).
    pub redirect_uris: Option<Vec<String>>,
    pub post_logout_redirect_uris: Option<Vec<String>>,
    /// Of `openid`, `profile`, `email`, `offline_access`, `roles`, `groups` (default: all).
    pub scopes: Option<Vec<String>>,
    /// Of `authorization_code`, `refresh_token`, `client_credentials` (default: the first two).
    pub grant_types: Option<Vec<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub audience: Option<Option<String>>,
    pub first_party: Option<bool>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub backchannel_logout_uri: Option<Option<String>>,
    /// `RS256` (default) or `EdDSA`.
    pub signing_alg: Option<String>,
    /// Seconds, 60 to 86400 (default 900).
    pub access_token_ttl: Option<i64>,
    /// Seconds, 60 to 86400 (default 3600).
    pub id_token_ttl: Option<i64>,
    /// Seconds, 60 to 31536000 (default 30 days).
    pub refresh_token_ttl: Option<i64>,
    /// The claim of the role (default `roles`).
    pub roles_claim: Option<String>,
    /// The claim of the group names (default `groups`).
    pub groups_claim: Option<String>,
}

/// `POST /v1/clients/{id}/secret`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateSecretRequest {
    /// The new secret (32 to 128 letters and digits); absent: one is generated.
    pub client_secret: Option<String>,
}

impl From<ClientSettingsRequest> for ClientChanges {
    fn from(r: ClientSettingsRequest) -> Self {
        ClientChanges {
            name: r.name,
            redirect_uris: r.redirect_uris,
            post_logout_redirect_uris: r.post_logout_redirect_uris,
            scopes: r.scopes,
            grant_types: r.grant_types,
            audience: r.audience,
            first_party: r.first_party,
            backchannel_logout_uri: r.backchannel_logout_uri,
            signing_alg: r.signing_alg,
            access_token_ttl: r.access_token_ttl,
            id_token_ttl: r.id_token_ttl,
            refresh_token_ttl: r.refresh_token_ttl,
            roles_claim: r.roles_claim,
            groups_claim: r.groups_claim,
        }
    }
}

fn client_body(c: ClientView) -> ClientBody {
    ClientBody {
        client_id: c.client_id,
        name: c.name,
        confidential: c.confidential,
        redirect_uris: c.redirect_uris,
        post_logout_redirect_uris: c.post_logout_redirect_uris,
        scopes: c.scopes,
        grant_types: c.grant_types,
        audience: c.audience,
        first_party: c.first_party,
        backchannel_logout_uri: c.backchannel_logout_uri,
        signing_alg: c.signing_alg,
        access_token_ttl: c.access_token_ttl,
        id_token_ttl: c.id_token_ttl,
        refresh_token_ttl: c.refresh_token_ttl,
        roles_claim: c.roles_claim,
        groups_claim: c.groups_claim,
        created_at: rfc3339(c.created_at),
        updated_at: rfc3339(c.updated_at),
    }
}

fn created_body(c: ClientCreated) -> ClientCreatedBody {
    ClientCreatedBody {
        client: client_body(c.client),
        client_secret: c.secret,
    }
}

/// The OpenID Connect clients (administrators).
#[utoipa::path(get, path = "/v1/clients", tag = "clients", security(("bearer" = [])),
    responses((status = 200, body = ClientListBody), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn clients_get(State(state): State<AppState>, Auth(actor): Auth) -> ApiResult<axum::Json<ClientListBody>> {
    let clients = state.core.list_oidc_clients(&actor).await?;
    Ok(axum::Json(ClientListBody {
        clients: clients.into_iter().map(client_body).collect(),
    }))
}

/// Registers a client (administrators). Its secret is in this answer only.
#[utoipa::path(post, path = "/v1/clients", tag = "clients", security(("bearer" = [])), request_body = CreateClientRequest,
    responses((status = 201, body = ClientCreatedBody), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn clients_post(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Json(body): Json<CreateClientRequest>,
) -> ApiResult<impl IntoResponse> {
    let created = state
        .core
        .create_oidc_client(
            &actor,
            NewClient {
                client_id: body.client_id,
                public: body.public,
                secret: body.client_secret,
                settings: body.settings.into(),
            },
        )
        .await?;
    Ok((StatusCode::CREATED, axum::Json(created_body(created))))
}

/// One client (administrators).
#[utoipa::path(get, path = "/v1/clients/{id}", tag = "clients", security(("bearer" = [])),
    params(("id" = String, Path, description = "client id")),
    responses((status = 200, body = ClientBody), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem)))]
async fn clients_id_get(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<ClientBody>> {
    Ok(axum::Json(client_body(state.core.get_oidc_client(&actor, &id).await?)))
}

/// Changes a client's settings (administrators).
#[utoipa::path(patch, path = "/v1/clients/{id}", tag = "clients", security(("bearer" = [])),
    params(("id" = String, Path, description = "client id")), request_body = ClientSettingsRequest,
    responses((status = 200, body = ClientBody), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn clients_id_patch(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
    Json(body): Json<ClientSettingsRequest>,
) -> ApiResult<axum::Json<ClientBody>> {
    let client = state.core.update_oidc_client(&actor, &id, body.into()).await?;
    Ok(axum::Json(client_body(client)))
}

/// Removes a client with its grants and tokens (administrators).
#[utoipa::path(delete, path = "/v1/clients/{id}", tag = "clients", security(("bearer" = [])),
    params(("id" = String, Path, description = "client id")),
    responses((status = 204), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn clients_id_delete(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    state.core.delete_oidc_client(&actor, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Replaces a confidential client's secret (administrators); the old one stops working.
#[utoipa::path(post, path = "/v1/clients/{id}/secret", tag = "clients", security(("bearer" = [])),
    params(("id" = String, Path, description = "client id")), request_body = RotateSecretRequest,
    responses((status = 200, body = ClientCreatedBody), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn clients_id_secret_post(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
    Json(body): Json<RotateSecretRequest>,
) -> ApiResult<axum::Json<ClientCreatedBody>> {
    let created = state
        .core
        .rotate_oidc_client_secret(&actor, &id, body.client_secret)
        .await?;
    Ok(axum::Json(created_body(created)))
}
