//! Listing users and groups: the query (filter, sort, page), the candidates a filter names
//! by index, the limit on reading every user, and the ListResponse message.

use super::ScimResourceKind;
use super::filter::{self, AttrPath, Filter, parse_filter};
use crate::error::{Error, Result};
use crate::id::UserId;
use crate::service::{Actor, Core, ListUsers, UserListing};
use crate::store::ScimKind;
use crate::user::User;
use serde_json::{Value, json};
use std::cmp::Ordering;

/// The ListResponse message's schema.
pub const LIST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
/// The most resources one page holds (a larger `count` is lowered to it).
pub const MAX_RESULTS: i64 = 200;

/// A listing request: the query parameters of `GET /Users` and `GET /Groups`.
#[derive(Debug, Clone, Default)]
pub struct ScimListQuery {
    pub filter: Option<String>,
    /// 1-based; below 1 counts as 1.
    pub start_index: Option<i64>,
    /// Below 0 counts as 0; above [`MAX_RESULTS`] as that.
    pub count: Option<i64>,
    pub sort_by: Option<String>,
    /// `ascending` (the default) or `descending`.
    pub sort_order: Option<String>,
}

/// A page of resources.
#[derive(Debug, Clone)]
pub struct ScimList {
    pub total_results: i64,
    pub start_index: i64,
    pub resources: Vec<Value>,
}

impl ScimList {
    /// The ListResponse message.
    pub fn to_json(&self) -> Value {
        json!({
            "schemas": [LIST_SCHEMA],
            "totalResults": self.total_results,
            "startIndex": self.start_index,
            "itemsPerPage": self.resources.len(),
            "Resources": self.resources,
        })
    }
}

/// Orders resources by the first value at `path` (resources without one last).
fn sort_resources(resources: &mut [Value], path: &AttrPath, descending: bool) {
    resources.sort_by(|a, b| {
        let first = |r: &Value| path.values(r).first().map(|v| (*v).clone());
        let ordering = match (first(a), first(b)) {
            (Some(x), Some(y)) => filter::order(path, &x, &y).unwrap_or(Ordering::Equal),
            (Some(_), None) => return Ordering::Less,
            (None, Some(_)) => return Ordering::Greater,
            (None, None) => Ordering::Equal,
        };
        if descending { ordering.reverse() } else { ordering }
    });
}

/// Reads the page bounds: (start index, count).
fn page_bounds(query: &ScimListQuery) -> (i64, i64) {
    let start = query.start_index.unwrap_or(1).max(1);
    let count = query.count.unwrap_or(MAX_RESULTS).clamp(0, MAX_RESULTS);
    (start, count)
}

impl Core {
    /// Users that may match `filter`: the few its top-level equalities name (a username,
    /// an email, an `externalId`, an id), looked up by index; None when it names none of
    /// those, and every user must be looked at.
    async fn user_candidates(&self, filter: &Filter) -> Result<Option<Vec<User>>> {
        for (path, value) in filter.required_equal() {
            let ids: Vec<UserId> = if path.is("userName", None) {
                match self.store.find_user_by_username(&value.to_lowercase()).await {
                    Ok(u) => vec![u.id],
                    Err(crate::store::StoreError::NotFound) => match self.store.find_user_by_login(value).await {
                        // A user without a username shows its email as its userName.
                        Ok(u) if u.username.is_none() => vec![u.id],
                        Ok(_) | Err(crate::store::StoreError::NotFound) => Vec::new(),
                        Err(e) => return Err(e.into()),
                    },
                    Err(e) => return Err(e.into()),
                }
            } else if path.is("externalId", None) {
                self.store
                    .find_scim_external_id(ScimKind::User, value)
                    .await?
                    .into_iter()
                    .map(UserId)
                    .collect()
            } else if path.is("id", None) {
                value.parse::<i64>().ok().map(UserId).into_iter().collect()
            } else if path.is("emails", None) || path.is("emails", Some("value")) {
                match self.store.find_user_by_login(value).await {
                    Ok(u) => vec![u.id],
                    Err(crate::store::StoreError::NotFound) => Vec::new(),
                    Err(e) => return Err(e.into()),
                }
            } else {
                continue;
            };
            let mut users = Vec::new();
            for id in ids {
                match self.store.get_user(id).await {
                    Ok(u) => users.push(u),
                    Err(crate::store::StoreError::NotFound) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            return Ok(Some(users));
        }
        Ok(None)
    }

    /// A page of users or groups: filtered, sorted, from `start_index`, `count` of them.
    pub async fn scim_list(
        &self,
        actor: &Actor,
        kind: ScimResourceKind,
        base: &str,
        query: &ScimListQuery,
    ) -> Result<ScimList> {
        self.require_scim(actor)?;
        let filter = query
            .filter
            .as_deref()
            .filter(|f| !f.trim().is_empty())
            .map(parse_filter)
            .transpose()?;
        let sort = query
            .sort_by
            .as_deref()
            .filter(|s| !s.trim().is_empty())
            .map(|s| {
                AttrPath::parse(s.trim())
                    .map_err(|_| Error::invalid("sortBy", format!("{s:?} is not an attribute path")))
            })
            .transpose()?;
        let descending = match query.sort_order.as_deref().map(str::to_ascii_lowercase).as_deref() {
            None | Some("") | Some("ascending") => false,
            Some("descending") => true,
            Some(_) => return Err(Error::invalid("sortOrder", "must be ascending or descending")),
        };
        let (start, count) = page_bounds(query);
        // Neither a filter nor a sort: a page of users straight from the store, by creation.
        if kind == ScimResourceKind::User && filter.is_none() && sort.is_none() {
            let request = ListUsers {
                limit: Some(u32::try_from(count.max(1)).unwrap_or(1)),
                with_total: true,
                ..ListUsers::default()
            };
            let page = self
                .list_users_by_offset(actor, UserListing::Administered, request, (start - 1) as u64)
                .await?;
            let users = if count == 0 { Vec::new() } else { page.users };
            return Ok(ScimList {
                total_results: page.total,
                start_index: start,
                resources: self.render_users(&users, base).await?,
            });
        }
        let mut resources = match kind {
            ScimResourceKind::User => {
                let users = match filter.as_ref() {
                    Some(f) => self.user_candidates(f).await?,
                    None => None,
                };
                let users = match users {
                    Some(users) => users,
                    None => {
                        // Every user is read and rendered to be filtered or sorted: refused past
                        // the configured number, rather than held in memory.
                        let everyone = self.count_matching_users(&crate::store::UserQuery::default()).await?;
                        let most = i64::try_from(self.config.scim_max_scanned_users).unwrap_or(i64::MAX);
                        if everyone > most {
                            return Err(Error::invalid(
                                "too_many",
                                format!(
                                    "this filter or sort would read all {everyone} users (at most {most}): \
                                     filter by userName, emails, externalId or id"
                                ),
                            ));
                        }
                        self.list_users_by_offset(
                            actor,
                            UserListing::Administered,
                            ListUsers {
                                limit: None,
                                ..ListUsers::default()
                            },
                            0,
                        )
                        .await?
                        .users
                    }
                };
                self.render_users(&users, base).await?
            }
            ScimResourceKind::Group => {
                let groups = self.store.list_groups().await?;
                self.render_groups(&groups, base).await?
            }
        };
        if let Some(f) = &filter {
            let mut kept = Vec::with_capacity(resources.len());
            for r in resources {
                if f.matches(&r)? {
                    kept.push(r);
                }
            }
            resources = kept;
        }
        if let Some(path) = &sort {
            sort_resources(&mut resources, path, descending);
        }
        let total = resources.len() as i64;
        let page: Vec<Value> = resources
            .into_iter()
            .skip((start - 1) as usize)
            .take(count as usize)
            .collect();
        Ok(ScimList {
            total_results: total,
            start_index: start,
            resources: page,
        })
    }
}
