//! `/admin/groups` and `/admin/permissions`: groups (create, rename, members, permissions,
//! delete) and the default permission template; permissions as a form of the known Open
//! WebUI sections, or as raw JSON.

use super::users::{UserRow, user_row};
use super::view::{AdminChrome, Ask, Confirmation, confirm, render};
use super::{Admin, AdminForm, DoneQuery, Empty, done, error_page, path_id};
use crate::extract::Meta;
use crate::pages::PageQuery;
use crate::pages::strings::fill;
use crate::state::AppState;
use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use roster_core::service::{DEFAULT_TEMPLATE, GroupChanges, NewGroup, builtin_permissions};
use roster_core::{Error, GroupId, UserId};
use serde::Deserialize;
use serde_json::{Map, Value};

/// How many members a group's page lists.
const MEMBERS_SHOWN: usize = 200;

/// One checkbox of the permissions form.
#[derive(Debug, Clone)]
pub struct PermissionBox {
    /// `perm.section.key`
    pub name: String,
    pub label: String,
    pub checked: bool,
}

/// A section of the permissions form.
#[derive(Debug, Clone)]
pub struct PermissionSection {
    pub name: String,
    pub boxes: Vec<PermissionBox>,
}

/// The form of `permissions` over the known sections and keys.
pub fn permission_form(permissions: &Value) -> Vec<PermissionSection> {
    let known = builtin_permissions();
    let Some(sections) = known.as_object() else {
        return Vec::new();
    };
    sections
        .iter()
        .map(|(section, keys)| PermissionSection {
            name: section.clone(),
            boxes: keys
                .as_object()
                .map(|keys| {
                    keys.keys()
                        .map(|key| PermissionBox {
                            name: format!("perm.{section}.{key}"),
                            label: key.replace('_', " "),
                            checked: permissions
                                .get(section)
                                .and_then(|s| s.get(key))
                                .and_then(Value::as_bool)
                                .unwrap_or(false),
                        })
                        .collect()
                })
                .unwrap_or_default(),
        })
        .collect()
}

/// `current` with every known key set from the form's checkboxes (checked: true), other keys
/// kept.
pub fn permissions_from_form(current: &Value, fields: &[(String, String)]) -> Value {
    let mut result = current.as_object().cloned().unwrap_or_default();
    if let Some(sections) = builtin_permissions().as_object() {
        for (section, keys) in sections {
            let entry = result
                .entry(section.clone())
                .or_insert_with(|| Value::Object(Map::new()));
            if !entry.is_object() {
                *entry = Value::Object(Map::new());
            }
            let Some(target) = entry.as_object_mut() else { continue };
            for key in keys
                .as_object()
                .map(|k| k.keys().cloned().collect::<Vec<_>>())
                .unwrap_or_default()
            {
                let name = format!("perm.{section}.{key}");
                let on = fields.iter().any(|(n, v)| *n == name && v == "on");
                target.insert(key, Value::Bool(on));
            }
        }
    }
    Value::Object(result)
}

#[derive(Debug, Clone)]
pub struct GroupListRow {
    pub href: String,
    pub name: String,
    pub description: String,
    pub members: usize,
}

#[derive(Template)]
#[template(path = "pages/admin/groups.html")]
pub struct GroupsPage {
    pub chrome: AdminChrome,
    pub t: &'static super::strings::AdminStrings,
    pub rows: Vec<GroupListRow>,
    pub name: String,
    pub description: String,
}

fn notice(admin: &Admin, key: Option<&str>) -> Option<String> {
    let t = admin.t;
    Some(
        match key? {
            "created" => t.group_created,
            "renamed" => t.group_renamed,
            "member_added" => t.member_added,
            "member_removed" => t.member_removed,
            "permissions" => t.permissions_saved,
            "deleted" => t.group_deleted,
            _ => return None,
        }
        .to_string(),
    )
}

async fn groups_view(
    state: &AppState,
    admin: &Admin,
    chrome: AdminChrome,
    status: StatusCode,
    form: GroupForm,
) -> Response {
    let groups = match state.core.list_groups_with_members(&admin.actor).await {
        Ok(groups) => groups,
        Err(error) => return error_page(state, admin, &error),
    };
    let page = GroupsPage {
        chrome,
        t: admin.t,
        rows: groups
            .iter()
            .map(|g| GroupListRow {
                href: format!("/admin/groups/{}", g.group.id),
                name: g.group.name.clone(),
                description: g.group.description.clone(),
                members: g.members.as_ref().map_or(0, Vec::len),
            })
            .collect(),
        name: form.name,
        description: form.description,
    };
    render(state, admin, status, &page)
}

/// `GET /admin/groups`.
pub async fn list(State(state): State<AppState>, admin: Admin, PageQuery(query): PageQuery<DoneQuery>) -> Response {
    let chrome = AdminChrome::new(&state, &admin, admin.t.groups_title, "/admin/groups")
        .notice(notice(&admin, query.done.as_deref()));
    groups_view(&state, &admin, chrome, StatusCode::OK, GroupForm::default()).await
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct GroupForm {
    name: String,
    description: String,
}

/// `POST /admin/groups`: creates a group, then shows it.
pub async fn create(State(state): State<AppState>, AdminForm { admin, form }: AdminForm<GroupForm>) -> Response {
    let input = NewGroup {
        name: form.name.clone(),
        description: Some(form.description.clone()).filter(|d| !d.trim().is_empty()),
        permissions: None,
    };
    match state.core.create_group(&admin.actor, input).await {
        Ok(group) => done(&format!("/admin/groups/{}", group.id), "created"),
        Err(error @ (Error::Unavailable | Error::Internal(_))) => error_page(&state, &admin, &error),
        Err(error) => {
            let chrome = AdminChrome::new(&state, &admin, admin.t.groups_title, "/admin/groups")
                .core_error(&error, &["name", "description"]);
            groups_view(&state, &admin, chrome, crate::error::status_of(&error), form).await
        }
    }
}

#[derive(Template)]
#[template(path = "pages/admin/group.html")]
pub struct GroupPage {
    pub chrome: AdminChrome,
    pub t: &'static super::strings::AdminStrings,
    pub base: String,
    pub name: String,
    pub description: String,
    pub members: Vec<(UserRow, String)>,
    pub more_members: usize,
    pub sections: Vec<PermissionSection>,
    pub json: String,
    /// Where the permission forms post.
    pub permissions_action: String,
}

async fn group_view(state: &AppState, admin: &Admin, id: GroupId, chrome: AdminChrome, status: StatusCode) -> Response {
    let loaded = async {
        let group = state.core.get_group(&admin.actor, id).await?;
        let ids = state.core.group_members(&admin.actor, id).await?;
        let mut members = Vec::new();
        for member in ids.iter().take(MEMBERS_SHOWN) {
            match state.core.get_user(&admin.actor, *member).await {
                Ok(user) => members.push(user),
                Err(Error::NotFound(_)) => {}
                Err(error) => return Err(error),
            }
        }
        Ok((group, ids.len(), members))
    }
    .await;
    let (group, count, members) = match loaded {
        Ok(loaded) => loaded,
        Err(error) => return error_page(state, admin, &error),
    };
    let now = state.core.clock.now();
    let base = format!("/admin/groups/{id}");
    let mut chrome = chrome;
    chrome.title = format!("{}: {}", admin.t.group_label, group.name);
    let page = GroupPage {
        t: admin.t,
        name: group.name.clone(),
        description: group.description.clone(),
        more_members: count.saturating_sub(members.len()),
        members: members
            .iter()
            .map(|u| (user_row(admin, u, now), format!("{base}/members/{}/remove", u.id)))
            .collect(),
        sections: permission_form(&group.permissions),
        json: serde_json::to_string_pretty(&group.permissions).unwrap_or_default(),
        permissions_action: format!("{base}/permissions"),
        base,
        chrome,
    };
    render(state, admin, status, &page)
}

/// `GET /admin/groups/{id}`.
pub async fn page(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
    PageQuery(query): PageQuery<DoneQuery>,
) -> Response {
    let id: GroupId = match path_id(&state, &admin, &id, "group") {
        Ok(id) => id,
        Err(response) => return response,
    };
    let chrome = AdminChrome::new(&state, &admin, admin.t.groups_title, "/admin/groups")
        .notice(notice(&admin, query.done.as_deref()));
    group_view(&state, &admin, id, chrome, StatusCode::OK).await
}

/// Back to the group's page saying what was done, or the page again with the error.
async fn outcome<T>(state: &AppState, admin: &Admin, id: GroupId, result: Result<T, Error>, key: &str) -> Response {
    match result {
        Ok(_) => done(&format!("/admin/groups/{id}"), key),
        Err(error @ (Error::Unavailable | Error::Internal(_))) => error_page(state, admin, &error),
        Err(error) => {
            let chrome = AdminChrome::new(state, admin, admin.t.groups_title, "/admin/groups")
                .core_error(&error, &["name", "description", "login", "json"]);
            group_view(state, admin, id, chrome, crate::error::status_of(&error)).await
        }
    }
}

/// `POST /admin/groups/{id}/rename`: name and description.
pub async fn rename(
    State(state): State<AppState>,
    Path(id): Path<String>,
    AdminForm { admin, form }: AdminForm<GroupForm>,
) -> Response {
    let id: GroupId = match path_id(&state, &admin, &id, "group") {
        Ok(id) => id,
        Err(response) => return response,
    };
    let changes = GroupChanges {
        name: Some(form.name),
        description: Some(form.description),
        permissions: None,
    };
    let result = state.core.update_group(&admin.actor, id, changes).await;
    outcome(&state, &admin, id, result, "renamed").await
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct MemberForm {
    login: String,
}

/// `POST /admin/groups/{id}/members`: adds the user of `login` (email or username).
pub async fn add_member(
    State(state): State<AppState>,
    Path(id): Path<String>,
    AdminForm { admin, form }: AdminForm<MemberForm>,
) -> Response {
    let id: GroupId = match path_id(&state, &admin, &id, "group") {
        Ok(id) => id,
        Err(response) => return response,
    };
    let result = async {
        let login = form.login.trim();
        if login.is_empty() {
            return Err(Error::invalid("login", "must not be empty"));
        }
        let user = match state.core.find_user(&admin.actor, login).await {
            Err(Error::NotFound(_)) => return Err(Error::invalid("login", "names no user")),
            other => other?,
        };
        state.core.add_group_members(&admin.actor, id, &[user.id]).await
    }
    .await;
    outcome(&state, &admin, id, result, "member_added").await
}

/// `POST /admin/groups/{id}/members/{user}/remove`.
pub async fn remove_member(
    State(state): State<AppState>,
    Path((id, user)): Path<(String, String)>,
    AdminForm { admin, .. }: AdminForm<Empty>,
) -> Response {
    let id: GroupId = match path_id(&state, &admin, &id, "group") {
        Ok(id) => id,
        Err(response) => return response,
    };
    let result = match user.parse::<UserId>() {
        Ok(user) => state.core.remove_group_members(&admin.actor, id, &[user]).await,
        Err(_) => Err(Error::NotFound("user")),
    };
    outcome(&state, &admin, id, result, "member_removed").await
}

/// The permissions a permissions form asks for: from the checkboxes (`mode=form`), or the
/// JSON text (`mode=json`), over `current`.
fn submitted_permissions(current: &Value, fields: &[(String, String)]) -> Result<Value, Error> {
    let mode = fields.iter().find(|(n, _)| n == "mode").map(|(_, v)| v.as_str());
    match mode {
        Some("json") => {
            let text = fields.iter().find(|(n, _)| n == "json").map_or("", |(_, v)| v.as_str());
            serde_json::from_str::<Value>(text).map_err(|e| Error::invalid("json", format!("is not JSON: {e}")))
        }
        _ => Ok(permissions_from_form(current, fields)),
    }
}

/// `POST /admin/groups/{id}/permissions`.
pub async fn permissions(
    State(state): State<AppState>,
    Path(id): Path<String>,
    AdminForm { admin, form: fields }: AdminForm<Vec<(String, String)>>,
) -> Response {
    let id: GroupId = match path_id(&state, &admin, &id, "group") {
        Ok(id) => id,
        Err(response) => return response,
    };
    let result = async {
        let group = state.core.get_group(&admin.actor, id).await?;
        let permissions = submitted_permissions(&group.permissions, &fields)?;
        let changes = GroupChanges {
            permissions: Some(permissions),
            ..GroupChanges::default()
        };
        state.core.update_group(&admin.actor, id, changes).await
    }
    .await;
    outcome(&state, &admin, id, result, "permissions").await
}

/// `POST /admin/groups/{id}/delete` (confirmed).
pub async fn delete(
    State(state): State<AppState>,
    meta: Meta,
    Path(id): Path<String>,
    AdminForm { admin, form: given }: AdminForm<Confirmation>,
) -> Response {
    let id: GroupId = match path_id(&state, &admin, &id, "group") {
        Ok(id) => id,
        Err(response) => return response,
    };
    let group = match state.core.get_group(&admin.actor, id).await {
        Ok(group) => group,
        Err(error) => return error_page(&state, &admin, &error),
    };
    let ask = Ask {
        action: format!("/admin/groups/{id}/delete"),
        question: fill(admin.t.confirm_delete_group, &[("group", &group.name)]),
        hidden: Vec::new(),
        typed: None,
        cancel: format!("/admin/groups/{id}"),
    };
    if let Err(response) = confirm(&state, &admin, &meta, ask, &given).await {
        return response;
    }
    match state.core.delete_group(&admin.actor, id).await {
        Ok(()) => done("/admin/groups", "deleted"),
        Err(error) => outcome::<()>(&state, &admin, id, Err(error), "").await,
    }
}

#[derive(Template)]
#[template(path = "pages/admin/template.html")]
pub struct TemplatePage {
    pub chrome: AdminChrome,
    pub t: &'static super::strings::AdminStrings,
    pub sections: Vec<PermissionSection>,
    pub json: String,
    pub permissions_action: String,
}

async fn template_view(state: &AppState, admin: &Admin, chrome: AdminChrome, status: StatusCode) -> Response {
    let template = match state
        .core
        .permission_template(&admin.actor, DEFAULT_TEMPLATE, &builtin_permissions())
        .await
    {
        Ok(template) => template,
        Err(error) => return error_page(state, admin, &error),
    };
    let page = TemplatePage {
        chrome,
        t: admin.t,
        sections: permission_form(&template),
        json: serde_json::to_string_pretty(&template).unwrap_or_default(),
        permissions_action: "/admin/permissions".into(),
    };
    render(state, admin, status, &page)
}

/// `GET /admin/permissions`: the default template.
pub async fn template(State(state): State<AppState>, admin: Admin, PageQuery(query): PageQuery<DoneQuery>) -> Response {
    let chrome = AdminChrome::new(&state, &admin, admin.t.template_title, "/admin/permissions")
        .notice(notice(&admin, query.done.as_deref()));
    template_view(&state, &admin, chrome, StatusCode::OK).await
}

/// `POST /admin/permissions`.
pub async fn save_template(
    State(state): State<AppState>,
    AdminForm { admin, form: fields }: AdminForm<Vec<(String, String)>>,
) -> Response {
    let result = async {
        let current = state
            .core
            .permission_template(&admin.actor, DEFAULT_TEMPLATE, &builtin_permissions())
            .await?;
        let permissions = submitted_permissions(&current, &fields)?;
        state
            .core
            .set_permission_template(&admin.actor, DEFAULT_TEMPLATE, permissions)
            .await
    }
    .await;
    match result {
        Ok(_) => done("/admin/permissions", "permissions"),
        Err(error @ (Error::Unavailable | Error::Internal(_))) => error_page(&state, &admin, &error),
        Err(error) => {
            let chrome = AdminChrome::new(&state, &admin, admin.t.template_title, "/admin/permissions")
                .core_error(&error, &["json"]);
            template_view(&state, &admin, chrome, crate::error::status_of(&error)).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_form_sets_every_known_key_and_keeps_the_others() {
        let current = json!({"chat": {"delete": true, "custom": true}, "extra": {"x": true}});
        let fields = vec![
            ("csrf".to_string(), "t".to_string()),
            ("perm.features.api_keys".to_string(), "on".to_string()),
        ];
        let result = permissions_from_form(&current, &fields);
        assert_eq!(result["features"]["api_keys"], json!(true));
        assert_eq!(result["chat"]["delete"], json!(false));
        assert_eq!(result["chat"]["custom"], json!(true));
        assert_eq!(result["extra"], json!({"x": true}));
        let form = permission_form(&result);
        let features = form.iter().find(|s| s.name == "features").unwrap();
        let api_keys = features
            .boxes
            .iter()
            .find(|b| b.name == "perm.features.api_keys")
            .unwrap();
        assert!(api_keys.checked);
        assert_eq!(api_keys.label, "api keys");
    }
}
