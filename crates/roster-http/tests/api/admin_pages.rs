//! The admin console (`/admin`): administrators only (403 for everyone else on every page and
//! action, a redirect to sign in without a session), CSRF on every form, confirmation and the
//! password again for dangerous actions, and each action's effect through the API.

use crate::pages::{Browser, Page};
use roster_core::service::{AdminUserChanges, NewUser};
use roster_core::{Role, UserId};
use roster_testkit::smtp::SmtpSink;
use roster_testkit::{Backend, TestApp, backend_tests, spawn_app};
use time::Duration;

/// Every page of the console.
fn pages(user: UserId, group: &str) -> Vec<String> {
    vec![
        "/admin".into(),
        "/admin/users".into(),
        "/admin/users?q=a&status=banned".into(),
        format!("/admin/users/{user}"),
        "/admin/groups".into(),
        format!("/admin/groups/{group}"),
        "/admin/permissions".into(),
        "/admin/audit".into(),
        "/admin/audit?format=csv".into(),
        "/admin/invitations".into(),
        "/admin/webhooks".into(),
        "/admin/webhooks/1".into(),
        "/admin/clients".into(),
        "/admin/clients/nosuchclient".into(),
    ]
}

/// Every action of the console.
fn actions(user: UserId, group: &str) -> Vec<String> {
    let u = format!("/admin/users/{user}");
    let g = format!("/admin/groups/{group}");
    vec![
        format!("/admin/pending/{user}/approve"),
        format!("/admin/pending/{user}/reject"),
        format!("{u}/profile"),
        format!("{u}/avatar"),
        format!("{u}/avatar/remove"),
        format!("{u}/role"),
        format!("{u}/active"),
        format!("{u}/ban"),
        format!("{u}/unban"),
        format!("{u}/reset-link"),
        format!("{u}/reset-two-factor"),
        format!("{u}/sessions/revoke-all"),
        format!("{u}/sessions/1/revoke"),
        format!("{u}/api-keys/1/revoke"),
        format!("{u}/groups"),
        format!("{u}/groups/{group}/remove"),
        format!("{u}/credits"),
        format!("{u}/delete"),
        "/admin/groups".into(),
        format!("{g}/rename"),
        format!("{g}/members"),
        format!("{g}/members/{user}/remove"),
        format!("{g}/permissions"),
        format!("{g}/delete"),
        "/admin/permissions".into(),
        "/admin/invitations".into(),
        "/admin/webhooks".into(),
        "/admin/webhooks/1/delete".into(),
        "/admin/webhooks/1/deliveries/1/replay".into(),
        format!("{u}/send-reset-link"),
        "/admin/invitations/0123abcd/revoke".into(),
        "/admin/clients".into(),
        "/admin/clients/nosuchclient".into(),
        "/admin/clients/nosuchclient/rotate-secret".into(),
        "/admin/clients/nosuchclient/delete".into(),
    ]
}

/// A browser signed in as `login`.
async fn signed_in<'a>(app: &'a TestApp, login: &str, password: &str) -> Browser<'a> {
    let mut browser = Browser::new(app);
    let answer = browser.sign_in(login, password, None).await;
    assert_eq!(answer.status, 303, "{}", answer.html);
    browser
}

/// Posts the form of `page` whose action is `action`, with `fields` set (select and textarea
/// fields included, which the page parser does not read).
async fn post_form(browser: &mut Browser<'_>, page: &Page, action: &str, fields: &[(&str, &str)]) -> Page {
    let mut form = page.form(action);
    for (name, value) in fields {
        form.fields.insert(name.to_string(), value.to_string());
    }
    browser.submit(&form).await
}

async fn group_id(app: &TestApp, admin: &roster_testkit::app::TestUser, name: &str) -> String {
    let r = app
        .post(
            "/v1/groups",
            Some(&admin.access_token),
            &serde_json::json!({ "name": name }),
        )
        .await;
    r.assert_status(201);
    r.body["id"].as_str().unwrap().to_string()
}

async fn only_administrators_get_in(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let admin = app.admin().await;
    let user = app.user(Role::User).await;
    let group = group_id(&app, &admin, "readers").await;

    // Without a session: to sign in, and back here afterwards.
    let mut anonymous = Browser::new(&app);
    let answer = anonymous.get(&format!("/admin/users/{}", user.id)).await;
    assert_eq!(answer.status, 303);
    assert_eq!(
        answer.location().as_deref(),
        Some(format!("/signin?return_to=%2Fadmin%2Fusers%2F{}", user.id).as_str())
    );
    let answer = anonymous
        .post_raw(&format!("/admin/users/{}/ban", user.id), "duration=1d".into(), &[])
        .await;
    assert_eq!(answer.status, 303);
    assert_eq!(answer.location().as_deref(), Some("/signin?return_to=%2Fadmin"));

    // A signed-in user who is not an administrator: 403 everywhere, nothing done.
    let mut browser = signed_in(&app, &user.email, &user.password).await;
    let token = browser.cookies["roster_csrf"].clone();
    for path in pages(user.id, &group) {
        let page = browser.get(&path).await;
        assert_eq!(page.status, 403, "{path}");
        assert_eq!(page.texts("h1"), ["Administrators only"], "{path}");
    }
    for path in actions(admin.id, &group) {
        let body = format!("csrf={token}&duration=1d&role=user&active=false&confirmed=yes&typed=x&name=x&login=x");
        let page = browser.post_raw(&path, body, &[]).await;
        assert_eq!(page.status, 403, "{path}");
    }
    let me = app.get("/v1/me", Some(&admin.access_token)).await;
    me.assert_status(200);
    assert_eq!(me.body["role"], "admin");

    // The administrator gets every page.
    let mut browser = signed_in(&app, &admin.email, &admin.password).await;
    for path in pages(user.id, &group) {
        let page = browser.get(&path).await;
        if path == "/admin/webhooks/1" || path == "/admin/clients/nosuchclient" {
            assert_eq!(page.status, 404, "no such subscription or client: {path}");
            continue;
        }
        assert_eq!(page.status, 200, "{path}: {}", page.html);
        if !path.contains("format=") {
            let csp = page.headers["content-security-policy"].to_str().unwrap();
            page.assert_only_roster_script(&path);
            // Never framed (clickjacking), whatever the API's headers are set to.
            assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
            assert_eq!(page.headers["x-frame-options"].to_str().unwrap(), "DENY", "{path}");
            assert!(page.texts("nav[aria-label] a[aria-current=page]").len() <= 1);
        }
    }
}

async fn forms_without_the_csrf_token_are_refused(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let admin = app.admin().await;
    let user = app.user(Role::User).await;
    let mut browser = signed_in(&app, &admin.email, &admin.password).await;
    let page = browser.get(&format!("/admin/users/{}", user.id)).await;
    let ban = format!("/admin/users/{}/ban", user.id);
    let form = page.form(&ban);
    assert_eq!(form.fields["csrf"], browser.cookies["roster_csrf"]);

    let missing = browser.post_raw(&ban, "duration=1d".into(), &[]).await;
    assert_eq!(missing.status, 403);
    let wrong = browser
        .post_raw(&ban, format!("duration=1d&csrf={}", "A".repeat(43)), &[])
        .await;
    assert_eq!(wrong.status, 403);
    let token = &browser.cookies["roster_csrf"].clone();
    let cross_site = browser
        .post_raw(
            &ban,
            format!("duration=1d&csrf={token}"),
            &[("sec-fetch-site", "cross-site")],
        )
        .await;
    assert_eq!(cross_site.status, 403);
    app.get("/v1/me", Some(&user.access_token)).await.assert_status(200);
}

async fn a_ban_from_the_console_refuses_the_users_token(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let admin = app.admin().await;
    let user = app.user(Role::User).await;
    let mut browser = signed_in(&app, &admin.email, &admin.password).await;

    // Found by the same substring search as the API.
    let list = browser.get(&format!("/admin/users?q={}", &user.username[1..])).await;
    assert_eq!(list.status, 200);
    assert_eq!(list.texts("#count"), ["1 matching users"]);
    let href = format!("/admin/users/{}", user.id);
    assert_eq!(list.texts(&format!("table a[href=\"{href}\"]")).len(), 1);

    let page = browser.get(&href).await;
    let answer = post_form(
        &mut browser,
        &page,
        &format!("{href}/ban"),
        &[("duration", "7d"), ("reason", "spam")],
    )
    .await;
    assert_eq!(answer.status, 303, "{}", answer.html);
    assert_eq!(answer.location(), Some(format!("{href}?done=banned")));
    let r = app.get("/v1/me", Some(&user.access_token)).await;
    assert!(r.status == 401 || r.status == 403, "{}", r.text);
    app.login(&user.email, &user.password).await.assert_status(403);

    let page = browser.get(&format!("{href}?done=banned")).await;
    assert_eq!(page.texts("[role=status]"), ["The user was banned."]);
    assert!(page.texts("#ban-state")[0].contains("Reason: spam"));
    let banned = browser.get("/admin/users?status=banned").await;
    assert_eq!(banned.texts("#count"), ["1 matching users"]);

    // The audit log names the administrator.
    let audit = browser
        .get(&format!("/admin/audit?action=user.ban&target={}", user.id))
        .await;
    assert_eq!(audit.status, 200);
    let rows = audit.texts("tbody tr");
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert!(
        rows[0].contains(&admin.id.to_string()) && rows[0].contains("spam"),
        "{rows:?}"
    );
    let csv = browser
        .get(&format!("/admin/audit?format=csv&target={}", user.id))
        .await;
    assert_eq!(csv.status, 200);
    assert!(csv.headers["content-type"].to_str().unwrap().starts_with("text/csv"));
    assert!(
        csv.html.starts_with("id,at,actor_id,action,target_id,ip,details"),
        "{}",
        csv.html
    );
    assert!(csv.html.contains("user.ban"));
    let json = browser.get("/admin/audit?format=json&action=user.ban").await;
    let entries: serde_json::Value = serde_json::from_str(&json.html).unwrap();
    assert_eq!(entries[0]["actor_id"], admin.id.to_string());
    let bad = browser.get("/admin/audit?since=yesterday").await;
    assert_eq!(bad.status, 422);
    assert_eq!(bad.texts("[role=alert] a[href=\"#since\"]").len(), 1);

    // A bad duration is the field's error; unban lets the user in again.
    let page = browser.get(&href).await;
    let answer = post_form(&mut browser, &page, &format!("{href}/ban"), &[("duration", "soon")]).await;
    assert_eq!(answer.status, 422);
    assert_eq!(answer.texts("[role=alert] a[href=\"#duration\"]").len(), 1);
    let answer = post_form(&mut browser, &page, &format!("{href}/unban"), &[]).await;
    assert_eq!(answer.status, 303);
    app.login(&user.email, &user.password).await.assert_status(200);
}

async fn dangerous_actions_are_confirmed_with_the_password_when_the_sign_in_is_old(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let admin = app.admin().await;
    let user = app.user(Role::User).await;
    let second = app.login(&user.email, &user.password).await;
    second.assert_status(200);
    let second_token = second.body["access_token"].as_str().unwrap().to_string();
    let key = app.api_key(&user, &[]).await;
    let mut browser = signed_in(&app, &admin.email, &admin.password).await;
    let href = format!("/admin/users/{}", user.id);

    // One session revoked: its token fails, the other still works.
    let page = browser.get(&href).await;
    let sessions = app.core.list_user_sessions(app.core.operator(), user.id).await.unwrap();
    assert_eq!(sessions.len(), 2);
    assert_eq!(page.texts("#sessions-caption + thead + tbody tr").len(), 2);
    let first_session = app
        .core
        .authenticate_bearer(&user.access_token)
        .await
        .unwrap()
        .session()
        .unwrap();
    let answer = post_form(
        &mut browser,
        &page,
        &format!("{href}/sessions/{first_session}/revoke"),
        &[],
    )
    .await;
    assert_eq!(answer.status, 303, "{}", answer.html);
    app.get("/v1/me", Some(&user.access_token)).await.assert_status(401);
    app.get("/v1/me", Some(&second_token)).await.assert_status(200);

    // The API key, revoked.
    app.get("/v1/me", Some(&key)).await.assert_status(200);
    let page = browser.get(&href).await;
    let keys = app.core.list_user_api_keys(app.core.operator(), user.id).await.unwrap();
    let answer = post_form(
        &mut browser,
        &page,
        &format!("{href}/api-keys/{}/revoke", keys[0].id),
        &[],
    )
    .await;
    assert_eq!(answer.status, 303);
    app.get("/v1/me", Some(&key)).await.assert_status(401);

    // Revoke all: first the question, then done.
    let page = browser.get(&href).await;
    let revoke_all = format!("{href}/sessions/revoke-all");
    let question = post_form(&mut browser, &page, &revoke_all, &[]).await;
    assert_eq!(question.status, 200);
    assert_eq!(question.texts("h1"), ["Are you sure?"]);
    app.get("/v1/me", Some(&second_token)).await.assert_status(200);
    let confirm = question.form(&revoke_all);
    assert_eq!(confirm.fields["confirmed"], "yes");
    assert!(
        !confirm.fields.contains_key("password"),
        "a fresh sign-in needs no password"
    );
    let answer = browser.submit(&confirm).await;
    assert_eq!(answer.status, 303, "{}", answer.html);
    app.get("/v1/me", Some(&second_token)).await.assert_status(401);

    // Ten minutes on, the password again: wrong (401), then right.
    app.advance(Duration::minutes(10));
    let page = browser.get(&href).await;
    let demote = format!("{href}/role");
    app.set_user(
        user.id,
        AdminUserChanges {
            role: Some(Role::Admin),
            ..Default::default()
        },
    )
    .await;
    let question = post_form(&mut browser, &page, &demote, &[("role", "user")]).await;
    assert_eq!(question.status, 200, "{}", question.html);
    let confirm = question.form(&demote);
    assert_eq!(confirm.fields["role"], "user");
    assert_eq!(confirm.labels["password"], "Your password");
    let wrong = browser.submit(&confirm.clone().set("password", "not it")).await;
    assert_eq!(wrong.status, 401);
    assert_eq!(wrong.alerts(), ["The password is not right."]);
    let me = app
        .get(&format!("/v1/users/{}", user.id), Some(&admin.access_token))
        .await;
    assert_eq!(me.body["role"], "admin");
    let right = browser
        .submit(&wrong.form(&demote).set("password", &admin.password))
        .await;
    assert_eq!(right.status, 303, "{}", right.html);
    let me = app
        .get(&format!("/v1/users/{}", user.id), Some(&admin.access_token))
        .await;
    assert_eq!(me.body["role"], "user");

    // Delete: typed confirmation.
    let page = browser.get(&href).await;
    let delete = format!("{href}/delete");
    let question = post_form(&mut browser, &page, &delete, &[]).await;
    assert_eq!(
        question.form(&delete).labels["typed"],
        format!("Type {} to confirm", user.email)
    );
    let mistyped = browser
        .submit(
            &question
                .form(&delete)
                .set("typed", "someone")
                .set("password", &admin.password),
        )
        .await;
    assert_eq!(mistyped.status, 422);
    app.get(&format!("/v1/users/{}", user.id), Some(&admin.access_token))
        .await
        .assert_status(200);
    let answer = browser
        .submit(
            &question
                .form(&delete)
                .set("typed", &user.email)
                .set("password", &admin.password),
        )
        .await;
    assert_eq!(answer.status, 303, "{}", answer.html);
    assert_eq!(answer.location().as_deref(), Some("/admin/users?done=deleted"));
    app.get(&format!("/v1/users/{}", user.id), Some(&admin.access_token))
        .await
        .assert_status(404);
}

async fn pending_accounts_are_approved_or_rejected_from_the_dashboard(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let admin = app.admin().await;
    let waiting = app.user(Role::Pending).await;
    let other = app.user(Role::Pending).await;
    let mut browser = signed_in(&app, &admin.email, &admin.password).await;
    let dashboard = browser.get("/admin").await;
    assert_eq!(dashboard.status, 200);
    assert_eq!(dashboard.texts("#pending-caption + thead + tbody tr").len(), 2);
    assert_eq!(
        dashboard
            .doc()
            .select(&scraper::Selector::parse("svg.signups rect").unwrap())
            .count(),
        30
    );
    let answer = post_form(
        &mut browser,
        &dashboard,
        &format!("/admin/pending/{}/approve", waiting.id),
        &[],
    )
    .await;
    assert_eq!(answer.location().as_deref(), Some("/admin?done=approved"));
    let answer = post_form(
        &mut browser,
        &dashboard,
        &format!("/admin/pending/{}/reject", other.id),
        &[],
    )
    .await;
    assert_eq!(answer.status, 303);
    app.login(&waiting.email, &waiting.password).await.assert_status(200);
    app.login(&other.email, &other.password).await.assert_status(403);
    let dashboard = browser.get("/admin?done=rejected").await;
    assert_eq!(
        dashboard.texts("[role=status]"),
        ["The account was rejected (deactivated)."]
    );
    assert_eq!(dashboard.texts("#pending-caption").len(), 0);
}

async fn groups_and_permissions_are_managed_from_the_console(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let admin = app.admin().await;
    let user = app.user(Role::User).await;
    let mut browser = signed_in(&app, &admin.email, &admin.password).await;
    let groups = browser.get("/admin/groups").await;
    let answer = post_form(&mut browser, &groups, "/admin/groups", &[("name", "Key holders")]).await;
    assert_eq!(answer.status, 303, "{}", answer.html);
    let href = answer.location().unwrap().split('?').next().unwrap().to_string();
    let page = browser.get(&href).await;
    assert_eq!(page.texts("h1"), ["Group: Key holders"]);
    let answer = post_form(
        &mut browser,
        &page,
        &format!("{href}/members"),
        &[("login", &user.username)],
    )
    .await;
    assert_eq!(answer.status, 303, "{}", answer.html);
    let unknown = post_form(&mut browser, &page, &format!("{href}/members"), &[("login", "nobody")]).await;
    assert_eq!(unknown.status, 422);
    assert_eq!(unknown.texts("[role=alert] a[href=\"#login\"]").len(), 1);

    // API keys need `features.api_keys`, which the group now grants.
    let create_key = || async {
        app.post(
            "/openwebui/api/v1/auths/api_key",
            Some(&user.access_token),
            &serde_json::json!({}),
        )
        .await
    };
    create_key().await.assert_status(403);
    let page = browser.get(&href).await;
    let permissions = format!("{href}/permissions");
    let answer = post_form(&mut browser, &page, &permissions, &[("perm.features.api_keys", "on")]).await;
    assert_eq!(answer.status, 303, "{}", answer.html);
    create_key().await.assert_status(200);

    // Raw JSON: an error names the field; a good one is stored as given.
    let page = browser.get(&href).await;
    let forms: Vec<_> = page
        .doc()
        .select(&scraper::Selector::parse("form[action$=\"/permissions\"] input[name=mode]").unwrap())
        .map(|e| e.attr("value").unwrap().to_string())
        .collect();
    assert_eq!(forms, ["form", "json"]);
    let body = format!("csrf={}&mode=json&json={}", browser.cookies["roster_csrf"], "%7Bnot");
    let bad = browser.post_raw(&permissions, body, &[]).await;
    assert_eq!(bad.status, 422);
    assert_eq!(bad.texts("[role=alert] a[href=\"#json\"]").len(), 1);
    let body = format!(
        "csrf={}&mode=json&json={}",
        browser.cookies["roster_csrf"],
        crate::pages::urlencode(r#"{"chat": {"share": true}}"#)
    );
    assert_eq!(browser.post_raw(&permissions, body, &[]).await.status, 303);
    create_key().await.assert_status(403);

    // The user's page lists the group; removal from there.
    let user_page = browser.get(&format!("/admin/users/{}", user.id)).await;
    assert_eq!(user_page.texts(".member-groups a"), ["Key holders"]);
    let id = href.rsplit('/').next().unwrap();
    let answer = post_form(
        &mut browser,
        &user_page,
        &format!("/admin/users/{}/groups/{id}/remove", user.id),
        &[],
    )
    .await;
    assert_eq!(answer.status, 303);
    let page = browser.get(&href).await;
    assert_eq!(page.texts("main p").iter().filter(|p| *p == "No member.").count(), 1);
}

async fn the_list_filters_and_pages_by_keyset(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let admin = app.admin().await;
    for i in 0..53 {
        app.core
            .create_user(
                app.core.operator(),
                NewUser {
                    email: Some(format!("pager{i}@example.org")),
                    name: Some(format!("Pager {i}")),
                    email_verified: i % 2 == 0,
                    ..NewUser::default()
                },
            )
            .await
            .unwrap();
    }
    let mut browser = signed_in(&app, &admin.email, &admin.password).await;
    let first = browser.get("/admin/users?q=pager&sort=email&order=asc").await;
    assert_eq!(first.texts("#count"), ["53 matching users"]);
    let rows = first.texts("tbody tr");
    assert_eq!(rows.len(), 50);
    assert!(rows[0].contains("pager0@example.org"), "{rows:?}");
    let next = first
        .doc()
        .select(&scraper::Selector::parse("a[rel=next]").unwrap())
        .next()
        .unwrap()
        .attr("href")
        .unwrap()
        .to_string();
    assert!(next.contains("q=pager") && next.contains("cursor="), "{next}");
    let second = browser.get(&next).await;
    assert_eq!(second.texts("tbody tr").len(), 3);
    assert_eq!(second.texts("a[rel=next]").len(), 0);
    assert_eq!(second.texts(".pager a"), ["First page"]);
    let unverified = browser.get("/admin/users?q=pager&status=unverified").await;
    assert_eq!(unverified.texts("#count"), ["26 matching users"]);

    // Two-factor on, and a group's members; reset two-factor from the user's page.
    let enrolled = app.user(Role::User).await;
    crate::two_factor::enable(&app, &enrolled).await;
    let member = app.user(Role::User).await;
    let group = group_id(&app, &admin, "filtered").await;
    app.post(
        &format!("/v1/groups/{group}/members"),
        Some(&admin.access_token),
        &serde_json::json!({ "user_ids": [member.id.to_string()] }),
    )
    .await
    .assert_status(200);
    let two_factor = browser.get("/admin/users?status=two_factor").await;
    assert_eq!(two_factor.texts("#count"), ["1 matching users"]);
    assert!(two_factor.texts("tbody tr")[0].contains(&enrolled.email));
    let members = browser.get(&format!("/admin/users?group={group}")).await;
    assert_eq!(members.texts("#count"), ["1 matching users"]);
    assert!(members.texts("tbody tr")[0].contains(&member.email));
    let page = browser.get(&format!("/admin/users/{}", enrolled.id)).await;
    let reset = format!("/admin/users/{}/reset-two-factor", enrolled.id);
    let question = post_form(&mut browser, &page, &reset, &[]).await;
    assert_eq!(browser.submit(&question.form(&reset)).await.status, 303);
    let two_factor = browser.get("/admin/users?status=two_factor").await;
    assert_eq!(two_factor.texts("#count"), ["0 matching users"]);

    let bad = browser.get("/admin/users?status=sleeping").await;
    assert_eq!(bad.status, 422);
    assert_eq!(bad.texts("[role=alert] a[href=\"#status\"]").len(), 1);
}

async fn invitations_and_webhooks_with_replay(backend: Backend) {
    let app = roster_testkit::or_skip!(
        roster_testkit::app::spawn_app_with(backend, |c| c.webhook_allow_private_networks = true).await
    );
    let admin = app.admin().await;
    let mut browser = signed_in(&app, &admin.email, &admin.password).await;

    // An invitation link, shown once; it registers the invited address.
    let page = browser.get("/admin/invitations").await;
    let answer = post_form(
        &mut browser,
        &page,
        "/admin/invitations",
        &[("email", "invited@example.org"), ("role", "user"), ("expires", "2d")],
    )
    .await;
    assert_eq!(answer.status, 201, "{}", answer.html);
    let link = answer.texts("#shown-once")[0].clone();
    let path = link[link.find("/register?token=").expect("a registration link")..].to_string();
    let register = browser.get(&path).await;
    assert_eq!(register.status, 200, "{}", register.html);
    assert_eq!(register.form("/register").fields["email"], "invited@example.org");
    let bad = post_form(
        &mut browser,
        &page,
        "/admin/invitations",
        &[("email", "nope"), ("expires", "2d")],
    )
    .await;
    assert_eq!(bad.status, 422);
    assert_eq!(bad.texts("[role=alert] a[href=\"#email\"]").len(), 1);

    // A subscription whose receiver fails: the delivery fails, and is replayed from its page.
    let receiver = roster_testkit::webhooks::Receiver::start(roster_testkit::webhooks::Answer::Status(500)).await;
    let page = browser.get("/admin/webhooks").await;
    let answer = post_form(
        &mut browser,
        &page,
        "/admin/webhooks",
        &[("url", &receiver.url), ("event_types", "user.banned")],
    )
    .await;
    assert_eq!(answer.status, 201, "{}", answer.html);
    assert!(answer.texts("#shown-once")[0].starts_with("whsec_"));
    let subscriptions = app.core.list_subscriptions(app.core.operator()).await.unwrap();
    let id = subscriptions[0].id;
    let user = app.user(Role::User).await;
    app.core
        .ban_user(app.core.operator(), user.id, Duration::hours(1), None)
        .await
        .unwrap();
    let settings = roster_core::service::WebhookSettings {
        max_attempts: 1,
        ..roster_core::service::WebhookSettings::default()
    };
    let worker = roster_core::service::DeliveryWorker::new(
        app.core.clone(),
        settings,
        std::sync::Arc::new(roster_core::service::HttpTransport::new().unwrap()),
    );
    worker.tick().await.unwrap();
    let failed = browser.get(&format!("/admin/webhooks/{id}?status=failed")).await;
    assert_eq!(failed.status, 200, "{}", failed.html);
    let rows = failed.texts("#deliveries-caption ~ tbody tr");
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert!(rows[0].contains("user.banned") && rows[0].contains("500"), "{rows:?}");
    let replay = failed
        .doc()
        .select(&scraper::Selector::parse("form[action$=\"/replay\"]").unwrap())
        .next()
        .unwrap()
        .attr("action")
        .unwrap()
        .to_string();
    let answer = post_form(&mut browser, &failed, &replay, &[]).await;
    assert_eq!(answer.location(), Some(format!("/admin/webhooks/{id}?done=replayed")));
    let pending = browser.get(&format!("/admin/webhooks/{id}?status=pending")).await;
    assert_eq!(pending.texts("#deliveries-caption ~ tbody tr").len(), 1);

    // Deleting it is confirmed.
    let page = browser.get(&format!("/admin/webhooks/{id}")).await;
    let delete = format!("/admin/webhooks/{id}/delete");
    let question = post_form(&mut browser, &page, &delete, &[]).await;
    assert_eq!(question.status, 200);
    let answer = browser.submit(&question.form(&delete)).await;
    assert_eq!(answer.location().as_deref(), Some("/admin/webhooks?done=deleted"));
    assert!(
        app.core
            .list_subscriptions(app.core.operator())
            .await
            .unwrap()
            .is_empty()
    );
}

/// The hidden fields and the action of the first form of `page` posting to `action`, as
/// `(name, value)` pairs to send again with `extra`.
async fn confirm_on(browser: &mut Browser<'_>, question: &Page, action: &str, extra: &[(&str, &str)]) -> Page {
    assert_eq!(question.status, 200, "{}", question.html);
    assert_eq!(question.texts("h1"), ["Are you sure?"]);
    post_form(browser, question, action, extra).await
}

async fn oidc_clients_are_managed_from_the_console(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let admin = app.admin().await;
    let mut browser = signed_in(&app, &admin.email, &admin.password).await;

    // Registered with its secret shown once.
    let page = browser.get("/admin/clients").await;
    assert_eq!(page.status, 200);
    assert_eq!(page.texts("nav a[aria-current=page]"), ["OIDC clients"]);
    let answer = post_form(
        &mut browser,
        &page,
        "/admin/clients",
        &[
            ("client_id", "console1"),
            ("name", "Console app"),
            (
                "redirect_uris",
                "https://rp.example.org/callback\nhttps://rp.example.org/other",
            ),
        ],
    )
    .await;
    assert_eq!(answer.status, 201, "{}", answer.html);
    let secret = answer.texts("#shown-once")[0].clone();
    assert!(secret.len() >= 32, "{secret}");
    let client = app.core.get_oidc_client(app.core.operator(), "console1").await.unwrap();
    assert!(client.confidential);
    assert_eq!(
        client.redirect_uris,
        ["https://rp.example.org/callback", "https://rp.example.org/other"]
    );
    let list = browser.get("/admin/clients").await;
    assert_eq!(list.texts("table a[href=\"/admin/clients/console1\"]"), ["console1"]);
    assert!(!list.html.contains(&secret), "the secret is shown only once");
    let page = browser.get("/admin/clients/console1").await;
    assert_eq!(page.status, 200, "{}", page.html);
    assert!(!page.html.contains(&secret));

    // A bad value is the field's error; the same id again is a conflict.
    let again = post_form(
        &mut browser,
        &list,
        "/admin/clients",
        &[
            ("client_id", "console1"),
            ("redirect_uris", "https://rp.example.org/cb"),
        ],
    )
    .await;
    assert_eq!(again.status, 409, "{}", again.html);
    let bad = post_form(
        &mut browser,
        &page,
        "/admin/clients/console1",
        &[
            ("redirect_uris", "https://rp.example.org/callback"),
            ("access_token_ttl", "soon"),
        ],
    )
    .await;
    assert_eq!(bad.status, 422, "{}", bad.html);
    assert_eq!(bad.texts("[role=alert] a[href=\"#access_token_ttl\"]").len(), 1);

    // Settings changed through the page.
    let answer = post_form(
        &mut browser,
        &page,
        "/admin/clients/console1",
        &[
            ("redirect_uris", "https://rp.example.org/callback"),
            ("post_logout_redirect_uris", "https://rp.example.org/bye"),
            ("scopes", "openid email"),
            ("audience", "api.example.org"),
            ("first_party", "on"),
            ("backchannel_logout_uri", "https://rp.example.org/logout"),
            ("access_token_ttl", "600"),
            ("id_token_ttl", "1200"),
            ("refresh_token_ttl", "86400"),
        ],
    )
    .await;
    assert_eq!(answer.status, 303, "{}", answer.html);
    assert_eq!(answer.location().as_deref(), Some("/admin/clients/console1?done=saved"));
    let client = app.core.get_oidc_client(app.core.operator(), "console1").await.unwrap();
    assert_eq!(client.redirect_uris, ["https://rp.example.org/callback"]);
    assert_eq!(client.post_logout_redirect_uris, ["https://rp.example.org/bye"]);
    assert_eq!(client.scopes, ["openid", "email"]);
    assert_eq!(client.audience.as_deref(), Some("api.example.org"));
    assert!(client.first_party);
    assert_eq!(
        client.backchannel_logout_uri.as_deref(),
        Some("https://rp.example.org/logout")
    );
    assert_eq!(
        (client.access_token_ttl, client.id_token_ttl, client.refresh_token_ttl),
        (600, 1200, 86400)
    );

    // A new secret, shown once after the confirmation; the old one stops working.
    let page = browser.get("/admin/clients/console1").await;
    let rotate = "/admin/clients/console1/rotate-secret";
    let question = post_form(&mut browser, &page, rotate, &[]).await;
    let answer = confirm_on(&mut browser, &question, rotate, &[]).await;
    assert_eq!(answer.status, 201, "{}", answer.html);
    let new_secret = answer.texts("#shown-once")[0].clone();
    assert_ne!(new_secret, secret);

    // Removed after typing its id; the audit trail names the administrator.
    let remove = "/admin/clients/console1/delete";
    let question = post_form(&mut browser, &page, remove, &[]).await;
    let wrong = confirm_on(&mut browser, &question, remove, &[("typed", "other")]).await;
    assert_eq!(wrong.status, 422);
    assert!(app.core.get_oidc_client(app.core.operator(), "console1").await.is_ok());
    let answer = confirm_on(&mut browser, &question, remove, &[("typed", "console1")]).await;
    assert_eq!(answer.status, 303, "{}", answer.html);
    assert_eq!(answer.location().as_deref(), Some("/admin/clients?done=removed"));
    assert!(app.core.get_oidc_client(app.core.operator(), "console1").await.is_err());
    let audit = app
        .core
        .list_audit(
            app.core.operator(),
            roster_core::service::ListAudit {
                actor: Some(admin.id),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let actions: Vec<&str> = audit.entries.iter().map(|e| e.action.as_str()).collect();
    assert!(actions.len() >= 3, "{actions:?}");
}

async fn the_dashboard_charts_sign_ins_refusals_and_delivery_lag(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let admin = app.admin().await;
    let user = app.user(Role::User).await;
    app.login(&user.email, "wrong password").await;
    app.login(&user.email, "wrong password").await;
    let mut browser = signed_in(&app, &admin.email, &admin.password).await;

    let page = browser.get("/admin").await;
    assert_eq!(page.status, 200, "{}", page.html);
    assert_eq!(
        page.doc()
            .select(&scraper::Selector::parse("svg.chart").unwrap())
            .count(),
        2
    );
    assert_eq!(page.texts("#failed-logins"), ["2"]);
    assert_eq!(page.texts("#throttled-logins"), ["0"]);
    let today: Vec<String> = page.texts("#logins-caption ~ tbody tr");
    assert_eq!(today.len(), 30);
    let last = today.last().unwrap();
    assert!(
        !last.ends_with(" 0") && !last.ends_with("\t0"),
        "sign-ins today: {last}"
    );
    assert_eq!(page.texts("#outbox-lag"), ["No webhook subscription reads the outbox."]);

    // A subscription that has not been sent to yet: its backlog and lag.
    let created = app
        .core
        .create_subscription(
            app.core.operator(),
            roster_core::service::NewSubscription {
                url: "https://hooks.example.org/roster".into(),
                event_types: Vec::new(),
                secret: None,
                required_for_deletion: false,
                description: None,
            },
        )
        .await
        .unwrap();
    app.core
        .ban_user(app.core.operator(), user.id, Duration::hours(1), None)
        .await
        .unwrap();
    let page = browser.get("/admin").await;
    assert!(
        page.texts("#outbox-lag")[0].starts_with("Outbox backlog: "),
        "{:?}",
        page.texts("#outbox-lag")
    );
    let rows = page.texts("#lag-caption ~ tbody tr");
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert!(rows[0].contains("https://hooks.example.org/roster"), "{rows:?}");
    assert_eq!(created.subscription.url, "https://hooks.example.org/roster");
}

async fn a_users_page_shows_the_ledger_the_avatar_and_sends_reset_links(backend: Backend) {
    let smtp = SmtpSink::start().await;
    let url = smtp.url.clone();
    let app =
        roster_testkit::or_skip!(roster_testkit::app::spawn_app_with(backend, move |c| c.smtp_url = Some(url)).await);
    let admin = app.admin().await;
    let user = app.user(Role::User).await;
    for i in 1..=22 {
        app.core.add_balance(app.core.operator(), user.id, i).await.unwrap();
    }
    app.set_user(
        user.id,
        AdminUserChanges {
            profile: roster_core::service::ProfileChanges {
                avatar: roster_core::service::Patch::Set("/avatars/example.png".into()),
                ..Default::default()
            },
            ..Default::default()
        },
    )
    .await;
    let mut browser = signed_in(&app, &admin.email, &admin.password).await;
    let href = format!("/admin/users/{}", user.id);

    // The ledger, 20 at a time, newest first; then the older ones.
    let page = browser.get(&href).await;
    assert_eq!(page.status, 200, "{}", page.html);
    assert_eq!(page.texts("img.avatar").len(), 1);
    assert!(page.html.contains("src=\"/avatars/example.png\""));
    let rows = page.texts("#ledger-caption ~ tbody tr");
    assert_eq!(rows.len(), 20, "{rows:?}");
    assert!(rows[0].contains("+22"), "{rows:?}");
    let older = page
        .doc()
        .select(&scraper::Selector::parse("nav.pager a").unwrap())
        .find(|a| a.text().collect::<String>() == "Older transactions")
        .and_then(|a| a.attr("href"))
        .expect("a link to older transactions")
        .to_string();
    let next = browser.get(&older).await;
    assert_eq!(next.status, 200, "{}", next.html);
    let rows = next.texts("#ledger-caption ~ tbody tr");
    assert!(rows.len() >= 2 && rows.iter().any(|r| r.contains("+1")), "{rows:?}");
    let bad = browser.get(&format!("{href}?ledger=yesterday")).await;
    assert_eq!(bad.status, 422);

    // A reset link mailed to the user (mail is configured here), which opens the reset page.
    let answer = post_form(&mut browser, &page, &format!("{href}/send-reset-link"), &[]).await;
    assert_eq!(answer.status, 303, "{}", answer.html);
    assert_eq!(answer.location(), Some(format!("{href}?done=reset_mailed")));
    let mails = smtp.wait_for(1).await;
    assert_eq!(mails[0].to, std::slice::from_ref(&user.email));
    let link = mails[0].link("http").expect("a link in the mail");
    let path = &link[link.find("/reset-password?token=").expect("a reset link")..];
    let reset = browser.get(path).await;
    assert_eq!(reset.status, 200, "{}", reset.html);
    let audit = browser
        .get(&format!(
            "/admin/audit?action=user.password_reset_link&target={}",
            user.id
        ))
        .await;
    assert_eq!(audit.texts("tbody tr").len(), 1);
}

async fn without_mail_the_reset_link_is_shown_once(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let admin = app.admin().await;
    let user = app.user(Role::User).await;
    let mut browser = signed_in(&app, &admin.email, &admin.password).await;
    let href = format!("/admin/users/{}", user.id);
    let page = browser.get(&href).await;
    assert_eq!(page.status, 200);
    let answer = post_form(&mut browser, &page, &format!("{href}/send-reset-link"), &[]).await;
    assert_eq!(answer.status, 200, "{}", answer.html);
    let link = answer.texts("#shown-once")[0].clone();
    assert!(link.contains("/reset-password?token="), "{link}");
    let again = browser.get(&href).await;
    assert!(!again.html.contains(&link));
}

async fn invitations_sent_are_listed_and_revoked(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let admin = app.admin().await;
    let invite = |email: &str, days: i64| roster_core::service::NewInvitation {
        email: email.into(),
        role: None,
        expires_in: Duration::days(days),
    };
    let kept = app
        .core
        .create_invitation(app.core.operator(), invite("kept@example.org", 7))
        .await
        .unwrap();
    let revoked = app
        .core
        .create_invitation(app.core.operator(), invite("revoked@example.org", 7))
        .await
        .unwrap();
    app.core
        .create_invitation(app.core.operator(), invite("expired@example.org", 1))
        .await
        .unwrap();
    app.advance(Duration::hours(30));
    let mut browser = signed_in(&app, &admin.email, &admin.password).await;

    let page = browser.get("/admin/invitations").await;
    assert_eq!(page.status, 200, "{}", page.html);
    let rows = page.texts("#invitations-caption ~ tbody tr");
    assert_eq!(rows.len(), 3, "{rows:?}");
    let row = |email: &str| rows.iter().find(|r| r.contains(email)).unwrap().clone();
    assert!(row("kept@example.org").contains("pending"));
    assert!(row("expired@example.org").contains("expired"));
    let buttons = page.texts("#invitations-caption ~ tbody button");
    assert_eq!(buttons.len(), 2, "only pending ones have a Revoke button: {buttons:?}");
    assert!(!page.html.contains(&kept.token) && !page.html.contains(&revoked.token));

    let action = page
        .doc()
        .select(&scraper::Selector::parse("button[aria-label=\"Revoke: revoked@example.org\"]").unwrap())
        .next()
        .and_then(|b| b.parent())
        .and_then(scraper::ElementRef::wrap)
        .and_then(|form| form.attr("action"))
        .expect("the revoke form")
        .to_string();
    let answer = post_form(&mut browser, &page, &action, &[]).await;
    assert_eq!(answer.status, 303, "{}", answer.html);
    assert_eq!(answer.location().as_deref(), Some("/admin/invitations?done=revoked"));
    assert_eq!(app.core.invitation_email(&revoked.token).await.unwrap(), None);
    assert_eq!(
        app.core.invitation_email(&kept.token).await.unwrap().as_deref(),
        Some("kept@example.org")
    );
    let again = post_form(&mut browser, &page, &action, &[]).await;
    assert_eq!(again.status, 404, "a revoked invitation is gone");
    let audit = browser.get("/admin/audit?action=invitation.revoke").await;
    let entries = audit.texts("tbody tr");
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert!(entries[0].contains("revoked@example.org") && entries[0].contains(&admin.id.to_string()));
}

async fn a_users_profile_status_credits_and_groups_change_from_their_page(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let admin = app.admin().await;
    let user = app.user(Role::User).await;
    let group = group_id(&app, &admin, "Editors").await;
    let before = app.core.clock.now();
    app.advance(Duration::seconds(1));
    let mut browser = signed_in(&app, &admin.email, &admin.password).await;
    let href = format!("/admin/users/{}", user.id);

    // The profile, every field as posted.
    let page = browser.get(&href).await;
    let answer = post_form(
        &mut browser,
        &page,
        &format!("{href}/profile"),
        &[
            ("name", "Renamed Person"),
            ("username", "renamed"),
            ("email", "renamed@example.org"),
            ("bio", "Edits things"),
            ("timezone", "Europe/Berlin"),
            ("email_verified", "on"),
        ],
    )
    .await;
    assert_eq!(answer.status, 303, "{}", answer.html);
    assert_eq!(answer.location(), Some(format!("{href}?done=saved")));
    let stored = app.core.store.get_user(user.id).await.unwrap();
    assert_eq!(stored.name.as_deref(), Some("Renamed Person"));
    assert_eq!(stored.username.as_deref(), Some("renamed"));
    assert_eq!(stored.email.as_deref(), Some("renamed@example.org"));
    assert_eq!(stored.bio.as_deref(), Some("Edits things"));
    assert_eq!(stored.timezone.as_deref(), Some("Europe/Berlin"));
    assert!(stored.email_verified);
    let page = browser.get(&format!("{href}?done=saved")).await;
    assert_eq!(page.texts("[role=status]"), ["Saved."]);
    assert_eq!(page.form(&format!("{href}/profile")).fields["name"], "Renamed Person");
    // A bad time zone is the field's error; nothing changes.
    let bad = post_form(
        &mut browser,
        &page,
        &format!("{href}/profile"),
        &[("timezone", "Mars time"), ("bio", "Edits things")],
    )
    .await;
    assert_eq!(bad.status, 422, "{}", bad.html);
    assert_eq!(bad.texts("[role=alert] a[href=\"#timezone\"]").len(), 1);
    assert_eq!(
        app.core.store.get_user(user.id).await.unwrap().timezone.as_deref(),
        Some("Europe/Berlin")
    );

    // Deactivated: no login; activated again.
    let answer = post_form(&mut browser, &page, &format!("{href}/active"), &[]).await;
    assert_eq!(answer.location(), Some(format!("{href}?done=deactivated")));
    app.login("renamed@example.org", &user.password)
        .await
        .assert_status(403);
    let page = browser.get(&href).await;
    let answer = post_form(&mut browser, &page, &format!("{href}/active"), &[]).await;
    assert_eq!(answer.location(), Some(format!("{href}?done=activated")));
    app.login("renamed@example.org", &user.password)
        .await
        .assert_status(200);

    // Credits: added, taken (a negative amount), set; a bad amount is the field's error.
    let start = app.core.balance_of(app.core.operator(), user.id).await.unwrap();
    let credits = format!("{href}/credits");
    let page = browser.get(&href).await;
    let answer = post_form(&mut browser, &page, &credits, &[("amount", "25"), ("op", "add")]).await;
    assert_eq!(answer.location(), Some(format!("{href}?done=credits")));
    let answer = post_form(&mut browser, &page, &credits, &[("amount", "-5"), ("op", "add")]).await;
    assert_eq!(answer.status, 303, "{}", answer.html);
    assert_eq!(
        app.core.balance_of(app.core.operator(), user.id).await.unwrap(),
        start + 20
    );
    let answer = post_form(&mut browser, &page, &credits, &[("amount", "100"), ("op", "set")]).await;
    assert_eq!(answer.status, 303, "{}", answer.html);
    assert_eq!(app.core.balance_of(app.core.operator(), user.id).await.unwrap(), 100);
    let bad = post_form(&mut browser, &page, &credits, &[("amount", "lots"), ("op", "add")]).await;
    assert_eq!(bad.status, 422, "{}", bad.html);
    assert_eq!(bad.texts("[role=alert] a[href=\"#amount\"]").len(), 1);
    assert_eq!(app.core.balance_of(app.core.operator(), user.id).await.unwrap(), 100);

    // Into a group from the user's page.
    let answer = post_form(&mut browser, &page, &format!("{href}/groups"), &[("group", &group)]).await;
    assert_eq!(answer.location(), Some(format!("{href}?done=group_added")));
    let page = browser.get(&href).await;
    assert_eq!(page.texts(".member-groups a"), ["Editors"]);

    // The audit trail by actor and time: every change names the administrator, none is
    // before the changes began.
    let mine = browser
        .get(&format!("/admin/audit?actor={}&target={}", admin.id, user.id))
        .await;
    assert_eq!(mine.status, 200, "{}", mine.html);
    let rows = mine.texts("tbody tr");
    assert!(rows.len() >= 3, "{rows:?}");
    assert!(rows.iter().all(|r| r.contains(&admin.id.to_string())), "{rows:?}");
    let at = |t: time::OffsetDateTime| {
        crate::pages::urlencode(&t.format(&time::format_description::well_known::Rfc3339).unwrap())
    };
    let earlier = browser
        .get(&format!(
            "/admin/audit?actor={}&target={}&until={}",
            admin.id,
            user.id,
            at(before)
        ))
        .await;
    assert_eq!(earlier.status, 200, "{}", earlier.html);
    assert_eq!(earlier.texts("tbody tr").len(), 0);
    let since = browser
        .get(&format!(
            "/admin/audit?actor={}&target={}&since={}",
            admin.id,
            user.id,
            at(before)
        ))
        .await;
    assert_eq!(since.texts("tbody tr").len(), rows.len());
    let by_user = browser
        .get(&format!("/admin/audit?actor={}&action=user.update", user.id))
        .await;
    assert_eq!(by_user.texts("tbody tr").len(), 0, "the user changed nothing");
}

async fn the_list_filters_by_role_status_and_provider(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let admin = app.admin().await;
    let active = app.user(Role::User).await;
    let pending = app.user(Role::Pending).await;
    let deactivated = app.deactivated_user().await;
    let banned = app.user(Role::User).await;
    app.core
        .ban_user(app.core.operator(), banned.id, Duration::days(1), Some("spam"))
        .await
        .unwrap();
    app.core
        .create_user(
            app.core.operator(),
            NewUser {
                email: Some("federated@example.org".into()),
                provider: Some("oidc".into()),
                ..NewUser::default()
            },
        )
        .await
        .unwrap();
    let mut browser = signed_in(&app, &admin.email, &admin.password).await;
    let emails = |page: &Page| page.texts("tbody tr").join("\n");

    let admins = browser.get("/admin/users?role=admin").await;
    assert_eq!(admins.texts("#count"), ["1 matching users"]);
    assert!(emails(&admins).contains(&admin.email));
    for query in ["role=pending", "status=pending"] {
        let page = browser.get(&format!("/admin/users?{query}")).await;
        assert_eq!(page.texts("#count"), ["1 matching users"], "{query}");
        assert!(emails(&page).contains(&pending.email), "{query}");
    }
    let page = browser.get("/admin/users?status=deactivated").await;
    assert_eq!(page.texts("#count"), ["1 matching users"]);
    assert!(emails(&page).contains(&deactivated.email));
    let page = browser.get("/admin/users?status=active").await;
    let listed = emails(&page);
    assert!(
        listed.contains(&active.email) && listed.contains(&admin.email),
        "{listed}"
    );
    assert!(
        !listed.contains(&deactivated.email) && !listed.contains(&banned.email),
        "neither deactivated nor banned accounts are active: {listed}"
    );
    let page = browser.get("/admin/users?provider=oidc").await;
    assert_eq!(page.texts("#count"), ["1 matching users"]);
    assert!(emails(&page).contains("federated@example.org"));
    let page = browser.get("/admin/users?provider=oidc&role=admin").await;
    assert_eq!(page.texts("#count"), ["0 matching users"]);

    // Sorted by name, both ways; a sort the list does not offer is the field's error.
    let names = |page: &Page| page.texts("tbody tr td:first-child");
    let ascending = names(&browser.get("/admin/users?sort=email&order=asc").await);
    let mut descending = names(&browser.get("/admin/users?sort=email&order=desc").await);
    descending.reverse();
    assert!(ascending.len() >= 6, "{ascending:?}");
    assert_eq!(ascending, descending);
    let bad = browser.get("/admin/users?sort=shoe_size").await;
    assert_eq!(bad.status, 422);
    assert_eq!(bad.texts("[role=alert] a[href=\"#sort\"]").len(), 1);
}

async fn groups_are_renamed_and_deleted_and_the_default_template_is_saved(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let admin = app.admin().await;
    let user = app.user(Role::User).await;
    let group = group_id(&app, &admin, "Drafts").await;
    let mut browser = signed_in(&app, &admin.email, &admin.password).await;
    let href = format!("/admin/groups/{group}");

    let page = browser.get(&href).await;
    let rename = format!("{href}/rename");
    let answer = post_form(
        &mut browser,
        &page,
        &rename,
        &[("name", "Final"), ("description", "Reviewed work")],
    )
    .await;
    assert_eq!(answer.location(), Some(format!("{href}?done=renamed")));
    let page = browser.get(&href).await;
    assert_eq!(page.texts("h1"), ["Group: Final"]);
    let api = app.get(&format!("/v1/groups/{group}"), Some(&admin.access_token)).await;
    api.assert_status(200);
    assert_eq!(api.body["name"], "Final");
    assert_eq!(api.body["description"], "Reviewed work");
    let bad = post_form(&mut browser, &page, &rename, &[("name", " "), ("description", "")]).await;
    assert_eq!(bad.status, 422, "{}", bad.html);
    assert_eq!(bad.texts("[role=alert] a[href=\"#name\"]").len(), 1);

    // Deleting asks first.
    let delete = format!("{href}/delete");
    let question = post_form(&mut browser, &page, &delete, &[]).await;
    assert_eq!(question.status, 200, "{}", question.html);
    assert_eq!(question.texts("h1"), ["Are you sure?"]);
    app.get(&format!("/v1/groups/{group}"), Some(&admin.access_token))
        .await
        .assert_status(200);
    let answer = browser.submit(&question.form(&delete)).await;
    assert_eq!(answer.location().as_deref(), Some("/admin/groups?done=deleted"));
    app.get(&format!("/v1/groups/{group}"), Some(&admin.access_token))
        .await
        .assert_status(404);

    // The default template, as a form: granting `features.api_keys` lets every user create a key.
    let create_key = || async {
        app.post(
            "/openwebui/api/v1/auths/api_key",
            Some(&user.access_token),
            &serde_json::json!({}),
        )
        .await
    };
    create_key().await.assert_status(403);
    let page = browser.get("/admin/permissions").await;
    assert_eq!(page.status, 200, "{}", page.html);
    let answer = post_form(
        &mut browser,
        &page,
        "/admin/permissions",
        &[("perm.features.api_keys", "on")],
    )
    .await;
    assert_eq!(
        answer.location().as_deref(),
        Some("/admin/permissions?done=permissions")
    );
    create_key().await.assert_status(200);
}

async fn invitations_are_listed_in_keyset_pages(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let admin = app.admin().await;
    // 53 invitations, seven at each instant: the page boundary (50) falls inside a run created
    // at the same instant, which only the id orders.
    for i in 0..53 {
        if i % 7 == 0 {
            app.advance(Duration::minutes(1));
        }
        app.core
            .create_invitation(
                app.core.operator(),
                roster_core::service::NewInvitation {
                    email: format!("paged{i}@example.org"),
                    role: None,
                    expires_in: Duration::days(7),
                },
            )
            .await
            .unwrap();
    }
    let mut browser = signed_in(&app, &admin.email, &admin.password).await;
    let emails = |page: &Page| -> Vec<String> { page.texts("#invitations-caption ~ tbody tr td:first-child") };

    let first = browser.get("/admin/invitations").await;
    assert_eq!(first.status, 200, "{}", first.html);
    let first_rows = emails(&first);
    assert_eq!(first_rows.len(), 50);
    let mut newest: Vec<&str> = first_rows[..4].iter().map(String::as_str).collect();
    newest.sort_unstable();
    assert_eq!(
        newest,
        [
            "paged49@example.org",
            "paged50@example.org",
            "paged51@example.org",
            "paged52@example.org"
        ],
        "newest first"
    );
    assert_eq!(first.texts(".pager a"), ["Next page"], "no \"First page\" on the first");
    let next = first
        .doc()
        .select(&scraper::Selector::parse("a[rel=next]").unwrap())
        .next()
        .and_then(|a| a.attr("href"))
        .expect("a link to the next page")
        .to_string();
    assert!(next.starts_with("/admin/invitations?cursor="), "{next}");

    let second = browser.get(&next).await;
    assert_eq!(second.status, 200, "{}", second.html);
    let second_rows = emails(&second);
    assert_eq!(second_rows.len(), 3, "{second_rows:?}");
    assert_eq!(second.texts("a[rel=next]").len(), 0, "the last page");
    assert_eq!(second.texts(".pager a"), ["First page"]);
    // Every invitation once, across the boundary.
    let mut all: Vec<String> = first_rows.into_iter().chain(second_rows).collect();
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), 53);
    // The pages' Revoke buttons still post to the invitation's own action.
    assert_eq!(second.texts("#invitations-caption ~ tbody button").len(), 3);

    // A cursor this listing did not make: the form, the error announced, nothing listed.
    let foreign = browser.get("/admin/invitations?cursor=YXVkaXR8NDI").await;
    assert_eq!(foreign.status, 422, "{}", foreign.html);
    assert_eq!(foreign.alerts().len(), 1, "{}", foreign.html);
    assert!(foreign.alerts()[0].contains("cursor"), "{:?}", foreign.alerts());
    assert_eq!(emails(&foreign).len(), 0);
}

/// A PNG of `side` pixels.
fn png(side: u32) -> Vec<u8> {
    let mut png = Vec::new();
    image::RgbImage::from_pixel(side, side, image::Rgb([30, 120, 200]))
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    png
}

/// The multipart body of the avatar form.
fn avatar_upload(csrf: &str, bytes: Vec<u8>) -> reqwest::multipart::Form {
    reqwest::multipart::Form::new().text("csrf", csrf.to_string()).part(
        "file",
        reqwest::multipart::Part::bytes(bytes)
            .file_name("avatar.png")
            .mime_str("image/png")
            .unwrap(),
    )
}

async fn an_administrator_replaces_and_removes_a_users_avatar(backend: Backend) {
    let app = roster_testkit::or_skip!(
        roster_testkit::app::spawn_app_with(backend, |c| c.avatar_max_bytes = 64 * 1024).await
    );
    let admin = app.admin().await;
    let user = app.user(Role::User).await;
    let mut browser = signed_in(&app, &admin.email, &admin.password).await;
    let href = format!("/admin/users/{}", user.id);
    let upload = format!("{href}/avatar");
    let page = browser.get(&href).await;
    assert_eq!(page.status, 200, "{}", page.html);
    assert_eq!(page.texts("#avatar-heading"), ["Avatar"]);
    let doc = page.doc();
    let form = doc
        .select(&scraper::Selector::parse(&format!("form[action=\"{upload}\"]")).unwrap())
        .next()
        .expect("the upload form");
    assert_eq!(form.attr("enctype"), Some("multipart/form-data"));
    assert!(form.html().contains("name=\"csrf\""));
    assert!(
        form.html().contains("<label for=\"file\">New avatar</label>"),
        "{}",
        form.html()
    );
    assert!(
        page.texts(&format!("form[action=\"{href}/avatar/remove\"] button"))
            .is_empty(),
        "nothing to remove yet"
    );
    let csrf = browser.cookies["roster_csrf"].clone();

    // Without the CSRF token: refused, nothing stored.
    let answer = browser.post_multipart(&upload, avatar_upload("nope", png(40))).await;
    assert_eq!(answer.status, 403, "{}", answer.html);
    let me = app.get("/v1/me", Some(&user.access_token)).await;
    assert!(me.body["avatar_url"].is_null());
    let csrf = browser.cookies.get("roster_csrf").cloned().unwrap_or(csrf);

    // The API's errors, on the field: not an image, no file, larger than the limit.
    let answer = browser
        .post_multipart(&upload, avatar_upload(&csrf, b"not an image".to_vec()))
        .await;
    assert_eq!(answer.status, 422, "{}", answer.html);
    assert_eq!(answer.alerts().len(), 1, "{}", answer.html);
    assert!(answer.alerts()[0].starts_with("file: "), "{:?}", answer.alerts());
    assert_eq!(
        answer.texts("[role=alert] a[href=\"#file\"]").len(),
        1,
        "{}",
        answer.html
    );
    let answer = browser.post_multipart(&upload, avatar_upload(&csrf, Vec::new())).await;
    assert_eq!(answer.status, 422, "{}", answer.html);
    assert!(
        answer.alerts()[0].contains("file: is required"),
        "{:?}",
        answer.alerts()
    );
    let huge: Vec<u8> = std::iter::repeat_n(7_u8, 100 * 1024).collect();
    let answer = browser.post_multipart(&upload, avatar_upload(&csrf, huge)).await;
    assert_eq!(answer.status, 413, "{}", answer.html);
    assert!(!answer.alerts().is_empty(), "{}", answer.html);
    let me = app.get("/v1/me", Some(&user.access_token)).await;
    assert!(me.body["avatar_url"].is_null(), "nothing stored after refusals");

    // An image: stored, resized, served, shown on the page, audited with the admin as actor.
    let answer = browser.post_multipart(&upload, avatar_upload(&csrf, png(300))).await;
    assert_eq!(answer.status, 303, "{}", answer.html);
    assert_eq!(answer.location(), Some(format!("{href}?done=avatar")));
    let page = browser.get(&answer.location().unwrap()).await;
    assert_eq!(page.texts("[role=status]"), ["The avatar was replaced."]);
    let me = app.get("/v1/me", Some(&user.access_token)).await;
    let url = me.body["avatar_url"].as_str().unwrap().to_string();
    assert!(url.starts_with("/v1/avatars/"), "{url}");
    assert!(page.html.contains(&format!("src=\"{url}\"")), "{}", page.html);
    let served = app.get(&url, None).await;
    assert_eq!(served.status, 200);
    let audit = app
        .core
        .list_audit(
            app.core.operator(),
            roster_core::service::ListAudit {
                target: Some(user.id),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let entry = audit
        .entries
        .iter()
        .find(|e| e.details.to_string().contains("avatar"))
        .expect("the avatar change is audited");
    assert_eq!(entry.actor_id, Some(admin.id), "{entry:?}");

    // Replaced again: the new file is served, the old one is gone.
    let answer = browser.post_multipart(&upload, avatar_upload(&csrf, png(64))).await;
    assert_eq!(answer.status, 303, "{}", answer.html);
    let me = app.get("/v1/me", Some(&user.access_token)).await;
    let second = me.body["avatar_url"].as_str().unwrap().to_string();
    assert_ne!(second, url);
    assert_eq!(app.get(&second, None).await.status, 200);
    assert_eq!(app.get(&url, None).await.status, 404, "the replaced file is removed");

    // Removed with the button (its CSRF token checked): no avatar, the file gone.
    let remove = format!("{href}/avatar/remove");
    let refused = browser.post_raw(&remove, "csrf=wrong".into(), &[]).await;
    assert_eq!(refused.status, 403);
    let page = browser.get(&href).await;
    let answer = browser.submit(&page.form(&remove)).await;
    assert_eq!(answer.status, 303, "{}", answer.html);
    assert_eq!(answer.location(), Some(format!("{href}?done=avatar_removed")));
    let me = app.get("/v1/me", Some(&user.access_token)).await;
    assert!(me.body["avatar_url"].is_null());
    assert_eq!(app.get(&second, None).await.status, 404);
    let page = browser.get(&href).await;
    assert!(page.text().contains("No avatar."), "{}", page.html);

    // The primary administrator's avatar is not another administrator's to change.
    app.advance(Duration::seconds(1));
    let other = app.user(Role::Admin).await;
    let mut browser = signed_in(&app, &other.email, &other.password).await;
    browser.get(&format!("/admin/users/{}", admin.id)).await;
    let csrf = browser.cookies["roster_csrf"].clone();
    let answer = browser
        .post_multipart(
            &format!("/admin/users/{}/avatar", admin.id),
            avatar_upload(&csrf, png(40)),
        )
        .await;
    assert_eq!(answer.status, 403, "{}", answer.html);
    let me = app.get("/v1/me", Some(&admin.access_token)).await;
    assert!(me.body["avatar_url"].is_null());
}

backend_tests!(
    a_users_profile_status_credits_and_groups_change_from_their_page,
    groups_are_renamed_and_deleted_and_the_default_template_is_saved,
    the_list_filters_by_role_status_and_provider,
    invitations_are_listed_in_keyset_pages,
    oidc_clients_are_managed_from_the_console,
    the_dashboard_charts_sign_ins_refusals_and_delivery_lag,
    a_users_page_shows_the_ledger_the_avatar_and_sends_reset_links,
    without_mail_the_reset_link_is_shown_once,
    invitations_sent_are_listed_and_revoked,
    invitations_and_webhooks_with_replay,
    only_administrators_get_in,
    forms_without_the_csrf_token_are_refused,
    a_ban_from_the_console_refuses_the_users_token,
    dangerous_actions_are_confirmed_with_the_password_when_the_sign_in_is_old,
    pending_accounts_are_approved_or_rejected_from_the_dashboard,
    groups_and_permissions_are_managed_from_the_console,
    the_list_filters_and_pages_by_keyset,
    an_administrator_replaces_and_removes_a_users_avatar,
);
