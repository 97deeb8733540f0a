//! The one implementation of [`roster_core::Store`], one file per capability, written once and
//! expanded for each backend by `impl_store!`. Each file holds a macro whose body is a
//! `const _: () = { use ...; impl Capability for $store { ... } };` block, so that it can
//! import what it uses; `type Db = $database;` names the backend's sqlx database.
//!
//! A backend supplies its pools and hooks (`read_pool`, `begin_write`, `lock_admins`,
//! `sequence_outbox`, `probe`, `analyze`, `close_pools`) and constants (`FULL_TEXT_SEARCH`,
//! `SEQUENCES_OUTBOX`, `CLAIM_LOCK`, `SINGLE_DELIVERER`); the SQL text (`sql.rs`, `journal.rs`,
//! `webhooks.rs`, `two_factor.rs`), binding, decoding (`codec.rs`) and error mapping
//! (`error.rs`) are shared. No policy: the core decides, this writes.

pub(crate) mod account_tokens;
pub(crate) mod api_keys;
pub(crate) mod balances;
pub(crate) mod common;
pub(crate) mod features;
pub(crate) mod groups;
pub(crate) mod instance;
pub(crate) mod journal;
pub(crate) mod migration;
pub(crate) mod oidc;
pub(crate) mod oidc_consents;
pub(crate) mod retention;
pub(crate) mod scim_push;
pub(crate) mod scim_records;
pub(crate) mod secrets;
pub(crate) mod sessions;
pub(crate) mod social;
pub(crate) mod two_factor;
pub(crate) mod users;
pub(crate) mod webhooks;

/// Implements [`roster_core::Store`] and every capability for `$store`, whose pools hold
/// `$database` connections.
macro_rules! impl_store {
    ($store:ty, $database:ty) => {
        $crate::capability::common::impl_common!($store, $database);
        $crate::capability::account_tokens::impl_account_tokens!($store, $database);
        $crate::capability::api_keys::impl_api_keys!($store, $database);
        $crate::capability::balances::impl_balances!($store, $database);
        $crate::capability::features::impl_features!($store, $database);
        $crate::capability::groups::impl_groups!($store, $database);
        $crate::capability::instance::impl_instance!($store, $database);
        $crate::capability::journal::impl_journal!($store, $database);
        $crate::capability::migration::impl_migration!($store, $database);
        $crate::capability::oidc::impl_oidc!($store, $database);
        $crate::capability::oidc_consents::impl_oidc_consents!($store, $database);
        $crate::capability::retention::impl_retention!($store, $database);
        $crate::capability::scim_records::impl_scim_records!($store, $database);
        $crate::capability::scim_push::impl_scim_push!($store, $database);
        $crate::capability::secrets::impl_secrets!($store, $database);
        $crate::capability::sessions::impl_sessions!($store, $database);
        $crate::capability::social::impl_social!($store, $database);
        $crate::capability::two_factor::impl_two_factor!($store, $database);
        $crate::capability::users::impl_users!($store, $database);
        $crate::capability::webhooks::impl_webhooks!($store, $database);

        const _: () = {
            use crate::error::store_error;
            use roster_core::store::StoreResult;

            #[async_trait::async_trait]
            impl roster_core::Store for $store {
                async fn ping(&self) -> StoreResult<()> {
                    self.probe().await.map_err(store_error)
                }

                async fn close(&self) {
                    self.close_pools().await;
                }

                fn changes(&self) -> std::sync::Arc<roster_core::store::AuthChanges> {
                    self.changes.clone()
                }

                fn watch_changes(&self) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'static>> {
                    Box::pin(self.change_watcher())
                }

                fn pool_stats(&self) -> Vec<roster_core::store::PoolStats> {
                    self.pools()
                        .into_iter()
                        .map(|(pool, p, waiting)| roster_core::store::PoolStats {
                            pool,
                            size: p.size(),
                            idle: u32::try_from(p.num_idle()).unwrap_or(u32::MAX),
                            waiting: waiting.now(),
                            max: p.options().get_max_connections(),
                        })
                        .collect()
                }
            }
        };
    };
}
pub(crate) use impl_store;
