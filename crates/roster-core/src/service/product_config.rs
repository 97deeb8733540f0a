//! A product's run-time configuration: a JSON object its administrators set through the
//! product's own admin routes (Open WebUI's `/auths/admin/config`), shared by every instance
//! (an instance setting named `config.<product>`), each change audited. The dialect owns the
//! fields, their defaults and the rules that read them.

use super::{Actor, Core};
use crate::error::{Error, Result};
use crate::journal::audit::INSTANCE_CONFIG_UPDATE;
use serde_json::{Map, Value};

/// The instance setting a product's configuration is stored under.
fn setting_name(product: &str) -> String {
    format!("config.{product}")
}

impl Core {
    /// The stored configuration of `product` (empty when never set), for the rules that read
    /// it. A stored value that is not a JSON object counts as never set.
    pub async fn product_config(&self, product: &'static str) -> Result<Map<String, Value>> {
        let stored = self.store.get_instance_setting(&setting_name(product)).await?;
        Ok(stored
            .and_then(|text| serde_json::from_str::<Value>(&text).ok())
            .and_then(|value| match value {
                Value::Object(map) => Some(map),
                _ => None,
            })
            .unwrap_or_default())
    }

    /// The stored configuration of `product`, for an administrator.
    pub async fn admin_product_config(&self, actor: &Actor, product: &'static str) -> Result<Map<String, Value>> {
        actor.require_admin()?;
        self.product_config(product).await
    }

    /// Replaces the configuration of `product` (administrators only), audited as
    /// `instance_config.update` with what was stored; returns it.
    pub async fn set_product_config(
        &self,
        actor: &Actor,
        product: &'static str,
        config: Map<String, Value>,
    ) -> Result<Map<String, Value>> {
        actor.require_admin()?;
        let text = serde_json::to_string(&config).map_err(|e| Error::Internal(e.into()))?;
        let journal = self
            .journal(Some(actor.user.id))
            .audit(
                INSTANCE_CONFIG_UPDATE,
                None,
                serde_json::json!({ "product": product, "config": config }),
            )
            .build();
        self.store
            .put_instance_setting(&setting_name(product), &text, self.clock.now(), &journal)
            .await?;
        tracing::info!(product, "product configuration changed");
        Ok(config)
    }
}
