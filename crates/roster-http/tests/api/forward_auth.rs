//! `GET /v1/forward-auth` and `/v1/forward-auth/return`: who passes, the identity headers
//! (their configurable names), 401 for API clients, the sign-in redirect for browsers, and the
//! allowed hosts of the way back.

use super::pages::{Browser, urlencode};
use roster_core::Role;
use roster_core::service::{AdminUserChanges, NewGroup};
use roster_http::HttpConfig;
use roster_http::forward_auth::{ForwardAuthHeaders, ForwardAuthSettings};
use roster_testkit::app::spawn_app_with_http;
use roster_testkit::{Backend, TestApp};

fn config(custom_headers: bool) -> HttpConfig {
    let mut forward_auth = ForwardAuthSettings {
        allowed_hosts: vec!["chat.example.org".into(), "*.apps.example.org".into()],
        ..Default::default()
    };
    if custom_headers {
        forward_auth.headers = ForwardAuthHeaders {
            user: "x-user-id".parse().unwrap(),
            email: "x-user-email".parse().unwrap(),
            name: "x-user-name".parse().unwrap(),
            groups: "x-user-groups".parse().unwrap(),
            role: "x-user-role".parse().unwrap(),
        };
    }
    HttpConfig {
        forward_auth,
        ..Default::default()
    }
}

async fn app(backend: Backend, custom_headers: bool) -> Option<TestApp> {
    spawn_app_with_http(backend, |_| {}, config(custom_headers)).await
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn header(response: &reqwest::Response, name: &str) -> Option<String> {
    response.headers().get(name).map(|v| v.to_str().unwrap().to_string())
}

async fn tokens_and_keys_pass_with_the_identity(backend: Backend) {
    let app = roster_testkit::or_skip!(app(backend, false).await);
    let admin = app.admin().await;
    let user = app.user(Role::User).await;
    app.core
        .admin_update_user(
            app.core.operator(),
            user.id,
            AdminUserChanges {
                profile: roster_core::service::ProfileChanges {
                    name: roster_core::service::Patch::Set("Zoë Ng".into()),
                    ..Default::default()
                },
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let admin_actor = app.core.authenticate_bearer(&admin.access_token).await.unwrap();
    for name in ["writers", "staff"] {
        let group = app
            .core
            .create_group(
                &admin_actor,
                NewGroup {
                    name: name.into(),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        app.core
            .add_group_members(&admin_actor, group.id, &[user.id])
            .await
            .unwrap();
    }
    let url = format!("{}/v1/forward-auth", app.address);
    let key = app.api_key(&user, &[]).await;
    for credential in [&user.access_token, &key] {
        let r = client().get(&url).bearer_auth(credential).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(header(&r, "x-roster-user"), Some(user.id_str()));
        assert_eq!(header(&r, "x-roster-email"), Some(user.email.clone()));
        assert_eq!(header(&r, "x-roster-name").as_deref(), Some("Zo%C3%AB Ng"));
        assert_eq!(header(&r, "x-roster-groups").as_deref(), Some("staff,writers"));
        assert_eq!(header(&r, "x-roster-role").as_deref(), Some("user"));
        assert_eq!(header(&r, "cache-control").as_deref(), Some("no-store"));
    }
    let r = client()
        .head(&url)
        .bearer_auth(&admin.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "x-roster-role").as_deref(), Some("admin"));
    assert_eq!(header(&r, "x-roster-groups").as_deref(), Some(""));
}

async fn header_names_follow_the_settings(backend: Backend) {
    let app = roster_testkit::or_skip!(app(backend, true).await);
    app.admin().await;
    let user = app.user(Role::User).await;
    let r = client()
        .get(format!("{}/v1/forward-auth", app.address))
        .bearer_auth(&user.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "x-user-email"), Some(user.email.clone()));
    assert_eq!(header(&r, "x-user-id"), Some(user.id_str()));
    assert_eq!(header(&r, "x-user-role").as_deref(), Some("user"));
    assert!(header(&r, "x-roster-email").is_none());
}

async fn without_a_session_api_clients_get_401_and_browsers_the_sign_in_page(backend: Backend) {
    let app = roster_testkit::or_skip!(app(backend, false).await);
    app.admin().await;
    let url = format!("{}/v1/forward-auth", app.address);
    // An API client: 401, whatever it says it wants.
    let r = client().get(&url).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(header(&r, "x-roster-email").is_none());
    let r = client()
        .get(&url)
        .bearer_auth("rst_nonsense")
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "a bad credential is never a sign-in page");
    let deactivated = app.deactivated_user().await;
    let r = client()
        .get(&url)
        .bearer_auth(&deactivated.access_token)
        .send()
        .await
        .unwrap();
    assert!(matches!(r.status().as_u16(), 401 | 403), "{}", r.status());

    // A browser sent by Caddy or Traefik: a redirect to sign in, back to the original page.
    let r = client()
        .get(&url)
        .header("accept", "text/html,application/xhtml+xml")
        .header("x-forwarded-proto", "https")
        .header("x-forwarded-host", "chat.example.org")
        .header("x-forwarded-uri", "/c/7?x=1&y=2")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    let back = format!(
        "/v1/forward-auth/return?rd={}",
        urlencode("https://chat.example.org/c/7?x=1&y=2")
    );
    assert_eq!(
        header(&r, "location"),
        Some(format!("/signin?return_to={}", urlencode(&back)))
    );
    // nginx's form: a 401 naming the sign-in page.
    let r = client()
        .get(format!("{url}?unauthenticated=401"))
        .header("accept", "text/html")
        .header("x-original-url", "https://a.apps.example.org/x")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(header(&r, "location").is_none());
    let back = format!(
        "/v1/forward-auth/return?rd={}",
        urlencode("https://a.apps.example.org/x")
    );
    assert_eq!(
        header(&r, "x-roster-sign-in"),
        Some(format!("/signin?return_to={}", urlencode(&back)))
    );
    // An original URL on a host not allowed is dropped: never an open redirect.
    for original in ["https://evil.example/", "https://chat.example.org.evil.example/"] {
        let r = client()
            .get(&url)
            .header("accept", "text/html")
            .header("x-original-url", original)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 302);
        assert_eq!(header(&r, "location").as_deref(), Some("/signin"));
    }
}

async fn a_browser_session_passes_and_returns_to_the_original_page(backend: Backend) {
    let app = roster_testkit::or_skip!(app(backend, false).await);
    app.admin().await;
    let user = app.user(Role::User).await;
    let mut browser = Browser::new(&app);
    let original = "https://chat.example.org/c/7?x=1&y=2";
    let back = format!("/v1/forward-auth/return?rd={}", urlencode(original));
    // Not signed in yet: the way back leads to the sign-in page first.
    let page = browser.get(&back).await;
    assert_eq!(page.status, 303);
    assert_eq!(
        page.headers["location"].to_str().unwrap(),
        format!("/signin?return_to={}", urlencode(&back))
    );
    let page = browser.sign_in(&user.email, &user.password, Some(&back)).await;
    assert_eq!(page.status, 303);
    assert_eq!(page.headers["location"].to_str().unwrap(), back);
    let page = browser.get(&back).await;
    assert_eq!(page.status, 303);
    assert_eq!(page.headers["location"].to_str().unwrap(), original);
    // Only allowed hosts, whoever asks.
    for rd in ["https://evil.example/", "javascript:alert(1)", "//chat.example.org/"] {
        let page = browser
            .get(&format!("/v1/forward-auth/return?rd={}", urlencode(rd)))
            .await;
        assert_eq!(page.status, 422, "{rd}");
        assert!(page.headers.get("location").is_none());
    }
    let page = browser.get("/v1/forward-auth").await;
    assert_eq!(page.status, 200);
    assert_eq!(page.headers["x-roster-email"].to_str().unwrap(), user.email);
    // Deactivated: the session no longer passes.
    app.set_user(
        user.id,
        AdminUserChanges {
            active: Some(false),
            ..Default::default()
        },
    )
    .await;
    let page = browser.get("/v1/forward-auth").await;
    assert_eq!(page.status, 401);
    assert!(page.headers.get("x-roster-email").is_none());
}

roster_testkit::backend_tests!(
    tokens_and_keys_pass_with_the_identity,
    header_names_follow_the_settings,
    without_a_session_api_clients_get_401_and_browsers_the_sign_in_page,
    a_browser_session_passes_and_returns_to_the_original_page,
);
