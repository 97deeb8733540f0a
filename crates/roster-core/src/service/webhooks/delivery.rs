//! The delivery worker that `roster serve` runs: it claims due deliveries (webhooks and
//! OpenID Connect back-channel logouts), sends them through a transport that checks every
//! address a name resolves to, and records each attempt.

use super::{DELIVERY_LEASE, secret_context};
use crate::error::{Error, Result};
use crate::service::Core;
use crate::service::webhook_net::{AddressPolicy, check_ip, check_url};
use crate::webhooks::{AttemptRecord, ClaimedDelivery, DeliveryStatus, Envelope, SIGNATURE_HEADER, signature_header};
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;

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

/// The most of an answer's body that is read (a SCIM answer is far smaller); the rest is cut.
pub const MAX_ANSWER_BODY: usize = 1 << 20;

/// An HTTP answer: its status and (at most [`MAX_ANSWER_BODY`] of) its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
}

/// Sends one request; the worker's only contact with the network (webhooks, back-channel
/// logouts and SCIM push).
#[async_trait::async_trait]
pub trait WebhookTransport: Send + Sync {
    /// Sends `method` to `url` with `headers` and `body`, connecting only to addresses
    /// `policy` allows; the answer, or why there was none.
    async fn exchange(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, String)],
        body: Option<Vec<u8>>,
        timeout: Duration,
        policy: AddressPolicy,
    ) -> std::result::Result<Answer, SendFailure>;

    /// POSTs `body` with `headers` to `url`; the status code, or why there was none.
    async fn post(
        &self,
        url: &str,
        headers: &[(&str, String)],
        body: Vec<u8>,
        timeout: Duration,
        policy: AddressPolicy,
    ) -> std::result::Result<u16, SendFailure> {
        self.exchange("POST", url, headers, Some(body), timeout, policy)
            .await
            .map(|answer| answer.status)
    }
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
    async fn exchange(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, String)],
        body: Option<Vec<u8>>,
        timeout: Duration,
        policy: AddressPolicy,
    ) -> std::result::Result<Answer, SendFailure> {
        // Address literals never reach the resolver: checked here.
        let parsed = url::Url::parse(url).map_err(|_| SendFailure::RequestFailed)?;
        check_url(&parsed, policy).map_err(|_| SendFailure::AddressNotAllowed)?;
        let method = reqwest::Method::from_bytes(method.as_bytes()).map_err(|_| SendFailure::RequestFailed)?;
        let client = if policy.allow_private {
            &self.private_too
        } else {
            &self.public_only
        };
        let mut request = client.request(method, parsed).timeout(timeout);
        if let Some(body) = body {
            request = request.body(body);
        }
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let failed = |e: reqwest::Error| {
            let failure = classify(&e);
            tracing::debug!(error = %root_cause(&e), failure = failure.as_str(), "outgoing request failed");
            failure
        };
        let mut response = request.send().await.map_err(failed)?;
        let status = response.status().as_u16();
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(failed)? {
            let room = MAX_ANSWER_BODY.saturating_sub(body.len());
            body.extend_from_slice(&chunk[..chunk.len().min(room)]);
            if room <= chunk.len() {
                break;
            }
        }
        Ok(Answer { status, body })
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

    /// One round: end the bans that ran out, queue new events, claim what is due (webhook
    /// deliveries, back-channel logouts and SCIM pushes), send it. Returns how many were sent.
    pub async fn tick(&self) -> Result<usize> {
        let store = &self.core.store;
        let now = OffsetDateTime::now_utc();
        if !store
            .acquire_lease(DELIVERY_LEASE, &self.owner, now, now + self.settings.lease)
            .await?
        {
            return Ok(0);
        }
        // Bans that ran out since the last round: their `user.unbanned` goes out below.
        self.core.end_expired_bans().await?;
        store.fan_out(now, 1000).await?;
        let lease_until = now + self.settings.request_timeout + self.settings.lease;
        let claimed = store
            .claim_deliveries(&self.owner, now, lease_until, self.settings.concurrency.max(1))
            .await?;
        // OpenID Connect back-channel logouts go out with the same claims, transport and
        // back-off (see `service::oidc::backchannel`).
        let logouts = store
            .claim_oidc_logouts(&self.owner, now, lease_until, self.settings.concurrency.max(1))
            .await?;
        // SCIM push to the targets (see `service::scim_push`), likewise.
        store
            .fan_out_scim(now, crate::service::SCIM_USER_EVENTS, crate::service::SCIM_GROUP_EVENTS)
            .await?;
        let pushes = store
            .claim_scim_deliveries(&self.owner, now, lease_until, self.settings.concurrency.max(1))
            .await?;
        let count = claimed.len() + logouts.len() + pushes.len();
        let mut sends = tokio::task::JoinSet::new();
        // What each send task holds.
        let parts = || {
            (
                self.transport.clone(),
                self.core.clone(),
                self.settings.clone(),
                self.owner.clone(),
            )
        };
        for delivery in claimed {
            let (transport, core, settings, owner) = parts();
            sends.spawn(async move { send(&core, transport.as_ref(), &settings, &owner, delivery).await });
        }
        for logout in logouts {
            let (transport, core, settings, owner) = parts();
            sends.spawn(async move {
                core.send_oidc_logout(transport.as_ref(), &settings, &owner, logout)
                    .await
            });
        }
        for push in pushes {
            let (transport, core, settings, owner) = parts();
            sends.spawn(async move {
                core.send_scim_delivery(transport.as_ref(), &settings, &owner, push)
                    .await
            });
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
    let outcome = post_checked(core, transport, settings, &url, &headers, body).await;
    let record = attempt_record("webhook", outcome, delivery.attempts, settings);
    let (status, error) = (record.status, record.error.clone());
    match (&status, &error) {
        (DeliveryStatus::Delivered, _) => {
            tracing::debug!(delivery = delivery.id, event = event.id, "webhook delivered")
        }
        (_, Some(e)) => {
            tracing::info!(delivery = delivery.id, event = event.id, attempt, error = %e, status = status.as_str(), "webhook attempt failed")
        }
        _ => {}
    }
    if !core.store.record_attempt(delivery.id, owner, &record).await? {
        tracing::warn!(
            delivery = delivery.id,
            "the claim on a webhook delivery lapsed before its outcome was recorded"
        );
    }
    Ok(())
}

/// POSTs `body` to `url` under the deployment's address policy (see [`exchange_checked`]).
/// Shared by webhooks and back-channel logout.
pub(crate) async fn post_checked(
    core: &Core,
    transport: &dyn WebhookTransport,
    settings: &WebhookSettings,
    url: &str,
    headers: &[(&str, String)],
    body: Vec<u8>,
) -> std::result::Result<u16, SendFailure> {
    exchange_checked(core, transport, settings, "POST", url, headers, Some(body))
        .await
        .map(|answer| answer.status)
}

/// Sends a request under the deployment's address policy (checked again here: the setting may
/// have changed since the URL was registered; names are checked on what they resolve to, by
/// the transport). Shared by webhooks, back-channel logout and SCIM push.
pub(crate) async fn exchange_checked(
    core: &Core,
    transport: &dyn WebhookTransport,
    settings: &WebhookSettings,
    method: &str,
    url: &str,
    headers: &[(&str, String)],
    body: Option<Vec<u8>>,
) -> std::result::Result<Answer, SendFailure> {
    let policy = core.address_policy();
    match url::Url::parse(url).map(|u| check_url(&u, policy)) {
        Ok(Ok(())) => {
            transport
                .exchange(method, url, headers, body, settings.request_timeout, policy)
                .await
        }
        _ => Err(SendFailure::AddressNotAllowed),
    }
}

/// The record of attempt `previous_attempts + 1` with this outcome: delivered on a 2xx, else
/// pending again after the back-off, or failed after `max_attempts`. Only the status code, or
/// the kind of failure: nothing of what the receiver or the socket said. Counted in the
/// deliveries metric under `kind` (`webhook`, `backchannel_logout`).
pub(crate) fn attempt_record(
    kind: &'static str,
    outcome: std::result::Result<u16, SendFailure>,
    previous_attempts: i64,
    settings: &WebhookSettings,
) -> AttemptRecord {
    final_attempt_record(kind, outcome, previous_attempts, settings, false)
}

/// As [`attempt_record`]; with `give_up`, a failure is failed at once (an answer that no
/// retry changes, such as a SCIM provider refusing to deactivate an administrator).
pub(crate) fn final_attempt_record(
    kind: &'static str,
    outcome: std::result::Result<u16, SendFailure>,
    previous_attempts: i64,
    settings: &WebhookSettings,
    give_up: bool,
) -> AttemptRecord {
    let attempted_at = OffsetDateTime::now_utc();
    let (status_code, error) = match outcome {
        Ok(code) if (200..300).contains(&code) => (Some(i64::from(code)), None),
        Ok(code) => (Some(i64::from(code)), Some(format!("HTTP {code}"))),
        Err(failure) => (None, Some(failure.as_str().to_string())),
    };
    let attempts = u32::try_from(previous_attempts + 1).unwrap_or(u32::MAX);
    let status = if error.is_none() {
        DeliveryStatus::Delivered
    } else if give_up || attempts >= settings.max_attempts {
        DeliveryStatus::Failed
    } else {
        DeliveryStatus::Pending
    };
    let next_attempt_at = match status {
        DeliveryStatus::Pending => attempted_at + settings.backoff(attempts),
        _ => attempted_at,
    };
    crate::telemetry::delivery(
        kind,
        match status {
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Pending => "retry",
            _ => "failed",
        },
    );
    AttemptRecord {
        status,
        attempted_at,
        status_code,
        error,
        next_attempt_at,
    }
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
}
