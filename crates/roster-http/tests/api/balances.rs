//! Balances and auto-refill: LibreChat 0.8's `GET /api/balance`, the native balance routes
//! (`/v1/me/balance`, `/v1/users/{id}/balance`, `.../spend`) and refills as LibreChat computes
//! them (lazily at spend time, calendar months, once under concurrent spends).

use roster_core::Role;
use roster_core::service::RefillSettings;
use roster_core::store::RefillUnit;
use roster_testkit::app::TestApp;
use roster_testkit::app::spawn_app_with;
use roster_testkit::{Backend, backend_tests, spawn_app};
use serde_json::{Value, json};
use std::sync::Arc;
use time::OffsetDateTime;
use time::macros::datetime;

/// Moves the app's clock forward to `at` (before anyone signs in: tokens live 15 minutes).
fn move_clock_to(app: &TestApp, at: OffsetDateTime) {
    let now = roster_core::Clock::now(app.clock.as_ref());
    assert!(at > now, "the clock only moves forward");
    app.advance(at - now);
}

/// A fresh access token (after the clock moved past the old one's lifetime).
async fn signed_in(app: &TestApp, login: &str, password: &str) -> String {
    let r = app.login(login, password).await;
    r.assert_status(200);
    r.body["access_token"].as_str().unwrap().to_string()
}

async fn spend(app: &TestApp, token: &str, user: &str, amount: i64) -> Value {
    let r = app
        .post(
            &format!("/v1/users/{user}/balance/spend"),
            Some(token),
            &json!({ "amount": amount }),
        )
        .await;
    r.assert_status(200);
    r.body.clone()
}

async fn librechat_balance(app: &TestApp, token: &str) -> Value {
    let r = app.get("/librechat/api/balance", Some(token)).await;
    r.assert_status(200);
    r.body.clone()
}

async fn spends_refill_as_librechat_computes(backend: Backend) {
    let app = roster_testkit::or_skip!(
        spawn_app_with(backend, |c| {
            c.start_balance = 300;
            c.balance_refill = RefillSettings {
                enabled: true,
                interval_value: 1,
                interval_unit: RefillUnit::Months,
                amount: 1_000,
            };
        })
        .await
    );
    move_clock_to(&app, datetime!(2031-01-31 10:00 UTC));
    let admin = app.admin().await;
    let user = app.user(Role::User).await;
    let (a, id) = (admin.access_token.as_str(), user.id_str());

    // The balance begins now: the first refill is due a calendar month later (Jan 31 + 1
    // month overflows into March, as JavaScript's setMonth does).
    let r = app.get(&format!("/v1/users/{id}/balance"), Some(a)).await;
    r.assert_status(200);
    assert_eq!(
        r.body,
        json!({
            "user_id": id,
            "credits": 300,
            "auto_refill": {"auto_refill_enabled": true, "refill_interval_value": 1,
                "refill_interval_unit": "months", "refill_amount": 1000},
            "overrides": {"auto_refill_enabled": null, "refill_interval_value": null,
                "refill_interval_unit": null, "refill_amount": null},
            "last_refill": "2031-01-31T10:00:00Z",
            "refill_eligible_at": "2031-03-03T10:00:00Z",
        })
    );
    // A spend that leaves credits never refills.
    let s = spend(&app, a, &id, 200).await;
    assert_eq!(
        (
            s["spent"].clone(),
            s["refilled"].clone(),
            s["balance"]["credits"].clone()
        ),
        (json!(true), json!(0), json!(100))
    );
    // One that takes the balance to 0 would, but the interval has not passed.
    let s = spend(&app, a, &id, 100).await;
    assert_eq!(
        (
            s["spent"].clone(),
            s["refilled"].clone(),
            s["balance"]["credits"].clone()
        ),
        (json!(true), json!(0), json!(0))
    );
    app.advance(datetime!(2031-03-03 09:59:59 UTC) - datetime!(2031-01-31 10:00 UTC));
    let a = &signed_in(&app, &admin.email, &admin.password).await;
    let s = spend(&app, a, &id, 1).await;
    assert_eq!(
        (
            s["spent"].clone(),
            s["refilled"].clone(),
            s["balance"]["credits"].clone()
        ),
        (json!(false), json!(0), json!(0))
    );
    // Due at the second: added once, stamped, then spent.
    app.advance(time::Duration::seconds(1));
    let s = spend(&app, a, &id, 1).await;
    assert_eq!(
        (
            s["spent"].clone(),
            s["refilled"].clone(),
            s["balance"]["credits"].clone()
        ),
        (json!(true), json!(1000), json!(999))
    );
    assert_eq!(s["balance"]["last_refill"], "2031-03-03T10:00:00Z");
    assert_eq!(s["balance"]["refill_eligible_at"], "2031-04-03T10:00:00Z");
    // Not again within the interval, even when the balance runs short.
    let s = spend(&app, a, &id, 998).await;
    assert_eq!(
        (s["refilled"].clone(), s["balance"]["credits"].clone()),
        (json!(0), json!(1))
    );
    let s = spend(&app, a, &id, 5).await;
    assert_eq!(
        (
            s["spent"].clone(),
            s["refilled"].clone(),
            s["balance"]["credits"].clone()
        ),
        (json!(false), json!(0), json!(1))
    );

    // LibreChat's client sees its own shape, the refill fields included (auto-refill is on).
    let t = signed_in(&app, &user.email, &user.password).await;
    assert_eq!(
        librechat_balance(&app, &t).await,
        json!({
            "tokenCredits": 1,
            "autoRefillEnabled": true,
            "refillIntervalValue": 1,
            "refillIntervalUnit": "months",
            "lastRefill": "2031-03-03T10:00:00.000Z",
            "refillAmount": 1000,
        })
    );
    let me = app.get("/v1/me/balance", Some(&t)).await;
    me.assert_status(200);
    assert_eq!(me.body["credits"], 1);
    // Each refill is audited (the spends are in the ledger only).
    let audit = app.get("/v1/audit?action=balance.refill", Some(a)).await;
    audit.assert_status(200);
    let entries = audit.body["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{}", audit.text);
    assert_eq!(entries[0]["target_id"], id);
    assert_eq!(entries[0]["details"], json!({"amount": 1000, "balance": 1000}));
}

async fn concurrent_spends_refill_once(backend: Backend) {
    let app = roster_testkit::or_skip!(
        spawn_app_with(backend, |c| {
            c.balance_refill = RefillSettings {
                enabled: true,
                interval_value: 0,
                interval_unit: RefillUnit::Days,
                amount: 1_000,
            };
        })
        .await
    );
    let admin = app.admin().await;
    let user = app.user(Role::User).await;
    // The first refill made, a day passes: the next is due for whichever spend comes first.
    let _ = spend(&app, &admin.access_token, &user.id_str(), 1_000).await;
    let r = app
        .patch(
            &format!("/v1/users/{}/balance", user.id),
            Some(&admin.access_token),
            &json!({"refill_interval_value": 1}),
        )
        .await;
    r.assert_status(200);
    assert_eq!(r.body["credits"], 0);
    app.advance(time::Duration::days(1));
    let admin = signed_in(&app, &admin.email, &admin.password).await;
    let app = Arc::new(app);
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (app, admin, id) = (app.clone(), admin.clone(), user.id_str());
            tokio::spawn(async move { spend(&app, &admin, &id, 10).await })
        })
        .collect();
    let mut refilled = 0;
    for task in tasks {
        let s = task.await.unwrap();
        assert_eq!(s["spent"], true);
        refilled += s["refilled"].as_i64().unwrap();
    }
    assert_eq!(refilled, 1_000, "one refill for eight spends");
    let r = app.get(&format!("/v1/users/{}/balance", user.id), Some(&admin)).await;
    assert_eq!(r.body["credits"], 1_000 - 80);
}

async fn overrides_are_per_user_and_null_restores_the_default(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let admin = app.admin().await;
    let user = app.user(Role::User).await;
    let other = app.user(Role::User).await;
    let a = admin.access_token.as_str();
    let path = format!("/v1/users/{}/balance", user.id);
    // LibreChat's defaults: off, so only two fields.
    assert_eq!(
        librechat_balance(&app, &user.access_token).await,
        json!({"tokenCredits": 0, "autoRefillEnabled": false})
    );
    let r = app
        .patch(
            &path,
            Some(a),
            &json!({"auto_refill_enabled": true, "refill_interval_unit": "hours", "refill_amount": 250}),
        )
        .await;
    r.assert_status(200);
    assert_eq!(
        r.body["auto_refill"],
        json!({"auto_refill_enabled": true, "refill_interval_value": 30, "refill_interval_unit": "hours", "refill_amount": 250})
    );
    assert_eq!(
        r.body["overrides"],
        json!({"auto_refill_enabled": true, "refill_interval_value": null, "refill_interval_unit": "hours", "refill_amount": 250})
    );
    let lc = librechat_balance(&app, &user.access_token).await;
    assert_eq!(lc["refillIntervalValue"], 30);
    assert_eq!(lc["refillIntervalUnit"], "hours");
    assert_eq!(lc["refillAmount"], 250);
    assert!(lc["lastRefill"].as_str().unwrap().ends_with('Z'), "{lc}");
    // Another user keeps the defaults.
    assert_eq!(
        librechat_balance(&app, &other.access_token).await,
        json!({"tokenCredits": 0, "autoRefillEnabled": false})
    );
    // null: back to the default; absent: kept.
    let r = app.patch(&path, Some(a), &json!({"auto_refill_enabled": null})).await;
    r.assert_status(200);
    assert_eq!(r.body["overrides"]["auto_refill_enabled"], Value::Null);
    assert_eq!(r.body["overrides"]["refill_amount"], 250);
    assert_eq!(
        librechat_balance(&app, &user.access_token).await,
        json!({"tokenCredits": 0, "autoRefillEnabled": false})
    );
    let me = app.get("/v1/me/balance", Some(&user.access_token)).await;
    me.assert_status(200);
    assert_eq!(me.body["overrides"]["refill_interval_unit"], "hours");
    assert_eq!(me.body["refill_eligible_at"], Value::Null);
}

async fn balance_routes_check_callers_and_input(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let admin = app.admin().await;
    let user = app.user(Role::User).await;
    let a = Some(admin.access_token.as_str());
    let path = format!("/v1/users/{}/balance", user.id);
    let spend_path = format!("{path}/spend");
    // Only administrators see, set and spend another's balance.
    let u = Some(user.access_token.as_str());
    app.get(&path, u).await.assert_problem(403, "forbidden");
    app.patch(&path, u, &json!({"refill_amount": 1}))
        .await
        .assert_problem(403, "forbidden");
    app.post(&spend_path, u, &json!({"amount": 1}))
        .await
        .assert_problem(403, "forbidden");
    app.get(&path, None).await.assert_problem(401, "unauthenticated");
    app.get("/v1/me/balance", None)
        .await
        .assert_problem(401, "unauthenticated");
    // Bad values name the client's field.
    let field = |r: &roster_testkit::app::TestResponse, name: &str| {
        r.assert_problem(422, "invalid_field");
        assert_eq!(r.body["field"], name, "{}", r.text);
    };
    field(
        &app.patch(&path, a, &json!({"refill_interval_unit": "fortnights"}))
            .await,
        "refill_interval_unit",
    );
    field(
        &app.patch(&path, a, &json!({"refill_amount": -1})).await,
        "refill_amount",
    );
    field(
        &app.patch(&path, a, &json!({"refill_interval_value": 1_000_001})).await,
        "refill_interval_value",
    );
    field(&app.post(&spend_path, a, &json!({"amount": -5})).await, "amount");
    let r = app.post(&spend_path, a, &json!({"amount": "lots"})).await;
    assert_eq!(r.status.as_u16(), 422, "{}", r.text);
    let r = app.patch(&path, a, &json!({"refill_everything": true})).await;
    assert_eq!(r.status.as_u16(), 422, "{}", r.text);
    // Nothing was written by the refused changes.
    let r = app.get(&path, a).await;
    r.assert_status(200);
    assert_eq!(
        r.body["overrides"],
        json!({"auto_refill_enabled": null, "refill_interval_value": null, "refill_interval_unit": null, "refill_amount": null})
    );
    // Unknown users are 404; malformed ids 400.
    app.get("/v1/users/1/balance", a).await.assert_problem(404, "not_found");
    app.post("/v1/users/1/balance/spend", a, &json!({"amount": 1}))
        .await
        .assert_problem(404, "not_found");
    app.patch("/v1/users/1/balance", a, &json!({"refill_amount": 1}))
        .await
        .assert_problem(404, "not_found");
    let r = app.get("/v1/users/abc/balance", a).await;
    assert_eq!(r.status.as_u16(), 400, "{}", r.text);
    // A spend the balance does not cover takes nothing.
    let s = spend(&app, &admin.access_token, &user.id_str(), 1).await;
    assert_eq!(s["spent"], false);
    assert_eq!(s["balance"]["credits"], 0);
    // The OpenAPI document describes the routes.
    let doc = app.get("/v1/openapi.json", None).await;
    for p in [
        "/v1/me/balance",
        "/v1/users/{id}/balance",
        "/v1/users/{id}/balance/spend",
    ] {
        assert!(doc.body["paths"][p].is_object(), "{p} in the OpenAPI document");
    }
    assert!(doc.body["paths"]["/v1/users/{id}/balance"]["patch"].is_object());
}

backend_tests!(
    spends_refill_as_librechat_computes,
    concurrent_spends_refill_once,
    overrides_are_per_user_and_null_restores_the_default,
    balance_routes_check_callers_and_input,
);
