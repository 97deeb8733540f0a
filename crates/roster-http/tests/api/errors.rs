//! Malformed requests: each a 4xx problem naming what is wrong, never a 500.

use roster_testkit::app::TestApp;
use roster_testkit::{Backend, backend_tests, spawn_app};
use serde_json::json;

async fn raw(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> roster_testkit::app::TestResponse {
    let mut r = app
        .client
        .request(method, format!("{}{}", app.address, path))
        .body(body);
    if let Some(ct) = content_type {
        r = r.header("content-type", ct);
    }
    let sent = r.send().await;
    TestApp::read(sent.unwrap_or_else(|e| panic!("{path} ({content_type:?}): {e:?}"))).await
}

async fn malformed_requests_get_clear_client_errors(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    use reqwest::Method;
    let r = raw(
        &app,
        Method::POST,
        "/v1/auth/login",
        Some("application/json"),
        b"{\"login\": ".to_vec(),
    )
    .await;
    r.assert_problem(400, "malformed_json");
    let r = raw(&app, Method::POST, "/v1/auth/login", Some("text/plain"), b"{}".to_vec()).await;
    r.assert_problem(415, "unsupported_media_type");
    let r = raw(&app, Method::POST, "/v1/auth/login", None, b"{}".to_vec()).await;
    r.assert_problem(415, "unsupported_media_type");
    too_large(&app).await.assert_problem(413, "body_too_large");
    let r = raw(
        &app,
        Method::POST,
        "/v1/auth/login",
        Some("application/json"),
        b"[1,2]".to_vec(),
    )
    .await;
    r.assert_problem(422, "invalid_field");
    let r = app
        .post(
            "/v1/auth/login",
            None,
            &json!({"login": "a", "password": "b", "extra": 1}),
        )
        .await;
    r.assert_problem(422, "invalid_field");
    assert_eq!(r.body["field"], "extra");
    app.get("/v1/nope", None).await.assert_problem(404, "route_not_found");
    app.delete("/v1/auth/login", None)
        .await
        .assert_problem(405, "method_not_allowed");
    let r = app.get("/v1/me", Some("not.a.jwt")).await;
    r.assert_problem(401, "invalid_token");
    assert_eq!(r.headers["www-authenticate"], "Bearer");
    let r = app
        .client
        .get(format!("{}/v1/me", app.address))
        .header("authorization", "Basic abc")
        .send()
        .await
        .unwrap();
    TestApp::read(r).await.assert_problem(401, "unauthenticated");
}

/// Posts a 2 MiB body (over the 1 MiB limit). The server answers 413 from the
/// `Content-Length` alone and closes the connection with the body unread; the kernel then
/// resets it, and a reset that overtakes the answer loses it (a race of TCP, not of Roster).
/// So a lost answer is tried again, on a fresh connection, a few times; any answer that
/// arrives is the one asserted.
async fn too_large(app: &TestApp) -> roster_testkit::app::TestResponse {
    let mut last = None;
    for _ in 0..5 {
        let client = reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();
        let sent = client
            .post(format!("{}/v1/auth/login", app.address))
            .header("content-type", "application/json")
            .body(vec![b' '; 2 * 1024 * 1024])
            .send()
            .await;
        match sent {
            Ok(response) => return TestApp::read(response).await,
            Err(error) => last = Some(error),
        }
    }
    panic!("no answer to an oversized body in five tries: {last:?}");
}

async fn health_and_readiness(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let r = app.get("/healthz", None).await;
    r.assert_status(200);
    assert_eq!(r.text, "ok");
    app.get("/readyz", None).await.assert_status(200);
    app.core.store.close().await;
    app.get("/readyz", None).await.assert_status(503);
    app.get("/healthz", None).await.assert_status(200);
}

async fn openapi_document_matches_the_routes(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let admin = app.admin().await;
    let doc = app.get("/v1/openapi.json", None).await;
    doc.assert_status(200);
    assert!(doc.body["openapi"].as_str().unwrap().starts_with("3.1"));
    let paths = doc.body["paths"].as_object().unwrap();
    let mut documented = Vec::new();
    for (path, item) in paths {
        for method in item.as_object().unwrap().keys() {
            documented.push(format!("{} {path}", method.to_uppercase()));
        }
    }
    documented.sort();
    let expected = [
        "DELETE /v1/clients/{id}",
        "DELETE /v1/groups/{id}",
        "DELETE /v1/groups/{id}/members",
        "DELETE /v1/me/api-keys/{id}",
        "DELETE /v1/me/blocks/{id}",
        "DELETE /v1/me/consents/{client_id}",
        "DELETE /v1/me/email",
        "DELETE /v1/me/friends/{id}",
        "DELETE /v1/me/sessions/{id}",
        "DELETE /v1/scim/targets/{name}",
        "DELETE /v1/tiers/{name}",
        "DELETE /v1/users/{id}",
        "DELETE /v1/users/{id}/2fa",
        "DELETE /v1/users/{id}/badges/{badge}",
        "DELETE /v1/users/{id}/tier",
        "DELETE /v1/webhooks/{id}",
        "GET /v1/audit",
        "GET /v1/avatars/{file}",
        "GET /v1/clients",
        "GET /v1/clients/{id}",
        "GET /v1/deletions",
        "GET /v1/events",
        "GET /v1/groups",
        "GET /v1/groups/permissions/default",
        "GET /v1/groups/{id}",
        "GET /v1/groups/{id}/members",
        "GET /v1/me",
        "GET /v1/me/2fa",
        "GET /v1/me/api-keys",
        "GET /v1/me/balance",
        "GET /v1/me/blocks",
        "GET /v1/me/consents",
        "GET /v1/me/consents/{client_id}",
        "GET /v1/me/email",
        "GET /v1/me/friends",
        "GET /v1/me/permissions",
        "GET /v1/me/sessions",
        "GET /v1/scim/targets",
        "GET /v1/scim/targets/{name}",
        "GET /v1/scim/targets/{name}/deliveries",
        "GET /v1/tiers",
        "GET /v1/tiers/{name}",
        "GET /v1/users",
        "GET /v1/users/{id}",
        "GET /v1/users/{id}/badges",
        "GET /v1/users/{id}/balance",
        "GET /v1/users/{id}/messaging-settings",
        "GET /v1/users/{id}/tier",
        "GET /v1/webhooks",
        "GET /v1/webhooks/deliveries",
        "GET /v1/webhooks/{id}",
        "GET /v1/webhooks/{id}/deliveries",
        "PATCH /v1/clients/{id}",
        "PATCH /v1/groups/{id}",
        "PATCH /v1/me",
        "PATCH /v1/users/{id}",
        "PATCH /v1/users/{id}/balance",
        "PATCH /v1/users/{id}/messaging-settings",
        "POST /v1/auth/email-change/confirm",
        "POST /v1/auth/login",
        "POST /v1/auth/login/2fa",
        "POST /v1/auth/logout",
        "POST /v1/auth/refresh",
        "POST /v1/auth/register",
        "POST /v1/auth/reset-password",
        "POST /v1/clients",
        "POST /v1/clients/{id}/secret",
        "POST /v1/groups",
        "POST /v1/groups/{id}/members",
        "POST /v1/introspect",
        "POST /v1/me/2fa/backup-codes",
        "POST /v1/me/2fa/confirm",
        "POST /v1/me/2fa/disable",
        "POST /v1/me/2fa/setup",
        "POST /v1/me/api-keys",
        "POST /v1/me/email",
        "POST /v1/me/friends/{id}",
        "POST /v1/me/friends/{id}/accept",
        "POST /v1/me/password",
        "POST /v1/me/sessions/revoke-others",
        "POST /v1/scim/targets",
        "POST /v1/scim/targets/{name}/deliveries/{id}/replay",
        "POST /v1/scim/targets/{name}/sync",
        "POST /v1/users",
        "POST /v1/users/{id}/balance/spend",
        "POST /v1/users/{id}/sessions/revoke",
        "POST /v1/webhooks",
        "POST /v1/webhooks/deliveries/{id}/replay",
        "PUT /v1/channels/{id}/last-message",
        "PUT /v1/groups/permissions/default",
        "PUT /v1/me/blocks/{id}",
        "PUT /v1/tiers/{name}",
        "PUT /v1/users/{id}/badges/{badge}",
        "PUT /v1/users/{id}/tier",
    ];
    assert_eq!(documented, expected);
    // Every documented operation is routed (no 404/405 from the router itself).
    for op in &documented {
        let (method, path) = op.split_once(' ').unwrap();
        let path = path.replace("{id}", "1");
        let r = app
            .request(
                method.parse().unwrap(),
                &path,
                Some(&admin.access_token),
                Some(&json!({})),
            )
            .await;
        assert!(
            !matches!(r.body["code"].as_str(), Some("route_not_found" | "method_not_allowed")),
            "{op} is documented but not routed: {}",
            r.text
        );
        assert!(r.status.as_u16() < 500, "{op}: {}", r.text);
    }
    // Every schema referenced exists.
    let text = doc.text.clone();
    for reference in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
        let name = reference.split('"').next().unwrap();
        assert!(
            doc.body["components"]["schemas"].get(name).is_some(),
            "missing schema {name}"
        );
    }
}

backend_tests!(
    malformed_requests_get_clear_client_errors,
    health_and_readiness,
    openapi_document_matches_the_routes,
);

/// Found by the `native_api` fuzz target: a path id whose percent-escape is not UTF-8 was
/// answered in axum's plain text.
mod undecodable_paths {
    use roster_testkit::{Backend, backend_tests, spawn_app};

    async fn undecodable_path_ids_are_problems(backend: Backend) {
        let app = roster_testkit::or_skip!(spawn_app(backend).await);
        let admin = app.admin().await;
        for path in ["/v1/users/99%92", "/v1/groups/1%FF2/members"] {
            app.get(path, Some(&admin.access_token))
                .await
                .assert_problem(400, "invalid_path");
        }
    }

    backend_tests!(undecodable_path_ids_are_problems);
}
