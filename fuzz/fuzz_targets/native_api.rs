//! The native API's JSON bodies, query strings and path ids, through the whole router
//! (`tower::ServiceExt::oneshot`, no socket) over the fuzz fixture's SQLite database, as the
//! administrator (API key), an ordinary user (access token), a wrong token or nobody. No
//! input yields a 5xx; every error is problem+json naming its status.
//!
//! Input: byte 0 picks the route, byte 1 the caller (and whether a JSON content type is
//! sent), byte 2 the path id; then a line with the query string or raw path id, then the body.
#![no_main]

use axum::body::Body;
use axum::http::{Method, Request, header};
use libfuzzer_sys::fuzz_target;
use roster_fuzz::{fixture, runtime};
use tower::ServiceExt;

const ROUTES: &[(&str, &str)] = &[
    ("POST", "/v1/auth/register"),
    ("POST", "/v1/auth/login"),
    ("POST", "/v1/auth/refresh"),
    ("POST", "/v1/auth/logout"),
    ("POST", "/v1/auth/reset-password"),
    ("GET", "/v1/me"),
    ("PATCH", "/v1/me"),
    ("POST", "/v1/me/password"),
    ("GET", "/v1/me/sessions"),
    ("DELETE", "/v1/me/sessions/{id}"),
    ("POST", "/v1/me/sessions/revoke-others"),
    ("GET", "/v1/me/api-keys"),
    ("POST", "/v1/me/api-keys"),
    ("DELETE", "/v1/me/api-keys/{id}"),
    ("GET", "/v1/users"),
    ("POST", "/v1/users"),
    ("GET", "/v1/users/{id}"),
    ("PATCH", "/v1/users/{id}"),
    ("DELETE", "/v1/users/{id}"),
    ("POST", "/v1/users/{id}/sessions/revoke"),
    ("POST", "/v1/introspect"),
    ("GET", "/v1/groups"),
    ("POST", "/v1/groups"),
    ("GET", "/v1/groups/{id}"),
    ("PATCH", "/v1/groups/{id}"),
    ("DELETE", "/v1/groups/{id}"),
    ("GET", "/v1/groups/{id}/members"),
    ("POST", "/v1/groups/{id}/members"),
    ("DELETE", "/v1/groups/{id}/members"),
    ("GET", "/v1/groups/permissions/default"),
    ("PUT", "/v1/groups/permissions/default"),
    ("GET", "/v1/me/permissions"),
];

fuzz_target!(|data: &[u8]| {
    if data.len() < 3 {
        return;
    }
    let (method, template) = ROUTES[usize::from(data[0]) % ROUTES.len()];
    let caller = data[1] & 3;
    let json_type = data[1] & 0x80 == 0;
    let rest = &data[3..];
    let (line, body) = match rest.iter().position(|b| *b == b'\n') {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, &[][..]),
    };
    let Ok(line) = std::str::from_utf8(line) else {
        return;
    };
    let fixture = fixture();
    let member = fixture.user.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let id = match data[2] % 5 {
        0 => fixture.admin_id.to_string(),
        1 => member.id.to_string(),
        2 => fixture.group.to_string(),
        3 => "1".to_string(),
        _ => line.to_string(),
    };
    let mut path = template.replace("{id}", &id);
    if !template.contains("{id}") && !line.is_empty() {
        path = format!("{path}?{line}");
    }
    let Ok(uri) = path.parse::<axum::http::Uri>() else {
        return;
    };
    let mut request = Request::builder()
        .method(Method::from_bytes(method.as_bytes()).unwrap_or(Method::GET))
        .uri(uri);
    match caller {
        1 => request = request.header(header::AUTHORIZATION, format!("Bearer {}", fixture.admin_key)),
        2 => request = request.header(header::AUTHORIZATION, format!("Bearer {}", member.token)),
        3 => request = request.header(header::AUTHORIZATION, "Bearer rst_not-a-real-key"),
        _ => {}
    }
    if json_type {
        request = request.header(header::CONTENT_TYPE, "application/json");
    }
    let Ok(request) = request.body(Body::from(body.to_vec())) else {
        return;
    };
    runtime().block_on(async {
        let response = fixture.router.clone().oneshot(request).await.expect("infallible");
        let status = response.status();
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let bytes = axum::body::to_bytes(response.into_body(), 16 << 20)
            .await
            .expect("body");
        assert!(
            status.as_u16() < 500,
            "{method} {path} answered {status}: {}",
            String::from_utf8_lossy(&bytes)
        );
        if status.is_client_error() {
            assert_eq!(content_type, "application/problem+json", "{method} {path} {status}");
            let problem: serde_json::Value = serde_json::from_slice(&bytes).expect("problem is JSON");
            assert_eq!(problem["status"], status.as_u16(), "{problem}");
        }
        // A request that took the member's credential away (logout, revocation, password
        // change, deletion, demotion): carry on with a fresh member.
        if method != "GET" {
            let probe = Request::builder()
                .uri("/v1/me")
                .header(header::AUTHORIZATION, format!("Bearer {}", member.token))
                .body(Body::empty())
                .expect("request");
            let alive = fixture
                .router
                .clone()
                .oneshot(probe)
                .await
                .expect("infallible")
                .status()
                .is_success();
            if !alive {
                let fresh = fixture.new_member().await;
                *fixture.user.lock().unwrap_or_else(|e| e.into_inner()) = fresh;
            }
        }
    });
});
