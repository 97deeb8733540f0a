//! The journal through the API: every change writes its outbox events and (for
//! administrative and security actions) its audit entries with the change; `GET /v1/audit`
//! reads the trail.

use roster_core::journal::OutboxEvent;
use roster_core::{Clock, Role};
use roster_testkit::{Backend, TestApp, backend_tests, spawn_app};
use serde_json::{Value, json};

async fn events(app: &TestApp) -> Vec<OutboxEvent> {
    app.core.store.list_outbox(0, 10_000).await.unwrap()
}

/// The event types about `subject`, in commit order.
async fn event_types_of(app: &TestApp, subject: roster_core::UserId) -> Vec<String> {
    events(app)
        .await
        .into_iter()
        .filter(|e| e.subject_id == subject)
        .map(|e| e.event_type)
        .collect()
}

/// Every audit entry through the API, newest first.
async fn audit(app: &TestApp, admin: &str, query: &str) -> Vec<Value> {
    let r = app.get(&format!("/v1/audit?limit=200{query}"), Some(admin)).await;
    r.assert_status(200);
    r.body["entries"].as_array().unwrap().clone()
}

fn actions(entries: &[Value]) -> Vec<&str> {
    entries.iter().map(|e| e["action"].as_str().unwrap()).collect()
}

async fn admin_changes_are_journaled_with_actor_target_and_ip(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let admin = app.admin().await;
    let t = admin.access_token.as_str();
    let r = app
        .post(
            "/v1/users",
            Some(t),
            &json!({"email": "ann@example.org", "password": "long enough"}),
        )
        .await;
    r.assert_status(201);
    let ann: roster_core::UserId = r.body["id"].as_str().unwrap().parse().unwrap();
    app.patch(
        &format!("/v1/users/{ann}"),
        Some(t),
        &json!({"role": "admin", "name": "Ann"}),
    )
    .await
    .assert_status(200);
    app.patch(&format!("/v1/users/{ann}"), Some(t), &json!({"active": false}))
        .await
        .assert_status(200);
    app.delete(&format!("/v1/users/{ann}"), Some(t))
        .await
        .assert_status(204);

    assert_eq!(
        event_types_of(&app, ann).await,
        [
            "user.created",
            "user.updated",
            "user.role_changed",
            "user.deactivated",
            "user.deleted"
        ]
    );
    let all = events(&app).await;
    let created = all.iter().find(|e| e.subject_id == ann).unwrap();
    assert_eq!(created.actor_id, Some(admin.id));
    assert_eq!(
        created.payload,
        json!({"role": "user", "active": true, "email_verified": false, "provider": "local"})
    );
    let updated = all.iter().find(|e| e.event_type == "user.updated").unwrap();
    assert_eq!(updated.payload, json!({"fields": ["name"]}));
    let role = all.iter().find(|e| e.event_type == "user.role_changed").unwrap();
    assert_eq!(role.payload, json!({"from": "user", "to": "admin"}));
    for e in &all {
        let text = e.payload.to_string();
        assert!(!text.contains("argon2") && !text.contains("long enough"), "{text}");
    }

    let entries = audit(&app, t, &format!("&target={ann}")).await;
    assert_eq!(
        actions(&entries),
        [
            "user.delete",
            "user.update",
            "user.role_change",
            "user.update",
            "user.create"
        ]
    );
    for e in &entries {
        assert_eq!(e["actor_id"], admin.id_str(), "{e}");
        assert_eq!(e["target_id"], ann.to_string());
        assert_eq!(e["ip"], "127.0.0.1");
        assert!(e["at"].as_str().unwrap().ends_with('Z'), "{e}");
        assert!(e["id"].as_str().unwrap().parse::<i64>().unwrap() > 0);
    }
    assert_eq!(entries[2]["details"], json!({"from": "user", "to": "admin"}));
    assert_eq!(entries[3]["details"]["fields"], json!(["name"]));
    assert_eq!(entries[1]["details"]["active"], false);
}

async fn a_failed_change_leaves_no_event_and_no_entry(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let admin = app.admin().await;
    let t = admin.access_token.as_str();
    let user = app.user(Role::User).await;
    let before = (events(&app).await.len(), audit(&app, t, "").await.len());
    // The last-admin guard.
    app.patch(&format!("/v1/users/{}", admin.id), Some(t), &json!({"role": "user"}))
        .await
        .assert_problem(409, "last_admin");
    // Unique conflicts, on create and on update.
    app.post(
        "/v1/users",
        Some(t),
        &json!({"email": user.email, "password": "long enough"}),
    )
    .await
    .assert_problem(409, "conflict");
    app.patch(
        &format!("/v1/users/{}", user.id),
        Some(t),
        &json!({"email": admin.email}),
    )
    .await
    .assert_problem(409, "conflict");
    // Nothing to delete.
    app.delete("/v1/users/123456789", Some(t)).await.assert_status(404);
    // A change that changes nothing.
    app.patch(
        &format!("/v1/users/{}", user.id),
        Some(t),
        &json!({"name": format!("Test {}", user.username)}),
    )
    .await
    .assert_status(200);
    assert_eq!(
        (events(&app).await.len(), audit(&app, t, "").await.len()),
        before,
        "nothing journaled"
    );
}

async fn logins_are_audited_with_ip_and_never_the_password(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let admin = app.admin().await;
    let t = admin.access_token.as_str();
    let user = app.user(Role::User).await;
    app.login(&user.email, "wrong password 123").await.assert_status(401);
    app.login("nobody@example.org", "secret guess 456")
        .await
        .assert_status(401);
    app.login(&user.username.to_uppercase(), &user.password)
        .await
        .assert_status(200);

    let failures = audit(&app, t, "&action=login.failure").await;
    assert_eq!(failures.len(), 2, "{failures:?}");
    assert_eq!(failures[0]["target_id"], Value::Null);
    assert_eq!(failures[0]["actor_id"], Value::Null);
    assert_eq!(
        failures[0]["details"],
        json!({"login": "nobody@example.org", "reason": "invalid_credentials"})
    );
    assert_eq!(failures[1]["target_id"], user.id_str());
    assert_eq!(failures[1]["details"]["login"], user.email);
    for f in &failures {
        assert_eq!(f["ip"], "127.0.0.1");
    }
    let text = serde_json::to_string(&audit(&app, t, "").await).unwrap();
    assert!(
        !text.contains("wrong password") && !text.contains("secret guess") && !text.contains(&user.password),
        "{text}"
    );
    let successes = audit(&app, t, &format!("&action=login.success&actor={}", user.id)).await;
    // One at `app.user` and one now.
    assert_eq!(successes.len(), 2, "{successes:?}");
    assert_eq!(successes[0]["target_id"], user.id_str());
    assert_eq!(successes[0]["ip"], "127.0.0.1");

    // A client address forwarded by a trusted proxy is the one recorded.
    let app = roster_testkit::or_skip!(
        roster_testkit::app::spawn_app_with_http(
            backend,
            |_| {},
            roster_http::HttpConfig {
                trust_forwarded_for: true,
                // The load balancer (the test's own address) and the proxy in front of it
                // (10.0.0.1) are trusted; the client is the entry before them.
                trusted_proxies: vec!["127.0.0.1".parse().unwrap(), "10.0.0.0/8".parse().unwrap()],
                ..roster_http::HttpConfig::default()
            },
        )
        .await
    );
    let admin = app.admin().await;
    let r = app
        .client
        .post(format!("{}/v1/auth/login", app.address))
        .header("x-forwarded-for", "203.0.113.9, 10.0.0.1")
        .json(&json!({"login": admin.email, "password": "nope nope"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let failures = audit(&app, &admin.access_token, "&action=login.failure").await;
    assert_eq!(failures[0]["ip"], "203.0.113.9");
}

async fn every_kind_of_change_writes_its_events(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let admin = app.admin().await;
    let t = admin.access_token.as_str();
    let user = app.user(Role::User).await;
    let u = user.access_token.as_str();
    // API keys.
    let r = app.post("/v1/me/api-keys", Some(u), &json!({"name": "ci"})).await;
    r.assert_status(201);
    let key_id = r.body["id"].as_str().unwrap().to_string();
    let secret = r.body["secret"].as_str().unwrap().to_string();
    app.delete(&format!("/v1/me/api-keys/{key_id}"), Some(u))
        .await
        .assert_status(204);
    // Groups.
    let r = app.post("/v1/groups", Some(t), &json!({"name": "staff"})).await;
    r.assert_status(201);
    let group = r.body["id"].as_str().unwrap().to_string();
    let members = json!({"user_ids": [user.id_str()]});
    app.post(&format!("/v1/groups/{group}/members"), Some(t), &members)
        .await
        .assert_status(200);
    // Adding a member again changes nothing.
    app.post(&format!("/v1/groups/{group}/members"), Some(t), &members)
        .await
        .assert_status(200);
    app.request(
        reqwest::Method::DELETE,
        &format!("/v1/groups/{group}/members"),
        Some(t),
        Some(&members),
    )
    .await
    .assert_status(200);
    // Password change (revokes the other sessions), then an admin's revocation.
    let second = app.login(&user.email, &user.password).await;
    second.assert_status(200);
    app.post(
        "/v1/me/password",
        Some(u),
        &json!({"current_password": user.password, "new_password": "a new password"}),
    )
    .await
    .assert_status(204);
    app.post(&format!("/v1/users/{}/sessions/revoke", user.id), Some(t), &json!({}))
        .await
        .assert_status(200);
    // Permission template.
    app.request(
        reqwest::Method::PUT,
        "/v1/groups/permissions/default",
        Some(t),
        Some(&json!({"chat": {"delete": false}})),
    )
    .await
    .assert_status(200);

    assert_eq!(
        event_types_of(&app, user.id).await,
        [
            "user.created",
            "api_key.created",
            "api_key.revoked",
            "group.member_added",
            "group.member_removed",
            "user.password_changed",
            "session.revoked",
            "session.revoked"
        ]
    );
    let all = events(&app).await;
    let key_created = all.iter().find(|e| e.event_type == "api_key.created").unwrap();
    assert_eq!(
        key_created.payload,
        json!({"key_id": key_id, "name": "ci", "scopes": []})
    );
    assert!(!key_created.payload.to_string().contains(&secret[..12]));
    let added = all.iter().find(|e| e.event_type == "group.member_added").unwrap();
    assert_eq!(added.payload, json!({"group_id": group}));
    let revoked: Vec<&Value> = all
        .iter()
        .filter(|e| e.event_type == "session.revoked")
        .map(|e| &e.payload)
        .collect();
    assert_eq!(revoked[0]["reason"], "password_changed");
    assert_eq!(revoked[0]["kept_current"], true);
    assert_eq!(revoked[1]["reason"], "revoked_by_admin");

    let entries = audit(&app, t, "").await;
    let mut seen = actions(&entries);
    seen.retain(|a| !a.starts_with("login."));
    assert_eq!(
        seen,
        [
            "permission_template.update",
            "session.revoke",
            "user.password_change",
            "group.member_remove",
            "group.member_add",
            "group.create",
            "api_key.revoke",
            "api_key.create",
            "user.create",
            "user.create"
        ]
    );
    let template = &entries[0];
    assert_eq!(template["actor_id"], admin.id_str());
    assert_eq!(template["details"]["template"], "default");
    let password = entries.iter().find(|e| e["action"] == "user.password_change").unwrap();
    assert_eq!(password["actor_id"], user.id_str());
    assert_eq!(password["target_id"], user.id_str());
    assert!(!password.to_string().contains("a new password"));
}

async fn audit_filters_pages_and_permission(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let admin = app.admin().await;
    let t = admin.access_token.as_str();
    let user = app.user(Role::User).await;
    for i in 0..5 {
        app.post(
            "/v1/users",
            Some(t),
            &json!({"email": format!("p{i}@example.org"), "password": "long enough"}),
        )
        .await
        .assert_status(201);
    }
    let all = audit(&app, t, "").await;
    assert!(all.len() >= 9, "{all:?}");
    // Cursor pages cover the trail once, newest first.
    let mut walked = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = "/v1/audit?limit=2".to_string();
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let r = app.get(&path, Some(t)).await;
        r.assert_status(200);
        let page = r.body["entries"].as_array().unwrap().clone();
        assert!(page.len() <= 2);
        walked.extend(page);
        match r.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(walked, all);
    let ids: Vec<i64> = all.iter().map(|e| e["id"].as_str().unwrap().parse().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first: {ids:?}");
    // Filters.
    let creates = audit(&app, t, &format!("&action=user.create&actor={}", admin.id)).await;
    assert_eq!(creates.len(), 5);
    assert!(
        audit(&app, t, &format!("&actor={}", user.id))
            .await
            .iter()
            .all(|e| e["actor_id"] == user.id_str())
    );
    let now = roster_core::user::rfc3339(app.clock.now());
    let later = roster_core::user::rfc3339(app.clock.now() + roster_core::time::Duration::hours(1));
    assert_eq!(
        audit(&app, t, &format!("&until={now}")).await.len(),
        0,
        "until is exclusive"
    );
    assert_eq!(audit(&app, t, &format!("&since={now}&until={later}")).await, all);
    assert_eq!(audit(&app, t, &format!("&since={later}")).await.len(), 0);
    // Bad input names the field.
    for (query, field) in [
        ("actor=abc", "actor"),
        ("target=-1", "target"),
        ("since=yesterday", "since"),
        ("action=User%20Update", "action"),
        ("cursor=nope", "cursor"),
        ("limit=0", "limit"),
        ("limit=201", "limit"),
    ] {
        let r = app.get(&format!("/v1/audit?{query}"), Some(t)).await;
        assert_eq!(r.status.as_u16(), 422, "{query}: {}", r.text);
        assert_eq!(r.body["field"], field, "{query}: {}", r.text);
    }
    let r = app.get(&format!("/v1/audit?since={later}&until={now}"), Some(t)).await;
    assert_eq!(r.status.as_u16(), 422, "{}", r.text);
    app.get("/v1/audit?bogus=1", Some(t)).await.assert_status(400);
    // Administrators only.
    app.get("/v1/audit", Some(&user.access_token))
        .await
        .assert_problem(403, "forbidden");
    app.get("/v1/audit", None).await.assert_status(401);
    // Documented.
    let doc = app.get("/v1/openapi.json", None).await;
    assert!(doc.body["paths"]["/v1/audit"]["get"].is_object(), "{}", doc.text);
}

backend_tests!(
    admin_changes_are_journaled_with_actor_target_and_ip,
    a_failed_change_leaves_no_event_and_no_entry,
    logins_are_audited_with_ip_and_never_the_password,
    every_kind_of_change_writes_its_events,
    audit_filters_pages_and_permission,
);
