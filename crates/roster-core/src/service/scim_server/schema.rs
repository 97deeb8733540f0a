//! The discovery documents: `ServiceProviderConfig`, `ResourceTypes` and `Schemas`
//! (RFC 7643 §5–7), describing what Roster's SCIM server does.

use super::filter::{ENTERPRISE_SCHEMA, GROUP_SCHEMA, USER_SCHEMA};
use super::{LIST_SCHEMA, MAX_RESULTS};
use serde_json::{Value, json};

/// One attribute's definition.
fn attr(name: &str, kind: &str, description: &str) -> Value {
    json!({
        "name": name,
        "type": kind,
        "multiValued": false,
        "description": description,
        "required": false,
        "caseExact": false,
        "mutability": "readWrite",
        "returned": "default",
        "uniqueness": "none",
    })
}

fn with(mut value: Value, key: &str, v: Value) -> Value {
    value[key] = v;
    value
}

fn text(name: &str, description: &str) -> Value {
    attr(name, "string", description)
}

fn complex(name: &str, description: &str, subs: Vec<Value>) -> Value {
    with(attr(name, "complex", description), "subAttributes", Value::Array(subs))
}

fn multi(value: Value) -> Value {
    with(value, "multiValued", json!(true))
}

/// A multi-valued complex attribute of `value`, `type`, `primary` and `display`.
fn values(name: &str, description: &str, types: &[&str]) -> Value {
    multi(complex(
        name,
        description,
        vec![
            text("value", "The value."),
            text("display", "A label for the value."),
            with(text("type", "The kind of value."), "canonicalValues", json!(types)),
            attr("primary", "boolean", "Whether this is the primary value."),
        ],
    ))
}

/// A schema document.
fn schema(id: &str, name: &str, description: &str, attributes: Vec<Value>, base: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
        "id": id,
        "name": name,
        "description": description,
        "attributes": attributes,
        "meta": {"resourceType": "Schema", "location": format!("{base}/Schemas/{id}")},
    })
}

fn user_schema(base: &str) -> Value {
    let read_only = |v: Value| with(v, "mutability", json!("readOnly"));
    schema(
        USER_SCHEMA,
        "User",
        "A user of Roster",
        vec![
            with(
                with(
                    text("userName", "The username (unique, compared without case)."),
                    "required",
                    json!(true),
                ),
                "uniqueness",
                json!("server"),
            ),
            complex(
                "name",
                "The parts of the user's name.",
                vec![
                    text("formatted", "The full name."),
                    text("familyName", "The family name."),
                    text("givenName", "The given name."),
                    text("middleName", "The middle name."),
                    text("honorificPrefix", "A title before the name."),
                    text("honorificSuffix", "A title after the name."),
                ],
            ),
            text("displayName", "The name shown for the user (Roster's name)."),
            text("nickName", "A casual name."),
            with(
                attr("profileUrl", "reference", "A profile page."),
                "referenceTypes",
                json!(["external"]),
            ),
            text("title", "The job title."),
            text("userType", "The kind of user in the directory."),
            text("preferredLanguage", "The preferred language."),
            text("locale", "The locale."),
            text("timezone", "The time zone."),
            // Every Roster account is active or not, so `active` is always there (a request
            // without it leaves it as it is, or true for a new user).
            with(
                attr("active", "boolean", "Whether the user may sign in."),
                "required",
                json!(true),
            ),
            with(
                with(
                    text("password", "A password to set (never returned)."),
                    "mutability",
                    json!("writeOnly"),
                ),
                "returned",
                json!("never"),
            ),
            values(
                "emails",
                "Email addresses; the primary one is Roster's email.",
                &["work", "home", "other"],
            ),
            values(
                "phoneNumbers",
                "Phone numbers.",
                &["work", "home", "mobile", "fax", "pager", "other"],
            ),
            read_only(multi(complex(
                "groups",
                "The groups the user belongs to.",
                vec![
                    read_only(text("value", "The group's id.")),
                    read_only(with(
                        attr("$ref", "reference", "The group's URI."),
                        "referenceTypes",
                        json!(["Group"]),
                    )),
                    read_only(text("display", "The group's name.")),
                    read_only(text("type", "direct.")),
                ],
            ))),
            multi(complex(
                "roles",
                "Roles in the directory.",
                vec![
                    text("value", "The role."),
                    text("display", "A label."),
                    text("type", "The kind of role."),
                    attr("primary", "boolean", "Whether this is the primary role."),
                ],
            )),
        ],
        base,
    )
}

fn enterprise_schema(base: &str) -> Value {
    schema(
        ENTERPRISE_SCHEMA,
        "EnterpriseUser",
        "Enterprise user",
        vec![
            text("employeeNumber", "The employee number."),
            text("costCenter", "The cost center."),
            text("organization", "The organization."),
            text("division", "The division."),
            text("department", "The department."),
            complex(
                "manager",
                "The user's manager.",
                vec![
                    text("value", "The manager's id."),
                    with(
                        attr("$ref", "reference", "The manager's URI."),
                        "referenceTypes",
                        json!(["User"]),
                    ),
                    with(
                        text("displayName", "The manager's name."),
                        "mutability",
                        json!("readOnly"),
                    ),
                ],
            ),
        ],
        base,
    )
}

fn group_schema(base: &str) -> Value {
    schema(
        GROUP_SCHEMA,
        "Group",
        "A group of Roster users",
        vec![
            with(text("displayName", "The group's name."), "required", json!(true)),
            multi(complex(
                "members",
                "The group's members (users).",
                vec![
                    with(text("value", "The member's id."), "mutability", json!("immutable")),
                    with(
                        with(
                            attr("$ref", "reference", "The member's URI."),
                            "referenceTypes",
                            json!(["User"]),
                        ),
                        "mutability",
                        json!("immutable"),
                    ),
                ],
            )),
        ],
        base,
    )
}

/// Every schema, in a ListResponse.
pub fn schemas(base: &str) -> Value {
    let all = vec![user_schema(base), enterprise_schema(base), group_schema(base)];
    json!({
        "schemas": [LIST_SCHEMA],
        "totalResults": all.len(),
        "startIndex": 1,
        "itemsPerPage": all.len(),
        "Resources": all,
    })
}

/// One schema by its URN (None: unknown).
pub fn schema_by_id(base: &str, id: &str) -> Option<Value> {
    [user_schema(base), enterprise_schema(base), group_schema(base)]
        .into_iter()
        .find(|s| s["id"].as_str().is_some_and(|i| i.eq_ignore_ascii_case(id)))
}

fn user_type(base: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
        "id": "User",
        "name": "User",
        "endpoint": "/Users",
        "description": "A user of Roster",
        "schema": USER_SCHEMA,
        "schemaExtensions": [{"schema": ENTERPRISE_SCHEMA, "required": false}],
        "meta": {"resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/User")},
    })
}

fn group_type(base: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
        "id": "Group",
        "name": "Group",
        "endpoint": "/Groups",
        "description": "A group of Roster users",
        "schema": GROUP_SCHEMA,
        "schemaExtensions": [],
        "meta": {"resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/Group")},
    })
}

/// The resource types, in a ListResponse.
pub fn resource_types(base: &str) -> Value {
    json!({
        "schemas": [LIST_SCHEMA],
        "totalResults": 2,
        "startIndex": 1,
        "itemsPerPage": 2,
        "Resources": [user_type(base), group_type(base)],
    })
}

/// One resource type by name (None: unknown).
pub fn resource_type_by_id(base: &str, id: &str) -> Option<Value> {
    match id {
        "User" => Some(user_type(base)),
        "Group" => Some(group_type(base)),
        _ => None,
    }
}

/// What this server supports.
pub fn service_provider_config(base: &str, docs: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
        "documentationUri": docs,
        "patch": {"supported": true},
        "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": true, "maxResults": MAX_RESULTS},
        "changePassword": {"supported": true},
        "sort": {"supported": true},
        "etag": {"supported": true},
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "Bearer API key",
            "description": "An administrator's Roster API key with the scim scope, as Authorization: Bearer.",
            "primary": true,
        }],
        "meta": {"resourceType": "ServiceProviderConfig", "location": format!("{base}/ServiceProviderConfig")},
    })
}
