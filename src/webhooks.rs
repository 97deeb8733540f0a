//! The webhook delivery worker of `roster serve`: started with the server, stopped with it
//! (the batch in flight finishes, within the shutdown grace time).

use crate::config::Settings;
use roster_core::Core;
use roster_core::service::{DeliveryWorker, HttpTransport};
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;

/// Starts the delivery worker unless `webhook_worker` is off.
pub fn start_worker(
    settings: &Settings,
    core: Arc<Core>,
    stop: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<Option<JoinHandle<()>>> {
    if !settings.webhook_worker {
        tracing::info!("webhook delivery is off on this instance (webhook_worker = false)");
        return Ok(None);
    }
    let transport = HttpTransport::new().map_err(crate::admin::explain)?;
    let worker = DeliveryWorker::new(core, settings.webhooks(), Arc::new(transport));
    Ok(Some(tokio::spawn(worker.run(stop))))
}

/// Waits for the worker (already told to stop) at most `grace`.
pub async fn stop_worker(worker: Option<JoinHandle<()>>, grace: Duration) {
    let Some(worker) = worker else { return };
    match tokio::time::timeout(grace, worker).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::error!(error = %e, "the webhook worker failed"),
        Err(_) => tracing::warn!("webhook deliveries in flight did not finish in time; their claims will lapse"),
    }
}
