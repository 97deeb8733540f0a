//! The sign-in pages and the browser session: forms parsed as a browser would read them
//! (labels, hidden fields, CSRF), the sign-in with and without a second factor, the
//! accounts that may not sign in, throttling, sign-out (here and everywhere), every path that
//! ends sessions ending the browser session, no open redirect, the headers every page carries.

use crate::two_factor::{code, enable};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use roster_core::service::AdminUserChanges;
use roster_core::{Clock, Role};
use roster_http::pages::{CHALLENGE_COOKIE, SESSION_COOKIE};
use roster_testkit::app::TestUser;
use roster_testkit::app::spawn_app_with;
use roster_testkit::{Backend, TestApp, backend_tests, spawn_app};
use scraper::{Html, Selector};
use std::collections::BTreeMap;
use time::Duration;

/// A page as a browser got it.
#[derive(Debug)]
pub struct Page {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub html: String,
}

fn select(selector: &str) -> Selector {
    Selector::parse(selector).unwrap()
}

impl Page {
    /// Asserts what the account pages and the console load: Roster's one script, external,
    /// same-origin and deferred, no inline script, and a policy allowing `script-src 'self'`
    /// and nothing looser.
    pub fn assert_only_roster_script(&self, path: &str) {
        let csp = self.headers["content-security-policy"].to_str().unwrap();
        assert!(
            csp.contains("default-src 'none'") && csp.contains("script-src 'self';"),
            "{path}: {csp}"
        );
        assert!(
            !csp.contains("unsafe") && !csp.contains("script-src 'self' "),
            "{path}: {csp}"
        );
        let doc = self.doc();
        let scripts: Vec<_> = doc.select(&select("script")).collect();
        assert_eq!(scripts.len(), 1, "{path}: one script");
        let script = scripts[0];
        assert_eq!(
            script.attr("src"),
            Some(roster_http::pages::render::SCRIPT_PATH),
            "{path}"
        );
        assert!(script.attr("defer").is_some(), "{path}: deferred");
        assert_eq!(script.inner_html().trim(), "", "{path}: no inline script");
        assert_eq!(
            doc.select(&select("[onclick], [onload], [onsubmit]")).count(),
            0,
            "{path}"
        );
    }

    pub fn doc(&self) -> Html {
        Html::parse_document(&self.html)
    }

    pub fn location(&self) -> Option<String> {
        self.headers.get("location").map(|v| v.to_str().unwrap().to_string())
    }

    /// The text of every element matching `selector`, whitespace collapsed.
    pub fn texts(&self, selector: &str) -> Vec<String> {
        self.doc()
            .select(&select(selector))
            .map(|e| {
                e.text()
                    .collect::<Vec<_>>()
                    .join(" ")
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect()
    }

    pub fn text(&self) -> String {
        self.texts("main").join(" ")
    }

    /// The error summary's messages (the `role="alert"` region).
    pub fn alerts(&self) -> Vec<String> {
        self.texts("[role=alert] li")
    }

    /// The form posting to `action`: every named field and its value (hidden ones
    /// included, unchecked boxes left out), and for each visible field the text of its label.
    pub fn form(&self, action: &str) -> Form {
        let doc = self.doc();
        let form = doc
            .select(&select(&format!("form[action=\"{action}\"]")))
            .next()
            .unwrap_or_else(|| panic!("no form posting to {action} in {}", self.html));
        let mut fields = BTreeMap::new();
        let mut labels = BTreeMap::new();
        for input in form.select(&select("input[name]")) {
            let name = input.attr("name").unwrap().to_string();
            let kind = input.attr("type").unwrap_or("text");
            if kind != "checkbox" || input.attr("checked").is_some() {
                fields.insert(name.clone(), input.attr("value").unwrap_or("").to_string());
            }
            if kind != "hidden" {
                let id = input.attr("id").expect("a visible field has an id");
                let label = doc
                    .select(&select(&format!("label[for=\"{id}\"]")))
                    .next()
                    .unwrap_or_else(|| panic!("field {name} has no label"));
                labels.insert(name, label.text().collect::<String>());
            }
        }
        Form {
            action: action.to_string(),
            fields,
            labels,
        }
    }
}

/// A parsed form, ready to fill and submit.
#[derive(Debug, Clone)]
pub struct Form {
    pub action: String,
    pub fields: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
}

impl Form {
    pub fn set(mut self, name: &str, value: &str) -> Self {
        assert!(
            self.fields.contains_key(name) || self.labels.contains_key(name) || name == "everywhere",
            "the form has no field {name}: {:?}",
            self.fields
        );
        self.fields.insert(name.to_string(), value.to_string());
        self
    }
}

/// A browser without script: keeps cookies, follows no redirect by itself.
pub struct Browser<'a> {
    pub app: &'a TestApp,
    client: reqwest::Client,
    pub cookies: BTreeMap<String, String>,
    pub language: Option<&'static str>,
}

impl<'a> Browser<'a> {
    pub fn new(app: &'a TestApp) -> Self {
        Browser {
            app,
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookies: BTreeMap::new(),
            language: None,
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn send(&mut self, request: reqwest::RequestBuilder) -> Page {
        let mut request = request.header("cookie", self.cookie_header());
        if let Some(language) = self.language {
            request = request.header("accept-language", language);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        for set in headers.get_all("set-cookie") {
            let set = set.to_str().unwrap();
            let (pair, attributes) = set.split_once(';').unwrap_or((set, ""));
            let (name, value) = pair.split_once('=').unwrap();
            if value.is_empty() || attributes.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_string(), value.to_string());
            }
        }
        Page {
            status,
            headers,
            html: response.text().await.unwrap(),
        }
    }

    pub async fn get(&mut self, path: &str) -> Page {
        let request = self.client.get(format!("{}{path}", self.app.address));
        self.send(request).await
    }

    pub async fn submit(&mut self, form: &Form) -> Page {
        let body = serde_urlencoded::to_string(&form.fields).unwrap();
        self.post_raw(&form.action, body, &[]).await
    }

    pub async fn post_raw(&mut self, path: &str, body: String, headers: &[(&str, &str)]) -> Page {
        let mut request = self
            .client
            .post(format!("{}{path}", self.app.address))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        self.send(request).await
    }

    /// Posts a `multipart/form-data` form (a file upload).
    pub async fn post_multipart(&mut self, path: &str, form: reqwest::multipart::Form) -> Page {
        let request = self.client.post(format!("{}{path}", self.app.address)).multipart(form);
        self.send(request).await
    }

    /// Signs in through the form (no second factor); returns the answer to the POST.
    pub async fn sign_in(&mut self, login: &str, password: &str, return_to: Option<&str>) -> Page {
        let path = match return_to {
            Some(to) => format!("/signin?return_to={}", urlencode(to)),
            None => "/signin".to_string(),
        };
        let page = self.get(&path).await;
        assert_eq!(page.status, 200, "{}", page.html);
        let form = page.form("/signin").set("identifier", login).set("password", password);
        self.submit(&form).await
    }

    pub fn session_cookie(&self) -> Option<String> {
        self.cookies.get(SESSION_COOKIE).cloned()
    }
}

pub fn urlencode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn set_cookie_of(page: &Page, name: &str) -> String {
    page.headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|v| v.starts_with(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name} cookie set: {:?}", page.headers))
}

async fn sign_in_with_a_password_starts_a_browser_session(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let user = app.user(Role::User).await;
    let mut browser = Browser::new(&app);
    let return_to = "/oauth/authorize?client_id=app&state=a%20b";

    let page = browser
        .get(&format!(
            "/signin?return_to={}&login_hint={}",
            urlencode(return_to),
            urlencode(&user.username)
        ))
        .await;
    assert_eq!(page.status, 200);
    assert_eq!(page.texts("h1"), ["Sign in to Roster"]);
    assert_eq!(page.texts("html").len(), 1);
    assert_eq!(page.doc().root_element().attr("lang"), Some("en"));
    let form = page.form("/signin");
    assert_eq!(form.labels["identifier"], "Email or username");
    assert_eq!(form.labels["password"], "Password");
    assert_eq!(form.fields["return_to"], return_to);
    assert_eq!(form.fields["identifier"], user.username, "login_hint prefills it");
    assert_eq!(form.fields["csrf"], browser.cookies["roster_csrf"]);
    let csrf_cookie = set_cookie_of(&page, "roster_csrf");
    assert!(
        csrf_cookie.contains("HttpOnly") && csrf_cookie.contains("SameSite=Lax"),
        "{csrf_cookie}"
    );
    assert!(!csrf_cookie.contains("Secure"), "plain http: {csrf_cookie}");

    let answer = browser
        .submit(&form.set("identifier", &user.email).set("password", &user.password))
        .await;
    assert_eq!(answer.status, 303, "{}", answer.html);
    assert_eq!(answer.location().as_deref(), Some(return_to));
    let cookie = set_cookie_of(&answer, SESSION_COOKIE);
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && cookie.contains("Path=/"),
        "{cookie}"
    );
    assert!(cookie.contains(&format!("Max-Age={}", 30 * 86_400)), "{cookie}");

    // The session is one of the user's sessions, with how and when they signed in.
    let value = browser.session_cookie().unwrap();
    let session = app.core.browser_session(&value).await.unwrap();
    assert_eq!(session.user.id, user.id);
    assert_eq!(session.amr, ["pwd"]);
    assert_eq!(session.auth_time.unix_timestamp(), app.clock.now().unix_timestamp());
    let listed = app.get("/v1/me/sessions", Some(&user.access_token)).await;
    listed.assert_status(200);
    assert!(listed.text.contains(&session.session_id.to_string()), "{}", listed.text);

    // Signed in, the page says who, and a return_to is followed at once.
    let page = browser.get("/signin").await;
    assert_eq!(page.status, 200);
    assert!(
        page.text()
            .contains(&format!("You are signed in as Test {}", user.username)),
        "{}",
        page.html
    );
    assert!(page.doc().select(&select("form[action=\"/signin\"]")).next().is_none());
    let page = browser.get("/signin?return_to=%2Fnext").await;
    assert_eq!((page.status.as_u16(), page.location().as_deref()), (303, Some("/next")));
    // prompt=login shows the form again, and signing in replaces the old session.
    let page = browser.get("/signin?prompt=login&return_to=%2Fnext").await;
    assert_eq!(page.status, 200);
    let form = page
        .form("/signin")
        .set("identifier", &user.username)
        .set("password", &user.password);
    app.advance(Duration::minutes(10));
    let answer = browser.submit(&form).await;
    assert_eq!(answer.location().as_deref(), Some("/next"));
    let renewed = app
        .core
        .browser_session(&browser.session_cookie().unwrap())
        .await
        .unwrap();
    assert_eq!(renewed.auth_time.unix_timestamp(), app.clock.now().unix_timestamp());
    assert_ne!(renewed.session_id, session.session_id);
    assert!(
        app.core.browser_session(&value).await.is_err(),
        "the replaced session ended"
    );
}

async fn wrong_or_missing_credentials_are_announced_in_the_form(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let user = app.user(Role::User).await;
    let mut browser = Browser::new(&app);

    let answer = browser.sign_in(&user.email, "not-the-password", None).await;
    assert_eq!(answer.status, 401);
    assert_eq!(answer.alerts(), ["The email, username or password is not correct."]);
    let form = answer.form("/signin");
    assert_eq!(form.fields["identifier"], user.email, "the identifier is kept");
    assert_eq!(
        form.fields.get("password").map(String::as_str),
        Some(""),
        "never the password"
    );
    assert!(browser.session_cookie().is_none());
    // An unknown account reads exactly the same.
    let unknown = browser.sign_in("nobody@example.org", "whatever-password", None).await;
    assert_eq!(unknown.status, 401);
    assert_eq!(unknown.alerts(), answer.alerts());

    // Empty fields: each named, linked to its field, the field marked and described.
    let page = browser.get("/signin").await;
    let answer = browser.submit(&page.form("/signin")).await;
    assert_eq!(answer.status, 422);
    assert_eq!(
        answer.alerts(),
        ["Enter your email address or username.", "Enter your password."]
    );
    let doc = answer.doc();
    let links: Vec<_> = doc
        .select(&select("[role=alert] a"))
        .map(|a| a.attr("href").unwrap().to_string())
        .collect();
    assert_eq!(links, ["#identifier", "#password"]);
    let input = doc.select(&select("#identifier")).next().unwrap();
    assert_eq!(input.attr("aria-invalid"), Some("true"));
    assert_eq!(input.attr("aria-describedby"), Some("identifier-error"));
    assert_eq!(
        answer.texts("#identifier-error"),
        ["Enter your email address or username."]
    );

    // The attempts were audited as every login is.
    let audit = app.core.operator();
    let failures = app
        .core
        .list_audit(
            audit,
            roster_core::service::ListAudit {
                action: Some("login.failure".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(failures.entries.len() >= 2, "{failures:?}");
}

async fn sign_in_is_throttled_like_every_login(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let user = app.user(Role::User).await;
    let mut browser = Browser::new(&app);
    let mut last = None;
    for _ in 0..8 {
        let answer = browser.sign_in(&user.email, "wrong-password", None).await;
        let throttled = answer.status == 429;
        last = Some(answer);
        if throttled {
            break;
        }
    }
    let answer = last.unwrap();
    assert_eq!(answer.status, 429, "{}", answer.html);
    let wait: i64 = answer.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(wait >= 1);
    assert_eq!(
        answer.alerts(),
        [format!("Too many attempts. Wait {wait} seconds and try again.")]
    );
    // The right password does not pass while the account is locked.
    let answer = browser.sign_in(&user.email, &user.password, None).await;
    assert_eq!(answer.status, 429);
    assert!(browser.session_cookie().is_none());
}

async fn forms_without_the_csrf_token_are_refused(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let user = app.user(Role::User).await;
    let mut browser = Browser::new(&app);
    let page = browser.get("/signin").await;
    let form = page
        .form("/signin")
        .set("identifier", &user.email)
        .set("password", &user.password);

    // The field missing, or not the cookie's value.
    let mut without = form.clone();
    without.fields.remove("csrf");
    let answer = browser.submit(&without).await;
    assert_eq!(answer.status, 403);
    assert_eq!(
        answer.alerts(),
        ["This form has expired. It has been renewed: please submit it again."]
    );
    assert!(browser.session_cookie().is_none());
    let answer = browser.submit(&form.clone().set("csrf", &"x".repeat(43))).await;
    assert_eq!(answer.status, 403);
    // The refusal renews the token; the renewed form goes through.
    let renewed = answer
        .form("/signin")
        .set("identifier", &user.email)
        .set("password", &user.password);
    assert_eq!(renewed.fields["csrf"], browser.cookies["roster_csrf"]);

    // Another site's page posting the right pair is refused too (each refusal renews the
    // token, so the next attempt takes the renewed form).
    let mut form = renewed;
    for header in [("origin", "https://evil.example"), ("sec-fetch-site", "cross-site")] {
        let body = serde_urlencoded::to_string(&form.fields).unwrap();
        let answer = browser.post_raw("/signin", body, &[header]).await;
        assert_eq!(answer.status, 403, "{header:?}");
        assert!(browser.session_cookie().is_none());
        form = answer
            .form("/signin")
            .set("identifier", &user.email)
            .set("password", &user.password);
    }
    let body = serde_urlencoded::to_string(&form.fields).unwrap();
    let answer = browser.post_raw("/signin", body, &[("origin", &app.address)]).await;
    assert_eq!(answer.status, 303, "{}", answer.html);
    assert!(browser.session_cookie().is_some());

    // Without its cookie the field alone is worth nothing.
    let mut fresh = Browser::new(&app);
    let answer = fresh.submit(&form).await;
    assert_eq!(answer.status, 403);
    assert!(fresh.session_cookie().is_none());
    // A body that is not a form is a clear error, not a crash.
    let answer = fresh.post_raw("/signin", "identifier=a&identifier=b".into(), &[]).await;
    assert_eq!(answer.status, 400);
    assert_eq!(answer.alerts(), ["The form could not be read. Please try again."]);
    let answer = fresh.post_raw("/signin", "identifier=%00".into(), &[]).await;
    assert_eq!(answer.status, 400);
}

async fn accounts_that_may_not_sign_in_get_their_page(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let admin = app.admin().await;
    let pending = app.user(Role::Pending).await;
    let disabled = app.deactivated_user().await;
    let banned = app.user(Role::User).await;
    let admin_actor = app.core.authenticate_bearer(&admin.access_token).await.unwrap();
    app.core
        .ban_user(&admin_actor, banned.id, Duration::hours(2), Some("spam"))
        .await
        .unwrap();
    for (user, title, body) in [
        (&pending, "Account awaiting approval", "not approved it yet"),
        (&disabled, "Account deactivated", "has been deactivated"),
        (&banned, "Account suspended", "suspended until"),
    ] {
        let mut browser = Browser::new(&app);
        let answer = browser.sign_in(&user.email, &user.password, Some("/x")).await;
        assert_eq!(answer.status, 403, "{}", answer.html);
        assert_eq!(answer.texts("h1"), [title]);
        assert!(answer.text().contains(body), "{}", answer.html);
        assert!(browser.session_cookie().is_none());
    }
    // A wrong password tells nothing about the account's state.
    let mut browser = Browser::new(&app);
    let answer = browser.sign_in(&banned.email, "wrong-password", None).await;
    assert_eq!(answer.status, 401);
}

async fn a_second_factor_completes_the_sign_in(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let user = app.user(Role::User).await;
    let (secret, backup_codes) = enable(&app, &user).await;
    let mut browser = Browser::new(&app);

    let answer = browser.sign_in(&user.email, &user.password, Some("/after")).await;
    assert_eq!(answer.status, 303, "{}", answer.html);
    assert_eq!(
        answer.location().as_deref(),
        Some("/signin/second-factor?return_to=%2Fafter")
    );
    assert!(
        browser.session_cookie().is_none(),
        "no session before the second factor"
    );
    let challenge = set_cookie_of(&answer, CHALLENGE_COOKIE);
    assert!(
        challenge.contains("HttpOnly") && challenge.contains("Max-Age=300"),
        "{challenge}"
    );

    let page = browser.get("/signin/second-factor?return_to=%2Fafter").await;
    assert_eq!(page.status, 200);
    let form = page.form("/signin/second-factor");
    assert_eq!(form.labels["code"], "Verification code");
    assert_eq!(form.fields["return_to"], "/after");
    let input = page.doc().select(&select("#code")).next().unwrap().value().clone();
    assert_eq!(input.attr("autocomplete"), Some("one-time-code"));
    assert_eq!(input.attr("aria-describedby"), Some("code-hint"));

    let answer = browser.submit(&form.clone().set("code", "000000")).await;
    assert_eq!(answer.status, 401);
    assert_eq!(answer.alerts(), ["That code is not correct or has already been used."]);
    assert_eq!(
        answer
            .doc()
            .select(&select("#code"))
            .next()
            .unwrap()
            .attr("aria-describedby"),
        Some("code-hint code-error")
    );
    let answer = browser.submit(&form.clone().set("code", "")).await;
    assert_eq!(answer.status, 422);

    let answer = browser.submit(&form.clone().set("code", &code(&app, &secret, 0))).await;
    assert_eq!(answer.status, 303, "{}", answer.html);
    assert_eq!(answer.location().as_deref(), Some("/after"));
    assert!(
        !browser.cookies.contains_key(CHALLENGE_COOKIE),
        "the challenge is cleared"
    );
    let session = app
        .core
        .browser_session(&browser.session_cookie().unwrap())
        .await
        .unwrap();
    assert_eq!(session.amr, ["pwd", "otp"]);

    // A backup code works too, once.
    let mut other = Browser::new(&app);
    other.sign_in(&user.username, &user.password, None).await;
    let form = other.get("/signin/second-factor").await.form("/signin/second-factor");
    let answer = other.submit(&form.set("code", &backup_codes[0])).await;
    assert_eq!(answer.status, 303, "{}", answer.html);
    assert_eq!(answer.location().as_deref(), Some("/signin"));
    assert!(other.session_cookie().is_some());

    // Without a challenge (never signed in, or it expired) the step says to start again.
    let mut stranger = Browser::new(&app);
    let page = stranger.get("/signin/second-factor").await;
    assert_eq!(page.status, 401);
    assert_eq!(page.alerts(), ["The sign-in took too long. Please sign in again."]);
    let mut late = Browser::new(&app);
    late.sign_in(&user.email, &user.password, None).await;
    let form = late.get("/signin/second-factor").await.form("/signin/second-factor");
    app.advance(Duration::minutes(6));
    let answer = late.submit(&form.set("code", &code(&app, &secret, 0))).await;
    assert_eq!(answer.status, 401);
    assert_eq!(answer.alerts(), ["The sign-in took too long. Please sign in again."]);
    assert!(late.session_cookie().is_none());
}

async fn signing_out_ends_the_session_here_or_everywhere(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let user = app.user(Role::User).await;
    let mut browser = Browser::new(&app);
    browser.sign_in(&user.email, &user.password, None).await;
    let value = browser.session_cookie().unwrap();

    // A link alone signs no one out: GET asks.
    let page = browser.get("/signout").await;
    assert_eq!(page.status, 200);
    let form = page.form("/signout");
    assert_eq!(
        form.labels["everywhere"],
        "Also sign out on every other device and application"
    );
    assert!(!form.fields.contains_key("everywhere"), "unchecked by default");
    assert!(app.core.browser_session(&value).await.is_ok());
    let answer = browser.submit(&form).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.texts("h1"), ["Signed out"]);
    assert!(browser.session_cookie().is_none(), "the cookie is removed");
    assert!(app.core.browser_session(&value).await.is_err());
    // The user's API session is untouched.
    app.get("/v1/me", Some(&user.access_token)).await.assert_status(200);

    // Everywhere: every session of the user ends, the API's included.
    browser.sign_in(&user.email, &user.password, None).await;
    let form = browser.get("/signout").await.form("/signout").set("everywhere", "on");
    let answer = browser.submit(&form).await;
    assert!(answer.text().contains("every device"), "{}", answer.html);
    app.get("/v1/me", Some(&user.access_token)).await.assert_status(401);

    // Signed out, the page says so.
    let page = browser.get("/signout").await;
    assert!(page.text().contains("You are not signed in."));
}

async fn every_path_that_ends_sessions_ends_the_browser_session(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let admin = app.admin().await;
    let admin_actor = app.core.authenticate_bearer(&admin.access_token).await.unwrap();
    let signed_in = |user: TestUser| {
        let app = &app;
        async move {
            let mut browser = Browser::new(app);
            let answer = browser.sign_in(&user.email, &user.password, None).await;
            assert_eq!(answer.status, 303, "{}", answer.html);
            (user, browser.session_cookie().unwrap())
        }
    };
    let (banned, banned_cookie) = signed_in(app.user(Role::User).await).await;
    app.core
        .ban_user(&admin_actor, banned.id, Duration::hours(1), None)
        .await
        .unwrap();
    assert!(app.core.browser_session(&banned_cookie).await.is_err());

    let (reset, reset_cookie) = signed_in(app.user(Role::User).await).await;
    app.core
        .reset_password(&admin_actor, reset.id, "a-brand-new-password", false)
        .await
        .unwrap();
    assert!(app.core.browser_session(&reset_cookie).await.is_err());

    let (deactivated, deactivated_cookie) = signed_in(app.user(Role::User).await).await;
    app.set_user(
        deactivated.id,
        AdminUserChanges {
            active: Some(false),
            ..Default::default()
        },
    )
    .await;
    assert!(app.core.browser_session(&deactivated_cookie).await.is_err());

    let (revoked, revoked_cookie) = signed_in(app.user(Role::User).await).await;
    app.core.revoke_user_sessions(&admin_actor, revoked.id).await.unwrap();
    assert!(app.core.browser_session(&revoked_cookie).await.is_err());

    let (deleted, deleted_cookie) = signed_in(app.user(Role::User).await).await;
    app.core.delete_user(&admin_actor, deleted.id).await.unwrap();
    assert!(app.core.browser_session(&deleted_cookie).await.is_err());

    // The session also ends when its time is up.
    let (_, expiring_cookie) = signed_in(app.user(Role::User).await).await;
    app.advance(Duration::days(31));
    assert!(app.core.browser_session(&expiring_cookie).await.is_err());

    // A browser whose session ended simply sees the form again.
    let mut browser = Browser::new(&app);
    browser.cookies.insert(SESSION_COOKIE.into(), revoked_cookie.clone());
    let page = browser.get("/signin").await;
    assert_eq!(page.status, 200);
    page.form("/signin");
}

async fn sign_in_never_redirects_off_roster(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let user = app.user(Role::User).await;
    for target in [
        "https://evil.example/",
        "//evil.example/x",
        "/\\evil.example",
        "javascript:alert(1)",
    ] {
        let mut browser = Browser::new(&app);
        let page = browser.get(&format!("/signin?return_to={}", urlencode(target))).await;
        assert_eq!(page.form("/signin").fields["return_to"], "", "{target} is dropped");
        // Posted by hand, it is dropped as well.
        let form = page
            .form("/signin")
            .set("return_to", target)
            .set("identifier", &user.email)
            .set("password", &user.password);
        let answer = browser.submit(&form).await;
        assert_eq!(answer.status, 303);
        assert_eq!(answer.location().as_deref(), Some("/signin"), "{target}");
    }
}

async fn pages_carry_strict_headers_and_the_branding(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let mut browser = Browser::new(&app);
    let page = browser.get("/signin").await;
    let header = |name: &str| page.headers.get(name).map(|v| v.to_str().unwrap().to_string());
    assert_eq!(header("content-type").as_deref(), Some("text/html; charset=utf-8"));
    assert_eq!(header("cache-control").as_deref(), Some("no-store"));
    assert_eq!(header("x-frame-options").as_deref(), Some("DENY"));
    let csp = header("content-security-policy").unwrap();
    assert!(
        csp.contains("default-src 'none'")
            && csp.contains("style-src 'self'")
            && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert!(!csp.contains("script") && !csp.contains("unsafe"), "{csp}");
    // No script, no inline style, one stylesheet that is served.
    let doc = page.doc();
    assert_eq!(doc.select(&select("script")).count(), 0);
    assert_eq!(doc.select(&select("[style]")).count(), 0);
    assert_eq!(doc.select(&select("style")).count(), 0);
    let sheet = doc
        .select(&select("link[rel=stylesheet]"))
        .next()
        .unwrap()
        .attr("href")
        .unwrap()
        .to_string();
    let css = browser.get(&sheet).await;
    assert_eq!(css.status, 200);
    assert_eq!(css.headers["content-type"].to_str().unwrap(), "text/css; charset=utf-8");
    assert!(css.html.contains("--accent:#1d4ed8"), "{}", css.html);
    // Every visible input has a label; the only heading of level 1 is the title.
    for input in doc.select(&select("input:not([type=hidden])")) {
        let id = input.attr("id").unwrap();
        assert_eq!(doc.select(&select(&format!("label[for=\"{id}\"]"))).count(), 1, "{id}");
    }
    assert_eq!(page.texts("title"), ["Sign in to Roster – Roster"]);

    // German when the browser asks for it, English for what is not translated.
    browser.language = Some("de-DE,de;q=0.9,en;q=0.5");
    let page = browser.get("/signin").await;
    assert_eq!(page.doc().root_element().attr("lang"), Some("de"));
    assert_eq!(page.texts("h1"), ["Bei Roster anmelden"]);
    assert_eq!(page.form("/signin").labels["password"], "Passwort");
    browser.language = Some("ja");
    assert_eq!(
        browser.get("/signin").await.doc().root_element().attr("lang"),
        Some("en")
    );
}

async fn branding_and_secure_cookies_follow_the_settings(backend: Backend) {
    let http = roster_http::HttpConfig {
        pages: roster_http::pages::PageSettings {
            product_name: "Acme <Chat>".into(),
            logo_url: Some("https://cdn.example.org/logo.svg".into()),
            accent_color: "#7b1fa2".into(),
            ..Default::default()
        },
        ..Default::default()
    };
    let app = roster_testkit::or_skip!(
        roster_testkit::app::spawn_app_with_http(backend, |c| c.public_url = "https://id.example.org".into(), http)
            .await
    );
    let user = app.user(Role::User).await;
    let mut browser = Browser::new(&app);
    let page = browser.get("/signin").await;
    assert_eq!(page.texts("h1"), ["Sign in to Acme <Chat>"]);
    assert!(
        page.html.contains("Acme &#60;Chat&#62;") || page.html.contains("Acme &lt;Chat&gt;"),
        "escaped"
    );
    let logo = page.doc().select(&select("header img")).next().unwrap().value().clone();
    assert_eq!(logo.attr("src"), Some("https://cdn.example.org/logo.svg"));
    let csp = page.headers["content-security-policy"].to_str().unwrap().to_string();
    assert!(csp.contains("img-src 'self' https://cdn.example.org"), "{csp}");
    assert!(set_cookie_of(&page, "roster_csrf").contains("; Secure"));
    let answer = browser.sign_in(&user.email, &user.password, None).await;
    assert_eq!(answer.status, 303);
    assert!(set_cookie_of(&answer, SESSION_COOKIE).contains("; Secure"));
    let css = browser.get("/pages/style.css").await;
    assert!(css.html.contains("--accent:#7b1fa2"));
}

async fn the_sign_in_page_is_reached_through_the_redirect_helper(backend: Backend) {
    use roster_http::pages::{SignInRequest, signin_redirect};
    let app = roster_testkit::or_skip!(spawn_app_with(backend, |_| {}).await);
    let request = SignInRequest {
        return_to: Some("/oauth/authorize?client_id=c&prompt=login".into()),
        force: true,
        login_hint: Some("ann".into()),
    };
    let response = signin_redirect(&request);
    assert_eq!(response.status(), 303);
    let location = response.headers()["location"].to_str().unwrap().to_string();
    let mut browser = Browser::new(&app);
    let page = browser.get(&location).await;
    let form = page.form("/signin");
    assert_eq!(form.fields["return_to"], "/oauth/authorize?client_id=c&prompt=login");
    assert_eq!(form.fields["identifier"], "ann");
}

async fn a_reset_link_opens_a_form_that_sets_the_password(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let user = app.user(Role::User).await;
    let link = app
        .core
        .create_password_reset(app.core.operator(), user.id, Duration::hours(1))
        .await
        .unwrap();
    let mut browser = Browser::new(&app);
    browser.sign_in(&user.email, &user.password, None).await;
    let session = browser.session_cookie().unwrap();

    // Opening the link twice uses nothing up (mail scanners open links).
    let path = format!("/reset-password?token={}", link.token);
    browser.get(&path).await;
    let page = browser.get(&path).await;
    assert_eq!(page.status, 200, "{}", page.html);
    assert_eq!(page.headers["referrer-policy"], "no-referrer");
    let form = page.form("/reset-password");
    assert_eq!(form.fields["token"], link.token);
    assert_eq!(form.labels["password"], "New password");
    assert_eq!(form.labels["confirm_password"], "Repeat the new password");
    assert_eq!(page.texts("#password-hint"), ["At least 8 characters."]);

    let answer = browser
        .submit(
            &form
                .clone()
                .set("password", "new-password-1")
                .set("confirm_password", "other-one"),
        )
        .await;
    assert_eq!(answer.status, 422);
    assert_eq!(answer.alerts(), ["The two passwords are not the same."]);
    let answer = browser
        .submit(&form.clone().set("password", "short").set("confirm_password", "short"))
        .await;
    assert_eq!(answer.status, 422);
    assert_eq!(answer.alerts(), ["The password must have at least 8 characters."]);

    let answer = browser
        .submit(
            &form
                .clone()
                .set("password", "new-password-1")
                .set("confirm_password", "new-password-1"),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.html);
    assert!(
        answer.text().contains("Your password has been changed"),
        "{}",
        answer.html
    );
    assert!(browser.session_cookie().is_none());
    assert!(app.core.browser_session(&session).await.is_err(), "every session ends");
    app.login(&user.email, "new-password-1").await.assert_status(200);

    // Used: the link is dead, on GET and on POST.
    let page = browser.get(&path).await;
    assert_eq!(page.status, 404);
    assert_eq!(
        page.alerts(),
        ["This link is invalid, has expired or has already been used. Ask for a new one."]
    );
    let answer = browser
        .submit(&page_form_for_dead_link(&form, "another-password"))
        .await;
    assert_eq!(answer.status, 404);
    assert_eq!(browser.get("/reset-password?token=nonsense").await.status, 404);
    assert_eq!(browser.get("/reset-password").await.status, 404);
}

fn page_form_for_dead_link(form: &Form, password: &str) -> Form {
    form.clone().set("password", password).set("confirm_password", password)
}

async fn an_invitation_link_opens_a_form_that_creates_the_account(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let _admin = app.admin().await;
    let taken = app.user(Role::User).await;
    let invitation = app
        .core
        .create_invitation(
            app.core.operator(),
            roster_core::service::NewInvitation {
                email: "newcomer@example.org".into(),
                role: Some(Role::User),
                expires_in: Duration::days(1),
            },
        )
        .await
        .unwrap();
    let mut browser = Browser::new(&app);
    let path = format!("/register?token={}", invitation.token);
    let page = browser.get(&path).await;
    assert_eq!(page.status, 200, "{}", page.html);
    let form = page.form("/register");
    assert_eq!(form.fields["email"], "newcomer@example.org");
    assert_eq!(form.labels["username"], "Username (optional)");
    assert_eq!(form.labels["password"], "New password");

    let filled = form
        .clone()
        .set("name", "New Comer")
        .set("password", "newcomer-password")
        .set("confirm_password", "newcomer-password");
    let answer = browser
        .submit(&filled.clone().set("email", "someone-else@example.org"))
        .await;
    assert_eq!(answer.status, 422);
    assert_eq!(answer.alerts(), ["Use the email address the invitation was sent to."]);
    let answer = browser.submit(&filled.clone().set("username", &taken.username)).await;
    assert_eq!(answer.status, 409, "{}", answer.html);
    assert_eq!(answer.alerts(), ["This username is already taken."]);
    assert_eq!(
        answer.form("/register").fields["name"],
        "New Comer",
        "what was typed is kept"
    );
    let answer = browser
        .submit(&filled.clone().set("confirm_password", "different"))
        .await;
    assert_eq!(answer.status, 422);

    let answer = browser.submit(&filled.clone().set("username", "newcomer")).await;
    assert_eq!(answer.status, 201, "{}", answer.html);
    assert!(answer.text().contains("Your account has been created"));
    let signin = answer
        .doc()
        .select(&select("main a"))
        .map(|a| a.attr("href").unwrap().to_string())
        .next()
        .unwrap();
    assert_eq!(signin, "/signin?login_hint=newcomer%40example.org");
    let answer = browser.sign_in("newcomer", "newcomer-password", None).await;
    assert_eq!(answer.status, 303, "{}", answer.html);

    // The invitation is used up.
    assert_eq!(browser.get(&path).await.status, 404);
    let answer = browser.submit(&filled).await;
    assert_eq!(answer.status, 404);
}

async fn a_verification_link_asks_to_confirm_then_verifies(backend: Backend) {
    let smtp = roster_testkit::smtp::SmtpSink::start().await;
    let url = smtp.url.clone();
    let app = roster_testkit::or_skip!(spawn_app_with(backend, move |c| c.smtp_url = Some(url)).await);
    let unverified = || AdminUserChanges {
        email_verified: Some(false),
        ..Default::default()
    };
    let user = app.user(Role::User).await;
    app.set_user(user.id, unverified()).await;
    let verified = |id| {
        let app = &app;
        async move { app.core.store.get_user(id).await.unwrap().email_verified }
    };
    let link = app
        .core
        .send_verification(&app.core.store.get_user(user.id).await.unwrap(), "/verify-email")
        .await
        .unwrap();
    smtp.wait_for(1).await;
    let path = link.trim_start_matches(&app.address).to_string();
    assert!(path.starts_with("/verify-email?token="), "{path}");
    let mut browser = Browser::new(&app);

    // Opening the link (twice, as a mail scanner and then the user) uses nothing up.
    browser.get(&path).await;
    let page = browser.get(&path).await;
    assert_eq!(page.status, 200, "{}", page.html);
    assert_eq!(page.headers["referrer-policy"], "no-referrer");
    assert!(!verified(user.id).await, "opening the link verifies nothing");
    assert!(page.text().contains(&user.email), "{}", page.html);
    let form = page.form("/verify-email");
    assert_eq!(form.fields["email"], user.email);
    assert!(page.texts("button").contains(&"Verify my email address".to_string()));

    // A forged confirmation is refused.
    let forged = browser.submit(&form.clone().set("csrf", "forged")).await;
    assert_eq!(forged.status, 403);
    assert!(!verified(user.id).await);

    // Confirmed (with the renewed token): verified, through the service every dialect uses.
    let form = forged.form("/verify-email");
    let done = browser.submit(&form).await;
    assert_eq!(done.status, 200, "{}", done.html);
    assert!(done.text().contains("Your email address is verified"), "{}", done.html);
    assert!(verified(user.id).await);

    // Used: a clear message and a form for a new link, the address filled in.
    let again = browser.submit(&form).await;
    assert_eq!(again.status, 404);
    assert_eq!(
        again.alerts(),
        ["This verification link has expired or has already been used. Enter your email address to get a new one."]
    );
    let resend = again.form("/verify-email/resend");
    assert_eq!(resend.fields["email"], user.email);
    assert_eq!(resend.labels["email"], "Email address");
    let garbled = browser.submit(&form.clone().set("token", "nonsense")).await;
    assert_eq!(garbled.status, 404);
    let no_token = browser.get("/verify-email").await;
    assert_eq!(no_token.status, 404);
    no_token.form("/verify-email/resend");

    // Asking for a new link: the same answer for every address; an unverified one gets mail.
    let other = app.user(Role::User).await;
    app.set_user(other.id, unverified()).await;
    let answer = browser.submit(&resend.clone().set("email", &other.email)).await;
    assert_eq!(answer.status, 200, "{}", answer.html);
    assert!(answer.text().contains("a new link is on its way"), "{}", answer.html);
    let mail = smtp.wait_for(2).await;
    assert_eq!(mail[1].to, vec![other.email.clone()]);
    let new_link = mail[1]
        .link(&format!("{}/verify-email?token=", app.address))
        .expect("the new link leads to this page");
    let page = browser.get(new_link.trim_start_matches(&app.address)).await;
    let done = browser.submit(&page.form("/verify-email")).await;
    assert_eq!(done.status, 200, "{}", done.html);
    assert!(verified(other.id).await);

    // A malformed address names the field; too many requests are throttled.
    let bad = browser.submit(&resend.clone().set("email", "not an address")).await;
    assert_eq!(bad.status, 422);
    assert_eq!(bad.texts("#email-error"), ["Enter a valid email address."]);
    let mut last = None;
    for _ in 0..5 {
        let answer = browser.submit(&resend.clone().set("email", "nobody@example.org")).await;
        if answer.status == 429 {
            last = Some(answer);
            break;
        }
        assert_eq!(answer.status, 200);
    }
    let throttled = last.expect("resending is rate limited");
    assert!(throttled.headers.contains_key("retry-after"));
    assert!(
        throttled.alerts()[0].starts_with("Too many attempts."),
        "{}",
        throttled.html
    );

    // In German.
    browser.language = Some("de");
    let page = browser.get(&path).await;
    assert_eq!(page.texts("h1"), ["E-Mail-Adresse bestätigen"]);
    assert!(
        page.texts("button")
            .contains(&"Meine E-Mail-Adresse bestätigen".to_string())
    );
}

backend_tests!(
    a_verification_link_asks_to_confirm_then_verifies,
    sign_in_with_a_password_starts_a_browser_session,
    wrong_or_missing_credentials_are_announced_in_the_form,
    sign_in_is_throttled_like_every_login,
    forms_without_the_csrf_token_are_refused,
    accounts_that_may_not_sign_in_get_their_page,
    a_second_factor_completes_the_sign_in,
    signing_out_ends_the_session_here_or_everywhere,
    every_path_that_ends_sessions_ends_the_browser_session,
    sign_in_never_redirects_off_roster,
    pages_carry_strict_headers_and_the_branding,
    branding_and_secure_cookies_follow_the_settings,
    the_sign_in_page_is_reached_through_the_redirect_helper,
    a_reset_link_opens_a_form_that_sets_the_password,
    an_invitation_link_opens_a_form_that_creates_the_account,
);
