//! A webhook receiver on loopback for tests: records every request, and answers as told
//! (a status, or hanging past the sender's timeout), request by request.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How the receiver answers one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// This status at once.
    Status(u16),
    /// No answer for this long (past the sender's timeout), then 200.
    Hang(Duration),
}

/// One request as received.
#[derive(Debug, Clone)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: Bytes,
    pub json: serde_json::Value,
    /// When it arrived.
    pub at: Instant,
    /// What the receiver answered (a hang counts as not acknowledged).
    pub answer: Answer,
}

impl Received {
    /// Whether it was acknowledged with a 2xx.
    pub fn acknowledged(&self) -> bool {
        matches!(self.answer, Answer::Status(s) if (200..300).contains(&s))
    }

    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

#[derive(Debug)]
struct Script {
    /// Answers for the next requests, in order.
    next: VecDeque<Answer>,
    /// The answer when `next` is empty.
    default: Answer,
    /// A delay before every answer.
    delay: Duration,
}

#[derive(Debug)]
struct Shared {
    script: Mutex<Script>,
    received: Mutex<Vec<Received>>,
}

/// A receiver listening on `url`.
pub struct Receiver {
    /// `http://127.0.0.1:PORT/hook`
    pub url: String,
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn hook(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let (answer, delay) = {
        let mut script = shared.script.lock().unwrap();
        let answer = script.next.pop_front().unwrap_or(script.default);
        (answer, script.delay)
    };
    shared.received.lock().unwrap().push(Received {
        json: serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
        headers,
        body,
        at: Instant::now(),
        answer,
    });
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    match answer {
        Answer::Status(s) => StatusCode::from_u16(s).unwrap_or(StatusCode::OK),
        Answer::Hang(d) => {
            tokio::time::sleep(d).await;
            StatusCode::OK
        }
    }
}

impl Receiver {
    /// Starts a receiver answering `default` to every request.
    pub async fn start(default: Answer) -> Receiver {
        Self::start_on("127.0.0.1:0", default).await
    }

    /// Starts a receiver on a given address (e.g. the port of one that was stopped).
    pub async fn start_on(address: &str, default: Answer) -> Receiver {
        let shared = Arc::new(Shared {
            script: Mutex::new(Script {
                next: VecDeque::new(),
                default,
                delay: Duration::ZERO,
            }),
            received: Mutex::new(Vec::new()),
        });
        let listener = tokio::net::TcpListener::bind(address).await.expect("bind the receiver");
        let url = format!("http://{}/hook", listener.local_addr().expect("address"));
        let app = Router::new()
            .route("/hook", axum::routing::post(hook))
            .with_state(shared.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver { url, shared, server }
    }

    /// Answers the next requests with these, in order, then the default again.
    pub fn script(&self, answers: &[Answer]) {
        self.shared.script.lock().unwrap().next.extend(answers.iter().copied());
    }

    /// Changes the default answer.
    pub fn answer(&self, default: Answer) {
        self.shared.script.lock().unwrap().default = default;
    }

    /// Waits this long before every answer.
    pub fn delay(&self, delay: Duration) {
        self.shared.script.lock().unwrap().delay = delay;
    }

    /// Every request so far, in arrival order.
    pub fn received(&self) -> Vec<Received> {
        self.shared.received.lock().unwrap().clone()
    }

    /// The acknowledged requests so far.
    pub fn acknowledged(&self) -> Vec<Received> {
        self.received().into_iter().filter(Received::acknowledged).collect()
    }

    /// Waits until `done` holds for the requests received (checked every 20 ms), at most
    /// `within`; panics with what arrived otherwise.
    pub async fn wait_until(&self, within: Duration, done: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        let deadline = Instant::now() + within;
        loop {
            let received = self.received();
            if done(&received) {
                return received;
            }
            if Instant::now() > deadline {
                let summary: Vec<String> = received
                    .iter()
                    .map(|r| format!("{} {} {:?}", r.json["type"], r.json["id"], r.answer))
                    .collect();
                panic!("the receiver did not get what was expected in {within:?}; got: {summary:#?}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
