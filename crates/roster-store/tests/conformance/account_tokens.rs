//! Account tokens (invitations, password resets) and email verifications.

use crate::common::*;

async fn account_tokens_are_used_once(backend: Backend) {
    use roster_core::store::{AccountToken, AccountTokenKind};
    let f = roster_testkit::or_skip!(fixture(backend).await);
    let user = f.insert(&f.user(Some("u@example.org"), None)).await;
    let t = now();
    let reset = AccountToken {
        kind: AccountTokenKind::PasswordReset,
        user_id: Some(user.id),
        email: None,
        role: None,
        created_at: t,
        expires_at: t + Duration::hours(1),
        used_at: None,
    };
    f.store.insert_account_token(&reset, "d-reset").await.unwrap();
    assert_eq!(f.store.get_account_token("d-reset").await.unwrap(), reset);
    // The wrong kind, an expired token, an unknown digest: nothing is used.
    assert_not_found(
        f.store
            .use_account_token("d-reset", AccountTokenKind::Invitation, t)
            .await,
    );
    assert_not_found(
        f.store
            .use_account_token("d-reset", AccountTokenKind::PasswordReset, t + Duration::hours(1))
            .await,
    );
    assert_not_found(
        f.store
            .use_account_token("nope", AccountTokenKind::PasswordReset, t)
            .await,
    );
    let used = f
        .store
        .use_account_token("d-reset", AccountTokenKind::PasswordReset, t)
        .await
        .unwrap();
    assert_eq!(used.used_at, Some(t));
    assert_not_found(
        f.store
            .use_account_token("d-reset", AccountTokenKind::PasswordReset, t)
            .await,
    );

    // An invitation and the user it creates: both or neither.
    let invitation = AccountToken {
        kind: AccountTokenKind::Invitation,
        user_id: None,
        email: Some("new@example.org".into()),
        role: Some(Role::Admin),
        created_at: t,
        expires_at: t + Duration::days(1),
        used_at: None,
    };
    f.store.insert_account_token(&invitation, "d-invite").await.unwrap();
    let taken = f.user(Some("u@example.org"), None);
    assert_conflict(
        f.store
            .insert_user_with_invitation(&taken, "d-invite", t, &NO_JOURNAL)
            .await,
        "email",
    );
    assert!(f.store.get_account_token("d-invite").await.unwrap().used_at.is_none());
    let mut new = f.user(Some("new@example.org"), None);
    new.role = Role::Admin;
    let created = f
        .store
        .insert_user_with_invitation(&new, "d-invite", t, &NO_JOURNAL)
        .await
        .unwrap();
    assert_eq!(created.role, Role::Admin);
    let again = f.user(Some("other@example.org"), None);
    assert_not_found(
        f.store
            .insert_user_with_invitation(&again, "d-invite", t, &NO_JOURNAL)
            .await,
    );
    assert_not_found(f.store.get_user(again.id).await);
    // Deleting a user deletes its tokens.
    f.store
        .insert_account_token(&AccountToken { used_at: None, ..reset }, "d-reset-2")
        .await
        .unwrap();
    f.store.delete_user(user.id, false, &NO_JOURNAL).await.unwrap();
    assert_not_found(f.store.get_account_token("d-reset-2").await);
}

async fn email_verifications_are_used_once(backend: Backend) {
    use roster_core::store::EmailVerification;
    let f = roster_testkit::or_skip!(fixture(backend).await);
    let user = f.insert(&f.user(Some("v@example.org"), None)).await;
    let t = now();
    let record = |expires: OffsetDateTime| EmailVerification {
        user_id: user.id,
        email: "v@example.org".into(),
        created_at: t,
        expires_at: expires,
    };
    f.store
        .insert_email_verification(&record(t + Duration::minutes(15)), "d-old")
        .await
        .unwrap();
    // A new link replaces the old one.
    f.store
        .insert_email_verification(&record(t + Duration::minutes(15)), "d-new")
        .await
        .unwrap();
    assert_not_found(
        f.store
            .use_email_verification("d-old", None, None, t, &|_| Journal::default())
            .await,
    );
    assert_not_found(
        f.store
            .use_email_verification("d-new", None, None, t + Duration::minutes(16), &|_| Journal::default())
            .await,
    );
    assert!(!f.store.get_user(user.id).await.unwrap().email_verified);
    // Another address or user: nothing is used.
    assert_not_found(
        f.store
            .use_email_verification("d-new", Some("x@example.org"), None, t, &|_| Journal::default())
            .await,
    );
    assert_not_found(
        f.store
            .use_email_verification("d-new", None, Some(UserId(1)), t, &|_| Journal::default())
            .await,
    );
    let used = f
        .store
        .use_email_verification("d-new", Some("v@example.org"), Some(user.id), t, &|_| {
            Journal::default()
        })
        .await
        .unwrap();
    assert_eq!(used, record(t + Duration::minutes(15)));
    let stored = f.store.get_user(user.id).await.unwrap();
    assert!(stored.email_verified);
    assert_eq!(stored.revision, user.revision + 1);
    assert_not_found(
        f.store
            .use_email_verification("d-new", None, None, t, &|_| Journal::default())
            .await,
    );
    // A link for an address the user no longer has verifies nothing.
    let other = f.insert(&f.user(Some("w@example.org"), None)).await;
    let stale = EmailVerification {
        user_id: other.id,
        email: "old@example.org".into(),
        created_at: t,
        expires_at: t + Duration::minutes(15),
    };
    f.store.insert_email_verification(&stale, "d-stale").await.unwrap();
    f.store
        .use_email_verification("d-stale", None, None, t, &|_| Journal::default())
        .await
        .unwrap();
    assert!(!f.store.get_user(other.id).await.unwrap().email_verified);
}

async fn invitations_are_listed_and_revoked_while_pending(backend: Backend) {
    use roster_core::journal::{AuditQuery, JournalBuilder};
    use roster_core::store::{AccountToken, AccountTokenKind};
    let f = roster_testkit::or_skip!(fixture(backend).await);
    let admin = f.admin("root@example.org").await;
    let user = f.insert(&f.user(Some("u@example.org"), None)).await;
    let t = now();
    let invitation = |email: &str, created: i64, expires: i64, used: bool| AccountToken {
        kind: AccountTokenKind::Invitation,
        user_id: None,
        email: Some(email.into()),
        role: Some(Role::User),
        created_at: t + Duration::minutes(created),
        expires_at: t + Duration::minutes(expires),
        used_at: used.then_some(t),
    };
    let pending = invitation("pending@example.org", 3, 600, false);
    let used = invitation("used@example.org", 2, 600, true);
    let expired = invitation("expired@example.org", 1, 5, false);
    for (token, digest) in [(&pending, "d-pending"), (&used, "d-used"), (&expired, "d-expired")] {
        f.store.insert_account_token(token, digest).await.unwrap();
    }
    // A reset link is not an invitation; its journal is written with it.
    let audit = |action: &'static str| {
        JournalBuilder::new(&f.ids, t, Some(admin.id))
            .audit(action, Some(user.id), json!({}))
            .build()
    };
    let reset = AccountToken {
        kind: AccountTokenKind::PasswordReset,
        user_id: Some(user.id),
        email: None,
        role: None,
        created_at: t + Duration::minutes(4),
        expires_at: t + Duration::hours(1),
        used_at: None,
    };
    f.store
        .insert_account_token_journaled(&reset, "d-reset", &audit("user.password_reset_link"))
        .await
        .unwrap();
    let count = |action: &'static str| {
        let store = f.store.clone();
        async move {
            store
                .list_audit(&AuditQuery {
                    action: Some(action.into()),
                    limit: 100,
                    ..AuditQuery::default()
                })
                .await
                .unwrap()
                .len()
        }
    };
    assert_eq!(count("user.password_reset_link").await, 1);

    let listed = f.store.list_invitations(None, 10).await.unwrap();
    let ids: Vec<&str> = listed.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(
        ids,
        ["d-pending", "d-used", "d-expired"],
        "newest first, invitations only"
    );
    assert_eq!(listed[0].token, pending);
    assert_eq!(f.store.list_invitations(None, 1).await.unwrap().len(), 1);

    // Only a pending one is deleted, with its journal.
    let at = t + Duration::minutes(10);
    assert_not_found(
        f.store
            .delete_pending_invitation("d-used", at, &audit("invitation.revoke"))
            .await,
    );
    assert_not_found(
        f.store
            .delete_pending_invitation("d-expired", at, &audit("invitation.revoke"))
            .await,
    );
    assert_not_found(
        f.store
            .delete_pending_invitation("d-reset", at, &audit("invitation.revoke"))
            .await,
    );
    assert_eq!(count("invitation.revoke").await, 0);
    f.store
        .delete_pending_invitation("d-pending", at, &audit("invitation.revoke"))
        .await
        .unwrap();
    assert_eq!(count("invitation.revoke").await, 1);
    assert_not_found(f.store.get_account_token("d-pending").await);
    assert_not_found(
        f.store
            .delete_pending_invitation("d-pending", at, &audit("invitation.revoke"))
            .await,
    );
    assert_eq!(f.store.list_invitations(None, 10).await.unwrap().len(), 2);
}

async fn invitations_are_listed_in_keyset_pages(backend: Backend) {
    use roster_core::store::{AccountToken, AccountTokenKind, InvitationPosition};
    let f = roster_testkit::or_skip!(fixture(backend).await);
    let user = f.insert(&f.user(Some("u@example.org"), None)).await;
    let t = now();
    let token = |kind: AccountTokenKind, minute: i64| AccountToken {
        kind,
        user_id: (kind == AccountTokenKind::PasswordReset).then_some(user.id),
        email: (kind == AccountTokenKind::Invitation).then(|| "i@example.org".to_string()),
        role: None,
        created_at: t + Duration::minutes(minute),
        expires_at: t + Duration::hours(1),
        used_at: None,
    };
    // Three created at the same instant: the id orders them.
    for (digest, minute) in [("d-a", 1), ("d-b", 2), ("d-c", 2), ("d-d", 2), ("d-e", 3)] {
        f.store
            .insert_account_token(&token(AccountTokenKind::Invitation, minute), digest)
            .await
            .unwrap();
    }
    f.store
        .insert_account_token(&token(AccountTokenKind::PasswordReset, 2), "d-reset")
        .await
        .unwrap();
    let mut pages = Vec::new();
    let mut after: Option<InvitationPosition> = None;
    loop {
        let page = f.store.list_invitations(after.as_ref(), 2).await.unwrap();
        let Some(last) = page.last() else { break };
        after = Some(InvitationPosition {
            created_at: last.token.created_at,
            id: last.id.clone(),
        });
        pages.push(page.iter().map(|i| i.id.clone()).collect::<Vec<_>>());
        assert!(pages.len() <= 3, "{pages:?}");
    }
    assert_eq!(pages, [vec!["d-e", "d-d"], vec!["d-c", "d-b"], vec!["d-a"]]);
}

backend_tests!(
    account_tokens_are_used_once,
    invitations_are_listed_in_keyset_pages,
    email_verifications_are_used_once,
    invitations_are_listed_and_revoked_while_pending,
);
