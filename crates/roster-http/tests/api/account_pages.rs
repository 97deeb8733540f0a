//! The account pages (`/account/...`) as a browser without script uses them: each action's
//! effect seen through the API, forms without the CSRF token refused, other users' sessions
//! and keys out of reach, a browser without a session sent to sign in.

use crate::pages::{Browser, Form, Page, urlencode};
use crate::two_factor::{base32_decode, code};
use roster_core::two_factor::STEP_SECONDS;
use roster_core::{Clock, Role};
use roster_testkit::app::{TestUser, spawn_app_with};
use roster_testkit::smtp::SmtpSink;
use roster_testkit::{Backend, TestApp, backend_tests, spawn_app};
use scraper::Selector;
use time::Duration;

trait Textarea {
    /// Sets a field the form parser does not read (a `textarea`).
    fn put(self, name: &str, value: &str) -> Self;
}

impl Textarea for Form {
    fn put(mut self, name: &str, value: &str) -> Self {
        self.fields.insert(name.to_string(), value.to_string());
        self
    }
}

/// A browser signed in as `user`.
async fn signed_in<'a>(app: &'a TestApp, user: &TestUser) -> Browser<'a> {
    let mut browser = Browser::new(app);
    let answer = browser.sign_in(&user.email, &user.password, Some("/account")).await;
    assert_eq!(answer.status, 303, "{}", answer.html);
    assert!(browser.session_cookie().is_some());
    browser
}

/// The text of the element with `id`.
fn by_id(page: &Page, id: &str) -> Option<String> {
    page.texts(&format!("#{id}")).into_iter().next()
}

/// The page's status message (`role="status"`).
fn status(page: &Page) -> String {
    page.texts("[role=status]").join(" ")
}

/// Follows a 303 to a page on Roster.
async fn follow(browser: &mut Browser<'_>, answer: &Page) -> Page {
    assert_eq!(answer.status, 303, "{}", answer.html);
    let to = answer.location().unwrap();
    browser.get(&to).await
}

/// The form posting to `action` whose hidden `id` is `id`.
fn form_with_id(page: &Page, action: &str, id: &str) -> Form {
    let doc = page.doc();
    let selector = Selector::parse(&format!("form[action=\"{action}\"]")).unwrap();
    let input = Selector::parse("input[name=csrf]").unwrap();
    let form = doc
        .select(&selector)
        .find(|f| f.html().contains(&format!("value=\"{id}\"")))
        .unwrap_or_else(|| panic!("no form {action} for {id}: {}", page.html));
    let csrf = form.select(&input).next().unwrap().attr("value").unwrap().to_string();
    Form {
        action: action.to_string(),
        fields: [("csrf".to_string(), csrf), ("id".to_string(), id.to_string())].into(),
        labels: Default::default(),
    }
}

const SECTIONS: [&str; 9] = [
    "/account",
    "/account/email",
    "/account/password",
    "/account/two-factor",
    "/account/sessions",
    "/account/api-keys",
    "/account/terms",
    "/account/credits",
    "/account/delete",
];

async fn every_account_page_needs_a_session_and_is_well_formed(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let _admin = app.admin().await;
    let user = app.user(Role::User).await;
    let pending = app.user(Role::Pending).await;
    let mut anonymous = Browser::new(&app);
    for path in SECTIONS {
        let page = anonymous.get(path).await;
        assert_eq!(page.status, 303, "{path}");
        assert_eq!(page.location(), Some(format!("/signin?return_to={}", urlencode(path))));
    }
    // A POST without a session changes nothing and goes to sign in too.
    let page = anonymous.post_raw("/account/api-keys", "name=x".into(), &[]).await;
    assert_eq!(page.status, 303);
    assert!(page.location().unwrap().starts_with("/signin?return_to="));

    // A pending account gets no session: the sign-in shows it its waiting page.
    let mut waiting = Browser::new(&app);
    let answer = waiting
        .sign_in(&pending.email, &pending.password, Some("/account"))
        .await;
    assert_eq!(answer.status, 403);
    assert_eq!(answer.texts("h1"), ["Account awaiting approval"]);
    assert_eq!(waiting.get("/account").await.status, 303);

    // Signed in, every page has its title, the navigation with the current page marked,
    // a label for every field, the strict headers, and English or German.
    let mut browser = signed_in(&app, &user).await;
    for path in SECTIONS {
        let page = browser.get(path).await;
        assert_eq!(page.status, 200, "{path}: {}", page.html);
        assert_eq!(page.texts("h1").len(), 1, "{path}");
        assert_eq!(page.texts("nav [aria-current=page]").len(), 1, "{path}");
        assert_eq!(page.texts("main").len(), 1);
        let csp = page.headers["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert_eq!(page.headers["x-frame-options"], "DENY");
        assert_eq!(page.headers["cache-control"], "no-store");
        page.assert_only_roster_script(path);
        let doc = page.doc();
        for form in doc.select(&Selector::parse("form").unwrap()) {
            let action = form.attr("action").unwrap();
            assert!(
                form.html().contains("name=\"csrf\""),
                "{path}: {action} has no CSRF field"
            );
            if action != "/account/avatar" {
                page.form(action);
            }
        }
    }
    // The script, served by Roster: cached briefly, never sniffed, no eval.
    let script = anonymous.get(roster_http::pages::render::SCRIPT_PATH).await;
    assert_eq!(script.status, 200);
    assert_eq!(script.headers["content-type"], "text/javascript; charset=utf-8");
    assert_eq!(script.headers["cache-control"], "public, max-age=300");
    assert_eq!(script.headers["x-content-type-options"], "nosniff");
    assert_eq!(script.html, roster_http::pages::SCRIPT);
    for banned in [
        "eval(",
        "new Function",
        "innerHTML",
        "document.write",
        "http://",
        "https://",
    ] {
        assert!(!script.html.contains(banned), "the script uses {banned}");
    }

    browser.language = Some("de");
    let page = browser.get("/account").await;
    assert_eq!(page.doc().root_element().attr("lang"), Some("de"));
    assert_eq!(page.texts("h1"), ["Profil"]);
}

async fn the_profile_form_changes_the_profile(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let _admin = app.admin().await;
    let user = app.user(Role::User).await;
    let other = app.user(Role::User).await;
    let mut browser = signed_in(&app, &user).await;
    let page = browser.get("/account").await;
    assert!(page.text().contains(&user.email), "{}", page.html);
    let form = page.form("/account/profile");
    assert_eq!(form.fields["username"], user.username);
    assert_eq!(form.labels["timezone"], "Time zone");
    assert_eq!(page.texts("label[for=bio]"), ["About you"]);
    assert_eq!(
        page.doc()
            .select(&Selector::parse("textarea#bio[name=bio]").unwrap())
            .count(),
        1
    );
    let new_username = format!("{}-new", user.username);
    let answer = browser
        .submit(
            &form
                .clone()
                .set("name", "Ann Example")
                .set("username", &new_username)
                .set("timezone", "Europe/Berlin")
                .put("bio", "Writes <b>tests</b>"),
        )
        .await;
    let page = follow(&mut browser, &answer).await;
    assert_eq!(status(&page), "Your changes have been saved.");
    let me = app.get("/v1/me", Some(&user.access_token)).await;
    me.assert_status(200);
    assert_eq!(me.body["name"], "Ann Example");
    assert_eq!(me.body["username"], new_username.as_str());
    assert_eq!(me.body["timezone"], "Europe/Berlin");
    assert_eq!(me.body["bio"], "Writes <b>tests</b>");
    assert!(!page.html.contains("<b>tests"), "escaped: {}", page.html);

    // The core's rules, named by field, the typed values kept.
    let form = page.form("/account/profile");
    let answer = browser.submit(&form.clone().set("timezone", "Mars Olympus")).await;
    assert_eq!(answer.status, 422, "{}", answer.html);
    assert!(answer.alerts()[0].starts_with("Time zone: "), "{:?}", answer.alerts());
    assert_eq!(answer.form("/account/profile").fields["timezone"], "Mars Olympus");
    assert!(answer.html.contains("aria-invalid=\"true\""));
    let answer = browser.submit(&form.clone().set("username", &other.username)).await;
    assert_eq!(answer.status, 409, "{}", answer.html);
    assert!(answer.alerts()[0].starts_with("Username"), "{:?}", answer.alerts());
    // An empty field clears it.
    let answer = browser.submit(&form.put("bio", "")).await;
    assert_eq!(answer.status, 303);
    let me = app.get("/v1/me", Some(&user.access_token)).await;
    assert!(me.body["bio"].is_null(), "{}", me.body);
}

async fn a_picture_is_uploaded_and_removed(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let _admin = app.admin().await;
    let user = app.user(Role::User).await;
    let mut browser = signed_in(&app, &user).await;
    let page = browser.get("/account").await;
    assert!(page.text().contains("You have no picture."));
    let mut png = Vec::new();
    image::RgbImage::from_pixel(40, 40, image::Rgb([200, 30, 30]))
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    let upload = |csrf: &str, bytes: Vec<u8>| {
        reqwest::multipart::Form::new().text("csrf", csrf.to_string()).part(
            "avatar",
            reqwest::multipart::Part::bytes(bytes)
                .file_name("me.png")
                .mime_str("image/png")
                .unwrap(),
        )
    };
    // Without the token: refused, nothing stored (and the token renewed).
    let answer = browser
        .post_multipart("/account/avatar", upload("nope", png.clone()))
        .await;
    assert_eq!(answer.status, 403);
    let me = app.get("/v1/me", Some(&user.access_token)).await;
    assert!(me.body["avatar_url"].is_null());
    let csrf = browser.cookies["roster_csrf"].clone();
    // Not an image: the core says so.
    let answer = browser
        .post_multipart("/account/avatar", upload(&csrf, b"not an image".to_vec()))
        .await;
    assert_eq!(answer.status, 422, "{}", answer.html);
    assert!(!answer.alerts().is_empty());
    let answer = browser.post_multipart("/account/avatar", upload(&csrf, png)).await;
    let page = follow(&mut browser, &answer).await;
    let me = app.get("/v1/me", Some(&user.access_token)).await;
    let url = me.body["avatar_url"].as_str().unwrap().to_string();
    assert!(url.starts_with("/v1/avatars/"), "{url}");
    let doc = page.doc();
    let img = doc.select(&Selector::parse("img.avatar").unwrap()).next().unwrap();
    assert_eq!(
        (img.attr("src"), img.attr("alt")),
        (Some(url.as_str()), Some("Your picture"))
    );
    assert_eq!(app.get(&url, None).await.status, 200);
    let answer = browser.submit(&page.form("/account/avatar/remove")).await;
    follow(&mut browser, &answer).await;
    let me = app.get("/v1/me", Some(&user.access_token)).await;
    assert!(me.body["avatar_url"].is_null());
}

async fn the_password_changes_with_the_current_one(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let _admin = app.admin().await;
    let user = app.user(Role::User).await;
    let mut browser = signed_in(&app, &user).await;
    let form = browser.get("/account/password").await.form("/account/password");
    assert_eq!(form.labels["current_password"], "Current password");
    let new = "a brand new passphrase";
    let answer = browser
        .submit(
            &form
                .clone()
                .set("current_password", "wrong password")
                .set("new_password", new)
                .set("confirm_password", new),
        )
        .await;
    assert_eq!(answer.status, 422);
    assert_eq!(answer.alerts(), ["The current password is not correct."]);
    let answer = browser
        .submit(
            &form
                .clone()
                .set("current_password", &user.password)
                .set("new_password", new)
                .set("confirm_password", "something else"),
        )
        .await;
    assert_eq!(answer.status, 422);
    assert_eq!(
        answer.form("/account/password").fields.get("new_password"),
        Some(&String::new())
    );
    let answer = browser
        .submit(
            &form
                .clone()
                .set("current_password", &user.password)
                .set("new_password", "short")
                .set("confirm_password", "short"),
        )
        .await;
    assert_eq!(answer.status, 422);
    assert!(
        answer.alerts()[0].starts_with("New password: "),
        "{:?}",
        answer.alerts()
    );
    assert_eq!(app.login(&user.email, &user.password).await.status, 200, "unchanged");

    let answer = browser
        .submit(
            &form
                .set("current_password", &user.password)
                .set("new_password", new)
                .set("confirm_password", new),
        )
        .await;
    let page = follow(&mut browser, &answer).await;
    assert_eq!(page.status, 200, "this browser stays signed in");
    assert!(status(&page).starts_with("Your password has been changed."));
    assert_eq!(app.login(&user.email, &user.password).await.status, 401);
    assert_eq!(app.login(&user.email, new).await.status, 200);
    assert_eq!(
        app.get("/v1/me", Some(&user.access_token)).await.status,
        401,
        "the other sessions ended"
    );
}

async fn two_step_verification_is_enrolled_from_the_qr_code_page(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let _admin = app.admin().await;
    let user = app.user(Role::User).await;
    let mut browser = signed_in(&app, &user).await;
    let page = browser.get("/account/two-factor").await;
    assert!(page.text().contains("Two-step verification is off."));
    let answer = browser.submit(&page.form("/account/two-factor/setup")).await;
    assert_eq!(answer.status, 200, "{}", answer.html);
    let doc = answer.doc();
    let qr = doc.select(&Selector::parse(".qr[role=img] svg").unwrap()).next();
    assert!(qr.is_some(), "a QR code drawn by Roster: {}", answer.html);
    let secret_text = by_id(&answer, "totp-secret").unwrap();
    let secret = base32_decode(&secret_text);
    let codes = answer.texts("#backup-codes-list li");
    assert_eq!(codes.len(), 10, "{codes:?}");
    assert_eq!(answer.headers["cache-control"], "no-store");

    // A wrong code: said so, and the page of the pending enrolment never shows the secret
    // again (only the form for the code, and starting over).
    let answer = browser
        .submit(
            &answer
                .form("/account/two-factor/confirm")
                .set("code", &code(&app, &secret, 5)),
        )
        .await;
    assert_eq!(answer.status, 401, "{}", answer.html);
    assert_eq!(answer.alerts(), ["This code is not correct or has already been used."]);
    assert!(!answer.html.contains(&secret_text) && !answer.html.contains(&codes[0]));
    let page = browser.get("/account/two-factor").await;
    assert!(!page.html.contains(&secret_text));
    let answer = browser
        .submit(
            &page
                .form("/account/two-factor/confirm")
                .set("code", &code(&app, &secret, 0)),
        )
        .await;
    let page = follow(&mut browser, &answer).await;
    assert_eq!(status(&page), "Two-step verification is now on.");
    assert!(page.text().contains("Unused backup codes: 10."));
    let state = app.get("/v1/me/2fa", Some(&user.access_token)).await;
    assert_eq!(state.body["enabled"], true, "{}", state.body);
    app.advance(Duration::seconds(STEP_SECONDS));

    // New backup codes, shown once; a backup code turns it off.
    let form = page.form("/account/two-factor/manage");
    let mut regenerate = form.clone().set("code", &code(&app, &secret, 0));
    regenerate.fields.insert("action".into(), "backup-codes".into());
    let answer = browser.submit(&regenerate).await;
    assert_eq!(answer.status, 200, "{}", answer.html);
    let fresh = answer.texts("#backup-codes-list li");
    assert_eq!(fresh.len(), 10);
    assert!(!fresh.contains(&codes[0]));
    let mut disable = answer.form("/account/two-factor/manage").set("code", &codes[0]);
    disable.fields.insert("action".into(), "disable".into());
    let answer = browser.submit(&disable).await;
    assert_eq!(answer.status, 401, "the old codes were replaced");
    disable = disable.set("code", &fresh[0]);
    let answer = browser.submit(&disable).await;
    let page = follow(&mut browser, &answer).await;
    assert_eq!(status(&page), "Two-step verification is now off.");
    let state = app.get("/v1/me/2fa", Some(&user.access_token)).await;
    assert_eq!(state.body["enabled"], false);
}

async fn sessions_are_listed_and_signed_out(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let _admin = app.admin().await;
    let user = app.user(Role::User).await;
    let other = app.user(Role::User).await;
    let mut browser = signed_in(&app, &user).await;
    let page = browser.get("/account/sessions").await;
    let items = page.texts(".item h3");
    assert_eq!(items.len(), 2, "the API login and this browser: {items:?}");
    assert_eq!(items.iter().filter(|h| h.starts_with("This browser")).count(), 1);
    let own = app
        .core
        .browser_session(&browser.session_cookie().unwrap())
        .await
        .unwrap()
        .session_id
        .to_string();
    let listed = app.get("/v1/me/sessions", Some(&user.access_token)).await;
    let api_id = listed
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .find(|id| *id != own)
        .unwrap();
    let theirs = app.get("/v1/me/sessions", Some(&other.access_token)).await;
    let their_id = theirs.body[0]["id"].as_str().unwrap().to_string();

    // Another user's session: not found, and it lives on.
    let mut forged = form_with_id(&page, "/account/sessions/revoke", &api_id);
    forged.fields.insert("id".into(), their_id);
    let answer = browser.submit(&forged).await;
    assert_eq!(answer.status, 404, "{}", answer.html);
    assert_eq!(app.get("/v1/me", Some(&other.access_token)).await.status, 200);
    let answer = browser.submit(&forged.clone().set("id", "not-an-id")).await;
    assert_eq!(answer.status, 422, "{}", answer.html);

    // The API session, signed out from here: its token fails.
    let answer = browser
        .submit(&form_with_id(&page, "/account/sessions/revoke", &api_id))
        .await;
    let page = follow(&mut browser, &answer).await;
    assert_eq!(status(&page), "The session has been signed out.");
    assert_eq!(app.get("/v1/me", Some(&user.access_token)).await.status, 401);

    // All the others.
    let again = app.login(&user.email, &user.password).await;
    let token = again.body["access_token"].as_str().unwrap().to_string();
    let answer = browser.submit(&page.form("/account/sessions/revoke-others")).await;
    let page = follow(&mut browser, &answer).await;
    assert_eq!(status(&page), "Sessions signed out: 1.");
    assert_eq!(app.get("/v1/me", Some(&token)).await.status, 401);

    // Everywhere: this browser too.
    let answer = browser.submit(&page.form("/account/sessions/everywhere")).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.texts("h1"), ["Signed out"]);
    assert!(browser.session_cookie().is_none());
    assert_eq!(browser.get("/account").await.status, 303);

    // This browser's own session, from its list: signed out.
    let mut browser = signed_in(&app, &user).await;
    let value = browser.session_cookie().unwrap();
    let own = app.core.browser_session(&value).await.unwrap().session_id.to_string();
    let page = browser.get("/account/sessions").await;
    let answer = browser
        .submit(&form_with_id(&page, "/account/sessions/revoke", &own))
        .await;
    assert_eq!(answer.texts("h1"), ["Signed out"]);
    assert!(app.core.browser_session(&value).await.is_err());
}

async fn an_api_key_is_shown_once_works_and_is_revoked(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let _admin = app.admin().await;
    let user = app.user(Role::User).await;
    let other = app.user(Role::User).await;
    let theirs = app
        .post(
            "/v1/me/api-keys",
            Some(&other.access_token),
            &serde_json::json!({ "name": "theirs" }),
        )
        .await;
    theirs.assert_status(201);
    let their_secret = theirs.body["key"]
        .as_str()
        .or(theirs.body["secret"].as_str())
        .unwrap()
        .to_string();
    let their_id = theirs.body["id"].as_str().unwrap().to_string();

    let mut browser = signed_in(&app, &user).await;
    let page = browser.get("/account/api-keys").await;
    assert!(page.text().contains("You have no API keys."));
    let answer = browser.submit(&page.form("/account/api-keys").set("name", "")).await;
    assert_eq!(answer.status, 422);
    assert!(
        answer.alerts()[0].starts_with("Name of the new key: "),
        "{:?}",
        answer.alerts()
    );
    let answer = browser
        .submit(&answer.form("/account/api-keys").set("name", "laptop script"))
        .await;
    assert_eq!(answer.status, 201, "{}", answer.html);
    let secret = by_id(&answer, "api-key-secret").unwrap();
    assert!(secret.starts_with("rst_"), "{secret}");
    assert_eq!(app.get("/v1/me", Some(&secret)).await.status, 200, "the key works");
    let page = browser.get("/account/api-keys").await;
    assert!(!page.html.contains(&secret), "shown once only");
    assert_eq!(page.texts(".item h3"), ["laptop script"]);
    let keys = app.get("/v1/me/api-keys", Some(&user.access_token)).await;
    let id = keys.body[0]["id"].as_str().unwrap().to_string();

    // Another user's key cannot be revoked from here.
    let answer = browser
        .submit(&form_with_id(&page, "/account/api-keys/revoke", &id).set("id", &their_id))
        .await;
    assert_eq!(answer.status, 404);
    assert_eq!(app.get("/v1/me", Some(&their_secret)).await.status, 200);

    let answer = browser
        .submit(&form_with_id(&page, "/account/api-keys/revoke", &id))
        .await;
    let page = follow(&mut browser, &answer).await;
    assert_eq!(status(&page), "The key has been revoked.");
    assert_eq!(app.get("/v1/me", Some(&secret)).await.status, 401, "revoked at once");
}

async fn forms_without_the_csrf_token_change_nothing(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let _admin = app.admin().await;
    let user = app.user(Role::User).await;
    let mut browser = signed_in(&app, &user).await;
    let session_id = app
        .core
        .browser_session(&browser.session_cookie().unwrap())
        .await
        .unwrap()
        .session_id
        .to_string();
    let posts: [(&str, String); 12] = [
        ("/account/profile", "name=Evil".into()),
        ("/account/avatar/remove", String::new()),
        (
            "/account/password",
            format!(
                "current_password={}&new_password=evil-password-1&confirm_password=evil-password-1",
                urlencode(&user.password)
            ),
        ),
        ("/account/two-factor/setup", String::new()),
        ("/account/two-factor/confirm", "code=123456".into()),
        ("/account/two-factor/manage", "code=123456&action=disable".into()),
        ("/account/sessions/revoke", format!("id={session_id}")),
        ("/account/sessions/revoke-others", String::new()),
        ("/account/sessions/everywhere", String::new()),
        ("/account/api-keys", "name=evil".into()),
        ("/account/terms", String::new()),
        ("/account/delete", "confirm=DELETE".into()),
    ];
    for (path, body) in &posts {
        for (csrf, headers) in [
            ("", vec![]),
            ("&csrf=wrong", vec![]),
            ("", vec![("sec-fetch-site", "cross-site")]),
        ] {
            let body = format!("{body}{csrf}");
            let answer = browser.post_raw(path, body, &headers).await;
            assert_eq!(answer.status, 403, "{path} {csrf} {headers:?}: {}", answer.html);
            assert_eq!(
                answer.alerts(),
                ["This form has expired. It has been renewed: please submit it again."]
            );
        }
        // The right token, but posted from another site.
        let token = browser.cookies["roster_csrf"].clone();
        let answer = browser
            .post_raw(
                path,
                format!("{body}&csrf={token}"),
                &[("origin", "https://evil.example")],
            )
            .await;
        assert_eq!(answer.status, 403, "{path} cross-origin");
    }
    // Nothing happened.
    assert!(browser.get("/account").await.status == 200, "still signed in");
    let me = app.get("/v1/me", Some(&user.access_token)).await;
    assert_eq!(me.body["name"], format!("Test {}", user.username).as_str());
    assert_eq!(app.login(&user.email, &user.password).await.status, 200);
    let keys = app.get("/v1/me/api-keys", Some(&user.access_token)).await;
    assert_eq!(keys.body.as_array().unwrap().len(), 0);
    let state = app.get("/v1/me/2fa", Some(&user.access_token)).await;
    assert_eq!(state.body["enabled"], false);
    assert_eq!(state.body["pending"], false, "{}", state.body);
    let terms = app
        .core
        .terms_status_of(&app.core.store.get_user(user.id).await.unwrap());
    assert!(!terms.accepted);
}

async fn terms_credits_and_deleting_the_account(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let admin = app.admin().await;
    let user = app.user(Role::User).await;
    let mut browser = signed_in(&app, &user).await;

    let page = browser.get("/account/terms").await;
    assert!(page.text().contains("You have not accepted them."), "{}", page.html);
    let answer = browser.submit(&page.form("/account/terms")).await;
    let page = follow(&mut browser, &answer).await;
    assert!(page.text().contains("You accepted them on"), "{}", page.html);
    let terms = app
        .core
        .terms_status_of(&app.core.store.get_user(user.id).await.unwrap());
    assert!(terms.accepted);
    assert_eq!(page.texts("#terms-history dt").len(), 1);

    let admin_actor = app.core.authenticate_bearer(&admin.access_token).await.unwrap();
    app.core.add_balance(&admin_actor, user.id, 250).await.unwrap();
    app.advance(Duration::seconds(1));
    app.core.add_balance(&admin_actor, user.id, -50).await.unwrap();
    let page = browser.get("/account/credits").await;
    assert!(page.text().contains("Your balance: 200 credits."), "{}", page.html);
    let rows = page.texts("tbody tr");
    assert_eq!(rows.len(), 3, "the start grant and two adjustments: {rows:?}");
    assert!(rows[0].ends_with("Adjustment -50"), "newest first: {rows:?}");
    assert!(rows[1].ends_with("Adjustment +250"), "{rows:?}");
    assert!(rows[2].contains("Start balance"), "{rows:?}");
    assert_eq!(page.texts("caption"), ["History"]);

    // Deleting: the word must be typed; then the account is gone.
    let form = browser.get("/account/delete").await.form("/account/delete");
    let answer = browser.submit(&form.clone().set("confirm", "delete")).await;
    assert_eq!(answer.status, 422);
    assert_eq!(answer.alerts(), ["Type the word exactly as shown."]);
    assert_eq!(app.login(&user.email, &user.password).await.status, 200);
    let answer = browser.submit(&form.set("confirm", "DELETE")).await;
    assert_eq!(answer.status, 200, "{}", answer.html);
    assert_eq!(answer.texts("h1"), ["Account deleted"]);
    assert!(browser.session_cookie().is_none());
    assert_eq!(app.login(&user.email, &user.password).await.status, 401);

    // An administrator may not delete themself: the core's refusal, shown.
    let mut browser = signed_in(&app, &admin).await;
    let form = browser.get("/account/delete").await.form("/account/delete");
    let answer = browser.submit(&form.set("confirm", "DELETE")).await;
    assert_eq!(answer.status, 403, "{}", answer.html);
    assert!(
        answer.alerts()[0].starts_with("This is not allowed: "),
        "{:?}",
        answer.alerts()
    );
    assert_eq!(app.login(&admin.email, &admin.password).await.status, 200);
    let _ = app.clock.now();
}

/// The email change: a link to the NEW address, a notice to the old one, nothing changed
/// until the link's page is confirmed; then the new address, verified; the link spent.
async fn the_email_changes_once_the_new_address_confirms(backend: Backend) {
    let smtp = SmtpSink::start().await;
    let url = smtp.url.clone();
    let app = roster_testkit::or_skip!(spawn_app_with(backend, move |c| c.smtp_url = Some(url)).await);
    let _admin = app.admin().await;
    let user = app.user(Role::User).await;
    let other = app.user(Role::User).await;
    let mut browser = signed_in(&app, &user).await;
    let page = browser.get("/account/email").await;
    assert!(page.text().contains(&user.email));
    let form = page.form("/account/email");
    assert_eq!(form.labels["new_email"], "New email address");

    // The rules: the current password, a valid and free address.
    let answer = browser
        .submit(
            &form
                .clone()
                .set("new_email", "new@example.org")
                .set("current_password", "wrong"),
        )
        .await;
    assert_eq!(answer.status, 422);
    assert_eq!(answer.alerts(), ["The current password is not correct."]);
    let answer = browser
        .submit(
            &form
                .clone()
                .set("new_email", "not an address")
                .set("current_password", &user.password),
        )
        .await;
    assert_eq!(answer.status, 422);
    assert!(
        answer.alerts()[0].starts_with("New email address: "),
        "{:?}",
        answer.alerts()
    );
    let answer = browser
        .submit(
            &form
                .clone()
                .set("new_email", &other.email)
                .set("current_password", &user.password),
        )
        .await;
    assert_eq!(answer.status, 409);

    let answer = browser
        .submit(
            &form
                .set("new_email", "New@Example.org")
                .set("current_password", &user.password),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.html);
    assert!(
        status(&answer).contains("A link was sent to new@example.org"),
        "{}",
        status(&answer)
    );
    assert!(
        answer
            .text()
            .contains("A link to confirm new@example.org was sent there.")
    );
    let mail = smtp.wait_for(2).await;
    let to_new = mail
        .iter()
        .find(|m| m.to.iter().any(|t| t.contains("new@example.org")))
        .unwrap();
    let to_old = mail
        .iter()
        .find(|m| m.to.iter().any(|t| t.contains(&user.email)))
        .unwrap();
    assert!(to_old.decoded().contains("new@example.org"));
    assert!(to_old.link(&app.address).is_none(), "the old address gets no link");
    let link = to_new
        .link(&format!("{}/account/email/confirm?token=", app.address))
        .unwrap();
    let path = link.strip_prefix(&app.address).unwrap().to_string();
    // Nothing changed yet.
    let me = app.get("/v1/me", Some(&user.access_token)).await;
    assert_eq!(me.body["email"], user.email.as_str());
    let pending = app.get("/v1/me/email", Some(&user.access_token)).await;
    pending.assert_status(200);
    assert_eq!(pending.body["pending_email"], "new@example.org");

    // The link's page, in another browser without a session: opening it changes nothing,
    // its button does (with the form's CSRF token).
    let mut elsewhere = Browser::new(&app);
    let page = elsewhere.get(&path).await;
    assert_eq!(page.status, 200);
    assert_eq!(
        app.get("/v1/me", Some(&user.access_token)).await.body["email"],
        user.email.as_str()
    );
    let mut forged = page.form("/account/email/confirm");
    forged.fields.remove("csrf");
    let refused = elsewhere.submit(&forged).await;
    assert_eq!(refused.status, 403);
    // The refusal renewed the token: the form it shows goes through.
    let answer = elsewhere.submit(&refused.form("/account/email/confirm")).await;
    assert_eq!(answer.status, 200, "{}", answer.html);
    assert!(answer.text().contains("Your email address is now new@example.org."));
    let me = app.get("/v1/me", Some(&user.access_token)).await;
    assert_eq!(me.body["email"], "new@example.org");
    assert_eq!(me.body["email_verified"], true, "{}", me.body);
    assert_eq!(app.login("new@example.org", &user.password).await.status, 200);
    // Spent.
    let again = elsewhere.get(&path).await.form("/account/email/confirm");
    let answer = elsewhere.submit(&again).await;
    assert_eq!(answer.status, 422);
    assert_eq!(app.get("/v1/me/email", Some(&user.access_token)).await.status, 404);
    let audit = app
        .core
        .store
        .list_audit(&roster_core::journal::AuditQuery {
            target: Some(user.id),
            limit: 50,
            ..Default::default()
        })
        .await
        .unwrap();
    let actions: Vec<_> = audit.iter().map(|e| e.action.as_str()).collect();
    assert!(actions.contains(&"user.email_change_request"), "{actions:?}");
    assert!(actions.contains(&"user.email_change_confirm"), "{actions:?}");
}

/// The same through the native API: an API key may not ask (a session is needed), a change
/// can be cancelled, an expired link is refused.
async fn the_email_change_through_the_api(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let _admin = app.admin().await;
    let user = app.user(Role::User).await;
    let t = Some(user.access_token.as_str());
    let key = app
        .post("/v1/me/api-keys", t, &serde_json::json!({ "name": "k" }))
        .await;
    let key = key.body["key"]
        .as_str()
        .or(key.body["secret"].as_str())
        .unwrap()
        .to_string();
    let body = serde_json::json!({ "new_email": "api-new@example.org", "current_password": user.password });
    app.post("/v1/me/email", Some(&key), &body).await.assert_status(403);
    app.post(
        "/v1/me/email",
        t,
        &serde_json::json!({ "new_email": "x@example.org", "current_password": "no" }),
    )
    .await
    .assert_status(422);
    let asked = app.post("/v1/me/email", t, &body).await;
    asked.assert_status(202);
    assert_eq!(asked.body["pending_email"], "api-new@example.org");
    assert_eq!(app.delete("/v1/me/email", t).await.status, 204);
    assert_eq!(app.get("/v1/me/email", t).await.status, 404);
    assert_eq!(app.delete("/v1/me/email", t).await.status, 404);
    // An unknown or expired link.
    let confirm = |token: &str| serde_json::json!({ "token": token });
    app.post("/v1/auth/email-change/confirm", None, &confirm("nope"))
        .await
        .assert_status(422);
    app.post("/v1/me/email", t, &body).await.assert_status(202);
    app.advance(roster_core::service::EMAIL_CHANGE_TTL + Duration::seconds(1));
    let login = app.login(&user.email, &user.password).await;
    let t = login.body["access_token"].as_str();
    assert_eq!(app.get("/v1/me/email", t).await.status, 404, "expired");
    let me = app.get("/v1/me", t).await;
    assert_eq!(me.body["email"], user.email.as_str());
}

/// The link of `page`'s history pager whose text is `text`.
fn pager_link(page: &Page, text: &str) -> Option<String> {
    page.doc()
        .select(&Selector::parse("nav.pager a").unwrap())
        .find(|a| a.text().collect::<String>() == text)
        .and_then(|a| a.attr("href"))
        .map(str::to_string)
}

async fn the_credits_history_is_walked_to_the_oldest_transaction(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let _admin = app.admin().await;
    let user = app.user(Role::User).await;
    let mut browser = signed_in(&app, &user).await;
    // The start grant first (the page makes it), then 119 adjustments, most of them at one
    // instant, so that page boundaries fall inside a run of equal times.
    assert_eq!(browser.get("/account/credits").await.status, 200);
    for amount in 1..=119_i64 {
        if amount % 40 == 0 {
            app.advance(Duration::seconds(1));
        }
        app.core
            .add_balance(app.core.operator(), user.id, amount)
            .await
            .unwrap();
    }

    let mut href = "/account/credits".to_string();
    let mut seen: Vec<String> = Vec::new();
    let mut pages = 0;
    loop {
        let page = browser.get(&href).await;
        assert_eq!(page.status, 200, "{href}: {}", page.html);
        pages += 1;
        let rows = page.texts("#credits-history tbody tr");
        assert!(!rows.is_empty() && rows.len() <= 50, "{href}: {rows:?}");
        assert_eq!(
            pager_link(&page, "Newest transactions").is_some(),
            pages > 1,
            "{href}: a link back to the newest page on every page but the first"
        );
        seen.extend(rows);
        match pager_link(&page, "Older transactions") {
            Some(older) => {
                assert!(older.starts_with("/account/credits?ledger="), "{older}");
                href = older;
            }
            None => break,
        }
    }
    assert_eq!(pages, 3, "120 transactions, 50 a page");
    assert_eq!(seen.len(), 120, "every transaction once: {seen:?}");
    let amounts: Vec<String> = seen
        .iter()
        .map(|row| row.rsplit(' ').next().unwrap().to_string())
        .collect();
    let adjustments: Vec<String> = (1..=119).rev().map(|n| format!("+{n}")).collect();
    assert_eq!(amounts[..119], adjustments[..], "newest first, none twice or left out");
    assert!(
        seen[119].contains("Start balance"),
        "the oldest is the start grant: {}",
        seen[119]
    );

    // A page that is not one: the field's error over the newest page, never a failure.
    let bad = browser.get("/account/credits?ledger=yesterday").await;
    assert_eq!(bad.status, 422, "{}", bad.html);
    assert!(bad.alerts().iter().any(|a| a.contains("ledger")), "{:?}", bad.alerts());
    assert_eq!(bad.texts("#credits-history tbody tr").len(), 50);
}

backend_tests!(
    the_email_changes_once_the_new_address_confirms,
    the_email_change_through_the_api,
    every_account_page_needs_a_session_and_is_well_formed,
    the_profile_form_changes_the_profile,
    a_picture_is_uploaded_and_removed,
    the_password_changes_with_the_current_one,
    two_step_verification_is_enrolled_from_the_qr_code_page,
    sessions_are_listed_and_signed_out,
    an_api_key_is_shown_once_works_and_is_revoked,
    forms_without_the_csrf_token_change_nothing,
    terms_credits_and_deleting_the_account,
    the_credits_history_is_walked_to_the_oldest_transaction,
);
