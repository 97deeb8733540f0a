//! SCIM PATCH (RFC 7644 §3.5.2): `add`, `replace` and `remove`, with or without a path,
//! applied to a resource's JSON. The result is then written as a replacement would be.

use super::filter::{AttrPath, Filter, PatchPath, loose_bool, parse_patch_path};
use crate::error::{Error, Result};
use serde_json::{Map, Value};

/// The PatchOp message's schema.
pub const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// Attributes that hold many values (RFC 7643's multi-valued attributes).
const MULTI_VALUED: &[&str] = &[
    "emails",
    "phoneNumbers",
    "ims",
    "photos",
    "addresses",
    "groups",
    "entitlements",
    "roles",
    "x509Certificates",
    "members",
    "schemas",
];

/// Attributes no client writes.
const READ_ONLY: &[&str] = &["id", "meta", "groups"];

/// Whether `name` is a multi-valued attribute.
pub fn is_multi_valued(name: &str) -> bool {
    MULTI_VALUED.iter().any(|m| m.eq_ignore_ascii_case(name))
}

/// One operation as read: the op, its path and its value.
pub type Operation = (Op, Option<String>, Option<Value>);

/// One operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Add,
    Replace,
    Remove,
}

/// Reads a PatchOp message's operations (ops in any case, as Entra ID sends them).
pub fn read_operations(body: &Value) -> Result<Vec<Operation>> {
    let syntax = |why: &str| Error::invalid("syntax", why.to_string());
    let schemas = body.get("schemas").and_then(Value::as_array);
    if !schemas.is_some_and(|s| s.iter().any(|v| v.as_str() == Some(PATCH_SCHEMA))) {
        return Err(syntax("a PATCH body must list the PatchOp schema in \"schemas\""));
    }
    let operations = super::filter::get_ci(body, "Operations")
        .and_then(Value::as_array)
        .ok_or_else(|| syntax("a PATCH body needs an \"Operations\" array"))?;
    if operations.is_empty() {
        return Err(syntax("\"Operations\" is empty"));
    }
    operations
        .iter()
        .map(|operation| {
            let op = super::filter::get_ci(operation, "op")
                .and_then(Value::as_str)
                .ok_or_else(|| syntax("every operation needs an \"op\""))?;
            let op = match op.to_ascii_lowercase().as_str() {
                "add" => Op::Add,
                "replace" => Op::Replace,
                "remove" => Op::Remove,
                other => {
                    return Err(Error::invalid(
                        "value",
                        format!("{other:?} is not an operation (add, replace, remove)"),
                    ));
                }
            };
            let path = match super::filter::get_ci(operation, "path") {
                None | Some(Value::Null) => None,
                Some(Value::String(p)) => Some(p.clone()),
                Some(_) => return Err(Error::invalid("path", "must be a string")),
            };
            let value = super::filter::get_ci(operation, "value").cloned();
            if op != Op::Remove && value.is_none() {
                return Err(Error::invalid("value", "add and replace need a \"value\""));
            }
            if op == Op::Remove && path.is_none() {
                return Err(Error::invalid("target", "remove needs a \"path\""));
            }
            Ok((op, path, value))
        })
        .collect()
}

/// Applies the operations to `resource` (a JSON object), in order, all or nothing.
pub fn apply(resource: &mut Value, operations: &[Operation]) -> Result<()> {
    for (op, path, value) in operations {
        match path {
            // The enterprise extension as a whole.
            Some(path) if path.trim().eq_ignore_ascii_case(super::filter::ENTERPRISE_SCHEMA) => {
                apply_extension(resource, *op, value.as_ref())?;
            }
            Some(path) => {
                let path = parse_patch_path(path)?;
                apply_at(resource, *op, &path, value.clone())?;
            }
            None => {
                let Some(Value::Object(values)) = value else {
                    return Err(Error::invalid("value", "without a path, the value must be an object"));
                };
                for (key, value) in values {
                    // An extension's URN names an object of its attributes.
                    if key.eq_ignore_ascii_case(super::filter::ENTERPRISE_SCHEMA) {
                        apply_extension(resource, *op, Some(value))?;
                        continue;
                    }
                    let path = parse_patch_path(key)?;
                    apply_at(resource, *op, &path, Some(value.clone()))?;
                }
            }
        }
    }
    Ok(())
}

/// An operation on the enterprise extension as a whole: `remove` drops it, `add` and
/// `replace` set each attribute of `value`'s object.
fn apply_extension(resource: &mut Value, op: Op, value: Option<&Value>) -> Result<()> {
    let urn = super::filter::ENTERPRISE_SCHEMA;
    if op == Op::Remove {
        if let Some(root) = resource.as_object_mut() {
            let key = key_of(root, urn);
            root.remove(&key);
        }
        return Ok(());
    }
    let Some(Value::Object(inner)) = value else {
        return Err(Error::invalid(
            "value",
            format!("{urn} takes an object of its attributes"),
        ));
    };
    for (sub, v) in inner {
        if sub.eq_ignore_ascii_case("schemas") {
            continue;
        }
        let path = parse_patch_path(&format!("{urn}:{sub}"))?;
        apply_at(resource, op, &path, Some(v.clone()))?;
    }
    Ok(())
}

/// The object holding `attr` (the resource, or its extension's object, made when missing).
fn container<'a>(resource: &'a mut Value, attr: &AttrPath, create: bool) -> Option<&'a mut Map<String, Value>> {
    let root = resource.as_object_mut()?;
    match &attr.urn {
        None => Some(root),
        Some(urn) => {
            let key = match root.keys().find(|k| k.eq_ignore_ascii_case(urn)) {
                Some(k) => k.clone(),
                None if create => {
                    root.insert(urn.clone(), Value::Object(Map::new()));
                    urn.clone()
                }
                None => return None,
            };
            root.get_mut(&key)?.as_object_mut()
        }
    }
}

/// The key of `name` in `object`, ignoring case (`name` itself when absent).
fn key_of(object: &Map<String, Value>, name: &str) -> String {
    object
        .keys()
        .find(|k| k.eq_ignore_ascii_case(name))
        .cloned()
        .unwrap_or_else(|| name.to_string())
}

fn apply_at(resource: &mut Value, op: Op, path: &PatchPath, value: Option<Value>) -> Result<()> {
    let attr = &path.attr;
    if attr.urn.is_none() && READ_ONLY.iter().any(|r| r.eq_ignore_ascii_case(&attr.name)) {
        return Err(Error::invalid("mutability", format!("{} is read-only", attr.name)));
    }
    let create = op != Op::Remove;
    let Some(object) = container(resource, attr, create) else {
        return Ok(());
    };
    let key = key_of(object, &attr.name);
    let multi = is_multi_valued(&attr.name) || object.get(&key).is_some_and(Value::is_array);
    if let Some(filter) = &path.filter {
        return apply_filtered(object, &key, op, filter, attr.sub.as_deref(), value);
    }
    match (op, &attr.sub) {
        (Op::Remove, None) => {
            match (value, object.get_mut(&key)) {
                // Remove the listed values of a multi-valued attribute (Entra's member removal).
                (Some(value), Some(Value::Array(items))) => {
                    let gone: Vec<Value> = match value {
                        Value::Array(v) => v,
                        other => vec![other],
                    };
                    items.retain(|item| !gone.iter().any(|g| same_value(item, g)));
                }
                _ => {
                    object.remove(&key);
                }
            }
        }
        (Op::Remove, Some(sub)) => match object.get_mut(&key) {
            Some(Value::Array(items)) => {
                for item in items {
                    if let Some(o) = item.as_object_mut() {
                        let k = key_of(o, sub);
                        o.remove(&k);
                    }
                }
            }
            Some(Value::Object(o)) => {
                let k = key_of(o, sub);
                o.remove(&k);
            }
            _ => {}
        },
        (op, None) => {
            let value = value.unwrap_or(Value::Null);
            if multi {
                let new: Vec<Value> = match value {
                    Value::Array(v) => v,
                    other => vec![other],
                };
                let items = match (op, object.get(&key)) {
                    (Op::Add, Some(Value::Array(old))) => {
                        let mut items = old.clone();
                        for v in new {
                            if let Some(i) = items.iter().position(|o| same_value(o, &v)) {
                                items[i] = v;
                            } else {
                                items.push(v);
                            }
                        }
                        items
                    }
                    _ => new,
                };
                object.insert(key, Value::Array(items));
            } else {
                match (op, object.get_mut(&key), value) {
                    // Adding to a complex attribute merges its sub-attributes.
                    (Op::Add, Some(Value::Object(old)), Value::Object(new)) => {
                        for (k, v) in new {
                            let k = key_of(old, &k);
                            old.insert(k, v);
                        }
                    }
                    (_, _, value) => {
                        object.insert(key, value);
                    }
                }
            }
        }
        (_, Some(sub)) => {
            let value = value.unwrap_or(Value::Null);
            match object.get_mut(&key) {
                Some(Value::Array(items)) => {
                    for item in items {
                        if let Some(o) = item.as_object_mut() {
                            let k = key_of(o, sub);
                            o.insert(k, value.clone());
                        }
                    }
                }
                Some(Value::Object(o)) => {
                    let k = key_of(o, sub);
                    o.insert(k, value);
                }
                _ => {
                    let mut o = Map::new();
                    o.insert(sub.clone(), value);
                    object.insert(
                        key,
                        if multi {
                            Value::Array(vec![Value::Object(o)])
                        } else {
                            Value::Object(o)
                        },
                    );
                }
            }
        }
    }
    Ok(())
}

fn apply_filtered(
    object: &mut Map<String, Value>,
    key: &str,
    op: Op,
    filter: &Filter,
    sub: Option<&str>,
    value: Option<Value>,
) -> Result<()> {
    let no_target = || Error::invalid("target", format!("no value of {key} matches the path's filter"));
    let Some(Value::Array(items)) = object.get_mut(key) else {
        return Err(no_target());
    };
    let mut matched = Vec::new();
    for (i, item) in items.iter().enumerate() {
        if filter.matches(item)? {
            matched.push(i);
        }
    }
    if matched.is_empty() {
        return Err(no_target());
    }
    match (op, sub) {
        (Op::Remove, None) => {
            let mut i = 0;
            items.retain(|_| {
                let keep = !matched.contains(&i);
                i += 1;
                keep
            });
        }
        (Op::Remove, Some(sub)) => {
            for i in matched {
                if let Some(o) = items[i].as_object_mut() {
                    let k = key_of(o, sub);
                    o.remove(&k);
                }
            }
        }
        (_, Some(sub)) => {
            let value = value.unwrap_or(Value::Null);
            for i in matched {
                if let Some(o) = items[i].as_object_mut() {
                    let k = key_of(o, sub);
                    o.insert(k, value.clone());
                }
            }
        }
        (op, None) => {
            let value = value.unwrap_or(Value::Null);
            for i in matched {
                match (op, &mut items[i], &value) {
                    (Op::Add, Value::Object(old), Value::Object(new)) => {
                        for (k, v) in new {
                            let k = key_of(old, k);
                            old.insert(k, v.clone());
                        }
                    }
                    (_, item, value) => *item = value.clone(),
                }
            }
        }
    }
    Ok(())
}

/// Whether two values of a multi-valued attribute are the same value (by their `value`
/// sub-attribute when both are complex and have one).
fn same_value(a: &Value, b: &Value) -> bool {
    use super::filter::get_ci;
    match (get_ci(a, "value"), get_ci(b, "value")) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

/// Reads a boolean that may come as a string (`"False"`, from Entra ID).
pub fn read_bool(field: &'static str, value: &Value) -> Result<bool> {
    loose_bool(value).ok_or_else(|| Error::invalid(field, "must be a boolean"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn patch(resource: Value, operations: Value) -> Result<Value> {
        let mut resource = resource;
        let body = json!({"schemas": [PATCH_SCHEMA], "Operations": operations});
        apply(&mut resource, &read_operations(&body)?)?;
        Ok(resource)
    }

    fn user() -> Value {
        json!({
            "userName": "bjensen",
            "name": {"givenName": "Barbara"},
            "emails": [{"value": "b@work.example", "type": "work", "primary": true}],
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "Sales"}
        })
    }

    #[test]
    fn add_with_and_without_path() {
        let r = patch(user(), json!([{"op": "add", "path": "nickName", "value": "Babs"}])).unwrap();
        assert_eq!(r["nickName"], "Babs");
        let r = patch(
            user(),
            json!([{"op": "Add", "value": {"title": "Boss", "name.familyName": "Jensen"}}]),
        )
        .unwrap();
        assert_eq!(r["title"], "Boss");
        assert_eq!(r["name"], json!({"givenName": "Barbara", "familyName": "Jensen"}));
        let r = patch(
            user(),
            json!([{"op": "add", "path": "emails", "value": [{"value": "b@home.example", "type": "home"}]}]),
        )
        .unwrap();
        assert_eq!(r["emails"].as_array().unwrap().len(), 2);
        let r = patch(
            user(),
            json!([{"op": "add", "path": "name", "value": {"familyName": "J"}}]),
        )
        .unwrap();
        assert_eq!(r["name"]["givenName"], "Barbara");
        assert_eq!(r["name"]["familyName"], "J");
    }

    #[test]
    fn replace_with_and_without_path() {
        let r = patch(user(), json!([{"op": "replace", "path": "userName", "value": "babs"}])).unwrap();
        assert_eq!(r["userName"], "babs");
        let r = patch(user(), json!([{"op": "Replace", "value": {"active": "False"}}])).unwrap();
        assert!(!read_bool("active", &r["active"]).unwrap());
        let r = patch(
            user(),
            json!([{"op": "replace", "path": "emails[type eq \"work\"].value", "value": "new@work.example"}]),
        )
        .unwrap();
        assert_eq!(r["emails"][0]["value"], "new@work.example");
        assert_eq!(r["emails"][0]["type"], "work");
        let r = patch(
            user(),
            json!([{"op": "replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "value": "Ops"}]),
        )
        .unwrap();
        assert_eq!(
            r["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["department"],
            "Ops"
        );
        let r = patch(
            user(),
            json!([{"op": "replace", "value": {"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"employeeNumber": "7"}}}]),
        )
        .unwrap();
        assert_eq!(
            r["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["employeeNumber"],
            "7"
        );
        assert_eq!(
            r["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["department"],
            "Sales"
        );
    }

    #[test]
    fn remove_forms() {
        let r = patch(user(), json!([{"op": "remove", "path": "name.givenName"}])).unwrap();
        assert_eq!(r["name"], json!({}));
        let r = patch(user(), json!([{"op": "remove", "path": "emails[type eq \"work\"]"}])).unwrap();
        assert_eq!(r["emails"], json!([]));
        let group = json!({"displayName": "g", "members": [{"value": "1"}, {"value": "2"}, {"value": "3"}]});
        let r = patch(
            group.clone(),
            json!([{"op": "remove", "path": "members[value eq \"2\"]"}]),
        )
        .unwrap();
        assert_eq!(r["members"], json!([{"value": "1"}, {"value": "3"}]));
        let r = patch(
            group.clone(),
            json!([{"op": "Remove", "path": "members", "value": [{"value": "1"}, {"value": "3"}]}]),
        )
        .unwrap();
        assert_eq!(r["members"], json!([{"value": "2"}]));
        let r = patch(group, json!([{"op": "remove", "path": "members"}])).unwrap();
        assert!(r.get("members").is_none());
    }

    #[test]
    fn errors_name_their_scim_type() {
        let field = |ops: Value| patch(user(), ops).unwrap_err().field();
        assert_eq!(field(json!([{"op": "remove"}])), Some("target"));
        assert_eq!(
            field(json!([{"op": "replace", "path": "emails[type eq \"home\"].value", "value": "x"}])),
            Some("target")
        );
        assert_eq!(
            field(json!([{"op": "add", "path": "emails[type eq", "value": "x"}])),
            Some("path")
        );
        assert_eq!(
            field(json!([{"op": "replace", "path": "id", "value": "x"}])),
            Some("mutability")
        );
        assert_eq!(
            field(json!([{"op": "move", "path": "id", "value": "x"}])),
            Some("value")
        );
        assert_eq!(field(json!([{"op": "add", "path": "title"}])), Some("value"));
        let body = json!({"Operations": []});
        assert_eq!(read_operations(&body).unwrap_err().field(), Some("syntax"));
    }
}
