//! The native webhook, deletion and event-stream routes: `/v1/webhooks` (subscriptions and
//! their delivery log, administrators), `/v1/deletions` (the deletion workflow's status) and
//! `/v1/events` (the outbox, for services that pull). Parse, call the core, render.

use crate::error::{ApiError, Problem};
use crate::extract::{Auth, Json, Query};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use roster_core::UserId;
use roster_core::service::{DeletionStatus, NewSubscription};
use roster_core::time::OffsetDateTime;
use roster_core::user::rfc3339;
use roster_core::webhooks::{Delivery, DeliveryQuery, DeliveryStatus, Envelope, IdForms, Subscription};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

type ApiResult<T> = Result<T, ApiError>;

/// The webhook routes, merged into the native router.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(webhooks_get, webhooks_post))
        .routes(routes!(webhooks_id_get, webhooks_id_delete))
        .routes(routes!(webhooks_id_deliveries_get))
        .routes(routes!(webhooks_deliveries_get))
        .routes(routes!(webhooks_deliveries_id_replay_post))
        .routes(routes!(deletions_get))
        .routes(routes!(events_get))
}

/// A webhook subscription (never its secret).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct WebhookBody {
    pub id: String,
    pub url: String,
    /// The event types sent; empty: every type.
    pub event_types: Vec<String>,
    /// A user's deletion is complete only once this receiver acknowledged `user.deleted`.
    pub required_for_deletion: bool,
    pub description: Option<String>,
    /// The administrator who created it.
    pub created_by: Option<String>,
    /// RFC 3339.
    pub created_at: String,
}

/// A subscription just created, with its secret: shown this once.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct WebhookCreatedBody {
    #[serde(flatten)]
    pub webhook: WebhookBody,
    /// The HMAC-SHA256 key of the `Roster-Signature` header.
    pub secret: String,
}

/// `POST /v1/webhooks`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhookRequest {
    /// `http://` or `https://`.
    pub url: String,
    /// Event types to send (`user.created`, `user.deleted`, ...); absent or empty: all.
    #[serde(default)]
    pub event_types: Vec<String>,
    /// 16 to 256 characters; absent: one is generated (`whsec_...`).
    #[serde(default)]
    pub secret: Option<String>,
    #[serde(default)]
    pub required_for_deletion: bool,
    #[serde(default)]
    pub description: Option<String>,
}

/// The subscriptions.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct WebhookListBody {
    pub webhooks: Vec<WebhookBody>,
}

/// One delivery of one event to one subscription.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DeliveryBody {
    pub id: String,
    pub webhook_id: String,
    pub event_id: String,
    pub event_type: String,
    /// The event's position in the stream.
    pub event_sequence: i64,
    pub user_id: String,
    /// `pending`, `delivered` or `failed` (given up; replayable).
    pub status: String,
    pub attempts: i64,
    /// RFC 3339; when a pending delivery is tried next.
    pub next_attempt_at: Option<String>,
    pub last_attempt_at: Option<String>,
    pub last_status_code: Option<i64>,
    /// `HTTP <status>`, or the kind of failure: `address not allowed`, `connection failed`,
    /// `timeout` or `request failed` (nothing the receiver or the socket said).
    pub last_error: Option<String>,
    pub delivered_at: Option<String>,
    pub created_at: String,
}

/// A page of the delivery log, newest first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DeliveryListBody {
    pub deliveries: Vec<DeliveryBody>,
    /// Pass as `before` for the next (older) page; null on the last page.
    pub next_before: Option<String>,
}

/// Filters of the delivery log.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeliveriesQuery {
    /// `pending`, `delivered` or `failed`.
    pub status: Option<String>,
    /// Only deliveries about this user.
    pub user_id: Option<String>,
    /// `next_before` of the previous page.
    pub before: Option<String>,
    /// 1 to 500, default 50.
    pub limit: Option<u32>,
}

/// A user id in every dialect's form.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct IdFormsBody {
    /// Roster's decimal id.
    pub id: String,
    /// The UUID form (Open WebUI, Langflow).
    pub uuid: String,
    /// The 24-hex form (LibreChat).
    pub object_id: String,
}

/// A receiver's part in a deletion.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DeletionReceiverBody {
    pub webhook_id: String,
    pub url: String,
    pub acknowledged: bool,
    /// The delivery of `user.deleted` to it; null while not yet queued.
    pub delivery: Option<DeliveryBody>,
}

/// A user's deletion: complete once every required receiver acknowledged it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DeletionBody {
    pub user: IdFormsBody,
    pub event_id: String,
    /// RFC 3339.
    pub deleted_at: String,
    /// Who deleted it (the user itself for a self-deletion; null for the command line).
    pub deleted_by: Option<String>,
    /// `pending` or `complete`.
    pub status: String,
    /// The `required_for_deletion` receivers that have not acknowledged it.
    pub late: Vec<String>,
    pub receivers: Vec<DeletionReceiverBody>,
}

/// Deletions.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DeletionListBody {
    pub deletions: Vec<DeletionBody>,
}

/// `GET /v1/deletions`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeletionsQuery {
    /// `pending` (default; oldest first) or `all` (the latest, newest first).
    pub status: Option<String>,
    /// 1 to 500, default 50.
    pub limit: Option<u32>,
}

/// One event of the stream, as webhooks receive it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EventBody {
    /// The event's id; receivers deduplicate by it.
    pub id: String,
    /// `user.created`, `user.updated`, `user.deleted`, ...
    #[serde(rename = "type")]
    pub event_type: String,
    /// RFC 3339.
    pub occurred_at: String,
    pub actor: Option<IdFormsBody>,
    pub subject: IdFormsBody,
    /// The event's data (never a secret).
    pub data: serde_json::Value,
    /// The event's position in the stream.
    pub sequence: i64,
}

/// A page of the event stream.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EventPageBody {
    pub events: Vec<EventBody>,
    /// Pass as `after` next time (unchanged when there was nothing new).
    pub next_cursor: String,
}

/// `GET /v1/events`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// `next_cursor` of the previous page; absent: from the beginning.
    pub after: Option<String>,
    /// 1 to 1000, default 100.
    pub limit: Option<u32>,
}

fn time_opt(t: Option<OffsetDateTime>) -> Option<String> {
    t.map(rfc3339)
}

fn webhook_body(s: Subscription) -> WebhookBody {
    WebhookBody {
        id: s.id.to_string(),
        url: s.url,
        event_types: s.event_types,
        required_for_deletion: s.required_for_deletion,
        description: s.description,
        created_by: s.created_by.map(|u| u.to_string()),
        created_at: rfc3339(s.created_at),
    }
}

pub(super) fn delivery_body(d: Delivery) -> DeliveryBody {
    DeliveryBody {
        id: d.id.to_string(),
        webhook_id: d.subscription_id.to_string(),
        event_id: d.event_id.to_string(),
        event_type: d.event_type,
        event_sequence: d.event_seq,
        user_id: d.subject_id.to_string(),
        status: d.status.as_str().to_string(),
        attempts: d.attempts,
        next_attempt_at: (d.status == DeliveryStatus::Pending).then(|| rfc3339(d.next_attempt_at)),
        last_attempt_at: time_opt(d.last_attempt_at),
        last_status_code: d.last_status_code,
        last_error: d.last_error,
        delivered_at: time_opt(d.delivered_at),
        created_at: rfc3339(d.created_at),
    }
}

fn id_forms(f: IdForms) -> IdFormsBody {
    IdFormsBody {
        id: f.id,
        uuid: f.uuid,
        object_id: f.object_id,
    }
}

fn event_body(e: Envelope) -> EventBody {
    EventBody {
        id: e.id,
        event_type: e.event_type,
        occurred_at: e.occurred_at,
        actor: e.actor.map(id_forms),
        subject: id_forms(e.subject),
        data: e.data,
        sequence: e.sequence,
    }
}

fn deletion_body(d: DeletionStatus) -> DeletionBody {
    let complete = d.complete();
    let late = d
        .receivers
        .iter()
        .filter(|r| !r.acknowledged())
        .map(|r| r.subscription_id.to_string())
        .collect();
    DeletionBody {
        user: id_forms(IdForms::of(d.event.subject_id)),
        event_id: d.event.id.to_string(),
        deleted_at: rfc3339(d.event.occurred_at),
        deleted_by: d.event.actor_id.map(|a| a.to_string()),
        status: if complete { "complete" } else { "pending" }.to_string(),
        late,
        receivers: d
            .receivers
            .into_iter()
            .map(|r| DeletionReceiverBody {
                webhook_id: r.subscription_id.to_string(),
                url: r.url.clone(),
                acknowledged: r.acknowledged(),
                delivery: r.delivery.map(delivery_body),
            })
            .collect(),
    }
}

/// Parses a webhook or delivery id (a positive decimal number).
pub(super) fn parse_number(raw: &str) -> ApiResult<i64> {
    match raw.parse::<i64>() {
        Ok(v) if v > 0 && !raw.starts_with('+') => Ok(v),
        _ => Err(roster_core::Error::InvalidId.into()),
    }
}

pub(super) fn delivery_query(query: DeliveriesQuery, subscription_id: Option<i64>) -> ApiResult<DeliveryQuery> {
    let before = match query.before.as_deref() {
        None => None,
        Some(raw) => {
            Some(parse_number(raw).map_err(|_| roster_core::Error::invalid("before", "is not a delivery id"))?)
        }
    };
    let subject_id = match query.user_id.as_deref() {
        None => None,
        Some(raw) => Some(
            raw.parse::<UserId>()
                .map_err(|_| roster_core::Error::invalid("user_id", "is not a user id"))?,
        ),
    };
    Ok(DeliveryQuery {
        subscription_id,
        status: query.status.as_deref().map(DeliveryStatus::parse).transpose()?,
        subject_id,
        before,
        limit: query.limit.unwrap_or(50),
    })
}

pub(super) fn delivery_list(deliveries: Vec<Delivery>, limit: u32) -> DeliveryListBody {
    let full = deliveries.len() == limit as usize;
    let next_before = if full {
        deliveries.last().map(|d| d.id.to_string())
    } else {
        None
    };
    DeliveryListBody {
        deliveries: deliveries.into_iter().map(delivery_body).collect(),
        next_before,
    }
}

/// The webhook subscriptions (administrators).
#[utoipa::path(get, path = "/v1/webhooks", tag = "webhooks", security(("bearer" = [])),
    responses((status = 200, body = WebhookListBody), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn webhooks_get(State(state): State<AppState>, Auth(actor): Auth) -> ApiResult<axum::Json<WebhookListBody>> {
    let list = state.core.list_subscriptions(&actor).await?;
    Ok(axum::Json(WebhookListBody {
        webhooks: list.into_iter().map(webhook_body).collect(),
    }))
}

/// Subscribes a URL to events (administrators). The secret is in this answer only. Events
/// committed from now on are delivered, signed, at least once, in order per user. The URL may
/// carry no credentials, and may not point to loopback, private, link-local, unspecified,
/// multicast or metadata addresses (422; `webhook_allow_private_networks` allows the first
/// three); a name is checked on what it resolves to at each delivery.
#[utoipa::path(post, path = "/v1/webhooks", tag = "webhooks", security(("bearer" = [])), request_body = CreateWebhookRequest,
    responses((status = 201, body = WebhookCreatedBody), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 422, body = Problem)))]
async fn webhooks_post(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Json(body): Json<CreateWebhookRequest>,
) -> ApiResult<impl IntoResponse> {
    let created = state
        .core
        .create_subscription(
            &actor,
            NewSubscription {
                url: body.url,
                event_types: body.event_types,
                secret: body.secret,
                required_for_deletion: body.required_for_deletion,
                description: body.description,
            },
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(WebhookCreatedBody {
            webhook: webhook_body(created.subscription),
            secret: created.secret,
        }),
    ))
}

/// One subscription (administrators).
#[utoipa::path(get, path = "/v1/webhooks/{id}", tag = "webhooks", security(("bearer" = [])),
    params(("id" = String, Path, description = "webhook id")),
    responses((status = 200, body = WebhookBody), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn webhooks_id_get(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<WebhookBody>> {
    let id = parse_number(&id)?;
    Ok(axum::Json(webhook_body(state.core.get_subscription(&actor, id).await?)))
}

/// Deletes a subscription and its delivery log (administrators).
#[utoipa::path(delete, path = "/v1/webhooks/{id}", tag = "webhooks", security(("bearer" = [])),
    params(("id" = String, Path, description = "webhook id")),
    responses((status = 204), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn webhooks_id_delete(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let id = parse_number(&id)?;
    state.core.delete_subscription(&actor, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The delivery log of one subscription, newest first (administrators).
#[utoipa::path(get, path = "/v1/webhooks/{id}/deliveries", tag = "webhooks", security(("bearer" = [])),
    params(("id" = String, Path, description = "webhook id"), DeliveriesQuery),
    responses((status = 200, body = DeliveryListBody), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn webhooks_id_deliveries_get(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
    Query(query): Query<DeliveriesQuery>,
) -> ApiResult<axum::Json<DeliveryListBody>> {
    let id = parse_number(&id)?;
    let query = delivery_query(query, Some(id))?;
    let limit = query.limit;
    let deliveries = state.core.list_deliveries(&actor, query).await?;
    Ok(axum::Json(delivery_list(deliveries, limit)))
}

/// The delivery log of every subscription, newest first (administrators).
#[utoipa::path(get, path = "/v1/webhooks/deliveries", tag = "webhooks", security(("bearer" = [])),
    params(DeliveriesQuery),
    responses((status = 200, body = DeliveryListBody), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn webhooks_deliveries_get(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Query(query): Query<DeliveriesQuery>,
) -> ApiResult<axum::Json<DeliveryListBody>> {
    let query = delivery_query(query, None)?;
    let limit = query.limit;
    let deliveries = state.core.list_deliveries(&actor, query).await?;
    Ok(axum::Json(delivery_list(deliveries, limit)))
}

/// Sends a delivery again (administrators): pending and due now, attempts reset. Later
/// events about the same user wait for it.
#[utoipa::path(post, path = "/v1/webhooks/deliveries/{id}/replay", tag = "webhooks", security(("bearer" = [])),
    params(("id" = String, Path, description = "delivery id")),
    responses((status = 200, body = DeliveryBody), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem, description = "being sent right now")))]
async fn webhooks_deliveries_id_replay_post(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<DeliveryBody>> {
    let id = parse_number(&id)?;
    Ok(axum::Json(delivery_body(state.core.replay_delivery(&actor, id).await?)))
}

/// User deletions and which `required_for_deletion` receivers have not acknowledged them
/// (administrators).
#[utoipa::path(get, path = "/v1/deletions", tag = "webhooks", security(("bearer" = [])), params(DeletionsQuery),
    responses((status = 200, body = DeletionListBody), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn deletions_get(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Query(query): Query<DeletionsQuery>,
) -> ApiResult<axum::Json<DeletionListBody>> {
    let pending_only = match query.status.as_deref() {
        None | Some("pending") => true,
        Some("all") => false,
        Some(_) => return Err(roster_core::Error::invalid("status", "must be pending or all").into()),
    };
    let deletions = state
        .core
        .list_deletions(&actor, pending_only, query.limit.unwrap_or(50))
        .await?;
    Ok(axum::Json(DeletionListBody {
        deletions: deletions.into_iter().map(deletion_body).collect(),
    }))
}

/// The event stream, in commit order, for services that pull (administrators, or an API
/// key with the `events` scope). The same events, in the same envelope, as webhooks get.
#[utoipa::path(get, path = "/v1/events", tag = "webhooks", security(("bearer" = [])), params(EventsQuery),
    responses((status = 200, body = EventPageBody), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn events_get(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Query(query): Query<EventsQuery>,
) -> ApiResult<axum::Json<EventPageBody>> {
    let page = state
        .core
        .list_events(&actor, query.after.as_deref(), query.limit)
        .await?;
    Ok(axum::Json(EventPageBody {
        events: page.events.into_iter().map(event_body).collect(),
        next_cursor: page.next_cursor,
    }))
}
