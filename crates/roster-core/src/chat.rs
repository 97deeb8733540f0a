//! The records of the chat products' social features (the Plexichat dialect and the native
//! API): messaging settings, channels (a user's personal notes and direct messages between
//! two users), blocks and friendships. The rules about them live in the services
//! (`service/{messaging,channels,social,badges}.rs`); the store keeps them (migration 0007).

use crate::error::{Error, Result};
use crate::id::{ChannelId, UserId};
use time::OffsetDateTime;

/// Whose direct messages a user accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AllowDmsFrom {
    /// Anyone who is not blocked.
    #[default]
    Everyone,
    /// Friends only.
    Friends,
    /// Nobody.
    None,
}

impl AllowDmsFrom {
    /// The stored and rendered name.
    pub fn as_str(self) -> &'static str {
        match self {
            AllowDmsFrom::Everyone => "everyone",
            AllowDmsFrom::Friends => "friends",
            AllowDmsFrom::None => "none",
        }
    }

    /// Parses `everyone`, `friends` or `none`.
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "everyone" => Ok(AllowDmsFrom::Everyone),
            "friends" => Ok(AllowDmsFrom::Friends),
            "none" => Ok(AllowDmsFrom::None),
            _ => Err(Error::invalid(
                "allow_dms_from",
                "must be one of everyone, friends, none",
            )),
        }
    }
}

/// A user's messaging preferences, and the limits an administrator set for the user.
#[derive(Debug, Clone, PartialEq)]
pub struct MessagingSettings {
    pub user_id: UserId,
    pub read_receipts_enabled: bool,
    pub typing_indicators_enabled: bool,
    pub compact_messages_enabled: bool,
    pub allow_dms_from: AllowDmsFrom,
    pub auto_create_dms: bool,
    /// Set by administrators only; None: no limit of the user's own.
    pub max_message_length: Option<i64>,
    pub max_attachment_size: Option<i64>,
    pub max_attachments_per_message: Option<i64>,
    /// When last changed; None while the user never changed the defaults.
    pub updated_at: Option<OffsetDateTime>,
}

impl MessagingSettings {
    /// The settings of a user who never changed them.
    pub fn defaults(user_id: UserId) -> Self {
        Self {
            user_id,
            read_receipts_enabled: true,
            typing_indicators_enabled: true,
            compact_messages_enabled: true,
            allow_dms_from: AllowDmsFrom::Everyone,
            auto_create_dms: true,
            max_message_length: None,
            max_attachment_size: None,
            max_attachments_per_message: None,
            updated_at: None,
        }
    }
}

/// A change to messaging settings: `None` keeps a field; for the limits `Some(None)` removes
/// the limit.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MessagingSettingsChange {
    pub read_receipts_enabled: Option<bool>,
    pub typing_indicators_enabled: Option<bool>,
    pub compact_messages_enabled: Option<bool>,
    pub allow_dms_from: Option<AllowDmsFrom>,
    pub auto_create_dms: Option<bool>,
    pub max_message_length: Option<Option<i64>>,
    pub max_attachment_size: Option<Option<i64>>,
    pub max_attachments_per_message: Option<Option<i64>>,
}

impl MessagingSettingsChange {
    /// Whether the change touches a limit (administrators only).
    pub fn changes_limits(&self) -> bool {
        self.max_message_length.is_some()
            || self.max_attachment_size.is_some()
            || self.max_attachments_per_message.is_some()
    }

    /// Applies the change.
    pub fn apply(&self, settings: &mut MessagingSettings) {
        fn set<T: Clone>(target: &mut T, value: &Option<T>) {
            if let Some(v) = value {
                *target = v.clone();
            }
        }
        set(&mut settings.read_receipts_enabled, &self.read_receipts_enabled);
        set(&mut settings.typing_indicators_enabled, &self.typing_indicators_enabled);
        set(&mut settings.compact_messages_enabled, &self.compact_messages_enabled);
        set(&mut settings.allow_dms_from, &self.allow_dms_from);
        set(&mut settings.auto_create_dms, &self.auto_create_dms);
        set(&mut settings.max_message_length, &self.max_message_length);
        set(&mut settings.max_attachment_size, &self.max_attachment_size);
        set(
            &mut settings.max_attachments_per_message,
            &self.max_attachments_per_message,
        );
    }
}

/// What a channel is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelKind {
    /// A user's one personal notes channel.
    Notes,
    /// The direct-message channel of two users.
    Dm,
}

impl ChannelKind {
    /// The stored and rendered name.
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelKind::Notes => "notes",
            ChannelKind::Dm => "dm",
        }
    }

    /// Parses the stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "notes" => Some(ChannelKind::Notes),
            "dm" => Some(ChannelKind::Dm),
            _ => None,
        }
    }
}

/// A channel. Its members are `user_low` and `user_high`: for notes both are the owner, for
/// a direct message the two users, the lower id first.
#[derive(Debug, Clone, PartialEq)]
pub struct Channel {
    pub id: ChannelId,
    pub kind: ChannelKind,
    pub user_low: UserId,
    pub user_high: UserId,
    pub name: Option<String>,
    /// Set by the messaging service through the native API; None until then.
    pub last_message_id: Option<i64>,
    pub last_message_at: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
}

impl Channel {
    /// Whether `user` is a member.
    pub fn has_member(&self, user: UserId) -> bool {
        self.user_low == user || self.user_high == user
    }

    /// The other member of a direct message (the owner for notes).
    pub fn other_member(&self, me: UserId) -> UserId {
        if self.user_low == me {
            self.user_high
        } else {
            self.user_low
        }
    }
}

/// One user blocking another.
#[derive(Debug, Clone, PartialEq)]
pub struct Block {
    pub blocker: UserId,
    pub blocked: UserId,
    pub created_at: OffsetDateTime,
}

/// A friend request (`accepted_at` None) or a friendship between two users, once per pair.
#[derive(Debug, Clone, PartialEq)]
pub struct Friendship {
    /// The lower id of the pair.
    pub user_low: UserId,
    /// The higher id of the pair.
    pub user_high: UserId,
    /// Who asked.
    pub requester: UserId,
    pub created_at: OffsetDateTime,
    pub accepted_at: Option<OffsetDateTime>,
}

impl Friendship {
    /// The pair `(a, b)` as `(lower, higher)`.
    pub fn pair(a: UserId, b: UserId) -> (UserId, UserId) {
        if a < b { (a, b) } else { (b, a) }
    }

    /// The other user of the pair.
    pub fn other(&self, me: UserId) -> UserId {
        if self.user_low == me {
            self.user_high
        } else {
            self.user_low
        }
    }

    /// Whether the request was accepted.
    pub fn is_accepted(&self) -> bool {
        self.accepted_at.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_apply_and_limits_are_told_apart() {
        let mut s = MessagingSettings::defaults(UserId(1));
        let change = MessagingSettingsChange {
            read_receipts_enabled: Some(false),
            allow_dms_from: Some(AllowDmsFrom::Friends),
            ..Default::default()
        };
        assert!(!change.changes_limits());
        change.apply(&mut s);
        assert!(!s.read_receipts_enabled);
        assert!(s.typing_indicators_enabled);
        assert_eq!(s.allow_dms_from, AllowDmsFrom::Friends);
        let limits = MessagingSettingsChange {
            max_message_length: Some(Some(2000)),
            ..Default::default()
        };
        assert!(limits.changes_limits());
        limits.apply(&mut s);
        assert_eq!(s.max_message_length, Some(2000));
        MessagingSettingsChange {
            max_message_length: Some(None),
            ..Default::default()
        }
        .apply(&mut s);
        assert_eq!(s.max_message_length, None);
        assert!(AllowDmsFrom::parse("all").is_err());
        assert_eq!(Friendship::pair(UserId(9), UserId(3)), (UserId(3), UserId(9)));
    }
}
