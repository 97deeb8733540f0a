//! The Plexichat dialect: every request example of the seed's Users API sent to
//! `/plexichat`, each documented error row, the public object without private fields, and
//! the native routes behind it (badges, blocks, friends, messaging limits, last messages).

use reqwest::Method;
use roster_core::service::AdminUserChanges;
use roster_core::{Role, UserId};
use roster_http::HttpConfig;
use roster_testkit::app::{TestApp, TestResponse, TestUser, spawn_app_with, spawn_app_with_http};
use roster_testkit::smtp::SmtpSink;
use roster_testkit::{Backend, backend_tests, spawn_app};
use serde_json::{Value, json};

const P: &str = "/plexichat";

async fn px(app: &TestApp, method: Method, path: &str, token: Option<&str>, body: Option<&Value>) -> TestResponse {
    app.request(method, &format!("{P}{path}"), token, body).await
}

async fn get(app: &TestApp, path: &str, user: &TestUser) -> TestResponse {
    px(app, Method::GET, path, Some(&user.access_token), None).await
}

/// Plexichat's error body: `{"error": {"code": <status>, "message": ...}}`.
#[track_caller]
fn assert_error(r: &TestResponse, status: u16, message: &str) {
    r.assert_status(status);
    assert_eq!(r.body["error"]["code"], status, "body: {}", r.text);
    assert_eq!(r.body["error"]["message"], message, "body: {}", r.text);
}

fn keys(v: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    keys
}

const PRIVATE_KEYS: [&str; 9] = [
    "age_verified",
    "avatar_url",
    "badges",
    "created_at",
    "email",
    "email_verified",
    "id",
    "totp_enabled",
    "username",
];
const PUBLIC_KEYS: [&str; 5] = ["avatar_url", "badges", "created_at", "id", "username"];

/// The public object: exactly the public fields, and nothing private anywhere in the text.
#[track_caller]
fn assert_public(r: &TestResponse, user: &TestUser) {
    r.assert_status(200);
    assert_eq!(keys(&r.body), PUBLIC_KEYS, "{}", r.text);
    assert_eq!(r.body["id"], user.id_str());
    assert!(!r.text.contains(&user.email), "email leaked: {}", r.text);
    for private in ["email", "email_verified", "totp_enabled", "age_verified", "password"] {
        assert!(
            !r.text.contains(&format!("\"{private}\"")),
            "{private} leaked: {}",
            r.text
        );
    }
}

async fn me_search_and_public_profiles(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let admin = app.admin().await;
    let jane = app.user(Role::User).await;
    // The seed's curl example: GET /users/@me with a bearer session token.
    let me = get(&app, "/users/@me", &jane).await;
    me.assert_status(200);
    assert_eq!(keys(&me.body), PRIVATE_KEYS, "{}", me.text);
    assert_eq!(me.body["id"], jane.id_str());
    assert!(me.body["id"].as_str().unwrap().parse::<i64>().is_ok());
    assert_eq!(me.body["username"], jane.username);
    assert_eq!(me.body["email"], jane.email);
    assert_eq!(me.body["avatar_url"], Value::Null);
    assert_eq!(me.body["email_verified"], false);
    assert_eq!(me.body["totp_enabled"], false);
    assert_eq!(me.body["age_verified"], false);
    assert_eq!(me.body["badges"], json!([]));
    // created_at is Unix seconds; the id is a snowflake of the 2024-01-01 epoch.
    let created = me.body["created_at"].as_i64().unwrap();
    let now = roster_core::time::OffsetDateTime::now_utc().unix_timestamp();
    assert!((now - created).abs() < 60, "{created} vs {now}");
    // The snowflake's instant and created_at are taken moments apart, so they may
    // fall either side of a second boundary.
    let minted = roster_core::id::timestamp_of(jane.id.0).unix_timestamp();
    assert!((minted - created).abs() <= 1, "{minted} vs {created}");
    // The same user natively.
    let native = app.get("/v1/me", Some(&jane.access_token)).await;
    assert_eq!(native.body["id"], me.body["id"]);
    // totp_enabled is the user's real two-factor state.
    super::two_factor::enable(&app, &jane).await;
    let me_2fa = get(&app, "/users/@me", &jane).await;
    assert_eq!(me_2fa.body["totp_enabled"], true, "{}", me_2fa.text);
    // Badges given by an administrator show in both objects.
    app.request(
        Method::PUT,
        &format!("/v1/users/{}/badges/early_supporter", jane.id),
        Some(&admin.access_token),
        None,
    )
    .await
    .assert_status(200);
    assert_eq!(
        get(&app, "/users/@me", &jane).await.body["badges"],
        json!(["early_supporter"])
    );

    // GET /users/{user_id}: the public object, for anyone signed in.
    let public = get(&app, &format!("/users/{}", jane.id), &admin).await;
    assert_public(&public, &jane);
    assert_eq!(public.body["username"], jane.username);
    assert_eq!(public.body["created_at"], created);
    assert_eq!(public.body["badges"], json!(["early_supporter"]));
    assert_error(&get(&app, "/users/abc", &admin).await, 400, "Invalid user ID");
    assert_error(&get(&app, "/users/12ab", &admin).await, 400, "Invalid user ID");
    assert_error(
        &get(&app, "/users/99999999999999999999", &admin).await,
        400,
        "Invalid user ID",
    );
    assert_error(
        &get(&app, "/users/123456789012345678", &admin).await,
        404,
        "User not found",
    );

    // GET /users/search?username=: the seed's example, exact and case-insensitive.
    let found = get(
        &app,
        &format!("/users/search?username={}", jane.username.to_uppercase()),
        &admin,
    )
    .await;
    assert_public(&found, &jane);
    assert_error(&get(&app, "/users/search", &admin).await, 400, "Username required");
    assert_error(
        &get(&app, "/users/search?username=", &admin).await,
        400,
        "Username required",
    );
    assert_error(
        &get(&app, "/users/search?username=johndoe", &admin).await,
        404,
        "User not found",
    );
    // Only whole usernames, never an email.
    let partial = &jane.username[..jane.username.len() - 1];
    assert_error(
        &get(&app, &format!("/users/search?username={partial}"), &admin).await,
        404,
        "User not found",
    );
    assert_error(
        &get(&app, &format!("/users/search?username={}", jane.email), &admin).await,
        404,
        "User not found",
    );
    // A banned account's token is refused.
    app.core
        .ban_user(
            app.core.operator(),
            jane.id,
            roster_core::time::Duration::hours(1),
            None,
        )
        .await
        .unwrap();
    assert_error(&get(&app, "/users/@me", &jane).await, 403, "Forbidden");
    // A deactivated account is not found.
    app.set_user(
        jane.id,
        AdminUserChanges {
            active: Some(false),
            ..Default::default()
        },
    )
    .await;
    assert_error(
        &get(&app, &format!("/users/{}", jane.id), &admin).await,
        404,
        "User not found",
    );

    // Every route needs a bearer token.
    for (method, path) in [
        (Method::GET, "/users/@me"),
        (Method::PATCH, "/users/@me"),
        (Method::GET, "/users/@me/messaging-settings"),
        (Method::GET, "/users/@me/notes"),
        (Method::GET, "/users/@me/channels"),
        (Method::GET, "/users/search?username=x"),
        (Method::GET, "/users/1"),
    ] {
        let r = px(&app, method, path, None, Some(&json!({}))).await;
        assert_error(&r, 401, "Unauthorized");
    }
    let r = px(&app, Method::GET, "/users/@me", Some("not-a-token"), None).await;
    assert_error(&r, 401, "Unauthorized");
    // A deactivated account's token stops working.
    assert_error(&get(&app, "/users/@me", &jane).await, 401, "Unauthorized");
    assert_error(&get(&app, "/nowhere", &admin).await, 404, "Not found");
}

async fn update_me(backend: Backend) {
    let smtp = SmtpSink::start().await;
    let url = smtp.url.clone();
    let app = roster_testkit::or_skip!(spawn_app_with(backend, move |c| c.smtp_url = Some(url)).await);
    let _admin = app.admin().await;
    let john = app.user(Role::User).await;
    let other = app.user(Role::User).await;
    let patch = |user: &TestUser, body: Value| {
        let token = user.access_token.clone();
        let app = &app;
        async move { px(app, Method::PATCH, "/users/@me", Some(&token), Some(&body)).await }
    };
    // The seed's example request.
    let r = patch(&john, json!({ "username": "newusername" })).await;
    r.assert_status(200);
    assert_eq!(keys(&r.body), PRIVATE_KEYS);
    assert_eq!(r.body["username"], "newusername");
    assert_eq!(get(&app, "/users/@me", &john).await.body["username"], "newusername");
    // 400 Invalid input: username 3-32, a valid email, unknown fields, wrong types.
    for (body, field) in [
        (json!({ "username": "ab" }), "username"),
        (json!({ "username": "a".repeat(33) }), "username"),
        (json!({ "username": "no spaces" }), "username"),
        (json!({ "email": "not-an-email" }), "email"),
        (json!({ "username": 5 }), "username"),
        (json!({ "nickname": "x" }), "nickname"),
    ] {
        let r = patch(&john, body.clone()).await;
        assert_error(&r, 400, "Invalid input");
        assert_eq!(r.body["error"]["field"], field, "{body}: {}", r.text);
    }
    // 409 Already exists: a username (any case) or an email someone has.
    assert_error(
        &patch(&john, json!({ "username": other.username.to_uppercase() })).await,
        409,
        "Already exists",
    );
    assert_error(
        &patch(&john, json!({ "email": other.email })).await,
        409,
        "Already exists",
    );
    // Passwords: current_password is required, then the rules, then it must be right.
    assert_error(
        &patch(&john, json!({ "password": "a brand new secret" })).await,
        400,
        "Missing current_password",
    );
    assert_error(
        &patch(&john, json!({ "password": "short", "current_password": john.password })).await,
        400,
        "Weak password",
    );
    assert_error(
        &patch(
            &john,
            json!({ "password": "a brand new secret", "current_password": "wrong one" }),
        )
        .await,
        403,
        "Incorrect current password",
    );
    // Nothing of a refused change was written.
    let me = get(&app, "/users/@me", &john).await;
    assert_eq!(me.body["username"], "newusername");
    assert_eq!(me.body["email"], john.email);
    // A password change ends the other sessions, not this one.
    let second = app.login(&john.email, &john.password).await;
    let second_token = second.body["access_token"].as_str().unwrap().to_string();
    let r = patch(
        &john,
        json!({ "password": "a brand new secret", "current_password": john.password }),
    )
    .await;
    r.assert_status(200);
    assert_error(
        &px(&app, Method::GET, "/users/@me", Some(&second_token), None).await,
        401,
        "Unauthorized",
    );
    get(&app, "/users/@me", &john).await.assert_status(200);
    app.login(&john.email, &john.password).await.assert_status(401);
    app.login(&john.email, "a brand new secret").await.assert_status(200);
    // A new email is unverified and gets a verification mail whose link verifies it.
    let r = patch(&john, json!({ "email": "John.New@Example.org" })).await;
    r.assert_status(200);
    assert_eq!(r.body["email"], "john.new@example.org");
    assert_eq!(r.body["email_verified"], false);
    let mail = smtp.wait_for(1).await;
    assert_eq!(mail[0].to, vec!["john.new@example.org".to_string()]);
    let link = mail[0]
        .link(&format!("{}{P}/auth/verify-email?token=", app.address))
        .expect("a verification link");
    let verified = app.client.get(&link).send().await.unwrap();
    assert_eq!(verified.status(), 200);
    assert_eq!(get(&app, "/users/@me", &john).await.body["email_verified"], true);
    let again = TestApp::read(app.client.get(&link).send().await.unwrap()).await;
    assert_error(&again, 400, "Invalid or expired verification token");
    // The same email again changes nothing and sends nothing.
    patch(&john, json!({ "email": "john.new@example.org" }))
        .await
        .assert_status(200);
    assert_eq!(get(&app, "/users/@me", &john).await.body["email_verified"], true);
    assert_eq!(smtp.messages().len(), 1);
    // Not JSON at all.
    let r = TestApp::read(
        app.client
            .patch(format!("{}{P}/users/@me", app.address))
            .bearer_auth(&john.access_token)
            .header("content-type", "application/json")
            .body("{")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_error(&r, 400, "Invalid input");
}

async fn messaging_settings(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let admin = app.admin().await;
    let user = app.user(Role::User).await;
    let r = get(&app, "/users/@me/messaging-settings", &user).await;
    r.assert_status(200);
    assert_eq!(
        r.body,
        json!({
            "user_id": user.id_str(),
            "read_receipts_enabled": true,
            "typing_indicators_enabled": true,
            "compact_messages_enabled": true,
            "allow_dms_from": "everyone",
            "auto_create_dms": true,
            "max_message_length": null,
            "max_attachment_size": null,
            "max_attachments_per_message": null
        })
    );
    // The seed's example request.
    let r = px(
        &app,
        Method::PATCH,
        "/users/@me/messaging-settings",
        Some(&user.access_token),
        Some(&json!({ "read_receipts_enabled": false, "allow_dms_from": "friends" })),
    )
    .await;
    r.assert_status(200);
    assert_eq!(r.body["read_receipts_enabled"], false);
    assert_eq!(r.body["allow_dms_from"], "friends");
    assert_eq!(r.body["typing_indicators_enabled"], true);
    assert_eq!(get(&app, "/users/@me/messaging-settings", &user).await.body, r.body);
    let patch = |body: Value| {
        let app = &app;
        let token = user.access_token.clone();
        async move {
            px(
                app,
                Method::PATCH,
                "/users/@me/messaging-settings",
                Some(&token),
                Some(&body),
            )
            .await
        }
    };
    let r = patch(json!({ "allow_dms_from": "all" })).await;
    assert_error(&r, 400, "Invalid input");
    assert_eq!(r.body["error"]["field"], "allow_dms_from");
    assert_error(&patch(json!({ "auto_create_dms": "yes" })).await, 400, "Invalid input");
    // The limits are the administrators' to set.
    assert_error(
        &patch(json!({ "max_message_length": 10 })).await,
        403,
        "Messaging limits are set by administrators",
    );
    let limits = app
        .patch(
            &format!("/v1/users/{}/messaging-settings", user.id),
            Some(&admin.access_token),
            &json!({ "max_message_length": 2000, "max_attachments_per_message": 4 }),
        )
        .await;
    limits.assert_status(200);
    let r = get(&app, "/users/@me/messaging-settings", &user).await;
    assert_eq!(r.body["max_message_length"], 2000);
    assert_eq!(r.body["max_attachments_per_message"], 4);
    assert_eq!(r.body["max_attachment_size"], Value::Null);
    assert_eq!(r.body["read_receipts_enabled"], false);
    // Natively: the user reads their own, not others'; limits stay the administrators'.
    app.get(
        &format!("/v1/users/{}/messaging-settings", admin.id),
        Some(&user.access_token),
    )
    .await
    .assert_problem(403, "forbidden");
    app.patch(
        &format!("/v1/users/{}/messaging-settings", user.id),
        Some(&user.access_token),
        &json!({ "max_message_length": null }),
    )
    .await
    .assert_problem(403, "forbidden");
    app.patch(
        &format!("/v1/users/{}/messaging-settings", user.id),
        Some(&admin.access_token),
        &json!({ "max_message_length": -1 }),
    )
    .await
    .assert_problem(422, "invalid_field");
    let cleared = app
        .patch(
            &format!("/v1/users/{}/messaging-settings", user.id),
            Some(&admin.access_token),
            &json!({ "max_message_length": null }),
        )
        .await;
    cleared.assert_status(200);
    assert_eq!(cleared.body["max_message_length"], Value::Null);
    assert_eq!(cleared.body["max_attachments_per_message"], 4);
}

fn still_image(format: image::ImageFormat, w: u32, h: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(w, h, |x, y| image::Rgb([(x % 256) as u8, (y % 256) as u8, 99]));
    let mut out = std::io::Cursor::new(Vec::new());
    image::DynamicImage::ImageRgb8(img).write_to(&mut out, format).unwrap();
    out.into_inner()
}

fn frames(w: u32, h: u32, n: u8) -> Vec<image::RgbaImage> {
    (0..n)
        .map(|i| image::RgbaImage::from_fn(w, h, |x, _| image::Rgba([i * 80, (x % 256) as u8, 40, 255])))
        .collect()
}

fn animated_gif(w: u32, h: u32, n: u8) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut encoder = image::codecs::gif::GifEncoder::new_with_speed(&mut out, 30);
        encoder.set_repeat(image::codecs::gif::Repeat::Infinite).unwrap();
        for frame in frames(w, h, n) {
            encoder
                .encode_frame(image::Frame::from_parts(
                    frame,
                    0,
                    0,
                    image::Delay::from_numer_denom_ms(100, 1),
                ))
                .unwrap();
        }
    }
    out
}

fn push_chunk(out: &mut Vec<u8>, tag: &[u8], data: &[u8]) {
    out.extend_from_slice(tag);
    out.extend_from_slice(&u32::try_from(data.len()).unwrap().to_le_bytes());
    out.extend_from_slice(data);
    if data.len() % 2 == 1 {
        out.push(0);
    }
}

/// An animated WebP (the image library encodes only still ones): lossless still frames
/// wrapped in the extended format's `VP8X`, `ANIM` and `ANMF` chunks.
fn animated_webp(w: u32, h: u32, n: u8) -> Vec<u8> {
    let mut chunks = Vec::new();
    let mut vp8x = vec![0x02 | 0x10, 0, 0, 0];
    vp8x.extend_from_slice(&(w - 1).to_le_bytes()[..3]);
    vp8x.extend_from_slice(&(h - 1).to_le_bytes()[..3]);
    push_chunk(&mut chunks, b"VP8X", &vp8x);
    push_chunk(&mut chunks, b"ANIM", &[0, 0, 0, 0, 0, 0]);
    for frame in frames(w, h, n) {
        let mut still = std::io::Cursor::new(Vec::new());
        image::DynamicImage::ImageRgba8(frame)
            .write_to(&mut still, image::ImageFormat::WebP)
            .unwrap();
        let still = still.into_inner();
        let mut anmf = vec![0, 0, 0, 0, 0, 0];
        anmf.extend_from_slice(&(w - 1).to_le_bytes()[..3]);
        anmf.extend_from_slice(&(h - 1).to_le_bytes()[..3]);
        anmf.extend_from_slice(&100u32.to_le_bytes()[..3]);
        anmf.push(0b10);
        anmf.extend_from_slice(&still[12..]);
        push_chunk(&mut chunks, b"ANMF", &anmf);
    }
    let mut out = b"RIFF".to_vec();
    out.extend_from_slice(&u32::try_from(4 + chunks.len()).unwrap().to_le_bytes());
    out.extend_from_slice(b"WEBP");
    out.extend_from_slice(&chunks);
    out
}

async fn upload(app: &TestApp, token: Option<&str>, bytes: Vec<u8>, field: &str) -> TestResponse {
    let part = reqwest::multipart::Part::bytes(bytes).file_name("avatar.png");
    let form = reqwest::multipart::Form::new().part(field.to_string(), part);
    let mut request = app
        .client
        .post(format!("{}{P}/users/@me/avatar", app.address))
        .multipart(form);
    if let Some(t) = token {
        request = request.bearer_auth(t);
    }
    TestApp::read(request.send().await.unwrap()).await
}

/// Fetches an avatar URL: its content type and bytes.
async fn fetch(app: &TestApp, url: &str) -> (String, Vec<u8>) {
    assert!(url.starts_with(&format!("{}{P}/avatars/users/", app.address)), "{url}");
    let got = app.client.get(url).send().await.unwrap();
    assert_eq!(got.status(), 200);
    let content_type = got.headers()["content-type"].to_str().unwrap().to_string();
    (content_type, got.bytes().await.unwrap().to_vec())
}

fn gif_frames(bytes: &[u8]) -> Vec<image::Frame> {
    use image::AnimationDecoder;
    image::codecs::gif::GifDecoder::new(std::io::Cursor::new(bytes))
        .unwrap()
        .into_frames()
        .collect_frames()
        .unwrap()
}

async fn avatars(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app_with(backend, |c| c.avatar_max_bytes = 300_000).await);
    let user = app.admin().await;
    let t = Some(user.access_token.as_str());
    // The seed's example: a PNG, resized to 256x256.
    let r = upload(&app, t, still_image(image::ImageFormat::Png, 400, 300), "file").await;
    r.assert_status(200);
    assert_eq!(
        keys(&r.body),
        ["animated", "avatar_url", "height", "size", "success", "width"]
    );
    assert_eq!(r.body["success"], true);
    assert_eq!(
        (r.body["width"].as_u64(), r.body["height"].as_u64()),
        (Some(256), Some(256))
    );
    assert_eq!(r.body["animated"], false);
    let url = r.body["avatar_url"].as_str().unwrap().to_string();
    let (content_type, bytes) = fetch(&app, &url).await;
    assert_eq!(content_type, "image/png");
    assert_eq!(r.body["size"].as_u64(), Some(bytes.len() as u64));
    let decoded = image::load_from_memory(&bytes).unwrap();
    assert_eq!((decoded.width(), decoded.height()), (256, 256));
    assert_eq!(get(&app, "/users/@me", &user).await.body["avatar_url"], url);
    // JPEG and a still WebP too.
    for format in [image::ImageFormat::Jpeg, image::ImageFormat::WebP] {
        let r = upload(&app, t, still_image(format, 300, 300), "file").await;
        r.assert_status(200);
        assert_eq!(r.body["animated"], false);
    }
    // An animated GIF keeps its animation, every frame resized.
    let r = upload(&app, t, animated_gif(300, 280, 3), "file").await;
    r.assert_status(200);
    assert_eq!(r.body["animated"], true);
    assert_eq!(r.body["width"], 256);
    let (content_type, bytes) = fetch(&app, r.body["avatar_url"].as_str().unwrap()).await;
    assert_eq!(content_type, "image/gif");
    assert_eq!(r.body["size"].as_u64(), Some(bytes.len() as u64));
    let frames = gif_frames(&bytes);
    assert_eq!(frames.len(), 3);
    assert!(frames.iter().all(|f| f.buffer().dimensions() == (256, 256)));
    // An animated WebP keeps its animation too, as an animated GIF.
    let r = upload(&app, t, animated_webp(64, 48, 2), "file").await;
    r.assert_status(200);
    assert_eq!(r.body["animated"], true);
    assert_eq!(
        (r.body["width"].as_u64(), r.body["height"].as_u64()),
        (Some(48), Some(48))
    );
    let (content_type, bytes) = fetch(&app, r.body["avatar_url"].as_str().unwrap()).await;
    assert_eq!(content_type, "image/gif");
    assert_eq!(gif_frames(&bytes).len(), 2);
    // A GIF of one frame is a still image.
    let r = upload(&app, t, animated_gif(40, 40, 1), "file").await;
    r.assert_status(200);
    assert_eq!(r.body["animated"], false);
    // Only one file is kept per user.
    assert_eq!(std::fs::read_dir(app.files.path().join("avatars")).unwrap().count(), 1);
    // 400 Invalid file type: checked by content, not by name; no file.
    assert_error(
        &upload(&app, t, b"definitely not an image".to_vec(), "file").await,
        400,
        "Invalid file type",
    );
    assert_error(
        &upload(&app, t, b"GIF89a\x10\x00\x10\x00 not really".to_vec(), "file").await,
        400,
        "Invalid file type",
    );
    // A header claiming more than 8192 pixels a side is too large.
    assert_error(
        &upload(&app, t, b"GIF89a\xff\x7f\x10\x00 not really".to_vec(), "file").await,
        400,
        "File too large",
    );
    assert_error(
        &upload(&app, t, still_image(image::ImageFormat::Png, 10, 10), "picture").await,
        400,
        "Invalid file type",
    );
    // 400 File too large: beyond the limit.
    let noise: Vec<u8> = (0..400_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    assert_error(&upload(&app, t, noise, "file").await, 400, "File too large");
    assert_error(
        &upload(&app, None, still_image(image::ImageFormat::Png, 10, 10), "file").await,
        401,
        "Unauthorized",
    );
    let missing = app
        .client
        .get(format!("{}{P}/avatars/users/..%2Fsecret.png", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
}

async fn notes_and_direct_messages(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let admin = app.admin().await;
    let john = app.user(Role::User).await;
    let jane = app.user(Role::User).await;
    // GET /users/@me/notes: created once, the same channel after.
    let notes = get(&app, "/users/@me/notes", &john).await;
    notes.assert_status(200);
    assert_eq!(
        keys(&notes.body),
        ["id", "last_message_at", "last_message_id", "name", "type"]
    );
    assert_eq!(notes.body["type"], "notes");
    assert_eq!(notes.body["name"], "Personal Notes");
    assert_eq!(notes.body["last_message_id"], Value::Null);
    assert!(notes.body["id"].as_str().unwrap().parse::<i64>().is_ok());
    assert_eq!(get(&app, "/users/@me/notes", &john).await.body, notes.body);
    assert_ne!(get(&app, "/users/@me/notes", &jane).await.body["id"], notes.body["id"]);

    // POST /users/@me/channels: the seed's example request.
    let open = |user: &TestUser, body: Value| {
        let token = user.access_token.clone();
        let app = &app;
        async move { px(app, Method::POST, "/users/@me/channels", Some(&token), Some(&body)).await }
    };
    let dm = open(&john, json!({ "recipient_id": jane.id_str() })).await;
    dm.assert_status(200);
    assert_eq!(dm.body["type"], "dm");
    assert_eq!(dm.body["recipient_id"], jane.id_str());
    assert_eq!(
        dm.body["recipient"],
        json!({ "id": jane.id_str(), "username": jane.username })
    );
    assert_eq!(dm.body["last_message_id"], Value::Null);
    let channel_id = dm.body["id"].as_str().unwrap().to_string();
    // A second create returns the same channel, from either side, with an integer id too.
    let again = open(&john, json!({ "recipient_id": jane.id.0 })).await;
    assert_eq!(again.body["id"], channel_id.as_str());
    let from_jane = open(&jane, json!({ "recipient_id": john.id_str() })).await;
    assert_eq!(from_jane.body["id"], channel_id.as_str());
    assert_eq!(from_jane.body["recipient"]["username"], john.username);
    // GET /users/@me/channels lists them.
    let list = get(&app, "/users/@me/channels", &john).await;
    list.assert_status(200);
    assert_eq!(list.body.as_array().unwrap().len(), 1);
    assert_eq!(list.body[0]["id"], channel_id.as_str());
    assert_eq!(list.body[0]["recipient_id"], jane.id_str());
    assert_eq!(get(&app, "/users/@me/channels", &admin).await.body, json!([]));
    // The messaging service records the last message natively; the channel shows it.
    let message_id = "345678901234567890";
    let recorded = app
        .request(
            Method::PUT,
            &format!("/v1/channels/{channel_id}/last-message"),
            Some(&jane.access_token),
            Some(&json!({ "message_id": message_id })),
        )
        .await;
    recorded.assert_status(200);
    assert_eq!(recorded.body["last_message_id"], message_id);
    let list = get(&app, "/users/@me/channels", &john).await;
    assert_eq!(list.body[0]["last_message_id"], message_id);
    let expected_at = roster_core::id::timestamp_of(345_678_901_234_567_890).unix_timestamp();
    assert_eq!(list.body[0]["last_message_at"], expected_at);
    // Not a member: not found; an administrator (the service) may.
    let outsider = app.user(Role::User).await;
    app.request(
        Method::PUT,
        &format!("/v1/channels/{channel_id}/last-message"),
        Some(&outsider.access_token),
        Some(&json!({ "message_id": "1" })),
    )
    .await
    .assert_problem(404, "not_found");
    app.request(
        Method::PUT,
        &format!("/v1/channels/{channel_id}/last-message"),
        Some(&admin.access_token),
        Some(&json!({ "message_id": "x" })),
    )
    .await
    .assert_problem(422, "invalid_field");

    // The documented errors.
    assert_error(&open(&john, json!({})).await, 400, "recipient_id required");
    assert_error(
        &open(&john, json!({ "recipient_id": null })).await,
        400,
        "recipient_id required",
    );
    assert_error(
        &open(&john, json!({ "recipient_id": "abc" })).await,
        400,
        "Invalid recipient ID",
    );
    assert_error(
        &open(&john, json!({ "recipient_id": true })).await,
        400,
        "Invalid recipient ID",
    );
    assert_error(
        &open(&john, json!({ "recipient_id": -4 })).await,
        400,
        "Invalid recipient ID",
    );
    assert_error(
        &open(&john, json!({ "recipient_id": "234567890123456789" })).await,
        404,
        "User not found",
    );
    assert_error(
        &open(&john, json!({ "recipient_id": john.id_str() })).await,
        400,
        "Cannot message yourself",
    );
    // 403: the recipient blocked the caller.
    let carol = app.user(Role::User).await;
    app.request(
        Method::PUT,
        &format!("/v1/me/blocks/{}", john.id),
        Some(&carol.access_token),
        None,
    )
    .await
    .assert_status(200);
    assert_error(
        &open(&john, json!({ "recipient_id": carol.id_str() })).await,
        403,
        "Cannot message",
    );
    // The blocker may still open one; after unblocking the other may too.
    open(&carol, json!({ "recipient_id": john.id_str() }))
        .await
        .assert_status(200);
    app.request(
        Method::DELETE,
        &format!("/v1/me/blocks/{}", john.id),
        Some(&carol.access_token),
        None,
    )
    .await
    .assert_status(204);
    open(&john, json!({ "recipient_id": carol.id_str() }))
        .await
        .assert_status(200);
    // 403: allow_dms_from none, and friends until they are friends.
    let dave = app.user(Role::User).await;
    let set_allow = |user: &TestUser, value: &'static str| {
        let token = user.access_token.clone();
        let app = &app;
        async move {
            px(
                app,
                Method::PATCH,
                "/users/@me/messaging-settings",
                Some(&token),
                Some(&json!({ "allow_dms_from": value })),
            )
            .await
            .assert_status(200);
        }
    };
    set_allow(&dave, "none").await;
    assert_error(
        &open(&john, json!({ "recipient_id": dave.id_str() })).await,
        403,
        "Cannot message",
    );
    set_allow(&dave, "friends").await;
    assert_error(
        &open(&john, json!({ "recipient_id": dave.id_str() })).await,
        403,
        "Cannot message",
    );
    app.request(
        Method::POST,
        &format!("/v1/me/friends/{}", dave.id),
        Some(&john.access_token),
        None,
    )
    .await
    .assert_status(200);
    // A request alone is not a friendship.
    assert_error(
        &open(&john, json!({ "recipient_id": dave.id_str() })).await,
        403,
        "Cannot message",
    );
    app.request(
        Method::POST,
        &format!("/v1/me/friends/{}/accept", john.id),
        Some(&dave.access_token),
        None,
    )
    .await
    .assert_status(200);
    open(&john, json!({ "recipient_id": dave.id_str() }))
        .await
        .assert_status(200);
    assert_eq!(
        get(&app, "/users/@me/channels", &john)
            .await
            .body
            .as_array()
            .unwrap()
            .len(),
        3
    );
    // Deleting a user removes its channels.
    app.delete(&format!("/v1/users/{}", dave.id), Some(&admin.access_token))
        .await
        .assert_status(204);
    assert_eq!(
        get(&app, "/users/@me/channels", &john)
            .await
            .body
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

async fn blocks_and_friends(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let _admin = app.admin().await;
    let ann = app.user(Role::User).await;
    let bob = app.user(Role::User).await;
    let call = |user: &TestUser, method: Method, path: String| {
        let token = user.access_token.clone();
        let app = &app;
        async move { app.request(method, &path, Some(&token), None).await }
    };
    // Send, list from both sides, accept, remove.
    let sent = call(&ann, Method::POST, format!("/v1/me/friends/{}", bob.id)).await;
    sent.assert_status(200);
    assert_eq!(sent.body["status"], "outgoing");
    assert_eq!(sent.body["user_id"], bob.id_str());
    let theirs = call(&bob, Method::GET, "/v1/me/friends".into()).await;
    assert_eq!(theirs.body["friends"][0]["status"], "incoming");
    assert_eq!(theirs.body["friends"][0]["user_id"], ann.id_str());
    // The requester cannot accept their own request; sending again changes nothing.
    call(&ann, Method::POST, format!("/v1/me/friends/{}/accept", bob.id))
        .await
        .assert_problem(404, "not_found");
    call(&ann, Method::POST, format!("/v1/me/friends/{}", bob.id))
        .await
        .assert_status(200);
    let accepted = call(&bob, Method::POST, format!("/v1/me/friends/{}/accept", ann.id)).await;
    accepted.assert_status(200);
    assert_eq!(accepted.body["status"], "friends");
    assert!(accepted.body["accepted_at"].is_string());
    call(&bob, Method::DELETE, format!("/v1/me/friends/{}", ann.id))
        .await
        .assert_status(204);
    call(&bob, Method::DELETE, format!("/v1/me/friends/{}", ann.id))
        .await
        .assert_problem(404, "not_found");
    assert_eq!(
        call(&ann, Method::GET, "/v1/me/friends".into()).await.body,
        json!({ "friends": [] })
    );
    // A request to someone who asked first accepts theirs.
    call(&bob, Method::POST, format!("/v1/me/friends/{}", ann.id))
        .await
        .assert_status(200);
    let mutual = call(&ann, Method::POST, format!("/v1/me/friends/{}", bob.id)).await;
    assert_eq!(mutual.body["status"], "friends");
    // Blocking ends the friendship and stops requests both ways.
    let block = call(&ann, Method::PUT, format!("/v1/me/blocks/{}", bob.id)).await;
    block.assert_status(200);
    assert_eq!(block.body["user_id"], bob.id_str());
    assert_eq!(
        call(&ann, Method::GET, "/v1/me/friends".into()).await.body,
        json!({ "friends": [] })
    );
    call(&bob, Method::POST, format!("/v1/me/friends/{}", ann.id))
        .await
        .assert_problem(403, "forbidden");
    call(&ann, Method::POST, format!("/v1/me/friends/{}", bob.id))
        .await
        .assert_problem(403, "forbidden");
    let blocks = call(&ann, Method::GET, "/v1/me/blocks".into()).await;
    assert_eq!(blocks.body["blocks"].as_array().unwrap().len(), 1);
    assert_eq!(blocks.body["blocks"][0]["user_id"], bob.id_str());
    assert_eq!(
        call(&bob, Method::GET, "/v1/me/blocks".into()).await.body,
        json!({ "blocks": [] })
    );
    call(&ann, Method::DELETE, format!("/v1/me/blocks/{}", bob.id))
        .await
        .assert_status(204);
    call(&ann, Method::DELETE, format!("/v1/me/blocks/{}", bob.id))
        .await
        .assert_problem(404, "not_found");
    // Not oneself, not unknown users, not malformed ids.
    call(&ann, Method::PUT, format!("/v1/me/blocks/{}", ann.id))
        .await
        .assert_problem(422, "invalid_field");
    call(&ann, Method::POST, format!("/v1/me/friends/{}", ann.id))
        .await
        .assert_problem(422, "invalid_field");
    call(&ann, Method::PUT, "/v1/me/blocks/123456789".into())
        .await
        .assert_problem(404, "not_found");
    call(&ann, Method::POST, "/v1/me/friends/abc".into())
        .await
        .assert_problem(400, "invalid_id");
    app.get("/v1/me/friends", None)
        .await
        .assert_problem(401, "unauthenticated");
}

async fn badges(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let admin = app.admin().await;
    let user = app.user(Role::User).await;
    let path = |badge: &str| format!("/v1/users/{}/badges/{badge}", user.id);
    let r = app
        .request(Method::PUT, &path("Staff"), Some(&admin.access_token), None)
        .await;
    r.assert_status(200);
    assert_eq!(r.body, json!({ "badges": ["staff"] }));
    app.advance(roster_core::time::Duration::seconds(1));
    app.request(Method::PUT, &path("early_supporter"), Some(&admin.access_token), None)
        .await
        .assert_status(200);
    // Everyone signed in sees them; only administrators change them.
    let seen = app
        .get(&format!("/v1/users/{}/badges", user.id), Some(&user.access_token))
        .await;
    assert_eq!(seen.body, json!({ "badges": ["staff", "early_supporter"] }));
    app.request(Method::PUT, &path("vip"), Some(&user.access_token), None)
        .await
        .assert_problem(403, "forbidden");
    app.request(Method::PUT, &path("not%20a%20badge"), Some(&admin.access_token), None)
        .await
        .assert_problem(422, "invalid_field");
    app.request(
        Method::PUT,
        "/v1/users/123456789/badges/staff",
        Some(&admin.access_token),
        None,
    )
    .await
    .assert_problem(404, "not_found");
    let r = app
        .request(Method::DELETE, &path("staff"), Some(&admin.access_token), None)
        .await;
    assert_eq!(r.body, json!({ "badges": ["early_supporter"] }));
    app.request(Method::DELETE, &path("staff"), Some(&admin.access_token), None)
        .await
        .assert_problem(404, "not_found");
    let public = get(&app, &format!("/users/{}", user.id), &admin).await;
    assert_public(&public, &user);
    assert_eq!(public.body["badges"], json!(["early_supporter"]));
}

async fn mounted_at_the_root(backend: Backend) {
    // LibreChat at the root too: its `/avatars/{file}` and Plexichat's
    // `/avatars/users/{file}` live side by side.
    let http = HttpConfig {
        plexichat_prefix: "/".into(),
        librechat_prefix: "/".into(),
        ..HttpConfig::default()
    };
    let app = roster_testkit::or_skip!(spawn_app_with_http(backend, |_| {}, http).await);
    let user = app.admin().await;
    let me = app.get("/users/@me", Some(&user.access_token)).await;
    me.assert_status(200);
    assert_eq!(me.body["id"], user.id_str());
    let notes = app.get("/users/@me/notes", Some(&user.access_token)).await;
    assert_eq!(notes.body["type"], "notes");
    // The other dialects and the native API still answer.
    app.get("/v1/me", Some(&user.access_token)).await.assert_status(200);
    app.get("/api/user", Some(&user.access_token)).await.assert_status(200);
    app.get("/avatars/users/0000.png", None).await.assert_status(404);
    assert_eq!(UserId(me.body["id"].as_str().unwrap().parse().unwrap()), user.id);
}

backend_tests!(
    me_search_and_public_profiles,
    update_me,
    messaging_settings,
    avatars,
    notes_and_direct_messages,
    blocks_and_friends,
    badges,
    mounted_at_the_root,
);
