//! The chat products' social records (migration 0007; see `crate::chat`): messaging settings,
//! badges, channels, blocks and friendships.

use super::StoreResult;
use crate::chat::{Block, Channel, Friendship, MessagingSettings, MessagingSettingsChange};
use crate::id::{ChannelId, UserId};
use async_trait::async_trait;
use time::OffsetDateTime;

/// What a database must offer for the chat products' social records (migration 0007; see
/// `crate::chat`): messaging settings, badges, channels, blocks and friendships (a part of
/// [`crate::store::Store`]).
#[async_trait]
pub trait SocialStore: Send + Sync {
    /// A user's messaging settings; None while the user never changed the defaults.
    async fn get_messaging_settings(&self, user: UserId) -> StoreResult<Option<MessagingSettings>>;
    /// Applies `change` to the user's settings (to the defaults if none are stored) and
    /// stores them with `updated_at = at`, in one transaction serialised per user. NotFound if
    /// the user does not exist. Returns the stored settings.
    async fn update_messaging_settings(
        &self,
        user: UserId,
        change: &MessagingSettingsChange,
        at: OffsetDateTime,
    ) -> StoreResult<MessagingSettings>;
    /// Gives a user a badge; false if it had it already. NotFound if the user does not exist.
    async fn add_user_badge(&self, user: UserId, badge: &str, at: OffsetDateTime) -> StoreResult<bool>;
    /// Takes a badge from a user; false if it did not have it.
    async fn remove_user_badge(&self, user: UserId, badge: &str) -> StoreResult<bool>;
    /// A user's badges, in the order they were given.
    async fn list_user_badges(&self, user: UserId) -> StoreResult<Vec<String>>;
    /// Inserts `channel` unless a channel of its kind and members exists, and returns the
    /// stored one (of two racing inserts, both get the same channel). NotFound if a member
    /// does not exist.
    async fn get_or_insert_channel(&self, channel: &Channel) -> StoreResult<Channel>;
    /// Reads a channel.
    async fn get_channel(&self, id: ChannelId) -> StoreResult<Channel>;
    /// The direct-message channels `user` is a member of, the most recently active first.
    async fn list_dm_channels(&self, user: UserId) -> StoreResult<Vec<Channel>>;
    /// Records a channel's last message, unless a later message (a higher id) is recorded
    /// already; returns the stored channel. NotFound if the channel does not exist.
    async fn set_channel_last_message(
        &self,
        id: ChannelId,
        message_id: i64,
        at: OffsetDateTime,
    ) -> StoreResult<Channel>;
    /// Records that `blocker` blocks `blocked` and ends any friendship or friend request
    /// between them, in one transaction; false if the block existed. NotFound if a user does
    /// not exist.
    async fn insert_block(&self, blocker: UserId, blocked: UserId, at: OffsetDateTime) -> StoreResult<bool>;
    /// Lifts a block; false if there was none.
    async fn delete_block(&self, blocker: UserId, blocked: UserId) -> StoreResult<bool>;
    /// Whether `blocker` blocks `blocked`.
    async fn is_blocked(&self, blocker: UserId, blocked: UserId) -> StoreResult<bool>;
    /// The users `blocker` blocks, the latest first.
    async fn list_blocks(&self, blocker: UserId) -> StoreResult<Vec<Block>>;
    /// The friendship or friend request between two users, if any.
    async fn get_friendship(&self, a: UserId, b: UserId) -> StoreResult<Option<Friendship>>;
    /// Stores a friend request; false, writing nothing, if the pair already has a request or
    /// friendship or if either user blocks the other. NotFound if a user does not exist.
    async fn insert_friend_request(&self, request: &Friendship) -> StoreResult<bool>;
    /// Accepts the pending request of the pair `(a, b)` made by the other of `acceptor`;
    /// false, writing nothing, if there is no such pending request.
    async fn accept_friend_request(
        &self,
        a: UserId,
        b: UserId,
        acceptor: UserId,
        at: OffsetDateTime,
    ) -> StoreResult<bool>;
    /// Deletes the friendship or friend request of a pair; false if there was none.
    async fn delete_friendship(&self, a: UserId, b: UserId) -> StoreResult<bool>;
    /// A user's friendships and friend requests (both directions), the latest first.
    async fn list_friendships(&self, user: UserId) -> StoreResult<Vec<Friendship>>;
}
