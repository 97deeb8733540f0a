//! Retention: what a purge deletes and from when, decided here; the store deletes in batches.

use super::Core;
use crate::error::Error;
use crate::store::PurgeKind;
use time::Duration;

/// How long records are kept, and how many a purge deletes per transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// Audit entries are kept this many days (0: for ever).
    pub audit_days: u32,
    /// Outbox events owed to no receiver are kept this many days (0: for ever).
    pub outbox_days: u32,
    /// Delivered webhook deliveries and back-channel logouts are kept this many days (0: for ever).
    pub delivery_days: u32,
    /// Rows deleted per batch (each batch its own transaction).
    pub batch_size: u32,
}

impl Default for RetentionPolicy {
    fn default() -> Self {
        RetentionPolicy {
            audit_days: 365,
            outbox_days: 30,
            delivery_days: 30,
            batch_size: 1000,
        }
    }
}

/// What a purge did (or, dry, would do) to one kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Purged {
    pub kind: PurgeKind,
    /// Rows deleted (dry run: that would be).
    pub rows: u64,
    /// Batches (transactions) it took; 0 on a dry run.
    pub batches: u64,
}

impl Core {
    /// Deletes, kind by kind and in batches of `policy.batch_size` (each its own transaction,
    /// so writers wait at most for one batch), what expired and what is older than the policy
    /// keeps; with `dry_run`, only counts. Expired records go from the moment they expire; a
    /// kind whose days are 0 is kept.
    pub async fn purge(&self, policy: &RetentionPolicy, dry_run: bool) -> Result<Vec<Purged>, Error> {
        let now = self.clock.now();
        let days = |d: u32| (d > 0).then(|| now - Duration::days(i64::from(d)));
        let batch = policy.batch_size.max(1);
        let mut out = Vec::with_capacity(PurgeKind::ALL.len());
        for kind in PurgeKind::ALL {
            let before = match kind {
                PurgeKind::Audit => days(policy.audit_days),
                PurgeKind::Outbox => days(policy.outbox_days),
                PurgeKind::Deliveries | PurgeKind::BackchannelLogouts => days(policy.delivery_days),
                _ => Some(now),
            };
            let Some(before) = before else {
                out.push(Purged {
                    kind,
                    rows: 0,
                    batches: 0,
                });
                continue;
            };
            if dry_run {
                let rows = self.store.count_purgeable(kind, before).await?;
                out.push(Purged { kind, rows, batches: 0 });
                continue;
            }
            let (mut rows, mut batches) = (0, 0);
            loop {
                let deleted = self.store.purge_batch(kind, before, batch).await?;
                if deleted == 0 {
                    break;
                }
                rows += deleted;
                batches += 1;
                if deleted < u64::from(batch) {
                    break;
                }
                // Let the writers that waited for this batch go first.
                tokio::task::yield_now().await;
            }
            if rows > 0 {
                metrics::counter!(crate::telemetry::PURGED, "kind" => kind.as_str()).increment(rows);
            }
            out.push(Purged { kind, rows, batches });
        }
        Ok(out)
    }
}
