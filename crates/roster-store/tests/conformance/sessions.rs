//! Sessions and refresh tokens.

use crate::common::*;

async fn refresh_tokens_rotate_once(backend: Backend) {
    let f = roster_testkit::or_skip!(fixture(backend).await);
    let user = f.insert(&f.user(Some("s@example.org"), None)).await;
    let t0 = now();
    let session = f.session(user.id, t0);
    f.store.insert_session(&session, "d0").await.unwrap();
    assert_eq!(f.store.get_session(session.id).await.unwrap(), session);
    let record = f.store.get_refresh_token("d0").await.unwrap();
    assert_eq!((record.session_id, record.used_at), (session.id, None));

    let t1 = t0 + Duration::seconds(10);
    assert!(f.store.rotate_refresh_token(session.id, "d0", "d1", t1).await.unwrap());
    assert_eq!(f.store.get_refresh_token("d0").await.unwrap().used_at, Some(t1));
    assert_eq!(f.store.get_refresh_token("d1").await.unwrap().used_at, None);
    assert_eq!(f.store.get_session(session.id).await.unwrap().last_used_at, t1);

    // The same old token again: refused, nothing written.
    let t2 = t1 + Duration::seconds(10);
    assert!(!f.store.rotate_refresh_token(session.id, "d0", "d2", t2).await.unwrap());
    assert_not_found(f.store.get_refresh_token("d2").await);
    assert_eq!(f.store.get_session(session.id).await.unwrap().last_used_at, t1);
    assert_eq!(f.store.get_refresh_token("d0").await.unwrap().used_at, Some(t1));
    // A token of another session, or an unknown one: refused.
    assert!(
        !f.store
            .rotate_refresh_token(SessionId(999), "d1", "d3", t2)
            .await
            .unwrap()
    );
    assert!(
        !f.store
            .rotate_refresh_token(session.id, "unknown", "d4", t2)
            .await
            .unwrap()
    );
    assert_eq!(f.store.get_refresh_token("d1").await.unwrap().used_at, None);

    let t3 = t2 + Duration::seconds(10);
    f.store.touch_session(session.id, t3).await.unwrap();
    assert_eq!(f.store.get_session(session.id).await.unwrap().last_used_at, t3);
    assert_not_found(f.store.touch_session(SessionId(999), t3).await);
    assert_not_found(f.store.get_session(SessionId(999)).await);
    assert_not_found(f.store.get_refresh_token("nope").await);
    // A session needs its user.
    let orphan = f.session(UserId(31337), t0);
    assert!(f.store.insert_session(&orphan, "orphan").await.is_err());
    assert_not_found(f.store.get_refresh_token("orphan").await);
}

async fn refresh_rotation_under_concurrency(backend: Backend) {
    let f = roster_testkit::or_skip!(fixture(backend).await);
    let user = f.insert(&f.user(Some("race@example.org"), None)).await;
    let session = f.session(user.id, now());
    f.store.insert_session(&session, "start").await.unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..10 {
        let store = f.store.clone();
        tasks.spawn(async move {
            store
                .rotate_refresh_token(session.id, "start", &format!("next{i}"), now())
                .await
        });
    }
    let mut winners = 0;
    while let Some(result) = tasks.join_next().await {
        winners += usize::from(result.unwrap().unwrap());
    }
    assert_eq!(winners, 1);
    let mut issued = 0;
    for i in 0..10 {
        issued += usize::from(f.store.get_refresh_token(&format!("next{i}")).await.is_ok());
    }
    assert_eq!(issued, 1);
}

async fn sessions_listing_and_scoped_deletion(backend: Backend) {
    let f = roster_testkit::or_skip!(fixture(backend).await);
    let ann = f.insert(&f.user(Some("ann@example.org"), None)).await;
    let ben = f.insert(&f.user(Some("ben@example.org"), None)).await;
    let t = now();
    let mut ann_sessions = Vec::new();
    for i in 0..4 {
        let session = Session {
            user_agent: None,
            ip: None,
            ..f.session(ann.id, t + Duration::seconds(i))
        };
        f.store.insert_session(&session, &format!("ann{i}")).await.unwrap();
        ann_sessions.push(session);
    }
    let ben_session = f.session(ben.id, t);
    f.store.insert_session(&ben_session, "ben0").await.unwrap();

    let listed = f.store.list_sessions(ann.id).await.unwrap();
    let newest_first: Vec<Session> = ann_sessions.iter().rev().cloned().collect();
    assert_eq!(listed, newest_first);

    assert_not_found(f.store.delete_session(ann.id, ben_session.id, &NO_JOURNAL).await);
    assert!(f.store.get_session(ben_session.id).await.is_ok());
    f.store
        .delete_session(ann.id, ann_sessions[0].id, &NO_JOURNAL)
        .await
        .unwrap();
    assert_not_found(f.store.delete_session(ann.id, ann_sessions[0].id, &NO_JOURNAL).await);
    assert_not_found(f.store.get_refresh_token("ann0").await);

    let keep = ann_sessions[2].id;
    assert_eq!(
        f.store
            .delete_sessions_of_user(ann.id, Some(keep), &NO_JOURNAL)
            .await
            .unwrap(),
        2
    );
    let left: Vec<SessionId> = f
        .store
        .list_sessions(ann.id)
        .await
        .unwrap()
        .iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(left, vec![keep]);
    assert_not_found(f.store.get_refresh_token("ann1").await);
    assert!(f.store.get_refresh_token("ann2").await.is_ok());
    assert_not_found(f.store.get_refresh_token("ann3").await);
    assert_eq!(
        f.store
            .delete_sessions_of_user(ann.id, None, &NO_JOURNAL)
            .await
            .unwrap(),
        1
    );
    assert!(f.store.list_sessions(ann.id).await.unwrap().is_empty());
    assert_eq!(
        f.store
            .delete_sessions_of_user(ann.id, None, &NO_JOURNAL)
            .await
            .unwrap(),
        0
    );
    assert_eq!(f.store.list_sessions(ben.id).await.unwrap(), vec![ben_session]);
    assert!(f.store.get_refresh_token("ben0").await.is_ok());
}

async fn browser_sessions_are_sessions_found_by_their_cookie(backend: Backend) {
    let f = roster_testkit::or_skip!(fixture(backend).await);
    let ann = f.insert(&f.user(Some("ann@example.org"), None)).await;
    let t = now();
    let amr = vec!["pwd".to_string(), "otp".to_string()];
    let first = f.session(ann.id, t);
    f.store
        .insert_browser_session(&first, "cookie-1", t, &amr)
        .await
        .unwrap();
    let (record, user) = f.store.get_browser_session("cookie-1").await.unwrap();
    assert_eq!(record.session, first);
    assert_eq!((record.auth_time, record.amr.clone()), (t, amr));
    assert_eq!(user.id, ann.id);
    // It is one of the user's sessions, and has no refresh token.
    assert_eq!(f.store.list_sessions(ann.id).await.unwrap(), vec![first.clone()]);
    assert_not_found(f.store.get_browser_session("cookie-2").await);
    // Its cookie is unique; a session needs its user.
    let twin = f.session(ann.id, t);
    assert!(f.store.insert_browser_session(&twin, "cookie-1", t, &[]).await.is_err());
    assert_not_found(f.store.get_session(twin.id).await);
    let orphan = f.session(UserId(31337), t);
    assert!(f.store.insert_browser_session(&orphan, "orphan", t, &[]).await.is_err());
    assert_not_found(f.store.get_browser_session("orphan").await);

    // Touching it is touching the session.
    let later = t + Duration::seconds(90);
    f.store.touch_session(first.id, later).await.unwrap();
    assert_eq!(
        f.store
            .get_browser_session("cookie-1")
            .await
            .unwrap()
            .0
            .session
            .last_used_at,
        later
    );

    // Every way a session ends ends it: one session, all of a user's, the user.
    f.store.delete_session(ann.id, first.id, &NO_JOURNAL).await.unwrap();
    assert_not_found(f.store.get_browser_session("cookie-1").await);
    let second = f.session(ann.id, t);
    f.store
        .insert_browser_session(&second, "cookie-2", t, &["pwd".to_string()])
        .await
        .unwrap();
    assert_eq!(
        f.store
            .delete_sessions_of_user(ann.id, None, &NO_JOURNAL)
            .await
            .unwrap(),
        1
    );
    assert_not_found(f.store.get_browser_session("cookie-2").await);
    let third = f.session(ann.id, t);
    f.store
        .insert_browser_session(&third, "cookie-3", t, &["pwd".to_string()])
        .await
        .unwrap();
    f.store.delete_user(ann.id, false, &NO_JOURNAL).await.unwrap();
    assert_not_found(f.store.get_browser_session("cookie-3").await);
}

backend_tests!(
    browser_sessions_are_sessions_found_by_their_cookie,
    refresh_tokens_rotate_once,
    refresh_rotation_under_concurrency,
    sessions_listing_and_scoped_deletion,
);
