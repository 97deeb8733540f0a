//! API keys: many per user, named, optionally expiring, shown once, stored as digests.

use super::users::not_found;
use super::{Actor, ApiKeyGate, Core, Credential, Surface};
use crate::error::{Error, Result};
use crate::id::ApiKeyId;
use crate::journal::{audit, event};
use crate::store::ApiKey;
use crate::token::{digest, random_secret};
use crate::user::{Role, validate_text};
use time::{Duration, OffsetDateTime};

/// Every Roster API key starts with this (unless created with another of [`API_KEY_PREFIXES`]).
pub const API_KEY_PREFIX: &str = "rst_";
/// The prefixes an API key may carry: Roster's own, and `sk-` (the form Langflow shows).
pub const API_KEY_PREFIXES: &[&str] = &[API_KEY_PREFIX, "sk-"];

/// Whether a bearer credential is an API key (by its prefix) rather than an access token.
pub fn is_api_key(token: &str) -> bool {
    API_KEY_PREFIXES.iter().any(|p| token.starts_with(p))
}
/// The scope that allows token introspection (administrators only may grant it).
pub const SCOPE_INTROSPECT: &str = "introspect";
/// The role that may grant `scope` (None: no such scope). Every scope is an administrator's.
fn scope_role(scope: &str) -> Option<Role> {
    (scope == SCOPE_INTROSPECT || scope == super::SCOPE_EVENTS || scope == super::SCOPE_SCIM).then_some(Role::Admin)
}

/// Whether a user with `role` may grant `scope`: when the key is made, and on every use of it
/// (a key's scope works only while its owner still holds the role, see [`Actor::has_scope`]).
pub fn may_grant(role: Role, scope: &str) -> bool {
    scope_role(scope) == Some(role)
}

/// How many characters of a key are kept visible.
const VISIBLE_PREFIX_LENGTH: usize = 12;
/// The most keys one user may hold.
pub const MAX_KEYS_PER_USER: usize = 100;

/// A request for a new key.
#[derive(Debug, Clone, Default)]
pub struct NewApiKey {
    pub name: String,
    pub expires_at: Option<OffsetDateTime>,
    pub scopes: Vec<String>,
}

/// A key just created: the only time its secret is seen.
#[derive(Debug, Clone)]
pub struct ApiKeyCreated {
    pub key: ApiKey,
    pub secret: String,
}

impl Core {
    /// Creates an API key for the caller.
    pub async fn create_api_key(&self, actor: &Actor, input: NewApiKey) -> Result<ApiKeyCreated> {
        self.create_api_key_with_prefix(actor, input, API_KEY_PREFIX).await
    }

    /// As [`Core::create_api_key_on`] on any route but Open WebUI's.
    pub async fn create_api_key_with_prefix(
        &self,
        actor: &Actor,
        input: NewApiKey,
        prefix: &str,
    ) -> Result<ApiKeyCreated> {
        self.create_api_key_on(actor, input, prefix, Surface::Other).await
    }

    /// As [`Core::create_api_key`], the key starting with `prefix`, one of [`API_KEY_PREFIXES`],
    /// asked for through `surface`'s routes: every route that creates a key comes here, and
    /// the permission rule ([`Core::ensure_api_keys_permitted`]) is checked first.
    pub async fn create_api_key_on(
        &self,
        actor: &Actor,
        input: NewApiKey,
        prefix: &str,
        surface: Surface,
    ) -> Result<ApiKeyCreated> {
        if !API_KEY_PREFIXES.contains(&prefix) {
            return Err(Error::invalid("prefix", "is not a known API key prefix"));
        }
        self.ensure_api_keys_permitted(&actor.user, surface).await?;
        let name =
            validate_text("name", &input.name, 100)?.ok_or_else(|| Error::invalid("name", "must not be empty"))?;
        let now = self.clock.now();
        if let Some(expires) = input.expires_at
            && expires <= now
        {
            return Err(Error::invalid("expires_at", "must be in the future"));
        }
        let mut scopes = Vec::new();
        for scope in input.scopes {
            if scope_role(&scope).is_none() {
                return Err(Error::invalid(
                    "scopes",
                    format!(
                        "unknown scope {scope:?}; known: {SCOPE_INTROSPECT}, {}, {}",
                        super::SCOPE_EVENTS,
                        super::SCOPE_SCIM
                    ),
                ));
            }
            if !may_grant(actor.user.role, &scope) {
                return Err(Error::Forbidden(match scope.as_str() {
                    SCOPE_INTROSPECT => crate::error::Refusal::IntrospectGrantAdminOnly,
                    super::SCOPE_SCIM => crate::error::Refusal::ScimGrantAdminOnly,
                    _ => crate::error::Refusal::EventsGrantAdminOnly,
                }));
            }
            if !scopes.contains(&scope) {
                scopes.push(scope);
            }
        }
        if self.store.list_api_keys(actor.user.id).await?.len() >= MAX_KEYS_PER_USER {
            return Err(Error::invalid(
                "name",
                format!("a user may hold at most {MAX_KEYS_PER_USER} API keys"),
            ));
        }
        let secret = format!("{prefix}{}", random_secret());
        let key = ApiKey {
            id: ApiKeyId(self.next_id()),
            user_id: actor.user.id,
            name,
            prefix: secret.chars().take(VISIBLE_PREFIX_LENGTH).collect(),
            scopes,
            created_at: now,
            expires_at: input.expires_at,
            last_used_at: None,
        };
        let details = serde_json::json!({ "key_id": key.id.to_string(), "name": key.name, "scopes": key.scopes });
        let journal = self
            .journal(Some(actor.user.id))
            .event(event::API_KEY_CREATED, actor.user.id, details.clone())
            .audit(audit::API_KEY_CREATE, Some(actor.user.id), details)
            .build();
        self.store.insert_api_key(&key, &digest(&secret), &journal).await?;
        tracing::info!(user = %actor.user.id, key = %key.id, "API key created");
        Ok(ApiKeyCreated { key, secret })
    }

    /// The caller's API keys (never their secrets).
    pub async fn list_my_api_keys(&self, actor: &Actor) -> Result<Vec<ApiKey>> {
        Ok(self.store.list_api_keys(actor.user.id).await?)
    }

    /// Revokes one of the caller's keys, at once.
    pub async fn revoke_my_api_key(&self, actor: &Actor, id: ApiKeyId) -> Result<()> {
        let details = serde_json::json!({ "key_id": id.to_string() });
        let journal = self
            .journal(Some(actor.user.id))
            .event(event::API_KEY_REVOKED, actor.user.id, details.clone())
            .audit(audit::API_KEY_REVOKE, Some(actor.user.id), details)
            .build();
        self.store
            .delete_api_key(actor.user.id, id, &journal)
            .await
            .map_err(not_found("API key"))?;
        tracing::info!(user = %actor.user.id, key = %id, "API key revoked");
        Ok(())
    }

    /// Authenticates an API key: known, unexpired, its owner allowed in.
    pub async fn authenticate_api_key(&self, secret: &str) -> Result<Actor> {
        let outcome = self.check_api_key(secret).await;
        crate::telemetry::login(
            crate::telemetry::LoginMethod::ApiKey,
            crate::telemetry::login_outcome(&outcome),
        );
        if let Ok(actor) = &outcome {
            crate::telemetry::note_request_user(actor.user.id);
        }
        outcome
    }

    async fn check_api_key(&self, secret: &str) -> Result<Actor> {
        let mut found = self.api_key_with_user(digest(secret)).await?;
        let now = self.clock.now();
        if found.record.expires_at.is_some_and(|t| t <= now) {
            return Err(Error::InvalidToken);
        }
        found.user.ensure_may_sign_in_at(now)?;
        // Where the permission gates every route, a key stops working once its owner loses it.
        if self.config.api_key_gate == ApiKeyGate::Everywhere {
            self.ensure_api_keys_permitted(&found.user, Surface::Other).await?;
        }
        let mut touched = false;
        if found
            .record
            .last_used_at
            .is_none_or(|t| now - t >= Duration::seconds(60))
        {
            self.store.touch_api_key(found.record.id, now).await?;
            found.record.last_used_at = Some(now);
            touched = true;
        }
        if self.activity_due(&found.user, now) {
            self.store.touch_user(found.user.id, now).await?;
            found.user.last_active_at = Some(now);
            touched = true;
        }
        if touched {
            self.remember_api_key(digest(secret), &found);
        }
        let (key, user) = (found.record, found.user);
        Ok(Actor {
            user,
            credential: Credential::ApiKey {
                id: key.id,
                scopes: key.scopes,
            },
            surface: Surface::default(),
        })
    }
}
