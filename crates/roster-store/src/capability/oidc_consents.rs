//! Remembered consent to OpenID Connect clients (migration 0028).

/// Implements [`roster_core::store::OidcConsentStore`] for `$store`, whose pools hold `$database` connections.
macro_rules! impl_oidc_consents {
    ($store:ty, $database:ty) => {
        const _: () = {
            use crate::capability::common::write_transaction;
            use crate::codec::{convert_all, from_ms, to_ms};
            use crate::error::store_error;
            use crate::oidc::list_text;
            use async_trait::async_trait;
            use roster_core::UserId;
            use roster_core::journal::Journal;
            use roster_core::store::{OidcConsent, OidcConsentStore, StoreError, StoreResult};

            const GET: &str = "SELECT user_id, client_id, scopes, created_at, updated_at FROM oidc_consents \
                 WHERE user_id = $1 AND client_id = $2";
            const LIST: &str = "SELECT user_id, client_id, scopes, created_at, updated_at FROM oidc_consents \
                 WHERE user_id = $1 ORDER BY client_id";
            const PUT: &str = "INSERT INTO oidc_consents (user_id, client_id, scopes, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (user_id, client_id) \
                 DO UPDATE SET scopes = excluded.scopes, updated_at = excluded.updated_at";
            const DELETE: &str = "DELETE FROM oidc_consents WHERE user_id = $1 AND client_id = $2";
            const DELETE_GRANTS: &str = "DELETE FROM oidc_grants WHERE user_id = $1 AND client_id = $2";

            /// An `oidc_consents` row.
            #[derive(sqlx::FromRow)]
            struct ConsentRow {
                user_id: i64,
                client_id: String,
                scopes: String,
                created_at: i64,
                updated_at: i64,
            }

            impl ConsentRow {
                fn into_consent(self) -> StoreResult<OidcConsent> {
                    let scopes = serde_json::from_str(&self.scopes).map_err(|e| {
                        StoreError::Other(anyhow::anyhow!("stored consent scopes are not a JSON list: {e}"))
                    })?;
                    Ok(OidcConsent {
                        user_id: UserId(self.user_id),
                        client_id: self.client_id,
                        scopes,
                        created_at: from_ms(self.created_at)?,
                        updated_at: from_ms(self.updated_at)?,
                    })
                }
            }

            #[async_trait]
            impl OidcConsentStore for $store {
                async fn get_oidc_consent(&self, user: UserId, client_id: &str) -> StoreResult<Option<OidcConsent>> {
                    let row: Option<ConsentRow> = sqlx::query_as(GET)
                        .bind(user.0)
                        .bind(client_id)
                        .fetch_optional(self.read_pool())
                        .await
                        .map_err(store_error)?;
                    row.map(ConsentRow::into_consent).transpose()
                }

                async fn list_oidc_consents(&self, user: UserId) -> StoreResult<Vec<OidcConsent>> {
                    let rows = sqlx::query_as(LIST)
                        .bind(user.0)
                        .fetch_all(self.read_pool())
                        .await
                        .map_err(store_error)?;
                    convert_all(rows, ConsentRow::into_consent)
                }

                async fn put_oidc_consent(&self, consent: &OidcConsent, journal: &Journal) -> StoreResult<()> {
                    write_transaction!(self, |transaction| {
                        sqlx::query(PUT)
                            .bind(consent.user_id.0)
                            .bind(consent.client_id.as_str())
                            .bind(list_text(&consent.scopes))
                            .bind(to_ms(consent.created_at))
                            .bind(to_ms(consent.updated_at))
                            .execute(&mut *transaction)
                            .await?;
                        Self::write_journal(&mut transaction, journal).await?;
                        Ok(())
                    })?;
                    Ok(())
                }

                async fn delete_oidc_consent(
                    &self,
                    user: UserId,
                    client_id: &str,
                    journal: &Journal,
                ) -> StoreResult<()> {
                    write_transaction!(self, |transaction| {
                        let deleted = sqlx::query(DELETE)
                            .bind(user.0)
                            .bind(client_id)
                            .execute(&mut *transaction)
                            .await?
                            .rows_affected();
                        if deleted == 0 {
                            return Err(StoreError::NotFound.into());
                        }
                        sqlx::query(DELETE_GRANTS)
                            .bind(user.0)
                            .bind(client_id)
                            .execute(&mut *transaction)
                            .await?;
                        Self::write_journal(&mut transaction, journal).await?;
                        Ok(())
                    })?;
                    Ok(())
                }
            }
        };
    };
}
pub(crate) use impl_oidc_consents;
