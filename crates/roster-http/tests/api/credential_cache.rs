//! The credential cache: sessions, API keys and their users are remembered between requests,
//! and every change that ends or alters them takes effect on the next request of the instance
//! that made it, and within a second on another process over the same database (a second
//! store here, as the admin commands or another instance have). While the notification
//! channel is down, every request reads the database. The same holds for what the dialects'
//! current-user routes show beside the user: the effective permissions (the template and the
//! groups), two-factor authentication, badges and the Langflow store key.

use roster_core::service::{
    AdminUserChanges, DEFAULT_TEMPLATE, GroupChanges, ListUsers, NewGroup, NewUser, UserListing,
};
use roster_core::store::UserSort;
use roster_core::{Actor, Core, CoreConfig, Role, Store};
use roster_testkit::app::TestApp;
use roster_testkit::app::spawn_app_with_redis_changes;
use roster_testkit::{Backend, spawn_app};
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Requests `/v1/me` twice (the second answered from the cache) and expects 200.
async fn warm(app: &TestApp, token: &str) {
    assert!(app.core.credential_cache_live(), "the change watcher runs");
    for _ in 0..2 {
        app.get("/v1/me", Some(token)).await.assert_status(200);
    }
}

async fn every_change_takes_effect_on_the_next_request(setup: Setup) {
    let app = roster_testkit::or_skip!(setup.spawn().await);
    let admin = app.admin().await;
    let op = app.core.operator();

    // Ending a session.
    let user = app.user(Role::User).await;
    warm(&app, &user.access_token).await;
    let second = app.login(&user.email, &user.password).await.body["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    warm(&app, &second).await;
    let sessions = app.get("/v1/me/sessions", Some(&second)).await.body;
    let first = sessions
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["current"] == false)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    app.delete(&format!("/v1/me/sessions/{first}"), Some(&second))
        .await
        .assert_status(204);
    app.get("/v1/me", Some(&user.access_token))
        .await
        .assert_problem(401, "invalid_token");
    app.get("/v1/me", Some(&second)).await.assert_status(200);

    // Revoking an API key.
    let key = app.api_key(&admin, &[]).await;
    warm(&app, &key).await;
    let keys = app.get("/v1/me/api-keys", Some(&admin.access_token)).await.body;
    let key_id = keys.as_array().unwrap()[0]["id"].as_str().unwrap().to_string();
    app.delete(&format!("/v1/me/api-keys/{key_id}"), Some(&admin.access_token))
        .await
        .assert_status(204);
    app.get("/v1/me", Some(&key)).await.assert_problem(401, "invalid_token");

    // A ban, and its end.
    warm(&app, &second).await;
    app.core
        .ban_user(op, user.id, time::Duration::hours(1), Some("test"))
        .await
        .unwrap();
    app.get("/v1/me", Some(&second)).await.assert_status(403);
    app.core.unban_user(op, user.id).await.unwrap();
    app.get("/v1/me", Some(&second)).await.assert_status(200);

    // A role change shows at once.
    app.patch(
        &format!("/v1/users/{}", user.id),
        Some(&admin.access_token),
        &json!({"role": "admin"}),
    )
    .await
    .assert_status(200);
    let me = app.get("/v1/me", Some(&second)).await;
    me.assert_status(200);
    assert_eq!(me.body["role"], "admin");
    app.get("/v1/users", Some(&second)).await.assert_status(200);
    app.patch(
        &format!("/v1/users/{}", user.id),
        Some(&admin.access_token),
        &json!({"role": "user"}),
    )
    .await
    .assert_status(200);
    app.get("/v1/users", Some(&second)).await.assert_status(403);

    // Deactivation.
    app.patch(
        &format!("/v1/users/{}", user.id),
        Some(&admin.access_token),
        &json!({"active": false}),
    )
    .await
    .assert_status(200);
    app.get("/v1/me", Some(&second)).await.assert_status(401);

    // A password change ends the other sessions (and an API key's owner keeps their key).
    let other = app.user(Role::User).await;
    let other_second = app.login(&other.email, &other.password).await.body["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    warm(&app, &other_second).await;
    warm(&app, &other.access_token).await;
    app.post(
        "/v1/me/password",
        Some(&other.access_token),
        &json!({"current_password": other.password, "new_password": "a brand new password"}),
    )
    .await
    .assert_status(204);
    app.get("/v1/me", Some(&other_second))
        .await
        .assert_problem(401, "invalid_token");

    // Deletion.
    let doomed = app.user(Role::User).await;
    let doomed_key = app.api_key(&doomed, &[]).await;
    warm(&app, &doomed.access_token).await;
    warm(&app, &doomed_key).await;
    app.delete(&format!("/v1/users/{}", doomed.id), Some(&admin.access_token))
        .await
        .assert_status(204);
    app.get("/v1/me", Some(&doomed.access_token)).await.assert_status(401);
    app.get("/v1/me", Some(&doomed_key)).await.assert_status(401);

    // A profile change shows at once too.
    app.patch("/v1/me", Some(&admin.access_token), &json!({"name": "Renamed"}))
        .await
        .assert_status(200);
    let me = app.get("/v1/me", Some(&admin.access_token)).await;
    assert_eq!(me.body["name"], "Renamed");
}

/// A second store and core over the same database: what another instance, or the admin
/// commands, hold.
async fn another_process(app: &TestApp) -> (Arc<dyn Store>, Core) {
    another_process_on(app, app.db.store().await).await
}

/// A core over `store` (another process's store of the app's database).
async fn another_process_on(app: &TestApp, store: Arc<dyn Store>) -> (Arc<dyn Store>, Core) {
    let config = CoreConfig {
        secret_key: app.core.config.secret_key.clone(),
        ..CoreConfig::default()
    };
    let core = Core::new(store.clone(), app.clock.clone(), config).await.unwrap();
    (store, core)
}

/// Asks `check` every 10 ms until it holds (answers None), and fails with what it last said
/// once a second has passed.
async fn within_a_second<F, Fut>(mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<String>>,
{
    let started = Instant::now();
    loop {
        let Some(still) = check().await else {
            return;
        };
        assert!(started.elapsed() < Duration::from_secs(1), "{still}, after a second");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Waits, at most a second, until `/v1/me` answers `status` for `token` (0: any refusal, 401
/// or 403).
async fn answered_within_a_second(app: &TestApp, token: &str, status: u16) {
    within_a_second(move || async move {
        let got = app.get("/v1/me", Some(token)).await.status;
        let done = got == status || (status == 0 && matches!(got.as_u16(), 401 | 403));
        (!done).then(|| format!("still {got}, not {status}"))
    })
    .await;
}

async fn changes_by_another_process_take_effect_within_a_second(setup: Setup) {
    let app = roster_testkit::or_skip!(setup.spawn().await);
    let _admin = app.admin().await;
    let user = app.user(Role::User).await;
    let key = app.api_key(&user, &[]).await;
    warm(&app, &user.access_token).await;
    warm(&app, &key).await;
    let (store, other) = another_process(&app).await;
    let op = other.operator();

    other
        .ban_user(op, user.id, time::Duration::hours(1), None)
        .await
        .unwrap();
    answered_within_a_second(&app, &user.access_token, 403).await;
    answered_within_a_second(&app, &key, 403).await;
    other.unban_user(op, user.id).await.unwrap();
    answered_within_a_second(&app, &user.access_token, 200).await;

    other
        .admin_update_user(
            op,
            user.id,
            AdminUserChanges {
                role: Some(Role::Admin),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let started = Instant::now();
    while app.get("/v1/me", Some(&user.access_token)).await.body["role"] != "admin" {
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "the role change is not seen"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    other
        .admin_update_user(
            op,
            user.id,
            AdminUserChanges {
                active: Some(false),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    answered_within_a_second(&app, &user.access_token, 401).await;
    answered_within_a_second(&app, &key, 0).await;
    other
        .admin_update_user(
            op,
            user.id,
            AdminUserChanges {
                active: Some(true),
                password: Some("changed by another".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    // The password set by an administrator ends the sessions.
    answered_within_a_second(&app, &user.access_token, 401).await;

    let fresh = app.login(&user.email, "changed by another").await.body["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    warm(&app, &fresh).await;
    other.delete_user(op, user.id).await.unwrap();
    answered_within_a_second(&app, &fresh, 401).await;
    store.close().await;
}

const OPENWEBUI_SESSION: &str = "/openwebui/api/v1/auths/";
const LIBRECHAT_USER: &str = "/librechat/api/user";
const PLEXICHAT_ME: &str = "/plexichat/users/@me";
const LANGFLOW_WHOAMI: &str = "/langflow/api/v1/users/whoami";

/// What `path` answers `token` at `pointer` (a JSON pointer into the body), after a 200.
async fn shown(app: &TestApp, path: &str, token: &str, pointer: &str) -> serde_json::Value {
    let r = app.get(path, Some(token)).await;
    r.assert_status(200);
    r.body
        .pointer(pointer)
        .cloned()
        .unwrap_or_else(|| panic!("{path}: no {pointer} in {}", r.body))
}

/// Open WebUI's `permissions.chat.delete` for `token`.
async fn may_delete_chats(app: &TestApp, token: &str) -> serde_json::Value {
    shown(app, OPENWEBUI_SESSION, token, "/permissions/chat/delete").await
}

/// Asks twice (the second answered from what the core remembers) and expects `value` both
/// times.
async fn remembered(app: &TestApp, path: &str, token: &str, pointer: &str, value: serde_json::Value) {
    assert!(app.core.credential_cache_live(), "the change watcher runs");
    for _ in 0..2 {
        assert_eq!(shown(app, path, token, pointer).await, value, "{path} {pointer}");
    }
}

fn grant(delete: bool) -> serde_json::Value {
    json!({"chat": {"delete": delete}})
}

async fn user_facts_change_on_the_next_request(setup: Setup) {
    let app = roster_testkit::or_skip!(setup.spawn().await);
    let admin = app.admin().await;
    let by = app.core.authenticate_access_token(&admin.access_token).await.unwrap();
    let user = app.user(Role::User).await;
    let t = user.access_token.as_str();
    let delete = "/permissions/chat/delete";

    // The permission template, then a group: created, joined, its permissions changed, left,
    // joined again and deleted.
    remembered(&app, OPENWEBUI_SESSION, t, delete, json!(true)).await;
    app.core
        .set_permission_template(&by, DEFAULT_TEMPLATE, grant(false))
        .await
        .unwrap();
    assert_eq!(may_delete_chats(&app, t).await, false, "the template");
    remembered(&app, OPENWEBUI_SESSION, t, delete, json!(false)).await;
    let group = app
        .core
        .create_group(
            &by,
            NewGroup {
                name: "deleters".into(),
                description: None,
                permissions: Some(grant(true)),
            },
        )
        .await
        .unwrap();
    app.core.add_group_members(&by, group.id, &[user.id]).await.unwrap();
    assert_eq!(may_delete_chats(&app, t).await, true, "joined");
    remembered(&app, OPENWEBUI_SESSION, t, delete, json!(true)).await;
    let permissions = |value| GroupChanges {
        permissions: Some(value),
        ..GroupChanges::default()
    };
    app.core
        .update_group(&by, group.id, permissions(json!({})))
        .await
        .unwrap();
    assert_eq!(may_delete_chats(&app, t).await, false, "the group's grant removed");
    app.core
        .update_group(&by, group.id, permissions(grant(true)))
        .await
        .unwrap();
    assert_eq!(may_delete_chats(&app, t).await, true, "the group's grant back");
    app.core.remove_group_members(&by, group.id, &[user.id]).await.unwrap();
    assert_eq!(may_delete_chats(&app, t).await, false, "left");
    app.core.add_group_members(&by, group.id, &[user.id]).await.unwrap();
    remembered(&app, OPENWEBUI_SESSION, t, delete, json!(true)).await;
    app.core.delete_group(&by, group.id).await.unwrap();
    assert_eq!(may_delete_chats(&app, t).await, false, "the group deleted");
    // The permission routes of Open WebUI show the same.
    let r = app.get("/openwebui/api/v1/users/permissions", Some(t)).await;
    r.assert_status(200);
    assert_eq!(r.body["chat"]["delete"], false);

    // Two-factor authentication (LibreChat and Plexichat show it).
    remembered(&app, LIBRECHAT_USER, t, "/twoFactorEnabled", json!(false)).await;
    remembered(&app, PLEXICHAT_ME, t, "/totp_enabled", json!(false)).await;
    super::two_factor::enable(&app, &user).await;
    assert_eq!(shown(&app, LIBRECHAT_USER, t, "/twoFactorEnabled").await, true);
    assert_eq!(shown(&app, PLEXICHAT_ME, t, "/totp_enabled").await, true);

    // Badges.
    remembered(&app, PLEXICHAT_ME, t, "/badges", json!([])).await;
    app.core.add_badge(&by, user.id, "early").await.unwrap();
    assert_eq!(shown(&app, PLEXICHAT_ME, t, "/badges").await, json!(["early"]));
    remembered(&app, PLEXICHAT_ME, t, "/badges", json!(["early"])).await;
    app.core.remove_badge(&by, user.id, "early").await.unwrap();
    assert_eq!(shown(&app, PLEXICHAT_ME, t, "/badges").await, json!([]));

    // The Langflow store key.
    remembered(&app, LANGFLOW_WHOAMI, t, "/store_api_key", json!(null)).await;
    app.post(
        "/langflow/api/v1/api_key/store",
        Some(t),
        &json!({"api_key": "a-store-key"}),
    )
    .await
    .assert_status(200);
    assert!(shown(&app, LANGFLOW_WHOAMI, t, "/store_api_key").await.is_string());
    app.post("/langflow/api/v1/api_key/store", Some(t), &json!({"api_key": ""}))
        .await
        .assert_status(200);
    assert_eq!(shown(&app, LANGFLOW_WHOAMI, t, "/store_api_key").await, json!(null));
}

/// Waits, at most a second, until `path` shows `value` at `pointer` to `token`.
async fn shown_within_a_second(app: &TestApp, path: &str, token: &str, pointer: &str, value: serde_json::Value) {
    let value = &value;
    within_a_second(move || async move {
        let got = shown(app, path, token, pointer).await;
        (got != *value).then(|| format!("{path} {pointer}: still {got}, not {value}"))
    })
    .await;
}

async fn user_facts_changed_by_another_process_within_a_second(setup: Setup) {
    let app = roster_testkit::or_skip!(setup.spawn().await);
    let admin = app.admin().await;
    let user = app.user(Role::User).await;
    let t = user.access_token.as_str();
    let delete = "/permissions/chat/delete";
    let (store, other) = another_process(&app).await;
    let by: Actor = other.authenticate_access_token(&admin.access_token).await.unwrap();
    let as_user: Actor = other.authenticate_access_token(t).await.unwrap();

    remembered(&app, OPENWEBUI_SESSION, t, delete, json!(true)).await;
    other
        .set_permission_template(&by, DEFAULT_TEMPLATE, grant(false))
        .await
        .unwrap();
    shown_within_a_second(&app, OPENWEBUI_SESSION, t, delete, json!(false)).await;
    let group = other
        .create_group(
            &by,
            NewGroup {
                name: "deleters".into(),
                description: None,
                permissions: Some(grant(true)),
            },
        )
        .await
        .unwrap();
    remembered(&app, OPENWEBUI_SESSION, t, delete, json!(false)).await;
    other.add_group_members(&by, group.id, &[user.id]).await.unwrap();
    shown_within_a_second(&app, OPENWEBUI_SESSION, t, delete, json!(true)).await;
    remembered(&app, OPENWEBUI_SESSION, t, delete, json!(true)).await;
    other
        .update_group(
            &by,
            group.id,
            GroupChanges {
                permissions: Some(json!({})),
                ..GroupChanges::default()
            },
        )
        .await
        .unwrap();
    shown_within_a_second(&app, OPENWEBUI_SESSION, t, delete, json!(false)).await;
    other
        .update_group(
            &by,
            group.id,
            GroupChanges {
                permissions: Some(grant(true)),
                ..GroupChanges::default()
            },
        )
        .await
        .unwrap();
    shown_within_a_second(&app, OPENWEBUI_SESSION, t, delete, json!(true)).await;
    remembered(&app, OPENWEBUI_SESSION, t, delete, json!(true)).await;
    other.remove_group_members(&by, group.id, &[user.id]).await.unwrap();
    shown_within_a_second(&app, OPENWEBUI_SESSION, t, delete, json!(false)).await;
    other.add_group_members(&by, group.id, &[user.id]).await.unwrap();
    shown_within_a_second(&app, OPENWEBUI_SESSION, t, delete, json!(true)).await;
    remembered(&app, OPENWEBUI_SESSION, t, delete, json!(true)).await;
    other.delete_group(&by, group.id).await.unwrap();
    shown_within_a_second(&app, OPENWEBUI_SESSION, t, delete, json!(false)).await;

    // Two-factor authentication turned off by an administrator elsewhere.
    super::two_factor::enable(&app, &user).await;
    remembered(&app, LIBRECHAT_USER, t, "/twoFactorEnabled", json!(true)).await;
    remembered(&app, PLEXICHAT_ME, t, "/totp_enabled", json!(true)).await;
    assert!(other.admin_disable_two_factor(&by, user.id).await.unwrap());
    shown_within_a_second(&app, LIBRECHAT_USER, t, "/twoFactorEnabled", json!(false)).await;
    shown_within_a_second(&app, PLEXICHAT_ME, t, "/totp_enabled", json!(false)).await;

    // A badge.
    remembered(&app, PLEXICHAT_ME, t, "/badges", json!([])).await;
    other.add_badge(&by, user.id, "early").await.unwrap();
    shown_within_a_second(&app, PLEXICHAT_ME, t, "/badges", json!(["early"])).await;

    // The Langflow store key.
    remembered(&app, LANGFLOW_WHOAMI, t, "/store_api_key", json!(null)).await;
    other.set_langflow_store_api_key(&as_user, "a-store-key").await.unwrap();
    let started = Instant::now();
    while !shown(&app, LANGFLOW_WHOAMI, t, "/store_api_key").await.is_string() {
        assert!(started.elapsed() < Duration::from_secs(1), "the store key is not seen");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    store.close().await;
}

/// The total of the native user list.
async fn total(app: &TestApp, token: Option<&str>) -> i64 {
    let r = app.get("/v1/users?limit=1&total=true", token).await;
    r.assert_status(200);
    r.body["total"].as_i64().unwrap()
}

/// The totals of user lists are remembered (see `user_counts` in the core): a user this
/// instance creates counts on its next request; one another process creates counts once the
/// remembered total expires (a second, plus the one recount).
async fn list_totals_follow_changes(setup: Setup) {
    let app = roster_testkit::or_skip!(setup.spawn().await);
    let admin = app.admin().await;
    let t = Some(admin.access_token.as_str());
    let before = total(&app, t).await;
    assert_eq!(total(&app, t).await, before, "remembered");
    // Created here: counted on the next request.
    app.post(
        "/v1/users",
        t,
        &json!({"email": "counted-here@example.com", "password": "a long password 1"}),
    )
    .await
    .assert_status(201);
    assert_eq!(total(&app, t).await, before + 1);
    // Created by another process: counted within a few seconds, never lost.
    let (store, other) = another_process(&app).await;
    other
        .create_user(
            other.operator(),
            NewUser {
                email: Some("counted-elsewhere@example.com".into()),
                ..NewUser::default()
            },
        )
        .await
        .unwrap();
    let started = Instant::now();
    while total(&app, t).await != before + 2 {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the other process's user is not counted"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    store.close().await;
}

/// The ids of the page of 5 at offset 10 in creation order (Open WebUI's and Langflow's
/// paging), as an administrator lists them.
async fn deep_page(app: &TestApp, token: &str) -> Vec<i64> {
    let actor = app.core.authenticate_bearer(token).await.unwrap();
    let request = ListUsers {
        sort: UserSort::CreatedAt,
        limit: Some(5),
        ..ListUsers::default()
    };
    let page = app
        .core
        .list_users_by_offset(&actor, UserListing::Administered, request, 10)
        .await
        .unwrap();
    page.users.iter().map(|u| u.id.0).collect()
}

/// Offset paging remembers the positions it found (see `user_positions` in the core): a user
/// this instance deletes before a deep page shifts that page on its next request; one another
/// process deletes shifts it once the positions expire (five seconds), never later.
async fn deep_pages_follow_changes(setup: Setup) {
    let app = roster_testkit::or_skip!(setup.spawn().await);
    let admin = app.admin().await;
    let mut users = Vec::new();
    for _ in 0..20 {
        users.push(app.user(Role::User).await);
        app.advance(time::Duration::milliseconds(1));
    }
    let before = deep_page(&app, &admin.access_token).await;
    assert_eq!(before.len(), 5);
    assert_eq!(deep_page(&app, &admin.access_token).await, before, "remembered");
    // Deleted here, before the page: the page starts one user later at once.
    app.core.delete_user(app.core.operator(), users[2].id).await.unwrap();
    let shifted = deep_page(&app, &admin.access_token).await;
    assert_eq!(shifted[..4], before[1..], "the page follows this instance's deletion");
    // Deleted by another process, before the page: shifted within the positions' lifetime.
    let (store, other) = another_process(&app).await;
    other.delete_user(other.operator(), users[3].id).await.unwrap();
    let started = Instant::now();
    loop {
        let now = deep_page(&app, &admin.access_token).await;
        if now[..4] == shifted[1..] {
            break;
        }
        assert_eq!(now, shifted, "either the remembered page or the shifted one");
        assert!(
            started.elapsed() < Duration::from_secs(8),
            "the other process's deletion never shifts the page"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    store.close().await;
}

/// Where a test's app runs: a backend, and on PostgreSQL whether Redis carries the changes.
#[derive(Debug, Clone, Copy)]
enum Setup {
    Sqlite,
    Postgres,
    PostgresRedis,
}

impl Setup {
    async fn spawn(self) -> Option<TestApp> {
        match self {
            Setup::Sqlite => spawn_app(Backend::Sqlite).await,
            Setup::Postgres => spawn_app(Backend::Postgres).await,
            Setup::PostgresRedis => spawn_app_with_redis_changes().await,
        }
    }
}

/// `setup_tests!(a, b)`: `mod sqlite`, `mod postgres` and `mod postgres_redis`, each with a
/// test running `super::a(Setup::X)` on a two-worker runtime.
macro_rules! setup_tests {
    ($($name:ident),+ $(,)?) => {
        setup_tests!(@mod sqlite, Sqlite, $($name),+);
        setup_tests!(@mod postgres, Postgres, $($name),+);
        setup_tests!(@mod postgres_redis, PostgresRedis, $($name),+);
    };
    (@mod $module:ident, $setup:ident, $($name:ident),+) => {
        mod $module {
            $(
                #[test]
                fn $name() {
                    roster_testkit::db::run_backend_test(super::$name(super::Setup::$setup));
                }
            )+
        }
    };
}

setup_tests!(
    every_change_takes_effect_on_the_next_request,
    changes_by_another_process_take_effect_within_a_second,
    list_totals_follow_changes,
    deep_pages_follow_changes,
    user_facts_change_on_the_next_request,
    user_facts_changed_by_another_process_within_a_second,
);

/// PostgreSQL: while the notification channel is down, every request reads the database, so a
/// change no notice reports is still refused on the next request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_channel_every_request_reads_the_database() {
    let app = roster_testkit::or_skip!(spawn_app(Backend::Postgres).await);
    let _admin = app.admin().await;
    let (store, other) = another_process(&app).await;
    let pool = sqlx::PgPool::connect(&app.db.url).await.unwrap();
    let mut proven = false;
    for _ in 0..20 {
        let started = Instant::now();
        while !app.core.credential_cache_live() {
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "the channel does not come back"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let user = app.user(Role::User).await;
        warm(&app, &user.access_token).await;
        // Ends the watcher's connection; the watcher notices, then listens again shortly.
        sqlx::query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND query LIKE 'LISTEN %'",
        )
        .execute(&pool)
        .await
        .unwrap();
        let started = Instant::now();
        while app.core.credential_cache_live() {
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "the lost channel is not noticed"
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        other
            .admin_update_user(
                other.operator(),
                user.id,
                AdminUserChanges {
                    active: Some(false),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let status = app.get("/v1/me", Some(&user.access_token)).await.status;
        if app.core.credential_cache_live() {
            // The channel came back before the request: it proves nothing; again.
            continue;
        }
        assert_eq!(status, 401, "a stale session was served while the channel was down");
        proven = true;
        break;
    }
    assert!(proven, "the channel never stayed down long enough to test");
    // And it comes back: the cache is used again.
    let started = Instant::now();
    while !app.core.credential_cache_live() {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the channel does not come back"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    store.close().await;
    pool.close().await;
}

/// With Redis, a change goes out through Redis: announced as pending before its commit and as
/// done after it, under one token; the database channel carries nothing of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_a_change_is_announced_before_and_after_its_commit() {
    use futures_util::StreamExt as _;
    let app = roster_testkit::or_skip!(spawn_app_with_redis_changes().await);
    let _admin = app.admin().await;
    let user = app.user(Role::User).await;
    warm(&app, &user.access_token).await;
    let (redis_url, prefix) = app.db.redis_changes.clone().expect("Redis carries the changes");
    let client = redis::Client::open(redis_url).unwrap();
    let mut pubsub = client.get_async_pubsub().await.unwrap();
    pubsub.subscribe(format!("{prefix}auth-changes")).await.unwrap();
    let mut messages = pubsub.into_on_message();
    let mut listener = sqlx::postgres::PgListener::connect(&app.db.url).await.unwrap();
    listener.listen("roster_auth").await.unwrap();

    let (store, other) = another_process(&app).await;
    other
        .ban_user(other.operator(), user.id, time::Duration::hours(1), None)
        .await
        .unwrap();
    answered_within_a_second(&app, &user.access_token, 403).await;

    let id = user.id.0.to_string();
    let names_user = |ids: &str| ids.split(',').any(|i| i == id);
    let mut pending: Option<String> = None;
    let started = Instant::now();
    loop {
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "no pending and done pair for the user (pending: {pending:?})"
        );
        let Ok(Some(message)) = tokio::time::timeout(Duration::from_millis(500), messages.next()).await else {
            continue;
        };
        let payload: String = message.get_payload().unwrap();
        let parts: Vec<&str> = payload.splitn(3, ' ').collect();
        match parts.as_slice() {
            ["p", token, ids] if names_user(ids) => pending = Some((*token).to_string()),
            ["d", token, ids] if names_user(ids) => {
                assert_eq!(
                    pending.as_deref(),
                    Some(*token),
                    "done before pending, or another token"
                );
                break;
            }
            _ => {}
        }
    }
    // Only the heartbeats on the database channel (the ban and its pending and done messages
    // are over; a notice of it would be queued by now).
    let drained = Instant::now() + Duration::from_millis(500);
    while let Ok(notice) = tokio::time::timeout_at(drained.into(), listener.try_recv()).await {
        let notice = notice.unwrap().expect("the listener stays connected");
        assert_eq!(notice.payload(), "ping", "a change went through the database channel");
    }
    store.close().await;
}

/// A process whose Redis cannot be reached still gets its changes to the others, through the
/// database in the same transaction; and it serves nothing from memory, since its Redis channel
/// never beats.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_redis_the_database_carries_the_changes() {
    let app = roster_testkit::or_skip!(spawn_app_with_redis_changes().await);
    let _admin = app.admin().await;
    let user = app.user(Role::User).await;
    warm(&app, &user.access_token).await;
    let unreachable = roster_store::RedisChanges::new("redis://127.0.0.1:1", "roster-test:unreachable:").unwrap();
    let store = roster_store::open_with(&app.db.url, Some(unreachable)).await.unwrap();
    let (store, other) = another_process_on(&app, store).await;
    let watcher = tokio::spawn(other.watch_changes());
    other
        .ban_user(other.operator(), user.id, time::Duration::hours(1), None)
        .await
        .unwrap();
    answered_within_a_second(&app, &user.access_token, 403).await;
    other.unban_user(other.operator(), user.id).await.unwrap();
    answered_within_a_second(&app, &user.access_token, 200).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        !other.credential_cache_live(),
        "a process without its Redis channel must read the database on every request"
    );
    watcher.abort();
    store.close().await;
}
