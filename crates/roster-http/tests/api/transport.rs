//! Request limits (body, head, slow clients, request timeout), security headers and CORS.

use roster_http::HttpConfig;
use roster_http::protect::{CorsSettings, SecurityHeaders};
use roster_testkit::app::{TestApp, spawn_app_with_http};
use roster_testkit::{Backend, backend_tests, spawn_app};
use serde_json::json;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn strict() -> HttpConfig {
    HttpConfig {
        body_limit: 1024,
        max_header_bytes: 2048,
        header_read_timeout: Duration::from_secs(1),
        request_timeout: Duration::from_secs(2),
        security_headers: SecurityHeaders {
            hsts_max_age_seconds: Some(31_536_000),
            ..SecurityHeaders::default()
        },
        cors: CorsSettings {
            allowed_origins: vec!["https://chat.example.org".into()],
            allow_credentials: true,
            max_age_seconds: 600,
        },
        ..HttpConfig::default()
    }
}

async fn raw(app: &TestApp) -> tokio::net::TcpStream {
    tokio::net::TcpStream::connect(app.address.trim_start_matches("http://"))
        .await
        .unwrap()
}

/// Reads until the server closes the connection (or `limit` passes): what it sent.
async fn read_until_closed(stream: &mut tokio::net::TcpStream, limit: Duration) -> Option<String> {
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.checked_duration_since(Instant::now())?;
        match tokio::time::timeout(left, stream.read(&mut buffer)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Some(String::from_utf8_lossy(&received).into_owned()),
            Ok(Ok(n)) => received.extend_from_slice(&buffer[..n]),
            Err(_) => return None,
        }
    }
}

async fn request_limits(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app_with_http(backend, |_| {}, strict()).await);
    // A body over the limit: 413, in each dialect's shape.
    let big = json!({"login": "x".repeat(2000), "password": "y"});
    let r = app.post("/v1/auth/login", None, &big).await;
    r.assert_problem(413, "body_too_large");
    // The body was not read, so the connection ends, and the answer says so: a client that
    // reused it would lose its next request.
    assert_eq!(r.headers["connection"], "close");
    let r = app
        .post(
            "/librechat/api/auth/login",
            None,
            &json!({"email": "x".repeat(2000), "password": "y"}),
        )
        .await;
    r.assert_status(413);
    assert!(r.body["message"].is_string(), "{}", r.text);
    // A request head over the limit: 431.
    let r = app
        .client
        .get(format!("{}/healthz", app.address))
        .header("x-padding", "p".repeat(4000))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 431);
    // A client that never finishes its request head is disconnected.
    let mut slow = raw(&app).await;
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").await.unwrap();
    let started = Instant::now();
    let answer = read_until_closed(&mut slow, Duration::from_secs(10)).await;
    assert!(answer.is_some(), "the slow client was not dropped");
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    // So is one that connects and sends nothing at all.
    let mut idle = raw(&app).await;
    let started = Instant::now();
    assert!(read_until_closed(&mut idle, Duration::from_secs(10)).await.is_some());
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    // A body that never arrives: the request times out with 408.
    let mut slow = raw(&app).await;
    slow.write_all(
        b"POST /v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{",
    )
    .await
    .unwrap();
    let answer = read_until_closed(&mut slow, Duration::from_secs(10))
        .await
        .expect("the server answered and closed");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("request_timeout"), "{answer}");
    // Normal requests are unaffected.
    app.get("/healthz", None).await.assert_status(200);
}

async fn security_headers_on_every_response(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app_with_http(backend, |_| {}, strict()).await);
    let responses = [
        app.get("/healthz", None).await,
        app.get("/v1/me", None).await,
        app.get("/no/such/route", None).await,
        app.post("/v1/auth/login", None, &json!({"login": "a", "password": "b"}))
            .await,
        app.get("/librechat/api/user", None).await,
        app.get("/openwebui/api/v1/users/", None).await,
        app.get("/langflow/api/v1/users/whoami", None).await,
    ];
    for r in &responses {
        let h = |name: &str| r.headers.get(name).map(|v| v.to_str().unwrap().to_string());
        assert_eq!(h("x-content-type-options").as_deref(), Some("nosniff"), "{}", r.text);
        assert_eq!(h("x-frame-options").as_deref(), Some("DENY"));
        assert_eq!(
            h("content-security-policy").as_deref(),
            Some("default-src 'none'; frame-ancestors 'none'")
        );
        assert_eq!(h("referrer-policy").as_deref(), Some("no-referrer"));
        assert_eq!(
            h("strict-transport-security").as_deref(),
            Some("max-age=31536000; includeSubDomains")
        );
    }
    // HSTS only when configured.
    let plain = roster_testkit::or_skip!(spawn_app(backend).await);
    let r = plain.get("/healthz", None).await;
    assert!(!r.headers.contains_key("strict-transport-security"));
    assert_eq!(r.headers["x-frame-options"], "DENY");
}

async fn preflight(app: &TestApp, origin: &str) -> reqwest::Response {
    app.client
        .request(reqwest::Method::OPTIONS, format!("{}/v1/auth/login", app.address))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type, authorization")
        .send()
        .await
        .unwrap()
}

async fn cors_per_origin(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app_with_http(backend, |_| {}, strict()).await);
    // An allowed origin: the preflight allows the method, headers and credentials.
    let r = preflight(&app, "https://chat.example.org").await;
    assert_eq!(r.status(), 200);
    let h = r.headers();
    assert_eq!(h["access-control-allow-origin"], "https://chat.example.org");
    assert_eq!(h["access-control-allow-credentials"], "true");
    assert!(h["access-control-allow-methods"].to_str().unwrap().contains("POST"));
    assert!(
        h["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .contains("authorization")
    );
    assert_eq!(h["x-content-type-options"], "nosniff");
    let r = app
        .client
        .get(format!("{}/healthz", app.address))
        .header("origin", "https://chat.example.org")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["access-control-allow-origin"], "https://chat.example.org");
    // Any other origin: no CORS headers, so browsers refuse.
    let r = preflight(&app, "https://evil.example").await;
    assert!(!r.headers().contains_key("access-control-allow-origin"));
    let r = app
        .client
        .get(format!("{}/healthz", app.address))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert!(!r.headers().contains_key("access-control-allow-origin"));
    // Off by default: no origin is allowed.
    let plain = roster_testkit::or_skip!(spawn_app(backend).await);
    let r = preflight(&plain, "https://chat.example.org").await;
    assert!(!r.headers().contains_key("access-control-allow-origin"));
}

backend_tests!(request_limits, security_headers_on_every_response, cors_per_origin);
