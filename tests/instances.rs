//! Many instances: two `roster serve` processes on one PostgreSQL and one Redis. What one
//! changes the other enforces within a second; the first-admin rule and unique emails hold
//! under registrations racing on both; rate limits and login throttles count across both.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use roster_testkit::process::{ServerProcess, free_port, wait_ready};
use roster_testkit::redis::TestRedis;
use roster_testkit::{Backend, TestDatabase};
use serde_json::{Value, json};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_roster");

fn start(dir: &Path, address: &str, node: &str, db: &TestDatabase, redis: Option<&TestRedis>) -> ServerProcess {
    let mut command = Command::new(BIN);
    command.current_dir(dir).env_clear();
    if let Some(redis) = redis {
        command
            .env("ROSTER_REDIS_URL", &redis.url)
            .env("ROSTER_REDIS_KEY_PREFIX", &redis.prefix);
    }
    let child = command
        .env("RUST_LOG", "warn")
        .env("ROSTER_NODE_ID", node)
        .env("ROSTER_TRUSTED_PROXIES", "127.0.0.1")
        .env("ROSTER_RATE_LIMIT_REGISTER_MAX", "0")
        .env("ROSTER_RATE_LIMIT_LOGIN_MAX", "4")
        .args(["serve", "--listen", address, "--database", &db.url])
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    ServerProcess::new(child)
}

/// A client of both instances; each request comes from a fresh address (through the
/// trusted-proxy header) unless one is given, so per-address limits stay out of the way.
struct Cluster {
    client: reqwest::Client,
    a: String,
    b: String,
    next_ip: AtomicU32,
}

impl Cluster {
    fn base(&self, instance: char) -> &str {
        if instance == 'a' { &self.a } else { &self.b }
    }

    fn fresh_ip(&self) -> String {
        let n = self.next_ip.fetch_add(1, Ordering::Relaxed);
        format!("10.{}.{}.{}", (n >> 16) & 255, (n >> 8) & 255, n & 255)
    }

    async fn send(
        &self,
        instance: char,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        ip: Option<&str>,
    ) -> (u16, Value, reqwest::header::HeaderMap) {
        let ip = ip.map_or_else(|| self.fresh_ip(), str::to_string);
        let mut request = self
            .client
            .request(method, format!("http://{}{path}", self.base(instance)))
            .header("x-forwarded-for", ip);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let r = request.send().await.unwrap();
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let body = r.json().await.unwrap_or(Value::Null);
        (status, body, headers)
    }

    async fn register(&self, instance: char, email: &str) -> (u16, Value) {
        let (status, body, _) = self
            .send(
                instance,
                reqwest::Method::POST,
                "/v1/auth/register",
                None,
                Some(json!({"email": email, "password": "long enough"})),
                None,
            )
            .await;
        (status, body)
    }

    async fn login(&self, instance: char, email: &str, password: &str, ip: Option<&str>) -> (u16, Value) {
        let (status, body, _) = self
            .send(
                instance,
                reqwest::Method::POST,
                "/v1/auth/login",
                None,
                Some(json!({"login": email, "password": password})),
                ip,
            )
            .await;
        (status, body)
    }

    async fn me(&self, instance: char, token: &str) -> u16 {
        self.send(instance, reqwest::Method::GET, "/v1/me", Some(token), None, None)
            .await
            .0
    }

    /// Waits (at most a second) until `/v1/me` on `instance` answers `status` for `token`;
    /// returns how long it took.
    async fn within_a_second(&self, instance: char, token: &str, status: u16) -> Duration {
        let started = Instant::now();
        loop {
            let got = self.me(instance, token).await;
            if got == status {
                return started.elapsed();
            }
            assert!(
                started.elapsed() < Duration::from_secs(1),
                "instance {instance} still answers {got}, not {status}, after a second"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Cluster {
    /// Starts two instances on `db` (and `redis`, if given).
    fn two(dir: &Path, db: &TestDatabase, redis: Option<&TestRedis>) -> (Arc<Cluster>, [ServerProcess; 2]) {
        let (a, b) = (
            format!("127.0.0.1:{}", free_port()),
            format!("127.0.0.1:{}", free_port()),
        );
        let sa = start(dir, &a, "1", db, redis);
        let sb = start(dir, &b, "2", db, redis);
        let cluster = Arc::new(Cluster {
            client: reqwest::Client::new(),
            a,
            b,
            next_ip: AtomicU32::new(1),
        });
        (cluster, [sa, sb])
    }

    async fn ready(&self) {
        wait_ready(&self.a).await;
        wait_ready(&self.b).await;
    }

    /// A request by `token` on `instance`, expecting 2xx; returns the body.
    async fn ok(&self, instance: char, method: reqwest::Method, path: &str, token: &str, body: Option<Value>) -> Value {
        let (status, body, _) = self.send(instance, method, path, Some(token), body, None).await;
        assert!((200..300).contains(&status), "{path}: {status} {body}");
        body
    }

    /// Signs `email` in on `instance`; returns the access token.
    async fn token_of(&self, instance: char, email: &str, password: &str) -> String {
        let (status, body) = self.login(instance, email, password, None).await;
        assert_eq!(status, 200, "{body}");
        token(&body)
    }

    /// Whether `token` now answers `status` on `instance` at once, and within a second on
    /// the other; each instance had answered it from its cache before (see `warm`).
    async fn seen_by_both(&self, changed_on: char, token: &str, status: u16, what: &str) {
        assert_eq!(
            self.me(changed_on, token).await,
            status,
            "{what}: the next request on {changed_on}"
        );
        let other = if changed_on == 'a' { 'b' } else { 'a' };
        let took = self.within_a_second(other, token, status).await;
        eprintln!("{what} on {changed_on} seen by {other} after {took:?}");
    }

    /// Answers `token` on both instances twice (the second from each one's cache).
    async fn warm(&self, token: &str) {
        for instance in ['a', 'b', 'a', 'b'] {
            assert_eq!(self.me(instance, token).await, 200);
        }
    }
}

/// Every change that ends or alters a session or an account, made through one instance, is
/// refused by that instance on the next request and by the other within a second.
async fn every_change_reaches_both_instances(redis: Option<&TestRedis>) {
    let db = roster_testkit::or_skip!(TestDatabase::new(Backend::Postgres).await);
    let dir = tempfile::tempdir().unwrap();
    let (cluster, _servers) = Cluster::two(dir.path(), &db, redis);
    cluster.ready().await;
    let (_, admin) = cluster.register('a', "root@example.org").await;
    let admin = token(&admin);
    let (_, ann) = cluster.register('b', "ann@example.org").await;
    let ann_id = ann["user"]["id"].as_str().unwrap().to_string();
    let user_path = format!("/v1/users/{ann_id}");
    let password = "long enough";
    use reqwest::Method;

    // A session revocation (a sign-out) through A.
    let t = cluster.token_of('a', "ann@example.org", password).await;
    cluster.warm(&t).await;
    cluster.ok('a', Method::POST, "/v1/auth/logout", &t, None).await;
    cluster.seen_by_both('a', &t, 401, "a sign-out").await;

    // An API key revocation through B.
    let t = cluster.token_of('b', "ann@example.org", password).await;
    let key = cluster
        .ok('b', Method::POST, "/v1/me/api-keys", &t, Some(json!({"name": "k"})))
        .await;
    let secret = key["secret"].as_str().unwrap().to_string();
    cluster.warm(&secret).await;
    let key_path = format!("/v1/me/api-keys/{}", key["id"].as_str().unwrap());
    cluster.ok('b', Method::DELETE, &key_path, &t, None).await;
    cluster.seen_by_both('b', &secret, 401, "a key revocation").await;

    // A role change through A: B serves the new role within a second.
    cluster.warm(&t).await;
    cluster
        .ok('a', Method::PATCH, &user_path, &admin, Some(json!({"role": "admin"})))
        .await;
    let (_, me, _) = cluster.send('a', Method::GET, "/v1/me", Some(&t), None, None).await;
    assert_eq!(me["role"], "admin", "the role change on the next request on A");
    let started = Instant::now();
    loop {
        let (_, me, _) = cluster.send('b', Method::GET, "/v1/me", Some(&t), None, None).await;
        if me["role"] == "admin" {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "B still serves the old role"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    cluster
        .ok('b', Method::PATCH, &user_path, &admin, Some(json!({"role": "user"})))
        .await;
    let (status, _, _) = cluster.send('b', Method::GET, "/v1/users", Some(&t), None, None).await;
    assert_eq!(status, 403, "the demotion on the next request on B");

    // A ban by the admin command (another process): both within a second.
    cluster.warm(&t).await;
    admin_command(dir.path(), &db, &["ban-user", "ann@example.org", "60"]);
    for instance in ['a', 'b'] {
        cluster.within_a_second(instance, &t, 403).await;
    }
    admin_command(dir.path(), &db, &["unban-user", "ann@example.org"]);
    for instance in ['a', 'b'] {
        cluster.within_a_second(instance, &t, 200).await;
    }

    // A deactivation through B.
    cluster.warm(&t).await;
    cluster
        .ok('b', Method::PATCH, &user_path, &admin, Some(json!({"active": false})))
        .await;
    cluster.seen_by_both('b', &t, 401, "a deactivation").await;
    cluster
        .ok('a', Method::PATCH, &user_path, &admin, Some(json!({"active": true})))
        .await;

    // A password change through A ends the other sessions.
    let current = cluster.token_of('a', "ann@example.org", password).await;
    let other = cluster.token_of('b', "ann@example.org", password).await;
    cluster.warm(&other).await;
    cluster
        .ok(
            'a',
            Method::POST,
            "/v1/me/password",
            &current,
            Some(json!({"current_password": password, "new_password": "a new password"})),
        )
        .await;
    cluster.seen_by_both('a', &other, 401, "a password change").await;

    // A deletion through B.
    cluster.warm(&current).await;
    cluster.ok('b', Method::DELETE, &user_path, &admin, None).await;
    cluster.seen_by_both('b', &current, 401, "a deletion").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_change_reaches_both_instances_with_redis() {
    let redis = roster_testkit::or_skip!(TestRedis::new().await);
    every_change_reaches_both_instances(Some(&redis)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_change_reaches_both_instances_without_redis() {
    every_change_reaches_both_instances(None).await;
}

fn token(body: &Value) -> String {
    body["access_token"].as_str().unwrap().to_string()
}

fn admin_command(dir: &Path, db: &TestDatabase, args: &[&str]) -> String {
    let out = Command::new(BIN)
        .current_dir(dir)
        .env_clear()
        .args(["--database", &db.url])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_one_postgres_and_one_redis() {
    let db = roster_testkit::or_skip!(TestDatabase::new(Backend::Postgres).await);
    let redis = roster_testkit::or_skip!(TestRedis::new().await);
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (
        format!("127.0.0.1:{}", free_port()),
        format!("127.0.0.1:{}", free_port()),
    );
    let _sa = start(dir.path(), &a, "1", &db, Some(&redis));
    let _sb = start(dir.path(), &b, "2", &db, Some(&redis));
    wait_ready(&a).await;
    wait_ready(&b).await;
    let cluster = Arc::new(Cluster {
        client: reqwest::Client::new(),
        a,
        b,
        next_ip: AtomicU32::new(1),
    });

    // Registrations racing on both instances: one first admin, every email once.
    let racing: Vec<_> = (0..16)
        .map(|i| {
            let cluster = cluster.clone();
            tokio::spawn(async move {
                let instance = if i % 2 == 0 { 'a' } else { 'b' };
                cluster.register(instance, &format!("racer{i}@example.org")).await
            })
        })
        .collect();
    let mut results = Vec::new();
    for task in racing {
        results.push(task.await.unwrap());
    }
    assert!(results.iter().all(|(s, _)| *s == 201), "{results:?}");
    let admins: Vec<&Value> = results
        .iter()
        .map(|(_, b)| b)
        .filter(|b| b["user"]["role"] == "admin")
        .collect();
    assert_eq!(admins.len(), 1, "exactly one first admin: {results:?}");
    let admin_token = token(admins[0]);
    let same: Vec<_> = (0..10)
        .map(|i| {
            let cluster = cluster.clone();
            tokio::spawn(async move {
                let instance = if i % 2 == 0 { 'a' } else { 'b' };
                cluster.register(instance, "Same@Example.org").await.0
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for task in same {
        statuses.push(task.await.unwrap());
    }
    statuses.sort_unstable();
    assert_eq!(statuses, [201, 409, 409, 409, 409, 409, 409, 409, 409, 409]);

    // A deactivation made through A is enforced by B within a second, and the way back.
    let (_, user) = cluster.register('b', "ann@example.org").await;
    let ann_id = user["user"]["id"].as_str().unwrap().to_string();
    let ann_token = token(&user);
    assert_eq!(cluster.me('a', &ann_token).await, 200);
    let patch = |active: bool| json!({ "active": active });
    let path = format!("/v1/users/{ann_id}");
    let (status, _, _) = cluster
        .send(
            'a',
            reqwest::Method::PATCH,
            &path,
            Some(&admin_token),
            Some(patch(false)),
            None,
        )
        .await;
    assert_eq!(status, 200);
    let took = cluster.within_a_second('b', &ann_token, 401).await;
    eprintln!("deactivation on A seen by B after {took:?}");
    let (status, _, _) = cluster
        .send(
            'b',
            reqwest::Method::PATCH,
            &path,
            Some(&admin_token),
            Some(patch(true)),
            None,
        )
        .await;
    assert_eq!(status, 200);
    let (_, fresh) = cluster.login('a', "ann@example.org", "long enough", None).await;
    let ann_token = token(&fresh);
    cluster.within_a_second('b', &ann_token, 200).await;

    // A ban (made by the admin command on the same database) is enforced by both at once.
    admin_command(
        dir.path(),
        &db,
        &["ban-user", "ann@example.org", "60", "--reason", "test"],
    );
    for instance in ['a', 'b'] {
        cluster.within_a_second(instance, &ann_token, 403).await;
        let (status, body) = cluster.login(instance, "ann@example.org", "long enough", None).await;
        assert_eq!((status, body["code"].as_str()), (403, Some("banned")));
    }
    admin_command(dir.path(), &db, &["unban-user", "ann@example.org"]);
    cluster.within_a_second('b', &ann_token, 200).await;

    // A password reset through A ends the sessions B serves and changes the password there.
    let (_, on_b) = cluster.login('b', "ann@example.org", "long enough", None).await;
    let on_b = token(&on_b);
    let printed = admin_command(dir.path(), &db, &["reset-password", "ann@example.org", "--link"]);
    let reset_token = printed
        .split("token=")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    let (status, _, _) = cluster
        .send(
            'a',
            reqwest::Method::POST,
            "/v1/auth/reset-password",
            None,
            Some(json!({"token": reset_token, "new_password": "brand new secret"})),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let took = cluster.within_a_second('b', &on_b, 401).await;
    eprintln!("password reset on A seen by B after {took:?}");
    assert_eq!(cluster.login('b', "ann@example.org", "long enough", None).await.0, 401);
    let (status, fresh) = cluster.login('b', "ann@example.org", "brand new secret", None).await;
    assert_eq!(status, 200);
    let ann_token = token(&fresh);

    // Revocations through A: an API key and a session, both refused by B within a second.
    let (status, key, _) = cluster
        .send(
            'a',
            reqwest::Method::POST,
            "/v1/me/api-keys",
            Some(&ann_token),
            Some(json!({"name": "k"})),
            None,
        )
        .await;
    assert_eq!(status, 201);
    let secret = key["secret"].as_str().unwrap().to_string();
    let key_id = key["id"].as_str().unwrap().to_string();
    cluster.within_a_second('b', &secret, 200).await;
    let (status, _, _) = cluster
        .send(
            'a',
            reqwest::Method::DELETE,
            &format!("/v1/me/api-keys/{key_id}"),
            Some(&ann_token),
            None,
            None,
        )
        .await;
    assert_eq!(status, 204);
    cluster.within_a_second('b', &secret, 401).await;
    let (_, second) = cluster.login('b', "ann@example.org", "brand new secret", None).await;
    let second = token(&second);
    let (_, sessions, _) = cluster
        .send('a', reqwest::Method::GET, "/v1/me/sessions", Some(&second), None, None)
        .await;
    let session_id = sessions
        .as_array()
        .or_else(|| sessions["sessions"].as_array())
        .unwrap()
        .iter()
        .find(|s| s["current"] == true)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, _, _) = cluster
        .send(
            'a',
            reqwest::Method::DELETE,
            &format!("/v1/me/sessions/{session_id}"),
            Some(&ann_token),
            None,
            None,
        )
        .await;
    assert_eq!(status, 204);
    cluster.within_a_second('b', &second, 401).await;
    assert_eq!(cluster.me('b', &ann_token).await, 200);

    // The login rate limit of one address (4 a minute) counts on both instances.
    let ip = "198.51.100.77";
    for instance in ['a', 'b', 'a', 'b'] {
        let (status, _) = cluster.login(instance, "ghost@example.org", "x", Some(ip)).await;
        assert_eq!(status, 401);
    }
    for instance in ['a', 'b'] {
        let (status, body) = cluster.login(instance, "ghost@example.org", "x", Some(ip)).await;
        assert_eq!((status, body["code"].as_str()), (429, Some("rate_limited")));
    }
    // The throttle of an account counts failures on both (5 free; the 6th locks it).
    for i in 0..6 {
        let instance = if i % 2 == 0 { 'a' } else { 'b' };
        let (status, _) = cluster.login(instance, "ann@example.org", "wrong", None).await;
        assert_eq!(status, 401);
    }
    for instance in ['a', 'b'] {
        let (status, _, headers) = cluster
            .send(
                instance,
                reqwest::Method::POST,
                "/v1/auth/login",
                None,
                Some(json!({"login": "ann@example.org", "password": "brand new secret"})),
                None,
            )
            .await;
        assert_eq!(status, 429);
        assert!(headers.contains_key("retry-after"));
    }
    let keys = redis.keys().await;
    assert!(keys.iter().any(|k| k.contains("rate:login:198.51.100.77")), "{keys:?}");
}
