//! Webhooks: subscriptions, signed at-least-once delivery in order per user through failures,
//! timeouts and recovery, give-up and replay, the deletion workflow, `GET /v1/events`, and
//! several delivering instances on one database.

use roster_core::journal::OutboxEvent;
use roster_core::service::{DeliveryWorker, HostResolver, HttpTransport, WebhookSettings};
use roster_core::time::OffsetDateTime;
use roster_core::webhooks::{DeliveryQuery, verify_signature};
use roster_core::{Core, CoreConfig, Role, SystemClock, UserId};
use roster_testkit::app::TestApp;
use roster_testkit::webhooks::{Answer, Received, Receiver};
use roster_testkit::{Backend, backend_tests};
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

static NEXT_EVENT_ID: AtomicI64 = AtomicI64::new(1_000_000);

/// Commits events to the outbox, one per (type, subject), in this order.
async fn commit_events(app: &TestApp, events: &[(&str, i64)]) -> Vec<OutboxEvent> {
    let events: Vec<OutboxEvent> = events
        .iter()
        .map(|(event_type, subject)| OutboxEvent {
            seq: 0,
            id: NEXT_EVENT_ID.fetch_add(1, Ordering::Relaxed),
            event_type: (*event_type).to_string(),
            subject_id: UserId(*subject),
            actor_id: Some(UserId(42)),
            occurred_at: OffsetDateTime::now_utc(),
            payload: json!({"n": subject}),
        })
        .collect();
    app.core.store.append_outbox_events(&events).await.unwrap();
    events
}

/// An app whose webhooks may go to the test receivers, which listen on loopback
/// (`webhook_allow_private_networks`; by default they may not: see `webhook_targets`).
pub(crate) async fn webhook_app(backend: Backend) -> Option<TestApp> {
    roster_testkit::app::spawn_app_with(backend, |c| c.webhook_allow_private_networks = true).await
}

/// Fast settings for tests.
pub(crate) fn fast() -> WebhookSettings {
    WebhookSettings {
        poll_interval: Duration::from_millis(25),
        request_timeout: Duration::from_millis(400),
        max_attempts: 30,
        backoff_base: Duration::from_millis(20),
        backoff_cap: Duration::from_millis(150),
        lease: Duration::from_secs(1),
        concurrency: 8,
    }
}

pub(crate) struct Worker {
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Worker {
    pub(crate) fn start(core: Arc<Core>, settings: WebhookSettings) -> Worker {
        let (stop, rx) = tokio::sync::watch::channel(false);
        let worker = DeliveryWorker::new(core, settings, Arc::new(HttpTransport::new().unwrap()));
        Worker {
            stop,
            task: tokio::spawn(worker.run(rx)),
        }
    }

    pub(crate) async fn stop(self) {
        self.stop.send(true).unwrap();
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("the worker stops")
            .unwrap();
    }
}

async fn subscribe(app: &TestApp, token: &str, body: Value) -> (String, String) {
    let r = app.post("/v1/webhooks", Some(token), &body).await;
    r.assert_status(201);
    (
        r.body["id"].as_str().unwrap().to_string(),
        r.body["secret"].as_str().unwrap().to_string(),
    )
}

fn event_id(r: &Received) -> String {
    r.json["id"].as_str().unwrap().to_string()
}

/// Asserts every request is signed with `secret` and carries its event's headers.
fn assert_signed(received: &[Received], secret: &str) {
    let now = OffsetDateTime::now_utc().unix_timestamp();
    for r in received {
        let header = r.header("roster-signature").expect("signature header");
        assert!(
            verify_signature(secret, header, &r.body, now, 300),
            "bad signature {header}"
        );
        assert!(!verify_signature("whsec_another_secret_x", header, &r.body, now, 300));
        assert_eq!(r.header("roster-event-id"), Some(event_id(r).as_str()));
        assert_eq!(r.header("roster-event-type"), r.json["type"].as_str());
        assert_eq!(r.header("content-type"), Some("application/json"));
    }
}

/// Asserts that, per user, no event was sent before every earlier event of that user was
/// acknowledged, and that the acknowledged events are each user's events in commit order.
fn assert_in_order_per_user(received: &[Received], committed: &[OutboxEvent]) {
    let mut order: HashMap<String, Vec<String>> = HashMap::new();
    for e in committed {
        order
            .entry(e.subject_id.to_string())
            .or_default()
            .push(e.id.to_string());
    }
    let mut acknowledged: HashSet<String> = HashSet::new();
    for r in received {
        let user = r.json["subject"]["id"].as_str().unwrap().to_string();
        let id = event_id(r);
        let Some(events) = order.get(&user) else { continue };
        let position = events.iter().position(|e| *e == id).expect("a committed event");
        for earlier in &events[..position] {
            assert!(
                acknowledged.contains(earlier),
                "event {id} of user {user} was sent before {earlier} was acknowledged"
            );
        }
        if r.acknowledged() {
            acknowledged.insert(id);
        }
    }
    let all: HashSet<String> = committed.iter().map(|e| e.id.to_string()).collect();
    assert!(all.is_subset(&acknowledged), "every event was acknowledged");
}

async fn every_event_arrives_in_order_per_user_signed_through_failures(backend: Backend) {
    let app = roster_testkit::or_skip!(webhook_app(backend).await);
    let admin = app.admin().await;
    let receiver = Receiver::start(Answer::Status(204)).await;
    let (_, secret) = subscribe(&app, &admin.access_token, json!({"url": receiver.url})).await;
    // Fails, times out, fails again, then recovers.
    receiver.script(&[
        Answer::Status(500),
        Answer::Hang(Duration::from_secs(3)),
        Answer::Status(503),
        Answer::Status(200),
        Answer::Status(429),
        Answer::Hang(Duration::from_secs(3)),
    ]);
    let mut plan = Vec::new();
    for round in 0..5 {
        for user in [9001, 9002, 9003] {
            plan.push((if round == 0 { "user.created" } else { "user.updated" }, user));
        }
    }
    let committed = commit_events(&app, &plan).await;
    let worker = Worker::start(app.core.clone(), fast());
    let ids: HashSet<String> = committed.iter().map(|e| e.id.to_string()).collect();
    let received = receiver
        .wait_until(Duration::from_secs(60), |r| {
            let acknowledged: HashSet<String> = r.iter().filter(|r| r.acknowledged()).map(event_id).collect();
            ids.is_subset(&acknowledged)
        })
        .await;
    worker.stop().await;
    assert!(received.len() > committed.len(), "failures were retried");
    assert!(received.iter().any(|r| matches!(r.answer, Answer::Hang(_))));
    assert_signed(&received, &secret);
    assert_in_order_per_user(&received, &committed);
    // Each event's envelope: every id form, the payload, RFC 3339 time.
    let first = received
        .iter()
        .find(|r| event_id(r) == committed[0].id.to_string())
        .unwrap();
    assert_eq!(first.json["type"], "user.created");
    assert_eq!(first.json["subject"]["id"], "9001");
    assert_eq!(first.json["subject"]["uuid"], roster_core::id::id_to_uuid(9001));
    assert_eq!(first.json["subject"]["object_id"], UserId(9001).to_object_id());
    assert_eq!(first.json["actor"]["id"], "42");
    assert_eq!(first.json["data"], json!({"n": 9001}));
    assert!(
        OffsetDateTime::parse(
            first.json["occurred_at"].as_str().unwrap(),
            &roster_core::time::format_description::well_known::Rfc3339
        )
        .is_ok()
    );
    // The delivery log: all delivered, retried ones with their attempts.
    let t = Some(admin.access_token.as_str());
    let log = app.get("/v1/webhooks/deliveries?limit=500", t).await;
    log.assert_status(200);
    let deliveries = log.body["deliveries"].as_array().unwrap();
    let ours: Vec<&Value> = deliveries
        .iter()
        .filter(|d| ids.contains(d["event_id"].as_str().unwrap()))
        .collect();
    assert_eq!(ours.len(), committed.len());
    assert!(
        ours.iter()
            .all(|d| d["status"] == "delivered" && d["delivered_at"].is_string())
    );
    assert!(ours.iter().any(|d| d["attempts"].as_i64().unwrap() > 1));
    let failed = app.get("/v1/webhooks/deliveries?status=failed", t).await;
    assert_eq!(failed.body["deliveries"], json!([]));
}

async fn deliveries_are_given_up_replayed_and_complete_deletions(backend: Backend) {
    let app = roster_testkit::or_skip!(webhook_app(backend).await);
    let admin = app.admin().await;
    let t = Some(admin.access_token.as_str());
    let required = Receiver::start(Answer::Status(503)).await;
    let optional = Receiver::start(Answer::Status(200)).await;
    let (required_id, _) = subscribe(
        &app,
        &admin.access_token,
        json!({"url": required.url, "required_for_deletion": true, "event_types": ["user.deleted"]}),
    )
    .await;
    subscribe(&app, &admin.access_token, json!({"url": optional.url})).await;
    let committed = commit_events(&app, &[("user.deleted", 7001), ("user.updated", 7002)]).await;
    let worker = Worker::start(
        app.core.clone(),
        WebhookSettings {
            max_attempts: 3,
            ..fast()
        },
    );
    // The optional receiver gets both; the required one refuses until it is given up.
    optional.wait_until(Duration::from_secs(30), |r| r.len() >= 2).await;
    required.wait_until(Duration::from_secs(30), |r| r.len() >= 3).await;
    let path = format!("/v1/webhooks/{required_id}/deliveries");
    let mut failed = Value::Null;
    for _ in 0..200 {
        let log = app.get(&path, t).await;
        if log.body["deliveries"][0]["status"] == "failed" {
            failed = log.body["deliveries"][0].clone();
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(failed["status"], "failed", "given up after max_attempts");
    assert_eq!(failed["attempts"], 3);
    assert_eq!(failed["last_status_code"], 503);
    assert_eq!(failed["last_error"], "HTTP 503");
    assert_eq!(failed["event_type"], "user.deleted");
    assert_eq!(failed["user_id"], "7001");
    assert!(failed["next_attempt_at"].is_null());
    assert_eq!(
        required.received().len(),
        3,
        "only user.deleted goes to it, three times"
    );

    // The deletion is pending, the required receiver late.
    let pending = app.get("/v1/deletions", t).await;
    pending.assert_status(200);
    let deletions = pending.body["deletions"].as_array().unwrap();
    assert_eq!(deletions.len(), 1, "{}", pending.text);
    let deletion = &deletions[0];
    assert_eq!(deletion["status"], "pending");
    assert_eq!(deletion["user"]["id"], "7001");
    assert_eq!(deletion["user"]["uuid"], roster_core::id::id_to_uuid(7001));
    assert_eq!(deletion["user"]["object_id"], UserId(7001).to_object_id());
    assert_eq!(deletion["event_id"], committed[0].id.to_string());
    assert_eq!(deletion["late"], json!([required_id]));
    assert_eq!(deletion["receivers"][0]["acknowledged"], false);
    assert_eq!(deletion["receivers"][0]["delivery"]["status"], "failed");

    // The receiver recovers; an admin replays; the deletion completes.
    required.answer(Answer::Status(200));
    let id = failed["id"].as_str().unwrap();
    let replayed = app
        .post(&format!("/v1/webhooks/deliveries/{id}/replay"), t, &json!({}))
        .await;
    replayed.assert_status(200);
    assert_eq!(replayed.body["status"], "pending");
    assert_eq!(replayed.body["attempts"], 0);
    required
        .wait_until(Duration::from_secs(30), |r| r.iter().any(Received::acknowledged))
        .await;
    let mut done = Value::Null;
    for _ in 0..200 {
        done = app.get("/v1/deletions", t).await.body;
        if done["deletions"] == json!([]) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(done["deletions"], json!([]));
    let all = app.get("/v1/deletions?status=all", t).await;
    assert_eq!(all.body["deletions"][0]["status"], "complete");
    assert_eq!(all.body["deletions"][0]["late"], json!([]));
    assert_eq!(all.body["deletions"][0]["receivers"][0]["acknowledged"], true);
    worker.stop().await;

    app.post("/v1/webhooks/deliveries/999999/replay", t, &json!({}))
        .await
        .assert_problem(404, "not_found");
    app.post("/v1/webhooks/deliveries/x/replay", t, &json!({}))
        .await
        .assert_problem(400, "invalid_id");
    app.get("/v1/deletions?status=done", t)
        .await
        .assert_problem(422, "invalid_field");
    // Removing the required subscription means no deletion waits for it.
    app.delete(&format!("/v1/webhooks/{required_id}"), t)
        .await
        .assert_status(204);
    app.get(&format!("/v1/webhooks/{required_id}"), t)
        .await
        .assert_problem(404, "not_found");
}

async fn subscriptions_are_validated_and_admin_only(backend: Backend) {
    let app = roster_testkit::or_skip!(webhook_app(backend).await);
    let admin = app.admin().await;
    let user = app.user(Role::User).await;
    let t = Some(admin.access_token.as_str());
    let r = app
        .post(
            "/v1/webhooks",
            t,
            &json!({"url": "https://hooks.example.org/roster", "event_types": ["user.deleted", "user.created"],
                    "secret": "a-secret-of-my-own-choice", "required_for_deletion": true, "description": "chats"}),
        )
        .await;
    r.assert_status(201);
    assert_eq!(r.body["secret"], "a-secret-of-my-own-choice");
    assert_eq!(r.body["event_types"], json!(["user.deleted", "user.created"]));
    assert_eq!(r.body["required_for_deletion"], true);
    assert_eq!(r.body["created_by"], admin.id_str());
    let id = r.body["id"].as_str().unwrap().to_string();
    let generated = app
        .post("/v1/webhooks", t, &json!({"url": "http://127.0.0.1:9/x"}))
        .await;
    generated.assert_status(201);
    assert!(generated.body["secret"].as_str().unwrap().starts_with("whsec_"));
    assert_eq!(generated.body["event_types"], json!([]));
    let list = app.get("/v1/webhooks", t).await;
    list.assert_status(200);
    assert_eq!(list.body["webhooks"].as_array().unwrap().len(), 2);
    assert!(!list.text.contains("secret"), "secrets are shown once: {}", list.text);
    let one = app.get(&format!("/v1/webhooks/{id}"), t).await;
    one.assert_status(200);
    assert_eq!(one.body["url"], "https://hooks.example.org/roster");
    assert!(one.body.get("secret").is_none());

    for (body, field) in [
        (json!({"url": "ftp://example.org"}), "url"),
        (json!({"url": "not a url"}), "url"),
        (
            json!({"url": "https://x.org", "event_types": ["User Deleted"]}),
            "event_types",
        ),
        (
            json!({"url": "https://x.org", "required_for_deletion": true, "event_types": ["user.created"]}),
            "event_types",
        ),
        (json!({"url": "https://x.org", "secret": "short"}), "secret"),
        (json!({"url": "https://x.org", "color": "red"}), "color"),
        (json!({"event_types": []}), "url"),
    ] {
        let r = app.post("/v1/webhooks", t, &body).await;
        r.assert_problem(422, "invalid_field");
        assert_eq!(r.body["field"], field, "{body}: {}", r.text);
    }

    let u = Some(user.access_token.as_str());
    for (method, path) in [
        ("GET", "/v1/webhooks".to_string()),
        ("POST", "/v1/webhooks".to_string()),
        ("GET", format!("/v1/webhooks/{id}")),
        ("DELETE", format!("/v1/webhooks/{id}")),
        ("GET", format!("/v1/webhooks/{id}/deliveries")),
        ("GET", "/v1/webhooks/deliveries".to_string()),
        ("POST", "/v1/webhooks/deliveries/1/replay".to_string()),
        ("GET", "/v1/deletions".to_string()),
        ("GET", "/v1/events".to_string()),
    ] {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let body = json!({"url": "https://x.org"});
        app.request(method.clone(), &path, u, Some(&body))
            .await
            .assert_problem(403, "forbidden");
        app.request(method, &path, None, Some(&body))
            .await
            .assert_problem(401, "unauthenticated");
    }
    app.get("/v1/webhooks/abc", t).await.assert_problem(400, "invalid_id");
    app.get("/v1/webhooks/12345/deliveries", t)
        .await
        .assert_problem(404, "not_found");
    app.get(&format!("/v1/webhooks/{id}/deliveries?status=lost"), t)
        .await
        .assert_problem(422, "invalid_field");
    for query in ["limit=0", "limit=501"] {
        let r = app.get(&format!("/v1/webhooks/deliveries?{query}"), t).await;
        r.assert_problem(422, "invalid_field");
        assert_eq!(r.body["field"], "limit");
    }
    app.delete(&format!("/v1/webhooks/{id}"), t).await.assert_status(204);
    app.delete(&format!("/v1/webhooks/{id}"), t)
        .await
        .assert_problem(404, "not_found");
    let doc = app.get("/v1/openapi.json", None).await;
    for path in ["/v1/webhooks", "/v1/webhooks/{id}", "/v1/deletions", "/v1/events"] {
        assert!(doc.body["paths"][path].is_object(), "{path} is documented");
    }
}

async fn the_event_stream_pages_for_admins_and_events_keys(backend: Backend) {
    let app = roster_testkit::or_skip!(webhook_app(backend).await);
    let admin = app.admin().await;
    let user = app.user(Role::User).await;
    let t = Some(admin.access_token.as_str());
    // Keys first: creating one is an event too.
    let key = app.api_key(&admin, &["events"]).await;
    let user_key = app.api_key(&user, &[]).await;
    let start = app.get("/v1/events?limit=1000", t).await;
    start.assert_status(200);
    let cursor = start.body["next_cursor"].as_str().unwrap().to_string();
    let committed = commit_events(
        &app,
        &[("user.created", 5001), ("user.updated", 5001), ("user.banned", 5002)],
    )
    .await;
    let page = app.get(&format!("/v1/events?after={cursor}&limit=2"), t).await;
    page.assert_status(200);
    let events = page.body["events"].as_array().unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0]["id"], committed[0].id.to_string());
    assert_eq!(events[0]["type"], "user.created");
    assert_eq!(events[0]["subject"]["uuid"], roster_core::id::id_to_uuid(5001));
    assert_eq!(events[1]["id"], committed[1].id.to_string());
    assert!(events[1]["sequence"].as_i64() > events[0]["sequence"].as_i64());
    let next = page.body["next_cursor"].as_str().unwrap();
    // An API key with the events scope reads the same stream.
    let rest = app.get(&format!("/v1/events?after={next}"), Some(&key)).await;
    rest.assert_status(200);
    assert_eq!(rest.body["events"].as_array().unwrap().len(), 1);
    assert_eq!(rest.body["events"][0]["id"], committed[2].id.to_string());
    let end = rest.body["next_cursor"].as_str().unwrap();
    let empty = app.get(&format!("/v1/events?after={end}"), Some(&key)).await;
    assert_eq!(empty.body["events"], json!([]));
    assert_eq!(empty.body["next_cursor"], end);
    // A key without the scope, a non-admin's session, and granting the scope as a non-admin.
    app.get("/v1/events", Some(&user_key))
        .await
        .assert_problem(403, "forbidden");
    app.post(
        "/v1/me/api-keys",
        Some(&user.access_token),
        &json!({"name": "events", "scopes": ["events"]}),
    )
    .await
    .assert_problem(403, "forbidden");
    let r = app.get("/v1/events?after=-1", t).await;
    r.assert_problem(422, "invalid_field");
    assert_eq!(r.body["field"], "after");
    let r = app.get("/v1/events?limit=0", t).await;
    r.assert_problem(422, "invalid_field");
    assert_eq!(r.body["field"], "limit");
    app.get("/v1/events?limit=x", t)
        .await
        .assert_problem(400, "invalid_query");
}

/// Two instances (each its own pool and worker) deliver from one database: each event is
/// sent once (every attempt succeeds), in order per user. On PostgreSQL they share the work
/// row by row; on SQLite one holds the delivery lease.
async fn two_instances_send_each_event_once(backend: Backend) {
    // Instances of one deployment share the secret key (webhook secrets are sealed with it).
    let key = || roster_core::secret::SecretKey::from_base64(roster_testkit::app::TEST_SECRET_KEY).unwrap();
    let app = roster_testkit::or_skip!(
        roster_testkit::app::spawn_app_with(backend, |c| {
            c.secret_key = Some(key());
            c.webhook_allow_private_networks = true;
        })
        .await
    );
    let admin = app.admin().await;
    let receiver = Receiver::start(Answer::Status(200)).await;
    receiver.delay(Duration::from_millis(30));
    let (_, secret) = subscribe(&app, &admin.access_token, json!({"url": receiver.url})).await;
    let second = Arc::new(
        Core::new(
            app.db.store().await,
            Arc::new(SystemClock),
            CoreConfig {
                node_id: 2,
                secret_key: Some(key()),
                webhook_allow_private_networks: true,
                ..CoreConfig::default()
            },
        )
        .await
        .unwrap(),
    );
    let settings = WebhookSettings {
        request_timeout: Duration::from_secs(5),
        concurrency: 4,
        ..fast()
    };
    let one = Worker::start(app.core.clone(), settings.clone());
    let two = Worker::start(second, settings);
    let mut committed = Vec::new();
    for round in 0..6 {
        let plan: Vec<(&str, i64)> = (0..8).map(|u| ("user.updated", 8000 + u)).collect();
        committed.extend(commit_events(&app, &plan).await);
        if round % 2 == 0 {
            tokio::time::sleep(Duration::from_millis(40)).await;
        }
    }
    let ids: HashSet<String> = committed.iter().map(|e| e.id.to_string()).collect();
    receiver
        .wait_until(Duration::from_secs(60), |r| {
            ids.is_subset(&r.iter().map(event_id).collect::<HashSet<_>>())
        })
        .await;
    // Give a duplicate time to show up.
    tokio::time::sleep(Duration::from_millis(500)).await;
    one.stop().await;
    two.stop().await;
    let received = receiver.received();
    let mut seen = HashSet::new();
    for r in &received {
        assert!(seen.insert(event_id(r)), "event {} was sent twice", event_id(r));
    }
    assert_eq!(seen, ids);
    assert_signed(&received, &secret);
    assert_in_order_per_user(&received, &committed);
}

/// Changes made through the API reach the receiver as events, in order; deleting the user
/// is pending until the required receiver acknowledges `user.deleted`.
async fn real_changes_are_delivered_and_deletions_wait_for_required_receivers(backend: Backend) {
    let app = roster_testkit::or_skip!(webhook_app(backend).await);
    let admin = app.admin().await;
    let t = Some(admin.access_token.as_str());
    let receiver = Receiver::start(Answer::Status(200)).await;
    let (webhook, secret) = subscribe(
        &app,
        &admin.access_token,
        json!({"url": receiver.url, "required_for_deletion": true}),
    )
    .await;
    let worker = Worker::start(app.core.clone(), fast());
    let created = app
        .post(
            "/v1/users",
            t,
            &json!({"email": "carol@example.org", "password": "carol's password"}),
        )
        .await;
    created.assert_status(201);
    let id = created.body["id"].as_str().unwrap().to_string();
    app.patch(&format!("/v1/users/{id}"), t, &json!({"name": "Carol"}))
        .await
        .assert_status(200);
    let of_carol = |r: &Received| r.json["subject"]["id"] == id.as_str();
    receiver
        .wait_until(Duration::from_secs(30), |r| {
            r.iter()
                .any(|r| of_carol(r) && r.json["type"] == "user.updated" && r.acknowledged())
        })
        .await;
    // The receiver goes down; the user is deleted at once, the deletion stays pending.
    receiver.answer(Answer::Status(503));
    app.delete(&format!("/v1/users/{id}"), t).await.assert_status(204);
    app.get(&format!("/v1/users/{id}"), t)
        .await
        .assert_problem(404, "not_found");
    receiver
        .wait_until(Duration::from_secs(30), |r| {
            r.iter()
                .filter(|r| of_carol(r) && r.json["type"] == "user.deleted")
                .count()
                >= 2
        })
        .await;
    let pending = app.get("/v1/deletions", t).await;
    pending.assert_status(200);
    let deletion = &pending.body["deletions"][0];
    assert_eq!(deletion["user"]["id"], id, "{}", pending.text);
    assert_eq!(deletion["status"], "pending");
    assert_eq!(deletion["deleted_by"], admin.id_str());
    assert_eq!(deletion["late"], json!([webhook]));
    let delivery = &deletion["receivers"][0]["delivery"];
    assert_eq!(delivery["status"], "pending");
    assert!(delivery["attempts"].as_i64().unwrap() >= 1, "{delivery}");
    assert_eq!(delivery["last_status_code"], 503);
    // It recovers: the deletion completes.
    receiver.answer(Answer::Status(200));
    let mut done = Value::Null;
    for _ in 0..400 {
        done = app.get("/v1/deletions", t).await.body;
        if done["deletions"] == json!([]) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(done["deletions"], json!([]));
    worker.stop().await;
    let all = app.get("/v1/deletions?status=all", t).await;
    assert_eq!(all.body["deletions"][0]["status"], "complete");
    // Carol's events arrived signed and in commit order: created first, deleted last.
    let received: Vec<Received> = receiver.received().into_iter().filter(|r| of_carol(r)).collect();
    assert_signed(&received, &secret);
    let acknowledged: Vec<&Received> = received.iter().filter(|r| r.acknowledged()).collect();
    let types: Vec<&str> = acknowledged.iter().map(|r| r.json["type"].as_str().unwrap()).collect();
    assert_eq!(types.first(), Some(&"user.created"), "{types:?}");
    assert_eq!(types.last(), Some(&"user.deleted"), "{types:?}");
    assert!(types.contains(&"user.updated"), "{types:?}");
    let sequences: Vec<i64> = acknowledged
        .iter()
        .map(|r| r.json["sequence"].as_i64().unwrap())
        .collect();
    assert!(
        sequences.windows(2).all(|w| w[0] < w[1]),
        "in commit order: {sequences:?}"
    );
    // The stream holds the same events.
    let stream = app.get("/v1/events?limit=1000", t).await;
    let ids: Vec<&Value> = stream.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["subject"]["id"] == id.as_str())
        .map(|e| &e["id"])
        .collect();
    let delivered: Vec<&Value> = acknowledged.iter().map(|r| &r.json["id"]).collect();
    assert_eq!(ids, delivered);
}

/// By default a subscription may not point at loopback, private, link-local, unspecified,
/// multicast or metadata addresses, in any spelling, nor carry credentials (which are then
/// never shown, even for a subscription stored before they were refused).
async fn subscriptions_refuse_internal_addresses_and_credentials(backend: Backend) {
    let app = roster_testkit::or_skip!(roster_testkit::spawn_app(backend).await);
    let admin = app.admin().await;
    let t = Some(admin.access_token.as_str());
    for url in [
        "http://localhost:8480/hook",
        "http://sub.localhost/hook",
        "http://127.0.0.1:9/x",
        "http://[::1]/x",
        "http://[::ffff:127.0.0.1]/x",
        "http://2130706433/x",
        "http://0x7f000001/x",
        "http://0177.0.0.1/x",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/",
        "http://10.0.0.8/x",
        "http://172.20.0.1/x",
        "http://192.168.0.10/x",
        "http://100.64.1.1/x",
        "http://[fd12:3456::1]/x",
        "http://[fe80::1]/x",
        "http://0.0.0.0:8480/x",
        "http://224.0.0.1/x",
    ] {
        let r = app.post("/v1/webhooks", t, &json!({ "url": url })).await;
        r.assert_problem(422, "invalid_field");
        assert!(
            r.text.contains("url") && r.text.contains("address"),
            "{url}: {}",
            r.text
        );
    }
    let r = app
        .post(
            "/v1/webhooks",
            t,
            &json!({"url": "https://hook:hunter22@hooks.example.org/x"}),
        )
        .await;
    r.assert_problem(422, "invalid_field");
    assert!(!r.text.contains("hunter22"), "{}", r.text);
    app.post("/v1/webhooks", t, &json!({"url": "https://hooks.example.org/x"}))
        .await
        .assert_status(201);
    assert_eq!(
        app.get("/v1/webhooks", t).await.body["webhooks"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // One stored before credentials were refused is shown without them.
    let legacy = roster_core::webhooks::Subscription {
        id: 4242,
        url: "https://hook:hunter22@legacy.example.org/x".into(),
        event_types: Vec::new(),
        secret: "sealed elsewhere".into(),
        required_for_deletion: false,
        description: None,
        created_by: None,
        created_at: OffsetDateTime::now_utc(),
        start_seq: 0,
        fanned_out_seq: 0,
    };
    app.core.store.insert_subscription(&legacy).await.unwrap();
    for path in ["/v1/webhooks", "/v1/webhooks/4242"] {
        let r = app.get(path, t).await;
        r.assert_status(200);
        assert!(!r.text.contains("hunter22"), "{path}: {}", r.text);
        assert!(r.text.contains("https://legacy.example.org/x"), "{path}: {}", r.text);
    }
}

/// A resolver for tests: fixed answers, no network.
struct FixedResolver(HashMap<String, Vec<std::net::IpAddr>>);

#[async_trait::async_trait]
impl HostResolver for FixedResolver {
    async fn lookup(&self, host: &str) -> std::io::Result<Vec<std::net::IpAddr>> {
        self.0
            .get(host)
            .cloned()
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "unknown test name"))
    }
}

/// The last error of the subscription's deliveries, once each was attempted.
async fn attempted(core: &Core, subscription: &str) -> Vec<Option<String>> {
    let query = DeliveryQuery {
        subscription_id: Some(subscription.parse().unwrap()),
        status: None,
        subject_id: None,
        before: None,
        limit: 100,
    };
    for _ in 0..500 {
        let deliveries = core.list_deliveries(core.operator(), query.clone()).await.unwrap();
        if !deliveries.is_empty() && deliveries.iter().all(|d| d.attempts > 0) {
            return deliveries.into_iter().map(|d| d.last_error).collect();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the deliveries of {subscription} were never attempted");
}

/// Addresses are checked again when a delivery is sent, on what the receiver's name resolves
/// to then (a name that was public when subscribed to may point inside later), and on
/// literals subscribed to while private networks were allowed; the log says only "address not
/// allowed", "connection failed", "timeout" or the HTTP status, nothing of the socket's error.
async fn deliveries_check_the_resolved_address_when_sent(backend: Backend) {
    let key = || roster_core::secret::SecretKey::from_base64(roster_testkit::app::TEST_SECRET_KEY).unwrap();
    let app = roster_testkit::or_skip!(
        roster_testkit::app::spawn_app_with(backend, |c| {
            c.secret_key = Some(key());
            c.webhook_allow_private_networks = true;
        })
        .await
    );
    let admin = app.admin().await;
    let t = admin.access_token.as_str();
    let receiver = Receiver::start(Answer::Status(200)).await;
    let port = receiver
        .url
        .split(':')
        .nth(2)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_string();
    let loopback: std::net::IpAddr = "127.0.0.1".parse().unwrap();
    let resolver = Arc::new(FixedResolver(HashMap::from([
        ("rebound.example.org".to_string(), vec![loopback]),
        ("localhost".to_string(), vec![loopback]),
    ])));
    // A name (public-looking when subscribed to) and the literal, both reaching the receiver.
    let (by_name, _) = subscribe(
        &app,
        t,
        json!({"url": format!("http://rebound.example.org:{port}/hook")}),
    )
    .await;
    let (by_address, _) = subscribe(&app, t, json!({ "url": receiver.url })).await;
    // The same deployment with the setting off (the default).
    let strict = Arc::new(
        Core::new(
            app.db.store().await,
            Arc::new(SystemClock),
            CoreConfig {
                node_id: 3,
                secret_key: Some(key()),
                ..CoreConfig::default()
            },
        )
        .await
        .unwrap(),
    );
    commit_events(&app, &[("user.created", 1), ("user.updated", 2)]).await;
    let start = |core: Arc<Core>| {
        let (stop, rx) = tokio::sync::watch::channel(false);
        let transport = HttpTransport::with_resolver(resolver.clone()).unwrap();
        let worker = DeliveryWorker::new(core, fast(), Arc::new(transport));
        Worker {
            stop,
            task: tokio::spawn(worker.run(rx)),
        }
    };
    let worker = start(strict.clone());
    for id in [&by_name, &by_address] {
        for error in attempted(&strict, id).await {
            assert_eq!(error.as_deref(), Some("address not allowed"), "subscription {id}");
        }
    }
    worker.stop().await;
    assert!(receiver.received().is_empty(), "nothing reached the receiver");

    // With the setting on, the same deliveries arrive: the checked address is the one used.
    let worker = start(app.core.clone());
    receiver
        .wait_until(Duration::from_secs(20), |r| {
            r.iter().filter(|r| r.acknowledged()).count() >= 4
        })
        .await;
    worker.stop().await;

    // A closed port and a receiver that never answers: the kind of failure, nothing more.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_url = format!("http://{}/hook", closed.local_addr().unwrap());
    drop(closed);
    let hanging = Receiver::start(Answer::Hang(Duration::from_secs(5))).await;
    app.delete(&format!("/v1/webhooks/{by_name}"), Some(t))
        .await
        .assert_status(204);
    app.delete(&format!("/v1/webhooks/{by_address}"), Some(t))
        .await
        .assert_status(204);
    let (refused, _) = subscribe(&app, t, json!({ "url": closed_url })).await;
    let (silent, _) = subscribe(&app, t, json!({ "url": hanging.url })).await;
    commit_events(&app, &[("user.created", 3)]).await;
    let worker = start(app.core.clone());
    assert_eq!(
        attempted(&app.core, &refused).await,
        vec![Some("connection failed".to_string())]
    );
    assert_eq!(attempted(&app.core, &silent).await, vec![Some("timeout".to_string())]);
    worker.stop().await;
}

backend_tests!(
    subscriptions_refuse_internal_addresses_and_credentials,
    deliveries_check_the_resolved_address_when_sent,
    every_event_arrives_in_order_per_user_signed_through_failures,
    deliveries_are_given_up_replayed_and_complete_deletions,
    subscriptions_are_validated_and_admin_only,
    the_event_stream_pages_for_admins_and_events_keys,
    two_instances_send_each_event_once,
    real_changes_are_delivered_and_deletions_wait_for_required_receivers,
);
