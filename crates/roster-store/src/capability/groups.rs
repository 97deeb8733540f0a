//! Groups, their members, and permission templates.

/// Implements [`roster_core::store::GroupStore`] for `$store`, whose pools hold `$database` connections.
macro_rules! impl_groups {
    ($store:ty, $database:ty) => {
        const _: () = {
            use crate::capability::common::write_transaction;
            use crate::codec::{GroupOfUserRow, GroupRow, convert_all, to_ms};
            use crate::error::{TransactionError, store_error};
            use crate::sql;
            use async_trait::async_trait;
            use roster_core::journal::Journal;
            use roster_core::store::{Group, GroupStore, StoreError, StoreResult};
            use roster_core::{GroupId, UserId};
            use sqlx::Transaction;
            use sqlx::types::Json;
            use time::OffsetDateTime;

            type Db = $database;

            /// At most this many ids in one `IN (...)` list.
            const IDS_PER_STATEMENT: usize = 1000;

            impl $store {
                /// The rows of `head IN (ids) tail`, run once per chunk of at most
                /// [`IDS_PER_STATEMENT`] ids, in chunk order.
                async fn fetch_in_id_chunks<R>(&self, head: &str, ids: &[i64], tail: &str) -> StoreResult<Vec<R>>
                where
                    R: for<'r> sqlx::FromRow<'r, <Db as sqlx::Database>::Row> + Send + Unpin,
                {
                    let mut rows = Vec::new();
                    for chunk in ids.chunks(IDS_PER_STATEMENT) {
                        let mut query = sqlx::QueryBuilder::<Db>::new(head);
                        query.push(" IN (");
                        let mut list = query.separated(", ");
                        for id in chunk {
                            list.push_bind(*id);
                        }
                        query.push(")");
                        query.push(tail);
                        let chunk_rows: Vec<R> = query
                            .build_query_as()
                            .fetch_all(self.read_pool())
                            .await
                            .map_err(store_error)?;
                        rows.extend(chunk_rows);
                    }
                    Ok(rows)
                }

                /// Inserts a group's row inside `transaction`.
                async fn insert_group_row(
                    transaction: &mut Transaction<'static, Db>,
                    group: &Group,
                ) -> Result<(), TransactionError> {
                    sqlx::query(sql::INSERT_GROUP)
                        .bind(group.id.0)
                        .bind(&group.name)
                        .bind(&group.description)
                        .bind(Json(&group.permissions))
                        .bind(group.created_by.map(|u| u.0))
                        .bind(to_ms(group.created_at))
                        .bind(to_ms(group.updated_at))
                        .execute(&mut **transaction)
                        .await?;
                    Ok(())
                }

                /// Writes a group's name, description, permissions and `updated_at` inside
                /// `transaction`; NotFound if it does not exist.
                async fn update_group_row(
                    transaction: &mut Transaction<'static, Db>,
                    group: &Group,
                ) -> Result<(), TransactionError> {
                    let updated = sqlx::query(sql::UPDATE_GROUP)
                        .bind(group.id.0)
                        .bind(&group.name)
                        .bind(&group.description)
                        .bind(Json(&group.permissions))
                        .bind(to_ms(group.updated_at))
                        .execute(&mut **transaction)
                        .await?
                        .rows_affected();
                    if updated == 0 {
                        return Err(StoreError::NotFound.into());
                    }
                    Ok(())
                }

                /// Adds users to a group inside `transaction` (members already in it are left
                /// alone); NotFound at the first user that does not exist.
                async fn insert_group_member_rows(
                    transaction: &mut Transaction<'static, Db>,
                    group: GroupId,
                    users: &[UserId],
                    at: OffsetDateTime,
                ) -> Result<(), TransactionError> {
                    for user in users {
                        let found: i64 = sqlx::query_scalar(sql::COUNT_USERS_WITH_ID)
                            .bind(user.0)
                            .fetch_one(&mut **transaction)
                            .await?;
                        if found == 0 {
                            return Err(StoreError::NotFound.into());
                        }
                        sqlx::query(sql::INSERT_GROUP_MEMBER)
                            .bind(group.0)
                            .bind(user.0)
                            .bind(to_ms(at))
                            .execute(&mut **transaction)
                            .await?;
                    }
                    Ok(())
                }

                /// Removes users from a group inside `transaction`; how many were members.
                async fn delete_group_member_rows(
                    transaction: &mut Transaction<'static, Db>,
                    group: GroupId,
                    users: &[UserId],
                ) -> Result<u64, TransactionError> {
                    let mut removed = 0;
                    for user in users {
                        removed += sqlx::query(sql::DELETE_GROUP_MEMBER)
                            .bind(group.0)
                            .bind(user.0)
                            .execute(&mut **transaction)
                            .await?
                            .rows_affected();
                    }
                    Ok(removed)
                }
            }

            #[async_trait]
            impl GroupStore for $store {
                async fn insert_group(&self, group: &Group, journal: &Journal) -> StoreResult<()> {
                    write_transaction!(self, |transaction| {
                        Self::insert_group_row(&mut transaction, group).await?;
                        Self::write_journal(&mut transaction, journal).await?;
                        Ok(())
                    })
                    .map_err(Into::into)
                }

                async fn get_group(&self, id: GroupId) -> StoreResult<Group> {
                    let row: GroupRow = sqlx::query_as(sql::GET_GROUP)
                        .bind(id.0)
                        .fetch_one(self.read_pool())
                        .await
                        .map_err(store_error)?;
                    row.into_group()
                }

                async fn list_groups(&self) -> StoreResult<Vec<Group>> {
                    let rows = sqlx::query_as(sql::LIST_GROUPS)
                        .fetch_all(self.read_pool())
                        .await
                        .map_err(store_error)?;
                    convert_all(rows, GroupRow::into_group)
                }

                async fn update_group(&self, group: &Group, journal: &Journal) -> StoreResult<()> {
                    write_transaction!(self, |transaction| {
                        Self::update_group_row(&mut transaction, group).await?;
                        Self::write_journal(&mut transaction, journal).await?;
                        Ok(())
                    })
                    .map_err(Into::into)
                }

                async fn delete_group(&self, id: GroupId, journal: &Journal) -> StoreResult<()> {
                    self.write_one_row(sqlx::query(sql::DELETE_GROUP).bind(id.0), journal)
                        .await
                }

                async fn add_group_members(
                    &self,
                    group: GroupId,
                    users: &[UserId],
                    at: OffsetDateTime,
                    journal: &Journal,
                ) -> StoreResult<()> {
                    write_transaction!(self, |transaction| {
                        let groups: i64 = sqlx::query_scalar(sql::COUNT_GROUPS_WITH_ID)
                            .bind(group.0)
                            .fetch_one(&mut *transaction)
                            .await?;
                        if groups == 0 {
                            return Err(StoreError::NotFound.into());
                        }
                        Self::insert_group_member_rows(&mut transaction, group, users, at).await?;
                        Self::write_journal(&mut transaction, journal).await?;
                        Ok(())
                    })
                    .map_err(Into::into)
                }

                async fn remove_group_members(
                    &self,
                    group: GroupId,
                    users: &[UserId],
                    journal: &Journal,
                ) -> StoreResult<u64> {
                    write_transaction!(self, |transaction| {
                        let removed = Self::delete_group_member_rows(&mut transaction, group, users).await?;
                        if removed > 0 {
                            Self::write_journal(&mut transaction, journal).await?;
                        }
                        Ok(removed)
                    })
                    .map_err(Into::into)
                }

                async fn list_group_members(&self, group: GroupId) -> StoreResult<Vec<UserId>> {
                    let ids: Vec<i64> = sqlx::query_scalar(sql::LIST_GROUP_MEMBERS)
                        .bind(group.0)
                        .fetch_all(self.read_pool())
                        .await
                        .map_err(store_error)?;
                    Ok(ids.into_iter().map(UserId).collect())
                }

                async fn list_groups_of_user(&self, user: UserId) -> StoreResult<Vec<Group>> {
                    let rows = sqlx::query_as(sql::LIST_GROUPS_OF_USER)
                        .bind(user.0)
                        .fetch_all(self.read_pool())
                        .await
                        .map_err(store_error)?;
                    convert_all(rows, GroupRow::into_group)
                }

                async fn list_members_of_groups(&self, groups: &[GroupId]) -> StoreResult<Vec<(GroupId, UserId)>> {
                    let ids: Vec<i64> = groups.iter().map(|group| group.0).collect();
                    let rows: Vec<(i64, i64)> = self
                        .fetch_in_id_chunks(
                            "SELECT group_id, user_id FROM group_members WHERE group_id",
                            &ids,
                            " ORDER BY group_id, user_id",
                        )
                        .await?;
                    let mut pairs: Vec<_> = rows
                        .into_iter()
                        .map(|(group, user)| (GroupId(group), UserId(user)))
                        .collect();
                    pairs.sort_unstable();
                    Ok(pairs)
                }

                async fn list_groups_of_users(&self, users: &[UserId]) -> StoreResult<Vec<(UserId, Group)>> {
                    // Sorted and without repeats, the chunks are disjoint and come back in user order.
                    let mut ids: Vec<i64> = users.iter().map(|user| user.0).collect();
                    ids.sort_unstable();
                    ids.dedup();
                    let rows: Vec<GroupOfUserRow> = self
                        .fetch_in_id_chunks(
                            sql::LIST_GROUPS_OF_USERS_HEAD,
                            &ids,
                            sql::LIST_GROUPS_OF_USERS_TAIL,
                        )
                        .await?;
                    convert_all(rows, GroupOfUserRow::into_pair)
                }

                async fn write_group_with_members(
                    &self,
                    group: &Group,
                    create: bool,
                    add: &[UserId],
                    remove: &[UserId],
                    journal: &Journal,
                ) -> StoreResult<()> {
                    write_transaction!(self, |transaction| {
                        if create {
                            Self::insert_group_row(&mut transaction, group).await?;
                        } else {
                            Self::update_group_row(&mut transaction, group).await?;
                        }
                        Self::insert_group_member_rows(&mut transaction, group.id, add, group.updated_at).await?;
                        Self::delete_group_member_rows(&mut transaction, group.id, remove).await?;
                        Self::write_journal(&mut transaction, journal).await?;
                        Ok(())
                    })
                    .map_err(Into::into)
                }

                async fn get_permission_template(&self, name: &str) -> StoreResult<Option<serde_json::Value>> {
                    let row: Option<Json<serde_json::Value>> = sqlx::query_scalar(sql::GET_PERMISSION_TEMPLATE)
                        .bind(name)
                        .fetch_optional(self.read_pool())
                        .await
                        .map_err(store_error)?;
                    Ok(row.map(|json| json.0))
                }

                async fn put_permission_template(
                    &self,
                    name: &str,
                    permissions: &serde_json::Value,
                    at: OffsetDateTime,
                    journal: &Journal,
                ) -> StoreResult<()> {
                    write_transaction!(self, |transaction| {
                        sqlx::query(sql::PUT_PERMISSION_TEMPLATE)
                            .bind(name)
                            .bind(Json(permissions))
                            .bind(to_ms(at))
                            .execute(&mut *transaction)
                            .await?;
                        Self::write_journal(&mut transaction, journal).await?;
                        Ok(())
                    })
                    .map_err(Into::into)
                }
            }
        };
    };
}
pub(crate) use impl_groups;
