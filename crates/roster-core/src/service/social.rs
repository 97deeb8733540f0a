//! Blocks and friends. A user may block anyone but themself; blocking ends any friendship or
//! friend request between the two, and while either blocks the other no friend request
//! passes. A friend request to someone who asked first accepts theirs.

use super::users::not_found;
use super::{Actor, Core};
use crate::chat::{Block, Friendship};
use crate::error::{Error, Refusal, Result};
use crate::id::UserId;
use crate::user::User;

/// Refusal: a friend request between users one of whom blocks the other.
pub const FRIEND_REQUEST_BLOCKED: Refusal = Refusal::FriendRequestBlocked;

impl Core {
    /// Reads another user who may take part in social features: exists, is active and is
    /// not the caller. `field` names the request field for the self case.
    pub(super) async fn social_target(&self, actor: &Actor, target: UserId, field: &'static str) -> Result<User> {
        if target == actor.user.id {
            return Err(Error::invalid(field, "must be another user"));
        }
        let user = self.store.get_user(target).await.map_err(not_found("user"))?;
        if !user.active {
            return Err(Error::NotFound("user"));
        }
        Ok(user)
    }

    /// Blocks `target`, ending any friendship or request between the two. Blocking twice
    /// changes nothing.
    pub async fn block_user(&self, actor: &Actor, target: UserId) -> Result<Block> {
        let target = self.social_target(actor, target, "user_id").await?;
        let now = self.clock.now();
        self.store
            .insert_block(actor.user.id, target.id, now)
            .await
            .map_err(not_found("user"))?;
        let blocks = self.store.list_blocks(actor.user.id).await?;
        blocks
            .into_iter()
            .find(|b| b.blocked == target.id)
            .ok_or(Error::NotFound("block"))
    }

    /// Lifts the caller's block of `target`; NotFound if there is none.
    pub async fn unblock_user(&self, actor: &Actor, target: UserId) -> Result<()> {
        if !self.store.delete_block(actor.user.id, target).await? {
            return Err(Error::NotFound("block"));
        }
        Ok(())
    }

    /// The users the caller blocks, the latest first.
    pub async fn list_blocked_users(&self, actor: &Actor) -> Result<Vec<Block>> {
        Ok(self.store.list_blocks(actor.user.id).await?)
    }

    /// Whether either of two users blocks the other.
    pub async fn blocked_either_way(&self, a: UserId, b: UserId) -> Result<bool> {
        Ok(self.store.is_blocked(a, b).await? || self.store.is_blocked(b, a).await?)
    }

    /// Sends a friend request to `target`. If `target` asked the caller first, that request
    /// is accepted instead; an existing request or friendship is returned as it is.
    pub async fn send_friend_request(&self, actor: &Actor, target: UserId) -> Result<Friendship> {
        let target = self.social_target(actor, target, "user_id").await?;
        let me = actor.user.id;
        if self.blocked_either_way(me, target.id).await? {
            return Err(Error::Forbidden(FRIEND_REQUEST_BLOCKED));
        }
        if let Some(existing) = self.store.get_friendship(me, target.id).await? {
            if !existing.is_accepted() && existing.requester == target.id {
                return self.accept_friend_request(actor, target.id).await;
            }
            return Ok(existing);
        }
        let (user_low, user_high) = Friendship::pair(me, target.id);
        let request = Friendship {
            user_low,
            user_high,
            requester: me,
            created_at: self.clock.now(),
            accepted_at: None,
        };
        if !self
            .store
            .insert_friend_request(&request)
            .await
            .map_err(not_found("user"))?
        {
            // A block or another request got there first.
            if self.blocked_either_way(me, target.id).await? {
                return Err(Error::Forbidden(FRIEND_REQUEST_BLOCKED));
            }
            return self
                .store
                .get_friendship(me, target.id)
                .await?
                .ok_or(Error::NotFound("friend request"));
        }
        Ok(request)
    }

    /// Accepts the pending friend request `from` sent the caller.
    pub async fn accept_friend_request(&self, actor: &Actor, from: UserId) -> Result<Friendship> {
        let me = actor.user.id;
        if !self.store.accept_friend_request(me, from, me, self.clock.now()).await? {
            return Err(Error::NotFound("friend request"));
        }
        self.store
            .get_friendship(me, from)
            .await?
            .ok_or(Error::NotFound("friend request"))
    }

    /// Ends the caller's friendship with `other`, or withdraws or declines the request
    /// between them; NotFound if there is none.
    pub async fn remove_friend(&self, actor: &Actor, other: UserId) -> Result<()> {
        if !self.store.delete_friendship(actor.user.id, other).await? {
            return Err(Error::NotFound("friend request"));
        }
        Ok(())
    }

    /// The caller's friendships and friend requests (sent and received), the latest first.
    pub async fn list_friendships(&self, actor: &Actor) -> Result<Vec<Friendship>> {
        Ok(self.store.list_friendships(actor.user.id).await?)
    }

    /// Whether two users are friends (an accepted request).
    pub async fn are_friends(&self, a: UserId, b: UserId) -> Result<bool> {
        Ok(self.store.get_friendship(a, b).await?.is_some_and(|f| f.is_accepted()))
    }
}
