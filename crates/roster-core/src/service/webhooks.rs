//! Webhooks and the event stream: subscriptions (administrators), the delivery log and its
//! replay, the deletion workflow's status, `GET /v1/events`, and the delivery worker that
//! `roster serve` runs. Delivery is at least once, in order per (subscription, user), signed
//! with HMAC-SHA256, retried with capped exponential back-off.

use super::users::not_found;
use super::webhook_net::{AddressPolicy, check_ip, check_url, without_credentials};
use super::{Actor, Core};
use crate::error::{Error, Result};
use crate::journal::OutboxEvent;
use crate::store::StoreError;
use crate::token::random_secret;
use crate::webhooks::{
    AttemptRecord, ClaimedDelivery, Delivery, DeliveryQuery, DeliveryStatus, Envelope, SIGNATURE_HEADER, Subscription,
    USER_DELETED, signature_header,
};
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;

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

    /// Creates a subscription (administrators).
    pub async fn create_subscription(&self, actor: &Actor, input: NewSubscription) -> Result<SubscriptionCreated> {
        actor.require_admin()?;
        self.create_subscription_unchecked(input, Some(actor.user.id)).await
    }

    /// As [`Core::create_subscription`], without the permission check (admin commands).
    pub async fn create_subscription_unchecked(
        &self,
        input: NewSubscription,
        created_by: Option<crate::UserId>,
    ) -> Result<SubscriptionCreated> {
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
        let secret = match input.secret {
            Some(s) => {
                if s.chars().count() < 16 || s.len() > 256 || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
                    return Err(Error::invalid("secret", "must be 16 to 256 characters without spaces"));
                }
                s
            }
            None => format!("{WEBHOOK_SECRET_PREFIX}{}", random_secret()),
        };
        let description = crate::user::validate_text("description", input.description.as_deref().unwrap_or(""), 200)?;
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

    /// Every subscription (administrators).
    pub async fn list_subscriptions(&self, actor: &Actor) -> Result<Vec<Subscription>> {
        actor.require_admin()?;
        self.list_subscriptions_unchecked().await
    }

    /// As [`Core::list_subscriptions`], without the permission check.
    pub async fn list_subscriptions_unchecked(&self) -> Result<Vec<Subscription>> {
        Ok(self.store.list_subscriptions().await?.into_iter().map(shown).collect())
    }

    /// One subscription (administrators).
    pub async fn get_subscription(&self, actor: &Actor, id: i64) -> Result<Subscription> {
        actor.require_admin()?;
        self.get_subscription_unchecked(id).await
    }

    /// As [`Core::get_subscription`], without the permission check.
    pub async fn get_subscription_unchecked(&self, id: i64) -> Result<Subscription> {
        self.store
            .get_subscription(id)
            .await
            .map(shown)
            .map_err(not_found("webhook"))
    }

    /// Deletes a subscription and its delivery log (administrators). Deletions it was
    /// required for no longer wait for it.
    pub async fn delete_subscription(&self, actor: &Actor, id: i64) -> Result<()> {
        actor.require_admin()?;
        self.delete_subscription_unchecked(id).await
    }

    /// As [`Core::delete_subscription`], without the permission check.
    pub async fn delete_subscription_unchecked(&self, id: i64) -> Result<()> {
        self.store.delete_subscription(id).await.map_err(not_found("webhook"))?;
        tracing::info!(webhook = id, "webhook subscription deleted");
        Ok(())
    }

    /// The delivery log, newest first (administrators).
    pub async fn list_deliveries(&self, actor: &Actor, query: DeliveryQuery) -> Result<Vec<Delivery>> {
        actor.require_admin()?;
        self.list_deliveries_unchecked(query).await
    }

    /// As [`Core::list_deliveries`], without the permission check. A subscription named in
    /// the query must exist.
    pub async fn list_deliveries_unchecked(&self, query: DeliveryQuery) -> Result<Vec<Delivery>> {
        if let Some(id) = query.subscription_id {
            self.get_subscription_unchecked(id).await?;
        }
        if !(1..=MAX_DELIVERIES_PAGE).contains(&query.limit) {
            return Err(Error::invalid("limit", format!("must be 1 to {MAX_DELIVERIES_PAGE}")));
        }
        Ok(self.store.list_deliveries(&query).await?)
    }

    /// Sends a delivery again (administrators): pending, due now, its attempts reset.
    pub async fn replay_delivery(&self, actor: &Actor, id: i64) -> Result<Delivery> {
        actor.require_admin()?;
        self.replay_delivery_unchecked(id).await
    }

    /// As [`Core::replay_delivery`], without the permission check.
    pub async fn replay_delivery_unchecked(&self, id: i64) -> Result<Delivery> {
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

    /// User deletions and the receivers that must acknowledge them (administrators): only
    /// the pending ones (oldest first), or the latest `limit` (newest first).
    pub async fn list_deletions(&self, actor: &Actor, pending_only: bool, limit: u32) -> Result<Vec<DeletionStatus>> {
        actor.require_admin()?;
        self.list_deletions_unchecked(pending_only, limit).await
    }

    /// As [`Core::list_deletions`], without the permission check.
    pub async fn list_deletions_unchecked(&self, pending_only: bool, limit: u32) -> Result<Vec<DeletionStatus>> {
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

/// How the delivery worker behaves.
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// How long an idle worker waits before looking for new events.
    pub poll_interval: Duration,
    /// How long one request may take.
    pub request_timeout: Duration,
    /// Attempts before a delivery is given up (failed).
    pub max_attempts: u32,
    /// The wait after the first failure; doubled after each further one...
    pub backoff_base: Duration,
    /// ...up to this.
    pub backoff_cap: Duration,
    /// How long a claim outlives the request timeout (an instance that died mid-send is
    /// replaced after `request_timeout + lease`), and how long the SQLite delivery lease lasts.
    pub lease: Duration,
    /// Deliveries sent at once.
    pub concurrency: u32,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            poll_interval: Duration::from_secs(1),
            request_timeout: Duration::from_secs(10),
            max_attempts: 12,
            backoff_base: Duration::from_secs(5),
            backoff_cap: Duration::from_secs(3600),
            lease: Duration::from_secs(30),
            concurrency: 16,
        }
    }
}

impl WebhookSettings {
    /// The wait before attempt `attempts + 1`, after `attempts` failed ones.
    pub fn backoff(&self, attempts: u32) -> Duration {
        let exponent = attempts.saturating_sub(1).min(30);
        self.backoff_base.saturating_mul(1u32 << exponent).min(self.backoff_cap)
    }
}

/// Why a request got no HTTP answer. This, not the socket's words, is what the delivery log
/// keeps: the log is no port scanner, and nothing the receiver said is echoed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendFailure {
    /// The receiver's address is not one webhooks may reach (see [`AddressPolicy`]).
    AddressNotAllowed,
    /// No answer within the timeout.
    Timeout,
    /// The name did not resolve, or no connection could be made.
    ConnectionFailed,
    /// Anything else (TLS, a broken answer...).
    RequestFailed,
}

impl SendFailure {
    /// What the delivery log says.
    pub fn as_str(self) -> &'static str {
        match self {
            SendFailure::AddressNotAllowed => "address not allowed",
            SendFailure::Timeout => "timeout",
            SendFailure::ConnectionFailed => "connection failed",
            SendFailure::RequestFailed => "request failed",
        }
    }
}

/// Sends one request; the worker's only contact with the network.
#[async_trait::async_trait]
pub trait WebhookTransport: Send + Sync {
    /// POSTs `body` with `headers` to `url`, connecting only to addresses `policy` allows;
    /// the status code, or why there was none.
    async fn post(
        &self,
        url: &str,
        headers: &[(&str, String)],
        body: Vec<u8>,
        timeout: Duration,
        policy: AddressPolicy,
    ) -> std::result::Result<u16, SendFailure>;
}

/// Resolves a receiver's name to addresses (the system's resolver; tests put in their own).
#[async_trait::async_trait]
pub trait HostResolver: Send + Sync {
    async fn lookup(&self, host: &str) -> std::io::Result<Vec<std::net::IpAddr>>;
}

/// The system's resolver.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemResolver;

#[async_trait::async_trait]
impl HostResolver for SystemResolver {
    async fn lookup(&self, host: &str) -> std::io::Result<Vec<std::net::IpAddr>> {
        Ok(tokio::net::lookup_host((host, 0)).await?.map(|a| a.ip()).collect())
    }
}

/// The error of a name whose addresses are not all allowed.
#[derive(Debug)]
struct AddressRefused;

impl std::fmt::Display for AddressRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the receiver's name resolves to an address webhooks may not reach")
    }
}

impl std::error::Error for AddressRefused {}

/// reqwest's resolver: resolves once, refuses the name unless every address passes the
/// policy, and hands reqwest only those checked addresses to connect to (so a name cannot
/// resolve to a public address for the check and to an internal one for the connection).
struct CheckingResolver {
    inner: Arc<dyn HostResolver>,
    policy: AddressPolicy,
}

impl reqwest::dns::Resolve for CheckingResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let inner = self.inner.clone();
        let policy = self.policy;
        Box::pin(async move {
            let addresses = inner.lookup(name.as_str()).await?;
            if addresses.is_empty() {
                return Err(Box::new(std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "the name has no address",
                )) as Box<dyn std::error::Error + Send + Sync>);
            }
            if addresses.iter().any(|ip| check_ip(*ip, policy).is_err()) {
                return Err(Box::new(AddressRefused) as Box<dyn std::error::Error + Send + Sync>);
            }
            let addresses: reqwest::dns::Addrs =
                Box::new(addresses.into_iter().map(|ip| std::net::SocketAddr::new(ip, 0)));
            Ok(addresses)
        })
    }
}

/// The real transport: reqwest, no redirects followed, no proxy, every resolved address
/// checked (one client per policy).
#[derive(Clone)]
pub struct HttpTransport {
    public_only: reqwest::Client,
    private_too: reqwest::Client,
}

impl std::fmt::Debug for HttpTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpTransport").finish_non_exhaustive()
    }
}

impl HttpTransport {
    /// With the system's resolver.
    pub fn new() -> Result<Self> {
        Self::with_resolver(Arc::new(SystemResolver))
    }

    /// With `resolver` for receivers' names.
    pub fn with_resolver(resolver: Arc<dyn HostResolver>) -> Result<Self> {
        let client = |allow_private| {
            reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                // A proxy would connect to the receiver itself, past the address check.
                .no_proxy()
                .dns_resolver(Arc::new(CheckingResolver {
                    inner: resolver.clone(),
                    policy: AddressPolicy { allow_private },
                }))
                .user_agent(concat!("Roster-Webhooks/", env!("CARGO_PKG_VERSION")))
                .build()
                .map_err(|e| Error::Internal(anyhow::Error::new(e).context("building the webhook HTTP client")))
        };
        Ok(Self {
            public_only: client(false)?,
            private_too: client(true)?,
        })
    }
}

#[async_trait::async_trait]
impl WebhookTransport for HttpTransport {
    async fn post(
        &self,
        url: &str,
        headers: &[(&str, String)],
        body: Vec<u8>,
        timeout: Duration,
        policy: AddressPolicy,
    ) -> std::result::Result<u16, SendFailure> {
        // Address literals never reach the resolver: checked here.
        let parsed = url::Url::parse(url).map_err(|_| SendFailure::RequestFailed)?;
        check_url(&parsed, policy).map_err(|_| SendFailure::AddressNotAllowed)?;
        let client = if policy.allow_private {
            &self.private_too
        } else {
            &self.public_only
        };
        let mut request = client.post(parsed).timeout(timeout).body(body);
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        match request.send().await {
            Ok(response) => Ok(response.status().as_u16()),
            Err(e) => {
                let failure = classify(&e);
                tracing::debug!(error = %root_cause(&e), failure = failure.as_str(), "webhook request failed");
                Err(failure)
            }
        }
    }
}

fn classify(error: &reqwest::Error) -> SendFailure {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = current {
        if e.is::<AddressRefused>() {
            return SendFailure::AddressNotAllowed;
        }
        current = e.source();
    }
    if error.is_timeout() {
        SendFailure::Timeout
    } else if error.is_connect() {
        SendFailure::ConnectionFailed
    } else {
        SendFailure::RequestFailed
    }
}

fn root_cause(error: &dyn std::error::Error) -> String {
    let mut current = error;
    while let Some(source) = current.source() {
        current = source;
    }
    current.to_string()
}

/// Sends the outbox to the subscriptions until told to stop.
pub struct DeliveryWorker {
    core: Arc<Core>,
    settings: WebhookSettings,
    transport: Arc<dyn WebhookTransport>,
    /// This worker's name in claims and leases.
    owner: String,
}

impl DeliveryWorker {
    pub fn new(core: Arc<Core>, settings: WebhookSettings, transport: Arc<dyn WebhookTransport>) -> Self {
        let owner = format!("{}-{:016x}", std::process::id(), rand::random::<u64>());
        Self {
            core,
            settings,
            transport,
            owner,
        }
    }

    /// This worker's name in claims.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// Runs until `stop` turns true (or its sender is dropped); the batch in flight then
    /// finishes (each request is bounded by the timeout) before it returns.
    pub async fn run(self, mut stop: tokio::sync::watch::Receiver<bool>) {
        tracing::info!(owner = %self.owner, "webhook delivery worker started");
        loop {
            if *stop.borrow() {
                break;
            }
            let busy = match self.tick().await {
                Ok(sent) => sent > 0,
                Err(error) => {
                    tracing::warn!(%error, "webhook delivery round failed");
                    false
                }
            };
            if !busy {
                tokio::select! {
                    changed = stop.changed() => if changed.is_err() { break },
                    () = tokio::time::sleep(self.settings.poll_interval) => {}
                }
            }
        }
        let store = &self.core.store;
        if let Err(error) = store.release_lease(DELIVERY_LEASE, &self.owner).await {
            tracing::warn!(%error, "could not release the delivery lease");
        }
        tracing::info!("webhook delivery worker stopped");
    }

    /// One round: queue new events, claim what is due, send it. Returns how many were sent.
    pub async fn tick(&self) -> Result<usize> {
        let store = &self.core.store;
        let now = OffsetDateTime::now_utc();
        if !store
            .acquire_lease(DELIVERY_LEASE, &self.owner, now, now + self.settings.lease)
            .await?
        {
            return Ok(0);
        }
        store.fan_out(now, 1000).await?;
        let lease_until = now + self.settings.request_timeout + self.settings.lease;
        let claimed = store
            .claim_deliveries(&self.owner, now, lease_until, self.settings.concurrency.max(1))
            .await?;
        let count = claimed.len();
        let mut sends = tokio::task::JoinSet::new();
        for delivery in claimed {
            let transport = self.transport.clone();
            let core = self.core.clone();
            let settings = self.settings.clone();
            let owner = self.owner.clone();
            sends.spawn(async move { send(&core, transport.as_ref(), &settings, &owner, delivery).await });
        }
        while let Some(result) = sends.join_next().await {
            match result {
                Ok(Ok(())) => {}
                Ok(Err(error)) => tracing::warn!(%error, "recording a webhook attempt failed"),
                Err(error) => tracing::error!(%error, "a webhook send task failed"),
            }
        }
        Ok(count)
    }
}

/// What a subscription's sealed secret is bound to (see [`crate::secret::SecretBox`]).
fn secret_context(subscription: i64) -> String {
    format!("webhook_secret:{subscription}")
}

/// Sends one claimed delivery and records the outcome.
async fn send(
    core: &Core,
    transport: &dyn WebhookTransport,
    settings: &WebhookSettings,
    owner: &str,
    claimed: ClaimedDelivery,
) -> Result<()> {
    let ClaimedDelivery {
        delivery,
        event,
        url,
        secret,
    } = claimed;
    let secret = core
        .secrets
        .open_str(&secret, &secret_context(delivery.subscription_id))?;
    let body = Envelope::of(&event).to_bytes();
    let timestamp = OffsetDateTime::now_utc().unix_timestamp();
    let attempt = delivery.attempts + 1;
    let headers = [
        ("content-type", "application/json".to_string()),
        (SIGNATURE_HEADER, signature_header(&secret, timestamp, &body)),
        ("Roster-Event-Id", event.id.to_string()),
        ("Roster-Event-Type", event.event_type.clone()),
        ("Roster-Delivery-Id", delivery.id.to_string()),
        ("Roster-Delivery-Attempt", attempt.to_string()),
    ];
    // The URL was checked when subscribed to, but the setting may have changed since; names
    // are checked on what they resolve to, by the transport.
    let policy = core.address_policy();
    let outcome = match url::Url::parse(&url).map(|u| check_url(&u, policy)) {
        Ok(Ok(())) => {
            transport
                .post(&url, &headers, body, settings.request_timeout, policy)
                .await
        }
        _ => Err(SendFailure::AddressNotAllowed),
    };
    let attempted_at = OffsetDateTime::now_utc();
    // Only the status code, or the kind of failure: nothing of what the receiver or the
    // socket said.
    let (status_code, error) = match outcome {
        Ok(code) if (200..300).contains(&code) => (Some(i64::from(code)), None),
        Ok(code) => (Some(i64::from(code)), Some(format!("HTTP {code}"))),
        Err(failure) => (None, Some(failure.as_str().to_string())),
    };
    let attempts = u32::try_from(attempt).unwrap_or(u32::MAX);
    let status = if error.is_none() {
        DeliveryStatus::Delivered
    } else if attempts >= settings.max_attempts {
        DeliveryStatus::Failed
    } else {
        DeliveryStatus::Pending
    };
    let next_attempt_at = match status {
        DeliveryStatus::Pending => attempted_at + settings.backoff(attempts),
        _ => attempted_at,
    };
    match (&status, &error) {
        (DeliveryStatus::Delivered, _) => {
            tracing::debug!(delivery = delivery.id, event = event.id, "webhook delivered")
        }
        (_, Some(e)) => {
            tracing::info!(delivery = delivery.id, event = event.id, attempt, error = %e, status = status.as_str(), "webhook attempt failed")
        }
        _ => {}
    }
    let record = AttemptRecord {
        status,
        attempted_at,
        status_code,
        error,
        next_attempt_at,
    };
    if !core.store.record_attempt(delivery.id, owner, &record).await? {
        tracing::warn!(
            delivery = delivery.id,
            "the claim on a webhook delivery lapsed before its outcome was recorded"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let settings = WebhookSettings {
            backoff_base: Duration::from_secs(5),
            backoff_cap: Duration::from_secs(60),
            ..WebhookSettings::default()
        };
        assert_eq!(settings.backoff(1), Duration::from_secs(5));
        assert_eq!(settings.backoff(2), Duration::from_secs(10));
        assert_eq!(settings.backoff(4), Duration::from_secs(40));
        assert_eq!(settings.backoff(5), Duration::from_secs(60));
        assert_eq!(settings.backoff(500), Duration::from_secs(60));
    }

    struct Fixed(Vec<std::net::IpAddr>);

    #[async_trait::async_trait]
    impl HostResolver for Fixed {
        async fn lookup(&self, _host: &str) -> std::io::Result<Vec<std::net::IpAddr>> {
            Ok(self.0.clone())
        }
    }

    async fn resolve(addresses: &[&str], allow_private: bool) -> std::result::Result<Vec<String>, bool> {
        use reqwest::dns::Resolve as _;
        let resolver = CheckingResolver {
            inner: Arc::new(Fixed(addresses.iter().map(|a| a.parse().unwrap()).collect())),
            policy: AddressPolicy { allow_private },
        };
        match resolver.resolve("receiver.example.org".parse().unwrap()).await {
            Ok(addrs) => Ok(addrs.map(|a| a.ip().to_string()).collect()),
            Err(e) => Err(e.is::<AddressRefused>()),
        }
    }

    #[tokio::test]
    async fn a_name_passes_only_if_every_address_it_resolves_to_does() {
        assert_eq!(
            resolve(&["93.184.215.14", "2606:4700::1111"], false).await,
            Ok(vec!["93.184.215.14".to_string(), "2606:4700::1111".to_string()])
        );
        // One internal address among public ones refuses the name (DNS rebinding).
        assert_eq!(resolve(&["93.184.215.14", "127.0.0.1"], false).await, Err(true));
        assert_eq!(resolve(&["::ffff:10.0.0.1"], false).await, Err(true));
        assert_eq!(resolve(&["169.254.169.254"], true).await, Err(true));
        assert_eq!(resolve(&["127.0.0.1"], true).await, Ok(vec!["127.0.0.1".to_string()]));
        // No address: a plain failure, not a refusal.
        assert_eq!(resolve(&[], false).await, Err(false));
    }

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
