//! Channels: every user's one personal notes channel, and the direct-message channel of two
//! users, created on first use and the same from either side. Opening a direct message is
//! refused when the recipient blocks the caller or does not accept direct messages from
//! them (`allow_dms_from`). The messaging service records each channel's last message.

use super::users::not_found;
use super::{Actor, Core};
use crate::chat::{AllowDmsFrom, Channel, ChannelKind};
use crate::error::{Error, Refusal, Result};
use crate::id::{ChannelId, UserId, timestamp_of};
use crate::user::User;
use time::OffsetDateTime;

/// The name of a personal notes channel.
pub const NOTES_CHANNEL_NAME: &str = "Personal Notes";
/// Refusal: the recipient blocks the caller or does not take direct messages from them.
pub const CANNOT_MESSAGE: Refusal = Refusal::CannotMessage;

impl Core {
    /// The caller's personal notes channel, created on first use.
    pub async fn notes_channel(&self, actor: &Actor) -> Result<Channel> {
        let me = actor.user.id;
        let channel = Channel {
            id: ChannelId(self.next_id()),
            kind: ChannelKind::Notes,
            user_low: me,
            user_high: me,
            name: Some(NOTES_CHANNEL_NAME.to_string()),
            last_message_id: None,
            last_message_at: None,
            created_at: self.clock.now(),
        };
        self.store
            .get_or_insert_channel(&channel)
            .await
            .map_err(not_found("user"))
    }

    /// Opens (or finds) the direct-message channel of the caller and `recipient`; returns it
    /// with the recipient.
    pub async fn open_direct_message(&self, actor: &Actor, recipient: UserId) -> Result<(Channel, User)> {
        let me = actor.user.id;
        let recipient = self.social_target(actor, recipient, "recipient_id").await?;
        if self.store.is_blocked(recipient.id, me).await? {
            return Err(Error::Forbidden(CANNOT_MESSAGE));
        }
        let settings = self.messaging_settings_of(recipient.id).await?;
        let allowed = match settings.allow_dms_from {
            AllowDmsFrom::Everyone => true,
            AllowDmsFrom::Friends => self.are_friends(me, recipient.id).await?,
            AllowDmsFrom::None => false,
        };
        if !allowed {
            return Err(Error::Forbidden(CANNOT_MESSAGE));
        }
        let (user_low, user_high) = crate::chat::Friendship::pair(me, recipient.id);
        let channel = Channel {
            id: ChannelId(self.next_id()),
            kind: ChannelKind::Dm,
            user_low,
            user_high,
            name: None,
            last_message_id: None,
            last_message_at: None,
            created_at: self.clock.now(),
        };
        let channel = self
            .store
            .get_or_insert_channel(&channel)
            .await
            .map_err(not_found("user"))?;
        Ok((channel, recipient))
    }

    /// The caller's direct-message channels, the most recently active first, each with the
    /// other member (channels whose other member is gone are left out).
    pub async fn list_direct_messages(&self, actor: &Actor) -> Result<Vec<(Channel, User)>> {
        let me = actor.user.id;
        let channels = self.store.list_dm_channels(me).await?;
        let mut out = Vec::with_capacity(channels.len());
        for channel in channels {
            match self.store.get_user(channel.other_member(me)).await {
                Ok(user) => out.push((channel, user)),
                Err(crate::store::StoreError::NotFound) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(out)
    }

    /// Records the last message of a channel (members of the channel, or administrators: the
    /// messaging service acts with either). `at` defaults to the time in the message's
    /// snowflake id. A message older than the one recorded changes nothing.
    pub async fn record_last_message(
        &self,
        actor: &Actor,
        channel: ChannelId,
        message_id: i64,
        at: Option<OffsetDateTime>,
    ) -> Result<Channel> {
        if message_id <= 0 {
            return Err(Error::invalid("message_id", "must be a positive snowflake id"));
        }
        let stored = self.store.get_channel(channel).await.map_err(not_found("channel"))?;
        if !stored.has_member(actor.user.id) && actor.require_admin().is_err() {
            return Err(Error::NotFound("channel"));
        }
        let at = at.unwrap_or_else(|| timestamp_of(message_id));
        self.store
            .set_channel_last_message(channel, message_id, at)
            .await
            .map_err(not_found("channel"))
    }
}
