//! The SCIM 2.0 protocol as a client (RFC 7643/7644), as far as provisioning needs it, shaped
//! by what Open WebUI 0.12.4 accepts: `displayName` always sent, filters only `externalId eq`
//! and `userName eq` (and `displayName eq` on groups), pages of at most 100.

use crate::service::Core;
use crate::service::webhooks::{SendFailure, WebhookSettings, WebhookTransport, exchange_checked};
use serde_json::{Value, json};

const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
/// The largest page Open WebUI serves.
pub const PAGE_SIZE: usize = 100;

/// Why a SCIM step did not succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepError {
    /// No HTTP answer.
    Send(SendFailure),
    /// An answer with this status that the step does not accept.
    Status(u16),
    /// A 2xx answer that is not the SCIM resource expected.
    Malformed(u16),
    /// Roster's own database could not be read (tried again later).
    Store,
}

impl StepError {
    /// Whether trying again cannot help: a client error other than a timeout, a conflict or a
    /// rate limit (a 403 for an administrator that cannot be deactivated, a 400 for a
    /// resource the provider refuses...).
    pub fn is_final(self) -> bool {
        matches!(self, StepError::Status(code) if (400..500).contains(&code) && !matches!(code, 408 | 409 | 425 | 429))
    }

    /// The delivery log's words for it (the kind of failure or the status, nothing the
    /// provider said).
    pub fn describe(self) -> String {
        match self {
            StepError::Send(failure) => failure.as_str().to_string(),
            StepError::Status(code) => format!("HTTP {code}"),
            StepError::Malformed(code) => format!("HTTP {code}: not a SCIM resource"),
            StepError::Store => "database unavailable".to_string(),
        }
    }
}

pub type Step<T> = std::result::Result<T, StepError>;

/// A user as the provider has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteUser {
    pub id: String,
    pub external_id: Option<String>,
    pub user_name: String,
    pub display_name: Option<String>,
    pub email: Option<String>,
    pub active: bool,
}

impl RemoteUser {
    fn parse(value: &Value) -> Option<Self> {
        let text = |v: &Value| v.as_str().map(str::to_string);
        Some(RemoteUser {
            id: text(&value["id"]).filter(|id| !id.is_empty())?,
            external_id: text(&value["externalId"]).filter(|e| !e.is_empty()),
            user_name: text(&value["userName"]).unwrap_or_default(),
            display_name: text(&value["displayName"]),
            email: value["emails"]
                .as_array()
                .and_then(|emails| {
                    emails
                        .iter()
                        .find(|e| e["primary"] == Value::Bool(true))
                        .or_else(|| emails.first())
                })
                .and_then(|e| text(&e["value"])),
            active: value["active"].as_bool().unwrap_or(true),
        })
    }
}

/// A group as the provider has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteGroup {
    pub id: String,
    pub display_name: String,
    /// The members' provider ids.
    pub members: Vec<String>,
}

impl RemoteGroup {
    fn parse(value: &Value) -> Option<Self> {
        Some(RemoteGroup {
            id: value["id"].as_str().filter(|id| !id.is_empty())?.to_string(),
            display_name: value["displayName"].as_str().unwrap_or_default().to_string(),
            members: value["members"]
                .as_array()
                .map(|m| {
                    m.iter()
                        .filter_map(|m| m["value"].as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
        })
    }
}

/// What Roster wants a user to be on the provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredUser {
    /// Roster's user id: the SCIM `externalId` (and the OpenID Connect `sub`).
    pub external_id: String,
    pub email: String,
    pub display_name: String,
    pub active: bool,
    /// `admin` or `user` (sent as SCIM `roles`; Open WebUI ignores it).
    pub role: String,
}

impl DesiredUser {
    fn resource(&self) -> Value {
        json!({
            "schemas": [USER_SCHEMA],
            "externalId": self.external_id,
            "userName": self.email,
            "displayName": self.display_name,
            "name": { "formatted": self.display_name },
            "emails": [{ "value": self.email, "primary": true, "type": "work" }],
            "active": self.active,
            "roles": [{ "value": self.role, "primary": true }],
        })
    }

    /// The attributes in which `remote` differs from this (empty: in step).
    pub fn differences(&self, remote: &RemoteUser) -> Vec<&'static str> {
        let mut fields = Vec::new();
        if remote.external_id.as_deref() != Some(self.external_id.as_str()) {
            fields.push("externalId");
        }
        if !remote.user_name.eq_ignore_ascii_case(&self.email) {
            fields.push("userName");
        }
        if remote.display_name.as_deref() != Some(self.display_name.as_str()) {
            fields.push("displayName");
        }
        if remote.active != self.active {
            fields.push("active");
        }
        fields
    }
}

/// A SCIM service provider, reached through the delivery worker's transport and policy.
pub struct ScimClient<'a> {
    pub(super) core: &'a Core,
    pub(super) transport: &'a dyn WebhookTransport,
    pub(super) settings: &'a WebhookSettings,
    /// The base URL, without a trailing slash.
    pub(super) base: &'a str,
    /// The bearer token (opened).
    pub(super) token: String,
}

impl ScimClient<'_> {
    /// Sends one request; the answer's status and JSON body (Null when empty or not JSON).
    async fn call(
        &self,
        method: &str,
        path: &str,
        query: &[(&str, String)],
        body: Option<Value>,
    ) -> Step<(u16, Value)> {
        let mut url = url::Url::parse(&format!("{}/{path}", self.base))
            .map_err(|_| StepError::Send(SendFailure::RequestFailed))?;
        if !query.is_empty() {
            url.query_pairs_mut()
                .extend_pairs(query.iter().map(|(k, v)| (*k, v.as_str())));
        }
        let mut headers = vec![
            ("authorization", format!("Bearer {}", self.token)),
            ("accept", "application/scim+json, application/json".to_string()),
        ];
        let body = body.map(|b| {
            headers.push(("content-type", "application/scim+json".to_string()));
            serde_json::to_vec(&b).unwrap_or_default()
        });
        let answer = exchange_checked(
            self.core,
            self.transport,
            self.settings,
            method,
            url.as_str(),
            &headers,
            body,
        )
        .await
        .map_err(StepError::Send)?;
        let value = serde_json::from_slice(&answer.body).unwrap_or(Value::Null);
        Ok((answer.status, value))
    }

    /// Sends one request that must answer one of `accepted`.
    async fn expect(&self, method: &str, path: &str, body: Option<Value>, accepted: &[u16]) -> Step<(u16, Value)> {
        let (status, value) = self.call(method, path, &[], body).await?;
        if accepted.contains(&status) {
            Ok((status, value))
        } else {
            Err(StepError::Status(status))
        }
    }

    /// The resources of a list answer.
    fn resources(status: u16, value: &Value) -> Step<&Vec<Value>> {
        match &value["Resources"] {
            Value::Array(items) => Ok(items),
            Value::Null => Err(StepError::Malformed(status)),
            _ => Err(StepError::Malformed(status)),
        }
    }

    /// The one user whose `attribute` (`externalId` or `userName`) equals `value`.
    pub async fn find_user(&self, attribute: &str, value: &str) -> Step<Option<RemoteUser>> {
        let filter = format!("{attribute} eq \"{}\"", value.replace('"', ""));
        let (status, body) = self.call("GET", "Users", &[("filter", filter)], None).await?;
        if status != 200 {
            return Err(StepError::Status(status));
        }
        let found = Self::resources(status, &body)?
            .iter()
            .filter_map(RemoteUser::parse)
            // Open WebUI answers an unknown filter with every user: keep only real matches.
            .find(|u| match attribute {
                "externalId" => u.external_id.as_deref() == Some(value),
                _ => u.user_name.eq_ignore_ascii_case(value),
            });
        Ok(found)
    }

    /// Every user, page by page (`startIndex` from 1, at most [`PAGE_SIZE`] a page).
    pub async fn list_users(&self) -> Step<Vec<RemoteUser>> {
        let mut users = Vec::new();
        let mut start = 1usize;
        loop {
            let query = [("startIndex", start.to_string()), ("count", PAGE_SIZE.to_string())];
            let (status, body) = self.call("GET", "Users", &query, None).await?;
            if status != 200 {
                return Err(StepError::Status(status));
            }
            let page = Self::resources(status, &body)?;
            let total = body["totalResults"].as_u64().unwrap_or(0) as usize;
            users.extend(page.iter().filter_map(RemoteUser::parse));
            start += page.len();
            if page.is_empty() || start > total {
                return Ok(users);
            }
        }
    }

    /// Creates or updates the user: looked up by `externalId` first; created when absent;
    /// a 409 (the email is taken by an account the provider has without this `externalId`,
    /// such as one made at a first OpenID Connect sign-in) is that account, updated and linked.
    pub async fn upsert_user(&self, user: &DesiredUser) -> Step<RemoteUser> {
        let existing = match self.find_user("externalId", &user.external_id).await? {
            Some(remote) => Some(remote),
            None => {
                let (status, body) = self.call("POST", "Users", &[], Some(user.resource())).await?;
                match status {
                    200 | 201 => return RemoteUser::parse(&body).ok_or(StepError::Malformed(status)),
                    409 => self.find_user("userName", &user.email).await?,
                    other => return Err(StepError::Status(other)),
                }
            }
        };
        let remote = existing.ok_or(StepError::Status(409))?;
        let (status, body) = self
            .expect("PUT", &format!("Users/{}", remote.id), Some(user.resource()), &[200])
            .await?;
        RemoteUser::parse(&body).ok_or(StepError::Malformed(status))
    }

    /// Deactivates a user (`active: false`).
    pub async fn deactivate_user(&self, remote: &RemoteUser) -> Step<()> {
        let body = json!({ "schemas": [USER_SCHEMA], "active": false });
        self.expect("PUT", &format!("Users/{}", remote.id), Some(body), &[200])
            .await?;
        Ok(())
    }

    /// Deletes a user (gone already is fine).
    pub async fn delete_user(&self, remote: &RemoteUser) -> Step<()> {
        self.expect("DELETE", &format!("Users/{}", remote.id), None, &[200, 204, 404])
            .await?;
        Ok(())
    }

    /// The group named `name`, if any.
    pub async fn find_group(&self, name: &str) -> Step<Option<RemoteGroup>> {
        let filter = format!("displayName eq \"{}\"", name.replace('"', ""));
        let (status, body) = self.call("GET", "Groups", &[("filter", filter)], None).await?;
        if status != 200 {
            return Err(StepError::Status(status));
        }
        Ok(Self::resources(status, &body)?
            .iter()
            .filter_map(RemoteGroup::parse)
            .find(|g| g.display_name == name))
    }

    /// Creates the group `name` with `members` (provider ids); returns the provider's id for it.
    pub async fn create_group(&self, name: &str, members: &[String]) -> Step<String> {
        let (status, body) = self
            .expect("POST", "Groups", Some(Self::group_resource(name, members)), &[200, 201])
            .await?;
        RemoteGroup::parse(&body)
            .map(|g| g.id)
            .ok_or(StepError::Malformed(status))
    }

    /// Sets the name and members of the provider's group `id`.
    pub async fn replace_group(&self, id: &str, name: &str, members: &[String]) -> Step<()> {
        self.expect(
            "PUT",
            &format!("Groups/{id}"),
            Some(Self::group_resource(name, members)),
            &[200],
        )
        .await?;
        Ok(())
    }

    fn group_resource(name: &str, members: &[String]) -> Value {
        let members: Vec<Value> = members
            .iter()
            .map(|id| json!({ "value": id, "type": "User" }))
            .collect();
        json!({ "schemas": [GROUP_SCHEMA], "displayName": name, "members": members })
    }

    /// Deletes the provider's group `id` (gone already is fine).
    pub async fn delete_group(&self, id: &str) -> Step<()> {
        self.expect("DELETE", &format!("Groups/{id}"), None, &[200, 204, 404])
            .await?;
        Ok(())
    }
}
