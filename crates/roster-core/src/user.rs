//! The user, its value types and the validation rules for them.

use crate::error::{Error, Result};
use crate::id::UserId;
use serde::{Deserialize, Serialize};
use std::fmt;
use time::OffsetDateTime;

/// A user's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// May administer every user.
    Admin,
    /// An ordinary user.
    User,
    /// Registered, awaiting an administrator's approval; cannot sign in.
    Pending,
}

impl Role {
    /// The stored and rendered name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::User => "user",
            Role::Pending => "pending",
        }
    }

    /// Parses `admin`, `user` or `pending` (any case).
    pub fn parse(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "admin" => Ok(Role::Admin),
            "user" => Ok(Role::User),
            "pending" => Ok(Role::Pending),
            _ => Err(Error::invalid("role", "must be one of admin, user, pending")),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A validated, lower-cased email address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    /// Validates and normalises (trim, lower-case) an email address.
    pub fn parse(raw: &str) -> Result<Self> {
        let s = normalise_email(raw);
        let invalid = |why: &str| Error::invalid("email", why.to_string());
        if s.is_empty() {
            return Err(invalid("must not be empty"));
        }
        if s.chars().count() > 254 {
            return Err(invalid("must be at most 254 characters"));
        }
        let Some((local, domain)) = s.rsplit_once('@') else {
            return Err(invalid("must be an email address"));
        };
        let bad_char = |c: char| c.is_whitespace() || c.is_control() || "<>()[],;:\\\"@".contains(c);
        if local.is_empty() || local.len() > 64 || local.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid("must be an email address"));
        }
        if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
            return Err(invalid("must be an email address"));
        }
        let labels: Vec<&str> = domain.split('.').collect();
        let label_ok = |l: &&str| {
            !l.is_empty() && l.len() <= 63 && !l.starts_with('-') && !l.ends_with('-') && !l.chars().any(bad_char)
        };
        if domain != "localhost" && (labels.len() < 2 || !labels.iter().all(label_ok)) {
            return Err(invalid("must be an email address"));
        }
        if s.chars().any(is_invisible) {
            return Err(invalid("must not contain invisible characters"));
        }
        if mixes_confusable_scripts(local) || labels.iter().any(|l| mixes_confusable_scripts(l)) {
            return Err(invalid("must not mix Latin, Greek and Cyrillic letters in one part"));
        }
        if idna::domain_to_ascii(domain).is_err() {
            return Err(invalid("must be an email address"));
        }
        Ok(Email(s))
    }

    /// The normalised address.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The comparison key of the address (see [`email_key`]).
    pub fn key(&self) -> String {
        email_key(&self.0)
    }
}

/// An email address as Roster stores it (trimmed, lower-cased), before any check: the one
/// normalisation of every path ([`Email::parse`] starts with it; what two addresses share is
/// decided by [`email_key`]).
pub fn normalise_email(raw: &str) -> String {
    raw.trim().to_lowercase()
}

/// Whether `c` is invisible: a default-ignorable code point (zero-width space and joiners,
/// soft hyphen, bidirectional controls, variation selectors, ...).
fn is_invisible(c: char) -> bool {
    use icu_properties::{CodePointSetData, props::DefaultIgnorableCodePoint};
    CodePointSetData::new::<DefaultIgnorableCodePoint>().contains(c)
}

/// Whether `s` mixes letters of Latin, Greek and Cyrillic, the scripts whose letters look
/// alike (`pаypal` with a Cyrillic `а`). Other scripts, digits and punctuation mix freely.
fn mixes_confusable_scripts(s: &str) -> bool {
    use icu_properties::{CodePointMapData, props::Script};
    let scripts = CodePointMapData::<Script>::new();
    let mut seen = None;
    for c in s.chars() {
        let script = scripts.get(c);
        if ![Script::Latin, Script::Greek, Script::Cyrillic].contains(&script) {
            continue;
        }
        match seen {
            None => seen = Some(script),
            Some(first) if first != script => return true,
            Some(_) => {}
        }
    }
    false
}

/// Compatibility-normalised (NFKC), case-folded text: what two spellings of one identifier
/// share (`ＡＮＮ` and `ann`, `STRASSE` and `straße`).
fn fold(s: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    let compatible: String = s.nfkc().collect();
    // Upper then lower case folds what lower case alone keeps apart (ß and ss, ς and σ).
    compatible.to_uppercase().to_lowercase().nfkc().collect()
}

/// The comparison key of an email address: the local part compatibility-normalised (NFKC)
/// and case-folded, the domain in its IDNA ASCII form (`ＣＡＲＯＬ@Bücher.DE` and
/// `carol@xn--bcher-kva.de` share one key). Two addresses with one key are one address to
/// Roster: the second is refused as taken, and a login with either finds the account.
pub fn email_key(email: &str) -> String {
    let email = email.trim();
    match email.rsplit_once('@') {
        Some((local, domain)) => {
            let domain = idna::domain_to_ascii(domain).unwrap_or_else(|_| domain.to_lowercase());
            format!("{}@{domain}", fold(local))
        }
        None => fold(email),
    }
}

/// The comparison key of a login identifier, an email or a username: an identifier that is
/// an email address gets [`email_key`], any other the folded text. Every identifier of every
/// account has its own key (the store keeps them unique), so a login names one account: no
/// email may equal another account's username, nor a username another's email.
pub fn login_key(identifier: &str) -> String {
    match Email::parse(identifier) {
        Ok(email) => email.key(),
        Err(_) => fold(identifier.trim()),
    }
}

/// The login keys of an account with `email` and `username`, each with the field it comes
/// from (`email` first; one key when both are the same identifier).
pub fn login_keys(email: Option<&str>, username: Option<&str>) -> Vec<(String, &'static str)> {
    let mut keys = Vec::with_capacity(2);
    if let Some(email) = email {
        keys.push((login_key(email), "email"));
    }
    if let Some(username) = username {
        let key = login_key(username);
        if !keys.iter().any(|(k, _)| *k == key) {
            keys.push((key, "username"));
        }
    }
    keys
}

/// The characters a username may hold besides letters and digits of any script.
pub const USERNAME_EXTRA_CHARACTERS: &str = "_.-@#$%&*()";

/// A validated username: 2 to 80 characters, letters and digits of any script and
/// `_ . - @ # $ % & * ( )` (LibreChat's allow-list, which its users bring along).
/// Usernames are unique ignoring case; the stored form keeps the case given.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Username(String);

impl Username {
    /// Validates a username (surrounding whitespace is trimmed).
    pub fn parse(raw: &str) -> Result<Self> {
        let s = raw.trim();
        let n = s.chars().count();
        if !(2..=80).contains(&n) {
            return Err(Error::invalid("username", "must be 2 to 80 characters"));
        }
        if let Some(c) = s
            .chars()
            .find(|c| !(c.is_alphanumeric() || USERNAME_EXTRA_CHARACTERS.contains(*c)))
        {
            return Err(Error::invalid(
                "username",
                format!("must contain only letters, digits and _ . - @ # $ % & * ( ) (found {c:?})"),
            ));
        }
        Ok(Username(s.to_string()))
    }

    /// The username as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A stored password hash (PHC string or bcrypt); never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(pub String);

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash(<redacted>)")
    }
}

/// A user account.
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    pub id: UserId,
    pub email: Option<String>,
    pub email_verified: bool,
    pub username: Option<String>,
    pub name: Option<String>,
    pub password_hash: Option<PasswordHash>,
    pub provider: String,
    pub role: Role,
    pub active: bool,
    pub avatar: Option<String>,
    pub bio: Option<String>,
    pub timezone: Option<String>,
    pub terms_version: Option<String>,
    pub terms_accepted_at: Option<OffsetDateTime>,
    /// Free-form JSON object of preferences.
    pub preferences: serde_json::Value,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    pub last_login_at: Option<OffsetDateTime>,
    pub last_active_at: Option<OffsetDateTime>,
    /// Bumped on every write; used for optimistic concurrency.
    pub revision: i64,
    /// While in the future, the account is banned: no login, no request. Written only by
    /// [`crate::store::UserStore::set_user_ban`], never by `insert_user` or `update_user`.
    pub banned_until: Option<OffsetDateTime>,
    /// Why, as the administrator gave it (not shown to the user).
    pub ban_reason: Option<String>,
}

impl User {
    /// Whether this user is an active administrator.
    pub fn is_active_admin(&self) -> bool {
        self.role == Role::Admin && self.active
    }

    /// Whether `email` is this user's address (compared by [`email_key`]).
    pub fn has_email(&self, email: &Email) -> bool {
        self.email.as_deref().is_some_and(|own| email_key(own) == email.key())
    }

    /// Refuses pending and deactivated accounts.
    pub fn ensure_may_sign_in(&self) -> Result<()> {
        if !self.active {
            Err(Error::AccountDisabled)
        } else if self.role == Role::Pending {
            Err(Error::AccountPending)
        } else {
            Ok(())
        }
    }

    /// The end of the ban in force at `now`, if any.
    pub fn banned_at(&self, now: OffsetDateTime) -> Option<OffsetDateTime> {
        self.banned_until.filter(|until| *until > now)
    }

    /// Whether this user is an active administrator who is not banned at `now`: the kind of
    /// which at least one must remain.
    pub fn is_unbanned_active_admin(&self, now: OffsetDateTime) -> bool {
        self.is_active_admin() && self.banned_at(now).is_none()
    }

    /// Refuses pending, deactivated and (at `now`) banned accounts: the check of every login
    /// and every request.
    pub fn ensure_may_sign_in_at(&self, now: OffsetDateTime) -> Result<()> {
        self.ensure_may_sign_in()?;
        match self.banned_at(now) {
            Some(until) => Err(Error::Banned { until }),
            None => Ok(()),
        }
    }

    /// As [`User::ensure_may_sign_in_at`], but a pending account passes: for sessions that
    /// only identify an account awaiting approval (Open WebUI shows such users a waiting page).
    pub fn ensure_may_identify_at(&self, now: OffsetDateTime) -> Result<()> {
        if !self.active {
            return Err(Error::AccountDisabled);
        }
        match self.banned_at(now) {
            Some(until) => Err(Error::Banned { until }),
            None => Ok(()),
        }
    }
}

/// RFC 3339 rendering of a time (for messages).
pub fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.to_string())
}

/// Validates an optional display name: at most 128 characters, no control characters.
pub fn validate_name(raw: &str) -> Result<Option<String>> {
    let s = raw.trim();
    if s.is_empty() {
        return Ok(None);
    }
    if s.chars().count() > 128 {
        return Err(Error::invalid("name", "must be at most 128 characters"));
    }
    if s.chars().any(char::is_control) {
        return Err(Error::invalid("name", "must not contain control characters"));
    }
    Ok(Some(s.to_string()))
}

/// Why text with a NUL character (U+0000) is refused: PostgreSQL cannot store it, in `text`
/// or in `jsonb`, so no backend takes it.
pub const NUL_REASON: &str = "must not contain the NUL character (U+0000)";

/// Whether any string in a JSON value, key or value, holds a NUL character.
pub fn json_contains_nul(value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::String(s) => s.contains('\0'),
        serde_json::Value::Array(items) => items.iter().any(json_contains_nul),
        serde_json::Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || json_contains_nul(v)),
        _ => false,
    }
}

/// Validates a free-text field of at most `max` characters.
pub fn validate_text(field: &'static str, raw: &str, max: usize) -> Result<Option<String>> {
    let s = raw.trim();
    if s.is_empty() {
        return Ok(None);
    }
    if s.contains('\0') {
        return Err(Error::invalid(field, NUL_REASON));
    }
    if s.chars().count() > max {
        return Err(Error::invalid(field, format!("must be at most {max} characters")));
    }
    Ok(Some(s.to_string()))
}

/// Validates an IANA-style time zone name (`Area/City`, `UTC`, `Etc/GMT+1`).
pub fn validate_timezone(raw: &str) -> Result<Option<String>> {
    let s = raw.trim();
    if s.is_empty() {
        return Ok(None);
    }
    let ok = s.len() <= 64
        && s.split('/')
            .all(|part| !part.is_empty() && part.chars().all(|c| c.is_ascii_alphanumeric() || "_+-".contains(c)));
    if !ok {
        return Err(Error::invalid(
            "timezone",
            "must be a time zone name such as Europe/Berlin",
        ));
    }
    Ok(Some(s.to_string()))
}

/// Validates an avatar reference: an absolute http(s) URL or a path, at most 2048 characters.
pub fn validate_avatar(raw: &str) -> Result<Option<String>> {
    let s = raw.trim();
    if s.is_empty() {
        return Ok(None);
    }
    let ok = s.len() <= 2048
        && (s.starts_with("https://") || s.starts_with("http://") || s.starts_with('/'))
        && !s.chars().any(|c| c.is_whitespace() || c.is_control());
    if !ok {
        return Err(Error::invalid(
            "avatar_url",
            "must be an http(s) URL or an absolute path",
        ));
    }
    Ok(Some(s.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(
            Email::parse("  Ann@Example.COM ").map(|e| e.0).ok().as_deref(),
            Some("ann@example.com")
        );
        assert!(Email::parse("root@localhost").is_ok());
        for bad in [
            "",
            "ann",
            "ann@",
            "@x.org",
            "a b@x.org",
            "ann@x",
            "ann@-x.org",
            "a..b@x.org",
            "ann@x..org",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn lookalike_emails_share_a_key_or_are_refused() {
        let key = |s: &str| Email::parse(s).unwrap().key();
        // Fullwidth letters, case, ß and the IDNA forms of a domain: one address.
        assert_eq!(key("ｃarol@ｃorp.com"), "carol@corp.com");
        assert_eq!(key("CAROL@CORP.COM"), "carol@corp.com");
        assert_eq!(key("straße@x.org"), key("STRASSE@x.org"));
        assert_eq!(key("ann@Bücher.de"), "ann@xn--bcher-kva.de");
        assert_eq!(key("ann@xn--bcher-kva.de"), "ann@xn--bcher-kva.de");
        // The stored form stays as given (lower-cased), for delivery.
        assert_eq!(Email::parse("Straße@x.org").unwrap().as_str(), "straße@x.org");
        // Invisible characters and mixed Latin/Cyrillic/Greek are refused.
        for bad in [
            "car\u{200B}ol@corp.com",
            "carol@co\u{200D}rp.com",
            "c\u{0430}rol@corp.com",
            "carol@c\u{043E}rp.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} should be refused");
        }
        // One script alone is fine.
        assert!(Email::parse("\u{0430}\u{043D}\u{043D}\u{0430}@corp.com").is_ok());
        assert!(Email::parse("王小明@例子.中国").is_ok());
        // A username that is an email address has the address's key.
        assert_eq!(login_key("Carol@CORP.com"), "carol@corp.com");
        assert_eq!(login_key("Ann_Lee"), "ann_lee");
        assert_eq!(
            login_keys(Some("carol@corp.com"), Some("CAROL@corp.com")),
            vec![("carol@corp.com".to_string(), "email")]
        );
    }

    #[test]
    fn usernames_follow_the_allow_list() {
        assert!(Username::parse("ann").is_ok());
        assert!(Username::parse("Ann_Lee.2@work-x").is_ok());
        assert!(Username::parse("a#b$(c)%&*").is_ok());
        assert!(Username::parse("Łukasz").is_ok());
        assert!(Username::parse("王小明").is_ok());
        assert!(Username::parse("a").is_err());
        assert!(Username::parse(&"a".repeat(81)).is_err());
        assert!(Username::parse("ann lee").is_err());
        assert!(Username::parse("ann;drop").is_err());
        assert!(Username::parse("<script>").is_err());
    }

    #[test]
    fn roles_parse() {
        assert_eq!(Role::parse("ADMIN").ok(), Some(Role::Admin));
        assert!(Role::parse("root").is_err());
    }

    #[test]
    fn other_fields() {
        assert!(validate_timezone("Europe/Berlin").is_ok());
        assert!(validate_timezone("Etc/GMT+1").is_ok());
        assert!(validate_timezone("../etc").is_err());
        assert!(validate_avatar("javascript:alert(1)").is_err());
        assert!(validate_avatar("https://x.org/a.png").is_ok());
        assert!(validate_name(&"n".repeat(129)).is_err());
        assert_eq!(validate_name("  ").ok(), Some(None));
    }
}
