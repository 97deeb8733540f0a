//! SCIM push (Roster as a SCIM client) against a SCIM provider with Open WebUI's quirks
//! (`roster_testkit::scim_provider`): targets (admin only, validated, tokens never shown),
//! users and groups pushed at least once and in order per user through failures, dead letters
//! and their replay, idempotency (an existing account is linked, not duplicated), and sync.

use crate::webhooks::{Worker, fast, webhook_app};
use roster_core::UserId;
use roster_core::service::WebhookSettings;
use roster_core::time::OffsetDateTime;
use roster_core::time::format_description::well_known::Rfc3339;
use roster_core::webhooks::DeliveryQuery;
use roster_testkit::app::TestApp;
use roster_testkit::scim_provider::ScimProvider;
use roster_testkit::{Backend, backend_tests};
use serde_json::{Value, json};
use std::time::Duration;

const TOKEN: &str = "scim-test-token-0123456789";
const WITHIN: Duration = Duration::from_secs(60);

async fn add_target(app: &TestApp, token: &str, provider: &ScimProvider, extra: Value) -> Value {
    let mut body = json!({"name": "owui", "url": provider.url, "token": provider.token});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let r = app.post("/v1/scim/targets", Some(token), &body).await;
    r.assert_status(201);
    r.body.clone()
}

/// The deliveries of target `owui`, newest first.
async fn deliveries(app: &TestApp, token: &str, query: &str) -> Vec<Value> {
    let r = app
        .get(
            &format!("/v1/scim/targets/owui/deliveries?limit=500{query}"),
            Some(token),
        )
        .await;
    r.assert_status(200);
    r.body["deliveries"].as_array().unwrap().clone()
}

/// Waits until target `owui` has at least `count` deliveries and none is pending.
async fn settled(app: &TestApp, token: &str, count: usize) -> Vec<Value> {
    let deadline = std::time::Instant::now() + WITHIN;
    loop {
        let all = deliveries(app, token, "").await;
        if all.len() >= count && all.iter().all(|d| d["status"] != "pending") {
            return all;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "deliveries still pending: {all:#?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn create_user(app: &TestApp, token: &str, email: &str, name: &str) -> String {
    let r = app
        .post(
            "/v1/users",
            Some(token),
            &json!({"email": email, "name": name, "password": "a long enough password"}),
        )
        .await;
    r.assert_status(201);
    r.body["id"].as_str().unwrap().to_string()
}

/// Targets are for administrators; bad input is a 422 naming the field; the token is never
/// shown; adding and removing are audited.
async fn targets_are_validated_admin_only_and_audited(backend: Backend) {
    let app = roster_testkit::or_skip!(webhook_app(backend).await);
    let admin = app.admin().await;
    let user = app.user(roster_core::Role::User).await;
    let t = Some(admin.access_token.as_str());
    let provider = ScimProvider::start(TOKEN).await;
    let body = json!({"name": "owui", "url": provider.url, "token": TOKEN});
    app.post("/v1/scim/targets", Some(&user.access_token), &body)
        .await
        .assert_problem(403, "forbidden");
    app.get("/v1/scim/targets", Some(&user.access_token))
        .await
        .assert_problem(403, "forbidden");
    app.post("/v1/scim/targets", None, &body).await.assert_status(401);
    for (bad, field) in [
        (
            json!({"name": "has space", "url": provider.url, "token": TOKEN}),
            "name",
        ),
        (
            json!({"name": "owui", "url": "ftp://example.org/scim", "token": TOKEN}),
            "url",
        ),
        (json!({"name": "owui", "url": "not a url", "token": TOKEN}), "url"),
        (json!({"name": "owui", "url": provider.url, "token": ""}), "token"),
        (
            json!({"name": "owui", "url": provider.url, "token": "two words"}),
            "token",
        ),
    ] {
        let r = app.post("/v1/scim/targets", t, &bad).await;
        r.assert_problem(422, "invalid_field");
        assert_eq!(r.body["field"], field, "{}", r.text);
    }
    let created = add_target(&app, &admin.access_token, &provider, json!({"groups": true})).await;
    assert_eq!(created["name"], "owui");
    assert_eq!(created["groups"], true);
    assert_eq!(created["deactivate_on_delete"], false);
    assert!(!created.to_string().contains(TOKEN), "{created}");
    let again = app.post("/v1/scim/targets", t, &body).await;
    again.assert_problem(422, "invalid_field");
    assert_eq!(again.body["field"], "name");
    let listed = app.get("/v1/scim/targets", t).await;
    listed.assert_status(200);
    assert_eq!(listed.body["targets"].as_array().unwrap().len(), 1);
    assert!(!listed.text.contains(TOKEN));
    // The token is sealed at rest.
    let stored = app.core.store.get_scim_target("owui").await.unwrap();
    assert!(!stored.token.contains(TOKEN));
    app.get("/v1/scim/targets/nope/deliveries", t)
        .await
        .assert_problem(404, "not_found");
    app.delete("/v1/scim/targets/owui", t).await.assert_status(204);
    app.delete("/v1/scim/targets/owui", t)
        .await
        .assert_problem(404, "not_found");
    let actions: Vec<String> = app.audit().await.into_iter().map(|e| e.action).collect();
    assert!(actions.contains(&"scim_target.add".to_string()), "{actions:?}");
    assert!(actions.contains(&"scim_target.remove".to_string()), "{actions:?}");
}

/// A user's life in Roster reaches the provider through failures (503s, then a flaky spell),
/// each user's deliveries in commit order; groups and memberships too; a banned or deactivated
/// user is pushed inactive; a deleted one is deleted.
async fn users_and_groups_are_pushed_in_order_through_failures(backend: Backend) {
    let app = roster_testkit::or_skip!(webhook_app(backend).await);
    let admin = app.admin().await;
    let t = Some(admin.access_token.as_str());
    let provider = ScimProvider::start(TOKEN).await;
    add_target(&app, &admin.access_token, &provider, json!({"groups": true})).await;
    provider.fail_next(&[503, 503, 502]);
    let worker = Worker::start(app.core.clone(), fast());
    let alice = create_user(&app, &admin.access_token, "alice@example.org", "Alice").await;
    let bob = create_user(&app, &admin.access_token, "bob@example.org", "Bob").await;
    app.patch(&format!("/v1/users/{alice}"), t, &json!({"name": "Alice Liddell"}))
        .await
        .assert_status(200);
    let group = app.post("/v1/groups", t, &json!({"name": "staff"})).await;
    group.assert_status(201);
    let group = group.body["id"].as_str().unwrap().to_string();
    app.post(
        &format!("/v1/groups/{group}/members"),
        t,
        &json!({"user_ids": [alice, bob]}),
    )
    .await
    .assert_status(200);
    provider
        .wait_until(WITHIN, |p| {
            p.user_by_external_id(&alice)
                .is_some_and(|u| u.display_name == "Alice Liddell" && u.user_name == "alice@example.org")
                && p.groups()
                    .iter()
                    .any(|g| g.display_name == "staff" && g.members.len() == 2)
        })
        .await;
    // Renamed; Bob deactivated and Alice banned: both inactive there.
    app.patch(&format!("/v1/groups/{group}"), t, &json!({"name": "crew"}))
        .await
        .assert_status(200);
    app.patch(&format!("/v1/users/{bob}"), t, &json!({"active": false}))
        .await
        .assert_status(200);
    app.core
        .ban_user(
            app.core.operator(),
            alice.parse::<UserId>().unwrap(),
            time::Duration::hours(1),
            Some("test"),
        )
        .await
        .unwrap();
    provider
        .wait_until(WITHIN, |p| {
            p.groups().iter().map(|g| g.display_name.as_str()).collect::<Vec<_>>() == ["crew"]
                && p.user_by_external_id(&bob).is_some_and(|u| !u.active)
                && p.user_by_external_id(&alice).is_some_and(|u| !u.active)
        })
        .await;
    // Removed from the group, then deleted; the group deleted.
    app.delete(&format!("/v1/users/{bob}"), t).await.assert_status(204);
    app.delete(&format!("/v1/groups/{group}"), t).await.assert_status(204);
    provider
        .wait_until(WITHIN, |p| {
            p.user_by_external_id(&bob).is_none() && p.groups().is_empty()
        })
        .await;
    let all = settled(&app, &admin.access_token, 1).await;
    worker.stop().await;
    assert!(all.iter().all(|d| d["status"] == "delivered"), "{all:#?}");
    assert!(
        all.iter().any(|d| d["attempts"].as_i64().unwrap() > 1),
        "the failures were retried: {all:#?}"
    );
    // In order per user: a later event of a user was delivered no earlier than an earlier one.
    for user in [&alice, &bob] {
        let mut of_user: Vec<&Value> = all.iter().filter(|d| d["user_id"] == user.as_str()).collect();
        of_user.sort_by_key(|d| d["event_sequence"].as_i64().unwrap());
        // As instants: the text drops trailing zeros of the fraction ("41.31Z" is before "41.318Z").
        let delivered: Vec<OffsetDateTime> = of_user
            .iter()
            .map(|d| OffsetDateTime::parse(d["delivered_at"].as_str().unwrap(), &Rfc3339).unwrap())
            .collect();
        assert!(delivered.windows(2).all(|w| w[0] <= w[1]), "{user}: {delivered:?}");
        assert_eq!(of_user[0]["event_type"], "user.created");
    }
    let types: Vec<&str> = all.iter().map(|d| d["event_type"].as_str().unwrap()).collect();
    for t in [
        "group.created",
        "group.renamed",
        "group.deleted",
        "group.member_added",
        "user.banned",
    ] {
        assert!(types.contains(&t), "{t} in {types:?}");
    }
    // Exactly one account per user, ever (looked up by externalId before creating), and one
    // group, renamed in place (its pushes go one at a time, to the id the target gave it).
    let created = |path: &str| {
        provider
            .requests()
            .iter()
            .filter(|r| r.method == "POST" && r.path == path && r.status == 201)
            .count()
    };
    assert_eq!(created("Users"), 2);
    assert_eq!(created("Groups"), 1);
}

/// A ban that runs out pushes the user as active again: the delivery worker ends it
/// (`user.unbanned`, once, whatever the number of rounds or callers) and the push follows.
async fn an_expired_ban_pushes_the_user_active(backend: Backend) {
    let app = roster_testkit::or_skip!(webhook_app(backend).await);
    let admin = app.admin().await;
    let provider = ScimProvider::start(TOKEN).await;
    add_target(&app, &admin.access_token, &provider, json!({})).await;
    let worker = Worker::start(app.core.clone(), fast());
    let erin = create_user(&app, &admin.access_token, "erin@example.org", "Erin").await;
    let id = erin.parse::<UserId>().unwrap();
    app.core
        .ban_user(app.core.operator(), id, time::Duration::minutes(5), Some("test"))
        .await
        .unwrap();
    provider
        .wait_until(WITHIN, |p| p.user_by_external_id(&erin).is_some_and(|u| !u.active))
        .await;
    // Nothing ends a ban in force.
    assert!(app.core.end_expired_bans().await.unwrap().is_empty());
    app.advance(time::Duration::minutes(6));
    provider
        .wait_until(WITHIN, |p| p.user_by_external_id(&erin).is_some_and(|u| u.active))
        .await;
    // Ended once: the worker did it; a check now finds nothing more.
    assert!(app.core.end_expired_bans().await.unwrap().is_empty());
    let all = settled(&app, &admin.access_token, 3).await;
    worker.stop().await;
    let unbanned: Vec<&Value> = all.iter().filter(|d| d["event_type"] == "user.unbanned").collect();
    assert_eq!(unbanned.len(), 1, "{all:#?}");
    assert_eq!(unbanned[0]["status"], "delivered");
    let user = app.core.store.get_user(id).await.unwrap();
    assert_eq!(user.banned_until, None);
    let events = app.core.store.list_outbox(0, 1000).await.unwrap();
    let ended = events
        .iter()
        .find(|e| e.event_type == "user.unbanned" && e.subject_id == id)
        .unwrap();
    assert_eq!(ended.payload, json!({"expired": true}));
    assert_eq!(ended.actor_id, None);
}

/// Without `groups`, only users are pushed; with `deactivate_on_delete`, a deletion
/// deactivates. An account the provider already has for the email (made at a first OpenID
/// Connect sign-in, without an externalId) is linked and updated (409, then update), never
/// duplicated; a replayed delivery changes nothing.
async fn pushes_are_idempotent_and_link_existing_accounts(backend: Backend) {
    let app = roster_testkit::or_skip!(webhook_app(backend).await);
    let admin = app.admin().await;
    let t = Some(admin.access_token.as_str());
    let provider = ScimProvider::start(TOKEN).await;
    let existing = provider.insert_user("carol@example.org", "carol", None, false);
    add_target(
        &app,
        &admin.access_token,
        &provider,
        json!({"deactivate_on_delete": true}),
    )
    .await;
    let worker = Worker::start(app.core.clone(), fast());
    let carol = create_user(&app, &admin.access_token, "carol@example.org", "Carol").await;
    let group = app.post("/v1/groups", t, &json!({"name": "ignored"})).await;
    group.assert_status(201);
    provider
        .wait_until(WITHIN, |p| {
            p.users().len() == 1 && p.user_by_external_id(&carol).is_some_and(|u| u.display_name == "Carol")
        })
        .await;
    assert_eq!(provider.users()[0].id, existing);
    let first = settled(&app, &admin.access_token, 1).await;
    assert!(first.iter().all(|d| d["status"] == "delivered"), "{first:#?}");
    assert!(
        first
            .iter()
            .all(|d| d["event_type"].as_str().unwrap().starts_with("user.")),
        "{first:#?}"
    );
    // A replay sends it again: still one account.
    let id = first[0]["id"].as_str().unwrap();
    app.post(&format!("/v1/scim/targets/owui/deliveries/{id}/replay"), t, &json!({}))
        .await
        .assert_status(200);
    settled(&app, &admin.access_token, 1).await;
    assert_eq!(provider.users().len(), 1);
    // Deleted in Roster: deactivated there, not deleted.
    app.delete(&format!("/v1/users/{carol}"), t).await.assert_status(204);
    provider
        .wait_until(WITHIN, |p| p.user_by_external_id(&carol).is_some_and(|u| !u.active))
        .await;
    settled(&app, &admin.access_token, 1).await;
    worker.stop().await;
    assert_eq!(provider.users().len(), 1);
    assert!(provider.groups().is_empty());
}

/// A provider that keeps failing: the delivery is retried with back-off up to the attempt
/// limit, then failed (a dead letter), listed with `status=failed`, and delivered once
/// replayed. A refusal no retry changes (403: an administrator there cannot be deactivated)
/// fails at once.
async fn dead_letters_are_kept_and_replayed(backend: Backend) {
    let app = roster_testkit::or_skip!(webhook_app(backend).await);
    let admin = app.admin().await;
    let t = Some(admin.access_token.as_str());
    let provider = ScimProvider::start(TOKEN).await;
    add_target(&app, &admin.access_token, &provider, json!({})).await;
    provider.down(Some(503));
    let settings = WebhookSettings {
        max_attempts: 3,
        ..fast()
    };
    let worker = Worker::start(app.core.clone(), settings);
    let dave = create_user(&app, &admin.access_token, "dave@example.org", "Dave").await;
    let all = settled(&app, &admin.access_token, 1).await;
    assert_eq!(all.len(), 1);
    assert_eq!(all[0]["status"], "failed", "{all:#?}");
    assert_eq!(all[0]["attempts"], 3);
    assert_eq!(all[0]["last_status_code"], 503);
    assert_eq!(all[0]["last_error"], "HTTP 503");
    let failed = deliveries(&app, &admin.access_token, "&status=failed").await;
    assert_eq!(failed.len(), 1);
    assert!(provider.user_by_external_id(&dave).is_none());
    // Back up; replayed: delivered.
    provider.down(None);
    let id = failed[0]["id"].as_str().unwrap();
    let replayed = app
        .post(&format!("/v1/scim/targets/owui/deliveries/{id}/replay"), t, &json!({}))
        .await;
    replayed.assert_status(200);
    assert_eq!(replayed.body["status"], "pending");
    provider
        .wait_until(WITHIN, |p| p.user_by_external_id(&dave).is_some())
        .await;
    assert_eq!(settled(&app, &admin.access_token, 1).await[0]["status"], "delivered");
    // An administrator on the provider cannot be deactivated: failed after one attempt.
    provider.edit_user(&provider.user_by_external_id(&dave).unwrap().id, |u| u.admin = true);
    app.patch(&format!("/v1/users/{dave}"), t, &json!({"active": false}))
        .await
        .assert_status(200);
    let all = settled(&app, &admin.access_token, 2).await;
    worker.stop().await;
    let refused = all.iter().find(|d| d["event_type"] == "user.deactivated").unwrap();
    assert_eq!(refused["status"], "failed", "{all:#?}");
    assert_eq!(refused["attempts"], 1);
    assert_eq!(refused["last_status_code"], 403);
    app.post("/v1/scim/targets/owui/deliveries/99999999/replay", t, &json!({}))
        .await
        .assert_problem(404, "not_found");
    let actions: Vec<String> = app.audit().await.into_iter().map(|e| e.action).collect();
    assert!(actions.contains(&"scim_delivery.replay".to_string()), "{actions:?}");
    // The core lists the same log.
    let from_core = app
        .core
        .list_scim_deliveries(
            app.core.operator(),
            "owui",
            DeliveryQuery {
                limit: 10,
                ..DeliveryQuery::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(from_core.len(), all.len());
}

/// Sync pages the provider (more than one page of 100), lists users missing, different and
/// extra, changes nothing on a dry run, fixes everything otherwise, and finds nothing after.
/// The provider's own accounts (no externalId, unknown email) are left alone.
async fn sync_lists_and_fixes_drift(backend: Backend) {
    let app = roster_testkit::or_skip!(webhook_app(backend).await);
    let admin = app.admin().await;
    let t = Some(admin.access_token.as_str());
    let provider = ScimProvider::start(TOKEN).await;
    // Users made before the target exists are not pushed: missing.
    let erin = create_user(&app, &admin.access_token, "erin@example.org", "Erin").await;
    let frank = create_user(&app, &admin.access_token, "frank@example.org", "Frank").await;
    add_target(&app, &admin.access_token, &provider, json!({})).await;
    let local = provider.insert_user("owner@example.org", "Owner", None, true);
    for i in 0..120 {
        provider.insert_user(
            &format!("extra{i}@example.org"),
            "Extra",
            Some(&format!("{}", 900_000 + i)),
            false,
        );
    }
    let changed = provider.insert_user("frank@example.org", "Frankie", Some(&frank), false);
    let dry = app
        .post("/v1/scim/targets/owui/sync", t, &json!({"dry_run": true}))
        .await;
    dry.assert_status(200);
    assert_eq!(dry.body["remote_users"], 122, "{}", dry.text);
    let drift = dry.body["drift"].as_array().unwrap();
    let of = |kind: &str| drift.iter().filter(|d| d["kind"] == kind).collect::<Vec<_>>();
    let missing: Vec<&str> = of("missing").iter().map(|d| d["email"].as_str().unwrap()).collect();
    assert!(missing.contains(&"erin@example.org"), "{missing:?}");
    assert!(!missing.contains(&"frank@example.org"));
    let different = of("different");
    assert_eq!(different.len(), 1, "{drift:#?}");
    assert_eq!(different[0]["remote_id"], changed);
    assert_eq!(different[0]["fields"], json!(["displayName"]));
    assert_eq!(of("extra").len(), 120);
    assert_eq!(provider.users().len(), 122, "a dry run changes nothing");
    let fixed = app.post("/v1/scim/targets/owui/sync", t, &json!({})).await;
    fixed.assert_status(200);
    assert!(
        fixed.body["drift"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["error"].is_null()),
        "{}",
        fixed.text
    );
    assert!(provider.user_by_external_id(&erin).is_some());
    assert_eq!(provider.user_by_external_id(&frank).unwrap().display_name, "Frank");
    assert!(
        provider.users().iter().any(|u| u.id == local),
        "the provider's own account stays"
    );
    assert!(provider.users().iter().all(|u| !u.user_name.starts_with("extra")));
    let after = app
        .post("/v1/scim/targets/owui/sync", t, &json!({"dry_run": true}))
        .await;
    assert_eq!(after.body["drift"], json!([]), "{}", after.text);
    // A provider refusing the token: a clear error, not a 500.
    let wrong = ScimProvider::start("another-token-entirely").await;
    app.post(
        "/v1/scim/targets",
        t,
        &json!({"name": "wrong", "url": wrong.url, "token": TOKEN}),
    )
    .await
    .assert_status(201);
    let refused = app
        .post("/v1/scim/targets/wrong/sync", t, &json!({"dry_run": true}))
        .await;
    refused.assert_problem(422, "invalid_field");
    assert!(refused.text.contains("HTTP 401"), "{}", refused.text);
}

backend_tests!(
    an_expired_ban_pushes_the_user_active,
    targets_are_validated_admin_only_and_audited,
    pushes_are_idempotent_and_link_existing_accounts,
    dead_letters_are_kept_and_replayed,
    sync_lists_and_fixes_drift,
    users_and_groups_are_pushed_in_order_through_failures,
);
