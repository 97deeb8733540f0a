//! Reading the audit trail (administrators, and the `roster audit` command).

use super::{Authority, Core};
use crate::error::{Error, Result};
use crate::id::UserId;
use crate::journal::{AuditEntry, AuditQuery};
use time::OffsetDateTime;

/// The most audit entries one page holds.
pub const MAX_AUDIT_PAGE: u32 = 200;

/// Audit listing parameters as the API receives them.
#[derive(Debug, Clone, Default)]
pub struct ListAudit {
    /// Only entries of this actor.
    pub actor: Option<UserId>,
    /// Only entries about this user.
    pub target: Option<UserId>,
    /// Only this action (`user.update`, `login.failure`, ...).
    pub action: Option<String>,
    /// Only entries at or after this time.
    pub since: Option<OffsetDateTime>,
    /// Only entries before this time.
    pub until: Option<OffsetDateTime>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// 1 to 200, default 50.
    pub limit: Option<u32>,
}

/// One page of the audit trail, newest first, and where the next starts.
#[derive(Debug, Clone)]
pub struct AuditPage {
    pub entries: Vec<AuditEntry>,
    pub next_cursor: Option<String>,
}

fn encode_cursor(id: i64) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("audit|{id}"))
}

fn decode_cursor(cursor: &str) -> Result<i64> {
    use base64::Engine as _;
    let bad = || Error::invalid("cursor", "is not a cursor of this listing");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor.trim())
        .map_err(|_| bad())?;
    let raw = String::from_utf8(bytes).map_err(|_| bad())?;
    raw.strip_prefix("audit|")
        .and_then(|id| id.parse::<i64>().ok())
        .filter(|id| *id > 0)
        .ok_or_else(bad)
}

/// Checks an action filter: dotted lower-case words, as the actions are named.
fn validate_action(action: &str) -> Result<String> {
    let action = action.trim();
    let valid = !action.is_empty()
        && action.len() <= 64
        && action
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '_');
    if !valid {
        return Err(Error::invalid(
            "action",
            "must be an action name such as user.update (lower-case letters, digits, . and _)",
        ));
    }
    Ok(action.to_string())
}

impl Core {
    /// A page of the audit trail, newest first (administrators and the operator).
    pub async fn list_audit(&self, by: impl Into<Authority<'_>>, request: ListAudit) -> Result<AuditPage> {
        by.into().require_admin()?;
        let limit = request.limit.unwrap_or(50);
        if !(1..=MAX_AUDIT_PAGE).contains(&limit) {
            return Err(Error::invalid(
                "limit",
                format!("must be between 1 and {MAX_AUDIT_PAGE}"),
            ));
        }
        if let (Some(since), Some(until)) = (request.since, request.until)
            && since >= until
        {
            return Err(Error::invalid("until", "must be later than since"));
        }
        let query = AuditQuery {
            actor: request.actor,
            target: request.target,
            action: request.action.as_deref().map(validate_action).transpose()?,
            since: request.since,
            until: request.until,
            before_id: request.cursor.as_deref().map(decode_cursor).transpose()?,
            limit: limit + 1,
        };
        let mut entries = self.store.list_audit(&query).await?;
        let next_cursor = if entries.len() > limit as usize {
            entries.truncate(limit as usize);
            entries.last().map(|e| encode_cursor(e.id))
        } else {
            None
        };
        Ok(AuditPage { entries, next_cursor })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_and_actions() {
        assert_eq!(decode_cursor(&encode_cursor(42)).unwrap(), 42);
        assert!(decode_cursor("bm9wZQ").is_err());
        assert!(decode_cursor("%%").is_err());
        assert_eq!(validate_action(" user.update ").unwrap(), "user.update");
        assert!(validate_action("User.Update").is_err());
        assert!(validate_action("").is_err());
        assert!(validate_action("a'; DROP").is_err());
    }
}
