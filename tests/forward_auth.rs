//! Forward authentication behind a real nginx (Debian's package, `auth_request`): the identity
//! headers reach the upstream, and a request without a session never does, on both backends.
//! The nginx configuration is the README's ("Provisioning"), with loopback addresses.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use axum::Router;
use axum::http::HeaderMap;
use reqwest::Method;
use roster_testkit::process::{ServerProcess, free_port, wait_ready};
use roster_testkit::{Backend, TestDatabase, in_ci};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

const BIN: &str = env!("CARGO_BIN_EXE_roster");

/// The nginx binary: `ROSTER_TEST_NGINX`, else Debian's. None (after a loud line) outside CI
/// when it is missing; in CI that fails.
fn nginx_binary() -> Option<PathBuf> {
    let path = PathBuf::from(std::env::var("ROSTER_TEST_NGINX").unwrap_or_else(|_| "/usr/sbin/nginx".into()));
    if path.exists() {
        return Some(path);
    }
    if in_ci() {
        panic!(
            "nginx not found at {}; run scripts/e2e/install.sh proxy",
            path.display()
        );
    }
    eprintln!(
        "\n*** SKIPPED: nginx not found at {}; run scripts/e2e/install.sh proxy, or CI=true to make this a failure. ***\n",
        path.display()
    );
    None
}

/// The upstream behind the proxy: answers 200 and records every request's path and headers.
struct Upstream {
    port: u16,
    seen: Arc<Mutex<Vec<(String, HeaderMap)>>>,
    server: tokio::task::JoinHandle<()>,
}

impl Upstream {
    async fn start() -> Upstream {
        let seen: Arc<Mutex<Vec<(String, HeaderMap)>>> = Arc::default();
        let record = seen.clone();
        let app = Router::new().fallback(move |uri: axum::http::Uri, headers: HeaderMap| {
            let record = record.clone();
            async move {
                record.lock().unwrap().push((uri.to_string(), headers));
                "upstream page"
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Upstream { port, seen, server }
    }

    fn count(&self) -> usize {
        self.seen.lock().unwrap().len()
    }

    fn last(&self) -> (String, HeaderMap) {
        self.seen.lock().unwrap().last().cloned().unwrap()
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// nginx in the foreground, killed on drop.
struct Nginx(Child);

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits until something listens on `port` (the proxy guards even `/readyz`); 60 s at most.
async fn wait_listening(port: u16) {
    for _ in 0..1200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("nothing listens on 127.0.0.1:{port}");
}

/// The README's nginx site, on loopback ports.
fn nginx_config(dir: &Path, port: u16, roster: u16, upstream: u16) -> String {
    let d = dir.display();
    format!(
        r#"daemon off;
master_process off;
error_log stderr warn;
pid {d}/nginx.pid;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    server {{
        listen 127.0.0.1:{port};

        # Roster's sign-in pages on the protected host, so its session cookie is sent here.
        location ~ ^/(signin|signout|second-factor|pages/|v1/forward-auth/return) {{
            proxy_pass http://127.0.0.1:{roster};
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-Proto $scheme;
        }}

        location = /_roster_auth {{
            internal;
            proxy_pass http://127.0.0.1:{roster}/v1/forward-auth?unauthenticated=401;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header X-Original-URL $scheme://$http_host$request_uri;
        }}

        location @roster_signin {{
            if ($roster_signin = "") {{ return 401; }}
            return 302 $roster_signin;
        }}

        location / {{
            auth_request /_roster_auth;
            auth_request_set $roster_signin $upstream_http_x_roster_sign_in;
            auth_request_set $roster_email $upstream_http_x_roster_email;
            auth_request_set $roster_name $upstream_http_x_roster_name;
            auth_request_set $roster_groups $upstream_http_x_roster_groups;
            auth_request_set $roster_role $upstream_http_x_roster_role;
            error_page 401 = @roster_signin;
            proxy_set_header X-Roster-Email $roster_email;
            proxy_set_header X-Roster-Name $roster_name;
            proxy_set_header X-Roster-Groups $roster_groups;
            proxy_set_header X-Roster-Role $roster_role;
            proxy_pass http://127.0.0.1:{upstream};
        }}
    }}
}}
"#
    )
}

/// The hidden fields of the page's form, and a cookie jar's worth of `Set-Cookie`s.
fn hidden_fields(html: &str) -> HashMap<String, String> {
    let mut fields = HashMap::new();
    for input in html.split("<input").skip(1) {
        let tag = &input[..input.find('>').unwrap_or(input.len())];
        if !tag.contains(r#"type="hidden""#) {
            continue;
        }
        let attr = |name: &str| {
            let start = tag.find(&format!(r#"{name}=""#))? + name.len() + 2;
            let end = tag[start..].find('"')? + start;
            Some(
                tag[start..end]
                    .replace("&#x2f;", "/")
                    .replace("&#x3d;", "=")
                    .replace("&amp;", "&")
                    .replace("&quot;", "\""),
            )
        };
        if let (Some(name), Some(value)) = (attr("name"), attr("value")) {
            fields.insert(name, value);
        }
    }
    fields
}

fn cookies_of(response: &reqwest::Response, jar: &mut HashMap<String, String>) {
    for value in response.headers().get_all("set-cookie") {
        let pair = value.to_str().unwrap().split(';').next().unwrap();
        let (name, value) = pair.split_once('=').unwrap();
        if value.is_empty() {
            jar.remove(name);
        } else {
            jar.insert(name.to_string(), value.to_string());
        }
    }
}

fn cookie_header(jar: &HashMap<String, String>) -> String {
    jar.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("; ")
}

fn location(response: &reqwest::Response) -> String {
    response.headers()["location"].to_str().unwrap().to_string()
}

/// Roster's native API, called directly (not through the proxy).
struct Api<'a> {
    http: &'a reqwest::Client,
    base: &'a str,
}

impl Api<'_> {
    /// Sends `body` as JSON with the token, if any; asserts a 2xx and answers the JSON.
    async fn send(&self, method: Method, path: &str, token: Option<&str>, body: Value) -> Value {
        let mut request = self.http.request(method, format!("{}{path}", self.base)).json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        assert!(response.status().is_success(), "{path}: {}", response.status());
        response.json().await.unwrap()
    }
}

async fn proxy_checks_sessions(backend: Backend) {
    let Some(nginx) = nginx_binary() else { return };
    let db = roster_testkit::or_skip!(TestDatabase::new(backend).await);
    let dir = tempfile::tempdir().unwrap();
    let upstream = Upstream::start().await;
    let (roster_port, proxy_port) = (free_port(), free_port());
    let roster = format!("http://127.0.0.1:{roster_port}");
    let proxy = format!("http://127.0.0.1:{proxy_port}");
    let _server = ServerProcess::serve(
        BIN,
        dir.path(),
        &[],
        &[
            ("ROSTER_LISTEN", &format!("127.0.0.1:{roster_port}")),
            ("ROSTER_DATABASE_URL", &db.url),
            ("ROSTER_PUBLIC_URL", &proxy),
            ("ROSTER_FORWARD_AUTH_ALLOWED_HOSTS", &format!("127.0.0.1:{proxy_port}")),
            ("ROSTER_WEBHOOK_WORKER", "false"),
        ],
    );
    wait_ready(&format!("127.0.0.1:{roster_port}")).await;

    // An administrator (the first account), a user in a group.
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let api = Api {
        http: &http,
        base: &roster,
    };
    let admin = api
        .send(
            Method::POST,
            "/v1/auth/register",
            None,
            json!({"email": "root@example.org", "password": "correct horse 1"}),
        )
        .await;
    let admin_token = admin["access_token"].as_str().unwrap().to_string();
    let ann = api
        .send(
            Method::POST,
            "/v1/users",
            Some(&admin_token),
            json!({"email": "ann@example.org", "name": "Ann Lee", "password": "ann's password"}),
        )
        .await;
    let ann_id = ann["id"].as_str().unwrap().to_string();
    for name in ["staff", "writers"] {
        let group = api
            .send(Method::POST, "/v1/groups", Some(&admin_token), json!({"name": name}))
            .await;
        let path = format!("/v1/groups/{}/members", group["id"].as_str().unwrap());
        api.send(Method::POST, &path, Some(&admin_token), json!({"user_ids": [ann_id]}))
            .await;
    }

    std::fs::write(
        dir.path().join("nginx.conf"),
        nginx_config(dir.path(), proxy_port, roster_port, upstream.port),
    )
    .unwrap();
    let _nginx = Nginx(
        Command::new(&nginx)
            .args(["-p", &dir.path().display().to_string(), "-c", "nginx.conf"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("start nginx"),
    );
    wait_listening(proxy_port).await;

    // No session: an API call gets 401, a browser the sign-in page; neither reaches the app,
    // and identity headers a client sends itself change nothing.
    let anonymous = http
        .get(format!("{proxy}/api/chats"))
        .header("accept", "application/json")
        .header("x-roster-email", "root@example.org")
        .header("x-roster-role", "admin")
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    let bad_token = http
        .get(format!("{proxy}/api/chats"))
        .bearer_auth("not-a-token")
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(bad_token.status(), 401);
    let original = format!("{proxy}/c/42?tab=a%20b&x=1");
    let browser = http
        .get(&original)
        .header("accept", "text/html,application/xhtml+xml")
        .send()
        .await
        .unwrap();
    assert_eq!(browser.status(), 302);
    // nginx makes the path absolute, on the host the browser asked.
    let signin = location(&browser);
    let signin = signin.strip_prefix(&proxy).unwrap_or(&signin).to_string();
    assert!(
        signin.starts_with("/signin?return_to=%2Fv1%2Fforward-auth%2Freturn%3Frd%3D"),
        "{signin}"
    );
    assert_eq!(upstream.count(), 0, "nothing reached the upstream without a session");

    // The browser signs in on the sign-in page (served through the proxy) and comes back.
    let mut jar = HashMap::new();
    let page = http
        .get(format!("{proxy}{signin}"))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    cookies_of(&page, &mut jar);
    let mut form = hidden_fields(&page.text().await.unwrap());
    assert!(form.contains_key("csrf"), "{form:?}");
    form.insert("identifier".into(), "ann@example.org".into());
    form.insert("password".into(), "ann's password".into());
    let submitted = http
        .post(format!("{proxy}/signin"))
        .header("cookie", cookie_header(&jar))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(submitted.status(), 303);
    cookies_of(&submitted, &mut jar);
    assert!(jar.contains_key("roster_session"), "{jar:?}");
    let back = location(&submitted);
    assert!(back.starts_with("/v1/forward-auth/return?rd="), "{back}");
    let returned = http
        .get(format!("{proxy}{back}"))
        .header("cookie", cookie_header(&jar))
        .send()
        .await
        .unwrap();
    assert_eq!(returned.status(), 303);
    assert_eq!(location(&returned), original);

    // With the session: the page, and the identity in the headers the app trusts.
    let page = http
        .get(&original)
        .header("accept", "text/html")
        .header("cookie", cookie_header(&jar))
        .header("x-roster-role", "admin")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(page.text().await.unwrap(), "upstream page");
    assert_eq!(upstream.count(), 1);
    let (uri, headers) = upstream.last();
    assert_eq!(uri, "/c/42?tab=a%20b&x=1");
    let header = |name: &str| headers.get(name).map(|v| v.to_str().unwrap().to_string());
    assert_eq!(header("x-roster-email").as_deref(), Some("ann@example.org"));
    assert_eq!(header("x-roster-name").as_deref(), Some("Ann Lee"));
    assert_eq!(header("x-roster-groups").as_deref(), Some("staff,writers"));
    assert_eq!(
        header("x-roster-role").as_deref(),
        Some("user"),
        "the client's own header is replaced"
    );

    // The application's own bearer token (Open WebUI's frontend sends one) next to the session.
    let app_call = http
        .get(format!("{proxy}/api/v1/chats"))
        .header("cookie", cookie_header(&jar))
        .bearer_auth("the-application's-own-token")
        .send()
        .await
        .unwrap();
    assert_eq!(app_call.status(), 200);
    assert_eq!(upstream.count(), 2);
    assert_eq!(upstream.last().1["x-roster-email"], "ann@example.org");

    // A bearer token works as well (an API client).
    let login = api
        .send(
            Method::POST,
            "/v1/auth/login",
            None,
            json!({"login": "ann@example.org", "password": "ann's password"}),
        )
        .await;
    let bearer = http
        .get(format!("{proxy}/api/models"))
        .bearer_auth(login["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(bearer.status(), 200);
    assert_eq!(upstream.count(), 3);
    assert_eq!(upstream.last().1["x-roster-email"], "ann@example.org");

    // Deactivated: the session no longer passes, and the app sees nothing more.
    api.send(
        Method::PATCH,
        &format!("/v1/users/{ann_id}"),
        Some(&admin_token),
        json!({"active": false}),
    )
    .await;
    let page = http
        .get(&original)
        .header("accept", "text/html")
        .header("cookie", cookie_header(&jar))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 302);
    assert_eq!(
        upstream.count(),
        3,
        "a deactivated user's session never reaches the upstream"
    );

    // The return step follows only allowed hosts.
    let evil = http
        .get(format!(
            "{proxy}/v1/forward-auth/return?rd={}",
            "https%3A%2F%2Fevil.example%2F"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(evil.status(), 422);
    assert!(evil.headers().get("location").is_none());
}

roster_testkit::backend_tests!(proxy_checks_sessions);
