//! Who may call what: every authenticated native endpoint against anonymous, pending,
//! deactivated, the user themself, another user, and an admin.

use reqwest::Method;
use roster_core::Role;
use roster_core::service::AdminUserChanges;
use roster_testkit::{Backend, backend_tests, spawn_app};
use serde_json::{Value, json};

#[derive(Clone, Copy, Debug)]
enum Caller {
    Anonymous,
    Pending,
    Deactivated,
    User,
    Admin,
}

/// (method, path, body, expected status for: anonymous, pending, deactivated, user, admin).
/// `{self}` is the caller's id, `{other}` another user's.
fn matrix() -> Vec<(Method, &'static str, Option<Value>, [u16; 5])> {
    vec![
        (Method::GET, "/v1/me", None, [401, 403, 401, 200, 200]),
        (
            Method::PATCH,
            "/v1/me",
            Some(json!({"bio": "hi"})),
            [401, 403, 401, 200, 200],
        ),
        (
            Method::POST,
            "/v1/me/password",
            Some(json!({"current_password": "wrong", "new_password": "whatever long"})),
            [401, 403, 401, 422, 422],
        ),
        (Method::GET, "/v1/me/sessions", None, [401, 403, 401, 200, 200]),
        (Method::DELETE, "/v1/me/sessions/1", None, [401, 403, 401, 404, 404]),
        (
            Method::POST,
            "/v1/me/sessions/revoke-others",
            Some(json!({})),
            [401, 403, 401, 200, 200],
        ),
        (Method::GET, "/v1/me/api-keys", None, [401, 403, 401, 200, 200]),
        (
            Method::POST,
            "/v1/me/api-keys",
            Some(json!({"name": "m"})),
            [401, 403, 401, 201, 201],
        ),
        (Method::DELETE, "/v1/me/api-keys/1", None, [401, 403, 401, 404, 404]),
        (Method::GET, "/v1/users", None, [401, 403, 401, 403, 200]),
        (
            Method::POST,
            "/v1/users",
            Some(json!({"username": "{unique}"})),
            [401, 403, 401, 403, 201],
        ),
        (Method::GET, "/v1/users/{self}", None, [401, 403, 401, 200, 200]),
        (Method::GET, "/v1/users/{other}", None, [401, 403, 401, 403, 200]),
        (
            Method::PATCH,
            "/v1/users/{other}",
            Some(json!({"bio": "x"})),
            [401, 403, 401, 403, 200],
        ),
        (
            Method::PATCH,
            "/v1/users/{self}",
            Some(json!({"bio": "x"})),
            [401, 403, 401, 403, 200],
        ),
        (
            Method::POST,
            "/v1/users/{other}/sessions/revoke",
            Some(json!({})),
            [401, 403, 401, 403, 200],
        ),
        (Method::DELETE, "/v1/users/{self}", None, [401, 403, 401, 403, 403]),
        (Method::DELETE, "/v1/users/{other}", None, [401, 403, 401, 403, 204]),
        (Method::GET, "/v1/groups", None, [401, 403, 401, 200, 200]),
        (
            Method::POST,
            "/v1/groups",
            Some(json!({"name": "{unique}"})),
            [401, 403, 401, 403, 201],
        ),
        (Method::GET, "/v1/groups/1", None, [401, 403, 401, 404, 404]),
        (
            Method::PATCH,
            "/v1/groups/1",
            Some(json!({"name": "n"})),
            [401, 403, 401, 403, 404],
        ),
        (Method::DELETE, "/v1/groups/1", None, [401, 403, 401, 403, 404]),
        (Method::GET, "/v1/groups/1/members", None, [401, 403, 401, 403, 404]),
        (
            Method::POST,
            "/v1/groups/1/members",
            Some(json!({"user_ids": ["{other}"]})),
            [401, 403, 401, 403, 404],
        ),
        (
            Method::DELETE,
            "/v1/groups/1/members",
            Some(json!({"user_ids": ["{other}"]})),
            [401, 403, 401, 403, 404],
        ),
        (
            Method::GET,
            "/v1/groups/permissions/default",
            None,
            [401, 403, 401, 403, 200],
        ),
        (
            Method::PUT,
            "/v1/groups/permissions/default",
            Some(json!({"chat": {"delete": true}})),
            [401, 403, 401, 403, 200],
        ),
        (Method::GET, "/v1/me/permissions", None, [401, 403, 401, 200, 200]),
    ]
}

async fn every_endpoint_checks_its_caller(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let admin = app.admin().await;
    let user = app.user(Role::User).await;
    let deactivated = app.deactivated_user().await;
    let pending = app.user(Role::User).await;
    let pending_key = app.api_key(&pending, &[]).await;
    app.set_user(
        pending.id,
        AdminUserChanges {
            role: Some(Role::Pending),
            ..Default::default()
        },
    )
    .await;
    let mut unique = 0;
    for (column, caller) in [
        Caller::Anonymous,
        Caller::Pending,
        Caller::Deactivated,
        Caller::User,
        Caller::Admin,
    ]
    .into_iter()
    .enumerate()
    {
        // A fresh victim per caller, so destructive calls by one do not affect the next.
        let other = app.user(Role::User).await;
        let (token, self_id) = match caller {
            Caller::Anonymous => (None, user.id),
            Caller::Pending => (Some(pending_key.clone()), pending.id),
            Caller::Deactivated => (Some(deactivated.access_token.clone()), deactivated.id),
            Caller::User => (Some(user.access_token.clone()), user.id),
            Caller::Admin => (Some(admin.access_token.clone()), admin.id),
        };
        for (method, path, body, expected) in matrix() {
            unique += 1;
            let path = path
                .replace("{self}", &self_id.to_string())
                .replace("{other}", &other.id.to_string());
            let body = body.map(|b| {
                let text = b
                    .to_string()
                    .replace("{unique}", &format!("made{unique}"))
                    .replace("{other}", &other.id.to_string());
                serde_json::from_str(&text).unwrap()
            });
            let r = app
                .request(method.clone(), &path, token.as_deref(), body.as_ref())
                .await;
            assert_eq!(
                r.status.as_u16(),
                expected[column],
                "{caller:?} {method} {path}: {}",
                r.text
            );
        }
    }
}

backend_tests!(every_endpoint_checks_its_caller);
