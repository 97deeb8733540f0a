//! `roster serve`: open the store, build the core, listen, and shut down gracefully.

use crate::config::Settings;
use anyhow::Context;
use roster_core::{Core, Store, SystemClock};
use roster_http::AppState;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// Opens the database the settings name (creating the data directory, applying migrations)
/// and builds the core over it: the same for the server and for every admin command.
pub async fn build_core(settings: &Settings) -> anyhow::Result<(Arc<dyn Store>, Core)> {
    std::fs::create_dir_all(&settings.data_dir)
        .with_context(|| format!("cannot create the data directory {}", settings.data_dir.display()))?;
    let url = settings.database_url();
    // With Redis configured, the credential cache's changes travel through it (PostgreSQL;
    // SQLite's servers poll the file's change count).
    let redis = match &settings.redis_url {
        Some(redis_url) => Some(roster_store::RedisChanges::new(redis_url, &settings.redis_key_prefix)?),
        None => None,
    };
    let store = roster_store::open_with(&url, redis)
        .await
        .context("cannot open the database")?;
    let mut config = settings.core()?;
    config.secret_key = Some(settings.secret_key()?);
    // An internal error at start-up (such as a secret key that does not match the
    // database's) is shown with its reason.
    let core = Core::new(store.clone(), Arc::new(SystemClock), config)
        .await
        .map_err(|e| match e {
            roster_core::Error::Internal(reason) => reason,
            other => other.into(),
        })?;
    Ok((store, core))
}

/// Runs the server until SIGINT or SIGTERM.
pub async fn run(settings: Settings) -> anyhow::Result<()> {
    crate::observe::init_logging(&settings);
    // Before the core: handles made before the recorder is installed would count nothing.
    let recorder = crate::observe::install_recorder(&settings)?;

    let (store, core) = build_core(&settings).await?;
    let url = settings.database_url();
    let core = Arc::new(core);
    // The credential cache's change watcher; it ends when the store closes.
    tokio::spawn(core.watch_changes());
    let mut state = AppState::new(core.clone(), settings.http());
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    if let Some(handle) = &recorder {
        crate::observe::start_refresh(&settings, core.clone(), handle.clone(), stop_rx.clone());
        if settings.metrics_listen.trim().is_empty() {
            state = state.with_metrics(handle.clone());
        } else {
            let metrics_state = state.clone().with_metrics(handle.clone());
            crate::observe::serve_metrics(&settings.metrics_listen, metrics_state, stop_rx.clone()).await?;
        }
    }
    if let Some(url) = &settings.redis_url {
        tracing::info!(redis = %redact(url), "rate limits, and on PostgreSQL the cache's changes, are shared through Redis");
    }

    let listener = TcpListener::bind(&settings.listen)
        .await
        .with_context(|| format!("cannot listen on {}", settings.listen))?;
    tracing::info!(address = %listener.local_addr()?, backend = ?roster_store::backend_of(&url)?, "roster is listening");

    let mut server_stop = stop_rx.clone();
    let server = tokio::spawn(async move {
        roster_http::server::serve(listener, state, async move {
            let _ = server_stop.wait_for(|stop| *stop).await;
        })
        .await
    });

    start_purges(&settings, core.clone(), stop_rx.clone());
    let worker = crate::webhooks::start_worker(&settings, core, stop_rx.clone())?;

    shutdown_signal().await;
    tracing::info!(
        grace_seconds = settings.shutdown_grace_seconds,
        "shutting down: no new connections"
    );
    let _ = stop_tx.send(true);
    match tokio::time::timeout(Duration::from_secs(settings.shutdown_grace_seconds), server).await {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(e))) => tracing::error!(error = %e, "server error"),
        Ok(Err(e)) => tracing::error!(error = %e, "server task failed"),
        Err(_) => tracing::warn!("in-flight requests did not finish in time; closing anyway"),
    }
    crate::webhooks::stop_worker(worker, Duration::from_secs(settings.shutdown_grace_seconds)).await;
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// Purges what retention no longer keeps every `purge_interval_minutes` (the first time a
/// minute after start), until `stop`; nothing when the interval is 0.
fn start_purges(settings: &Settings, core: Arc<Core>, mut stop: tokio::sync::watch::Receiver<bool>) {
    if settings.purge_interval_minutes == 0 {
        return;
    }
    let policy = settings.retention();
    let every = Duration::from_secs(settings.purge_interval_minutes * 60);
    tokio::spawn(async move {
        let mut next = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            tokio::select! {
                () = tokio::time::sleep_until(next) => {
                    match core.purge(&policy, false).await {
                        Ok(purged) => {
                            let rows: u64 = purged.iter().map(|p| p.rows).sum();
                            if rows > 0 {
                                let kinds: Vec<String> = purged
                                    .iter()
                                    .filter(|p| p.rows > 0)
                                    .map(|p| format!("{}={}", p.kind.as_str(), p.rows))
                                    .collect();
                                tracing::info!(rows, kinds = %kinds.join(","), "purged what retention no longer keeps");
                            }
                        }
                        Err(e) => tracing::warn!(error = %e, "the retention purge failed; trying again later"),
                    }
                    next = tokio::time::Instant::now() + every;
                }
                changed = stop.changed() => {
                    if changed.is_err() || *stop.borrow() {
                        return;
                    }
                }
            }
        }
    });
}

async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
}

/// A URL without its password, for logs.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => format!("{}://***{}", &url[..scheme], &url[at..]),
        _ => url.to_string(),
    }
}
