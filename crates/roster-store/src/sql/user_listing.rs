//! The user listing's SQL, built per query: the search (a `LIKE` scan, the SQLite trigram
//! index, or a walk of the sort order's index), the filters, the sort, the keyset position
//! and offset paging's seek, and the count of matches.

use roster_core::StoreError;
use roster_core::store::{SortKey, UserQuery, UserSort};

/// A value bound to a dynamically built statement.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Param {
    Int(i64),
    Text(String),
    Bool(bool),
}

/// The expression a sort orders by; the core builds cursors from the same values.
fn sort_expression(sort: UserSort) -> &'static str {
    match sort {
        UserSort::CreatedAt => "created_at",
        UserSort::Email => "COALESCE(email, '')",
        UserSort::Username => "COALESCE(username_key, '')",
        UserSort::Name => "COALESCE(name, '')",
        UserSort::UpdatedAt => "updated_at",
        UserSort::LastActiveAt => "COALESCE(last_active_at, 0)",
        UserSort::Role => "role",
    }
}

/// The index that serves a sort order (see the migrations).
fn sort_index(sort: UserSort) -> &'static str {
    match sort {
        UserSort::CreatedAt => "users_created_at_idx",
        UserSort::Email => "users_email_sort_idx",
        UserSort::Username => "users_username_sort_idx",
        UserSort::Name => "users_name_sort_idx",
        UserSort::UpdatedAt => "users_updated_at_sort_idx",
        UserSort::LastActiveAt => "users_last_active_at_sort_idx",
        UserSort::Role => "users_role_sort_idx",
    }
}

/// Escapes `%`, `_` and `\` for `LIKE ... ESCAPE '\'`.
fn escape_like(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

/// How many trigram-index hits a search may have and still be answered from the index;
/// beyond this, matches are dense and scanning in sort order finds a page sooner.
pub(crate) const FULL_TEXT_PROBE_LIMIT: i64 = 500;

/// Counts (up to the limit) the SQLite trigram-index hits of `$1` (a LIKE pattern without
/// an escape character, which the index cannot use).
pub(crate) const FULL_TEXT_PROBE: &str =
    "SELECT COUNT(*) FROM (SELECT rowid FROM users_search WHERE search_key LIKE $1 LIMIT 500)";

/// The pattern for the trigram index, when it can serve this search: at least three
/// characters and no LIKE metacharacters (the index cannot honour an escape character).
pub(crate) fn full_text_pattern(search: &str) -> Option<String> {
    let usable = search.chars().count() >= 3 && !search.contains(['%', '_', '\\']);
    usable.then(|| format!("%{search}%"))
}

/// How a search finds its rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SearchPlan {
    /// Filter rows with `LIKE` while walking the sort order (or let the planner choose).
    Scan,
    /// Take candidate ids from the SQLite trigram index (`users_search`), then filter.
    FullText,
    /// SQLite, many matches: walk the sort order's index and filter until the page is full.
    ScanInSortOrder,
}

fn next(params: &mut Vec<Param>, value: Param) -> String {
    params.push(value);
    format!("${}", params.len())
}

/// The search, role and active conditions of a listing.
fn filter_conditions(query: &UserQuery, plan: SearchPlan, params: &mut Vec<Param>) -> Vec<String> {
    let mut conditions = Vec::new();
    if let Some(search) = &query.search {
        if plan == SearchPlan::FullText
            && let Some(pattern) = full_text_pattern(search)
        {
            let placeholder = next(params, Param::Text(pattern));
            conditions.push(format!(
                "id IN (SELECT rowid FROM users_search WHERE search_key LIKE {placeholder})"
            ));
        }
        let placeholder = next(params, Param::Text(format!("%{}%", escape_like(search))));
        conditions.push(format!("search_key LIKE {placeholder} ESCAPE '\\'"));
    }
    if let Some(role) = query.role {
        let placeholder = next(params, Param::Text(role.as_str().to_string()));
        conditions.push(format!("role = {placeholder}"));
    }
    if let Some(active) = query.active {
        let placeholder = next(params, Param::Bool(active));
        conditions.push(format!("active = {placeholder}"));
    }
    let filters = &query.filters;
    if let Some(verified) = filters.email_verified {
        let placeholder = next(params, Param::Bool(verified));
        conditions.push(format!("email_verified = {placeholder}"));
    }
    if let Some((banned, now)) = filters.banned {
        let placeholder = next(params, Param::Int(crate::codec::to_ms(now)));
        conditions.push(if banned {
            format!("banned_until > {placeholder}")
        } else {
            format!("(banned_until IS NULL OR banned_until <= {placeholder})")
        });
    }
    if let Some(on) = filters.two_factor {
        let not = if on { "" } else { "NOT " };
        conditions.push(format!(
            "{not}EXISTS (SELECT 1 FROM two_factor t WHERE t.user_id = users.id AND t.enabled_at IS NOT NULL)"
        ));
    }
    if let Some(group) = filters.group {
        let placeholder = next(params, Param::Int(group.0));
        conditions.push(format!(
            "EXISTS (SELECT 1 FROM group_members m WHERE m.user_id = users.id AND m.group_id = {placeholder})"
        ));
    }
    if let Some(provider) = &filters.provider {
        let placeholder = next(params, Param::Text(provider.clone()));
        conditions.push(format!("provider = {placeholder}"));
    }
    conditions
}

fn where_clause(conditions: &[String]) -> String {
    if conditions.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conditions.join(" AND "))
    }
}

/// The table a listing reads: a dense search walks the sort order and filters; SQLite cannot
/// estimate a LIKE and would otherwise read every match and sort them, so it is told which
/// index to walk.
fn listing_source(query: &UserQuery, plan: SearchPlan) -> String {
    match (plan, &query.search) {
        (SearchPlan::ScanInSortOrder, Some(_)) => format!("users INDEXED BY {}", sort_index(query.sort)),
        _ => "users".to_string(),
    }
}

/// The position (sort key, id) of the match at `$offset` (from 0) of a listing's search and
/// filters in its order, counted after its position when it has one (its limit ignored): what
/// offset paging seeks to before it reads a page by keyset. It reads only the sort index's
/// columns, so skipping rows costs no decoding of users.
pub(crate) fn user_position(
    query: &UserQuery,
    plan: SearchPlan,
    offset: u64,
) -> Result<(String, Vec<Param>), StoreError> {
    let source = listing_source(query, plan);
    let expression = sort_expression(query.sort);
    let mut params = Vec::new();
    let mut conditions = filter_conditions(query, plan, &mut params);
    conditions.extend(after_condition(query, expression, &mut params)?);
    let direction = if query.descending { "DESC" } else { "ASC" };
    let offset = next(&mut params, Param::Int(i64::try_from(offset).unwrap_or(i64::MAX)));
    let sql = format!(
        "SELECT {expression}, id FROM {source}{} ORDER BY {expression} {direction}, id {direction} LIMIT 1 OFFSET {offset}",
        where_clause(&conditions)
    );
    Ok((sql, params))
}

/// The condition that keeps a listing's matches after its position (`after`), if it has one.
fn after_condition(query: &UserQuery, expression: &str, params: &mut Vec<Param>) -> Result<Option<String>, StoreError> {
    let Some((key, id)) = &query.after else {
        return Ok(None);
    };
    let key = match (query.sort, key) {
        (UserSort::CreatedAt | UserSort::UpdatedAt | UserSort::LastActiveAt, SortKey::Int(ms)) => Param::Int(*ms),
        (UserSort::Email | UserSort::Username | UserSort::Name | UserSort::Role, SortKey::Text(text)) => {
            Param::Text(text.clone())
        }
        _ => {
            return Err(StoreError::Other(anyhow::anyhow!(
                "the list position does not fit the sort by {}",
                query.sort.as_str()
            )));
        }
    };
    let key = next(params, key);
    let id = next(params, Param::Int(id.0));
    let comparison = if query.descending { "<" } else { ">" };
    // The first, redundant bound lets SQLite seek in the expression index (it scans for a row
    // value alone); PostgreSQL seeks either way.
    Ok(Some(format!(
        "{expression} {comparison}= {key} AND ({expression}, id) {comparison} ({key}, {id})"
    )))
}

/// Whether a sort's key is a number (else text).
pub(crate) fn sorts_by_number(sort: UserSort) -> bool {
    matches!(sort, UserSort::CreatedAt | UserSort::UpdatedAt | UserSort::LastActiveAt)
}

/// The keyset-paginated `SELECT` for a page of users, with its parameters.
pub(crate) fn list_users(query: &UserQuery, plan: SearchPlan) -> Result<(String, Vec<Param>), StoreError> {
    let source = listing_source(query, plan);
    let expression = sort_expression(query.sort);
    let mut params: Vec<Param> = Vec::new();
    let mut conditions = filter_conditions(query, plan, &mut params);
    conditions.extend(after_condition(query, expression, &mut params)?);
    let direction = if query.descending { "DESC" } else { "ASC" };
    let limit = next(&mut params, Param::Int(i64::from(query.limit)));
    let sql = format!(
        "SELECT {} FROM {source}{} ORDER BY {expression} {direction}, id {direction} LIMIT {limit}",
        user_columns!(),
        where_clause(&conditions)
    );
    Ok((sql, params))
}

/// How many users match a listing's search and filters (its position and limit ignored).
pub(crate) fn count_matching_users(query: &UserQuery, plan: SearchPlan) -> (String, Vec<Param>) {
    let mut params = Vec::new();
    let conditions = filter_conditions(query, plan, &mut params);
    (
        format!("SELECT COUNT(*) FROM users{}", where_clause(&conditions)),
        params,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use roster_core::{Role, UserId};

    #[test]
    fn like_metacharacters_are_escaped() {
        assert_eq!(escape_like(r"50%_a\b"), r"50\%\_a\\b");
    }

    #[test]
    fn list_query_numbers_its_parameters_in_order() {
        let query = UserQuery {
            search: Some("a%".into()),
            role: Some(Role::User),
            active: Some(true),
            sort: UserSort::Email,
            descending: true,
            after: Some((SortKey::Text("m".into()), UserId(7))),
            limit: 10,
            filters: Default::default(),
        };
        let (sql, params) = list_users(&query, SearchPlan::Scan).unwrap();
        assert!(sql.contains("search_key LIKE $1 ESCAPE '\\'"), "{sql}");
        assert!(
            sql.contains(
                "role = $2 AND active = $3 AND COALESCE(email, '') <= $4 AND (COALESCE(email, ''), id) < ($4, $5)"
            ),
            "{sql}"
        );
        assert!(
            sql.ends_with("ORDER BY COALESCE(email, '') DESC, id DESC LIMIT $6"),
            "{sql}"
        );
        assert_eq!(params[0], Param::Text(r"%a\%%".into()));
        assert_eq!(params.len(), 6);
        let mismatched = UserQuery {
            after: Some((SortKey::Int(1), UserId(1))),
            ..query
        };
        assert!(list_users(&mismatched, SearchPlan::Scan).is_err());
    }
}
