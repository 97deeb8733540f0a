//! The SCIM representation of users and groups (their kept records merged with Roster's own
//! fields, with a version), and the projection of a resource onto the attributes a client
//! asks for.

use super::ScimResourceKind;
use super::filter::{self, AttrPath, ENTERPRISE_SCHEMA, GROUP_SCHEMA, USER_SCHEMA, get_ci};
use crate::error::{Error, Result};
use crate::id::{GroupId, UserId};
use crate::service::Core;
use crate::store::{Group, ScimRecord};
use crate::user::{User, rfc3339};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

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

/// The version (weak ETag) of a resource: a digest of its representation.
fn version_of(resource: &Value) -> String {
    let digest = crate::token::digest(&resource.to_string());
    format!("W/\"{}\"", &digest[..16])
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

impl Core {
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
    pub(super) async fn render_users(&self, users: &[User], base: &str) -> Result<Vec<Value>> {
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
    pub(super) async fn render_groups(&self, groups: &[Group], base: &str) -> Result<Vec<Value>> {
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
}
