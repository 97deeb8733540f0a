//! Crash consistency (issue 9): writes that must be one transaction.

use crate::common::*;
use roster_core::store::{AccountToken, AccountTokenKind};

fn reset_link(user: UserId, t: OffsetDateTime) -> AccountToken {
    AccountToken {
        kind: AccountTokenKind::PasswordReset,
        user_id: Some(user),
        email: None,
        role: None,
        created_at: t,
        expires_at: t + Duration::hours(1),
        used_at: None,
    }
}

async fn users_are_written_with_their_links(backend: Backend) {
    let f = roster_testkit::or_skip!(fixture(backend).await);
    let t = now();
    let mut a = f.user(Some("a@example.org"), None);
    a.password_hash = None;
    let b = f.user(Some("b@example.org"), None);
    let link = reset_link(a.id, t);
    assert_eq!(
        f.store
            .insert_users_with_tokens(&[a.clone(), b.clone()], &[(link.clone(), "d-a".into())], &NO_JOURNAL)
            .await
            .unwrap(),
        2
    );
    assert_eq!(f.store.get_account_token("d-a").await.unwrap(), link);
    assert!(f.store.get_user(b.id).await.is_ok());
    // A conflict writes nothing: neither the new user nor its link.
    let c = f.user(Some("c@example.org"), None);
    let twin = f.user(Some("a@example.org"), None);
    let result = f
        .store
        .insert_users_with_tokens(&[c.clone(), twin], &[(reset_link(c.id, t), "d-c".into())], &NO_JOURNAL)
        .await;
    assert!(matches!(result, Err(StoreError::Conflict { .. })), "{result:?}");
    assert!(f.store.get_user(c.id).await.is_err());
    assert!(f.store.get_account_token("d-c").await.is_err());
}

async fn a_password_is_set_with_its_link_and_revocations(backend: Backend) {
    let f = roster_testkit::or_skip!(fixture(backend).await);
    let t = now();
    let user = f.insert(&f.user(Some("u@example.org"), None)).await;
    let other = f.insert(&f.user(Some("o@example.org"), None)).await;
    for owner in [user.id, other.id] {
        f.store
            .insert_session(&f.session(owner, t), &format!("r-{owner}"))
            .await
            .unwrap();
        f.store
            .insert_api_key(&f.api_key(owner, "k"), &format!("k-{owner}"), &NO_JOURNAL)
            .await
            .unwrap();
    }
    f.store
        .insert_account_token(&reset_link(other.id, t), "d-other")
        .await
        .unwrap();
    f.store
        .insert_account_token(&reset_link(user.id, t), "d-user")
        .await
        .unwrap();
    let new = PasswordHash("$argon2id$v=19$m=19456,t=2,p=1$bmV3$bmV3".into());
    // Another user's link, an unknown user: NotFound, nothing written.
    for (id, link) in [(user.id, Some("d-other")), (UserId(f.ids.next_id()), None)] {
        assert!(matches!(
            f.store.set_password_hash(id, &new, link, true, t, &NO_JOURNAL).await,
            Err(StoreError::NotFound)
        ));
    }
    assert_eq!(
        f.store.get_user(user.id).await.unwrap().password_hash,
        user.password_hash
    );
    assert!(f.store.get_account_token("d-other").await.unwrap().used_at.is_none());
    assert_eq!(f.store.list_sessions(user.id).await.unwrap().len(), 1);
    // The user's own link: all at once, and only once.
    assert_eq!(
        f.store
            .set_password_hash(user.id, &new, Some("d-user"), false, t, &NO_JOURNAL)
            .await
            .unwrap(),
        (1, 0)
    );
    let stored = f.store.get_user(user.id).await.unwrap();
    assert_eq!(stored.password_hash, Some(new.clone()));
    assert!(stored.revision > user.revision);
    assert!(f.store.get_account_token("d-user").await.unwrap().used_at.is_some());
    assert!(f.store.list_sessions(user.id).await.unwrap().is_empty());
    assert_eq!(f.store.list_api_keys(user.id).await.unwrap().len(), 1);
    assert!(matches!(
        f.store
            .set_password_hash(user.id, &new, Some("d-user"), false, t, &NO_JOURNAL)
            .await,
        Err(StoreError::NotFound)
    ));
    // Without a link, revoking keys too; the other user is untouched throughout.
    assert_eq!(
        f.store
            .set_password_hash(user.id, &new, None, true, t, &NO_JOURNAL)
            .await
            .unwrap(),
        (0, 1)
    );
    assert_eq!(f.store.list_sessions(other.id).await.unwrap().len(), 1);
    assert_eq!(f.store.list_api_keys(other.id).await.unwrap().len(), 1);
}

backend_tests!(
    users_are_written_with_their_links,
    a_password_is_set_with_its_link_and_revocations
);
