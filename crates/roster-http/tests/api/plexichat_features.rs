//! The Plexichat dialect's synced settings (`/users/@me/settings`) and user features
//! (`/users/@me/features`, the admin feature, tier and badge routes), with Plexichat's exact
//! shapes and strings, and where Roster does the right thing instead of Plexichat's bugs.

use reqwest::Method;
use roster_core::Role;
use roster_core::journal::AuditQuery;
use roster_testkit::app::{TestApp, TestResponse, TestUser};
use roster_testkit::{Backend, backend_tests, spawn_app};
use serde_json::{Value, json};
use time::Duration;

const P: &str = "/plexichat";

async fn px(app: &TestApp, method: Method, path: &str, user: Option<&TestUser>, body: Option<&Value>) -> TestResponse {
    app.request(
        method,
        &format!("{P}{path}"),
        user.map(|u| u.access_token.as_str()),
        body,
    )
    .await
}

#[track_caller]
fn assert_error(r: &TestResponse, status: u16, message: &str) {
    r.assert_status(status);
    assert_eq!(
        r.body,
        json!({"error": {"code": status, "message": message}}),
        "body: {}",
        r.text
    );
}

fn now_ms(app: &TestApp) -> i64 {
    use roster_core::Clock;
    (app.clock.now().unix_timestamp_nanos() / 1_000_000) as i64
}

fn standard_limits() -> Value {
    json!({
        "name": "standard", "multiplier": 1.0, "max_voice_minutes_per_day": 120,
        "max_video_minutes_per_day": 60, "max_file_uploads_per_day": 50, "max_file_size_mb": 10,
        "max_servers": 100, "max_message_length": 2000, "max_reactions_per_message": 20,
        "max_pins_per_channel": 50, "custom_emoji_slots": 50
    })
}

fn premium_limits() -> Value {
    json!({
        "name": "premium", "multiplier": 3.0, "max_voice_minutes_per_day": -1,
        "max_video_minutes_per_day": -1, "max_file_uploads_per_day": 500, "max_file_size_mb": 100,
        "max_servers": 500, "max_message_length": 2000, "max_reactions_per_message": 20,
        "max_pins_per_channel": 50, "custom_emoji_slots": 50
    })
}

async fn settings_are_a_string_store_with_millisecond_times(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let ann = app.user(Role::User).await;
    let bob = app.user(Role::User).await;
    let all = px(&app, Method::GET, "/users/@me/settings", Some(&ann), None).await;
    all.assert_status(200);
    assert_eq!(all.body, json!({"settings": {}, "count": 0, "limit": 100}));

    let t0 = now_ms(&app);
    let put = px(
        &app,
        Method::PUT,
        "/users/@me/settings/theme",
        Some(&ann),
        Some(&json!({"value": "dark"})),
    )
    .await;
    put.assert_status(200);
    assert_eq!(
        put.body,
        json!({"key": "theme", "value": "dark", "created_at": t0, "updated_at": t0})
    );
    app.advance(Duration::seconds(2));
    let again = px(
        &app,
        Method::PUT,
        "/users/@me/settings/theme",
        Some(&ann),
        Some(&json!({"value": "light"})),
    )
    .await;
    assert_eq!(
        again.body,
        json!({"key": "theme", "value": "light", "created_at": t0, "updated_at": t0 + 2000})
    );
    let one = px(&app, Method::GET, "/users/@me/settings/theme", Some(&ann), None).await;
    assert_eq!(one.body, again.body);
    // A key with spaces and symbols, percent-encoded in the path.
    px(
        &app,
        Method::PUT,
        "/users/@me/settings/my%20key.x",
        Some(&ann),
        Some(&json!({"value": ""})),
    )
    .await
    .assert_status(200);
    let all = px(&app, Method::GET, "/users/@me/settings", Some(&ann), None).await;
    assert_eq!(
        all.body,
        json!({"settings": {"theme": "light", "my key.x": ""}, "count": 2, "limit": 100})
    );

    // Another user sees only their own.
    let theirs = px(&app, Method::GET, "/users/@me/settings", Some(&bob), None).await;
    assert_eq!(theirs.body["count"], 0);
    assert_error(
        &px(&app, Method::GET, "/users/@me/settings/theme", Some(&bob), None).await,
        404,
        "Setting 'theme' not found",
    );

    let deleted = px(&app, Method::DELETE, "/users/@me/settings/theme", Some(&ann), None).await;
    deleted.assert_status(200);
    assert_eq!(deleted.body, json!({"success": true, "message": null}));
    assert_error(
        &px(&app, Method::DELETE, "/users/@me/settings/theme", Some(&ann), None).await,
        404,
        "Setting 'theme' not found",
    );
    assert_error(
        &px(&app, Method::GET, "/users/@me/settings", None, None).await,
        401,
        "Unauthorized",
    );

    // Writes are audited (keys, never values).
    let audit = app
        .core
        .store
        .list_audit(&AuditQuery {
            target: Some(ann.id),
            limit: 50,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    let actions: Vec<&str> = audit.iter().rev().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions
            .iter()
            .filter(|a| a.starts_with("user_setting."))
            .collect::<Vec<_>>(),
        [
            &"user_setting.put",
            &"user_setting.put",
            &"user_setting.put",
            &"user_setting.delete"
        ]
    );
    assert!(!format!("{audit:?}").contains("light"), "values are not audited");
}

async fn settings_rules_answer_plexichat_messages(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let ann = app.user(Role::User).await;
    let put = |key: String, body: Value| {
        let app = &app;
        let ann = &ann;
        async move {
            px(
                app,
                Method::PUT,
                &format!("/users/@me/settings/{key}"),
                Some(ann),
                Some(&body),
            )
            .await
        }
    };
    assert_error(
        &put("k".repeat(101), json!({"value": "v"})).await,
        400,
        "Key exceeds maximum length of 100 characters",
    );
    put("k".repeat(100), json!({"value": "v"})).await.assert_status(200);
    assert_error(
        &put("__internal_flags".into(), json!({"value": "v"})).await,
        400,
        "Key '__internal_flags' uses reserved prefix '__internal'",
    );
    assert_error(
        &put("big".into(), json!({"value": "é".repeat(10_001)})).await,
        400,
        "Invalid value: String should have at most 10000 characters",
    );
    put("big".into(), json!({"value": "é".repeat(10_000)}))
        .await
        .assert_status(200);
    assert_error(&put("k".into(), json!({})).await, 400, "Invalid value: Field required");
    assert_error(
        &put("k".into(), json!({"value": 5})).await,
        400,
        "Invalid value: Input should be a valid string",
    );

    // 100 settings at most: a new key past it is refused, an existing one may change.
    let fill: serde_json::Map<String, Value> = (0..98).map(|i| (format!("s{i}"), json!("x"))).collect();
    px(
        &app,
        Method::PUT,
        "/users/@me/settings/bulk",
        Some(&ann),
        Some(&Value::Object(fill)),
    )
    .await
    .assert_status(200);
    assert_error(
        &put("one_more".into(), json!({"value": "v"})).await,
        400,
        "User has reached maximum of 100 settings",
    );
    put("s0".into(), json!({"value": "changed"})).await.assert_status(200);
    let all = px(&app, Method::GET, "/users/@me/settings", Some(&ann), None).await;
    assert_eq!(
        (all.body["count"].clone(), all.body["settings"]["s0"].clone()),
        (json!(100), json!("changed"))
    );
}

async fn bulk_writes_are_all_or_nothing(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let ann = app.user(Role::User).await;
    let bulk = |body: Value| {
        let app = &app;
        let ann = &ann;
        async move { px(app, Method::PUT, "/users/@me/settings/bulk", Some(ann), Some(&body)).await }
    };
    let ok = bulk(json!({"theme": "dark", "compact_mode": true, "volume": 7, "locale": "en-US"})).await;
    ok.assert_status(200);
    assert_eq!(ok.body, json!({"success": true, "message": null}));
    let all = px(&app, Method::GET, "/users/@me/settings", Some(&ann), None).await;
    assert_eq!(
        all.body["settings"],
        json!({"theme": "dark", "compact_mode": "true", "volume": "7", "locale": "en-US"})
    );
    // One bad key: 400 naming it, and nothing of the batch is written.
    assert_error(
        &bulk(json!({"theme": "light", "__internal": "x"})).await,
        400,
        "Setting '__internal': Key '__internal' uses reserved prefix '__internal'",
    );
    assert_error(
        &bulk(json!({"theme": "light", "nested": {"a": 1}})).await,
        400,
        "Setting 'nested': the value must be a string, a number or a boolean",
    );
    assert_error(
        &bulk(json!(["theme"])).await,
        400,
        "Invalid body: Input should be a valid dictionary",
    );
    let after = px(&app, Method::GET, "/users/@me/settings/theme", Some(&ann), None).await;
    assert_eq!(after.body["value"], "dark");
    // Past the limit as a whole: refused, nothing written.
    let many: serde_json::Map<String, Value> = (0..97).map(|i| (format!("n{i}"), json!("x"))).collect();
    assert_error(
        &bulk(Value::Object(many)).await,
        400,
        "User has reached maximum of 100 settings",
    );
    let all = px(&app, Method::GET, "/users/@me/settings", Some(&ann), None).await;
    assert_eq!(all.body["count"], 4);
    // Only PUT is the bulk route: GET and DELETE read and delete a key named `bulk`.
    assert_error(
        &px(&app, Method::GET, "/users/@me/settings/bulk", Some(&ann), None).await,
        404,
        "Setting 'bulk' not found",
    );
    assert_error(
        &px(&app, Method::DELETE, "/users/@me/settings/bulk", Some(&ann), None).await,
        404,
        "Setting 'bulk' not found",
    );
}

async fn features_show_badges_tier_and_limits(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let admin = app.admin().await;
    let ann = app.user(Role::User).await;
    let mine = px(&app, Method::GET, "/users/@me/features", Some(&ann), None).await;
    mine.assert_status(200);
    assert_eq!(
        mine.body,
        json!({"badges": [], "tier": "standard", "tier_limits": standard_limits()})
    );

    let added = px(
        &app,
        Method::POST,
        &format!("/admin/users/{}/badges/bug_hunter", ann.id),
        Some(&admin),
        None,
    )
    .await;
    added.assert_status(200);
    assert_eq!(added.body, json!({"success": true, "badges": ["bug_hunter"]}));
    // A badge given through the native API shows as Plexichat shows one it does not know.
    // (Badges keep the order they were given in.)
    app.advance(Duration::seconds(1));
    app.core
        .add_badge(app.core.operator(), ann.id, "beta_2x")
        .await
        .unwrap();
    let mine = px(&app, Method::GET, "/users/@me/features", Some(&ann), None).await;
    assert_eq!(
        mine.body["badges"],
        json!([
            {"name": "bug_hunter", "display_name": "Bug Hunter", "description": "Found and reported bugs",
             "icon": "\u{1f41b}", "color": "#84cc16"},
            {"name": "beta_2x", "display_name": "Beta 2X", "description": "", "icon": "\u{1f3f7}\u{fe0f}",
             "color": "#6b7280"}
        ])
    );
    // The same badges on the user object.
    let me = px(&app, Method::GET, "/users/@me", Some(&ann), None).await;
    assert_eq!(me.body["badges"], json!(["bug_hunter", "beta_2x"]));

    let path = format!("/admin/users/{}/features", ann.id);
    let features = px(&app, Method::GET, &path, Some(&admin), None).await;
    features.assert_status(200);
    assert_eq!(
        features.body,
        json!({"user_id": ann.id_str(), "rate_limit_tier": "standard", "badges": ["bug_hunter", "beta_2x"],
               "tier_limits": standard_limits(), "expires_at": null})
    );

    // A tier until a time (milliseconds, as Plexichat's code compares them) ...
    let until = now_ms(&app) + 60_000;
    let set = px(
        &app,
        Method::PUT,
        &path,
        Some(&admin),
        Some(&json!({"rate_limit_tier": "premium", "expires_at": until, "notes": "trial"})),
    )
    .await;
    set.assert_status(200);
    assert_eq!(set.body["rate_limit_tier"], "premium");
    assert_eq!(set.body["tier_limits"], premium_limits());
    assert_eq!(set.body["expires_at"], until);
    let mine = px(&app, Method::GET, "/users/@me/features", Some(&ann), None).await;
    assert_eq!(
        (mine.body["tier"].clone(), mine.body["tier_limits"].clone()),
        (json!("premium"), premium_limits())
    );
    // ... after which the default applies again.
    app.advance(Duration::seconds(61));
    let mine = px(&app, Method::GET, "/users/@me/features", Some(&ann), None).await;
    assert_eq!(mine.body["tier"], "standard");
    let features = px(&app, Method::GET, &path, Some(&admin), None).await;
    assert_eq!(
        (
            features.body["rate_limit_tier"].clone(),
            features.body["expires_at"].clone()
        ),
        (json!("standard"), Value::Null)
    );

    // Seconds, as Plexichat's documentation shows them, are understood as seconds (Plexichat
    // would take them as milliseconds: already past).
    let seconds = now_ms(&app) / 1000 + 3600;
    let set = px(
        &app,
        Method::PUT,
        &path,
        Some(&admin),
        Some(&json!({"rate_limit_tier": "alpha", "expires_at": seconds})),
    )
    .await;
    assert_eq!(
        (set.body["rate_limit_tier"].clone(), set.body["expires_at"].clone()),
        (json!("alpha"), json!(seconds * 1000))
    );
    // Only the end: the tier stays.
    let later = now_ms(&app) + 7_200_000;
    let set = px(
        &app,
        Method::PUT,
        &path,
        Some(&admin),
        Some(&json!({"expires_at": later})),
    )
    .await;
    assert_eq!(
        (set.body["rate_limit_tier"].clone(), set.body["expires_at"].clone()),
        (json!("alpha"), json!(later))
    );
    let past = px(
        &app,
        Method::PUT,
        &path,
        Some(&admin),
        Some(&json!({"expires_at": now_ms(&app) - 1000})),
    )
    .await;
    past.assert_status(400);
    assert_eq!(past.body["error"]["field"], "expires_at");

    // Unknown tiers (Plexichat's `staff` has no limits) are refused, naming the tiers.
    assert_error(
        &px(
            &app,
            Method::PUT,
            &path,
            Some(&admin),
            Some(&json!({"rate_limit_tier": "staff"})),
        )
        .await,
        400,
        "Invalid tier: Invalid tier 'staff'. Available: ['alpha', 'premium', 'standard']",
    );
    let audit = app
        .core
        .store
        .list_audit(&AuditQuery {
            action: Some("user.tier_set".into()),
            limit: 50,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(audit.len(), 3);
    assert!(
        audit
            .iter()
            .all(|e| e.actor_id == Some(admin.id) && e.target_id == Some(ann.id))
    );
}

async fn admin_tier_and_badge_routes(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let admin = app.admin().await;
    let ann = app.user(Role::User).await;
    let tiers = px(&app, Method::GET, "/admin/tiers", Some(&admin), None).await;
    tiers.assert_status(200);
    let mut alpha = standard_limits();
    for (k, v) in [
        ("name", json!("alpha")),
        ("multiplier", json!(2.0)),
        ("max_voice_minutes_per_day", json!(480)),
        ("max_video_minutes_per_day", json!(240)),
        ("max_file_uploads_per_day", json!(200)),
        ("max_file_size_mb", json!(25)),
        ("max_servers", json!(200)),
    ] {
        alpha[k] = v;
    }
    assert_eq!(
        tiers.body,
        json!({"tiers": {"standard": standard_limits(), "alpha": alpha, "premium": premium_limits()},
               "default": "standard"})
    );
    let badges = px(&app, Method::GET, "/admin/badges", Some(&admin), None).await;
    badges.assert_status(200);
    let names: Vec<&str> = badges.body["badges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "alpha_tester",
            "early_supporter",
            "staff",
            "verified",
            "bug_hunter",
            "contributor",
            "moderator",
            "partner"
        ]
    );
    assert_eq!(
        badges.body["badges"][6],
        json!({"name": "moderator", "display_name": "Moderator", "description": "Community moderator",
               "icon": "\u{1f6e1}\u{fe0f}", "color": "#8b5cf6"})
    );

    let tier_path = format!("/admin/users/{}/tier", ann.id);
    let set = px(
        &app,
        Method::PUT,
        &tier_path,
        Some(&admin),
        Some(&json!({"tier": "alpha"})),
    )
    .await;
    set.assert_status(200);
    assert_eq!(
        set.body,
        json!({"success": true, "message": "User tier updated successfully"})
    );
    let mine = px(&app, Method::GET, "/users/@me/features", Some(&ann), None).await;
    assert_eq!(mine.body["tier"], "alpha");
    assert_error(
        &px(
            &app,
            Method::PUT,
            &tier_path,
            Some(&admin),
            Some(&json!({"tier": "staff"})),
        )
        .await,
        400,
        "Invalid tier: Invalid tier 'staff'. Available: ['alpha', 'premium', 'standard']",
    );

    let badge = |b: &str| format!("/admin/users/{}/badges/{b}", ann.id);
    px(&app, Method::POST, &badge("verified"), Some(&admin), None)
        .await
        .assert_status(200);
    app.advance(Duration::seconds(1));
    let both = px(&app, Method::POST, &badge("partner"), Some(&admin), None).await;
    assert_eq!(both.body, json!({"success": true, "badges": ["verified", "partner"]}));
    // Given twice: kept once.
    let again = px(&app, Method::POST, &badge("verified"), Some(&admin), None).await;
    assert_eq!(again.body["badges"], json!(["verified", "partner"]));
    // Unknown badges are refused (Plexichat stores them and answers 200).
    assert_error(
        &px(&app, Method::POST, &badge("wizard"), Some(&admin), None).await,
        400,
        "Invalid badge",
    );
    let removed = px(&app, Method::DELETE, &badge("verified"), Some(&admin), None).await;
    assert_eq!(removed.body, json!({"success": true, "badges": ["partner"]}));
    // Taking a badge the user lacks changes nothing.
    let noop = px(&app, Method::DELETE, &badge("staff"), Some(&admin), None).await;
    noop.assert_status(200);
    assert_eq!(noop.body, json!({"success": true, "badges": ["partner"]}));

    // Who may call: a user gets 403 (Plexichat answers its feature routes with 401), no
    // token 401; ids are checked; unknown users are 404.
    for path in [
        "/admin/tiers",
        "/admin/badges",
        &format!("/admin/users/{}/features", admin.id),
    ] {
        assert_error(
            &px(&app, Method::GET, path, Some(&ann), None).await,
            403,
            "Admin access required",
        );
        assert_error(&px(&app, Method::GET, path, None, None).await, 401, "Unauthorized");
    }
    assert_error(
        &px(
            &app,
            Method::PUT,
            &tier_path,
            Some(&ann),
            Some(&json!({"tier": "premium"})),
        )
        .await,
        403,
        "Insufficient permissions",
    );
    assert_error(
        &px(&app, Method::POST, &badge("staff"), Some(&ann), None).await,
        403,
        "Insufficient permissions",
    );
    assert_eq!(
        px(&app, Method::GET, "/users/@me/features", Some(&ann), None)
            .await
            .body["tier"],
        "alpha"
    );
    assert_error(
        &px(&app, Method::GET, "/admin/users/12ab/features", Some(&admin), None).await,
        400,
        "Invalid user ID",
    );
    assert_error(
        &px(
            &app,
            Method::PUT,
            "/admin/users/x/tier",
            Some(&admin),
            Some(&json!({"tier": "alpha"})),
        )
        .await,
        400,
        "Invalid user ID",
    );
    assert_error(
        &px(&app, Method::GET, "/admin/users/123456789/features", Some(&admin), None).await,
        404,
        "User not found",
    );
    assert_error(
        &px(
            &app,
            Method::POST,
            "/admin/users/123456789/badges/staff",
            Some(&admin),
            None,
        )
        .await,
        404,
        "User not found",
    );
    assert_error(
        &px(
            &app,
            Method::PUT,
            "/admin/users/123456789/tier",
            Some(&admin),
            Some(&json!({"tier": "alpha"})),
        )
        .await,
        404,
        "User not found",
    );
}

async fn tiers_defined_in_roster_render_with_plexichat_defaults(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let admin = app.admin().await;
    let ann = app.user(Role::User).await;
    let mut limits = roster_core::tier::TierLimits::new();
    limits.insert("max_servers".into(), 1000.into());
    limits.insert("multiplier".into(), serde_json::Number::from_f64(1.5).unwrap());
    app.core
        .put_tier(app.core.operator(), "gold", Some(limits), true)
        .await
        .unwrap();
    let mine = px(&app, Method::GET, "/users/@me/features", Some(&ann), None).await;
    let mut expected = standard_limits();
    expected["name"] = json!("gold");
    expected["max_servers"] = json!(1000);
    expected["multiplier"] = json!(1.5);
    assert_eq!(
        mine.body,
        json!({"badges": [], "tier": "gold", "tier_limits": expected})
    );
    let tiers = px(&app, Method::GET, "/admin/tiers", Some(&admin), None).await;
    assert_eq!(tiers.body["default"], "gold");
    assert_eq!(tiers.body["tiers"].as_object().unwrap().len(), 4);
}

backend_tests!(
    settings_are_a_string_store_with_millisecond_times,
    settings_rules_answer_plexichat_messages,
    bulk_writes_are_all_or_nothing,
    features_show_badges_tier_and_limits,
    admin_tier_and_badge_routes,
    tiers_defined_in_roster_render_with_plexichat_defaults,
);
