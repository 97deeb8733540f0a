//! The chat products' social records (migration 0007): username look-up, messaging settings,
//! badges, channels, blocks and friendships, on both backends.

use crate::common::{Fixture, NO_JOURNAL, assert_not_found, fixture, now};
use roster_core::UserId;
use roster_core::chat::{AllowDmsFrom, Channel, ChannelKind, Friendship, MessagingSettingsChange};
use roster_core::id::ChannelId;
use roster_testkit::{Backend, backend_tests};
use time::Duration;

impl Fixture {
    fn channel(&self, kind: ChannelKind, a: UserId, b: UserId) -> Channel {
        let (user_low, user_high) = Friendship::pair(a, b);
        Channel {
            id: ChannelId(self.ids.next_id()),
            kind,
            user_low,
            user_high,
            name: (kind == ChannelKind::Notes).then(|| "Personal Notes".to_string()),
            last_message_id: None,
            last_message_at: None,
            created_at: now(),
        }
    }

    async fn two_users(&self, tag: &str) -> (UserId, UserId) {
        let a = self
            .insert(&self.user(Some(&format!("{tag}-a@example.org")), Some(&format!("{tag}A"))))
            .await;
        let b = self
            .insert(&self.user(Some(&format!("{tag}-b@example.org")), Some(&format!("{tag}B"))))
            .await;
        (a.id, b.id)
    }
}

async fn users_are_found_by_username_only(backend: Backend) {
    let f = roster_testkit::or_skip!(fixture(backend).await);
    let ann = f.insert(&f.user(Some("ann@example.org"), Some("AnnLee"))).await;
    f.insert(&f.user(Some("annlee@example.org"), None)).await;
    assert_eq!(f.store.find_user_by_username("annlee").await.unwrap().id, ann.id);
    // Never by email, and only whole usernames.
    assert_not_found(f.store.find_user_by_username("ann@example.org").await);
    assert_not_found(f.store.find_user_by_username("annle").await);
}

async fn messaging_settings_default_and_change(backend: Backend) {
    let f = roster_testkit::or_skip!(fixture(backend).await);
    let user = f.insert(&f.user(Some("ms@example.org"), None)).await;
    assert_eq!(f.store.get_messaging_settings(user.id).await.unwrap(), None);
    let t = now();
    let stored = f
        .store
        .update_messaging_settings(
            user.id,
            &MessagingSettingsChange {
                read_receipts_enabled: Some(false),
                allow_dms_from: Some(AllowDmsFrom::Friends),
                max_message_length: Some(Some(2000)),
                ..Default::default()
            },
            t,
        )
        .await
        .unwrap();
    assert!(!stored.read_receipts_enabled);
    assert!(stored.typing_indicators_enabled && stored.compact_messages_enabled && stored.auto_create_dms);
    assert_eq!(stored.allow_dms_from, AllowDmsFrom::Friends);
    assert_eq!(stored.max_message_length, Some(2000));
    assert_eq!(stored.max_attachment_size, None);
    assert_eq!(stored.updated_at, Some(t));
    assert_eq!(
        f.store.get_messaging_settings(user.id).await.unwrap(),
        Some(stored.clone())
    );
    // A later change keeps what it does not name; a limit can be removed.
    let t2 = t + Duration::seconds(1);
    let again = f
        .store
        .update_messaging_settings(
            user.id,
            &MessagingSettingsChange {
                auto_create_dms: Some(false),
                max_message_length: Some(None),
                max_attachments_per_message: Some(Some(4)),
                ..Default::default()
            },
            t2,
        )
        .await
        .unwrap();
    assert!(!again.read_receipts_enabled && !again.auto_create_dms);
    assert_eq!(again.allow_dms_from, AllowDmsFrom::Friends);
    assert_eq!(again.max_message_length, None);
    assert_eq!(again.max_attachments_per_message, Some(4));
    assert_not_found(
        f.store
            .update_messaging_settings(UserId(1), &MessagingSettingsChange::default(), t)
            .await,
    );
    // They go with their user.
    f.store.delete_user(user.id, false, &NO_JOURNAL).await.unwrap();
    assert_eq!(f.store.get_messaging_settings(user.id).await.unwrap(), None);
}

async fn badges_are_kept_once_in_order(backend: Backend) {
    let f = roster_testkit::or_skip!(fixture(backend).await);
    let user = f.insert(&f.user(Some("badge@example.org"), None)).await;
    let t = now();
    assert!(f.store.add_user_badge(user.id, "staff", t).await.unwrap());
    assert!(
        f.store
            .add_user_badge(user.id, "early_supporter", t + Duration::seconds(1))
            .await
            .unwrap()
    );
    assert!(!f.store.add_user_badge(user.id, "staff", t).await.unwrap());
    assert_eq!(
        f.store.list_user_badges(user.id).await.unwrap(),
        vec!["staff", "early_supporter"]
    );
    assert!(f.store.remove_user_badge(user.id, "staff").await.unwrap());
    assert!(!f.store.remove_user_badge(user.id, "staff").await.unwrap());
    assert_eq!(
        f.store.list_user_badges(user.id).await.unwrap(),
        vec!["early_supporter"]
    );
    assert_not_found(f.store.add_user_badge(UserId(1), "staff", t).await);
    f.store.delete_user(user.id, false, &NO_JOURNAL).await.unwrap();
    assert!(f.store.list_user_badges(user.id).await.unwrap().is_empty());
}

async fn channels_are_created_once(backend: Backend) {
    let f = roster_testkit::or_skip!(fixture(backend).await);
    let (a, b) = f.two_users("ch").await;
    let notes = f.channel(ChannelKind::Notes, a, a);
    let stored = f.store.get_or_insert_channel(&notes).await.unwrap();
    assert_eq!(stored, notes);
    // A second insert (a new id) finds the first.
    let again = f
        .store
        .get_or_insert_channel(&f.channel(ChannelKind::Notes, a, a))
        .await
        .unwrap();
    assert_eq!(again.id, notes.id);
    let dm = f
        .store
        .get_or_insert_channel(&f.channel(ChannelKind::Dm, a, b))
        .await
        .unwrap();
    let from_b = f
        .store
        .get_or_insert_channel(&f.channel(ChannelKind::Dm, b, a))
        .await
        .unwrap();
    assert_eq!(dm.id, from_b.id);
    assert_eq!(f.store.get_channel(dm.id).await.unwrap(), dm);
    // Only direct messages are listed, for either member.
    let listed: Vec<ChannelId> = f
        .store
        .list_dm_channels(a)
        .await
        .unwrap()
        .iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(listed, vec![dm.id]);
    assert_eq!(f.store.list_dm_channels(b).await.unwrap().len(), 1);
    // Racing creations agree.
    let mut tasks = Vec::new();
    let (c, d) = f.two_users("race").await;
    for _ in 0..8 {
        let store = f.store.clone();
        let channel = f.channel(ChannelKind::Dm, c, d);
        tasks.push(tokio::spawn(async move {
            store.get_or_insert_channel(&channel).await.unwrap().id
        }));
    }
    let mut ids = Vec::new();
    for task in tasks {
        ids.push(task.await.unwrap());
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "{ids:?}");
    assert_not_found(
        f.store
            .get_or_insert_channel(&f.channel(ChannelKind::Dm, a, UserId(1)))
            .await,
    );
    assert_not_found(f.store.get_channel(ChannelId(1)).await);
}

async fn last_messages_only_move_forward(backend: Backend) {
    let f = roster_testkit::or_skip!(fixture(backend).await);
    let (a, b) = f.two_users("lm").await;
    let first = f
        .store
        .get_or_insert_channel(&f.channel(ChannelKind::Dm, a, b))
        .await
        .unwrap();
    let second = f
        .store
        .get_or_insert_channel(&f.channel(ChannelKind::Notes, a, a))
        .await
        .unwrap();
    let t = now();
    let message = f.ids.next_id();
    let updated = f.store.set_channel_last_message(first.id, message, t).await.unwrap();
    assert_eq!(updated.last_message_id, Some(message));
    assert_eq!(updated.last_message_at, Some(t));
    let older = f
        .store
        .set_channel_last_message(first.id, message - 1, t + Duration::seconds(5))
        .await
        .unwrap();
    assert_eq!(older.last_message_id, Some(message));
    assert_eq!(older.last_message_at, Some(t));
    assert_eq!(second.last_message_id, None);
    assert_not_found(f.store.set_channel_last_message(ChannelId(1), message, t).await);
    // The most recently active channel is listed first.
    let (c, _) = f.two_users("lm2").await;
    let newer = f
        .store
        .get_or_insert_channel(&f.channel(ChannelKind::Dm, a, c))
        .await
        .unwrap();
    let order: Vec<ChannelId> = f
        .store
        .list_dm_channels(a)
        .await
        .unwrap()
        .iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(order, vec![newer.id, first.id]);
    f.store
        .set_channel_last_message(first.id, f.ids.next_id(), t)
        .await
        .unwrap();
    let order: Vec<ChannelId> = f
        .store
        .list_dm_channels(a)
        .await
        .unwrap()
        .iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(order, vec![first.id, newer.id]);
    // Channels go with either member.
    f.store.delete_user(b, false, &NO_JOURNAL).await.unwrap();
    assert_not_found(f.store.get_channel(first.id).await);
}

async fn blocks_end_friendships_and_stop_requests(backend: Backend) {
    let f = roster_testkit::or_skip!(fixture(backend).await);
    let (a, b) = f.two_users("bl").await;
    let t = now();
    let (user_low, user_high) = Friendship::pair(a, b);
    let request = Friendship {
        user_low,
        user_high,
        requester: a,
        created_at: t,
        accepted_at: None,
    };
    assert!(f.store.insert_friend_request(&request).await.unwrap());
    assert!(!f.store.insert_friend_request(&request).await.unwrap());
    assert_eq!(f.store.get_friendship(b, a).await.unwrap(), Some(request.clone()));
    assert!(f.store.insert_block(b, a, t).await.unwrap());
    assert!(!f.store.insert_block(b, a, t).await.unwrap());
    assert_eq!(f.store.get_friendship(a, b).await.unwrap(), None);
    assert!(f.store.is_blocked(b, a).await.unwrap());
    assert!(!f.store.is_blocked(a, b).await.unwrap());
    // No request passes while either blocks the other.
    assert!(!f.store.insert_friend_request(&request).await.unwrap());
    let blocks = f.store.list_blocks(b).await.unwrap();
    assert_eq!(blocks.len(), 1);
    assert_eq!((blocks[0].blocker, blocks[0].blocked, blocks[0].created_at), (b, a, t));
    assert!(f.store.list_blocks(a).await.unwrap().is_empty());
    assert!(f.store.delete_block(b, a).await.unwrap());
    assert!(!f.store.delete_block(b, a).await.unwrap());
    assert!(f.store.insert_friend_request(&request).await.unwrap());
    assert_not_found(f.store.insert_block(a, UserId(1), t).await);
    f.store.insert_block(a, b, t).await.unwrap();
    f.store.delete_user(b, false, &NO_JOURNAL).await.unwrap();
    assert!(f.store.list_blocks(a).await.unwrap().is_empty());
}

async fn friend_requests_are_accepted_by_the_other(backend: Backend) {
    let f = roster_testkit::or_skip!(fixture(backend).await);
    let (a, b) = f.two_users("fr").await;
    let (c, _) = f.two_users("fr2").await;
    let t = now();
    let (user_low, user_high) = Friendship::pair(b, a);
    let request = Friendship {
        user_low,
        user_high,
        requester: b,
        created_at: t,
        accepted_at: None,
    };
    f.store.insert_friend_request(&request).await.unwrap();
    // The requester cannot accept their own request.
    assert!(!f.store.accept_friend_request(a, b, b, t).await.unwrap());
    let later = t + Duration::seconds(2);
    assert!(f.store.accept_friend_request(a, b, a, later).await.unwrap());
    assert!(!f.store.accept_friend_request(a, b, a, later).await.unwrap());
    let friendship = f.store.get_friendship(a, b).await.unwrap().unwrap();
    assert_eq!(friendship.accepted_at, Some(later));
    assert_eq!(friendship.requester, b);
    let (low, high) = Friendship::pair(a, c);
    f.store
        .insert_friend_request(&Friendship {
            user_low: low,
            user_high: high,
            requester: a,
            created_at: t + Duration::seconds(1),
            accepted_at: None,
        })
        .await
        .unwrap();
    let mine = f.store.list_friendships(a).await.unwrap();
    assert_eq!(mine.len(), 2);
    assert_eq!(mine[0].other(a), b);
    assert_eq!(mine[1].other(a), c);
    assert_eq!(f.store.list_friendships(c).await.unwrap().len(), 1);
    assert!(f.store.delete_friendship(b, a).await.unwrap());
    assert!(!f.store.delete_friendship(b, a).await.unwrap());
    assert_not_found(
        f.store
            .insert_friend_request(&Friendship {
                user_low: a.min(UserId(1)),
                user_high: a.max(UserId(1)),
                requester: a,
                created_at: t,
                accepted_at: None,
            })
            .await,
    );
}

backend_tests!(
    users_are_found_by_username_only,
    messaging_settings_default_and_change,
    badges_are_kept_once_in_order,
    channels_are_created_once,
    last_messages_only_move_forward,
    blocks_end_friendships_and_stop_requests,
    friend_requests_are_accepted_by_the_other,
);
