//! The SCIM 2.0 service provider (RFC 7644) at `/scim/v2`: `Users`, `Groups`, `Schemas`,
//! `ResourceTypes` and `ServiceProviderConfig`. Handlers read the request and render the
//! answer (`application/scim+json`, `ETag`, `Location`); the core decides
//! (`roster_core::service::scim_server`). Every error, from handlers, extractors and
//! fallbacks alike, is a SCIM Error message ([`render_error`]).

use crate::error::{ApiError, ErrorInfo};
use crate::extract::{Auth, Query, parse_json};
use crate::state::AppState;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use roster_core::service::{
    SCIM_ERROR_SCHEMA, ScimListQuery, ScimResourceKind, project_attributes, scim_resource_type, scim_resource_types,
    scim_schema, scim_schemas, scim_service_provider_config,
};
use roster_core::{Error, ErrorCode as C};
use serde::Deserialize;
use serde_json::{Value, json};

/// Where the SCIM routes are mounted.
pub const SCIM_PREFIX: &str = "/scim/v2";
/// The SCIM media type.
pub const SCIM_CONTENT_TYPE: &str = "application/scim+json";

type Result<T> = std::result::Result<T, ApiError>;

/// Mounts the SCIM routes at [`SCIM_PREFIX`], every error in SCIM's shape.
pub fn mount(_state: &AppState) -> Router<AppState> {
    let routes = Router::new()
        .route("/ServiceProviderConfig", get(service_provider_config))
        .route("/ResourceTypes", get(resource_types))
        .route("/ResourceTypes/{id}", get(resource_type))
        .route("/Schemas", get(schemas))
        .route("/Schemas/{id}", get(schema))
        .route("/.search", post(search_everything));
    let routes = resource_routes::<Users>(routes, "/Users");
    let routes = resource_routes::<Groups>(routes, "/Groups");
    crate::dialect::mount_at(SCIM_PREFIX, routes, render_error)
}

/// The base URL of the SCIM routes, as clients reach them.
fn base(state: &AppState) -> String {
    format!("{}{SCIM_PREFIX}", state.core.config.public_url.trim_end_matches('/'))
}

/// A SCIM answer: `value` as `application/scim+json`, with its version as `ETag`.
fn scim(status: StatusCode, value: Value) -> Response {
    let etag = value["meta"]["version"]
        .as_str()
        .and_then(|v| HeaderValue::from_str(v).ok());
    let location = (status == StatusCode::CREATED)
        .then(|| {
            value["meta"]["location"]
                .as_str()
                .and_then(|v| HeaderValue::from_str(v).ok())
        })
        .flatten();
    let mut response = (status, value.to_string()).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(SCIM_CONTENT_TYPE));
    if let Some(etag) = etag {
        headers.insert(header::ETAG, etag);
    }
    if let Some(location) = location {
        headers.insert(header::LOCATION, location);
    }
    response
}

/// Renders any error of the SCIM routes as a SCIM Error message (RFC 7644 §3.12).
pub fn render_error(info: &ErrorInfo) -> Response {
    let bad = StatusCode::BAD_REQUEST;
    let (status, scim_type) = match info.code {
        C::InvalidField => match info.field.as_deref() {
            Some("filter") => (bad, Some("invalidFilter")),
            Some("too_many") => (bad, Some("tooMany")),
            Some("path") => (bad, Some("invalidPath")),
            Some("target") => (bad, Some("noTarget")),
            Some("mutability") => (bad, Some("mutability")),
            Some("syntax") => (bad, Some("invalidSyntax")),
            Some("if_match") => (StatusCode::PRECONDITION_FAILED, None),
            _ => (bad, Some("invalidValue")),
        },
        C::MalformedJson | C::UnreadableBody => (bad, Some("invalidSyntax")),
        C::InvalidQuery | C::InvalidPath => (bad, Some("invalidValue")),
        C::Conflict => (StatusCode::CONFLICT, Some("uniqueness")),
        C::LastAdmin => (bad, Some("mutability")),
        C::NotFound | C::InvalidId | C::RouteNotFound => (StatusCode::NOT_FOUND, None),
        C::Unauthenticated | C::InvalidToken | C::InvalidCredentials => (StatusCode::UNAUTHORIZED, None),
        C::TooLarge | C::BodyTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, None),
        _ => (info.status, None),
    };
    let detail = match (info.code, info.field.as_deref()) {
        (C::Conflict, Some(field)) => format!("{field} is already taken"),
        _ => info.detail.clone(),
    };
    let mut response = error_body(status, scim_type, &detail);
    if status == StatusCode::UNAUTHORIZED {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    response
}

/// A SCIM Error message.
fn error_body(status: StatusCode, scim_type: Option<&str>, detail: &str) -> Response {
    let mut body = json!({
        "schemas": [SCIM_ERROR_SCHEMA],
        "status": status.as_u16().to_string(),
        "detail": detail,
    });
    if let Some(scim_type) = scim_type {
        body["scimType"] = json!(scim_type);
    }
    scim(status, body)
}

/// `POST /.search` over every resource type at once is not supported (RFC 7644's 501); each
/// type's own `/.search` is.
async fn search_everything(State(state): State<AppState>, Auth(actor): Auth) -> Result<Response> {
    state.core.require_scim(&actor)?;
    Ok(error_body(
        StatusCode::NOT_IMPLEMENTED,
        None,
        "searching every resource type at once is not supported: use /Users/.search or /Groups/.search",
    ))
}

/// The query of a listing and of a read: paging, filter, sort and the attributes asked for.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListParams {
    filter: Option<String>,
    start_index: Option<String>,
    count: Option<String>,
    sort_by: Option<String>,
    sort_order: Option<String>,
    attributes: Option<String>,
    excluded_attributes: Option<String>,
}

fn integer(field: &'static str, raw: Option<&str>) -> Result<Option<i64>> {
    raw.map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<i64>()
                .map_err(|_| Error::invalid(field, "must be an integer").into())
        })
        .transpose()
}

impl ListParams {
    fn query(&self) -> Result<ScimListQuery> {
        Ok(ScimListQuery {
            filter: self.filter.clone(),
            start_index: integer("startIndex", self.start_index.as_deref())?,
            count: integer("count", self.count.as_deref())?,
            sort_by: self.sort_by.clone(),
            sort_order: self.sort_order.clone(),
        })
    }

    fn project(&self, resource: Value) -> Result<Value> {
        Ok(project_attributes(
            resource,
            self.attributes.as_deref(),
            self.excluded_attributes.as_deref(),
        )?)
    }
}

/// A SCIM body: JSON, as `application/scim+json` or `application/json`.
fn body(headers: &HeaderMap, bytes: &Bytes) -> Result<Value> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    if !content_type.is_empty() && !content_type.contains("json") {
        return Err(Error::invalid("syntax", "the body must be application/scim+json").into());
    }
    let value: Value = parse_json(bytes)?;
    if !value.is_object() {
        return Err(Error::invalid("syntax", "the body must be a JSON object").into());
    }
    Ok(value)
}

fn if_match(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::IF_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

async fn service_provider_config(State(state): State<AppState>, Auth(actor): Auth) -> Result<Response> {
    state.core.require_scim(&actor)?;
    let docs = "https://github.com/roster/roster/blob/main/docs/scim.md";
    Ok(scim(StatusCode::OK, scim_service_provider_config(&base(&state), docs)))
}

async fn resource_types(State(state): State<AppState>, Auth(actor): Auth) -> Result<Response> {
    state.core.require_scim(&actor)?;
    Ok(scim(StatusCode::OK, scim_resource_types(&base(&state))))
}

async fn resource_type(State(state): State<AppState>, Auth(actor): Auth, Path(id): Path<String>) -> Result<Response> {
    state.core.require_scim(&actor)?;
    let found = scim_resource_type(&base(&state), &id).ok_or(Error::NotFound("resource type"))?;
    Ok(scim(StatusCode::OK, found))
}

async fn schemas(State(state): State<AppState>, Auth(actor): Auth) -> Result<Response> {
    state.core.require_scim(&actor)?;
    Ok(scim(StatusCode::OK, scim_schemas(&base(&state))))
}

async fn schema(State(state): State<AppState>, Auth(actor): Auth, Path(id): Path<String>) -> Result<Response> {
    state.core.require_scim(&actor)?;
    let found = scim_schema(&base(&state), &id).ok_or(Error::NotFound("schema"))?;
    Ok(scim(StatusCode::OK, found))
}

/// A resource type's routes, `R`'s handlers at `path`: the listing and creation, the search,
/// and one resource's read, replacement, PATCH and deletion.
fn resource_routes<R: Resource>(routes: Router<AppState>, path: &str) -> Router<AppState> {
    routes
        .route(path, get(list::<R>).post(create::<R>))
        .route(&format!("{path}/.search"), post(search::<R>))
        .route(
            &format!("{path}/{{id}}"),
            get(read::<R>).put(replace::<R>).patch(patch::<R>).delete(delete::<R>),
        )
}

/// The resource type a route serves (`Users` or `Groups`): the handlers are the same for
/// both, with the kind they hand the core.
trait Resource: Send + Sync + 'static {
    const KIND: ScimResourceKind;
}

/// `/Users`.
enum Users {}

impl Resource for Users {
    const KIND: ScimResourceKind = ScimResourceKind::User;
}

/// `/Groups`.
enum Groups {}

impl Resource for Groups {
    const KIND: ScimResourceKind = ScimResourceKind::Group;
}

/// A page of the listing, each resource projected onto the attributes asked for.
async fn listing(
    state: &AppState,
    actor: &roster_core::Actor,
    kind: ScimResourceKind,
    params: &ListParams,
) -> Result<Response> {
    let mut page = state
        .core
        .scim_list(actor, kind, &base(state), &params.query()?)
        .await?;
    page.resources = std::mem::take(&mut page.resources)
        .into_iter()
        .map(|r| params.project(r))
        .collect::<Result<Vec<_>>>()?;
    Ok(scim(StatusCode::OK, page.to_json()))
}

/// `GET /Users`, `GET /Groups`.
async fn list<R: Resource>(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Query(params): Query<ListParams>,
) -> Result<Response> {
    listing(&state, &actor, R::KIND, &params).await
}

/// A SearchRequest body (`POST /Users/.search`): the listing's parameters as JSON.
fn search_params(headers: &HeaderMap, bytes: &Bytes) -> Result<ListParams> {
    let value = body(headers, bytes)?;
    let text = |field: &'static str| -> Result<Option<String>> {
        match value.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(Value::Array(items)) => items
                .iter()
                .map(|i| i.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()
                .map(|v| Some(v.join(",")))
                .ok_or_else(|| Error::invalid(field, "must be a list of strings").into()),
            Some(_) => Err(Error::invalid(field, "has the wrong type").into()),
        }
    };
    Ok(ListParams {
        filter: text("filter")?,
        start_index: text("startIndex")?,
        count: text("count")?,
        sort_by: text("sortBy")?,
        sort_order: text("sortOrder")?,
        attributes: text("attributes")?,
        excluded_attributes: text("excludedAttributes")?,
    })
}

/// `POST /Users/.search`, `POST /Groups/.search`.
async fn search<R: Resource>(
    State(state): State<AppState>,
    Auth(actor): Auth,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Response> {
    let params = search_params(&headers, &bytes)?;
    listing(&state, &actor, R::KIND, &params).await
}

/// `GET /Users/{id}`, `GET /Groups/{id}`.
async fn read<R: Resource>(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
    Query(params): Query<ListParams>,
) -> Result<Response> {
    let resource = state.core.scim_get(&actor, R::KIND, &base(&state), &id).await?;
    let version = resource["meta"]["version"].clone();
    let mut response = scim(StatusCode::OK, params.project(resource)?);
    if let Some(v) = version.as_str().and_then(|v| HeaderValue::from_str(v).ok()) {
        response.headers_mut().insert(header::ETAG, v);
    }
    Ok(response)
}

/// `POST /Users`, `POST /Groups`.
async fn create<R: Resource>(
    State(state): State<AppState>,
    Auth(actor): Auth,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Response> {
    let value = body(&headers, &bytes)?;
    let created = state.core.scim_create(&actor, R::KIND, &base(&state), &value).await?;
    Ok(scim(StatusCode::CREATED, created))
}

/// `PUT /Users/{id}`, `PUT /Groups/{id}`.
async fn replace<R: Resource>(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Response> {
    let value = body(&headers, &bytes)?;
    let resource = state
        .core
        .scim_replace(
            &actor,
            R::KIND,
            &base(&state),
            &id,
            &value,
            if_match(&headers).as_deref(),
        )
        .await?;
    Ok(scim(StatusCode::OK, resource))
}

/// `PATCH /Users/{id}`, `PATCH /Groups/{id}`.
async fn patch<R: Resource>(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Response> {
    let value = body(&headers, &bytes)?;
    let resource = state
        .core
        .scim_patch(
            &actor,
            R::KIND,
            &base(&state),
            &id,
            &value,
            if_match(&headers).as_deref(),
        )
        .await?;
    Ok(scim(StatusCode::OK, resource))
}

/// `DELETE /Users/{id}`, `DELETE /Groups/{id}`.
async fn delete<R: Resource>(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response> {
    state
        .core
        .scim_delete(&actor, R::KIND, &base(&state), &id, if_match(&headers).as_deref())
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
