//! Native groups, memberships, the default permission template and effective permissions.

use roster_testkit::{Backend, backend_tests, spawn_app};
use serde_json::json;

async fn groups_are_managed_by_admins(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let admin = app.admin().await;
    let user = app.user(roster_core::Role::User).await;
    let (a, u) = (Some(admin.access_token.as_str()), Some(user.access_token.as_str()));

    // Users may not create, change or delete groups, nor read members or the template.
    app.post("/v1/groups", u, &json!({"name": "x"}))
        .await
        .assert_problem(403, "forbidden");
    app.post("/v1/groups", None, &json!({"name": "x"}))
        .await
        .assert_problem(401, "unauthenticated");
    app.get("/v1/groups/permissions/default", u)
        .await
        .assert_problem(403, "forbidden");
    app.request(
        reqwest::Method::PUT,
        "/v1/groups/permissions/default",
        u,
        Some(&json!({})),
    )
    .await
    .assert_problem(403, "forbidden");

    let created = app
        .post(
            "/v1/groups",
            a,
            &json!({"name": " Editors ", "description": "d", "permissions": {"chat": {"delete": true}}}),
        )
        .await;
    created.assert_status(201);
    assert_eq!(created.body["name"], "Editors");
    assert_eq!(created.body["created_by"], admin.id_str());
    let id = created.body["id"].as_str().unwrap().to_string();
    app.post("/v1/groups", a, &json!({"name": "  "}))
        .await
        .assert_problem(422, "invalid_field");
    app.post("/v1/groups", a, &json!({"name": "x", "permissions": [1]}))
        .await
        .assert_problem(422, "invalid_field");

    // Not yet a member: the user does not see it.
    app.get(&format!("/v1/groups/{id}"), u)
        .await
        .assert_problem(404, "not_found");
    assert_eq!(app.get("/v1/groups", u).await.body["groups"], json!([]));
    app.get(&format!("/v1/groups/{id}/members"), u)
        .await
        .assert_problem(403, "forbidden");

    let added = app
        .post(
            &format!("/v1/groups/{id}/members"),
            a,
            &json!({"user_ids": [user.id_str()]}),
        )
        .await;
    added.assert_status(200);
    assert_eq!(added.body["user_ids"], json!([user.id_str()]));
    app.post(&format!("/v1/groups/{id}/members"), a, &json!({"user_ids": ["999"]}))
        .await
        .assert_problem(404, "not_found");
    app.post(&format!("/v1/groups/{id}/members"), a, &json!({"user_ids": ["abc"]}))
        .await
        .assert_problem(422, "invalid_field");
    app.post(
        &format!("/v1/groups/{id}/members"),
        u,
        &json!({"user_ids": [user.id_str()]}),
    )
    .await
    .assert_problem(403, "forbidden");
    app.post("/v1/groups/12345/members", a, &json!({"user_ids": [user.id_str()]}))
        .await
        .assert_problem(404, "not_found");

    // Now the member sees it.
    app.get(&format!("/v1/groups/{id}"), u).await.assert_status(200);
    assert_eq!(app.get("/v1/groups", u).await.body["groups"][0]["id"], id);
    assert_eq!(
        app.get("/v1/groups", a).await.body["groups"].as_array().unwrap().len(),
        1
    );

    // Effective permissions: template OR groups.
    let put = app
        .request(
            reqwest::Method::PUT,
            "/v1/groups/permissions/default",
            a,
            Some(&json!({"chat": {"delete": false, "edit": true}})),
        )
        .await;
    put.assert_status(200);
    assert_eq!(
        app.get("/v1/groups/permissions/default", a).await.body,
        json!({"chat": {"delete": false, "edit": true}})
    );
    assert_eq!(
        app.get("/v1/me/permissions", u).await.body,
        json!({"chat": {"delete": true, "edit": true}})
    );
    assert_eq!(
        app.get("/v1/me/permissions", a).await.body,
        json!({"chat": {"delete": false, "edit": true}})
    );
    app.request(
        reqwest::Method::PUT,
        "/v1/groups/permissions/default",
        a,
        Some(&json!("x")),
    )
    .await
    .assert_problem(422, "invalid_field");

    let patched = app
        .patch(
            &format!("/v1/groups/{id}"),
            a,
            &json!({"name": "Writers", "permissions": {}}),
        )
        .await;
    patched.assert_status(200);
    assert_eq!(patched.body["name"], "Writers");
    assert_eq!(patched.body["description"], "d");
    app.patch(&format!("/v1/groups/{id}"), u, &json!({"name": "n"}))
        .await
        .assert_problem(403, "forbidden");
    app.patch("/v1/groups/777", a, &json!({"name": "n"}))
        .await
        .assert_problem(404, "not_found");
    app.get("/v1/groups/nope", a).await.assert_problem(400, "invalid_id");

    let removed = app
        .request(
            reqwest::Method::DELETE,
            &format!("/v1/groups/{id}/members"),
            a,
            Some(&json!({"user_ids": [user.id_str()]})),
        )
        .await;
    removed.assert_status(200);
    assert_eq!(removed.body["user_ids"], json!([]));

    app.delete(&format!("/v1/groups/{id}"), u)
        .await
        .assert_problem(403, "forbidden");
    app.delete(&format!("/v1/groups/{id}"), a).await.assert_status(204);
    app.delete(&format!("/v1/groups/{id}"), a)
        .await
        .assert_problem(404, "not_found");
}

backend_tests!(groups_are_managed_by_admins);
