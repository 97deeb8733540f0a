//! What `roster serve` tells its operator: the log (text or JSON lines), the Prometheus
//! recorder behind `/metrics`, the interval that refreshes the gauges read from the database,
//! and the separate metrics listener (`metrics_listen`). See docs/operations.md.

use crate::config::Settings;
use anyhow::Context;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use roster_core::Core;
use roster_core::telemetry as t;
use std::sync::Arc;
use std::time::Duration;
use tracing_subscriber::EnvFilter;

/// Latency buckets of HTTP requests and of the password hasher's queue, seconds.
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// How often the recorder's histograms are maintained.
const UPKEEP: Duration = Duration::from_secs(5);

/// Installs the log subscriber: `RUST_LOG` or `log` filters; `log_format` says text or JSON
/// (one object per line, the event's fields at the top level).
pub fn init_logging(settings: &Settings) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&settings.log));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    if settings.log_format.trim() == "json" {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .init();
    } else {
        builder.init();
    }
}

/// Installs the Prometheus recorder (None when `metrics` is off) and describes every metric.
pub fn install_recorder(settings: &Settings) -> anyhow::Result<Option<PrometheusHandle>> {
    if !settings.metrics {
        return Ok(None);
    }
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Full(t::HTTP_DURATION.into()), LATENCY_BUCKETS)
        .and_then(|b| b.set_buckets_for_metric(Matcher::Full(t::HASHER_WAIT.into()), LATENCY_BUCKETS))
        .context("configuring the metrics")?
        .install_recorder()
        .context("installing the metrics recorder")?;
    describe();
    Ok(Some(handle))
}

/// The HELP text of every metric.
fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        t::HTTP_REQUESTS,
        "HTTP requests by route template, dialect, method and status."
    );
    describe_histogram!(
        t::HTTP_DURATION,
        Unit::Seconds,
        "HTTP request latency by route template, dialect and method."
    );
    describe_counter!(t::LOGINS, "Sign-ins by method and outcome.");
    describe_counter!(
        t::LIMIT_HITS,
        "Requests refused by a rate limit or a login throttle, by limit."
    );
    describe_gauge!(t::HASHER_QUEUE, "Password hashing jobs waiting for a hasher thread.");
    describe_histogram!(
        t::HASHER_WAIT,
        Unit::Seconds,
        "How long password hashing jobs waited for a hasher thread."
    );
    describe_gauge!(
        t::DB_CONNECTIONS,
        "Database connections by pool and state (in_use, idle, waiting: acquisitions waiting for a connection)."
    );
    describe_gauge!(t::DB_CONNECTIONS_MAX, "The most connections each database pool opens.");
    describe_gauge!(
        t::OUTBOX_UNQUEUED,
        "Outbox events not yet queued for some webhook subscription."
    );
    describe_gauge!(
        t::DELIVERIES_PENDING,
        "Deliveries queued and not yet delivered or given up."
    );
    describe_gauge!(
        t::OUTBOX_OLDEST_AGE,
        Unit::Seconds,
        "Age of the oldest event a receiver is still owed (0: none)."
    );
    describe_counter!(t::DELIVERIES, "Delivery attempts by kind and outcome.");
    describe_counter!(t::PURGED, "Rows deleted by retention's purges, by kind.");
    describe_gauge!(t::USERS, "Users by role and status, as of the last refresh.");
    describe_gauge!(
        t::GAUGES_REFRESHED,
        "When the gauges read from the database were last refreshed (Unix seconds)."
    );
}

/// Refreshes the database gauges every `metrics_refresh_seconds` (at once first) and keeps the
/// recorder's histograms maintained, until `stop`.
pub fn start_refresh(
    settings: &Settings,
    core: Arc<Core>,
    handle: PrometheusHandle,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let every = Duration::from_secs(settings.metrics_refresh_seconds);
    tokio::spawn(async move {
        let mut refresh = tokio::time::interval(every);
        let mut upkeep = tokio::time::interval(UPKEEP);
        refresh.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = refresh.tick() => {
                    if let Err(e) = core.refresh_database_gauges().await {
                        tracing::warn!(error = %e, "could not refresh the metrics read from the database");
                    }
                }
                _ = upkeep.tick() => handle.run_upkeep(),
                changed = stop.changed() => {
                    if changed.is_err() || *stop.borrow() {
                        return;
                    }
                }
            }
        }
    });
}

/// Serves `/metrics` alone on `address` until `stop`.
pub async fn serve_metrics(
    address: &str,
    state: roster_http::AppState,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(address.trim())
        .await
        .with_context(|| format!("cannot listen on {address} (metrics_listen)"))?;
    tracing::info!(address = %listener.local_addr()?, "metrics are served on their own address");
    let app = roster_http::metrics_app(state);
    tokio::spawn(async move {
        let shutdown = async move {
            let _ = stop.wait_for(|s| *s).await;
        };
        if let Err(e) = axum::serve(listener, app).with_graceful_shutdown(shutdown).await {
            tracing::error!(error = %e, "the metrics listener failed");
        }
    });
    Ok(())
}
