//! The chat products' social records (migration 0007): messaging settings, badges, channels,
//! blocks and friendships.

/// Implements [`roster_core::store::SocialStore`] for `$store`, whose pools hold `$database` connections.
macro_rules! impl_social {
    ($store:ty, $database:ty) => {
        const _: () = {
            use crate::capability::common::write_transaction;
            use crate::codec::{ChannelRow, FriendshipRow, MessagingSettingsRow, convert_all, from_ms, to_ms};
            use crate::error::store_error;
            use crate::sql;
            use async_trait::async_trait;
            use roster_core::UserId;
            use roster_core::chat::{Block, Channel, Friendship, MessagingSettings, MessagingSettingsChange};
            use roster_core::id::ChannelId;
            use roster_core::store::{SocialStore, StoreError, StoreResult};
            use time::OffsetDateTime;

            #[async_trait]
            impl SocialStore for $store {
                async fn get_messaging_settings(&self, user: UserId) -> StoreResult<Option<MessagingSettings>> {
                    let row: Option<MessagingSettingsRow> = sqlx::query_as(sql::GET_MESSAGING_SETTINGS)
                        .bind(user.0)
                        .fetch_optional(self.read_pool())
                        .await
                        .map_err(store_error)?;
                    row.map(MessagingSettingsRow::into_settings).transpose()
                }

                async fn update_messaging_settings(
                    &self,
                    user: UserId,
                    change: &MessagingSettingsChange,
                    at: OffsetDateTime,
                ) -> StoreResult<MessagingSettings> {
                    let row = write_transaction!(self, |transaction| {
                        let locked = sqlx::query(sql::LOCK_USER_FOR_SETTINGS)
                            .bind(user.0)
                            .execute(&mut *transaction)
                            .await?
                            .rows_affected();
                        if locked == 0 {
                            return Err(StoreError::NotFound.into());
                        }
                        let stored: Option<MessagingSettingsRow> = sqlx::query_as(sql::GET_MESSAGING_SETTINGS)
                            .bind(user.0)
                            .fetch_optional(&mut *transaction)
                            .await?;
                        let mut settings = match stored {
                            Some(row) => row.into_settings()?,
                            None => MessagingSettings::defaults(user),
                        };
                        change.apply(&mut settings);
                        settings.updated_at = Some(at);
                        sqlx::query(sql::PUT_MESSAGING_SETTINGS)
                            .bind(user.0)
                            .bind(settings.read_receipts_enabled)
                            .bind(settings.typing_indicators_enabled)
                            .bind(settings.compact_messages_enabled)
                            .bind(settings.allow_dms_from.as_str())
                            .bind(settings.auto_create_dms)
                            .bind(settings.max_message_length)
                            .bind(settings.max_attachment_size)
                            .bind(settings.max_attachments_per_message)
                            .bind(to_ms(at))
                            .execute(&mut *transaction)
                            .await?;
                        let row: MessagingSettingsRow = sqlx::query_as(sql::GET_MESSAGING_SETTINGS)
                            .bind(user.0)
                            .fetch_one(&mut *transaction)
                            .await?;
                        Ok(row)
                    })?;
                    row.into_settings()
                }

                async fn add_user_badge(&self, user: UserId, badge: &str, at: OffsetDateTime) -> StoreResult<bool> {
                    let added = write_transaction!(self, |transaction| {
                        Ok(sqlx::query(sql::INSERT_USER_BADGE)
                            .bind(user.0)
                            .bind(badge)
                            .bind(to_ms(at))
                            .execute(&mut *transaction)
                            .await?
                            .rows_affected())
                    })?;
                    Ok(added == 1)
                }

                async fn remove_user_badge(&self, user: UserId, badge: &str) -> StoreResult<bool> {
                    let removed = write_transaction!(self, |transaction| {
                        Ok(sqlx::query(sql::DELETE_USER_BADGE)
                            .bind(user.0)
                            .bind(badge)
                            .execute(&mut *transaction)
                            .await?
                            .rows_affected())
                    })?;
                    Ok(removed == 1)
                }

                async fn list_user_badges(&self, user: UserId) -> StoreResult<Vec<String>> {
                    sqlx::query_scalar(sql::LIST_USER_BADGES)
                        .bind(user.0)
                        .fetch_all(self.read_pool())
                        .await
                        .map_err(store_error)
                }

                async fn get_or_insert_channel(&self, channel: &Channel) -> StoreResult<Channel> {
                    let row: ChannelRow = write_transaction!(self, |transaction| {
                        sqlx::query(sql::INSERT_CHANNEL)
                            .bind(channel.id.0)
                            .bind(channel.kind.as_str())
                            .bind(channel.user_low.0)
                            .bind(channel.user_high.0)
                            .bind(channel.name.as_deref())
                            .bind(channel.last_message_id)
                            .bind(channel.last_message_at.map(to_ms))
                            .bind(to_ms(channel.created_at))
                            .execute(&mut *transaction)
                            .await?;
                        Ok(sqlx::query_as(sql::GET_CHANNEL_OF_MEMBERS)
                            .bind(channel.kind.as_str())
                            .bind(channel.user_low.0)
                            .bind(channel.user_high.0)
                            .fetch_one(&mut *transaction)
                            .await?)
                    })?;
                    row.into_channel()
                }

                async fn get_channel(&self, id: ChannelId) -> StoreResult<Channel> {
                    let row: Option<ChannelRow> = sqlx::query_as(sql::GET_CHANNEL)
                        .bind(id.0)
                        .fetch_optional(self.read_pool())
                        .await
                        .map_err(store_error)?;
                    row.ok_or(StoreError::NotFound)?.into_channel()
                }

                async fn list_dm_channels(&self, user: UserId) -> StoreResult<Vec<Channel>> {
                    let rows = sqlx::query_as(sql::LIST_DM_CHANNELS)
                        .bind(user.0)
                        .fetch_all(self.read_pool())
                        .await
                        .map_err(store_error)?;
                    convert_all(rows, ChannelRow::into_channel)
                }

                async fn set_channel_last_message(
                    &self,
                    id: ChannelId,
                    message_id: i64,
                    at: OffsetDateTime,
                ) -> StoreResult<Channel> {
                    let row: Option<ChannelRow> = write_transaction!(self, |transaction| {
                        sqlx::query(sql::SET_CHANNEL_LAST_MESSAGE)
                            .bind(id.0)
                            .bind(message_id)
                            .bind(to_ms(at))
                            .execute(&mut *transaction)
                            .await?;
                        Ok(sqlx::query_as(sql::GET_CHANNEL)
                            .bind(id.0)
                            .fetch_optional(&mut *transaction)
                            .await?)
                    })?;
                    row.ok_or(StoreError::NotFound)?.into_channel()
                }

                async fn insert_block(
                    &self,
                    blocker: UserId,
                    blocked: UserId,
                    at: OffsetDateTime,
                ) -> StoreResult<bool> {
                    let (low, high) = Friendship::pair(blocker, blocked);
                    let inserted = write_transaction!(self, |transaction| {
                        let inserted = sqlx::query(sql::INSERT_BLOCK)
                            .bind(blocker.0)
                            .bind(blocked.0)
                            .bind(to_ms(at))
                            .execute(&mut *transaction)
                            .await?
                            .rows_affected();
                        sqlx::query(sql::DELETE_FRIENDSHIP)
                            .bind(low.0)
                            .bind(high.0)
                            .execute(&mut *transaction)
                            .await?;
                        Ok(inserted)
                    })?;
                    Ok(inserted == 1)
                }

                async fn delete_block(&self, blocker: UserId, blocked: UserId) -> StoreResult<bool> {
                    let deleted = write_transaction!(self, |transaction| {
                        Ok(sqlx::query(sql::DELETE_BLOCK)
                            .bind(blocker.0)
                            .bind(blocked.0)
                            .execute(&mut *transaction)
                            .await?
                            .rows_affected())
                    })?;
                    Ok(deleted == 1)
                }

                async fn is_blocked(&self, blocker: UserId, blocked: UserId) -> StoreResult<bool> {
                    let count: i64 = sqlx::query_scalar(sql::COUNT_BLOCKS)
                        .bind(blocker.0)
                        .bind(blocked.0)
                        .fetch_one(self.read_pool())
                        .await
                        .map_err(store_error)?;
                    Ok(count > 0)
                }

                async fn list_blocks(&self, blocker: UserId) -> StoreResult<Vec<Block>> {
                    let rows: Vec<(i64, i64, i64)> = sqlx::query_as(sql::LIST_BLOCKS)
                        .bind(blocker.0)
                        .fetch_all(self.read_pool())
                        .await
                        .map_err(store_error)?;
                    rows.into_iter()
                        .map(|(blocker, blocked, at)| {
                            Ok(Block {
                                blocker: UserId(blocker),
                                blocked: UserId(blocked),
                                created_at: from_ms(at)?,
                            })
                        })
                        .collect()
                }

                async fn get_friendship(&self, a: UserId, b: UserId) -> StoreResult<Option<Friendship>> {
                    let (low, high) = Friendship::pair(a, b);
                    let row: Option<FriendshipRow> = sqlx::query_as(sql::GET_FRIENDSHIP)
                        .bind(low.0)
                        .bind(high.0)
                        .fetch_optional(self.read_pool())
                        .await
                        .map_err(store_error)?;
                    row.map(FriendshipRow::into_friendship).transpose()
                }

                async fn insert_friend_request(&self, request: &Friendship) -> StoreResult<bool> {
                    let inserted = write_transaction!(self, |transaction| {
                        Ok(sqlx::query(sql::INSERT_FRIEND_REQUEST)
                            .bind(request.user_low.0)
                            .bind(request.user_high.0)
                            .bind(request.requester.0)
                            .bind(to_ms(request.created_at))
                            .bind(request.accepted_at.map(to_ms))
                            .execute(&mut *transaction)
                            .await?
                            .rows_affected())
                    })?;
                    Ok(inserted == 1)
                }

                async fn accept_friend_request(
                    &self,
                    a: UserId,
                    b: UserId,
                    acceptor: UserId,
                    at: OffsetDateTime,
                ) -> StoreResult<bool> {
                    let (low, high) = Friendship::pair(a, b);
                    let accepted = write_transaction!(self, |transaction| {
                        Ok(sqlx::query(sql::ACCEPT_FRIEND_REQUEST)
                            .bind(low.0)
                            .bind(high.0)
                            .bind(acceptor.0)
                            .bind(to_ms(at))
                            .execute(&mut *transaction)
                            .await?
                            .rows_affected())
                    })?;
                    Ok(accepted == 1)
                }

                async fn delete_friendship(&self, a: UserId, b: UserId) -> StoreResult<bool> {
                    let (low, high) = Friendship::pair(a, b);
                    let deleted = write_transaction!(self, |transaction| {
                        Ok(sqlx::query(sql::DELETE_FRIENDSHIP)
                            .bind(low.0)
                            .bind(high.0)
                            .execute(&mut *transaction)
                            .await?
                            .rows_affected())
                    })?;
                    Ok(deleted == 1)
                }

                async fn list_friendships(&self, user: UserId) -> StoreResult<Vec<Friendship>> {
                    let rows = sqlx::query_as(sql::LIST_FRIENDSHIPS)
                        .bind(user.0)
                        .fetch_all(self.read_pool())
                        .await
                        .map_err(store_error)?;
                    convert_all(rows, FriendshipRow::into_friendship)
                }
            }
        };
    };
}
pub(crate) use impl_social;
