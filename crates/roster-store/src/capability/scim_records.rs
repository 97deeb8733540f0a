//! SCIM records of users and groups (migration 0035). A record is written by
//! [`ScimRecordStore::put_scim_record`](roster_core::store::ScimRecordStore::put_scim_record)
//! alone, or with a change of its user or group as part of that change's journal
//! (`write_journal`, in the change's transaction), by the same statement.

use roster_core::store::ScimKind;

/// (table, id column, owner table) of a kind.
pub(crate) fn tables(kind: ScimKind) -> (&'static str, &'static str, &'static str) {
    match kind {
        ScimKind::User => ("scim_users", "user_id", "users"),
        ScimKind::Group => ("scim_groups", "group_id", "groups"),
    }
}

/// Inserts or replaces the record of `$1` (`$2` external id, `$3` attributes, `$4` written at)
/// when its user or group exists: no row written means it does not.
pub(crate) fn upsert_record(kind: ScimKind) -> String {
    let (table, column, owner) = tables(kind);
    format!(
        "INSERT INTO {table} ({column}, external_id, attributes, updated_at) SELECT $1, $2, $3, $4 \
         WHERE EXISTS (SELECT 1 FROM {owner} WHERE id = $1) ON CONFLICT ({column}) DO UPDATE SET \
         external_id = excluded.external_id, attributes = excluded.attributes, updated_at = excluded.updated_at"
    )
}

/// Implements [`roster_core::store::ScimRecordStore`] for `$store`, whose pools hold `$database` connections.
macro_rules! impl_scim_records {
    ($store:ty, $database:ty) => {
        const _: () = {
            use crate::capability::common::write_transaction;
            use crate::capability::scim_records::tables;
            use crate::codec::from_ms;
            use crate::error::store_error;
            use async_trait::async_trait;
            use roster_core::journal::Journal;
            use roster_core::store::{ScimKind, ScimRecord, ScimRecordStore, StoreError, StoreResult};
            use sqlx::QueryBuilder;
            use time::OffsetDateTime;

            type Db = $database;

            fn decode(row: (i64, Option<String>, String, i64)) -> StoreResult<ScimRecord> {
                let attributes = serde_json::from_str(&row.2)
                    .map_err(|e| StoreError::Other(anyhow::anyhow!("a stored SCIM record is not JSON: {e}")))?;
                Ok(ScimRecord {
                    local_id: row.0,
                    external_id: row.1,
                    attributes,
                    updated_at: from_ms(row.3)?,
                })
            }

            #[async_trait]
            impl ScimRecordStore for $store {
                async fn get_scim_records(&self, kind: ScimKind, ids: &[i64]) -> StoreResult<Vec<ScimRecord>> {
                    if ids.is_empty() {
                        return Ok(Vec::new());
                    }
                    let (table, column, _) = tables(kind);
                    let mut records = Vec::with_capacity(ids.len());
                    for chunk in ids.chunks(500) {
                        let mut query = QueryBuilder::<Db>::new(format!(
                            "SELECT {column}, external_id, attributes, updated_at FROM {table} WHERE {column} IN ("
                        ));
                        let mut list = query.separated(", ");
                        for id in chunk {
                            list.push_bind(*id);
                        }
                        query.push(format!(") ORDER BY {column}"));
                        let rows: Vec<(i64, Option<String>, String, i64)> = query
                            .build_query_as()
                            .fetch_all(self.read_pool())
                            .await
                            .map_err(store_error)?;
                        for row in rows {
                            records.push(decode(row)?);
                        }
                    }
                    records.sort_by_key(|r| r.local_id);
                    Ok(records)
                }

                async fn find_scim_external_id(&self, kind: ScimKind, external_id: &str) -> StoreResult<Vec<i64>> {
                    let (table, column, _) = tables(kind);
                    sqlx::query_scalar(&format!(
                        "SELECT {column} FROM {table} WHERE external_id = $1 ORDER BY {column}"
                    ))
                    .bind(external_id)
                    .fetch_all(self.read_pool())
                    .await
                    .map_err(store_error)
                }

                async fn put_scim_record(
                    &self,
                    kind: ScimKind,
                    record: &ScimRecord,
                    at: OffsetDateTime,
                    journal: &Journal,
                ) -> StoreResult<()> {
                    let record = ScimRecord {
                        updated_at: at,
                        ..record.clone()
                    };
                    write_transaction!(self, |transaction| {
                        Self::write_scim_record(&mut transaction, kind, &record).await?;
                        Self::write_journal(&mut transaction, journal).await?;
                        Ok(())
                    })?;
                    Ok(())
                }
            }
        };
    };
}
pub(crate) use impl_scim_records;
