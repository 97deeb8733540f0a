//! Listing users: pages, sorting, filters and search.

use crate::common::*;

/// The key the core builds cursors from.
fn sort_key(sort: UserSort, user: &User) -> SortKey {
    match sort {
        UserSort::CreatedAt => SortKey::Int(ms(user.created_at)),
        UserSort::Email => SortKey::Text(user.email.clone().unwrap_or_default()),
        UserSort::Username => SortKey::Text(user.username.as_deref().unwrap_or_default().to_lowercase()),
        UserSort::Name => SortKey::Text(user.name.clone().unwrap_or_default()),
        UserSort::UpdatedAt => SortKey::Int(ms(user.updated_at)),
        UserSort::LastActiveAt => SortKey::Int(user.last_active_at.map_or(0, ms)),
        UserSort::Role => SortKey::Text(user.role.as_str().to_string()),
    }
}

fn key_order(a: &SortKey, b: &SortKey) -> std::cmp::Ordering {
    match (a, b) {
        (SortKey::Int(a), SortKey::Int(b)) => a.cmp(b),
        // Byte order, as SQLite's BINARY and PostgreSQL's "C" collation compare.
        (SortKey::Text(a), SortKey::Text(b)) => a.as_bytes().cmp(b.as_bytes()),
        _ => unreachable!(),
    }
}

/// A varied population: missing fields, ties, case and non-ASCII text.
async fn populate(f: &Fixture) -> Vec<User> {
    let names = [
        Some("adam"),
        Some("Adam"),
        Some("ADAM"),
        None,
        Some("Émile"),
        Some("zoë"),
        Some("Ωmega"),
        Some("bob"),
        Some("bob"),
        Some(""),
        Some("Zed"),
        Some("ändrea"),
    ];
    let base = ms(now()) - 100_000;
    let mut users = Vec::new();
    for i in 0..37usize {
        let email = (i % 5 != 0).then(|| format!("member{:02}@{}.example.org", (i * 7) % 37, ["b", "a", "c"][i % 3]));
        let username = (i % 4 != 1 || email.is_none())
            .then(|| format!("{}_{:02}", ["Kim", "kim", "LEE", "ßara", "Øle"][i % 5], (i * 11) % 37));
        let mut user = f.user(email.as_deref(), username.as_deref());
        user.name = names[i % names.len()].map(str::to_string);
        // Creation times with ties.
        user.created_at = at_ms(base + (i as i64 % 9) * 1000);
        user.updated_at = user.created_at;
        user.active = i % 6 != 0;
        user.role = if i % 7 == 0 { Role::Pending } else { Role::User };
        users.push(f.insert(&user).await);
    }
    users
}

fn expected_order(users: &[User], sort: UserSort, descending: bool) -> Vec<UserId> {
    let mut sorted: Vec<&User> = users.iter().collect();
    sorted.sort_by(|a, b| key_order(&sort_key(sort, a), &sort_key(sort, b)).then(a.id.cmp(&b.id)));
    if descending {
        sorted.reverse();
    }
    sorted.into_iter().map(|u| u.id).collect()
}

async fn walk(store: &dyn Store, base: &UserQuery, page_size: u32) -> Vec<UserId> {
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let query = UserQuery {
            after: after.clone(),
            limit: page_size,
            ..base.clone()
        };
        let page = store.list_users(&query).await.unwrap();
        assert!(page.len() <= page_size as usize);
        seen.extend(page.iter().map(|u| u.id));
        match page.last() {
            Some(last) if page.len() == page_size as usize => after = Some((sort_key(base.sort, last), last.id)),
            _ => break,
        }
    }
    seen
}

async fn list_users_pages_match_one_query(backend: Backend) {
    let f = roster_testkit::or_skip!(fixture(backend).await);
    let users = populate(&f).await;
    for sort in [
        UserSort::CreatedAt,
        UserSort::Email,
        UserSort::Username,
        UserSort::Name,
        UserSort::UpdatedAt,
        UserSort::LastActiveAt,
        UserSort::Role,
    ] {
        for descending in [false, true] {
            let base = UserQuery {
                sort,
                descending,
                limit: 1000,
                ..UserQuery::default()
            };
            let expected = expected_order(&users, sort, descending);
            let all: Vec<UserId> = f.store.list_users(&base).await.unwrap().iter().map(|u| u.id).collect();
            assert_eq!(all, expected, "one query, sort {sort:?}, descending {descending}");
            for page_size in [1, 4, 7, 37, 50] {
                let walked = walk(f.store.as_ref(), &base, page_size).await;
                assert_eq!(
                    walked, expected,
                    "pages of {page_size}, sort {sort:?}, descending {descending}"
                );
                assert_eq!(
                    walked.iter().collect::<HashSet<_>>().len(),
                    users.len(),
                    "no duplicates"
                );
            }
            // Offset paging seeks a position, then reads by keyset from it: the same users.
            for offset in 0..expected.len() + 1 {
                let position = f.store.user_position(&base, offset as u64).await.unwrap();
                let Some((key, id)) = position else {
                    assert_eq!(offset, expected.len(), "a position past the end, sort {sort:?}");
                    continue;
                };
                assert_eq!(
                    id, expected[offset],
                    "position {offset}, sort {sort:?}, descending {descending}"
                );
                if offset % 5 == 0 {
                    let rest = UserQuery {
                        after: Some((key, id)),
                        ..base.clone()
                    };
                    // A position counted from this one is the one that far from the start.
                    for step in [0, 1, 6] {
                        let from_here = f.store.user_position(&rest, step).await.unwrap().map(|p| p.1);
                        assert_eq!(
                            from_here,
                            expected.get(offset + 1 + step as usize).copied(),
                            "{step} after position {offset}, sort {sort:?}, descending {descending}"
                        );
                    }
                    let rest: Vec<UserId> = f.store.list_users(&rest).await.unwrap().iter().map(|u| u.id).collect();
                    assert_eq!(rest, expected[offset + 1..], "after position {offset}, sort {sort:?}");
                }
            }
            // Filters combine with pagination.
            let active = UserQuery {
                active: Some(true),
                ..base.clone()
            };
            let expected_active: Vec<UserId> = expected
                .iter()
                .copied()
                .filter(|id| users.iter().any(|u| u.id == *id && u.active))
                .collect();
            assert_eq!(walk(f.store.as_ref(), &active, 5).await, expected_active);
            for (offset, id) in expected_active.iter().enumerate() {
                let position = f.store.user_position(&active, offset as u64).await.unwrap();
                assert_eq!(position.map(|p| p.1), Some(*id), "active, position {offset}");
            }
            let past = f
                .store
                .user_position(&active, expected_active.len() as u64)
                .await
                .unwrap();
            assert!(past.is_none());
        }
    }
}

async fn list_users_filters_and_search(backend: Backend) {
    let f = roster_testkit::or_skip!(fixture(backend).await);
    let admin = f
        .store
        .insert_user(&f.user(Some("root@example.org"), Some("root")), true, &NO_JOURNAL)
        .await
        .unwrap();
    let named = |email: &str, username: Option<&str>, name: &str| {
        let mut user = f.user(Some(email), username);
        user.name = Some(name.into());
        user
    };
    let percent = f.insert(&named("p@example.org", None, "100% Sure")).await;
    let underscore = f.insert(&named("u@example.org", Some("under_score"), "Under")).await;
    let backslash = f.insert(&named("b@example.org", None, r"back\slash")).await;
    let plain = f
        .insert(&named("plain@example.org", Some("PlainUser"), "Plain One"))
        .await;
    let mut pending = named("wait@example.org", None, "Waiting");
    pending.role = Role::Pending;
    let pending = f.insert(&pending).await;
    let mut inactive = named("off@example.org", None, "Switched Off");
    inactive.active = false;
    let inactive = f.insert(&inactive).await;

    let ids = |query: UserQuery| {
        let store = f.store.clone();
        async move {
            let query = UserQuery { limit: 100, ..query };
            store
                .list_users(&query)
                .await
                .unwrap()
                .into_iter()
                .map(|u| u.id)
                .collect::<BTreeSet<_>>()
        }
    };
    let search = |s: &str| UserQuery {
        search: Some(s.into()),
        ..UserQuery::default()
    };
    let set = |users: &[&User]| users.iter().map(|u| u.id).collect::<BTreeSet<_>>();

    assert_eq!(ids(search("%")).await, set(&[&percent]));
    assert_eq!(ids(search("_")).await, set(&[&underscore]));
    assert_eq!(ids(search("\\")).await, set(&[&backslash]));
    assert_eq!(ids(search("100%")).await, set(&[&percent]));
    assert_eq!(ids(search("r_s")).await, set(&[&underscore]));
    // Email, username (any case as stored) and name are all searched.
    assert_eq!(ids(search("plainuser")).await, set(&[&plain]));
    assert_eq!(ids(search("plain one")).await, set(&[&plain]));
    assert_eq!(ids(search("plain@")).await, set(&[&plain]));
    assert_eq!(ids(search("sure")).await, set(&[&percent]));
    assert_eq!(ids(search("nothing like this")).await, BTreeSet::new());
    assert_eq!(ids(search("example.org")).await.len(), 7);

    assert_eq!(
        ids(UserQuery {
            role: Some(Role::Admin),
            ..UserQuery::default()
        })
        .await,
        set(&[&admin])
    );
    assert_eq!(
        ids(UserQuery {
            role: Some(Role::Pending),
            ..UserQuery::default()
        })
        .await,
        set(&[&pending])
    );
    assert_eq!(
        ids(UserQuery {
            active: Some(false),
            ..UserQuery::default()
        })
        .await,
        set(&[&inactive])
    );
    assert_eq!(
        ids(UserQuery {
            active: Some(true),
            ..UserQuery::default()
        })
        .await
        .len(),
        6
    );
    // "n" is also in the pending "Waiting"; the filters drop it.
    let combined = UserQuery {
        search: Some("n".into()),
        role: Some(Role::User),
        active: Some(true),
        ..UserQuery::default()
    };
    assert_eq!(ids(combined).await, set(&[&underscore, &plain]));
    let combined = UserQuery {
        search: Some("wait".into()),
        role: Some(Role::User),
        ..UserQuery::default()
    };
    assert_eq!(ids(combined).await, BTreeSet::new());
    assert_eq!(f.store.count_users().await.unwrap(), 7);
    // Limits apply.
    let limited = UserQuery {
        limit: 2,
        ..UserQuery::default()
    };
    assert_eq!(f.store.list_users(&limited).await.unwrap().len(), 2);
}

backend_tests!(list_users_pages_match_one_query, list_users_filters_and_search,);
