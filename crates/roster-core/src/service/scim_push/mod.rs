//! SCIM push: Roster as a SCIM 2.0 client that provisions its users (and groups) into other
//! products (Open WebUI 0.12.4 first). Targets are managed by administrators and the
//! operator, their tokens sealed at rest. The delivery worker that sends webhooks queues every
//! user and group event of the outbox for each target and sends it with the same claims,
//! transport, address policy, back-off and attempt limit, in order per (target, user) and per
//! (target, group): pushes that touch one group go one at a time, and the target's id of each
//! group is kept, so a group is created on a target once.
//!
//! Each delivery brings the provider in step with Roster's state *now* (the user or the group
//! its event is about), so a delivery sent again, or late, does no harm: the user is looked up
//! by `externalId` (Roster's user id, which is also the OpenID Connect `sub`) before it is
//! created, and a 409 means the account exists and is updated. `sync` compares every user.

mod client;

pub use client::{DesiredUser, PAGE_SIZE, RemoteGroup, RemoteUser, StepError};

use super::users::not_found;
use super::webhook_net::without_credentials;
use super::webhooks::{SendFailure, WebhookSettings, WebhookTransport, final_attempt_record};
use super::{Authority, Core};
use crate::error::{Error, Result};
use crate::id::{GroupId, UserId};
use crate::journal::event;
use crate::store::{ClaimedScimDelivery, ScimTarget, StoreError, UserQuery, UserSort};
use crate::user::{Role, User};
use crate::webhooks::{Delivery, DeliveryQuery, DeliveryStatus};
use client::{ScimClient, Step};
use serde_json::json;
use time::OffsetDateTime;

/// The user events pushed to every target.
pub const USER_EVENTS: &[&str] = &[
    event::USER_CREATED,
    event::USER_UPDATED,
    event::USER_DELETED,
    event::USER_ROLE_CHANGED,
    event::USER_ACTIVATED,
    event::USER_DEACTIVATED,
    event::USER_BANNED,
    event::USER_UNBANNED,
];
/// The group events pushed to targets added with `--groups`.
pub const GROUP_EVENTS: &[&str] = &[
    event::GROUP_CREATED,
    event::GROUP_RENAMED,
    event::GROUP_DELETED,
    event::GROUP_MEMBER_ADDED,
    event::GROUP_MEMBER_REMOVED,
];
/// The most targets.
pub const MAX_TARGETS: usize = 50;
const MAX_URL_LENGTH: usize = 2048;
/// Audit actions.
pub const AUDIT_TARGET_ADD: &str = "scim_target.add";
pub const AUDIT_TARGET_REMOVE: &str = "scim_target.remove";
pub const AUDIT_TARGET_UPDATE: &str = "scim_target.update";
pub const AUDIT_DELIVERY_REPLAY: &str = "scim_delivery.replay";
pub const AUDIT_SYNC: &str = "scim_target.sync";

/// A target to add.
#[derive(Debug, Clone, Default)]
pub struct NewScimTarget {
    pub name: String,
    /// The SCIM base URL, e.g. `https://chat.example.org/api/v1/scim/v2`.
    pub url: String,
    pub token: String,
    pub push_groups: bool,
    pub deactivate_on_delete: bool,
}

/// One user out of step between Roster and a target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drift {
    /// `missing` (in Roster, not on the target), `different` or `extra` (on the target
    /// with an `externalId` Roster does not have).
    pub kind: &'static str,
    pub user_id: Option<UserId>,
    /// The provider's id.
    pub remote_id: Option<String>,
    pub email: Option<String>,
    /// The attributes that differ (`different` only).
    pub fields: Vec<&'static str>,
    /// Why fixing it failed (after a sync that fixes).
    pub error: Option<String>,
}

/// What a sync found (and fixed, unless it was a dry run).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncReport {
    pub target: String,
    pub dry_run: bool,
    /// Users on the target, and users of Roster with an email (those that can be pushed).
    pub remote_users: usize,
    pub local_users: usize,
    pub drift: Vec<Drift>,
}

fn validate_name(raw: &str) -> Result<String> {
    let name = raw.trim();
    if name.is_empty()
        || name.len() > 64
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(Error::invalid(
            "name",
            "must be 1 to 64 letters, digits, '-', '_' or '.'",
        ));
    }
    Ok(name.to_string())
}

fn validate_base_url(raw: &str, core: &Core) -> Result<String> {
    let s = raw.trim().trim_end_matches('/');
    if s.len() > MAX_URL_LENGTH {
        return Err(Error::invalid(
            "url",
            format!("must be at most {MAX_URL_LENGTH} characters"),
        ));
    }
    let parsed = url::Url::parse(s).map_err(|e| Error::invalid("url", format!("is not a URL: {e}")))?;
    super::webhook_net::check_url(&parsed, core.address_policy())?;
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(Error::invalid("url", "must have no query or fragment"));
    }
    Ok(s.to_string())
}

fn validate_token(raw: &str) -> Result<String> {
    let token = raw.trim();
    if token.is_empty() || token.len() > 4096 || token.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(Error::invalid("token", "must be 1 to 4096 characters without spaces"));
    }
    Ok(token.to_string())
}

/// What a target's sealed token is bound to.
fn token_context(target: i64) -> String {
    format!("scim_target_token:{target}")
}

/// A target as shown: without credentials in its URL.
fn shown(mut target: ScimTarget) -> ScimTarget {
    target.url = without_credentials(&target.url);
    target.token = String::new();
    target
}

/// What Roster wants `user` to be on a provider at `now`; None without an email (a SCIM
/// provider such as Open WebUI needs one).
pub fn desired_user(user: &User, now: OffsetDateTime) -> Option<DesiredUser> {
    let email = user.email.clone()?;
    let display_name = user
        .name
        .clone()
        .filter(|n| !n.trim().is_empty())
        .or_else(|| user.username.clone())
        .unwrap_or_else(|| email.clone());
    Some(DesiredUser {
        external_id: user.id.to_string(),
        email,
        display_name,
        // Deactivated, pending and banned users are pushed as inactive.
        active: user.active && user.role != Role::Pending && user.banned_at(now).is_none(),
        role: if user.role == Role::Admin { "admin" } else { "user" }.to_string(),
    })
}

impl Core {
    /// Checks a target as [`Core::add_scim_target`] would, changing nothing; returns it with
    /// its name, URL and token as they would be stored (before sealing).
    pub fn check_scim_target(&self, input: &NewScimTarget) -> Result<NewScimTarget> {
        Ok(NewScimTarget {
            name: validate_name(&input.name)?,
            url: validate_base_url(&input.url, self)?,
            token: validate_token(&input.token)?,
            push_groups: input.push_groups,
            deactivate_on_delete: input.deactivate_on_delete,
        })
    }

    /// Adds a SCIM target (administrators and the operator); audited.
    pub async fn add_scim_target(&self, by: impl Into<Authority<'_>>, input: NewScimTarget) -> Result<ScimTarget> {
        let created_by = by.into().require_admin()?;
        let NewScimTarget { name, url, token, .. } = self.check_scim_target(&input)?;
        if self.store.list_scim_targets().await?.len() >= MAX_TARGETS {
            return Err(Error::invalid(
                "name",
                format!("at most {MAX_TARGETS} SCIM targets may exist"),
            ));
        }
        let id = self.next_id();
        let target = ScimTarget {
            id,
            name,
            url,
            token: self.secrets.seal_str(&token, &token_context(id))?,
            push_groups: input.push_groups,
            deactivate_on_delete: input.deactivate_on_delete,
            created_by,
            created_at: self.clock.now(),
            start_seq: 0,
            fanned_out_seq: 0,
        };
        let journal = self
            .journal(created_by)
            .audit(
                AUDIT_TARGET_ADD,
                None,
                json!({
                    "target": target.name,
                    "url": without_credentials(&target.url),
                    "groups": target.push_groups,
                    "deactivate_on_delete": target.deactivate_on_delete,
                }),
            )
            .build();
        let target = self
            .store
            .insert_scim_target(&target, &journal)
            .await
            .map_err(|e| match e {
                StoreError::Conflict { .. } => Error::invalid("name", "a SCIM target with this name exists"),
                other => other.into(),
            })?;
        tracing::info!(target = %target.name, "SCIM target added");
        Ok(shown(target))
    }

    /// Changes a SCIM target in place (administrators and the operator); audited. Its delivery
    /// log and its position in the outbox stay, so nothing owed is lost. `input.token` empty:
    /// the token stays.
    pub async fn update_scim_target(&self, by: impl Into<Authority<'_>>, input: NewScimTarget) -> Result<ScimTarget> {
        let by = by.into();
        let actor = by.require_admin()?;
        let mut target = self
            .store
            .get_scim_target(input.name.trim())
            .await
            .map_err(not_found("SCIM target"))?;
        target.url = validate_base_url(&input.url, self)?;
        let token_changed = !input.token.is_empty();
        if token_changed {
            let token = validate_token(&input.token)?;
            target.token = self.secrets.seal_str(&token, &token_context(target.id))?;
        }
        target.push_groups = input.push_groups;
        target.deactivate_on_delete = input.deactivate_on_delete;
        let journal = self
            .journal(actor)
            .audit(
                AUDIT_TARGET_UPDATE,
                None,
                json!({
                    "target": target.name,
                    "url": without_credentials(&target.url),
                    "groups": target.push_groups,
                    "deactivate_on_delete": target.deactivate_on_delete,
                    "token_changed": token_changed,
                }),
            )
            .build();
        self.store
            .update_scim_target(&target, &journal)
            .await
            .map_err(not_found("SCIM target"))?;
        tracing::info!(target = %target.name, "SCIM target updated");
        Ok(shown(target))
    }

    /// Whether `token` is the target's token, compared by digest (administrators and the
    /// operator; `roster apply` uses it to tell a changed token without showing either).
    pub async fn scim_target_token_is(&self, by: impl Into<Authority<'_>>, name: &str, token: &str) -> Result<bool> {
        by.into().require_admin()?;
        let target = self
            .store
            .get_scim_target(name)
            .await
            .map_err(not_found("SCIM target"))?;
        let stored = self.secrets.open_str(&target.token, &token_context(target.id))?;
        Ok(crate::token::digests_equal(
            &crate::token::digest(&stored),
            &crate::token::digest(token),
        ))
    }

    /// Every SCIM target, by name, without tokens (administrators and the operator).
    pub async fn list_scim_targets(&self, by: impl Into<Authority<'_>>) -> Result<Vec<ScimTarget>> {
        by.into().require_admin()?;
        Ok(self.store.list_scim_targets().await?.into_iter().map(shown).collect())
    }

    /// One SCIM target, without its token (administrators and the operator).
    pub async fn get_scim_target(&self, by: impl Into<Authority<'_>>, name: &str) -> Result<ScimTarget> {
        by.into().require_admin()?;
        self.store
            .get_scim_target(name)
            .await
            .map(shown)
            .map_err(not_found("SCIM target"))
    }

    /// Removes a SCIM target and its delivery log (administrators and the operator); audited.
    /// Nothing is removed from the provider.
    pub async fn remove_scim_target(&self, by: impl Into<Authority<'_>>, name: &str) -> Result<()> {
        let by = by.into();
        let actor = by.require_admin()?;
        let target = self.get_scim_target(by, name).await?;
        let journal = self
            .journal(actor)
            .audit(AUDIT_TARGET_REMOVE, None, json!({ "target": target.name }))
            .build();
        self.store
            .delete_scim_target(target.id, &journal)
            .await
            .map_err(not_found("SCIM target"))?;
        tracing::info!(target = %target.name, "SCIM target removed");
        Ok(())
    }

    /// A target's delivery log, newest first (administrators and the operator).
    pub async fn list_scim_deliveries(
        &self,
        by: impl Into<Authority<'_>>,
        name: &str,
        mut query: DeliveryQuery,
    ) -> Result<Vec<Delivery>> {
        let by = by.into();
        let target = self.get_scim_target(by, name).await?;
        if !(1..=super::MAX_DELIVERIES_PAGE).contains(&query.limit) {
            return Err(Error::invalid(
                "limit",
                format!("must be 1 to {}", super::MAX_DELIVERIES_PAGE),
            ));
        }
        query.subscription_id = Some(target.id);
        Ok(self.store.list_scim_deliveries(&query).await?)
    }

    /// Sends a delivery of a target again (administrators and the operator): pending, due now,
    /// its attempts reset; audited.
    pub async fn replay_scim_delivery(&self, by: impl Into<Authority<'_>>, name: &str, id: i64) -> Result<Delivery> {
        let by = by.into();
        let actor = by.require_admin()?;
        let target = self.get_scim_target(by, name).await?;
        let delivery = self
            .store
            .replay_scim_delivery(target.id, id, OffsetDateTime::now_utc())
            .await
            .map_err(|e| match e {
                StoreError::NotFound => Error::NotFound("delivery"),
                StoreError::Stale => Error::invalid("id", "the delivery is being sent right now; replay it afterwards"),
                other => other.into(),
            })?;
        let journal = self
            .journal(actor)
            .audit(
                AUDIT_DELIVERY_REPLAY,
                Some(delivery.subject_id),
                json!({ "target": target.name, "delivery": id }),
            )
            .build();
        self.store.append_journal(&journal).await?;
        tracing::info!(target = %target.name, delivery = id, "SCIM delivery replayed");
        Ok(delivery)
    }

    /// Replays every failed delivery of a target, oldest first; returns them.
    pub async fn replay_failed_scim_deliveries(
        &self,
        by: impl Into<Authority<'_>>,
        name: &str,
    ) -> Result<Vec<Delivery>> {
        let by = by.into();
        let mut failed = self
            .list_scim_deliveries(
                by,
                name,
                DeliveryQuery {
                    status: Some(DeliveryStatus::Failed),
                    limit: super::MAX_DELIVERIES_PAGE,
                    ..DeliveryQuery::default()
                },
            )
            .await?;
        failed.reverse();
        let mut replayed = Vec::with_capacity(failed.len());
        for delivery in failed {
            replayed.push(self.replay_scim_delivery(by, name, delivery.id).await?);
        }
        Ok(replayed)
    }

    fn scim_client<'a>(
        &'a self,
        transport: &'a dyn WebhookTransport,
        settings: &'a WebhookSettings,
        target: &'a ScimTarget,
    ) -> Result<ScimClient<'a>> {
        Ok(ScimClient {
            core: self,
            transport,
            settings,
            base: &target.url,
            token: self.secrets.open_str(&target.token, &token_context(target.id))?,
        })
    }

    /// Sends one claimed SCIM delivery and records the outcome (the delivery worker's part).
    pub(crate) async fn send_scim_delivery(
        &self,
        transport: &dyn WebhookTransport,
        settings: &WebhookSettings,
        owner: &str,
        claimed: ClaimedScimDelivery,
    ) -> Result<()> {
        let ClaimedScimDelivery {
            delivery,
            event,
            target,
        } = claimed;
        let client = self.scim_client(transport, settings, &target)?;
        let claim = Claim {
            delivery: delivery.id,
            owner,
        };
        let outcome = self.push_event(&client, &target, &event, claim).await;
        let result = match outcome {
            Ok(()) => Ok(200),
            Err(StepError::Status(code)) => Ok(code),
            Err(StepError::Send(failure)) => Err(failure),
            Err(StepError::Malformed(_) | StepError::Store) => Err(SendFailure::RequestFailed),
        };
        let give_up = outcome.is_err_and(StepError::is_final);
        let mut record = final_attempt_record("scim", result, delivery.attempts, settings, give_up);
        if let Err(error) = outcome {
            record.error = Some(error.describe());
            tracing::info!(target = %target.name, delivery = delivery.id, event = event.id, error = %error.describe(),
                status = record.status.as_str(), "SCIM push attempt failed");
        }
        if !self.store.record_scim_attempt(delivery.id, owner, &record).await? {
            tracing::warn!(
                delivery = delivery.id,
                "the claim on a SCIM delivery lapsed before its outcome was recorded"
            );
        }
        Ok(())
    }

    /// Brings the provider in step with what `event` is about, as Roster has it now.
    async fn push_event(
        &self,
        client: &ScimClient<'_>,
        target: &ScimTarget,
        event: &crate::journal::OutboxEvent,
        claim: Claim<'_>,
    ) -> Step<()> {
        let group = event.payload["group_id"]
            .as_str()
            .and_then(|g| g.parse::<i64>().ok())
            .map(GroupId);
        match (event.event_type.as_str(), group) {
            (event::GROUP_MEMBER_ADDED | event::GROUP_MEMBER_REMOVED, Some(group)) => {
                self.push_user(client, target, event.subject_id).await?;
                self.push_group(client, target, group, None, claim).await
            }
            (event::GROUP_CREATED | event::GROUP_RENAMED, Some(group)) => {
                self.push_group(client, target, group, event.payload["previous_name"].as_str(), claim)
                    .await
            }
            (event::GROUP_DELETED, Some(group)) => {
                match self.store.get_group(group).await {
                    Err(StoreError::NotFound) => {}
                    // Roster still has it: nothing to delete.
                    Ok(_) => return Ok(()),
                    Err(_) => return Err(StepError::Store),
                }
                let remote = match self.store.get_scim_target_group(target.id, group).await {
                    Ok(Some(remote)) => Some(remote),
                    // Pushed before Roster remembered the target's ids: by its last name.
                    Ok(None) => match event.payload["name"].as_str() {
                        Some(name) => client.find_group(name).await?.map(|g| g.id),
                        None => None,
                    },
                    Err(_) => return Err(StepError::Store),
                };
                if let Some(remote) = remote {
                    client.delete_group(&remote).await?;
                }
                self.store
                    .forget_scim_target_group(target.id, group)
                    .await
                    .map_err(|_| StepError::Store)
            }
            (event_type, _) if event_type.starts_with("group.") => Ok(()),
            _ => self.push_user(client, target, event.subject_id).await,
        }
    }

    /// Brings one user in step: created or updated as Roster has it, or, when Roster no
    /// longer has it, deleted (or deactivated with `deactivate_on_delete`).
    async fn push_user(&self, client: &ScimClient<'_>, target: &ScimTarget, id: UserId) -> Step<()> {
        match self.store.get_user(id).await {
            Ok(user) => match desired_user(&user, self.clock.now()) {
                Some(desired) => {
                    client.upsert_user(&desired).await?;
                    Ok(())
                }
                None => Ok(()),
            },
            Err(StoreError::NotFound) => {
                let Some(remote) = client.find_user("externalId", &id.to_string()).await? else {
                    return Ok(());
                };
                if target.deactivate_on_delete {
                    client.deactivate_user(&remote).await?;
                } else {
                    client.delete_user(&remote).await?;
                }
                Ok(())
            }
            Err(_) => Err(StepError::Store),
        }
    }

    /// Brings one group in step: named as in Roster, with the members the provider has;
    /// nothing while Roster no longer has it (its deletion is pushed by `group.deleted`).
    ///
    /// The group is the one whose id the target gave when it was pushed there first
    /// (remembered per target), so a rename or a membership change after a rename updates
    /// it rather than making another. Pushes that touch one group are claimed one at a time
    /// in commit order (its lane, whatever the number of workers or instances), so two of
    /// them never both find it missing. Only a group not yet remembered (pushed before Roster
    /// remembered the target's ids, or created by a push that died before it could remember)
    /// is looked up by its name, or by `previous_name` after a rename, before it is created.
    async fn push_group(
        &self,
        client: &ScimClient<'_>,
        target: &ScimTarget,
        id: GroupId,
        previous_name: Option<&str>,
        claim: Claim<'_>,
    ) -> Step<()> {
        let group = match self.store.get_group(id).await {
            Ok(group) => group,
            Err(StoreError::NotFound) => return Ok(()),
            Err(_) => return Err(StepError::Store),
        };
        let members = self.store.list_group_members(id).await.map_err(|_| StepError::Store)?;
        let mut remote_members = Vec::with_capacity(members.len());
        for member in members {
            if let Some(user) = client.find_user("externalId", &member.to_string()).await? {
                remote_members.push(user.id);
            }
        }
        let remembered = self
            .store
            .get_scim_target_group(target.id, id)
            .await
            .map_err(|_| StepError::Store)?;
        if let Some(remote) = remembered {
            match client.replace_group(&remote, &group.name, &remote_members).await {
                // Deleted on the target behind Roster's back: made again below.
                Err(StepError::Status(404)) => {}
                other => return other,
            }
        }
        let mut found = client.find_group(&group.name).await?;
        if found.is_none()
            && let Some(previous) = previous_name
        {
            found = client.find_group(previous).await?;
        }
        let remote = match found {
            Some(found) => {
                client.replace_group(&found.id, &group.name, &remote_members).await?;
                found.id
            }
            None => client.create_group(&group.name, &remote_members).await?,
        };
        let kept = self
            .store
            .put_scim_target_group(target.id, id, &remote, claim.delivery, claim.owner)
            .await
            .map_err(|_| StepError::Store)?;
        if !kept {
            tracing::warn!(
                delivery = claim.delivery,
                "the claim on a SCIM delivery lapsed before the target's id of its group was kept"
            );
        }
        Ok(())
    }
}

/// The claim under which a SCIM delivery is sent: what it writes of the target's state is
/// written only while the claim holds.
#[derive(Debug, Clone, Copy)]
struct Claim<'a> {
    delivery: i64,
    owner: &'a str,
}

/// Sync: compare every user, and fix what differs.
impl Core {
    /// Compares Roster's users with the target's (paged, [`PAGE_SIZE`] at a time) and, unless
    /// `dry_run`, fixes the drift: missing users are created, different ones updated, extra
    /// ones (an `externalId` Roster does not have) deleted, or deactivated with
    /// `deactivate_on_delete`. Users the target has without an `externalId` and without a
    /// Roster email (its local accounts) are left alone. Safe at any time: each fix is the
    /// same idempotent step a delivery takes. Audited when it changes something.
    pub async fn sync_scim_target(
        &self,
        by: impl Into<Authority<'_>>,
        transport: &dyn WebhookTransport,
        settings: &WebhookSettings,
        name: &str,
        dry_run: bool,
    ) -> Result<SyncReport> {
        let by = by.into();
        let actor = by.require_admin()?;
        let target = self
            .store
            .get_scim_target(name)
            .await
            .map_err(not_found("SCIM target"))?;
        let client = self.scim_client(transport, settings, &target)?;
        let unreachable = |e: StepError| {
            Error::invalid(
                "name",
                format!("the SCIM target {name} could not be listed: {}", e.describe()),
            )
        };
        let remote = client.list_users().await.map_err(unreachable)?;
        let local = self.pushable_users().await?;
        let mut drift = Vec::new();
        let mut matched = std::collections::HashSet::new();
        for desired in &local {
            let found = remote
                .iter()
                .find(|r| r.external_id.as_deref() == Some(desired.external_id.as_str()))
                .or_else(|| {
                    remote
                        .iter()
                        .find(|r| r.external_id.is_none() && r.user_name.eq_ignore_ascii_case(&desired.email))
                });
            let user_id = desired.external_id.parse::<UserId>().ok();
            match found {
                None => drift.push(Drift {
                    kind: "missing",
                    user_id,
                    remote_id: None,
                    email: Some(desired.email.clone()),
                    fields: Vec::new(),
                    error: None,
                }),
                Some(r) => {
                    matched.insert(r.id.clone());
                    let fields = desired.differences(r);
                    if !fields.is_empty() {
                        drift.push(Drift {
                            kind: "different",
                            user_id,
                            remote_id: Some(r.id.clone()),
                            email: Some(desired.email.clone()),
                            fields,
                            error: None,
                        });
                    }
                }
            }
        }
        for r in &remote {
            if r.external_id.is_some() && !matched.contains(&r.id) {
                drift.push(Drift {
                    kind: "extra",
                    user_id: r.external_id.as_deref().and_then(|e| e.parse().ok()),
                    remote_id: Some(r.id.clone()),
                    email: r.email.clone().or_else(|| Some(r.user_name.clone())),
                    fields: Vec::new(),
                    error: None,
                });
            }
        }
        if !dry_run && !drift.is_empty() {
            for d in &mut drift {
                let fixed = match d.kind {
                    "extra" => {
                        let remote = remote.iter().find(|r| Some(&r.id) == d.remote_id.as_ref());
                        match remote {
                            Some(r) if target.deactivate_on_delete => {
                                if r.active {
                                    client.deactivate_user(r).await
                                } else {
                                    Ok(())
                                }
                            }
                            Some(r) => client.delete_user(r).await,
                            None => Ok(()),
                        }
                    }
                    _ => match local
                        .iter()
                        .find(|l| Some(l.external_id.as_str()) == d.user_id.map(|u| u.to_string()).as_deref())
                    {
                        Some(desired) => client.upsert_user(desired).await.map(|_| ()),
                        None => Ok(()),
                    },
                };
                d.error = fixed.err().map(StepError::describe);
            }
            let journal = self
                .journal(actor)
                .audit(
                    AUDIT_SYNC,
                    None,
                    json!({
                        "target": target.name,
                        "missing": drift.iter().filter(|d| d.kind == "missing").count(),
                        "different": drift.iter().filter(|d| d.kind == "different").count(),
                        "extra": drift.iter().filter(|d| d.kind == "extra").count(),
                        "failed": drift.iter().filter(|d| d.error.is_some()).count(),
                    }),
                )
                .build();
            self.store.append_journal(&journal).await?;
        }
        Ok(SyncReport {
            target: target.name,
            dry_run,
            remote_users: remote.len(),
            local_users: local.len(),
            drift,
        })
    }

    /// Every user of Roster that can be pushed (those with an email), as it should be now.
    async fn pushable_users(&self) -> Result<Vec<DesiredUser>> {
        let now = self.clock.now();
        let mut out = Vec::new();
        let mut after = None;
        loop {
            let page = self
                .store
                .list_users(&UserQuery {
                    sort: UserSort::CreatedAt,
                    after: after.clone(),
                    limit: 500,
                    ..UserQuery::default()
                })
                .await?;
            let Some(last) = page.last() else { break };
            after = Some((super::user_pages::sort_key(UserSort::CreatedAt, last), last.id));
            let full = page.len() == 500;
            out.extend(page.iter().filter_map(|u| desired_user(u, now)));
            if !full {
                break;
            }
        }
        Ok(out)
    }
}
