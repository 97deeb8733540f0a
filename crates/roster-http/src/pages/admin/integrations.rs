//! `/admin/invitations` and `/admin/webhooks`: invitation links (shown once), webhook
//! subscriptions (create, with a generated secret shown once; delete) and their delivery logs
//! with replay. Each one core call, as for the API and the command line.

use super::users::{Choice, choices};
use super::view::{AdminChrome, Ask, Confirmation, MessagePage, confirm, render, when, when_or};
use super::{Admin, AdminForm, Empty, done, error_page, path_id};
use crate::extract::Meta;
use crate::pages::strings::fill;
use crate::pages::{PageQuery, REGISTER_PATH};
use crate::state::AppState;
use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use roster_core::service::{
    InvitationPage, InvitationStatus, ListInvitations, NewInvitation, NewSubscription, parse_duration,
};
use roster_core::webhooks::{DeliveryQuery, DeliveryStatus};
use roster_core::{Error, Role};
use serde::Deserialize;

/// How many deliveries a subscription's page shows.
const DELIVERIES_SHOWN: u32 = 50;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct DoneQuery {
    done: Option<String>,
    status: String,
}

/// The invitations page's query: a keyset page's `cursor` (as the users list's), what was done.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct InvitationsQuery {
    done: Option<String>,
    cursor: Option<String>,
}

#[derive(Debug, Default, Deserialize, Clone)]
#[serde(default)]
pub struct InvitationForm {
    email: String,
    role: String,
    expires: String,
}

/// How many invitations a page lists.
const INVITATIONS_PAGE: u32 = 50;

#[derive(Debug, Clone)]
pub struct InvitationRow {
    pub email: String,
    pub role: String,
    pub status: &'static str,
    pub created: String,
    pub expires: String,
    /// Where its Revoke button posts (pending invitations only).
    pub revoke: Option<String>,
}

#[derive(Template)]
#[template(path = "pages/admin/invitations.html")]
pub struct InvitationsPage {
    pub chrome: AdminChrome,
    pub t: &'static super::strings::AdminStrings,
    pub email: String,
    pub expires: String,
    pub roles: Vec<Choice>,
    pub rows: Vec<InvitationRow>,
    /// "Next page": this page's keyset cursor.
    pub next: Option<String>,
    /// "First page", on every page after the first.
    pub first: Option<String>,
}

async fn invitations_view(
    state: &AppState,
    admin: &Admin,
    mut chrome: AdminChrome,
    mut status: StatusCode,
    form: InvitationForm,
    cursor: Option<String>,
) -> Response {
    let t = admin.t;
    let cursor = cursor.filter(|c| !c.is_empty());
    let request = ListInvitations {
        cursor: cursor.clone(),
        limit: Some(INVITATIONS_PAGE),
    };
    let page = match state.core.list_invitations(&admin.actor, request).await {
        Ok(page) => page,
        // A cursor this listing did not make: the first page's form, the error above it.
        Err(error @ Error::Invalid { .. }) => {
            status = StatusCode::UNPROCESSABLE_ENTITY;
            chrome = chrome.core_error(&error, &[]);
            InvitationPage {
                invitations: Vec::new(),
                next_cursor: None,
            }
        }
        Err(error) => return error_page(state, admin, &error),
    };
    let next = page.next_cursor.as_ref().map(|cursor| {
        let cursor: String = form_urlencoded::byte_serialize(cursor.as_bytes()).collect();
        format!("/admin/invitations?cursor={cursor}")
    });
    let first = cursor.map(|_| "/admin/invitations".to_string());
    let rows = page
        .invitations
        .iter()
        .map(|i| InvitationRow {
            email: i.email.clone(),
            role: i
                .role
                .map_or(t.default_role, |r| super::users::role_name(admin, r))
                .to_string(),
            status: match i.status {
                InvitationStatus::Pending => t.invitation_pending,
                InvitationStatus::Used => t.invitation_used,
                InvitationStatus::Expired => t.invitation_expired,
            },
            created: when(i.created_at),
            expires: when(i.expires_at),
            revoke: (i.status == InvitationStatus::Pending).then(|| format!("/admin/invitations/{}/revoke", i.id)),
        })
        .collect();
    let page = InvitationsPage {
        chrome,
        t,
        rows,
        next,
        first,
        email: form.email,
        expires: if form.expires.is_empty() {
            "7d".into()
        } else {
            form.expires
        },
        roles: choices(
            &[
                ("", t.default_role),
                ("user", t.role_user),
                ("pending", t.role_pending),
                ("admin", t.role_admin),
            ],
            &form.role,
        ),
    };
    render(state, admin, status, &page)
}

/// `GET /admin/invitations`: the form and the invitations sent, newest first, in keyset pages
/// (`cursor`).
pub async fn invitations(
    State(state): State<AppState>,
    admin: Admin,
    PageQuery(query): PageQuery<InvitationsQuery>,
) -> Response {
    let notice = (query.done.as_deref() == Some("revoked")).then(|| admin.t.invitation_revoked.to_string());
    let chrome = AdminChrome::new(&state, &admin, admin.t.invitations_title, "/admin/invitations").notice(notice);
    invitations_view(
        &state,
        &admin,
        chrome,
        StatusCode::OK,
        InvitationForm::default(),
        query.cursor,
    )
    .await
}

/// `POST /admin/invitations/{id}/revoke`: the pending invitation's link stops working.
pub async fn revoke_invitation(
    State(state): State<AppState>,
    Path(id): Path<String>,
    AdminForm { admin, .. }: AdminForm<Empty>,
) -> Response {
    match state.core.revoke_invitation(&admin.actor, &id).await {
        Ok(()) => done("/admin/invitations", "revoked"),
        Err(error) => error_page(&state, &admin, &error),
    }
}

/// `POST /admin/invitations`: an invitation link for `email`, shown once.
pub async fn invite(State(state): State<AppState>, AdminForm { admin, form }: AdminForm<InvitationForm>) -> Response {
    let t = admin.t;
    let created = async {
        let role = match form.role.as_str() {
            "" => None,
            role => Some(Role::parse(role).map_err(|_| Error::invalid("role", "is not a role"))?),
        };
        let expires_in = parse_duration("expires", form.expires.trim())?;
        let input = NewInvitation {
            email: form.email.clone(),
            role,
            expires_in,
        };
        state.core.create_invitation(&admin.actor, input).await
    }
    .await;
    match created {
        Ok(invitation) => {
            let token: String = form_urlencoded::byte_serialize(invitation.token.as_bytes()).collect();
            let url = format!(
                "{}{REGISTER_PATH}?token={token}",
                state.core.config.public_url.trim_end_matches('/')
            );
            let page = MessagePage {
                chrome: AdminChrome::new(&state, &admin, t.invitation_link_title, "/admin/invitations"),
                paragraphs: vec![fill(
                    t.invitation_link_body,
                    &[("email", &invitation.email), ("until", &when(invitation.expires_at))],
                )],
                code: Some(url),
                back: t.back,
                back_href: "/admin/invitations".into(),
            };
            render(&state, &admin, StatusCode::CREATED, &page)
        }
        Err(error @ (Error::Unavailable | Error::Internal(_))) => error_page(&state, &admin, &error),
        Err(error) => {
            let chrome = AdminChrome::new(&state, &admin, t.invitations_title, "/admin/invitations")
                .core_error(&error, &["email", "role", "expires"]);
            invitations_view(&state, &admin, chrome, crate::error::status_of(&error), form, None).await
        }
    }
}

#[derive(Debug, Clone)]
pub struct SubscriptionRow {
    pub href: String,
    pub url: String,
    pub events: String,
    pub description: String,
    pub created: String,
}

#[derive(Debug, Default, Deserialize, Clone)]
#[serde(default)]
pub struct SubscriptionForm {
    url: String,
    event_types: String,
    description: String,
    required_for_deletion: Option<String>,
}

#[derive(Template)]
#[template(path = "pages/admin/webhooks.html")]
pub struct WebhooksPage {
    pub chrome: AdminChrome,
    pub t: &'static super::strings::AdminStrings,
    pub rows: Vec<SubscriptionRow>,
    pub url: String,
    pub event_types: String,
    pub description: String,
}

async fn webhooks_view(
    state: &AppState,
    admin: &Admin,
    chrome: AdminChrome,
    status: StatusCode,
    form: SubscriptionForm,
) -> Response {
    let t = admin.t;
    let subscriptions = match state.core.list_subscriptions(&admin.actor).await {
        Ok(subscriptions) => subscriptions,
        Err(error) => return error_page(state, admin, &error),
    };
    let page = WebhooksPage {
        chrome,
        t,
        rows: subscriptions
            .iter()
            .map(|s| SubscriptionRow {
                href: format!("/admin/webhooks/{}", s.id),
                url: s.url.clone(),
                events: if s.event_types.is_empty() {
                    t.all_events.to_string()
                } else {
                    s.event_types.join(", ")
                },
                description: s.description.clone().unwrap_or_default(),
                created: when(s.created_at),
            })
            .collect(),
        url: form.url,
        event_types: form.event_types,
        description: form.description,
    };
    render(state, admin, status, &page)
}

/// `GET /admin/webhooks`.
pub async fn webhooks(State(state): State<AppState>, admin: Admin, PageQuery(query): PageQuery<DoneQuery>) -> Response {
    let notice = (query.done.as_deref() == Some("deleted")).then(|| admin.t.webhook_deleted.to_string());
    let chrome = AdminChrome::new(&state, &admin, admin.t.webhooks_title, "/admin/webhooks").notice(notice);
    webhooks_view(&state, &admin, chrome, StatusCode::OK, SubscriptionForm::default()).await
}

/// `POST /admin/webhooks`: a subscription; its generated secret is shown once.
pub async fn create_webhook(
    State(state): State<AppState>,
    AdminForm { admin, form }: AdminForm<SubscriptionForm>,
) -> Response {
    let t = admin.t;
    let input = NewSubscription {
        url: form.url.clone(),
        event_types: form
            .event_types
            .split([',', ' ', '\n'])
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .map(str::to_string)
            .collect(),
        secret: None,
        required_for_deletion: form.required_for_deletion.as_deref() == Some("on"),
        description: Some(form.description.clone()).filter(|d| !d.trim().is_empty()),
    };
    match state.core.create_subscription(&admin.actor, input).await {
        Ok(created) => {
            let page = MessagePage {
                chrome: AdminChrome::new(&state, &admin, t.webhook_secret_title, "/admin/webhooks"),
                paragraphs: vec![fill(t.webhook_secret_body, &[("url", &created.subscription.url)])],
                code: Some(created.secret),
                back: t.back,
                back_href: format!("/admin/webhooks/{}", created.subscription.id),
            };
            render(&state, &admin, StatusCode::CREATED, &page)
        }
        Err(error @ (Error::Unavailable | Error::Internal(_))) => error_page(&state, &admin, &error),
        Err(error) => {
            let chrome = AdminChrome::new(&state, &admin, t.webhooks_title, "/admin/webhooks")
                .core_error(&error, &["url", "event_types", "description"]);
            webhooks_view(&state, &admin, chrome, crate::error::status_of(&error), form).await
        }
    }
}

#[derive(Debug, Clone)]
pub struct DeliveryRow {
    pub event: String,
    pub subject: String,
    pub subject_href: String,
    pub status: String,
    pub attempts: i64,
    pub last: String,
    pub outcome: String,
    pub created: String,
    pub replay: String,
}

#[derive(Template)]
#[template(path = "pages/admin/webhook.html")]
pub struct WebhookPage {
    pub chrome: AdminChrome,
    pub t: &'static super::strings::AdminStrings,
    pub base: String,
    pub url: String,
    pub events: String,
    pub statuses: Vec<Choice>,
    pub rows: Vec<DeliveryRow>,
}

async fn webhook_view(
    state: &AppState,
    admin: &Admin,
    id: i64,
    chrome: AdminChrome,
    code: StatusCode,
    status: &str,
) -> Response {
    let t = admin.t;
    let loaded = async {
        let subscription = state.core.get_subscription(&admin.actor, id).await?;
        let status = match status {
            "" => None,
            s => Some(DeliveryStatus::parse(s)?),
        };
        let query = DeliveryQuery {
            subscription_id: Some(id),
            status,
            limit: DELIVERIES_SHOWN,
            ..DeliveryQuery::default()
        };
        let deliveries = state.core.list_deliveries(&admin.actor, query).await?;
        Ok::<_, Error>((subscription, deliveries))
    }
    .await;
    let (subscription, deliveries) = match loaded {
        Ok(loaded) => loaded,
        Err(error) => return error_page(state, admin, &error),
    };
    let base = format!("/admin/webhooks/{id}");
    let mut chrome = chrome;
    chrome.title = format!("{}: {}", t.webhook_title, subscription.url);
    let page = WebhookPage {
        t,
        url: subscription.url.clone(),
        events: if subscription.event_types.is_empty() {
            t.all_events.to_string()
        } else {
            subscription.event_types.join(", ")
        },
        statuses: choices(
            &[
                ("", t.any),
                ("pending", "pending"),
                ("delivered", "delivered"),
                ("failed", "failed"),
            ],
            status,
        ),
        rows: deliveries
            .iter()
            .map(|d| DeliveryRow {
                event: d.event_type.clone(),
                subject: d.subject_id.to_string(),
                subject_href: format!("/admin/users/{}", d.subject_id),
                status: d.status.as_str().to_string(),
                attempts: d.attempts,
                last: when_or(d.last_attempt_at, t.never),
                outcome: match (d.last_status_code, &d.last_error) {
                    (Some(code), _) => code.to_string(),
                    (None, Some(error)) => error.clone(),
                    (None, None) => String::new(),
                },
                created: when(d.created_at),
                replay: format!("{base}/deliveries/{}/replay", d.id),
            })
            .collect(),
        base,
        chrome,
    };
    render(state, admin, code, &page)
}

/// `GET /admin/webhooks/{id}` (`status` filters the deliveries).
pub async fn webhook(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
    PageQuery(query): PageQuery<DoneQuery>,
) -> Response {
    let id: i64 = match path_id(&state, &admin, &id, "webhook") {
        Ok(id) => id,
        Err(response) => return response,
    };
    let notice = (query.done.as_deref() == Some("replayed")).then(|| admin.t.delivery_replayed.to_string());
    let chrome = AdminChrome::new(&state, &admin, admin.t.webhooks_title, "/admin/webhooks").notice(notice);
    webhook_view(&state, &admin, id, chrome, StatusCode::OK, &query.status).await
}

/// `POST /admin/webhooks/{id}/deliveries/{delivery}/replay`: sends the delivery again.
pub async fn replay(
    State(state): State<AppState>,
    Path((id, delivery)): Path<(String, String)>,
    AdminForm { admin, .. }: AdminForm<Empty>,
) -> Response {
    let result = match (id.parse::<i64>(), delivery.parse::<i64>()) {
        (Ok(id), Ok(delivery)) => state.core.replay_delivery(&admin.actor, delivery).await.map(|_| id),
        _ => Err(Error::NotFound("delivery")),
    };
    match result {
        Ok(id) => done(&format!("/admin/webhooks/{id}"), "replayed"),
        Err(error) => error_page(&state, &admin, &error),
    }
}

/// `POST /admin/webhooks/{id}/delete` (confirmed).
pub async fn delete_webhook(
    State(state): State<AppState>,
    meta: Meta,
    Path(id): Path<String>,
    AdminForm { admin, form: given }: AdminForm<Confirmation>,
) -> Response {
    let id: i64 = match path_id(&state, &admin, &id, "webhook") {
        Ok(id) => id,
        Err(response) => return response,
    };
    let subscription = match state.core.get_subscription(&admin.actor, id).await {
        Ok(subscription) => subscription,
        Err(error) => return error_page(&state, &admin, &error),
    };
    let ask = Ask {
        action: format!("/admin/webhooks/{}/delete", subscription.id),
        question: fill(admin.t.confirm_delete_webhook, &[("url", &subscription.url)]),
        hidden: Vec::new(),
        typed: None,
        cancel: format!("/admin/webhooks/{}", subscription.id),
    };
    if let Err(response) = confirm(&state, &admin, &meta, ask, &given).await {
        return response;
    }
    match state.core.delete_subscription(&admin.actor, subscription.id).await {
        Ok(()) => done("/admin/webhooks", "deleted"),
        Err(error) => error_page(&state, &admin, &error),
    }
}
