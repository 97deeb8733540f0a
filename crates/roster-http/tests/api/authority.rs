//! The authority every operation on other accounts checks, in the core: an API caller must be
//! an administrator (the operator, whose authority the admin commands hold, may), the primary
//! administrator is no other administrator's to change, ban, reset or delete, and where the
//! deployment says so it keeps its role on every route.

use reqwest::Method;
use roster_core::id::id_to_uuid;
use roster_core::service::{
    AdminUserChanges, ListAudit, ListUsers, NewInvitation, NewSubscription, NewUser, PrimaryAdminRole,
};
use roster_core::time::Duration;
use roster_core::webhooks::DeliveryQuery;
use roster_core::{Error, Role};
use roster_testkit::app::spawn_app_with;
use roster_testkit::{Backend, backend_tests, spawn_app};
use serde_json::json;

#[track_caller]
fn forbidden<T: std::fmt::Debug>(result: roster_core::Result<T>) {
    assert!(matches!(result, Err(Error::Forbidden(_))), "{result:?}");
}

async fn every_operation_on_others_checks_its_caller(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let admin = app.admin().await;
    let user = app.user(Role::User).await;
    let target = app.user(Role::User).await;
    let core = &app.core;
    let caller = core.authenticate_bearer(&user.access_token).await.unwrap();
    let c = &caller;
    let new_user = NewUser {
        email: Some("made-by-a-user@example.org".into()),
        ..NewUser::default()
    };
    forbidden(core.create_user(c, new_user).await);
    forbidden(core.find_user(c, &target.email).await);
    forbidden(core.list_users(c, ListUsers::default()).await);
    let demote = AdminUserChanges {
        role: Some(Role::Pending),
        ..AdminUserChanges::default()
    };
    forbidden(core.admin_update_user(c, target.id, demote).await);
    forbidden(core.delete_user(c, target.id).await);
    forbidden(core.delete_user_keeping_transactions(c, target.id).await);
    forbidden(core.revoke_user_sessions(c, target.id).await);
    forbidden(core.ban_user(c, target.id, Duration::hours(1), None).await);
    forbidden(core.unban_user(c, target.id).await);
    forbidden(core.list_bans(c).await);
    forbidden(core.add_badge(c, target.id, "staff").await);
    forbidden(core.remove_badge(c, target.id, "staff").await);
    forbidden(core.balance_of(c, target.id).await);
    forbidden(core.add_balance(c, target.id, 5).await);
    forbidden(core.set_balance(c, target.id, 5).await);
    forbidden(core.balance_details_of(c, target.id).await);
    forbidden(
        core.set_refill_overrides(c, target.id, roster_core::service::RefillChanges::default())
            .await,
    );
    forbidden(core.spend_balance(c, target.id, 1).await);
    forbidden(core.user_balance_transactions(c, target.id, None, 10).await);
    forbidden(
        core.set_user_avatar(c, target.id, b"not even looked at".to_vec(), "/v1/avatars")
            .await,
    );
    forbidden(core.reset_password(c, target.id, "a password of mine", false).await);
    forbidden(core.create_password_reset(c, target.id, Duration::hours(1)).await);
    let invitation = NewInvitation {
        email: "invited-by-a-user@example.org".into(),
        role: None,
        expires_in: Duration::hours(1),
    };
    forbidden(core.create_invitation(c, invitation).await);
    forbidden(core.user_stats(c).await);
    forbidden(core.list_audit(c, ListAudit::default()).await);
    let subscription = NewSubscription {
        url: "https://receiver.example.org/hook".into(),
        ..NewSubscription::default()
    };
    forbidden(core.create_subscription(c, subscription).await);
    forbidden(core.list_subscriptions(c).await);
    forbidden(core.get_subscription(c, 1).await);
    forbidden(core.delete_subscription(c, 1).await);
    let query = DeliveryQuery {
        limit: 10,
        ..DeliveryQuery::default()
    };
    forbidden(core.list_deliveries(c, query).await);
    forbidden(core.replay_delivery(c, 1).await);
    forbidden(core.list_deletions(c, true, 10).await);
    // Nothing was done: the target still signs in, unbanned, without badges.
    app.login(&target.email, &target.password).await.assert_status(200);
    assert!(core.badges_of(target.id).await.unwrap().is_empty());

    // The operator may.
    let op = core.operator();
    assert_eq!(core.find_user(op, &target.email).await.unwrap().id, target.id);
    core.ban_user(op, target.id, Duration::hours(1), None).await.unwrap();
    assert_eq!(core.list_bans(op).await.unwrap().len(), 1);
    core.unban_user(op, target.id).await.unwrap();
    assert_eq!(core.add_badge(op, target.id, "staff").await.unwrap(), ["staff"]);
    assert_eq!(core.add_balance(op, target.id, 5).await.unwrap(), 5);
    let spent = core.spend_balance(op, target.id, 2).await.unwrap();
    assert!(spent.spent);
    assert_eq!(core.add_balance(op, target.id, 2).await.unwrap(), 5);
    assert_eq!(core.user_stats(op).await.unwrap().total, 3);
    // So does an administrator.
    let a = core.authenticate_bearer(&admin.access_token).await.unwrap();
    assert_eq!(core.balance_of(&a, target.id).await.unwrap(), 5);
    core.delete_user(&a, target.id).await.unwrap();
    app.login(&target.email, &target.password).await.assert_status(401);
}

async fn no_other_admin_takes_over_the_primary_admin(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let primary = app.admin().await;
    let other = app.user(Role::Admin).await;
    let plain = app.user(Role::User).await;
    let core = &app.core;
    let o = core.authenticate_bearer(&other.access_token).await.unwrap();
    // Resetting its second factor, on the native route.
    let other_token = Some(other.access_token.as_str());
    app.delete(&format!("/v1/users/{}/2fa", primary.id), other_token)
        .await
        .assert_problem(403, "forbidden");
    app.delete(&format!("/v1/users/{}/2fa", plain.id), other_token)
        .await
        .assert_status(204);
    // What the admin commands do, asked by another administrator.
    forbidden(core.ban_user(&o, primary.id, Duration::hours(1), None).await);
    forbidden(core.reset_password(&o, primary.id, "taken over at last", true).await);
    forbidden(core.create_password_reset(&o, primary.id, Duration::hours(1)).await);
    forbidden(core.delete_user_keeping_transactions(&o, primary.id).await);
    app.login(&primary.email, &primary.password).await.assert_status(200);
    assert!(core.list_bans(&o).await.unwrap().is_empty());
    // Other accounts are administered as before, and the operator may.
    core.ban_user(&o, plain.id, Duration::hours(1), None).await.unwrap();
    core.reset_password(&o, plain.id, "reset by an admin", false)
        .await
        .unwrap();
    core.reset_password(core.operator(), primary.id, "the operator's choice", false)
        .await
        .unwrap();
    app.login(&primary.email, "the operator's choice")
        .await
        .assert_status(200);
}

async fn where_the_deployment_says_so_the_primary_admin_keeps_its_role_everywhere(backend: Backend) {
    let configure = |c: &mut roster_core::CoreConfig| c.primary_admin_role = PrimaryAdminRole::Everywhere;
    let app = roster_testkit::or_skip!(spawn_app_with(backend, configure).await);
    let primary = app.admin().await;
    let second = app.user(Role::Admin).await;
    let p = Some(primary.access_token.as_str());
    let own = format!("/v1/users/{}", primary.id);
    for role in ["user", "pending"] {
        app.patch(&own, p, &json!({ "role": role }))
            .await
            .assert_problem(403, "forbidden");
    }
    let langflow = format!("/langflow/api/v1/users/{}", id_to_uuid(primary.id.0));
    app.request(Method::PATCH, &langflow, p, Some(&json!({"is_superuser": false})))
        .await
        .assert_status(403);
    assert_eq!(app.core.store.get_user(primary.id).await.unwrap().role, Role::Admin);
    // It changes the rest of its account, and other admins step down, as before.
    app.patch(&own, p, &json!({"name": "Primary"})).await.assert_status(200);
    app.patch(
        &format!("/v1/users/{}", second.id),
        Some(&second.access_token),
        &json!({"role": "user"}),
    )
    .await
    .assert_status(200);
}

backend_tests!(
    every_operation_on_others_checks_its_caller,
    no_other_admin_takes_over_the_primary_admin,
    where_the_deployment_says_so_the_primary_admin_keeps_its_role_everywhere,
);
