//! Roster as a SCIM 2.0 service provider (RFC 7643, RFC 7644): users and groups as SCIM
//! resources, their listing with filters, sorting and pages, creation, replacement, PATCH
//! and deletion, each through the same services (and journal) as every other route.
//!
//! A SCIM user is a Roster user: `userName` is the username, the primary (or first) email the
//! email, `displayName` (or the parts of `name`) the name, `active` whether it may sign in.
//! What a directory sends beyond those (`externalId`, the parts of the name, more emails,
//! the enterprise extension, ...) is kept as sent in the user's SCIM record and returned.
//! A SCIM group is a Roster group: `displayName` its name, `members` its members.

mod filter;
mod patch;
mod schema;

pub use filter::{ENTERPRISE_SCHEMA, GROUP_SCHEMA, USER_SCHEMA};
pub use schema::{resource_type_by_id, resource_types, schema_by_id, schemas, service_provider_config};

use super::users::{NewUser, Patch, ProfileChanges, not_found};
use super::{Actor, AdminUserChanges, Core, GroupChanges, ListUsers, NewGroup, UserListing};
use crate::error::{Error, Refusal, Result};
use crate::id::{GroupId, UserId};
use crate::journal::{JournalBuilder, journal_extra};
use crate::store::{Group, ScimKind, ScimRecord};
use crate::user::{User, rfc3339};
use filter::{AttrPath, Filter, get_ci, parse_filter};
use serde_json::{Map, Value, json};
use std::cmp::Ordering;
use std::collections::BTreeMap;

/// The API key scope that opens the SCIM routes (administrators only may grant it).
pub const SCOPE_SCIM: &str = "scim";
/// The ListResponse message's schema.
pub const LIST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
/// The Error message's schema.
pub const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
/// The most resources one page holds (a larger `count` is lowered to it).
pub const MAX_RESULTS: i64 = 200;

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

/// A listing request: the query parameters of `GET /Users` and `GET /Groups`.
#[derive(Debug, Clone, Default)]
pub struct ScimListQuery {
    pub filter: Option<String>,
    /// 1-based; below 1 counts as 1.
    pub start_index: Option<i64>,
    /// Below 0 counts as 0; above [`MAX_RESULTS`] as that.
    pub count: Option<i64>,
    pub sort_by: Option<String>,
    /// `ascending` (the default) or `descending`.
    pub sort_order: Option<String>,
}

/// A page of resources.
#[derive(Debug, Clone)]
pub struct ScimList {
    pub total_results: i64,
    pub start_index: i64,
    pub resources: Vec<Value>,
}

impl ScimList {
    /// The ListResponse message.
    pub fn to_json(&self) -> Value {
        json!({
            "schemas": [LIST_SCHEMA],
            "totalResults": self.total_results,
            "startIndex": self.start_index,
            "itemsPerPage": self.resources.len(),
            "Resources": self.resources,
        })
    }
}

/// Keeps only the `attributes` asked for, or drops the `excluded` ones (comma-separated
/// attribute paths; `id`, `schemas` and `meta.resourceType` always stay).
pub fn project_attributes(resource: Value, attributes: Option<&str>, excluded: Option<&str>) -> Result<Value> {
    let parse = |field: &'static str, list: &str| -> Result<Vec<AttrPath>> {
        list.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|p| AttrPath::parse(p).map_err(|_| Error::invalid(field, format!("{p:?} is not an attribute path"))))
            .collect()
    };
    let Value::Object(object) = resource else {
        return Ok(resource);
    };
    let always = |k: &str| k == "id" || k == "schemas";
    if let Some(list) = attributes.filter(|s| !s.trim().is_empty()) {
        let wanted = parse("attributes", list)?;
        let mut out = Map::new();
        for (key, value) in object {
            if always(&key) || key == "meta" {
                if key == "meta" && !wanted.iter().any(|p| p.is("meta", None)) {
                    let mut meta = Map::new();
                    if let Some(t) = value.get("resourceType") {
                        meta.insert("resourceType".into(), t.clone());
                    }
                    for p in wanted.iter().filter(|p| p.name.eq_ignore_ascii_case("meta")) {
                        if let Some(sub) = &p.sub
                            && let Some(v) = get_ci(&value, sub)
                        {
                            meta.insert(sub.clone(), v.clone());
                        }
                    }
                    out.insert(key, Value::Object(meta));
                } else {
                    out.insert(key, value);
                }
                continue;
            }
            let is_urn = key.to_ascii_lowercase().starts_with("urn:");
            let picks: Vec<&AttrPath> = wanted
                .iter()
                .filter(|p| {
                    if is_urn {
                        p.urn.as_deref().is_some_and(|u| u.eq_ignore_ascii_case(&key))
                            || (p.urn.is_none() && p.name.eq_ignore_ascii_case(&key))
                    } else {
                        p.urn.is_none() && p.name.eq_ignore_ascii_case(&key)
                    }
                })
                .collect();
            if picks.is_empty() {
                continue;
            }
            if is_urn {
                let mut ext = Map::new();
                for p in &picks {
                    if let Some(v) = get_ci(&value, &p.name) {
                        ext.insert(p.name.clone(), v.clone());
                    }
                }
                if !ext.is_empty() {
                    out.insert(key, Value::Object(ext));
                }
            } else if picks.iter().any(|p| p.sub.is_none()) {
                out.insert(key, value);
            } else {
                let subs: Vec<&str> = picks.iter().filter_map(|p| p.sub.as_deref()).collect();
                let keep = |v: &Value| -> Value {
                    match v {
                        Value::Object(o) => Value::Object(
                            o.iter()
                                .filter(|(k, _)| subs.iter().any(|s| s.eq_ignore_ascii_case(k)))
                                .map(|(k, v)| (k.clone(), v.clone()))
                                .collect(),
                        ),
                        other => other.clone(),
                    }
                };
                let value = match &value {
                    Value::Array(items) => Value::Array(items.iter().map(keep).collect()),
                    other => keep(other),
                };
                out.insert(key, value);
            }
        }
        return Ok(Value::Object(out));
    }
    if let Some(list) = excluded.filter(|s| !s.trim().is_empty()) {
        let dropped = parse("excludedAttributes", list)?;
        let mut object = object;
        for p in dropped {
            let container = match &p.urn {
                Some(urn) => {
                    let key = object.keys().find(|k| k.eq_ignore_ascii_case(urn)).cloned();
                    match key.and_then(|k| object.get_mut(&k)).and_then(Value::as_object_mut) {
                        Some(c) => c,
                        None => continue,
                    }
                }
                None => &mut object,
            };
            let Some(key) = container.keys().find(|k| k.eq_ignore_ascii_case(&p.name)).cloned() else {
                continue;
            };
            if p.urn.is_none() && always(&key) {
                continue;
            }
            match &p.sub {
                None => {
                    container.remove(&key);
                }
                Some(sub) => {
                    let strip = |v: &mut Value| {
                        if let Some(o) = v.as_object_mut()
                            && let Some(k) = o.keys().find(|k| k.eq_ignore_ascii_case(sub)).cloned()
                        {
                            o.remove(&k);
                        }
                    };
                    match container.get_mut(&key) {
                        Some(Value::Array(items)) => items.iter_mut().for_each(strip),
                        Some(v) => strip(v),
                        None => {}
                    }
                }
            }
        }
        return Ok(Value::Object(object));
    }
    Ok(Value::Object(object))
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

/// The version (weak ETag) of a resource: a digest of its representation.
fn version_of(resource: &Value) -> String {
    let digest = crate::token::digest(&resource.to_string());
    format!("W/\"{}\"", &digest[..16])
}

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

/// A JSON object's member, replaced or set.
fn set(object: &mut Map<String, Value>, key: &str, value: Value) {
    if let Some(k) = object.keys().find(|k| k.eq_ignore_ascii_case(key)).cloned() {
        object.remove(&k);
    }
    object.insert(key.to_string(), value);
}

fn remove(object: &mut Map<String, Value>, key: &str) {
    if let Some(k) = object.keys().find(|k| k.eq_ignore_ascii_case(key)).cloned() {
        object.remove(&k);
    }
}

/// The SCIM representation of a user.
fn render_user(user: &User, record: Option<&ScimRecord>, groups: &[Group], base: &str) -> Value {
    let mut out = match record.map(|r| &r.attributes) {
        Some(Value::Object(kept)) => kept.clone(),
        _ => Map::new(),
    };
    let mut schemas = vec![json!(USER_SCHEMA)];
    if out.keys().any(|k| k.eq_ignore_ascii_case(ENTERPRISE_SCHEMA)) {
        schemas.push(json!(ENTERPRISE_SCHEMA));
    }
    set(&mut out, "schemas", Value::Array(schemas));
    set(&mut out, "id", json!(user.id.to_string()));
    if let Some(external) = record.and_then(|r| r.external_id.as_deref()) {
        set(&mut out, "externalId", json!(external));
    }
    let username = user
        .username
        .clone()
        .or_else(|| user.email.clone())
        .unwrap_or_else(|| user.id.to_string());
    set(&mut out, "userName", json!(username));
    match &user.name {
        Some(name) => {
            let kept_display = get_ci(&Value::Object(out.clone()), "displayName")
                .and_then(Value::as_str)
                .map(str::to_string);
            if kept_display.as_deref() != Some(name.as_str()) {
                // The name changed in Roster (or came from the parts of `name`).
                let from_parts = kept_display.is_none() && get_ci(&Value::Object(out.clone()), "name").is_some();
                if !from_parts {
                    set(&mut out, "displayName", json!(name));
                }
            }
        }
        None => remove(&mut out, "displayName"),
    }
    set(&mut out, "active", json!(user.active));
    // The emails as kept, with Roster's email as the primary one.
    let mut emails: Vec<Value> = match get_ci(&Value::Object(out.clone()), "emails") {
        Some(Value::Array(items)) => items.clone(),
        _ => Vec::new(),
    };
    match &user.email {
        Some(email) => {
            let same = |e: &Value| {
                get_ci(e, "value")
                    .and_then(Value::as_str)
                    .is_some_and(|v| v.eq_ignore_ascii_case(email))
            };
            if !emails.iter().any(same) {
                let at = emails
                    .iter()
                    .position(|e| get_ci(e, "primary").and_then(filter::loose_bool) == Some(true))
                    .or(if emails.is_empty() { None } else { Some(0) });
                match at {
                    Some(i) => {
                        if let Some(o) = emails[i].as_object_mut() {
                            set(o, "value", json!(email));
                        }
                    }
                    None => emails.push(json!({"value": email, "primary": true})),
                }
            }
            set(&mut out, "emails", Value::Array(emails));
        }
        None => remove(&mut out, "emails"),
    }
    if groups.is_empty() {
        remove(&mut out, "groups");
    } else {
        let groups: Vec<Value> = groups
            .iter()
            .map(|g| {
                json!({
                    "value": g.id.to_string(),
                    "display": g.name,
                    "$ref": format!("{base}/Groups/{}", g.id),
                    "type": "direct",
                })
            })
            .collect();
        set(&mut out, "groups", Value::Array(groups));
    }
    let modified = record.map_or(user.updated_at, |r| r.updated_at.max(user.updated_at));
    let meta = json!({
        "resourceType": "User",
        "created": rfc3339(user.created_at),
        "lastModified": rfc3339(modified.max(user.created_at)),
        "location": format!("{base}/Users/{}", user.id),
    });
    set(&mut out, "meta", meta);
    let mut resource = Value::Object(out);
    let version = version_of(&resource);
    resource["meta"]["version"] = json!(version);
    resource
}

/// The SCIM representation of a group.
fn render_group(group: &Group, record: Option<&ScimRecord>, members: &[UserId], base: &str) -> Value {
    let mut out = match record.map(|r| &r.attributes) {
        Some(Value::Object(kept)) => kept.clone(),
        _ => Map::new(),
    };
    remove(&mut out, "description");
    set(&mut out, "schemas", json!([GROUP_SCHEMA]));
    set(&mut out, "id", json!(group.id.to_string()));
    if let Some(external) = record.and_then(|r| r.external_id.as_deref()) {
        set(&mut out, "externalId", json!(external));
    }
    set(&mut out, "displayName", json!(group.name));
    if members.is_empty() {
        remove(&mut out, "members");
    } else {
        let members: Vec<Value> = members
            .iter()
            .map(|m| json!({"value": m.to_string(), "$ref": format!("{base}/Users/{m}")}))
            .collect();
        set(&mut out, "members", Value::Array(members));
    }
    let modified = record.map_or(group.updated_at, |r| r.updated_at.max(group.updated_at));
    set(
        &mut out,
        "meta",
        json!({
            "resourceType": "Group",
            "created": rfc3339(group.created_at),
            "lastModified": rfc3339(modified.max(group.created_at)),
            "location": format!("{base}/Groups/{}", group.id),
        }),
    );
    let mut resource = Value::Object(out);
    let version = version_of(&resource);
    resource["meta"]["version"] = json!(version);
    resource
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

/// Orders resources by the first value at `path` (resources without one last).
fn sort_resources(resources: &mut [Value], path: &AttrPath, descending: bool) {
    resources.sort_by(|a, b| {
        let first = |r: &Value| path.values(r).first().map(|v| (*v).clone());
        let ordering = match (first(a), first(b)) {
            (Some(x), Some(y)) => filter::order(path, &x, &y).unwrap_or(Ordering::Equal),
            (Some(_), None) => return Ordering::Less,
            (None, Some(_)) => return Ordering::Greater,
            (None, None) => Ordering::Equal,
        };
        if descending { ordering.reverse() } else { ordering }
    });
}

/// Reads the page bounds: (start index, count).
fn page_bounds(query: &ScimListQuery) -> (i64, i64) {
    let start = query.start_index.unwrap_or(1).max(1);
    let count = query.count.unwrap_or(MAX_RESULTS).clamp(0, MAX_RESULTS);
    (start, count)
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

    /// The SCIM records of `ids`, by id.
    async fn scim_records(&self, kind: ScimResourceKind, ids: &[i64]) -> Result<BTreeMap<i64, ScimRecord>> {
        Ok(self
            .store
            .get_scim_records(kind.store_kind(), ids)
            .await?
            .into_iter()
            .map(|r| (r.local_id, r))
            .collect())
    }

    /// Renders users with their records and groups.
    async fn render_users(&self, users: &[User], base: &str) -> Result<Vec<Value>> {
        let ids: Vec<i64> = users.iter().map(|u| u.id.0).collect();
        let records = self.scim_records(ScimResourceKind::User, &ids).await?;
        let user_ids: Vec<UserId> = users.iter().map(|u| u.id).collect();
        let mut groups: BTreeMap<UserId, Vec<Group>> = BTreeMap::new();
        for (user, group) in self.store.list_groups_of_users(&user_ids).await? {
            groups.entry(user).or_default().push(group);
        }
        Ok(users
            .iter()
            .map(|u| {
                render_user(
                    u,
                    records.get(&u.id.0),
                    groups.get(&u.id).map_or(&[][..], Vec::as_slice),
                    base,
                )
            })
            .collect())
    }

    /// Renders groups with their records and members.
    async fn render_groups(&self, groups: &[Group], base: &str) -> Result<Vec<Value>> {
        let ids: Vec<i64> = groups.iter().map(|g| g.id.0).collect();
        let records = self.scim_records(ScimResourceKind::Group, &ids).await?;
        let group_ids: Vec<GroupId> = groups.iter().map(|g| g.id).collect();
        let mut members: BTreeMap<GroupId, Vec<UserId>> = BTreeMap::new();
        for (group, user) in self.store.list_members_of_groups(&group_ids).await? {
            members.entry(group).or_default().push(user);
        }
        Ok(groups
            .iter()
            .map(|g| {
                render_group(
                    g,
                    records.get(&g.id.0),
                    members.get(&g.id).map_or(&[][..], Vec::as_slice),
                    base,
                )
            })
            .collect())
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

    /// Users that may match `filter`: the few its top-level equalities name (a username,
    /// an email, an `externalId`, an id), looked up by index; None when it names none of
    /// those, and every user must be looked at.
    async fn user_candidates(&self, filter: &Filter) -> Result<Option<Vec<User>>> {
        for (path, value) in filter.required_equal() {
            let ids: Vec<UserId> = if path.is("userName", None) {
                match self.store.find_user_by_username(&value.to_lowercase()).await {
                    Ok(u) => vec![u.id],
                    Err(crate::store::StoreError::NotFound) => match self.store.find_user_by_login(value).await {
                        // A user without a username shows its email as its userName.
                        Ok(u) if u.username.is_none() => vec![u.id],
                        Ok(_) | Err(crate::store::StoreError::NotFound) => Vec::new(),
                        Err(e) => return Err(e.into()),
                    },
                    Err(e) => return Err(e.into()),
                }
            } else if path.is("externalId", None) {
                self.store
                    .find_scim_external_id(ScimKind::User, value)
                    .await?
                    .into_iter()
                    .map(UserId)
                    .collect()
            } else if path.is("id", None) {
                value.parse::<i64>().ok().map(UserId).into_iter().collect()
            } else if path.is("emails", None) || path.is("emails", Some("value")) {
                match self.store.find_user_by_login(value).await {
                    Ok(u) => vec![u.id],
                    Err(crate::store::StoreError::NotFound) => Vec::new(),
                    Err(e) => return Err(e.into()),
                }
            } else {
                continue;
            };
            let mut users = Vec::new();
            for id in ids {
                match self.store.get_user(id).await {
                    Ok(u) => users.push(u),
                    Err(crate::store::StoreError::NotFound) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            return Ok(Some(users));
        }
        Ok(None)
    }

    /// A page of users or groups: filtered, sorted, from `start_index`, `count` of them.
    pub async fn scim_list(
        &self,
        actor: &Actor,
        kind: ScimResourceKind,
        base: &str,
        query: &ScimListQuery,
    ) -> Result<ScimList> {
        self.require_scim(actor)?;
        let filter = query
            .filter
            .as_deref()
            .filter(|f| !f.trim().is_empty())
            .map(parse_filter)
            .transpose()?;
        let sort = query
            .sort_by
            .as_deref()
            .filter(|s| !s.trim().is_empty())
            .map(|s| {
                AttrPath::parse(s.trim())
                    .map_err(|_| Error::invalid("sortBy", format!("{s:?} is not an attribute path")))
            })
            .transpose()?;
        let descending = match query.sort_order.as_deref().map(str::to_ascii_lowercase).as_deref() {
            None | Some("") | Some("ascending") => false,
            Some("descending") => true,
            Some(_) => return Err(Error::invalid("sortOrder", "must be ascending or descending")),
        };
        let (start, count) = page_bounds(query);
        // Neither a filter nor a sort: a page of users straight from the store, by creation.
        if kind == ScimResourceKind::User && filter.is_none() && sort.is_none() {
            let request = ListUsers {
                limit: Some(u32::try_from(count.max(1)).unwrap_or(1)),
                with_total: true,
                ..ListUsers::default()
            };
            let page = self
                .list_users_by_offset(actor, UserListing::Administered, request, (start - 1) as u64)
                .await?;
            let users = if count == 0 { Vec::new() } else { page.users };
            return Ok(ScimList {
                total_results: page.total,
                start_index: start,
                resources: self.render_users(&users, base).await?,
            });
        }
        let mut resources = match kind {
            ScimResourceKind::User => {
                let users = match filter.as_ref() {
                    Some(f) => self.user_candidates(f).await?,
                    None => None,
                };
                let users = match users {
                    Some(users) => users,
                    None => {
                        // Every user is read and rendered to be filtered or sorted: refused past
                        // the configured number, rather than held in memory.
                        let everyone = self.count_matching_users(&crate::store::UserQuery::default()).await?;
                        let most = i64::try_from(self.config.scim_max_scanned_users).unwrap_or(i64::MAX);
                        if everyone > most {
                            return Err(Error::invalid(
                                "too_many",
                                format!(
                                    "this filter or sort would read all {everyone} users (at most {most}): \
                                     filter by userName, emails, externalId or id"
                                ),
                            ));
                        }
                        self.list_users_by_offset(
                            actor,
                            UserListing::Administered,
                            ListUsers {
                                limit: None,
                                ..ListUsers::default()
                            },
                            0,
                        )
                        .await?
                        .users
                    }
                };
                self.render_users(&users, base).await?
            }
            ScimResourceKind::Group => {
                let groups = self.store.list_groups().await?;
                self.render_groups(&groups, base).await?
            }
        };
        if let Some(f) = &filter {
            let mut kept = Vec::with_capacity(resources.len());
            for r in resources {
                if f.matches(&r)? {
                    kept.push(r);
                }
            }
            resources = kept;
        }
        if let Some(path) = &sort {
            sort_resources(&mut resources, path, descending);
        }
        let total = resources.len() as i64;
        let page: Vec<Value> = resources
            .into_iter()
            .skip((start - 1) as usize)
            .take(count as usize)
            .collect();
        Ok(ScimList {
            total_results: total,
            start_index: start,
            resources: page,
        })
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
