//! Administration of users: list, search, create, read, change, delete.

use roster_core::Role;
use roster_testkit::{Backend, backend_tests, spawn_app};
use serde_json::{Value, json};
use std::collections::HashSet;

async fn make_users(app: &roster_testkit::TestApp, admin: &str, n: usize) {
    for i in 0..n {
        let body = json!({
            "email": format!("member{i:02}@{}.example.org", if i % 2 == 0 { "even" } else { "odd" }),
            "username": format!("Member_{:02}", (n - i)),
            "name": format!("Member {}", (b'a' + (i % 26) as u8) as char),
            "password": "long enough",
        });
        app.post("/v1/users", Some(admin), &body).await.assert_status(201);
    }
}

async fn walk(app: &roster_testkit::TestApp, admin: &str, query: &str) -> Vec<Value> {
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/v1/users?limit=3{query}");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let r = app.get(&path, Some(admin)).await;
        r.assert_status(200);
        let users = r.body["users"].as_array().unwrap();
        assert!(users.len() <= 3);
        all.extend(users.iter().cloned());
        match r.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    all
}

async fn cursor_pages_cover_every_user_once_in_order(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let admin = app.admin().await;
    let t = admin.access_token.as_str();
    make_users(&app, t, 10).await;
    for (sort, key) in [
        ("created_at", "created_at"),
        ("email", "email"),
        ("username", "username"),
        ("name", "name"),
        ("updated_at", "updated_at"),
        ("last_active_at", "last_active_at"),
        ("role", "role"),
    ] {
        for order in ["asc", "desc"] {
            let all = walk(&app, t, &format!("&sort={sort}&order={order}")).await;
            assert_eq!(all.len(), 11, "{sort} {order}");
            let ids: HashSet<_> = all.iter().map(|u| u["id"].as_str().unwrap().to_string()).collect();
            assert_eq!(ids.len(), 11);
            let keys: Vec<(String, i64)> = all
                .iter()
                .map(|u| {
                    let k = u[key].as_str().unwrap_or_default().to_string();
                    let k = if key == "username" { k.to_lowercase() } else { k };
                    (k, u["id"].as_str().unwrap().parse::<i64>().unwrap())
                })
                .collect();
            let mut sorted = keys.clone();
            sorted.sort();
            if order == "desc" {
                sorted.reverse();
            }
            assert_eq!(keys, sorted, "{sort} {order}");
        }
    }
}

async fn search_filters_and_limits(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let admin = app.admin().await;
    let t = admin.access_token.as_str();
    make_users(&app, t, 6).await;
    let r = app.get("/v1/users?q=ODD.example", Some(t)).await;
    r.assert_status(200);
    assert_eq!(r.body["users"].as_array().unwrap().len(), 3);
    let r = app.get("/v1/users?q=member%20c", Some(t)).await;
    assert_eq!(
        r.body["users"].as_array().unwrap().len(),
        1,
        "search covers the name: {}",
        r.text
    );
    let r = app.get("/v1/users?q=member_0", Some(t)).await;
    assert_eq!(
        r.body["users"].as_array().unwrap().len(),
        6,
        "search covers the username"
    );
    let r = app.get("/v1/users?q=%25", Some(t)).await;
    assert_eq!(r.body["users"].as_array().unwrap().len(), 0, "% is literal");
    let r = app.get("/v1/users?q=odd&total=true&limit=1", Some(t)).await;
    assert_eq!(r.body["total"], 3);
    assert_eq!(r.body["users"].as_array().unwrap().len(), 1);
    assert!(app.get("/v1/users?q=odd", Some(t)).await.body.get("total").is_none());
    assert_eq!(app.get("/v1/users?total=true", Some(t)).await.body["total"], 7);
    assert_eq!(
        app.get("/v1/users?q=od&total=true", Some(t)).await.body["total"],
        3,
        "short terms search too"
    );
    // A changed name is found under its new value only.
    let id = app.get("/v1/users?q=member%20c", Some(t)).await.body["users"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    app.patch(&format!("/v1/users/{id}"), Some(t), &json!({"name": "Renamed Quixote"}))
        .await
        .assert_status(200);
    assert_eq!(
        app.get("/v1/users?q=quixote&total=true", Some(t)).await.body["total"],
        1
    );
    assert_eq!(
        app.get("/v1/users?q=member%20c&total=true", Some(t)).await.body["total"],
        0
    );
    let r = app.get("/v1/users?role=admin", Some(t)).await;
    assert_eq!(r.body["users"].as_array().unwrap().len(), 1);
    let r = app.get("/v1/users?limit=2", Some(t)).await;
    assert_eq!(r.body["users"].as_array().unwrap().len(), 2);
    assert!(r.body["next_cursor"].is_string());
    for (query, field, status, code) in [
        ("limit=0", "limit", 422, "invalid_field"),
        ("limit=201", "limit", 422, "invalid_field"),
        ("limit=abc", "limit", 400, "invalid_query"),
        ("sort=password", "sort", 422, "invalid_field"),
        ("order=up", "order", 422, "invalid_field"),
        ("role=root", "role", 422, "invalid_field"),
        ("cursor=xyz", "cursor", 422, "invalid_field"),
        ("bogus=1", "bogus", 400, "invalid_query"),
    ] {
        let r = app.get(&format!("/v1/users?{query}"), Some(t)).await;
        r.assert_problem(status, code);
        assert_eq!(r.body["field"], field, "{query}: {}", r.text);
    }
    // A cursor from another sort is refused.
    let c = app.get("/v1/users?limit=1&sort=email", Some(t)).await.body["next_cursor"]
        .as_str()
        .unwrap()
        .to_string();
    app.get(&format!("/v1/users?sort=name&cursor={c}"), Some(t))
        .await
        .assert_problem(422, "invalid_field");
}

async fn admins_create_and_read_users(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let admin = app.admin().await;
    let t = Some(admin.access_token.as_str());
    let r = app
        .post(
            "/v1/users",
            t,
            &json!({"email": "new@example.org", "name": "New", "role": "pending", "email_verified": true}),
        )
        .await;
    r.assert_status(201);
    assert_eq!(r.body["role"], "pending");
    assert_eq!(r.body["email_verified"], true);
    let id = r.body["id"].as_str().unwrap().to_string();
    let r = app.get(&format!("/v1/users/{id}"), t).await;
    r.assert_status(200);
    assert_eq!(r.body["email"], "new@example.org");
    // Without a password the account cannot log in with one.
    app.login("new@example.org", "anything at all")
        .await
        .assert_problem(401, "invalid_credentials");
    app.post("/v1/users", t, &json!({"email": "NEW@example.org"}))
        .await
        .assert_problem(409, "conflict");
    let r = app
        .post("/v1/users", t, &json!({"email": "x@example.org", "role": "owner"}))
        .await;
    assert_eq!(r.body["field"], "role");
    app.get("/v1/users/123456", t).await.assert_problem(404, "not_found");
    app.get("/v1/users/not-an-id", t)
        .await
        .assert_problem(400, "invalid_id");
}

async fn admins_change_role_activity_and_password(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let admin = app.admin().await;
    let user = app.user(Role::User).await;
    let t = Some(admin.access_token.as_str());
    let path = format!("/v1/users/{}", user.id);
    let r = app.patch(&path, t, &json!({"role": "admin", "name": "Promoted"})).await;
    r.assert_status(200);
    assert_eq!(r.body["role"], "admin");
    assert_eq!(r.body["name"], "Promoted");
    // Deactivation revokes every session: reactivating does not bring them back.
    app.patch(&path, t, &json!({"active": false})).await.assert_status(200);
    app.get("/v1/me", Some(&user.access_token))
        .await
        .assert_problem(401, "invalid_token");
    app.patch(&path, t, &json!({"active": true})).await.assert_status(200);
    app.get("/v1/me", Some(&user.access_token))
        .await
        .assert_problem(401, "invalid_token");
    let fresh = app.login(&user.email, &user.password).await.body["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    app.patch(&path, t, &json!({"password": "set by admin"}))
        .await
        .assert_status(200);
    app.get("/v1/me", Some(&fresh))
        .await
        .assert_problem(401, "invalid_token");
    app.login(&user.email, "set by admin").await.assert_status(200);
    let r = app.patch(&path, t, &json!({"password": "short"})).await;
    assert_eq!(r.body["field"], "password");
    app.patch("/v1/users/424242", t, &json!({"name": "x"}))
        .await
        .assert_problem(404, "not_found");
}

async fn the_last_admin_is_protected(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let admin = app.admin().await;
    let t = Some(admin.access_token.as_str());
    let me = format!("/v1/users/{}", admin.id);
    app.patch(&me, t, &json!({"role": "user"}))
        .await
        .assert_problem(409, "last_admin");
    app.patch(&me, t, &json!({"role": "pending"}))
        .await
        .assert_problem(409, "last_admin");
    app.patch(&me, t, &json!({"active": false}))
        .await
        .assert_problem(409, "last_admin");
    app.delete(&me, t).await.assert_problem(403, "forbidden");
    app.get("/v1/me", t).await.assert_status(200);
    // With a second admin, either may step down, but never both.
    let second = app.user(Role::Admin).await;
    app.patch(&me, t, &json!({"role": "user"})).await.assert_status(200);
    let r = app
        .patch(
            &format!("/v1/users/{}", second.id),
            Some(&second.access_token),
            &json!({"role": "user"}),
        )
        .await;
    r.assert_problem(409, "last_admin");
}

async fn concurrent_demotions_leave_an_admin(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let a = app.admin().await;
    let b = app.user(Role::Admin).await;
    let app = std::sync::Arc::new(app);
    let demote = json!({"role": "user"});
    let (path_a, path_b) = (format!("/v1/users/{}", a.id), format!("/v1/users/{}", b.id));
    let (ra, rb) = tokio::join!(
        app.patch(&path_b, Some(&a.access_token), &demote),
        app.patch(&path_a, Some(&b.access_token), &demote),
    );
    let ok = [ra.status.as_u16(), rb.status.as_u16()]
        .iter()
        .filter(|s| **s == 200)
        .count();
    assert!(ok <= 1, "{} / {}", ra.text, rb.text);
    let admins = app.core.list_users(
        app.core.operator(),
        roster_core::service::ListUsers {
            role: Some(Role::Admin),
            active: Some(true),
            ..Default::default()
        },
    );
    assert!(!admins.await.unwrap().users.is_empty());
}

async fn deleting_a_user_removes_everything_it_owns(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let admin = app.admin().await;
    let user = app.user(Role::User).await;
    let key = app.api_key(&user, &[]).await;
    let t = Some(admin.access_token.as_str());
    app.delete(&format!("/v1/users/{}", user.id), t)
        .await
        .assert_status(204);
    app.get(&format!("/v1/users/{}", user.id), t)
        .await
        .assert_problem(404, "not_found");
    app.get("/v1/me", Some(&user.access_token))
        .await
        .assert_problem(401, "invalid_token");
    app.get("/v1/me", Some(&key)).await.assert_problem(401, "invalid_token");
    app.post("/v1/auth/refresh", None, &json!({"refresh_token": user.refresh_token}))
        .await
        .assert_problem(401, "invalid_token");
    app.login(&user.email, &user.password)
        .await
        .assert_problem(401, "invalid_credentials");
    app.delete(&format!("/v1/users/{}", user.id), t)
        .await
        .assert_problem(404, "not_found");
    // The email is free again.
    app.register(&user.email, "long enough").await.assert_status(201);
}

backend_tests!(
    cursor_pages_cover_every_user_once_in_order,
    search_filters_and_limits,
    admins_create_and_read_users,
    admins_change_role_activity_and_password,
    the_last_admin_is_protected,
    concurrent_demotions_leave_an_admin,
    deleting_a_user_removes_everything_it_owns,
);
