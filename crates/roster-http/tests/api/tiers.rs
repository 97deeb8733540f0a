//! Tiers in the native API: administrators define them (limits, one default) and assign them
//! to users, optionally until a time; users read their own tier; every change is audited.

use reqwest::Method;
use roster_core::Role;
use roster_testkit::app::{TestApp, TestResponse, TestUser};
use roster_testkit::{Backend, backend_tests, spawn_app};
use serde_json::{Value, json};
use time::Duration;

async fn put(app: &TestApp, path: &str, user: &TestUser, body: &Value) -> TestResponse {
    app.request(Method::PUT, path, Some(&user.access_token), Some(body))
        .await
}

async fn tiers_are_defined_by_administrators(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let admin = app.admin().await;
    let ann = app.user(Role::User).await;
    let list = app.get("/v1/tiers", Some(&admin.access_token)).await;
    list.assert_status(200);
    assert_eq!(list.body["default"], "standard");
    let names: Vec<&str> = list.body["tiers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["alpha", "premium", "standard"]);
    let premium = app.get("/v1/tiers/premium", Some(&admin.access_token)).await;
    assert_eq!(premium.body["limits"]["max_servers"], 500);
    assert_eq!(premium.body["limits"]["max_voice_minutes_per_day"], -1);
    assert_eq!(premium.body["default"], false);

    // A new tier needs limits; names are checked; limits are numbers with plain names.
    put(&app, "/v1/tiers/gold", &admin, &json!({}))
        .await
        .assert_problem(404, "not_found");
    let gold = put(
        &app,
        "/v1/tiers/Gold",
        &admin,
        &json!({"limits": {"max_servers": 1000, "multiplier": 1.5}}),
    )
    .await;
    gold.assert_status(200);
    assert_eq!(
        (
            gold.body["name"].clone(),
            gold.body["limits"].clone(),
            gold.body["default"].clone()
        ),
        (
            json!("gold"),
            json!({"max_servers": 1000, "multiplier": 1.5}),
            json!(false)
        )
    );
    let bad = put(&app, "/v1/tiers/gold", &admin, &json!({"limits": {"Max Servers": 1}})).await;
    bad.assert_problem(422, "invalid_field");
    assert_eq!(bad.body["field"], "limits");
    put(
        &app,
        "/v1/tiers/gold",
        &admin,
        &json!({"limits": {"max_servers": "many"}}),
    )
    .await
    .assert_status(422);
    put(&app, "/v1/tiers/a%20b", &admin, &json!({"limits": {}}))
        .await
        .assert_problem(422, "invalid_field");

    // Making it the default moves the flag; the default cannot be deleted.
    let gold = put(&app, "/v1/tiers/gold", &admin, &json!({"default": true})).await;
    assert_eq!(
        (gold.body["default"].clone(), gold.body["limits"]["max_servers"].clone()),
        (json!(true), json!(1000))
    );
    let list = app.get("/v1/tiers", Some(&admin.access_token)).await;
    assert_eq!(list.body["default"], "gold");
    let refused = app.delete("/v1/tiers/gold", Some(&admin.access_token)).await;
    refused.assert_problem(422, "invalid_field");
    app.delete("/v1/tiers/standard", Some(&admin.access_token))
        .await
        .assert_status(204);
    app.delete("/v1/tiers/standard", Some(&admin.access_token))
        .await
        .assert_problem(404, "not_found");

    // Users may not manage or list tiers.
    app.get("/v1/tiers", Some(&ann.access_token))
        .await
        .assert_problem(403, "forbidden");
    put(&app, "/v1/tiers/x", &ann, &json!({"limits": {}}))
        .await
        .assert_problem(403, "forbidden");
    app.delete("/v1/tiers/alpha", Some(&ann.access_token))
        .await
        .assert_problem(403, "forbidden");
    app.get("/v1/tiers", None).await.assert_status(401);

    let audit = app.get("/v1/audit?action=tier.put", Some(&admin.access_token)).await;
    assert_eq!(audit.body["entries"].as_array().unwrap().len(), 2);
    let audit = app.get("/v1/audit?action=tier.delete", Some(&admin.access_token)).await;
    assert_eq!(audit.body["entries"][0]["details"], json!({"name": "standard"}));
}

async fn users_get_tiers_until_a_time(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let admin = app.admin().await;
    let ann = app.user(Role::User).await;
    let bob = app.user(Role::User).await;
    let path = format!("/v1/users/{}/tier", ann.id);
    let mine = app.get(&path, Some(&ann.access_token)).await;
    mine.assert_status(200);
    assert_eq!(
        (
            mine.body["tier"]["name"].clone(),
            mine.body["assigned"].clone(),
            mine.body["expires_at"].clone()
        ),
        (json!("standard"), json!(false), Value::Null)
    );
    // Another user may not read it.
    app.get(&path, Some(&bob.access_token))
        .await
        .assert_problem(403, "forbidden");

    use roster_core::Clock;
    let end = roster_core::user::rfc3339(app.clock.now() + Duration::minutes(4));
    let set = put(
        &app,
        &path,
        &admin,
        &json!({"tier": "premium", "expires_at": end, "notes": "trial"}),
    )
    .await;
    set.assert_status(200);
    assert_eq!(set.body["tier"]["name"], "premium");
    assert_eq!(set.body["assigned"], true);
    assert_eq!(set.body["expires_at"], json!(end));
    assert_eq!(set.body["granted_by"], admin.id_str());
    assert_eq!(set.body["notes"], "trial");
    // The user sees their tier, not the administrator's note.
    let mine = app.get(&path, Some(&ann.access_token)).await;
    assert_eq!(
        (mine.body["tier"]["name"].clone(), mine.body["notes"].clone()),
        (json!("premium"), Value::Null)
    );
    // After the end, the default applies.
    app.advance(Duration::minutes(5));
    let mine = app.get(&path, Some(&ann.access_token)).await;
    assert_eq!(
        (mine.body["tier"]["name"].clone(), mine.body["assigned"].clone()),
        (json!("standard"), json!(false))
    );

    // Refusals: unknown tier, a past end, a bad time, a user who may not.
    let unknown = put(&app, &path, &admin, &json!({"tier": "staff"})).await;
    unknown.assert_problem(422, "invalid_field");
    assert_eq!(unknown.body["field"], "tier");
    let past = put(
        &app,
        &path,
        &admin,
        &json!({"tier": "alpha", "expires_at": "2001-01-01T00:00:00Z"}),
    )
    .await;
    assert_eq!(past.body["field"], "expires_at");
    let bad = put(&app, &path, &admin, &json!({"tier": "alpha", "expires_at": "tomorrow"})).await;
    assert_eq!(bad.body["field"], "expires_at");
    put(&app, &path, &ann, &json!({"tier": "premium"}))
        .await
        .assert_problem(403, "forbidden");
    put(&app, "/v1/users/123456789/tier", &admin, &json!({"tier": "alpha"}))
        .await
        .assert_problem(404, "not_found");

    // No end; then cleared: the default again.
    let set = put(&app, &path, &admin, &json!({"tier": "alpha"})).await;
    assert_eq!(
        (set.body["tier"]["name"].clone(), set.body["expires_at"].clone()),
        (json!("alpha"), Value::Null)
    );
    let cleared = app.delete(&path, Some(&admin.access_token)).await;
    cleared.assert_status(200);
    assert_eq!(
        (cleared.body["tier"]["name"].clone(), cleared.body["assigned"].clone()),
        (json!("standard"), json!(false))
    );
    app.delete(&path, Some(&ann.access_token))
        .await
        .assert_problem(403, "forbidden");

    let audit = app
        .get(&format!("/v1/audit?target={}", ann.id), Some(&admin.access_token))
        .await;
    let actions: Vec<&str> = audit.body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .filter(|a| a.contains("tier"))
        .collect();
    assert_eq!(actions, ["user.tier_clear", "user.tier_set", "user.tier_set"]);
    assert_eq!(
        audit.body["entries"][2]["details"],
        json!({"tier": "premium", "expires_at": end})
    );
}

backend_tests!(tiers_are_defined_by_administrators, users_get_tiers_until_a_time);
