//! Pages of users: by cursor (the native API's listing, and what every other listing walks),
//! and by offset, for the products whose APIs page that way (`skip`, `page`): the core walks
//! its cursor pages, so no dialect loops over them.

use super::{Actor, Authority, Core};
use crate::error::{Error, Result};
use crate::id::UserId;
use crate::store::{SortKey, UserFilters, UserQuery, UserSort};
use crate::user::{Role, User};

/// The most users one page holds.
pub const MAX_PAGE_SIZE: u32 = 200;

/// One page of users and where the next starts.
#[derive(Debug, Clone)]
pub struct UserPage {
    pub users: Vec<User>,
    pub next_cursor: Option<String>,
    /// How many users match in all, when asked for.
    pub total: Option<i64>,
}

/// Listing parameters as the API receives them.
#[derive(Debug, Clone, Default)]
pub struct ListUsers {
    pub search: Option<String>,
    pub role: Option<Role>,
    pub active: Option<bool>,
    pub sort: UserSort,
    pub descending: bool,
    pub cursor: Option<String>,
    pub limit: Option<u32>,
    /// Also count every match.
    pub with_total: bool,
    /// The further filters (the admin console's: verified, banned, two-factor, group, provider).
    pub filters: UserFilters,
}

/// Encodes a list position as an opaque cursor.
fn encode_cursor(sort: UserSort, key: &SortKey, id: UserId) -> String {
    use base64::Engine as _;
    let raw = match key {
        SortKey::Int(v) => format!("{}|i|{}|{}", sort.as_str(), v, id.0),
        SortKey::Text(v) => format!("{}|t|{}|{}", sort.as_str(), id.0, v),
    };
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

fn decode_cursor(sort: UserSort, cursor: &str) -> Result<(SortKey, UserId)> {
    use base64::Engine as _;
    let bad = || Error::invalid("cursor", "is not a cursor of this listing");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| bad())?;
    let raw = String::from_utf8(bytes).map_err(|_| bad())?;
    let mut parts = raw.splitn(4, '|');
    let (Some(s), Some(kind), Some(a), Some(b)) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(bad());
    };
    if s != sort.as_str() {
        return Err(bad());
    }
    match kind {
        "i" => Ok((
            SortKey::Int(a.parse().map_err(|_| bad())?),
            UserId(b.parse().map_err(|_| bad())?),
        )),
        "t" => Ok((SortKey::Text(b.to_string()), UserId(a.parse().map_err(|_| bad())?))),
        _ => Err(bad()),
    }
}

/// The sort key of a user for `sort`, matching how the stores order.
pub(crate) fn sort_key(sort: UserSort, user: &User) -> SortKey {
    match sort {
        UserSort::CreatedAt => SortKey::Int((user.created_at.unix_timestamp_nanos() / 1_000_000) as i64),
        UserSort::Email => SortKey::Text(user.email.clone().unwrap_or_default()),
        UserSort::Username => SortKey::Text(user.username.as_deref().unwrap_or_default().to_lowercase()),
        UserSort::Name => SortKey::Text(user.name.clone().unwrap_or_default()),
        UserSort::UpdatedAt => SortKey::Int((user.updated_at.unix_timestamp_nanos() / 1_000_000) as i64),
        UserSort::LastActiveAt => SortKey::Int(
            user.last_active_at
                .map_or(0, |t| (t.unix_timestamp_nanos() / 1_000_000) as i64),
        ),
        UserSort::Role => SortKey::Text(user.role.as_str().to_string()),
    }
}

/// The cursor that continues a listing sorted by `sort` after `user`.
pub fn cursor_after(sort: UserSort, user: &User) -> String {
    encode_cursor(sort, &sort_key(sort, user), user.id)
}

/// Who is listing, and so which rule applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserListing {
    /// An administrator's listing ([`Core::list_users`]).
    Administered,
    /// The user directory any signed-in user may search ([`Core::search_user_directory`]).
    Directory,
}

/// Users taken by offset, and how many match in all.
#[derive(Debug, Clone, PartialEq)]
pub struct OffsetPage {
    pub users: Vec<User>,
    /// Every match when `with_total` was asked for; otherwise how many were returned.
    pub total: i64,
}

impl Core {
    /// The users from `offset` on, in `request`'s order and filters (its cursor is not
    /// used): `request.limit` of them (at most [`MAX_PAGE_SIZE`]), or every one when None.
    pub async fn list_users_by_offset(
        &self,
        actor: &Actor,
        listing: UserListing,
        request: ListUsers,
        offset: u64,
    ) -> Result<OffsetPage> {
        // A deep page seeks its start (the position of the user just before it, read from the
        // sort index alone) and reads from there by keyset: it costs what the first page does
        // but for that walk of the index, and holds the same users as walking every page
        // before it would.
        let mut cursor = None;
        if offset > 0 {
            if listing == UserListing::Administered {
                Authority::Actor(actor).require_admin()?;
            }
            let (query, _) = user_query(&ListUsers {
                cursor: None,
                ..request.clone()
            })?;
            match self.user_position(&query, offset - 1).await? {
                Some((key, id)) => cursor = Some(encode_cursor(request.sort, &key, id)),
                None => {
                    let total = if request.with_total {
                        self.count_matching_users(&query).await?
                    } else {
                        0
                    };
                    return Ok(OffsetPage {
                        users: Vec::new(),
                        total,
                    });
                }
            }
        }
        let mut total = None;
        let mut users = Vec::new();
        loop {
            let page = ListUsers {
                cursor: cursor.take(),
                limit: Some(request.limit.unwrap_or(MAX_PAGE_SIZE)),
                with_total: request.with_total && total.is_none(),
                ..request.clone()
            };
            let page: UserPage = match listing {
                UserListing::Administered => self.list_users(actor, page).await?,
                UserListing::Directory => self.search_user_directory(actor, page).await?,
            };
            total = total.or(page.total);
            users.extend(page.users);
            if request.limit.is_some() {
                break;
            }
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        let total = total.unwrap_or(users.len() as i64);
        Ok(OffsetPage { users, total })
    }
}

/// The store's query for a listing request (its position, and one more than its limit to
/// tell whether a next page exists) and the limit; checks the limit and the search.
fn user_query(request: &ListUsers) -> Result<(UserQuery, u32)> {
    let limit = request.limit.unwrap_or(50);
    if !(1..=MAX_PAGE_SIZE).contains(&limit) {
        return Err(Error::invalid(
            "limit",
            format!("must be between 1 and {MAX_PAGE_SIZE}"),
        ));
    }
    let search = request
        .search
        .as_deref()
        .map(|s| s.trim().to_lowercase())
        .filter(|s| !s.is_empty());
    if search.as_ref().is_some_and(|s| s.chars().count() > 256) {
        return Err(Error::invalid("q", "must be at most 256 characters"));
    }
    let after = request
        .cursor
        .as_deref()
        .map(|c| decode_cursor(request.sort, c))
        .transpose()?;
    let query = UserQuery {
        search,
        role: request.role,
        active: request.active,
        sort: request.sort,
        descending: request.descending,
        after,
        limit: limit + 1,
        filters: request.filters.clone(),
    };
    Ok((query, limit))
}

impl Core {
    /// A page of users, for administrators and the operator.
    pub async fn list_users(&self, by: impl Into<Authority<'_>>, request: ListUsers) -> Result<UserPage> {
        by.into().require_admin()?;
        self.user_page(request).await
    }

    /// A page of users, for whoever may see it (see [`Core::list_users`] and
    /// [`Core::search_user_directory`]).
    pub(super) async fn user_page(&self, request: ListUsers) -> Result<UserPage> {
        let (query, limit) = user_query(&request)?;
        let total = if request.with_total {
            Some(self.count_matching_users(&query).await?)
        } else {
            None
        };
        let mut users = self.store.list_users(&query).await?;
        let next_cursor = if users.len() > limit as usize {
            users.truncate(limit as usize);
            users.last().map(|u| cursor_after(request.sort, u))
        } else {
            None
        };
        Ok(UserPage {
            users,
            next_cursor,
            total,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_tampering() {
        let c = encode_cursor(UserSort::Email, &SortKey::Text("a|b@x.org".into()), UserId(7));
        assert_eq!(
            decode_cursor(UserSort::Email, &c).unwrap(),
            (SortKey::Text("a|b@x.org".into()), UserId(7))
        );
        assert!(decode_cursor(UserSort::Name, &c).is_err());
        let c = encode_cursor(UserSort::CreatedAt, &SortKey::Int(-3), UserId(9));
        assert_eq!(
            decode_cursor(UserSort::CreatedAt, &c).unwrap(),
            (SortKey::Int(-3), UserId(9))
        );
        assert!(decode_cursor(UserSort::CreatedAt, "%%%").is_err());
        assert!(decode_cursor(UserSort::CreatedAt, "aGVsbG8").is_err());
    }
}
