//! Roster as a SCIM 2.0 service provider (RFC 7643, RFC 7644): users and groups as SCIM
//! resources, their listing with filters, sorting and pages, creation, replacement, PATCH
//! and deletion, each through the same services (and journal) as every other route.
//!
//! A SCIM user is a Roster user: `userName` is the username, the primary (or first) email the
//! email, `displayName` (or the parts of `name`) the name, `active` whether it may sign in.
//! What a directory sends beyond those (`externalId`, the parts of the name, more emails,
//! the enterprise extension, ...) is kept as sent in the user's SCIM record and returned.
//! A SCIM group is a Roster group: `displayName` its name, `members` its members.
//!
//! Here: reading a request's resource, and the writes (create, replace, PATCH, delete).
//! `render` makes a resource's representation and projects it onto the attributes asked
//! for; `list` answers listings (filters, sorts, pages); `filter`, `patch` and
//! `schema` hold the filter language, PatchOp and the discovery documents.

mod filter;
mod list;
mod patch;
mod render;
mod schema;

pub use list::{LIST_SCHEMA, MAX_RESULTS, ScimList, ScimListQuery};
pub use render::project_attributes;
pub use schema::{resource_type_by_id, resource_types, schema_by_id, schemas, service_provider_config};

use super::users::{NewUser, Patch, ProfileChanges, not_found};
use super::{Actor, AdminUserChanges, Core, GroupChanges, NewGroup};
use crate::error::{Error, Refusal, Result};
use crate::id::{GroupId, UserId};
use crate::journal::{JournalBuilder, journal_extra};
use crate::store::{ScimKind, ScimRecord};
use filter::get_ci;
use serde_json::{Map, Value, json};

/// The API key scope that opens the SCIM routes (administrators only may grant it).
pub const SCOPE_SCIM: &str = "scim";
/// The Error message's schema.
pub const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

/// Which resource type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScimResourceKind {
    User,
    Group,
}

impl ScimResourceKind {
    fn store_kind(self) -> ScimKind {
        match self {
            Self::User => ScimKind::User,
            Self::Group => ScimKind::Group,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::User => "User",
            Self::Group => "Group",
        }
    }
}

/// The attributes Roster maps onto its own fields, or makes itself, and so does not keep in a
/// SCIM record.
const NOT_KEPT: &[&str] = &[
    "schemas",
    "id",
    "meta",
    "userName",
    "active",
    "password",
    "externalId",
    "groups",
    "members",
];

/// Fails unless `if_match` (an `If-Match` header's value) names the resource's version (or
/// is `*` or absent).
fn check_version(resource: &Value, if_match: Option<&str>) -> Result<()> {
    let Some(wanted) = if_match.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(());
    };
    let current = resource["meta"]["version"].as_str().unwrap_or_default();
    let strip = |s: &str| s.trim().trim_start_matches("W/").trim_matches('"').to_string();
    if wanted == "*" || wanted.split(',').any(|tag| strip(tag) == strip(current)) {
        Ok(())
    } else {
        Err(Error::invalid("if_match", "the resource changed since that version"))
    }
}

/// Reads a resource id from a path.
fn parse_id(kind: ScimResourceKind, raw: &str) -> Result<i64> {
    raw.parse::<i64>()
        .ok()
        .filter(|_| !raw.starts_with('+'))
        .ok_or(Error::NotFound(match kind {
            ScimResourceKind::User => "user",
            ScimResourceKind::Group => "group",
        }))
}

fn string_at<'a>(body: &'a Value, field: &'static str) -> Result<Option<&'a str>> {
    match get_ci(body, field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(_) => Err(Error::invalid(field, "must be a string")),
    }
}

/// What a User resource says of Roster's own fields.
struct UserFields {
    username: String,
    email: Option<String>,
    name: Option<String>,
    active: Option<bool>,
    password: Option<String>,
    external_id: Option<String>,
    kept: Value,
}

fn read_user(body: &Value) -> Result<UserFields> {
    if !body.is_object() {
        return Err(Error::invalid("syntax", "a User must be a JSON object"));
    }
    let username = string_at(body, "userName")?
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| Error::invalid("userName", "is required"))?
        .to_string();
    let emails = match get_ci(body, "emails") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items.clone(),
        Some(_) => return Err(Error::invalid("emails", "must be an array")),
    };
    let primary = emails
        .iter()
        .find(|e| get_ci(e, "primary").and_then(filter::loose_bool) == Some(true))
        .or_else(|| emails.first());
    let email = match primary.map(|e| get_ci(e, "value")) {
        None | Some(None) | Some(Some(Value::Null)) => None,
        Some(Some(Value::String(s))) => Some(s.trim().to_string()),
        Some(Some(_)) => return Err(Error::invalid("emails", "an email's value must be a string")),
    };
    let name_object = get_ci(body, "name");
    let name = match string_at(body, "displayName")? {
        Some(d) if !d.trim().is_empty() => Some(d.trim().to_string()),
        _ => match name_object {
            Some(n) => match get_ci(n, "formatted").and_then(Value::as_str) {
                Some(f) if !f.trim().is_empty() => Some(f.trim().to_string()),
                _ => {
                    let parts: Vec<&str> = ["givenName", "middleName", "familyName"]
                        .iter()
                        .filter_map(|p| get_ci(n, p).and_then(Value::as_str))
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .collect();
                    (!parts.is_empty()).then(|| parts.join(" "))
                }
            },
            None => None,
        },
    };
    let active = match get_ci(body, "active") {
        None | Some(Value::Null) => None,
        Some(v) => Some(patch::read_bool("active", v)?),
    };
    let password = string_at(body, "password")?.map(str::to_string);
    let external_id = string_at(body, "externalId")?.map(str::to_string);
    Ok(UserFields {
        username,
        email,
        name,
        active,
        password,
        external_id,
        kept: kept_attributes(body),
    })
}

/// The attributes of `body` kept in the SCIM record.
fn kept_attributes(body: &Value) -> Value {
    let mut kept = Map::new();
    if let Some(object) = body.as_object() {
        for (key, value) in object {
            if !NOT_KEPT.iter().any(|n| n.eq_ignore_ascii_case(key)) && !value.is_null() {
                let mut value = value.clone();
                // An extension's object may repeat the schemas; the resource's list says them.
                if let Some(inner) = value
                    .as_object_mut()
                    .filter(|_| key.to_ascii_lowercase().starts_with("urn:"))
                {
                    inner.retain(|k, _| !k.eq_ignore_ascii_case("schemas"));
                }
                kept.insert(key.clone(), value);
            }
        }
    }
    Value::Object(kept)
}

/// What a Group resource says of Roster's own fields.
struct GroupFields {
    name: String,
    members: Vec<UserId>,
    external_id: Option<String>,
    kept: Value,
}

fn read_group(body: &Value) -> Result<GroupFields> {
    if !body.is_object() {
        return Err(Error::invalid("syntax", "a Group must be a JSON object"));
    }
    let name = string_at(body, "displayName")?
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| Error::invalid("displayName", "is required"))?
        .to_string();
    let members = match get_ci(body, "members") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|m| {
                let value = get_ci(m, "value").and_then(Value::as_str).unwrap_or_default();
                value
                    .parse::<i64>()
                    .ok()
                    .filter(|_| !value.starts_with('+'))
                    .map(UserId)
                    .ok_or_else(|| Error::invalid("members", format!("{value:?} is not the id of a user")))
            })
            .collect::<Result<Vec<_>>>()?,
        Some(_) => return Err(Error::invalid("members", "must be an array")),
    };
    let mut members_unique = Vec::with_capacity(members.len());
    for m in members {
        if !members_unique.contains(&m) {
            members_unique.push(m);
        }
    }
    Ok(GroupFields {
        name,
        members: members_unique,
        external_id: string_at(body, "externalId")?.map(str::to_string),
        kept: kept_attributes(body),
    })
}

impl Core {
    /// Fails unless the caller holds an API key with the `scim` scope (whose owner is still
    /// an administrator).
    pub fn require_scim(&self, actor: &Actor) -> Result<()> {
        if actor.has_scope(SCOPE_SCIM) {
            Ok(())
        } else {
            Err(Error::Forbidden(Refusal::ScimScopeRequired))
        }
    }

    /// One resource, rendered (NotFound when absent).
    pub async fn scim_get(&self, actor: &Actor, kind: ScimResourceKind, base: &str, id: &str) -> Result<Value> {
        self.require_scim(actor)?;
        let id = parse_id(kind, id)?;
        self.scim_read(kind, base, id).await
    }

    async fn scim_read(&self, kind: ScimResourceKind, base: &str, id: i64) -> Result<Value> {
        let rendered = match kind {
            ScimResourceKind::User => {
                let user = self.store.get_user(UserId(id)).await.map_err(not_found("user"))?;
                self.render_users(&[user], base).await?
            }
            ScimResourceKind::Group => {
                let group = self.store.get_group(GroupId(id)).await.map_err(not_found("group"))?;
                self.render_groups(&[group], base).await?
            }
        };
        rendered.into_iter().next().ok_or(Error::NotFound("resource"))
    }

    /// The SCIM record a directory sent for a resource of `kind`, checked, as an addition to
    /// the journal of the change that writes the resource (with its audit entry): the
    /// resource and its record are written in one transaction, or neither is.
    fn record_writer(
        &self,
        kind: ScimResourceKind,
        external_id: Option<String>,
        kept: Value,
    ) -> Result<impl for<'b> Fn(JournalBuilder<'b>, i64) -> JournalBuilder<'b> + Send + Sync> {
        if let Some(external) = &external_id
            && (external.is_empty() || external.len() > 512 || external.contains('\0'))
        {
            return Err(Error::invalid("externalId", "must be 1 to 512 characters"));
        }
        if kept.to_string().len() > super::MAX_PREFERENCES_BYTES || crate::user::json_contains_nul(&kept) {
            return Err(Error::invalid(
                "value",
                "the attributes are too large or hold a NUL character",
            ));
        }
        let now = self.clock.now();
        Ok(journal_extra(move |journal, id| {
            let details = json!({ "resource": kind.name(), "id": id.to_string(), "external_id": external_id });
            let target = (kind == ScimResourceKind::User).then_some(UserId(id));
            journal
                .audit(crate::journal::audit::SCIM_RECORD_WRITE, target, details)
                .scim_record(
                    kind.store_kind(),
                    ScimRecord {
                        local_id: id,
                        external_id: external_id.clone(),
                        attributes: kept.clone(),
                        updated_at: now,
                    },
                )
        }))
    }

    /// Creates a user or a group from its SCIM representation; returns it as stored.
    pub async fn scim_create(&self, actor: &Actor, kind: ScimResourceKind, base: &str, body: &Value) -> Result<Value> {
        self.require_scim(actor)?;
        let id = match kind {
            ScimResourceKind::User => {
                let fields = read_user(body)?;
                let record = self.record_writer(kind, fields.external_id, fields.kept)?;
                let user = self
                    .create_user_with(
                        actor,
                        NewUser {
                            email: fields.email,
                            username: Some(fields.username),
                            name: fields.name,
                            password: fields.password,
                            role: None,
                            active: fields.active,
                            email_verified: false,
                            provider: None,
                        },
                        Some(&record),
                    )
                    .await
                    .map_err(scim_field_names)?;
                user.id.0
            }
            ScimResourceKind::Group => {
                let fields = read_group(body)?;
                let record = self.record_writer(kind, fields.external_id, fields.kept)?;
                let created = self
                    .create_group_with_members_and(
                        actor,
                        NewGroup {
                            name: fields.name,
                            description: None,
                            permissions: None,
                        },
                        &fields.members,
                        Some(&record),
                    )
                    .await
                    .map_err(member_not_found)?;
                created.group.id.0
            }
        };
        tracing::info!(resource = kind.name(), id, "SCIM resource created");
        self.scim_read(kind, base, id).await
    }

    /// Replaces a resource with `body` (PUT), if its version is still `if_match`.
    pub async fn scim_replace(
        &self,
        actor: &Actor,
        kind: ScimResourceKind,
        base: &str,
        id: &str,
        body: &Value,
        if_match: Option<&str>,
    ) -> Result<Value> {
        self.require_scim(actor)?;
        let id = parse_id(kind, id)?;
        let current = self.scim_read(kind, base, id).await?;
        check_version(&current, if_match)?;
        self.scim_write(actor, kind, base, id, &current, body).await
    }

    /// Applies a PatchOp message to a resource, if its version is still `if_match`.
    pub async fn scim_patch(
        &self,
        actor: &Actor,
        kind: ScimResourceKind,
        base: &str,
        id: &str,
        body: &Value,
        if_match: Option<&str>,
    ) -> Result<Value> {
        self.require_scim(actor)?;
        let id = parse_id(kind, id)?;
        let current = self.scim_read(kind, base, id).await?;
        check_version(&current, if_match)?;
        let operations = patch::read_operations(body)?;
        let mut changed = current.clone();
        patch::apply(&mut changed, &operations)?;
        self.scim_write(actor, kind, base, id, &current, &changed).await
    }

    /// Writes `body` as the whole new state of resource `id` (now `current`).
    async fn scim_write(
        &self,
        actor: &Actor,
        kind: ScimResourceKind,
        base: &str,
        id: i64,
        current: &Value,
        body: &Value,
    ) -> Result<Value> {
        if let Some(sent) = string_at(body, "id")?
            && sent != current["id"].as_str().unwrap_or_default()
        {
            return Err(Error::invalid("mutability", "id cannot change"));
        }
        match kind {
            ScimResourceKind::User => {
                let fields = read_user(body)?;
                let record = self.record_writer(kind, fields.external_id, fields.kept)?;
                let user = self.store.get_user(UserId(id)).await.map_err(not_found("user"))?;
                let text = |new: Option<String>, old: &Option<String>| match (new, old) {
                    (Some(n), Some(o)) if &n == o => Patch::Keep,
                    (Some(n), _) => Patch::Set(n),
                    (None, None) => Patch::Keep,
                    (None, Some(_)) => Patch::Clear,
                };
                let changes = AdminUserChanges {
                    profile: ProfileChanges {
                        email: text(fields.email, &user.email),
                        username: text(Some(fields.username), &user.username),
                        name: text(fields.name, &user.name),
                        ..ProfileChanges::default()
                    },
                    active: fields.active.filter(|a| *a != user.active),
                    password: fields.password,
                    ..AdminUserChanges::default()
                };
                self.admin_update_user_with(actor, UserId(id), changes, None, Some(&record))
                    .await
                    .map_err(scim_field_names)?;
            }
            ScimResourceKind::Group => {
                let fields = read_group(body)?;
                let record = self.record_writer(kind, fields.external_id, fields.kept)?;
                self.update_group_with_members_and(
                    actor.into(),
                    GroupId(id),
                    GroupChanges {
                        name: Some(fields.name),
                        ..GroupChanges::default()
                    },
                    &fields.members,
                    Some(&record),
                )
                .await
                .map_err(member_not_found)?;
            }
        }
        self.scim_read(kind, base, id).await
    }

    /// Deletes a user (as every deletion: [`Core::delete_user`]) or a group, if its version
    /// is still `if_match`.
    pub async fn scim_delete(
        &self,
        actor: &Actor,
        kind: ScimResourceKind,
        base: &str,
        id: &str,
        if_match: Option<&str>,
    ) -> Result<()> {
        self.require_scim(actor)?;
        let id = parse_id(kind, id)?;
        let current = self.scim_read(kind, base, id).await?;
        check_version(&current, if_match)?;
        match kind {
            ScimResourceKind::User => self.delete_user(actor, UserId(id)).await,
            ScimResourceKind::Group => self.delete_group(actor, GroupId(id)).await,
        }
    }
}

/// The core's field names for users, said in SCIM's (`username` is `userName`).
fn scim_field_names(error: Error) -> Error {
    match error {
        Error::Conflict { field: "username" } => Error::Conflict { field: "userName" },
        Error::Conflict { field: "email" } => Error::Conflict { field: "emails" },
        Error::Invalid {
            field: "username",
            reason,
        } => Error::invalid("userName", reason),
        Error::Invalid { field: "email", reason } => Error::invalid("emails", reason),
        Error::Invalid { field: "name", reason } => Error::invalid("displayName", reason),
        other => other,
    }
}

/// A member that names no user is the request's mistake (400), not a missing resource.
fn member_not_found(error: Error) -> Error {
    match error {
        Error::NotFound("user") => Error::invalid("members", "a member is not the id of a user"),
        Error::Invalid { field: "name", reason } => Error::invalid("displayName", reason),
        other => other,
    }
}
