//! Pages of users by offset, for the products whose APIs page that way (`skip`, `page`):
//! the core walks its cursor pages, so no dialect loops over them.

use super::{Actor, Core, ListUsers, MAX_PAGE_SIZE, UserPage};
use crate::error::Result;
use crate::user::User;

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
        let mut skip = offset;
        let mut cursor = None;
        let mut total = None;
        let mut users = Vec::new();
        loop {
            let limit = match request.limit {
                _ if skip > 0 => skip.min(u64::from(MAX_PAGE_SIZE)) as u32,
                Some(limit) => limit,
                None => MAX_PAGE_SIZE,
            };
            let page = ListUsers {
                cursor: cursor.take(),
                limit: Some(limit),
                with_total: request.with_total && total.is_none(),
                ..request.clone()
            };
            let page: UserPage = match listing {
                UserListing::Administered => self.list_users(actor, page).await?,
                UserListing::Directory => self.search_user_directory(actor, page).await?,
            };
            total = total.or(page.total);
            if skip > 0 {
                skip -= page.users.len() as u64;
            } else {
                users.extend(page.users);
                if request.limit.is_some() {
                    break;
                }
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
