//! The results: one table on standard output, the same as JSON on request.

use crate::load::ScenarioResult;
use crate::{Args, BackendArg};
use serde::Serialize;
use std::time::Duration;

#[derive(Debug, Serialize)]
pub struct Machine {
    pub cores: usize,
    pub memory_mib: u64,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub machine: Machine,
    pub backend: BackendArg,
    pub users: u64,
    pub connections: usize,
    pub duration_seconds: u64,
    pub warmup_seconds: u64,
    pub seed_seconds: f64,
    pub startup_ms: f64,
    /// `roster import-users` of the records asked for, seconds.
    pub import_seconds: Option<f64>,
    pub idle_rss_mib: Option<f64>,
    pub final_rss_mib: Option<f64>,
    pub scenarios: Vec<ScenarioResult>,
    /// `GET /v1/me` throughput as a share of `/healthz` throughput.
    pub me_bearer_over_healthz: Option<f64>,
    pub me_api_key_over_healthz: Option<f64>,
    /// Each dialect route's (and userinfo's) throughput as a share of its native
    /// equivalent's in the same run: `(scenario, native scenario, share)`.
    pub against_native: Vec<(String, String, f64)>,
}

/// The scenarios that have a native equivalent, and that equivalent.
const NATIVE_EQUIVALENTS: &[(&str, &str)] = &[
    ("oidc_userinfo", "me_bearer"),
    ("owui_auths", "me_bearer"),
    ("langflow_whoami", "me_bearer"),
    ("librechat_user", "me_bearer"),
    ("plexichat_me", "me_bearer"),
    ("owui_users_page2", "list_first_page"),
    ("owui_users_deep_page", "list_deep_page"),
    ("langflow_users", "list_first_page"),
    ("owui_users_search", "search_few"),
];

fn memory_mib() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| m.lines().find(|l| l.starts_with("MemTotal:")).map(str::to_string))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse::<u64>().ok()))
        .map(|kib| kib / 1024)
        .unwrap_or(0)
}

impl Report {
    pub fn new(
        args: &Args,
        seed_seconds: f64,
        startup: Duration,
        idle_rss_kib: Option<u64>,
        final_rss_kib: Option<u64>,
        scenarios: Vec<ScenarioResult>,
    ) -> Self {
        let rps = |name: &str| scenarios.iter().find(|s| s.name == name).map(|s| s.rps);
        let ratio = |name: &str| match (rps(name), rps("healthz")) {
            (Some(a), Some(b)) if b > 0.0 => Some(a / b),
            _ => None,
        };
        Self {
            machine: Machine {
                cores: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
                memory_mib: memory_mib(),
            },
            backend: args.backend,
            users: args.users,
            connections: args.connections,
            duration_seconds: args.duration,
            warmup_seconds: args.warmup,
            seed_seconds,
            startup_ms: startup.as_secs_f64() * 1000.0,
            import_seconds: None,
            idle_rss_mib: idle_rss_kib.map(|k| k as f64 / 1024.0),
            final_rss_mib: final_rss_kib.map(|k| k as f64 / 1024.0),
            me_bearer_over_healthz: ratio("me_bearer"),
            me_api_key_over_healthz: ratio("me_api_key"),
            against_native: NATIVE_EQUIVALENTS
                .iter()
                .filter_map(|(name, native)| match (rps(name), rps(native)) {
                    (Some(a), Some(b)) if b > 0.0 => Some((name.to_string(), native.to_string(), a / b)),
                    _ => None,
                })
                .collect(),
            scenarios,
        }
    }

    pub fn print(&self) {
        println!(
            "roster-bench: {:?}, {} users, {} connections, {} s per scenario (+{} s warm-up), {} cores, {} MiB",
            self.backend,
            self.users,
            self.connections,
            self.duration_seconds,
            self.warmup_seconds,
            self.machine.cores,
            self.machine.memory_mib
        );
        println!(
            "{:<34} {:>10} {:>9} {:>9} {:>9} {:>7}",
            "scenario", "req/s", "p50 ms", "p99 ms", "p99.9 ms", "errors"
        );
        for s in &self.scenarios {
            println!(
                "{:<34} {:>10.0} {:>9.2} {:>9.2} {:>9.2} {:>7}",
                s.name, s.rps, s.p50_ms, s.p99_ms, s.p999_ms, s.errors
            );
        }
        let pct = |r: Option<f64>| r.map(|r| format!("{:.0}%", r * 100.0)).unwrap_or_else(|| "-".into());
        println!("me (bearer) / healthz throughput: {}", pct(self.me_bearer_over_healthz));
        println!(
            "me (API key) / healthz throughput: {}",
            pct(self.me_api_key_over_healthz)
        );
        for (name, native, share) in &self.against_native {
            println!("{name} / {native} throughput: {:.0}%", share * 100.0);
        }
        let mib = |m: Option<f64>| m.map(|m| format!("{m:.1} MiB")).unwrap_or_else(|| "-".into());
        println!(
            "seeding: {:.1} s; start-up to ready: {:.0} ms",
            self.seed_seconds, self.startup_ms
        );
        println!(
            "server RSS idle: {}; after load: {}",
            mib(self.idle_rss_mib),
            mib(self.final_rss_mib)
        );
        if let Some(s) = self.import_seconds {
            println!("import-users of the import records: {s:.1} s");
        }
    }
}
