//! What a change leaves behind besides itself: an audit entry (who did what to whom, when,
//! from where) and events for the rest of the platform (the outbox). The store writes a
//! change's [`Journal`] in the same transaction as the change (tables `audit_log` and
//! `outbox`, migration 0009), so nothing is recorded for a change that rolled back and
//! nothing is missing for one that committed.

use crate::id::UserId;
use crate::store::{ScimKind, ScimRecord};
use crate::user::User;
use time::OffsetDateTime;

/// One line of the audit trail.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    /// A snowflake: entries order by it.
    pub id: i64,
    pub at: OffsetDateTime,
    /// Who acted; None for the system or an anonymous client (a failed login).
    pub actor_id: Option<UserId>,
    /// What happened, dotted: `user.update`, `login.failure`, `api_key.create`, ...
    pub action: String,
    /// Whom it concerned.
    pub target_id: Option<UserId>,
    /// The client's address, when the change came over HTTP.
    pub ip: Option<String>,
    /// A small JSON object of what changed; never a secret.
    pub details: serde_json::Value,
}

/// One event of the outbox.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxEvent {
    /// Commit order, assigned by the store (0 before it is written).
    pub seq: i64,
    /// A snowflake, unique; receivers deduplicate by it.
    pub id: i64,
    /// `user.created`, `user.updated`, `user.deleted`, `user.banned`, ...
    pub event_type: String,
    /// The user the event is about.
    pub subject_id: UserId,
    pub actor_id: Option<UserId>,
    pub occurred_at: OffsetDateTime,
    /// A minimal JSON object without secrets.
    pub payload: serde_json::Value,
}

/// Makes the journal of a change whose user the store finds (an email verification token).
pub type JournalFor<'a> = &'a (dyn Fn(UserId) -> Journal + Send + Sync);

/// The records of one change, written with it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Journal {
    pub audit: Vec<AuditEntry>,
    pub events: Vec<OutboxEvent>,
    /// What a SCIM directory sent for the user or group changed, beyond Roster's own fields
    /// (its `externalId` and the other attributes): written with the change, so a user made
    /// over SCIM never exists without it. The store fails the whole change with NotFound when
    /// the record's user or group does not exist.
    pub scim_records: Vec<(ScimKind, ScimRecord)>,
}

impl Journal {
    /// Whether there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.audit.is_empty() && self.events.is_empty() && self.scim_records.is_empty()
    }
}

/// Adds to the journal of a change what else must be written with it, given the id of the
/// user or group the change is about (so that a caller can attach its own records to a change
/// that a service builds, such as the SCIM record of a user a directory creates).
pub type JournalExtra<'x> = &'x (dyn for<'b> Fn(JournalBuilder<'b>, i64) -> JournalBuilder<'b> + Send + Sync);

/// `extra` as a [`JournalExtra`]'s function (a closure's lifetimes are inferred from this).
pub fn journal_extra<F>(extra: F) -> F
where
    F: for<'b> Fn(JournalBuilder<'b>, i64) -> JournalBuilder<'b> + Send + Sync,
{
    extra
}

/// Where the current request came from: set once per request by the HTTP layer (see
/// [`with_request_context`]), read when a change is journaled. Outside a request (the admin
/// command line, background work) there is none.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RequestContext {
    /// The client's address, as the HTTP layer determined it (forwarded-for rules included).
    /// Kept as an address and written out only when a change is journaled, so that a request
    /// that changes nothing formats nothing.
    pub ip: Option<std::net::IpAddr>,
}

tokio::task_local! {
    static REQUEST_CONTEXT: RequestContext;
}

/// Runs `work` with `context` as the current request's context.
pub async fn with_request_context<F: std::future::Future>(context: RequestContext, work: F) -> F::Output {
    REQUEST_CONTEXT.scope(context, work).await
}

/// The current request's client address, if any.
pub fn current_ip() -> Option<String> {
    REQUEST_CONTEXT
        .try_with(|c| c.ip)
        .ok()
        .flatten()
        .map(|ip| ip.to_string())
}

/// Builds the [`Journal`] of one change: every entry gets the same actor, time and client
/// address. Made by [`crate::Core::journal`].
#[derive(Debug)]
pub struct JournalBuilder<'a> {
    ids: &'a crate::id::IdGenerator,
    at: OffsetDateTime,
    actor: Option<UserId>,
    ip: Option<String>,
    journal: Journal,
}

impl<'a> JournalBuilder<'a> {
    /// A builder for a change made by `actor` (None: the admin command line, the system or
    /// an anonymous client) at `at`, from the current request's address.
    pub fn new(ids: &'a crate::id::IdGenerator, at: OffsetDateTime, actor: Option<UserId>) -> Self {
        Self {
            ids,
            at,
            actor,
            ip: current_ip(),
            journal: Journal::default(),
        }
    }

    /// Adds an audit entry.
    pub fn audit(mut self, action: &str, target: Option<UserId>, details: serde_json::Value) -> Self {
        self.journal.audit.push(AuditEntry {
            id: self.ids.next_id(),
            at: self.at,
            actor_id: self.actor,
            action: action.to_string(),
            target_id: target,
            ip: self.ip.clone(),
            details,
        });
        self
    }

    /// Adds an event about `subject`.
    pub fn event(mut self, event_type: &str, subject: UserId, payload: serde_json::Value) -> Self {
        self.journal.events.push(OutboxEvent {
            seq: 0,
            id: self.ids.next_id(),
            event_type: event_type.to_string(),
            subject_id: subject,
            actor_id: self.actor,
            occurred_at: self.at,
            payload,
        });
        self
    }

    /// The SCIM record of the user or group the change is about, written with it.
    pub fn scim_record(mut self, kind: ScimKind, record: ScimRecord) -> Self {
        self.journal.scim_records.push((kind, record));
        self
    }

    /// `user.created` for a new user, and the audit entry `action` when given.
    pub fn user_created(self, user: &User, action: Option<&str>) -> Self {
        let payload = serde_json::json!({
            "role": user.role.as_str(),
            "active": user.active,
            "email_verified": user.email_verified,
            "provider": user.provider,
        });
        let this = self.event(event::USER_CREATED, user.id, payload.clone());
        match action {
            Some(action) => this.audit(action, Some(user.id), payload),
            None => this,
        }
    }

    /// The events of a change from `before` to `after` (`user.updated` naming the changed
    /// fields, `user.role_changed`, `user.activated`/`user.deactivated`,
    /// `user.password_changed`), and the audit entry `action` when given (with
    /// `user.role_change` besides when the role changed); without one, a password change is
    /// still audited as `user.password_change`.
    pub fn user_changed(mut self, before: &User, after: &User, action: Option<&str>) -> Self {
        let fields = changed_fields(before, after);
        let id = after.id;
        if !fields.is_empty() {
            self = self.event(event::USER_UPDATED, id, serde_json::json!({ "fields": fields }));
        }
        let role = (before.role != after.role)
            .then(|| serde_json::json!({ "from": before.role.as_str(), "to": after.role.as_str() }));
        if let Some(role) = &role {
            self = self.event(event::USER_ROLE_CHANGED, id, role.clone());
        }
        if before.active != after.active {
            let kind = if after.active {
                event::USER_ACTIVATED
            } else {
                event::USER_DEACTIVATED
            };
            self = self.event(kind, id, serde_json::json!({}));
        }
        let password = before.password_hash != after.password_hash;
        if password {
            self = self.event(event::USER_PASSWORD_CHANGED, id, serde_json::json!({}));
        }
        if let Some(action) = action {
            let mut details = serde_json::json!({ "fields": fields });
            if let Some(role) = &role {
                details["role"] = role.clone();
            }
            if before.active != after.active {
                details["active"] = after.active.into();
            }
            if password {
                details["password"] = true.into();
            }
            self = self.audit(action, Some(id), details);
            if let Some(role) = role {
                self = self.audit(audit::USER_ROLE_CHANGE, Some(id), role);
            }
        } else if password {
            self = self.audit(audit::PASSWORD_CHANGE, Some(id), serde_json::json!({}));
        }
        self
    }

    /// The journal built.
    pub fn build(self) -> Journal {
        self.journal
    }
}

/// The names of the profile fields that differ (never a value: they may be personal).
fn changed_fields(before: &User, after: &User) -> Vec<&'static str> {
    let mut fields = Vec::new();
    let mut check = |name, changed: bool| {
        if changed {
            fields.push(name);
        }
    };
    check("email", before.email != after.email);
    check("email_verified", before.email_verified != after.email_verified);
    check("username", before.username != after.username);
    check("name", before.name != after.name);
    check("provider", before.provider != after.provider);
    check("avatar", before.avatar != after.avatar);
    check("bio", before.bio != after.bio);
    check("timezone", before.timezone != after.timezone);
    check("terms_version", before.terms_version != after.terms_version);
    check("preferences", before.preferences != after.preferences);
    fields
}

/// The event types of the outbox.
pub mod event {
    pub const USER_CREATED: &str = "user.created";
    pub const USER_UPDATED: &str = "user.updated";
    pub const USER_DELETED: &str = "user.deleted";
    pub const USER_ROLE_CHANGED: &str = "user.role_changed";
    pub const USER_ACTIVATED: &str = "user.activated";
    pub const USER_DEACTIVATED: &str = "user.deactivated";
    pub const USER_BANNED: &str = "user.banned";
    pub const USER_UNBANNED: &str = "user.unbanned";
    pub const USER_PASSWORD_CHANGED: &str = "user.password_changed";
    pub const GROUP_MEMBER_ADDED: &str = "group.member_added";
    pub const GROUP_MEMBER_REMOVED: &str = "group.member_removed";
    /// The group events' subject is the group (its id), not a user.
    pub const GROUP_CREATED: &str = "group.created";
    pub const GROUP_RENAMED: &str = "group.renamed";
    pub const GROUP_DELETED: &str = "group.deleted";
    pub const SESSION_REVOKED: &str = "session.revoked";
    pub const API_KEY_CREATED: &str = "api_key.created";
    pub const API_KEY_REVOKED: &str = "api_key.revoked";
    /// Every event type, for validation and documentation.
    pub const ALL: &[&str] = &[
        USER_CREATED,
        USER_UPDATED,
        USER_DELETED,
        USER_ROLE_CHANGED,
        USER_ACTIVATED,
        USER_DEACTIVATED,
        USER_BANNED,
        USER_UNBANNED,
        USER_PASSWORD_CHANGED,
        GROUP_MEMBER_ADDED,
        GROUP_MEMBER_REMOVED,
        GROUP_CREATED,
        GROUP_RENAMED,
        GROUP_DELETED,
        SESSION_REVOKED,
        API_KEY_CREATED,
        API_KEY_REVOKED,
    ];
}

/// The actions of the audit trail.
pub mod audit {
    pub const USER_CREATE: &str = "user.create";
    pub const USER_UPDATE: &str = "user.update";
    pub const USER_ROLE_CHANGE: &str = "user.role_change";
    pub const USER_BAN: &str = "user.ban";
    pub const USER_UNBAN: &str = "user.unban";
    pub const USER_DELETE: &str = "user.delete";
    pub const USER_IMPORT: &str = "user.import";
    pub const SESSION_REVOKE: &str = "session.revoke";
    pub const PERMISSION_TEMPLATE_UPDATE: &str = "permission_template.update";
    pub const INSTANCE_CONFIG_UPDATE: &str = "instance_config.update";
    pub const GROUP_CREATE: &str = "group.create";
    pub const GROUP_UPDATE: &str = "group.update";
    pub const GROUP_DELETE: &str = "group.delete";
    pub const GROUP_MEMBER_ADD: &str = "group.member_add";
    pub const GROUP_MEMBER_REMOVE: &str = "group.member_remove";
    pub const LOGIN_SUCCESS: &str = "login.success";
    pub const LOGIN_FAILURE: &str = "login.failure";
    pub const PASSWORD_CHANGE: &str = "user.password_change";
    pub const PASSWORD_RESET: &str = "user.password_reset";
    pub const API_KEY_CREATE: &str = "api_key.create";
    pub const API_KEY_REVOKE: &str = "api_key.revoke";
    pub const TWO_FACTOR_ENABLE: &str = "two_factor.enable";
    pub const TWO_FACTOR_DISABLE: &str = "two_factor.disable";
    pub const TWO_FACTOR_BACKUP_CODES: &str = "two_factor.backup_codes_regenerate";
    pub const BALANCE_REFILL: &str = "balance.refill";
    pub const BALANCE_REFILL_SETTINGS: &str = "balance.refill_settings";
    pub const USER_SETTING_PUT: &str = "user_setting.put";
    pub const USER_SETTING_DELETE: &str = "user_setting.delete";
    pub const TIER_PUT: &str = "tier.put";
    pub const TIER_DELETE: &str = "tier.delete";
    pub const USER_TIER_SET: &str = "user.tier_set";
    pub const USER_TIER_CLEAR: &str = "user.tier_clear";
    pub const EMAIL_CHANGE_REQUEST: &str = "user.email_change_request";
    pub const EMAIL_CHANGE_CANCEL: &str = "user.email_change_cancel";
    pub const EMAIL_CHANGE_CONFIRM: &str = "user.email_change_confirm";
    /// A SCIM directory's record of a user or group (its `externalId` and kept attributes).
    pub const SCIM_RECORD_WRITE: &str = "scim.record_write";
    pub const INVITATION_REVOKE: &str = "invitation.revoke";
    pub const PASSWORD_RESET_LINK: &str = "user.password_reset_link";
}

/// The hourly activity counters (the admin dashboard's) an audit entry adds one to; the
/// store keeps them in the transaction that writes the entry.
pub fn activity_metrics(entry: &AuditEntry) -> Vec<&'static str> {
    match entry.action.as_str() {
        audit::LOGIN_SUCCESS => vec![metric::LOGIN],
        audit::LOGIN_FAILURE if entry.details.get("reason").and_then(|r| r.as_str()) == Some("throttled") => {
            vec![metric::LOGIN_FAILURE, metric::LOGIN_THROTTLED]
        }
        audit::LOGIN_FAILURE => vec![metric::LOGIN_FAILURE],
        _ => Vec::new(),
    }
}

/// The names of the hourly activity counters.
pub mod metric {
    /// A successful sign-in (every method).
    pub const LOGIN: &str = "login";
    /// A refused sign-in (wrong credentials, an account that may not sign in, the throttle).
    pub const LOGIN_FAILURE: &str = "login_failure";
    /// A sign-in refused by the login throttle.
    pub const LOGIN_THROTTLED: &str = "login_throttled";
}

/// A page request for the audit trail (the store's side of `GET /v1/audit`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AuditQuery {
    pub actor: Option<UserId>,
    pub target: Option<UserId>,
    pub action: Option<String>,
    /// Entries at or after this time.
    pub since: Option<OffsetDateTime>,
    /// Entries before this time.
    pub until: Option<OffsetDateTime>,
    /// Entries with an id below this one (pages go from newest to oldest).
    pub before_id: Option<i64>,
    pub limit: u32,
}

impl Journal {
    /// This journal with the stored role of a just-inserted `user` in its `user.created`
    /// records (the store decides the first-admin promotion, so the core cannot know it
    /// when it builds the journal).
    pub fn for_stored_user(&self, user: &User) -> std::borrow::Cow<'_, Journal> {
        let role = user.role.as_str();
        let stale = |id: Option<UserId>, value: &serde_json::Value| {
            id == Some(user.id) && value.get("role").is_some_and(|r| r != role)
        };
        let needs = self.events.iter().any(|e| stale(Some(e.subject_id), &e.payload))
            || self.audit.iter().any(|a| stale(a.target_id, &a.details));
        if !needs {
            return std::borrow::Cow::Borrowed(self);
        }
        let mut journal = self.clone();
        for event in &mut journal.events {
            if event.event_type == event::USER_CREATED && stale(Some(event.subject_id), &event.payload) {
                event.payload["role"] = role.into();
            }
        }
        for entry in &mut journal.audit {
            if stale(entry.target_id, &entry.details) {
                entry.details["role"] = role.into();
            }
        }
        std::borrow::Cow::Owned(journal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::IdGenerator;
    use crate::user::{PasswordHash, Role};
    use serde_json::json;

    fn user() -> User {
        let now = OffsetDateTime::now_utc();
        User {
            id: UserId(5),
            email: Some("a@example.org".into()),
            email_verified: false,
            username: None,
            name: None,
            password_hash: Some(PasswordHash("$argon2id$old".into())),
            provider: "local".into(),
            role: Role::User,
            active: true,
            avatar: None,
            bio: None,
            timezone: None,
            terms_version: None,
            terms_accepted_at: None,
            preferences: json!({}),
            created_at: now,
            updated_at: now,
            last_login_at: None,
            last_active_at: None,
            revision: 1,
            banned_until: None,
            ban_reason: None,
        }
    }

    fn kinds(journal: &Journal) -> (Vec<&str>, Vec<&str>) {
        (
            journal.events.iter().map(|e| e.event_type.as_str()).collect(),
            journal.audit.iter().map(|a| a.action.as_str()).collect(),
        )
    }

    #[test]
    fn user_changes_become_events_and_entries() {
        let ids = IdGenerator::new(1);
        let at = OffsetDateTime::now_utc();
        let before = user();
        let after = User {
            name: Some("Ann".into()),
            role: Role::Admin,
            active: false,
            password_hash: Some(PasswordHash("$argon2id$new".into())),
            ..before.clone()
        };
        let j = JournalBuilder::new(&ids, at, Some(UserId(9)))
            .user_changed(&before, &after, Some(audit::USER_UPDATE))
            .build();
        assert_eq!(
            kinds(&j),
            (
                vec![
                    "user.updated",
                    "user.role_changed",
                    "user.deactivated",
                    "user.password_changed"
                ],
                vec!["user.update", "user.role_change"]
            )
        );
        assert_eq!(j.events[0].payload, json!({"fields": ["name"]}));
        assert_eq!(
            j.audit[0].details,
            json!({"fields": ["name"], "role": {"from": "user", "to": "admin"}, "active": false, "password": true})
        );
        assert!(
            !serde_json::to_string(&j.audit[0].details)
                .unwrap_or_default()
                .contains("argon2")
        );
        assert!(
            j.events
                .iter()
                .all(|e| e.actor_id == Some(UserId(9)) && e.subject_id == UserId(5))
        );
        assert!(j.events.windows(2).all(|w| w[0].id < w[1].id), "ids in order");

        // Without an audited action only a password change is audited, as a security event.
        let own = User {
            password_hash: Some(PasswordHash("$argon2id$mine".into())),
            bio: Some("hi".into()),
            ..before.clone()
        };
        let j = JournalBuilder::new(&ids, at, Some(UserId(5)))
            .user_changed(&before, &own, None)
            .build();
        assert_eq!(
            kinds(&j),
            (
                vec!["user.updated", "user.password_changed"],
                vec!["user.password_change"]
            )
        );
        let j = JournalBuilder::new(&ids, at, None)
            .user_changed(&before, &before, None)
            .build();
        assert!(j.is_empty());
    }

    #[test]
    fn a_promoted_first_account_is_journaled_as_admin() {
        let ids = IdGenerator::new(1);
        let created = user();
        let j = JournalBuilder::new(&ids, OffsetDateTime::now_utc(), None)
            .user_created(&created, Some(audit::USER_CREATE))
            .build();
        assert!(matches!(j.for_stored_user(&created), std::borrow::Cow::Borrowed(_)));
        let stored = User {
            role: Role::Admin,
            ..created
        };
        let fixed = j.for_stored_user(&stored);
        assert_eq!(fixed.events[0].payload["role"], "admin");
        assert_eq!(fixed.audit[0].details["role"], "admin");
        assert_eq!(fixed.events[0].id, j.events[0].id);
    }
}
