//! A SCIM 2.0 service provider on loopback for tests, with Open WebUI 0.12.4's quirks:
//! `displayName` required on `POST /Users`, filters only `externalId eq`, `userName eq` (and
//! `displayName eq` on groups; any other filter lists everything), `count` at most 100,
//! `DELETE` a hard delete, a duplicate email or `externalId` a 409, and an administrator
//! that cannot be deactivated (403). It keeps every request, and can be told to fail.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};

/// A user as the provider keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct ScimUser {
    pub id: String,
    pub external_id: Option<String>,
    pub user_name: String,
    pub display_name: String,
    pub active: bool,
    /// An administrator cannot be deactivated or deleted (403).
    pub admin: bool,
}

/// A group as the provider keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct ScimGroup {
    pub id: String,
    pub display_name: String,
    pub members: Vec<String>,
}

/// One request as received: method, path (after the base) and JSON body.
#[derive(Debug, Clone)]
pub struct ScimRequest {
    pub method: String,
    pub path: String,
    pub query: String,
    pub body: Value,
    /// The status answered.
    pub status: u16,
}

#[derive(Debug, Default)]
struct Data {
    users: BTreeMap<String, ScimUser>,
    groups: BTreeMap<String, ScimGroup>,
    next_id: u64,
    /// Statuses to answer the next requests with, before looking at them.
    failures: VecDeque<u16>,
    /// Answer every request with this status while set.
    down: Option<u16>,
    requests: Vec<ScimRequest>,
}

impl Data {
    fn new_id(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("{prefix}-{:04}", self.next_id)
    }
}

struct Shared {
    token: String,
    data: Mutex<Data>,
}

/// A provider listening on `url` (the SCIM base, like Open WebUI's `/api/v1/scim/v2`).
pub struct ScimProvider {
    pub url: String,
    pub token: String,
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for ScimProvider {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn user_json(u: &ScimUser, groups: &BTreeMap<String, ScimGroup>) -> Value {
    let member_of: Vec<Value> = groups
        .values()
        .filter(|g| g.members.contains(&u.id))
        .map(|g| json!({"value": g.id, "display": g.display_name, "type": "direct"}))
        .collect();
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "id": u.id,
        "externalId": u.external_id,
        "userName": u.user_name,
        "displayName": u.display_name,
        "name": {"formatted": u.display_name},
        "emails": [{"value": u.user_name}],
        "active": u.active,
        "groups": if member_of.is_empty() { Value::Null } else { Value::Array(member_of) },
    })
}

fn group_json(g: &ScimGroup) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "id": g.id,
        "displayName": g.display_name,
        "members": g.members.iter().map(|m| json!({"value": m, "type": "User"})).collect::<Vec<_>>(),
    })
}

fn list(resources: Vec<Value>, total: usize, start: usize) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
        "totalResults": total,
        "startIndex": start,
        "itemsPerPage": resources.len(),
        "Resources": resources,
    })
}

/// The value of `attribute eq "value"`, read between the first two quotes as Open WebUI does.
fn filter_value<'a>(filter: &'a str, attribute: &str) -> Option<&'a str> {
    let rest = filter.trim().strip_prefix(attribute)?.trim_start().strip_prefix("eq")?;
    let mut parts = rest.split('"');
    parts.next()?;
    parts.next()
}

fn detail(status: StatusCode, text: &str) -> Response {
    (status, axum::Json(json!({"detail": text}))).into_response()
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    Path(path): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let mut data = shared.data.lock().unwrap();
    let response = answer(&shared.token, &mut data, &method, &path, &query, &headers, &body);
    let status = response.status().as_u16();
    let mut query_text: Vec<String> = query.iter().map(|(k, v)| format!("{k}={v}")).collect();
    query_text.sort();
    data.requests.push(ScimRequest {
        method: method.to_string(),
        path,
        query: query_text.join("&"),
        body,
        status,
    });
    response
}

fn answer(
    token: &str,
    data: &mut Data,
    method: &Method,
    path: &str,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
    body: &Value,
) -> Response {
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(&format!("Bearer {token}")) {
        return detail(StatusCode::UNAUTHORIZED, "Invalid token");
    }
    if let Some(status) = data.failures.pop_front().or(data.down) {
        return detail(StatusCode::from_u16(status).unwrap(), "scripted failure");
    }
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let text = |v: &Value| v.as_str().map(str::to_string);
    match (method.as_str(), segments.as_slice()) {
        ("GET", ["Users"]) => {
            let filter = query.get("filter").map(String::as_str).unwrap_or("");
            let all: Vec<&ScimUser> = data.users.values().collect();
            let matched: Vec<&ScimUser> = if let Some(v) = filter_value(filter, "externalId") {
                all.into_iter()
                    .filter(|u| u.external_id.as_deref() == Some(v))
                    .collect()
            } else if let Some(v) = filter_value(filter, "userName") {
                all.into_iter()
                    .filter(|u| u.user_name.eq_ignore_ascii_case(v))
                    .collect()
            } else {
                all
            };
            let start = query
                .get("startIndex")
                .and_then(|s| s.parse::<usize>().ok())
                .unwrap_or(1)
                .max(1);
            let count = query
                .get("count")
                .and_then(|s| s.parse::<usize>().ok())
                .unwrap_or(100)
                .min(100);
            let page: Vec<Value> = matched
                .iter()
                .skip(start - 1)
                .take(count)
                .map(|u| user_json(u, &data.groups))
                .collect();
            axum::Json(list(page, matched.len(), start)).into_response()
        }
        ("POST", ["Users"]) => {
            let (Some(user_name), Some(display_name)) = (text(&body["userName"]), text(&body["displayName"])) else {
                return detail(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "userName and displayName are required",
                );
            };
            let email = body["emails"][0]["value"]
                .as_str()
                .map_or(user_name.clone(), str::to_string)
                .to_lowercase();
            let external_id = text(&body["externalId"]);
            if data.users.values().any(|u| {
                u.user_name.eq_ignore_ascii_case(&email) || (external_id.is_some() && u.external_id == external_id)
            }) {
                return detail(StatusCode::CONFLICT, "User already exists");
            }
            let user = ScimUser {
                id: data.new_id("u"),
                external_id,
                user_name: email,
                display_name,
                active: body["active"].as_bool().unwrap_or(true),
                admin: false,
            };
            let out = user_json(&user, &data.groups);
            data.users.insert(user.id.clone(), user);
            (StatusCode::CREATED, axum::Json(out)).into_response()
        }
        ("PUT", ["Users", id]) => {
            let Some(user) = data.users.get_mut(*id) else {
                return detail(StatusCode::NOT_FOUND, "User not found");
            };
            if body["active"] == Value::Bool(false) && user.admin {
                return detail(StatusCode::FORBIDDEN, "Cannot deactivate an admin");
            }
            if let Some(v) = body["emails"][0]["value"]
                .as_str()
                .map(str::to_string)
                .or_else(|| text(&body["userName"]))
            {
                user.user_name = v;
            }
            if let Some(v) = text(&body["displayName"]) {
                user.display_name = v;
            }
            if let Some(v) = body["active"].as_bool() {
                user.active = v;
            }
            if let Some(v) = text(&body["externalId"]) {
                user.external_id = Some(v);
            }
            let out = user_json(user, &data.groups);
            axum::Json(out).into_response()
        }
        ("GET", ["Users", id]) => match data.users.get(*id) {
            Some(user) => axum::Json(user_json(user, &data.groups)).into_response(),
            None => detail(StatusCode::NOT_FOUND, "User not found"),
        },
        ("DELETE", ["Users", id]) => match data.users.get(*id) {
            Some(user) if user.admin => detail(StatusCode::FORBIDDEN, "Cannot delete an admin"),
            Some(_) => {
                data.users.remove(*id);
                for group in data.groups.values_mut() {
                    group.members.retain(|m| m != id);
                }
                StatusCode::NO_CONTENT.into_response()
            }
            None => detail(StatusCode::NOT_FOUND, "User not found"),
        },
        ("GET", ["Groups"]) => {
            let filter = query.get("filter").map(String::as_str).unwrap_or("");
            let groups: Vec<Value> = data
                .groups
                .values()
                .filter(|g| filter_value(filter, "displayName").is_none_or(|v| g.display_name == v))
                .map(group_json)
                .collect();
            let total = groups.len();
            axum::Json(list(groups, total, 1)).into_response()
        }
        ("POST", ["Groups"]) | ("PUT", ["Groups", _]) => {
            let Some(name) = text(&body["displayName"]) else {
                return detail(StatusCode::UNPROCESSABLE_ENTITY, "displayName is required");
            };
            let mut members = Vec::new();
            for m in body["members"].as_array().cloned().unwrap_or_default() {
                let Some(id) = m["value"].as_str() else { continue };
                if !data.users.contains_key(id) {
                    return detail(StatusCode::BAD_REQUEST, "unknown member");
                }
                members.push(id.to_string());
            }
            let id = match segments.as_slice() {
                ["Groups", id] => {
                    if !data.groups.contains_key(*id) {
                        return detail(StatusCode::NOT_FOUND, "Group not found");
                    }
                    id.to_string()
                }
                _ => data.new_id("g"),
            };
            let group = ScimGroup {
                id: id.clone(),
                display_name: name,
                members,
            };
            let out = group_json(&group);
            data.groups.insert(id, group);
            let status = if method == Method::POST {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            (status, axum::Json(out)).into_response()
        }
        ("DELETE", ["Groups", id]) => match data.groups.remove(*id) {
            Some(_) => StatusCode::NO_CONTENT.into_response(),
            None => detail(StatusCode::NOT_FOUND, "Group not found"),
        },
        _ => detail(StatusCode::NOT_FOUND, "Not Found"),
    }
}

impl ScimProvider {
    /// Starts a provider that accepts `Bearer <token>`.
    pub async fn start(token: &str) -> ScimProvider {
        let shared = Arc::new(Shared {
            token: token.to_string(),
            data: Mutex::new(Data::default()),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the provider");
        let url = format!("http://{}/api/v1/scim/v2", listener.local_addr().expect("address"));
        let app = Router::new()
            .route("/api/v1/scim/v2/{*path}", axum::routing::any(handle))
            .with_state(shared.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        ScimProvider {
            url,
            token: token.to_string(),
            shared,
            server,
        }
    }

    /// Answers the next requests with these statuses, in order.
    pub fn fail_next(&self, statuses: &[u16]) {
        self.shared
            .data
            .lock()
            .unwrap()
            .failures
            .extend(statuses.iter().copied());
    }

    /// Answers every request with `status` (None: serves again).
    pub fn down(&self, status: Option<u16>) {
        self.shared.data.lock().unwrap().down = status;
    }

    /// Adds a user behind Roster's back; returns its id.
    pub fn insert_user(&self, user_name: &str, display_name: &str, external_id: Option<&str>, admin: bool) -> String {
        let mut data = self.shared.data.lock().unwrap();
        let id = data.new_id("u");
        data.users.insert(
            id.clone(),
            ScimUser {
                id: id.clone(),
                external_id: external_id.map(str::to_string),
                user_name: user_name.to_string(),
                display_name: display_name.to_string(),
                active: true,
                admin,
            },
        );
        id
    }

    /// Changes a user behind Roster's back.
    pub fn edit_user(&self, id: &str, edit: impl FnOnce(&mut ScimUser)) {
        let mut data = self.shared.data.lock().unwrap();
        edit(data.users.get_mut(id).expect("a user of the provider"));
    }

    /// Every user.
    pub fn users(&self) -> Vec<ScimUser> {
        self.shared.data.lock().unwrap().users.values().cloned().collect()
    }

    /// The user with this `externalId`.
    pub fn user_by_external_id(&self, external_id: &str) -> Option<ScimUser> {
        self.users()
            .into_iter()
            .find(|u| u.external_id.as_deref() == Some(external_id))
    }

    /// Every group.
    pub fn groups(&self) -> Vec<ScimGroup> {
        self.shared.data.lock().unwrap().groups.values().cloned().collect()
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<ScimRequest> {
        self.shared.data.lock().unwrap().requests.clone()
    }

    /// Waits until `done` holds for the provider (checked every 20 ms), at most `within`;
    /// panics with its state otherwise.
    pub async fn wait_until(&self, within: std::time::Duration, done: impl Fn(&ScimProvider) -> bool) {
        let deadline = std::time::Instant::now() + within;
        while !done(self) {
            assert!(
                std::time::Instant::now() < deadline,
                "the SCIM provider did not get there in {within:?}: users {:#?}, groups {:#?}, requests {:#?}",
                self.users(),
                self.groups(),
                self.requests()
                    .iter()
                    .map(|r| format!("{} {} {} -> {}", r.method, r.path, r.query, r.status))
                    .collect::<Vec<_>>()
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
}
