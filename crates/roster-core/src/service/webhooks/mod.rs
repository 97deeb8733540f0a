//! Webhooks and the event stream: subscriptions (administrators), the delivery log and its
//! replay, the deletion workflow's status, `GET /v1/events`, and the delivery worker that
//! `roster serve` runs. Delivery is at least once, in order per (subscription, user), signed
//! with HMAC-SHA256, retried with capped exponential back-off.

use super::users::not_found;
use super::webhook_net::{AddressPolicy, check_url, without_credentials};
use super::{Actor, Authority, Core};
use crate::error::{Error, Result};
use crate::journal::OutboxEvent;
use crate::store::StoreError;
use crate::token::random_secret;
use crate::webhooks::{Delivery, DeliveryQuery, DeliveryStatus, Envelope, Subscription, USER_DELETED};
use time::OffsetDateTime;

mod delivery;
pub use delivery::{
    Answer, DeliveryWorker, HostResolver, HttpTransport, MAX_ANSWER_BODY, SendFailure, SystemResolver, WebhookSettings,
    WebhookTransport,
};
pub(crate) use delivery::{attempt_record, exchange_checked, final_attempt_record, post_checked};

/// The API-key scope that allows reading `GET /v1/events` (administrators only may grant it).
pub const SCOPE_EVENTS: &str = "events";
/// Generated secrets start with this.
pub const WEBHOOK_SECRET_PREFIX: &str = "whsec_";
/// The most subscriptions.
pub const MAX_SUBSCRIPTIONS: usize = 100;
/// The longest URL.
const MAX_URL_LENGTH: usize = 2048;
/// The most events one `GET /v1/events` page holds (and its default).
pub const MAX_EVENTS_PAGE: u32 = 1000;
const DEFAULT_EVENTS_PAGE: u32 = 100;
/// The most deliveries (or deletions) one listing holds.
pub const MAX_DELIVERIES_PAGE: u32 = 500;
/// Name of the lease that lets one instance deliver on SQLite.
const DELIVERY_LEASE: &str = "delivery";

/// A request for a new subscription.
#[derive(Debug, Clone, Default)]
pub struct NewSubscription {
    pub url: String,
    /// Empty: every event type.
    pub event_types: Vec<String>,
    /// None: one is generated.
    pub secret: Option<String>,
    pub required_for_deletion: bool,
    pub description: Option<String>,
}

/// A subscription's fields as checked (see [`Core::check_subscription`]).
#[derive(Debug, Clone)]
pub struct Checked {
    pub url: String,
    pub event_types: Vec<String>,
    /// None: one is generated.
    pub secret: Option<String>,
    pub description: Option<String>,
}

/// A subscription just created, with its secret (shown this once when generated).
#[derive(Debug, Clone)]
pub struct SubscriptionCreated {
    pub subscription: Subscription,
    pub secret: String,
}

/// One receiver's part in a deletion.
#[derive(Debug, Clone)]
pub struct DeletionReceiver {
    pub subscription_id: i64,
    pub url: String,
    /// None: not queued yet.
    pub delivery: Option<Delivery>,
}

impl DeletionReceiver {
    /// Whether it acknowledged the deletion with a 2xx.
    pub fn acknowledged(&self) -> bool {
        self.delivery
            .as_ref()
            .is_some_and(|d| d.status == DeliveryStatus::Delivered)
    }
}

/// A user's deletion and who must still acknowledge it.
#[derive(Debug, Clone)]
pub struct DeletionStatus {
    pub event: OutboxEvent,
    /// Every `required_for_deletion` subscription that existed before the deletion.
    pub receivers: Vec<DeletionReceiver>,
}

impl DeletionStatus {
    /// Complete: every required receiver acknowledged.
    pub fn complete(&self) -> bool {
        self.receivers.iter().all(DeletionReceiver::acknowledged)
    }
}

/// A page of the event stream.
#[derive(Debug, Clone)]
pub struct EventPage {
    pub events: Vec<Envelope>,
    /// Pass as `after` for the next page (the same cursor when there were no new events).
    pub next_cursor: String,
}

/// Validates an event type: one of the outbox's (`crate::journal::event::ALL`).
fn validate_event_type(raw: &str) -> Result<String> {
    let t = raw.trim();
    if !crate::journal::event::ALL.contains(&t) {
        return Err(Error::invalid(
            "event_types",
            format!(
                "{raw:?} is not an event type; known: {}",
                crate::journal::event::ALL.join(", ")
            ),
        ));
    }
    Ok(t.to_string())
}

/// Validates a webhook URL: absolute `http://` or `https://` with a host, no credentials,
/// not an address (or `localhost`) that `policy` refuses (see [`check_url`]; names are
/// checked again on every address they resolve to when a delivery is sent).
fn validate_url(raw: &str, policy: AddressPolicy) -> Result<String> {
    let s = raw.trim();
    if s.len() > MAX_URL_LENGTH {
        return Err(Error::invalid(
            "url",
            format!("must be at most {MAX_URL_LENGTH} characters"),
        ));
    }
    let parsed = url::Url::parse(s).map_err(|e| Error::invalid("url", format!("is not a URL: {e}")))?;
    check_url(&parsed, policy)?;
    Ok(s.to_string())
}

/// A subscription as shown: without credentials in its URL (subscriptions made before they
/// were refused may hold some).
fn shown(mut subscription: Subscription) -> Subscription {
    subscription.url = without_credentials(&subscription.url);
    subscription
}

impl Core {
    /// Where webhooks may go on this deployment (`webhook_allow_private_networks`).
    pub fn address_policy(&self) -> AddressPolicy {
        AddressPolicy {
            allow_private: self.config.webhook_allow_private_networks,
        }
    }

    /// Creates a subscription (administrators and the operator).
    pub async fn create_subscription(
        &self,
        by: impl Into<Authority<'_>>,
        input: NewSubscription,
    ) -> Result<SubscriptionCreated> {
        let created_by = by.into().require_admin()?;
        let Checked {
            url,
            event_types,
            secret,
            description,
        } = self.check_subscription(&input)?;
        let secret = secret.unwrap_or_else(|| format!("{WEBHOOK_SECRET_PREFIX}{}", random_secret()));
        let store = &self.store;
        if store.list_subscriptions().await?.len() >= MAX_SUBSCRIPTIONS {
            return Err(Error::invalid(
                "url",
                format!("at most {MAX_SUBSCRIPTIONS} webhook subscriptions may exist"),
            ));
        }
        let id = self.next_id();
        let subscription = Subscription {
            id,
            url,
            event_types,
            // Kept sealed: the worker opens it to sign each request.
            secret: self.secrets.seal_str(&secret, &secret_context(id))?,
            required_for_deletion: input.required_for_deletion,
            description,
            created_by,
            created_at: self.clock.now(),
            start_seq: 0,
            fanned_out_seq: 0,
        };
        let subscription = store.insert_subscription(&subscription).await?;
        tracing::info!(webhook = subscription.id, url = %subscription.url, "webhook subscription created");
        Ok(SubscriptionCreated { subscription, secret })
    }

    /// Checks a subscription as [`Core::create_subscription`] would, changing nothing; returns
    /// its fields as they would be stored (the secret: None when one would be generated).
    pub fn check_subscription(&self, input: &NewSubscription) -> Result<Checked> {
        let url = validate_url(&input.url, self.address_policy())?;
        let mut event_types = Vec::new();
        for raw in &input.event_types {
            let t = validate_event_type(raw)?;
            if !event_types.contains(&t) {
                event_types.push(t);
            }
        }
        if input.required_for_deletion && !event_types.is_empty() && !event_types.iter().any(|t| t == USER_DELETED) {
            return Err(Error::invalid(
                "event_types",
                format!("a subscription required for deletion must receive {USER_DELETED}"),
            ));
        }
        if let Some(s) = &input.secret
            && (s.chars().count() < 16 || s.len() > 256 || s.chars().any(|c| c.is_whitespace() || c.is_control()))
        {
            return Err(Error::invalid("secret", "must be 16 to 256 characters without spaces"));
        }
        let description = crate::user::validate_text("description", input.description.as_deref().unwrap_or(""), 200)?;
        Ok(Checked {
            url,
            event_types,
            secret: input.secret.clone(),
            description,
        })
    }

    /// Changes a subscription in place (administrators and the operator): its URL, event
    /// types, whether deletions wait for it, its description, and its secret when `input`
    /// gives one (None keeps it). Its delivery log and position in the outbox stay.
    pub async fn update_subscription(
        &self,
        by: impl Into<Authority<'_>>,
        id: i64,
        input: NewSubscription,
    ) -> Result<Subscription> {
        by.into().require_admin()?;
        let checked = self.check_subscription(&input)?;
        let mut subscription = self.store.get_subscription(id).await.map_err(not_found("webhook"))?;
        subscription.url = checked.url;
        subscription.event_types = checked.event_types;
        subscription.required_for_deletion = input.required_for_deletion;
        subscription.description = checked.description;
        if let Some(secret) = checked.secret {
            subscription.secret = self.secrets.seal_str(&secret, &secret_context(id))?;
        }
        self.store
            .update_subscription(&subscription)
            .await
            .map_err(not_found("webhook"))?;
        tracing::info!(webhook = id, "webhook subscription changed");
        Ok(shown(subscription))
    }

    /// Whether `secret` is the subscription's signing secret (administrators and the
    /// operator; the secret itself is never returned).
    pub async fn subscription_secret_is(&self, by: impl Into<Authority<'_>>, id: i64, secret: &str) -> Result<bool> {
        by.into().require_admin()?;
        let subscription = self.store.get_subscription(id).await.map_err(not_found("webhook"))?;
        let stored = self.secrets.open_str(&subscription.secret, &secret_context(id))?;
        Ok(crate::token::digests_equal(
            &crate::token::digest(&stored),
            &crate::token::digest(secret),
        ))
    }

    /// Every subscription (administrators and the operator).
    pub async fn list_subscriptions(&self, by: impl Into<Authority<'_>>) -> Result<Vec<Subscription>> {
        by.into().require_admin()?;
        Ok(self.store.list_subscriptions().await?.into_iter().map(shown).collect())
    }

    /// One subscription (administrators and the operator).
    pub async fn get_subscription(&self, by: impl Into<Authority<'_>>, id: i64) -> Result<Subscription> {
        by.into().require_admin()?;
        self.store
            .get_subscription(id)
            .await
            .map(shown)
            .map_err(not_found("webhook"))
    }

    /// Deletes a subscription and its delivery log (administrators and the operator).
    /// Deletions it was required for no longer wait for it.
    pub async fn delete_subscription(&self, by: impl Into<Authority<'_>>, id: i64) -> Result<()> {
        by.into().require_admin()?;
        self.store.delete_subscription(id).await.map_err(not_found("webhook"))?;
        tracing::info!(webhook = id, "webhook subscription deleted");
        Ok(())
    }

    /// The delivery log, newest first (administrators and the operator). A subscription
    /// named in the query must exist.
    pub async fn list_deliveries(&self, by: impl Into<Authority<'_>>, query: DeliveryQuery) -> Result<Vec<Delivery>> {
        let by = by.into();
        by.require_admin()?;
        if let Some(id) = query.subscription_id {
            self.get_subscription(by, id).await?;
        }
        if !(1..=MAX_DELIVERIES_PAGE).contains(&query.limit) {
            return Err(Error::invalid("limit", format!("must be 1 to {MAX_DELIVERIES_PAGE}")));
        }
        Ok(self.store.list_deliveries(&query).await?)
    }

    /// Sends a delivery again (administrators and the operator): pending, due now, its
    /// attempts reset.
    pub async fn replay_delivery(&self, by: impl Into<Authority<'_>>, id: i64) -> Result<Delivery> {
        by.into().require_admin()?;
        let delivery = self
            .store
            .replay_delivery(id, OffsetDateTime::now_utc())
            .await
            .map_err(|e| match e {
                StoreError::NotFound => Error::NotFound("delivery"),
                StoreError::Stale => Error::invalid("id", "the delivery is being sent right now; replay it afterwards"),
                other => other.into(),
            })?;
        tracing::info!(delivery = id, "webhook delivery replayed");
        Ok(delivery)
    }

    /// User deletions and the receivers that must acknowledge them (administrators and the
    /// operator): only the pending ones (oldest first), or the latest `limit` (newest first).
    pub async fn list_deletions(
        &self,
        by: impl Into<Authority<'_>>,
        pending_only: bool,
        limit: u32,
    ) -> Result<Vec<DeletionStatus>> {
        by.into().require_admin()?;
        if !(1..=MAX_DELIVERIES_PAGE).contains(&limit) {
            return Err(Error::invalid("limit", format!("must be 1 to {MAX_DELIVERIES_PAGE}")));
        }
        let store = &self.store;
        let events = if pending_only {
            store.list_pending_deletions(limit).await?
        } else {
            store.list_outbox_events_of_type(USER_DELETED, None, limit).await?
        };
        let required: Vec<Subscription> = store
            .list_subscriptions()
            .await?
            .into_iter()
            .filter(|s| s.required_for_deletion)
            .collect();
        let mut statuses = Vec::with_capacity(events.len());
        for event in events {
            let deliveries = store.list_deliveries_of_event(event.seq).await?;
            let receivers = required
                .iter()
                .filter(|s| s.start_seq < event.seq)
                .map(|s| DeletionReceiver {
                    subscription_id: s.id,
                    url: without_credentials(&s.url),
                    delivery: deliveries.iter().find(|d| d.subscription_id == s.id).cloned(),
                })
                .collect();
            statuses.push(DeletionStatus { event, receivers });
        }
        Ok(statuses)
    }

    /// The event stream after `after` (administrators, or an API key with the `events`
    /// scope). `after` is a cursor from an earlier page (absent: from the beginning).
    pub async fn list_events(&self, actor: &Actor, after: Option<&str>, limit: Option<u32>) -> Result<EventPage> {
        let scoped = actor.has_scope(SCOPE_EVENTS);
        if !scoped && actor.require_admin().is_err() {
            return Err(Error::Forbidden(crate::error::Refusal::EventsAccessRequired));
        }
        let after = match after.map(str::trim) {
            None | Some("") => 0,
            Some(raw) => match raw.parse::<i64>() {
                Ok(v) if v >= 0 && !raw.starts_with('+') => v,
                _ => return Err(Error::invalid("after", "is not a cursor of this stream")),
            },
        };
        let limit = limit.unwrap_or(DEFAULT_EVENTS_PAGE);
        if !(1..=MAX_EVENTS_PAGE).contains(&limit) {
            return Err(Error::invalid("limit", format!("must be 1 to {MAX_EVENTS_PAGE}")));
        }
        let events = self.store.list_outbox(after, limit).await?;
        let next = events.last().map_or(after, |e| e.seq);
        Ok(EventPage {
            events: events.iter().map(Envelope::of).collect(),
            next_cursor: next.to_string(),
        })
    }
}

/// What a subscription's sealed secret is bound to (see [`crate::secret::SecretBox`]).
fn secret_context(subscription: i64) -> String {
    format!("webhook_secret:{subscription}")
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn urls_and_event_types_are_checked() {
        let open = AddressPolicy { allow_private: true };
        let strict = AddressPolicy::default();
        assert!(validate_url("https://example.org/hook", strict).is_ok());
        assert!(validate_url("http://127.0.0.1:9000/", open).is_ok());
        assert_eq!(
            validate_url("http://127.0.0.1:9000/", strict).unwrap_err().field(),
            Some("url")
        );
        assert_eq!(
            validate_url("ftp://example.org", open).unwrap_err().field(),
            Some("url")
        );
        assert!(validate_url("not a url", open).is_err());
        assert!(validate_url("http://", open).is_err());
        assert!(validate_url("mailto:a@example.org", open).is_err());
        assert_eq!(
            validate_event_type(" user.deleted ").ok().as_deref(),
            Some("user.deleted")
        );
        assert!(validate_event_type("User.Deleted").is_err());
        assert!(validate_event_type("user.exploded").is_err());
        assert!(validate_event_type("").is_err());
    }
}
