//! Retention: `roster purge [--dry-run]` and the core's purge, on both backends. Rows of every
//! kind are written old (or expired) and young (or live); the old go, the young stay, an event
//! still owed to a receiver stays, a dry run deletes nothing, and a small batch size takes
//! several batches.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use roster_core::Role;
use roster_core::service::RetentionPolicy;
use roster_core::store::PurgeKind;
use roster_testkit::app::{TestApp, spawn_app_on};
use roster_testkit::{Backend, TestDatabase, backend_tests};
use sqlx::Connection as _;
use std::collections::BTreeMap;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_roster");
const DAY: i64 = 86_400_000;
const HOUR: i64 = 3_600_000;

async fn exec(url: &str, sql: &str) {
    if url.starts_with("sqlite") {
        let mut c = sqlx::SqliteConnection::connect(url).await.unwrap();
        sqlx::raw_sql(sql).execute(&mut c).await.unwrap();
    } else {
        let mut c = sqlx::PgConnection::connect(url).await.unwrap();
        sqlx::raw_sql(sql).execute(&mut c).await.unwrap();
    }
}

/// The keys present in a table, as text.
async fn keys(url: &str, table: &str, key: &str) -> Vec<String> {
    let sql = format!("SELECT CAST({key} AS TEXT) FROM {table} ORDER BY 1");
    // PostgreSQL's outbox rows have no `seq` until a reader numbers them.
    let found: Vec<Option<String>> = if url.starts_with("sqlite") {
        let mut c = sqlx::SqliteConnection::connect(url).await.unwrap();
        sqlx::query_scalar(&sql).fetch_all(&mut c).await.unwrap()
    } else {
        let mut c = sqlx::PgConnection::connect(url).await.unwrap();
        sqlx::query_scalar(&sql).fetch_all(&mut c).await.unwrap()
    };
    found.into_iter().flatten().collect()
}

fn now_ms() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

/// Writes, for every kind, rows to purge (`9xx` keys) and rows to keep (`8xx` keys).
async fn seed(app: &TestApp) -> (i64, i64) {
    let admin = app.admin().await;
    let other = app.user(Role::User).await;
    let (a, b) = (admin.id.0, other.id.0);
    let now = now_ms();
    let (expired, live) = (now - HOUR, now + HOUR);
    let (ancient, old, young) = (now - 400 * DAY, now - 40 * DAY, now - DAY);
    let sql = format!(
        "INSERT INTO audit_log (id, at, actor_id, action, target_id, ip, details) VALUES \
           (901, {ancient}, NULL, 'test.old', NULL, NULL, '{{}}'), \
           (902, {ancient}, NULL, 'test.old', NULL, NULL, '{{}}'), \
           (903, {ancient}, NULL, 'test.old', NULL, NULL, '{{}}'), \
           (801, {old}, NULL, 'test.young', NULL, NULL, '{{}}'); \
         INSERT INTO webhook_subscriptions (id, url, event_types, secret, required_for_deletion, description, \
           created_by, created_at, start_seq, fanned_out_seq) VALUES \
           (1, 'https://hooks.example.org/in', '[]', 'sealed', FALSE, NULL, NULL, {old}, 0, 1000002), \
           (2, 'https://hooks.example.org/required', '[]', 'sealed', TRUE, NULL, NULL, {old}, 0, 1000002); \
         INSERT INTO outbox (seq, id, event_type, subject_id, actor_id, occurred_at, payload) VALUES \
           (1000001, 901, 'test', {a}, NULL, {old}, '{{}}'), \
           (1000002, 802, 'test', {a}, NULL, {old}, '{{}}'), \
           (1000003, 803, 'test', {a}, NULL, {old}, '{{}}'), \
           (1000004, 804, 'test', {a}, NULL, {young}, '{{}}'), \
           (1000005, 805, 'test', {a}, NULL, {old}, '{{}}'); \
         INSERT INTO webhook_deliveries (id, subscription_id, event_seq, event_id, event_type, subject_id, status, \
           attempts, next_attempt_at, delivered_at, last_attempt_at, created_at) VALUES \
           (901, 1, 1000001, 901, 'test', {a}, 'delivered', 1, {old}, {old}, {old}, {old}), \
           (802, 1, 1, 1, 'test', {a}, 'failed', 5, {old}, NULL, {old}, {old}), \
           (801, 1, 1000002, 802, 'test', {a}, 'pending', 0, {old}, NULL, NULL, {old}), \
           (803, 1, 2, 2, 'test', {a}, 'delivered', 1, {young}, {young}, {young}, {young}), \
           (804, 2, 1000004, 804, 'test', {a}, 'delivered', 1, {old}, {old}, {old}, {old}); \
         INSERT INTO sessions (id, user_id, created_at, last_used_at, expires_at) VALUES \
           (901, {a}, {old}, {old}, {expired}), \
           (801, {a}, {old}, {old}, {expired}), \
           (802, {b}, {young}, {young}, {live}); \
         INSERT INTO refresh_tokens (digest, session_id, created_at, used_at) VALUES ('r901', 901, {old}, NULL); \
         INSERT INTO oidc_clients (client_id, name, secret_digest, redirect_uris, post_logout_redirect_uris, scopes, \
           grant_types, audience, first_party, backchannel_logout_uri, signing_alg, access_token_ttl, id_token_ttl, \
           refresh_token_ttl, roles_claim, groups_claim, created_at, updated_at) VALUES \
           ('rp', NULL, NULL, '[]', '[]', '[]', '[]', NULL, TRUE, NULL, 'RS256', 300, 300, 86400, 'roles', 'groups', \
            {old}, {old}); \
         INSERT INTO oidc_grants (id, client_id, user_id, session_id, scope, auth_time, amr, created_at, expires_at) \
           VALUES (801, 'rp', {a}, 801, 'openid', {old}, '[]', {old}, {live}), \
                  (901, 'rp', {b}, 802, 'openid', {old}, '[]', {old}, {expired}), \
                  (802, 'rp', {b}, 802, 'openid', {old}, '[]', {old}, {live}); \
         INSERT INTO oidc_codes (digest, grant_id, redirect_uri, created_at, expires_at) VALUES \
           ('c901', 802, 'https://rp.example.org/cb', {old}, {expired}), \
           ('c801', 802, 'https://rp.example.org/cb', {old}, {live}); \
         INSERT INTO oidc_logouts (id, client_id, user_id, sid, status, attempts, next_attempt_at, delivered_at, \
           last_attempt_at, created_at) VALUES \
           (901, 'rp', {a}, 1, 'delivered', 1, {old}, {old}, {old}, {old}), \
           (801, 'rp', {a}, 2, 'pending', 0, {old}, NULL, NULL, {old}), \
           (802, 'rp', {a}, 3, 'delivered', 1, {young}, {young}, {young}, {young}); \
         INSERT INTO account_tokens (digest, kind, user_id, email, role, created_at, expires_at) VALUES \
           ('t901', 'password_reset', {a}, NULL, NULL, {old}, {expired}), \
           ('t801', 'password_reset', {a}, NULL, NULL, {old}, {live}); \
         INSERT INTO email_verifications (digest, user_id, email, created_at, expires_at) VALUES \
           ('v901', {a}, 'x@example.org', {old}, {expired}), \
           ('v801', {a}, 'y@example.org', {old}, {live}); \
         INSERT INTO email_changes (user_id, digest, new_email, created_at, expires_at) VALUES \
           ({a}, 'e901', 'new-a@example.org', {old}, {expired}), \
           ({b}, 'e801', 'new-b@example.org', {old}, {live}); \
         INSERT INTO two_factor_challenges (digest, user_id, created_at, expires_at, attempts) VALUES \
           ('f901', {a}, {old}, {expired}, 0), \
           ('f801', {a}, {old}, {live}, 0);"
    );
    exec(&app.db.url, &sql).await;
    (a, b)
}

/// The keys of the seeded rows (`8xx` kept, `9xx` purged) that remain in each table.
async fn seeded(url: &str) -> BTreeMap<&'static str, Vec<String>> {
    let mut out = BTreeMap::new();
    for (table, key, mine) in [
        ("audit_log", "id", &["801", "901", "902", "903"][..]),
        (
            "outbox",
            "seq",
            &["1000001", "1000002", "1000003", "1000004", "1000005"][..],
        ),
        ("webhook_deliveries", "id", &["801", "802", "803", "804", "901"][..]),
        ("sessions", "id", &["801", "802", "901"][..]),
        ("refresh_tokens", "digest", &["r901"][..]),
        ("oidc_grants", "id", &["801", "802", "901"][..]),
        ("oidc_codes", "digest", &["c801", "c901"][..]),
        ("oidc_logouts", "id", &["801", "802", "901"][..]),
        ("account_tokens", "digest", &["t801", "t901"][..]),
        ("email_verifications", "digest", &["v801", "v901"][..]),
        ("email_changes", "digest", &["e801", "e901"][..]),
        ("two_factor_challenges", "digest", &["f801", "f901"][..]),
    ] {
        let mut found = keys(url, table, key).await;
        found.retain(|k| mine.contains(&k.as_str()));
        out.insert(table, found);
    }
    out
}

fn v(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

async fn purge_removes_the_old_and_keeps_the_young_and_the_owed(backend: Backend) {
    let db = roster_testkit::or_skip!(TestDatabase::new(backend).await);
    let app = spawn_app_on(db).await;
    seed(&app).await;
    let before = seeded(&app.db.url).await;

    // A dry run counts and deletes nothing.
    let out = Command::new(BIN)
        .env_clear()
        .env("ROSTER_DATABASE_URL", &app.db.url)
        .env("ROSTER_SECRET_KEY", roster_testkit::app::TEST_SECRET_KEY)
        .current_dir(std::env::temp_dir())
        .args(["purge", "--dry-run"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let counts: BTreeMap<String, u64> = stdout
        .lines()
        .filter_map(|l| l.split_once(": "))
        .filter_map(|(k, n)| Some((k.to_string(), n.parse().ok()?)))
        .collect();
    let expected: BTreeMap<String, u64> = [
        ("audit", 3),
        ("outbox", 1),
        ("deliveries", 1),
        ("sessions", 1),
        ("account_tokens", 1),
        ("email_verifications", 1),
        ("email_changes", 1),
        ("two_factor_challenges", 1),
        ("oidc_codes", 1),
        ("oidc_grants", 1),
        ("backchannel_logouts", 1),
    ]
    .into_iter()
    .map(|(k, n)| (k.to_string(), n))
    .collect();
    assert_eq!(counts, expected, "{stdout}");
    assert!(stdout.contains("would purge 13 rows"), "{stdout}");
    assert_eq!(before, seeded(&app.db.url).await, "a dry run deletes nothing");

    // The purge, one row per batch.
    let policy = RetentionPolicy {
        batch_size: 1,
        ..RetentionPolicy::default()
    };
    let purged = app.core.purge(&policy, false).await.unwrap();
    let audit = purged.iter().find(|p| p.kind == PurgeKind::Audit).unwrap();
    assert_eq!((audit.rows, audit.batches), (3, 3), "several batches");
    let total: u64 = purged.iter().map(|p| p.rows).sum();
    assert_eq!(total, 13, "{purged:?}");

    let after = seeded(&app.db.url).await;
    assert_eq!(after["audit_log"], v(&["801"]));
    // 1000001: old, delivered everywhere: gone. 1000002: a delivery pending; 1000003: the
    // subscription has not queued it yet; 1000004: young; 1000005: the newest.
    assert_eq!(after["outbox"], v(&["1000002", "1000003", "1000004", "1000005"]));
    // 801 is pending and 802 failed (both still owed); 803 is young; 804, to a subscription
    // required for deletions, proves the delivery of an event still in the outbox.
    assert_eq!(after["webhook_deliveries"], v(&["801", "802", "803", "804"]));
    // 801 expired but an unexpired grant hangs on it; 802 is live.
    assert_eq!(after["sessions"], v(&["801", "802"]));
    assert!(after["refresh_tokens"].is_empty(), "{after:?}");
    assert_eq!(after["oidc_grants"], v(&["801", "802"]));
    assert_eq!(after["oidc_codes"], v(&["c801"]));
    assert_eq!(after["oidc_logouts"], v(&["801", "802"]));
    assert_eq!(after["account_tokens"], v(&["t801"]));
    assert_eq!(after["email_verifications"], v(&["v801"]));
    assert_eq!(after["email_changes"], v(&["e801"]));
    assert_eq!(after["two_factor_challenges"], v(&["f801"]));

    // Nothing left to purge; the deployment still works.
    let again = app.core.purge(&policy, true).await.unwrap();
    assert!(again.iter().all(|p| p.rows == 0), "{again:?}");
    let admin_login = app.user(Role::User).await;
    assert!(!admin_login.access_token.is_empty());
}

/// A kind kept for ever (0 days) is not purged.
async fn zero_days_keep_for_ever(backend: Backend) {
    let db = roster_testkit::or_skip!(TestDatabase::new(backend).await);
    let app = spawn_app_on(db).await;
    seed(&app).await;
    let policy = RetentionPolicy {
        audit_days: 0,
        outbox_days: 0,
        delivery_days: 0,
        batch_size: 100,
    };
    let purged = app.core.purge(&policy, false).await.unwrap();
    for p in &purged {
        match p.kind {
            PurgeKind::Audit | PurgeKind::Outbox | PurgeKind::Deliveries | PurgeKind::BackchannelLogouts => {
                assert_eq!(p.rows, 0, "{p:?}")
            }
            _ => {}
        }
    }
    assert_eq!(seeded(&app.db.url).await["audit_log"], v(&["801", "901", "902", "903"]));
}

backend_tests!(
    purge_removes_the_old_and_keeps_the_young_and_the_owed,
    zero_days_keep_for_ever
);
