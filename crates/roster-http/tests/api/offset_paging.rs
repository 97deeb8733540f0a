//! Offset paging (Open WebUI's `page`, Langflow's `skip`): a deep page seeks its start in the
//! sort index and reads by keyset, and holds exactly the users that walking the listing from
//! its start holds at that offset, in every order, with ties and with filters.

use roster_core::service::{ListUsers, NewUser, UserListing};
use roster_core::store::UserSort;
use roster_core::{Actor, Role};
use roster_testkit::app::TestApp;
use roster_testkit::{Backend, backend_tests, spawn_app};

/// Every user of a listing, in its order, by walking its cursor pages (the native listing).
async fn walk(app: &TestApp, actor: &Actor, request: &ListUsers) -> Vec<i64> {
    let mut ids = Vec::new();
    let mut cursor = None;
    loop {
        let page = app
            .core
            .list_users(
                actor,
                ListUsers {
                    cursor,
                    limit: Some(7),
                    with_total: false,
                    ..request.clone()
                },
            )
            .await
            .unwrap();
        ids.extend(page.users.iter().map(|u| u.id.0));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return ids,
        }
    }
}

async fn deep_pages_hold_what_the_walk_holds(backend: Backend) {
    let app = roster_testkit::or_skip!(spawn_app(backend).await);
    let admin = app.admin().await;
    // Names repeat (ties broken by id), some users have none; emails and creation times vary.
    for i in 0..61 {
        let name = match i % 5 {
            0 => None,
            k => Some(format!("Name {}", k % 3)),
        };
        app.core
            .create_user(
                app.core.operator(),
                NewUser {
                    email: Some(format!("user{:02}@{}.example", (i * 37) % 61, i % 4)),
                    name,
                    password: Some("long enough".into()),
                    role: Some(if i % 9 == 0 { Role::Admin } else { Role::User }),
                    ..NewUser::default()
                },
            )
            .await
            .unwrap();
        if i % 10 == 0 {
            app.advance(time::Duration::milliseconds(3));
        }
    }
    let actor = app.core.authenticate_bearer(&admin.access_token).await.unwrap();
    let sorts = [
        UserSort::CreatedAt,
        UserSort::Name,
        UserSort::Email,
        UserSort::Role,
        UserSort::Username,
    ];
    for sort in sorts {
        for descending in [false, true] {
            for search in [None, Some("example".to_string()), Some("@1.".to_string())] {
                let request = ListUsers {
                    sort,
                    descending,
                    search: search.clone(),
                    ..ListUsers::default()
                };
                let all = walk(&app, &actor, &request).await;
                for limit in [1_u32, 5, 30] {
                    for offset in [0_u64, 1, 4, 5, 29, 30, 31, 60, 61, 62, 100] {
                        let page = app
                            .core
                            .list_users_by_offset(
                                &actor,
                                UserListing::Administered,
                                ListUsers {
                                    limit: Some(limit),
                                    with_total: true,
                                    ..request.clone()
                                },
                                offset,
                            )
                            .await
                            .unwrap();
                        let got: Vec<i64> = page.users.iter().map(|u| u.id.0).collect();
                        let start = (offset as usize).min(all.len());
                        let end = (start + limit as usize).min(all.len());
                        assert_eq!(
                            got,
                            all[start..end],
                            "{sort:?} descending={descending} search={search:?} limit={limit} offset={offset}"
                        );
                        assert_eq!(page.total, all.len() as i64);
                    }
                }
                // Without a limit: everything from the offset on.
                let rest = app
                    .core
                    .list_users_by_offset(&actor, UserListing::Directory, request.clone(), 17)
                    .await
                    .unwrap();
                let got: Vec<i64> = rest.users.iter().map(|u| u.id.0).collect();
                assert_eq!(got, all[17.min(all.len())..], "{sort:?} {descending} {search:?}");
            }
        }
    }
    // A deep page is still for administrators only.
    let user = app.user(Role::User).await;
    let actor = app.core.authenticate_bearer(&user.access_token).await.unwrap();
    assert!(
        app.core
            .list_users_by_offset(&actor, UserListing::Administered, ListUsers::default(), 30)
            .await
            .is_err()
    );

    // Through the products' routes: Open WebUI's pages of 30 and Langflow's skip.
    let admin_token = admin.access_token.clone();
    let newest_first = walk(
        &app,
        &app.core.authenticate_bearer(&admin_token).await.unwrap(),
        &ListUsers {
            sort: UserSort::CreatedAt,
            descending: true,
            ..ListUsers::default()
        },
    )
    .await;
    for page in 1..=4 {
        let r = app
            .get(&format!("/openwebui/api/v1/users/?page={page}"), Some(&admin_token))
            .await;
        r.assert_status(200);
        let count = r.body["users"].as_array().unwrap().len();
        let start = ((page - 1) * 30).min(newest_first.len());
        assert_eq!(count, (newest_first.len() - start).min(30), "page {page}");
        assert_eq!(r.body["total"], newest_first.len());
    }
    let r = app
        .get("/langflow/api/v1/users/?skip=50&limit=10", Some(&admin_token))
        .await;
    r.assert_status(200);
    assert_eq!(r.body["total_count"], newest_first.len());
}

backend_tests!(deep_pages_hold_what_the_walk_holds);
