//! Pure mapping between LibreChat's shapes and core types.

use super::dto::{BalanceBody, TermsBody, UserBody};
use roster_core::service::{BalanceView, TermsStatus};
use roster_core::{Role, User};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::macros::format_description;

/// A time as JavaScript's `toISOString` writes it: `2024-01-01T00:00:00.000Z` (digit by digit;
/// a year outside 0000-9999 through the generic formatter).
pub fn iso(t: OffsetDateTime) -> String {
    crate::dialect::iso_time(t, 3, "Z").unwrap_or_else(|| generic_iso(t))
}

fn generic_iso(t: OffsetDateTime) -> String {
    let format = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    t.to_offset(time::UtcOffset::UTC).format(&format).unwrap_or_default()
}

/// `ADMIN` or `USER`.
pub fn role(role: Role) -> &'static str {
    match role {
        Role::Admin => "ADMIN",
        Role::User | Role::Pending => "USER",
    }
}

fn preference(user: &User, key: &str) -> Option<Value> {
    user.preferences.get(key).cloned()
}

fn preference_list(user: &User, key: &str) -> Vec<Value> {
    preference(user, key)
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default()
}

/// The personalization settings, with LibreChat's defaults for missing keys.
pub fn personalization(user: &User) -> Value {
    let mut p = json!({ "memories": true, "statefulCodeEnvironment": "user" });
    if let (Some(target), Some(Value::Object(stored))) = (p.as_object_mut(), preference(user, "personalization")) {
        for (k, v) in stored {
            target.insert(k, v);
        }
    }
    p
}

/// The user as `GET /api/user` shows it.
pub fn user_body(user: &User, terms_accepted: bool) -> UserBody {
    let id = user.id.to_object_id();
    UserBody {
        object_id: id.clone(),
        id,
        name: user.name.clone().unwrap_or_default(),
        username: user.username.clone().unwrap_or_default(),
        email: user.email.clone().unwrap_or_default(),
        email_verified: user.email_verified,
        avatar: user.avatar.clone(),
        provider: user.provider.clone(),
        role: role(user.role),
        plugins: preference_list(user, "plugins"),
        two_factor_enabled: false,
        terms_accepted,
        personalization: personalization(user),
        favorites: preference_list(user, "favorites"),
        skill_states: preference(user, "skillStates").unwrap_or_else(|| json!({})),
        created_at: iso(user.created_at),
        updated_at: iso(user.updated_at),
    }
}

/// The terms status of a user.
pub fn terms_body(user: &User, status: &TermsStatus) -> TermsBody {
    let accepted_at = status.accepted_at.map(iso);
    TermsBody {
        terms_accepted: status.accepted,
        terms_version: user.terms_version.clone(),
        current_terms_version: status.version.clone(),
        accepted_at: accepted_at.clone(),
        terms_accepted_at: accepted_at,
    }
}

/// A balance as LibreChat 0.8 answers it.
pub fn balance_body(b: &BalanceView) -> BalanceBody {
    let on = b.refill.enabled;
    BalanceBody {
        token_credits: b.credits,
        auto_refill_enabled: on,
        refill_interval_value: on.then_some(b.refill.interval_value),
        refill_interval_unit: on.then_some(b.refill.interval_unit.as_str()),
        // LibreChat's record always has one (it defaults to the record's creation).
        last_refill: on.then(|| b.last_refill.map(iso)).flatten(),
        refill_amount: on.then_some(b.refill.amount),
    }
}

/// The mount prefix without a trailing slash (`""` for the root).
pub fn normalize_prefix(prefix: &str) -> String {
    let trimmed = prefix.trim().trim_matches('/');
    if trimmed.is_empty() {
        String::new()
    } else {
        format!("/{trimmed}")
    }
}

/// Decodes `%XX` escapes (and `+`) as a URL query value.
pub fn percent_decode(s: &str) -> String {
    form_urlencoded::parse(format!("v={}", s.replace('&', "%26")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers() {
        assert_eq!(normalize_prefix("/"), "");
        assert_eq!(normalize_prefix("/librechat/"), "/librechat");
        assert_eq!(normalize_prefix("lc"), "/lc");
        assert_eq!(iso(OffsetDateTime::UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        assert_eq!(percent_decode("ann%40example.org"), "ann@example.org");
        assert_eq!(percent_decode("a@b.c"), "a@b.c");
    }
}
