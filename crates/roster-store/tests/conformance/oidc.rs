//! The OpenID Connect provider: signing keys, clients, grants, codes and refresh tokens.

use crate::common::*;
use roster_core::store::{
    CodeRedemption, OidcClient, OidcCode, OidcConsent, OidcGrant, OidcKeyRecord, RefreshRotation,
};

fn client(id: &str) -> OidcClient {
    let t = at_ms(ms(now()));
    OidcClient {
        client_id: id.into(),
        name: Some("Chat".into()),
        secret_digest: Some("d".repeat(64)),
        redirect_uris: vec!["https://rp.example/cb".into(), "http://127.0.0.1:8080/cb".into()],
        post_logout_redirect_uris: vec![],
        scopes: vec!["openid".into(), "email".into()],
        grant_types: vec!["authorization_code".into(), "refresh_token".into()],
        audience: Some("langflow".into()),
        first_party: true,
        backchannel_logout_uri: None,
        signing_alg: "RS256".into(),
        access_token_ttl: 900,
        id_token_ttl: 3600,
        refresh_token_ttl: 86_400,
        roles_claim: "roles".into(),
        groups_claim: "groups".into(),
        created_at: t,
        updated_at: t,
    }
}

async fn oidc_keys_are_unique_per_generation(backend: Backend) {
    let f = roster_testkit::or_skip!(fixture(backend).await);
    assert!(f.store.list_oidc_keys().await.unwrap().is_empty());
    let key = |kid: &str, alg: &str, generation: i64| OidcKeyRecord {
        kid: kid.into(),
        alg: alg.into(),
        generation,
        private_key: vec![1, 2, 3],
        public_key: vec![4, 5],
        created_at: at_ms(ms(now())),
    };
    assert!(
        f.store
            .insert_oidc_key(&key("a", "RS256", 1), &NO_JOURNAL)
            .await
            .unwrap()
    );
    // Another instance making generation 1 at the same time loses; EdDSA has its own chain.
    assert!(
        !f.store
            .insert_oidc_key(&key("b", "RS256", 1), &NO_JOURNAL)
            .await
            .unwrap()
    );
    assert!(
        f.store
            .insert_oidc_key(&key("c", "EdDSA", 1), &NO_JOURNAL)
            .await
            .unwrap()
    );
    assert!(
        f.store
            .insert_oidc_key(&key("d", "RS256", 2), &NO_JOURNAL)
            .await
            .unwrap()
    );
    let listed = f.store.list_oidc_keys().await.unwrap();
    let kids: Vec<_> = listed.iter().map(|k| k.kid.as_str()).collect();
    assert_eq!(kids, ["c", "a", "d"]);
    assert_eq!(listed[1].private_key, vec![1, 2, 3]);
    f.store.delete_oidc_keys(&["a".into()]).await.unwrap();
    assert_eq!(f.store.list_oidc_keys().await.unwrap().len(), 2);
}

async fn oidc_clients_round_trip(backend: Backend) {
    let f = roster_testkit::or_skip!(fixture(backend).await);
    let c = client("chat");
    f.store.insert_oidc_client(&c, &NO_JOURNAL).await.unwrap();
    assert_eq!(f.store.get_oidc_client("chat").await.unwrap(), c);
    assert_conflict(f.store.insert_oidc_client(&c, &NO_JOURNAL).await, "client_id");
    let mut changed = c.clone();
    changed.secret_digest = None;
    changed.audience = None;
    changed.scopes = vec!["openid".into()];
    f.store.update_oidc_client(&changed, &NO_JOURNAL).await.unwrap();
    assert_eq!(f.store.get_oidc_client("chat").await.unwrap(), changed);
    assert_not_found(f.store.update_oidc_client(&client("nobody"), &NO_JOURNAL).await);
    f.store
        .insert_oidc_client(&client("another"), &NO_JOURNAL)
        .await
        .unwrap();
    let ids: Vec<_> = f
        .store
        .list_oidc_clients()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.client_id)
        .collect();
    assert_eq!(ids, ["another", "chat"]);
    f.store.delete_oidc_client("chat", &NO_JOURNAL).await.unwrap();
    assert_not_found(f.store.get_oidc_client("chat").await);
    assert_not_found(f.store.delete_oidc_client("chat", &NO_JOURNAL).await);
}

async fn oidc_codes_and_refresh_tokens_are_single_use(backend: Backend) {
    let f = roster_testkit::or_skip!(fixture(backend).await);
    let user = f.insert(&f.user(Some("o@example.org"), None)).await;
    let t = at_ms(ms(now()));
    let session = f.session(user.id, t);
    f.store.insert_session(&session, "s0").await.unwrap();
    f.store.insert_oidc_client(&client("chat"), &NO_JOURNAL).await.unwrap();
    let grant = OidcGrant {
        id: f.ids.next_id(),
        client_id: "chat".into(),
        user_id: user.id,
        session_id: session.id,
        sid: session.id,
        offline: false,
        scope: "openid email".into(),
        auth_time: t,
        amr: vec!["pwd".into()],
        created_at: t,
        expires_at: t + Duration::days(1),
    };
    let code = OidcCode {
        grant_id: grant.id,
        redirect_uri: "https://rp.example/cb".into(),
        nonce: Some("n".into()),
        code_challenge: None,
        created_at: t,
        expires_at: t + Duration::seconds(60),
    };
    f.store
        .insert_oidc_grant(&grant, "c0", &code, &NO_JOURNAL)
        .await
        .unwrap();
    match f.store.redeem_oidc_code("c0", t).await.unwrap() {
        CodeRedemption::Redeemed(found) => {
            let (c, g, u) = *found;
            assert_eq!((c, g, u.id), (code.clone(), grant.clone(), user.id));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        f.store.redeem_oidc_code("c0", t).await.unwrap(),
        CodeRedemption::Replayed { grant_id: grant.id }
    );
    assert_eq!(
        f.store.redeem_oidc_code("nope", t).await.unwrap(),
        CodeRedemption::Unknown
    );

    f.store.insert_oidc_refresh_token(grant.id, "r0", t).await.unwrap();
    assert_eq!(
        f.store.get_oidc_refresh_token("r0").await.unwrap(),
        Some((grant.id, false))
    );
    assert!(matches!(
        f.store.rotate_oidc_refresh_token("r0", "r1", t).await.unwrap(),
        RefreshRotation::Rotated(_)
    ));
    assert_eq!(
        f.store.get_oidc_refresh_token("r0").await.unwrap(),
        Some((grant.id, true))
    );
    assert_eq!(
        f.store.rotate_oidc_refresh_token("r0", "r2", t).await.unwrap(),
        RefreshRotation::Reused { grant_id: grant.id }
    );
    assert_eq!(f.store.get_oidc_refresh_token("r2").await.unwrap(), None);
    assert_eq!(
        f.store.list_oidc_grants_of_user(user.id, t).await.unwrap(),
        vec![grant.clone()]
    );
    // Ending the browser session ends the grant and its tokens.
    f.store.delete_session(user.id, session.id, &NO_JOURNAL).await.unwrap();
    assert_not_found(f.store.get_oidc_grant(grant.id).await);
    assert_eq!(f.store.get_oidc_refresh_token("r1").await.unwrap(), None);
    assert_eq!(
        f.store.rotate_oidc_refresh_token("r1", "r3", t).await.unwrap(),
        RefreshRotation::Unknown
    );
    // A grant for a session that does not exist is refused.
    let orphan = OidcGrant {
        id: f.ids.next_id(),
        session_id: SessionId(42),
        sid: SessionId(42),
        ..grant.clone()
    };
    assert_not_found(
        f.store
            .insert_oidc_grant(
                &orphan,
                "c9",
                &OidcCode {
                    grant_id: orphan.id,
                    ..code
                },
                &NO_JOURNAL,
            )
            .await,
    );
    assert!(!f.store.delete_oidc_grant(grant.id, &NO_JOURNAL).await.unwrap());
}

/// Every end of a grant queues one back-channel logout for a client with a URI, in the same
/// transaction (migration 0026's trigger): its session, its user's sessions, a ban, its own
/// deletion; expired grants swept away and clients without a URI get none; an offline grant
/// outlives its browser session (whose end still queues a logout for its `sid`) and ends with
/// the user's other sessions. Claims, attempts and the listing.
async fn oidc_grant_ends_queue_backchannel_logouts(backend: Backend) {
    use roster_core::webhooks::{AttemptRecord, DeliveryStatus};
    let f = roster_testkit::or_skip!(fixture(backend).await);
    let t = at_ms(ms(now()));
    let mut rp = client("rp");
    rp.backchannel_logout_uri = Some("https://rp.example/logout".into());
    f.store.insert_oidc_client(&rp, &NO_JOURNAL).await.unwrap();
    f.store.insert_oidc_client(&client("quiet"), &NO_JOURNAL).await.unwrap();
    let grant = |user: UserId, session: SessionId, client: &str, offline: bool, expires_at| {
        let id = f.ids.next_id();
        OidcGrant {
            id,
            client_id: client.into(),
            user_id: user,
            session_id: if offline { SessionId(f.ids.next_id()) } else { session },
            sid: session,
            offline,
            scope: "openid".into(),
            auth_time: t,
            amr: vec!["pwd".into()],
            created_at: t,
            expires_at,
        }
    };
    let store = f.store.clone();
    let add = |g: OidcGrant| {
        let store = store.clone();
        async move {
            let code = OidcCode {
                grant_id: g.id,
                redirect_uri: "https://rp.example/cb".into(),
                nonce: None,
                code_challenge: None,
                created_at: g.created_at,
                expires_at: g.created_at + Duration::seconds(60),
            };
            store
                .insert_oidc_grant(&g, &format!("code{}", g.id), &code, &NO_JOURNAL)
                .await
                .unwrap();
            g
        }
    };
    let pending = || async {
        let mut l = f
            .store
            .list_oidc_logouts(Some("rp"), Some(DeliveryStatus::Pending), 100)
            .await
            .unwrap();
        l.sort_by_key(|l| l.id);
        l.into_iter().map(|l| (l.user_id, l.sid)).collect::<Vec<_>>()
    };

    // A browser session with two grants of rp and one of quiet: its end queues one logout.
    let ann = f.insert(&f.user(Some("ann@example.org"), None)).await;
    let browser = f.session(ann.id, t);
    f.store.insert_session(&browser, "a0").await.unwrap();
    add(grant(ann.id, browser.id, "rp", false, t + Duration::days(1))).await;
    add(grant(ann.id, browser.id, "rp", false, t + Duration::days(1))).await;
    add(grant(ann.id, browser.id, "quiet", false, t + Duration::days(1))).await;
    // An offline grant from the same browser session, in a session of its own.
    let offline = add(grant(ann.id, browser.id, "rp", true, t + Duration::days(1))).await;
    assert_eq!(f.store.list_sessions(ann.id).await.unwrap().len(), 2);
    assert!(pending().await.is_empty());
    f.store.delete_session(ann.id, browser.id, &NO_JOURNAL).await.unwrap();
    assert_eq!(pending().await, vec![(ann.id, browser.id)]);
    // The offline grant outlived it, keeping its sid; ending every session ends it (its
    // logout is already pending: one, not two).
    let (kept, _) = f.store.get_oidc_grant(offline.id).await.unwrap();
    assert!(kept.offline && kept.sid == browser.id && kept.session_id != browser.id);
    f.store
        .delete_sessions_of_user(ann.id, None, &NO_JOURNAL)
        .await
        .unwrap();
    assert_not_found(f.store.get_oidc_grant(offline.id).await);
    assert_eq!(pending().await, vec![(ann.id, browser.id)]);

    // Claimed, attempted, delivered.
    let owner = "worker-1";
    let claimed = f
        .store
        .claim_oidc_logouts(owner, t, t + Duration::seconds(30), 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    assert!(
        f.store
            .claim_oidc_logouts("worker-2", t, t + Duration::seconds(30), 10)
            .await
            .unwrap()
            .is_empty(),
        "leased"
    );
    let delivered = AttemptRecord {
        status: DeliveryStatus::Delivered,
        attempted_at: t,
        status_code: Some(200),
        error: None,
        next_attempt_at: t,
    };
    assert!(
        !f.store
            .record_oidc_logout_attempt(claimed[0].id, "worker-2", &delivered, &NO_JOURNAL)
            .await
            .unwrap()
    );
    assert!(
        f.store
            .record_oidc_logout_attempt(claimed[0].id, owner, &delivered, &NO_JOURNAL)
            .await
            .unwrap()
    );
    let all = f.store.list_oidc_logouts(None, None, 10).await.unwrap();
    assert_eq!(
        (all.len(), all[0].status, all[0].attempts),
        (1, DeliveryStatus::Delivered, 1)
    );
    assert_eq!(all[0].delivered_at, Some(t));

    // A ban ends every grant; an expired grant swept away by a new one ends without a logout;
    // deleting an offline grant (revocation) ends its session.
    let ben = f.insert(&f.user(Some("ben@example.org"), None)).await;
    let session = f.session(ben.id, t);
    f.store.insert_session(&session, "b0").await.unwrap();
    add(grant(ben.id, session.id, "rp", false, t - Duration::seconds(1))).await;
    let offline = add(grant(ben.id, session.id, "rp", true, t + Duration::days(1))).await;
    assert!(pending().await.is_empty(), "the expired grant went quietly");
    assert!(f.store.delete_oidc_grant(offline.id, &NO_JOURNAL).await.unwrap());
    assert_eq!(pending().await, vec![(ben.id, session.id)]);
    assert_eq!(f.store.list_sessions(ben.id).await.unwrap(), vec![session.clone()]);
    add(grant(ben.id, session.id, "rp", false, t + Duration::days(1))).await;
    f.store
        .set_user_ban(ben.id, Some(t + Duration::hours(1)), None, false, t, &NO_JOURNAL)
        .await
        .unwrap();
    assert_eq!(f.store.list_oidc_grants_of_user(ben.id, t).await.unwrap(), vec![]);
    assert_eq!(
        f.store.list_sessions(ben.id).await.unwrap().len(),
        1,
        "a ban leaves the sessions"
    );
    assert_eq!(pending().await.len(), 1, "one pending logout per (client, sid)");

    // Deleting the user queues the rest; deleting the client queues nothing.
    let cy = f.insert(&f.user(Some("cy@example.org"), None)).await;
    let session = f.session(cy.id, t);
    f.store.insert_session(&session, "c0").await.unwrap();
    add(grant(cy.id, session.id, "rp", false, t + Duration::days(1))).await;
    f.store.delete_user(cy.id, false, &NO_JOURNAL).await.unwrap();
    assert_eq!(pending().await.last(), Some(&(cy.id, session.id)));
    let before = f.store.list_oidc_logouts(None, None, 100).await.unwrap().len();
    let dee = f.insert(&f.user(Some("dee@example.org"), None)).await;
    let session = f.session(dee.id, t);
    f.store.insert_session(&session, "d0").await.unwrap();
    add(grant(dee.id, session.id, "rp", false, t + Duration::days(1))).await;
    f.store.delete_oidc_client("rp", &NO_JOURNAL).await.unwrap();
    assert_eq!(f.store.list_oidc_logouts(None, None, 100).await.unwrap().len(), before);
}

async fn oidc_consents_are_per_user_and_client(backend: Backend) {
    let f = roster_testkit::or_skip!(fixture(backend).await);
    let user = f.insert(&f.user(Some("c@example.org"), None)).await;
    let other = f.insert(&f.user(Some("d@example.org"), None)).await;
    let t = at_ms(ms(now()));
    f.store.insert_oidc_client(&client("chat"), &NO_JOURNAL).await.unwrap();
    f.store.insert_oidc_client(&client("wiki"), &NO_JOURNAL).await.unwrap();
    assert_eq!(f.store.get_oidc_consent(user.id, "chat").await.unwrap(), None);
    let consent = OidcConsent {
        user_id: user.id,
        client_id: "chat".into(),
        scopes: vec!["openid".into(), "email".into()],
        created_at: t,
        updated_at: t,
    };
    f.store.put_oidc_consent(&consent, &NO_JOURNAL).await.unwrap();
    assert_eq!(
        f.store.get_oidc_consent(user.id, "chat").await.unwrap(),
        Some(consent.clone())
    );
    // Replacing keeps when it was first given.
    let later = OidcConsent {
        scopes: vec!["openid".into(), "email".into(), "groups".into()],
        created_at: t + Duration::hours(1),
        updated_at: t + Duration::hours(1),
        ..consent.clone()
    };
    f.store.put_oidc_consent(&later, &NO_JOURNAL).await.unwrap();
    let stored = f.store.get_oidc_consent(user.id, "chat").await.unwrap().unwrap();
    assert_eq!(stored.scopes, later.scopes);
    assert_eq!((stored.created_at, stored.updated_at), (t, later.updated_at));
    let wiki = OidcConsent {
        client_id: "wiki".into(),
        ..consent.clone()
    };
    f.store.put_oidc_consent(&wiki, &NO_JOURNAL).await.unwrap();
    let theirs = OidcConsent {
        user_id: other.id,
        ..consent.clone()
    };
    f.store.put_oidc_consent(&theirs, &NO_JOURNAL).await.unwrap();
    let listed: Vec<_> = f
        .store
        .list_oidc_consents(user.id)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.client_id)
        .collect();
    assert_eq!(listed, ["chat", "wiki"]);
    // An unknown client or user: nothing stored.
    assert_not_found(
        f.store
            .put_oidc_consent(
                &OidcConsent {
                    client_id: "nobody".into(),
                    ..consent.clone()
                },
                &NO_JOURNAL,
            )
            .await,
    );

    // Withdrawing deletes the consent and the client's grants of the user (their tokens
    // with them), not other clients' nor other users'.
    let session = f.session(user.id, t);
    f.store.insert_session(&session, "s1").await.unwrap();
    let grant = |id: i64, client: &str| OidcGrant {
        id,
        client_id: client.into(),
        user_id: user.id,
        session_id: session.id,
        sid: session.id,
        offline: false,
        scope: "openid".into(),
        auth_time: t,
        amr: vec!["pwd".into()],
        created_at: t,
        expires_at: t + Duration::days(1),
    };
    let code = |grant_id: i64| OidcCode {
        grant_id,
        redirect_uri: "https://rp.example/cb".into(),
        nonce: None,
        code_challenge: None,
        created_at: t,
        expires_at: t + Duration::seconds(60),
    };
    let (chat_grant, wiki_grant) = (f.ids.next_id(), f.ids.next_id());
    for (id, client, digest) in [(chat_grant, "chat", "k1"), (wiki_grant, "wiki", "k2")] {
        f.store
            .insert_oidc_grant(&grant(id, client), digest, &code(id), &NO_JOURNAL)
            .await
            .unwrap();
    }
    f.store.insert_oidc_refresh_token(chat_grant, "rr", t).await.unwrap();
    f.store.delete_oidc_consent(user.id, "chat", &NO_JOURNAL).await.unwrap();
    assert_eq!(f.store.get_oidc_consent(user.id, "chat").await.unwrap(), None);
    assert_not_found(f.store.get_oidc_grant(chat_grant).await);
    assert_eq!(f.store.get_oidc_refresh_token("rr").await.unwrap(), None);
    assert!(f.store.get_oidc_grant(wiki_grant).await.is_ok());
    assert!(f.store.get_oidc_consent(other.id, "chat").await.unwrap().is_some());
    assert_not_found(f.store.delete_oidc_consent(user.id, "chat", &NO_JOURNAL).await);

    // Removing the client or the user removes their consents.
    f.store.delete_oidc_client("wiki", &NO_JOURNAL).await.unwrap();
    assert!(f.store.list_oidc_consents(user.id).await.unwrap().is_empty());
    f.store.delete_user(other.id, false, &NO_JOURNAL).await.unwrap();
    assert!(f.store.list_oidc_consents(other.id).await.unwrap().is_empty());
}

backend_tests!(
    oidc_consents_are_per_user_and_client,
    oidc_keys_are_unique_per_generation,
    oidc_clients_round_trip,
    oidc_codes_and_refresh_tokens_are_single_use,
    oidc_grant_ends_queue_backchannel_logouts,
);
