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

type MakeRequest = Arc<dyn Fn(usize, u64) -> Request<Full<Bytes>> + Send + Sync>;

fn request(
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

async fn connect(address: &str) -> anyhow::Result<hyper::client::conn::http1::SendRequest<Full<Bytes>>> {
    let stream = TcpStream::connect(address).await?;
    stream.set_nodelay(true)?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(sender)
}

/// One request on a fresh connection: status and JSON body.
pub async fn call(address: &str, req: Request<Full<Bytes>>) -> anyhow::Result<(u16, Value)> {
    let mut sender = connect(address).await?;
    let response = sender.send_request(req).await?;
    let status = response.status().as_u16();
    let bytes = response.into_body().collect().await?.to_bytes();
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
    /// One access token per connection (so writers do not all fight over one row).
    pub user_tokens: Vec<String>,
    pub api_key: String,
    pub deep_cursor: String,
    pub login: (String, String),
    pub search_few: String,
    pub search_many: String,
}

impl Fixtures {
    pub async fn prepare(plan: &Plan, seeded: &Seeded) -> anyhow::Result<Self> {
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
            user_tokens,
            api_key: body["secret"].as_str().context("key")?.to_string(),
            deep_cursor: seeded.deep_cursor.clone(),
            login: (seeded.user_emails[0].clone(), seeded.password.clone()),
            search_few: seeded.search_few.clone(),
            search_many: seeded.search_many.clone(),
        })
    }
}

async fn worker(
    address: String,
    make: MakeRequest,
    index: usize,
    measure_from: Instant,
    until: Instant,
) -> (Histogram<u64>, u64, u64) {
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
        let req = make(index, n);
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
    (histogram, ok, errors)
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
    summarise(name, plan.duration, tasks).await
}

async fn summarise(
    name: &str,
    duration: Duration,
    tasks: Vec<tokio::task::JoinHandle<(Histogram<u64>, u64, u64)>>,
) -> ScenarioResult {
    let mut total = new_histogram();
    let (mut ok, mut errors) = (0, 0);
    for t in tasks {
        if let Ok((h, o, e)) = t.await {
            let _ = total.add(&h);
            ok += o;
            errors += e;
        }
    }
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

/// Every scenario, in order; `only` restricts to the named ones.
pub async fn run_all(plan: &Plan, f: &Fixtures, only: &[String]) -> anyhow::Result<Vec<ScenarioResult>> {
    let a = plan.address.clone();
    let admin = format!("Bearer {}", f.admin_token);
    let bearers: Arc<Vec<String>> = Arc::new(f.user_tokens.iter().map(|t| format!("Bearer {t}")).collect());
    let key = f.api_key.clone();
    let mut scenarios: Vec<(&str, MakeRequest)> = Vec::new();
    {
        let a = a.clone();
        scenarios.push((
            "healthz",
            Arc::new(move |_, _| request(Method::GET, &a, "/healthz", None, None)),
        ));
    }
    {
        let (a, b) = (a.clone(), bearers.clone());
        scenarios.push((
            "me_bearer",
            Arc::new(move |i, _| {
                request(
                    Method::GET,
                    &a,
                    "/v1/me",
                    Some(("authorization", &b[i % b.len()])),
                    None,
                )
            }),
        ));
    }
    {
        let a = a.clone();
        scenarios.push((
            "me_api_key",
            Arc::new(move |_, _| request(Method::GET, &a, "/v1/me", Some(("x-api-key", &key)), None)),
        ));
    }
    {
        let (a, b) = (a.clone(), bearers.clone());
        scenarios.push((
            "patch_me",
            Arc::new(move |i, n| {
                let body = json!({"bio": format!("benchmark write {n}")});
                request(
                    Method::PATCH,
                    &a,
                    "/v1/me",
                    Some(("authorization", &b[i % b.len()])),
                    Some(&body),
                )
            }),
        ));
    }
    let admin_get = |name: &'static str, path: String| -> (&'static str, MakeRequest) {
        let (a, admin) = (a.clone(), admin.clone());
        (
            name,
            Arc::new(move |_, _| request(Method::GET, &a, &path, Some(("authorization", &admin)), None)),
        )
    };
    scenarios.push(admin_get("list_first_page", "/v1/users?limit=50".into()));
    scenarios.push(admin_get(
        "list_deep_page",
        format!("/v1/users?limit=50&cursor={}", f.deep_cursor),
    ));
    scenarios.push(admin_get(
        "search_few",
        format!("/v1/users?limit=50&q={}", f.search_few),
    ));
    scenarios.push(admin_get(
        "search_many",
        format!("/v1/users?limit=50&q={}", f.search_many),
    ));
    let login_body = json!({"login": f.login.0, "password": f.login.1});
    let login: MakeRequest = {
        let a = a.clone();
        Arc::new(move |_, _| request(Method::POST, &a, "/v1/auth/login", None, Some(&login_body)))
    };
    scenarios.push(("login", login.clone()));

    let mut results = Vec::new();
    for (name, make) in scenarios {
        if !only.is_empty() && !only.iter().any(|o| o == name) {
            continue;
        }
        eprintln!("running {name} ...");
        results.push(run_scenario(plan, name, plan.connections, make).await);
    }
    if only.is_empty() || only.iter().any(|o| o == "isolation") {
        eprintln!("running isolation (login flood + me_bearer) ...");
        let half = (plan.connections / 2).max(1);
        let b = bearers.clone();
        let me: MakeRequest = Arc::new(move |i, _| {
            request(
                Method::GET,
                &a,
                "/v1/me",
                Some(("authorization", &b[i % b.len()])),
                None,
            )
        });
        let measure_from = Instant::now() + plan.warmup;
        let until = measure_from + plan.duration;
        let flood: Vec<_> = (0..half)
            .map(|i| tokio::spawn(worker(plan.address.clone(), login.clone(), i, measure_from, until)))
            .collect();
        let probes: Vec<_> = (0..half)
            .map(|i| tokio::spawn(worker(plan.address.clone(), me.clone(), i, measure_from, until)))
            .collect();
        results.push(summarise("isolation_me_during_login_flood", plan.duration, probes).await);
        results.push(summarise("isolation_login_flood", plan.duration, flood).await);
    }
    Ok(results)
}
