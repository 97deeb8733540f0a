//! The closed-loop load generator: fixed connections, each sending its next request as soon
//! as the previous answer is read, for a fixed time after a warm-up; every latency recorded.

use crate::seed::Seeded;
use anyhow::{Context, bail};
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

/// Where and how hard to drive.
pub struct Plan {
    pub address: String,
    pub connections: usize,
    pub duration: Duration,
    pub warmup: Duration,
}

/// One scenario's numbers.
#[derive(Debug, Clone, Serialize)]
pub struct ScenarioResult {
    pub name: String,
    pub requests: u64,
    pub errors: u64,
    pub rps: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
}

/// The next request of connection `index` (its `n`th); `None` when the scenario has no
/// more to send (a pool of single-use codes ran out).
type MakeRequest = Arc<dyn Fn(usize, u64) -> Option<Request<Full<Bytes>>> + Send + Sync>;

pub fn request(
    method: Method,
    address: &str,
    path: &str,
    auth: Option<(&str, &str)>,
    body: Option<&Value>,
) -> Request<Full<Bytes>> {
    let mut builder = Request::builder().method(method).uri(path).header("host", address);
    if let Some((header, value)) = auth {
        builder = builder.header(header, value);
    }
    let body = match body {
        Some(b) => {
            builder = builder.header("content-type", "application/json");
            Bytes::from(b.to_string())
        }
        None => Bytes::new(),
    };
    builder.body(Full::new(body)).unwrap_or_default()
}

/// A `POST` of an HTML form (`application/x-www-form-urlencoded`), as Langflow's sign-in takes.
pub fn form_request(address: &str, path: &str, fields: &[(&str, &str)]) -> Request<Full<Bytes>> {
    let body = crate::oidc::form(fields);
    Request::builder()
        .method(Method::POST)
        .uri(path)
        .header("host", address)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Full::new(Bytes::from(body)))
        .unwrap_or_default()
}

/// A request with a JSON body per connection's token (the writes: each connection changes its
/// own user, so writers do not all fight over one row).
fn send_with_tokens(
    a: &str,
    method: Method,
    path: &str,
    bearers: &Arc<Vec<String>>,
    body: impl Fn(u64) -> Value + Send + Sync + 'static,
) -> MakeRequest {
    let (a, path, b) = (a.to_string(), path.to_string(), bearers.clone());
    Arc::new(move |i, n| {
        Some(request(
            method.clone(),
            &a,
            &path,
            Some(("authorization", &b[i % b.len()])),
            Some(&body(n)),
        ))
    })
}

async fn connect(address: &str) -> anyhow::Result<hyper::client::conn::http1::SendRequest<Full<Bytes>>> {
    let stream = TcpStream::connect(address).await?;
    stream.set_nodelay(true)?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(sender)
}

/// One request on a fresh connection: status, headers and body.
pub async fn call_raw(address: &str, req: Request<Full<Bytes>>) -> anyhow::Result<(u16, hyper::HeaderMap, Bytes)> {
    let mut sender = connect(address).await?;
    let response = sender.send_request(req).await?;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await?.to_bytes();
    Ok((status, headers, bytes))
}

/// One request on a fresh connection: status and JSON body.
pub async fn call(address: &str, req: Request<Full<Bytes>>) -> anyhow::Result<(u16, Value)> {
    let (status, _, bytes) = call_raw(address, req).await?;
    Ok((status, serde_json::from_slice(&bytes).unwrap_or(Value::Null)))
}

/// The status of a GET, or None if the server does not answer.
pub async fn get_status(address: &str, path: &str) -> Option<u16> {
    call(address, request(Method::GET, address, path, None, None))
        .await
        .ok()
        .map(|(s, _)| s)
}

/// Tokens, keys and cursors the scenarios use, made through the API like a client would.
pub struct Fixtures {
    pub admin_token: String,
    pub admin_email: String,
    /// A user's id (the one whose page the admin scenarios show).
    pub user_id: String,
    /// One access token per connection (so writers do not all fight over one row).
    pub user_tokens: Vec<String>,
    pub api_key: String,
    pub deep_cursor: String,
    pub login: (String, String),
    pub search_few: String,
    pub search_many: String,
    /// A user's username (Plexichat's search looks one up).
    pub search_username: String,
    /// Active users' emails and their password (for the sign-in page).
    pub user_emails: Vec<String>,
    pub password: String,
    /// How many users were seeded.
    pub users: u64,
    /// How many codes the code exchange scenario gets.
    pub oidc_codes: usize,
}

impl Fixtures {
    pub async fn prepare(plan: &Plan, seeded: &Seeded, users: u64, oidc_codes: usize) -> anyhow::Result<Self> {
        let a = plan.address.as_str();
        let login = |who: &str| {
            request(
                Method::POST,
                a,
                "/v1/auth/login",
                None,
                Some(&json!({"login": who, "password": seeded.password})),
            )
        };
        let (status, body) = call(a, login(&seeded.admin_email)).await?;
        if status != 200 {
            bail!("admin login failed: {status} {body}");
        }
        let admin_token = body["access_token"].as_str().context("admin token")?.to_string();
        let mut user_tokens = Vec::new();
        for email in seeded.user_emails.iter().take(plan.connections.max(1)) {
            let (status, body) = call(a, login(email)).await?;
            if status != 200 {
                bail!("user login failed: {status} {body}");
            }
            user_tokens.push(body["access_token"].as_str().context("user token")?.to_string());
        }
        let bearer = format!("Bearer {}", user_tokens[0]);
        let (status, me) = call(
            a,
            request(Method::GET, a, "/v1/me", Some(("authorization", &bearer)), None),
        )
        .await?;
        if status != 200 {
            bail!("/v1/me failed: {status} {me}");
        }
        let user_id = match &me["id"] {
            Value::String(id) => id.clone(),
            Value::Number(id) => id.to_string(),
            other => bail!("/v1/me gave no id: {other}"),
        };
        let (status, body) = call(
            a,
            request(
                Method::POST,
                a,
                "/v1/me/api-keys",
                Some(("authorization", &bearer)),
                Some(&json!({"name": "bench"})),
            ),
        )
        .await?;
        if status != 201 {
            bail!("API key creation failed: {status} {body}");
        }
        Ok(Self {
            admin_token,
            admin_email: seeded.admin_email.clone(),
            user_id,
            user_tokens,
            api_key: body["secret"].as_str().context("key")?.to_string(),
            deep_cursor: seeded.deep_cursor.clone(),
            login: (seeded.user_emails[0].clone(), seeded.password.clone()),
            search_few: seeded.search_few.clone(),
            search_many: seeded.search_many.clone(),
            search_username: seeded.first_username.clone(),
            user_emails: seeded.user_emails.clone(),
            password: seeded.password.clone(),
            users,
            oidc_codes,
        })
    }
}

/// What one connection measured: latencies, successes, errors, and when it stopped.
type WorkerOutcome = (Histogram<u64>, u64, u64, Instant);

async fn worker(
    address: String,
    make: MakeRequest,
    index: usize,
    measure_from: Instant,
    until: Instant,
) -> WorkerOutcome {
    let mut histogram = new_histogram();
    let (mut ok, mut errors, mut n) = (0u64, 0u64, 0u64);
    let mut sender = None;
    while Instant::now() < until {
        if sender.is_none() {
            match connect(&address).await {
                Ok(s) => sender = Some(s),
                Err(_) => {
                    errors += 1;
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            }
        }
        let Some(s) = sender.as_mut() else { continue };
        n += 1;
        let Some(req) = make(index, n) else { break };
        let started = Instant::now();
        let outcome = async {
            s.ready().await?;
            let response = s.send_request(req).await?;
            let status = response.status();
            response.into_body().collect().await?;
            anyhow::Ok(status)
        }
        .await;
        let elapsed = started.elapsed();
        let measured = started >= measure_from;
        match outcome {
            Ok(status) if status.is_success() => {
                if measured {
                    ok += 1;
                    let _ = histogram.record(elapsed.as_micros().max(1) as u64);
                }
            }
            Ok(_) => {
                if measured {
                    errors += 1;
                }
            }
            Err(_) => {
                if measured {
                    errors += 1;
                }
                sender = None;
            }
        }
    }
    (histogram, ok, errors, Instant::now().min(until))
}

/// Microseconds from 1 µs to 60 s, three significant digits.
fn new_histogram() -> Histogram<u64> {
    #[allow(clippy::expect_used)] // constant, valid bounds
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds")
}

/// Runs one scenario on `connections` connections.
async fn run_scenario(plan: &Plan, name: &str, connections: usize, make: MakeRequest) -> ScenarioResult {
    let measure_from = Instant::now() + plan.warmup;
    let until = measure_from + plan.duration;
    let tasks: Vec<_> = (0..connections)
        .map(|i| tokio::spawn(worker(plan.address.clone(), make.clone(), i, measure_from, until)))
        .collect();
    summarise(name, measure_from, tasks).await
}

/// Adds up the connections' numbers; the rate is over the measured time (shorter than the
/// planned duration when a scenario ran out of requests).
async fn summarise(
    name: &str,
    measure_from: Instant,
    tasks: Vec<tokio::task::JoinHandle<WorkerOutcome>>,
) -> ScenarioResult {
    let mut total = new_histogram();
    let (mut ok, mut errors) = (0, 0);
    let mut stopped = measure_from;
    for t in tasks {
        if let Ok((h, o, e, end)) = t.await {
            let _ = total.add(&h);
            ok += o;
            errors += e;
            stopped = stopped.max(end);
        }
    }
    let duration = stopped
        .saturating_duration_since(measure_from)
        .max(Duration::from_millis(1));
    let ms = |q: f64| total.value_at_quantile(q) as f64 / 1000.0;
    ScenarioResult {
        name: name.to_string(),
        requests: ok,
        errors,
        rps: ok as f64 / duration.as_secs_f64(),
        p50_ms: ms(0.5),
        p99_ms: ms(0.99),
        p999_ms: ms(0.999),
    }
}

/// A GET of `path` with `Authorization: Bearer` of connection `i`'s token.
fn get_with_tokens(a: &str, path: &str, bearers: &Arc<Vec<String>>) -> MakeRequest {
    let (a, path, b) = (a.to_string(), path.to_string(), bearers.clone());
    Arc::new(move |i, _| {
        Some(request(
            Method::GET,
            &a,
            &path,
            Some(("authorization", &b[i % b.len()])),
            None,
        ))
    })
}

/// The admin console's scenarios: the dashboard, the users list and a filtered search of it,
/// a user's page, the audit trail.
const ADMIN_SCENARIOS: [&str; 5] = [
    "admin_dashboard",
    "admin_users",
    "admin_users_filtered",
    "admin_user",
    "admin_audit",
];

/// Whether `name` is selected by `--only` (everything when empty).
fn selected(only: &[String], name: &str) -> bool {
    only.is_empty() || only.iter().any(|o| o == name)
}

/// Every scenario, in order; `only` restricts to the named ones.
pub async fn run_all(plan: &Plan, f: &Fixtures, only: &[String]) -> anyhow::Result<Vec<ScenarioResult>> {
    let a = plan.address.clone();
    let admins: Arc<Vec<String>> = Arc::new(vec![format!("Bearer {}", f.admin_token)]);
    let bearers: Arc<Vec<String>> = Arc::new(f.user_tokens.iter().map(|t| format!("Bearer {t}")).collect());
    let key = f.api_key.clone();
    let mut results = Vec::new();
    let mut run = async |name: &str, make: MakeRequest| {
        if selected(only, name) {
            eprintln!("running {name} ...");
            results.push(run_scenario(plan, name, plan.connections, make).await);
        }
    };

    {
        let a = a.clone();
        run(
            "healthz",
            Arc::new(move |_, _| Some(request(Method::GET, &a, "/healthz", None, None))),
        )
        .await;
    }
    run("me_bearer", get_with_tokens(&a, "/v1/me", &bearers)).await;
    {
        let a = a.clone();
        run(
            "me_api_key",
            Arc::new(move |_, _| Some(request(Method::GET, &a, "/v1/me", Some(("x-api-key", &key)), None))),
        )
        .await;
    }

    // OpenID Connect: userinfo with a JWT access token (next to /v1/me above), then the code
    // exchange, on a pool of codes made through /oidc/authorize just before it.
    if selected(only, "oidc_userinfo") || selected(only, "oidc_code_exchange") {
        eprintln!("preparing OpenID Connect fixtures ...");
        let oidc = Arc::new(crate::oidc::Oidc::prepare(&a, &f.user_emails, &f.password, &f.admin_token, 8).await?);
        let tokens = oidc.access_tokens(plan.connections.max(1)).await?;
        let userinfo: Arc<Vec<String>> = Arc::new(tokens.iter().map(|t| format!("Bearer {t}")).collect());
        run("oidc_userinfo", get_with_tokens(&a, "/oidc/userinfo", &userinfo)).await;
        if selected(only, "oidc_code_exchange") {
            let started = Instant::now();
            let codes = oidc
                .codes(f.oidc_codes, plan.connections, Duration::from_secs(30))
                .await?;
            eprintln!(
                "made {} codes through /oidc/authorize in {:.1} s",
                codes.len(),
                started.elapsed().as_secs_f64()
            );
            let codes = Arc::new(codes);
            let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
            let a = a.clone();
            run(
                "oidc_code_exchange",
                Arc::new(move |_, _| {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    codes.get(i).map(|code| crate::oidc::token_request(&a, code))
                }),
            )
            .await;
        }
    }

    run(
        "patch_me",
        send_with_tokens(
            &a,
            Method::PATCH,
            "/v1/me",
            &bearers,
            |n| json!({"bio": format!("benchmark write {n}")}),
        ),
    )
    .await;
    run("list_first_page", get_with_tokens(&a, "/v1/users?limit=50", &admins)).await;
    run(
        "list_deep_page",
        get_with_tokens(&a, &format!("/v1/users?limit=50&cursor={}", f.deep_cursor), &admins),
    )
    .await;
    run(
        "search_few",
        get_with_tokens(&a, &format!("/v1/users?limit=50&q={}", f.search_few), &admins),
    )
    .await;
    run(
        "search_many",
        get_with_tokens(&a, &format!("/v1/users?limit=50&q={}", f.search_many), &admins),
    )
    .await;

    // The admin console's pages, with an administrator's browser session (server-rendered
    // HTML; the goal is under 50 ms each at 1,000,000 users).
    if ADMIN_SCENARIOS.iter().any(|name| selected(only, name)) {
        let session = crate::oidc::browser_session(a.clone(), f.admin_email.clone(), f.password.clone()).await?;
        let cookie = format!("roster_session={session}");
        let user_page = format!("/admin/users/{}", f.user_id);
        let filtered = format!("/admin/users?q={}&status=active&sort=email&order=asc", f.search_few);
        for (name, path) in ADMIN_SCENARIOS.iter().zip([
            "/admin",
            "/admin/users",
            filtered.as_str(),
            user_page.as_str(),
            "/admin/audit",
        ]) {
            let (a, path, cookie) = (a.clone(), path.to_string(), cookie.clone());
            run(
                name,
                Arc::new(move |_, _| Some(request(Method::GET, &a, &path, Some(("cookie", &cookie)), None))),
            )
            .await;
        }
    }

    // The dialects' hot routes, at their default mount points.
    run("owui_auths", get_with_tokens(&a, "/openwebui/api/v1/auths/", &bearers)).await;
    run(
        "owui_users_page2",
        get_with_tokens(&a, "/openwebui/api/v1/users/?page=2", &admins),
    )
    .await;
    run(
        "owui_users_deep_page",
        get_with_tokens(
            &a,
            &format!("/openwebui/api/v1/users/?page={}", (f.users / 60).max(1)),
            &admins,
        ),
    )
    .await;
    run(
        "owui_users_search",
        get_with_tokens(
            &a,
            &format!("/openwebui/api/v1/users/search?query={}", f.search_few),
            &admins,
        ),
    )
    .await;
    run(
        "langflow_whoami",
        get_with_tokens(&a, "/langflow/api/v1/users/whoami", &bearers),
    )
    .await;
    run(
        "langflow_users",
        get_with_tokens(&a, "/langflow/api/v1/users/?skip=50&limit=50", &admins),
    )
    .await;
    run("librechat_user", get_with_tokens(&a, "/librechat/api/user", &bearers)).await;
    run("plexichat_me", get_with_tokens(&a, "/plexichat/users/@me", &bearers)).await;

    // The dialects' settings, read and written, and Plexichat's search (by username).
    run(
        "owui_settings",
        get_with_tokens(&a, "/openwebui/api/v1/users/user/settings", &bearers),
    )
    .await;
    run(
        "owui_settings_update",
        send_with_tokens(
            &a,
            Method::POST,
            "/openwebui/api/v1/users/user/settings/update",
            &bearers,
            |n| json!({"ui": {"theme": if n % 2 == 0 { "dark" } else { "light" }, "benchmark": n}}),
        ),
    )
    .await;
    run(
        "librechat_preferences",
        send_with_tokens(
            &a,
            Method::PATCH,
            "/librechat/api/user/preferences",
            &bearers,
            |n| json!({"memories": n % 2 == 0}),
        ),
    )
    .await;
    run(
        "plexichat_settings",
        get_with_tokens(&a, "/plexichat/users/@me/messaging-settings", &bearers),
    )
    .await;
    run(
        "plexichat_settings_update",
        send_with_tokens(
            &a,
            Method::PATCH,
            "/plexichat/users/@me/messaging-settings",
            &bearers,
            |n| json!({"read_receipts_enabled": n % 2 == 0}),
        ),
    )
    .await;
    run(
        "plexichat_search",
        get_with_tokens(
            &a,
            &format!("/plexichat/users/search?username={}", f.search_username),
            &bearers,
        ),
    )
    .await;

    let login_body = json!({"login": f.login.0, "password": f.login.1});
    let login: MakeRequest = {
        let a = a.clone();
        Arc::new(move |_, _| Some(request(Method::POST, &a, "/v1/auth/login", None, Some(&login_body))))
    };
    run("login", login.clone()).await;
    // The dialects' sign-ins (Argon2id, as `login`).
    {
        let a = a.clone();
        let body = json!({"email": f.login.0, "password": f.login.1});
        run(
            "owui_signin",
            Arc::new(move |_, _| {
                Some(request(
                    Method::POST,
                    &a,
                    "/openwebui/api/v1/auths/signin",
                    None,
                    Some(&body),
                ))
            }),
        )
        .await;
    }
    {
        let a = a.clone();
        let (who, password) = f.login.clone();
        run(
            "langflow_login",
            Arc::new(move |_, _| {
                Some(form_request(
                    &a,
                    "/langflow/api/v1/login",
                    &[("username", who.as_str()), ("password", password.as_str())],
                ))
            }),
        )
        .await;
    }
    {
        let a = a.clone();
        let body = json!({"email": f.login.0, "password": f.login.1});
        run(
            "librechat_login",
            Arc::new(move |_, _| {
                Some(request(
                    Method::POST,
                    &a,
                    "/librechat/api/auth/login",
                    None,
                    Some(&body),
                ))
            }),
        )
        .await;
    }

    if selected(only, "isolation") {
        eprintln!("running isolation (login flood + me_bearer) ...");
        let half = (plan.connections / 2).max(1);
        let me = get_with_tokens(&a, "/v1/me", &bearers);
        let measure_from = Instant::now() + plan.warmup;
        let until = measure_from + plan.duration;
        let flood: Vec<_> = (0..half)
            .map(|i| tokio::spawn(worker(plan.address.clone(), login.clone(), i, measure_from, until)))
            .collect();
        let probes: Vec<_> = (0..half)
            .map(|i| tokio::spawn(worker(plan.address.clone(), me.clone(), i, measure_from, until)))
            .collect();
        results.push(summarise("isolation_me_during_login_flood", measure_from, probes).await);
        results.push(summarise("isolation_login_flood", measure_from, flood).await);
    }
    Ok(results)
}
