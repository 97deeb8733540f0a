//! Users' synced settings and tiers (migration 0018).

/// Implements [`roster_core::store::UserSettingStore`] and [`roster_core::store::TierStore`]
/// for `$store`, whose pools hold `$database` connections.
macro_rules! impl_features {
    ($store:ty, $database:ty) => {
        const _: () = {
            use crate::capability::common::write_transaction;
            use crate::codec::{check_text, to_ms};
            use crate::error::store_error;
            use crate::features::{self as sql, AssignmentRow, TierRow, UserSettingRow};
            use async_trait::async_trait;
            use roster_core::UserId;
            use roster_core::journal::Journal;
            use roster_core::store::{StoreError, StoreResult, TierStore, UserSettingStore};
            use roster_core::tier::{Tier, TierAssignment, TierLimits, UserSetting};
            use sqlx::types::Json;
            use time::OffsetDateTime;

            #[async_trait]
            impl UserSettingStore for $store {
                async fn list_user_settings(&self, user: UserId) -> StoreResult<Vec<UserSetting>> {
                    let rows: Vec<UserSettingRow> = sqlx::query_as(sql::LIST_USER_SETTINGS)
                        .bind(user.0)
                        .fetch_all(self.read_pool())
                        .await
                        .map_err(store_error)?;
                    rows.into_iter().map(UserSettingRow::into_setting).collect()
                }

                async fn get_user_setting(&self, user: UserId, key: &str) -> StoreResult<Option<UserSetting>> {
                    let row: Option<UserSettingRow> = sqlx::query_as(sql::GET_USER_SETTING)
                        .bind(user.0)
                        .bind(key)
                        .fetch_optional(self.read_pool())
                        .await
                        .map_err(store_error)?;
                    row.map(UserSettingRow::into_setting).transpose()
                }

                async fn put_user_settings(
                    &self,
                    user: UserId,
                    settings: &[(String, String)],
                    max_keys: usize,
                    at: OffsetDateTime,
                    journal: &Journal,
                ) -> StoreResult<Option<Vec<UserSetting>>> {
                    for (key, value) in settings {
                        check_text("key", key)?;
                        check_text("value", value)?;
                    }
                    let rows = write_transaction!(self, |transaction| {
                        // Serialises the writers of one user's settings (the count below).
                        let locked = sqlx::query(crate::sql::LOCK_USER_FOR_SETTINGS)
                            .bind(user.0)
                            .execute(&mut *transaction)
                            .await?
                            .rows_affected();
                        if locked == 0 {
                            return Err(StoreError::NotFound.into());
                        }
                        let mut names: std::collections::BTreeSet<String> = sqlx::query_scalar(sql::USER_SETTING_NAMES)
                            .bind(user.0)
                            .fetch_all(&mut *transaction)
                            .await?
                            .into_iter()
                            .collect();
                        names.extend(settings.iter().map(|(key, _)| key.clone()));
                        if names.len() > max_keys {
                            return Ok(None);
                        }
                        let mut stored = Vec::with_capacity(settings.len());
                        for (key, value) in settings {
                            let row: UserSettingRow = sqlx::query_as(sql::PUT_USER_SETTING)
                                .bind(user.0)
                                .bind(key)
                                .bind(value)
                                .bind(to_ms(at))
                                .fetch_one(&mut *transaction)
                                .await?;
                            stored.push(row);
                        }
                        Self::write_journal(&mut transaction, journal).await?;
                        Ok(Some(stored))
                    })?;
                    rows.map(|rows| rows.into_iter().map(UserSettingRow::into_setting).collect())
                        .transpose()
                }

                async fn delete_user_setting(&self, user: UserId, key: &str, journal: &Journal) -> StoreResult<bool> {
                    let query = sqlx::query(sql::DELETE_USER_SETTING).bind(user.0).bind(key);
                    Ok(self.write_rows_journaled(query, journal).await? > 0)
                }
            }

            #[async_trait]
            impl TierStore for $store {
                async fn list_tiers(&self) -> StoreResult<Vec<Tier>> {
                    let rows: Vec<TierRow> = sqlx::query_as(sql::LIST_TIERS)
                        .fetch_all(self.read_pool())
                        .await
                        .map_err(store_error)?;
                    rows.into_iter().map(TierRow::into_tier).collect()
                }

                async fn get_tier(&self, name: &str) -> StoreResult<Option<Tier>> {
                    let row: Option<TierRow> = sqlx::query_as(sql::GET_TIER)
                        .bind(name)
                        .fetch_optional(self.read_pool())
                        .await
                        .map_err(store_error)?;
                    row.map(TierRow::into_tier).transpose()
                }

                async fn default_tier(&self) -> StoreResult<Option<Tier>> {
                    let row: Option<TierRow> = sqlx::query_as(sql::DEFAULT_TIER)
                        .fetch_optional(self.read_pool())
                        .await
                        .map_err(store_error)?;
                    row.map(TierRow::into_tier).transpose()
                }

                async fn put_tier(
                    &self,
                    name: &str,
                    limits: Option<&TierLimits>,
                    make_default: bool,
                    at: OffsetDateTime,
                    journal: &Journal,
                ) -> StoreResult<Tier> {
                    check_text("name", name)?;
                    if let Some(limits) = limits {
                        for key in limits.keys() {
                            check_text("limits", key)?;
                        }
                    }
                    let row = write_transaction!(self, |transaction| {
                        match limits {
                            Some(limits) => {
                                sqlx::query(sql::UPSERT_TIER)
                                    .bind(name)
                                    .bind(Json(limits))
                                    .bind(to_ms(at))
                                    .execute(&mut *transaction)
                                    .await?;
                            }
                            None => {
                                let touched = sqlx::query(sql::TOUCH_TIER)
                                    .bind(name)
                                    .bind(to_ms(at))
                                    .execute(&mut *transaction)
                                    .await?
                                    .rows_affected();
                                if touched == 0 {
                                    return Err(StoreError::NotFound.into());
                                }
                            }
                        }
                        if make_default {
                            sqlx::query(sql::CLEAR_OTHER_DEFAULT)
                                .bind(name)
                                .execute(&mut *transaction)
                                .await?;
                            sqlx::query(sql::MAKE_DEFAULT)
                                .bind(name)
                                .execute(&mut *transaction)
                                .await?;
                        }
                        let row: TierRow = sqlx::query_as(sql::GET_TIER)
                            .bind(name)
                            .fetch_one(&mut *transaction)
                            .await?;
                        Self::write_journal(&mut transaction, journal).await?;
                        Ok(row)
                    })?;
                    row.into_tier()
                }

                async fn delete_tier(&self, name: &str, journal: &Journal) -> StoreResult<bool> {
                    let deleted = write_transaction!(self, |transaction| {
                        let deleted = sqlx::query(sql::DELETE_TIER)
                            .bind(name)
                            .execute(&mut *transaction)
                            .await?
                            .rows_affected();
                        if deleted == 0 {
                            let exists: i64 = sqlx::query_scalar(sql::COUNT_TIER)
                                .bind(name)
                                .fetch_one(&mut *transaction)
                                .await?;
                            if exists > 0 {
                                return Err(StoreError::Conflict { field: "default" }.into());
                            }
                            return Ok(false);
                        }
                        Self::write_journal(&mut transaction, journal).await?;
                        Ok(true)
                    })?;
                    Ok(deleted)
                }

                async fn get_tier_assignment(&self, user: UserId) -> StoreResult<Option<TierAssignment>> {
                    let row: Option<AssignmentRow> = sqlx::query_as(sql::GET_ASSIGNMENT)
                        .bind(user.0)
                        .fetch_optional(self.read_pool())
                        .await
                        .map_err(store_error)?;
                    row.map(AssignmentRow::into_assignment).transpose()
                }

                async fn put_tier_assignment(
                    &self,
                    assignment: &TierAssignment,
                    journal: &Journal,
                ) -> StoreResult<bool> {
                    if let Some(notes) = &assignment.notes {
                        check_text("notes", notes)?;
                    }
                    check_text("tier", &assignment.tier)?;
                    let stored = write_transaction!(self, |transaction| {
                        let locked = sqlx::query(crate::sql::LOCK_USER_FOR_SETTINGS)
                            .bind(assignment.user_id.0)
                            .execute(&mut *transaction)
                            .await?
                            .rows_affected();
                        if locked == 0 {
                            return Err(StoreError::NotFound.into());
                        }
                        let tiers: i64 = sqlx::query_scalar(sql::COUNT_TIER)
                            .bind(&assignment.tier)
                            .fetch_one(&mut *transaction)
                            .await?;
                        if tiers == 0 {
                            return Ok(false);
                        }
                        sqlx::query(sql::PUT_ASSIGNMENT)
                            .bind(assignment.user_id.0)
                            .bind(&assignment.tier)
                            .bind(assignment.expires_at.map(to_ms))
                            .bind(assignment.granted_by.map(|u| u.0))
                            .bind(to_ms(assignment.granted_at))
                            .bind(assignment.notes.as_deref())
                            .execute(&mut *transaction)
                            .await?;
                        Self::write_journal(&mut transaction, journal).await?;
                        Ok(true)
                    })?;
                    Ok(stored)
                }

                async fn delete_tier_assignment(&self, user: UserId, journal: &Journal) -> StoreResult<bool> {
                    let query = sqlx::query(sql::DELETE_ASSIGNMENT).bind(user.0);
                    Ok(self.write_rows_journaled(query, journal).await? > 0)
                }
            }
        };
    };
}
pub(crate) use impl_features;
