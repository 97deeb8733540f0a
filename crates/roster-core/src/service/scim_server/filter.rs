//! SCIM filters and attribute paths (RFC 7644 §3.4.2.2, §3.5.2): a small recursive-descent
//! parser and the evaluation of a filter against a resource's JSON.
//!
//! Grammar (the RFC's ABNF, `and` binding tighter than `or`, `not` a prefix):
//! `filter = term *("or" term)`, `term = factor *("and" factor)`,
//! `factor = "not"? "(" filter ")" / attrPath "[" filter "]" / attrPath "pr" / attrPath op value`.

use crate::error::{Error, Result};
use serde_json::Value;
use std::cmp::Ordering;

/// The core User schema's URN (a path may carry it as a prefix).
pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
/// The core Group schema's URN.
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
/// The enterprise user extension's URN.
pub const ENTERPRISE_SCHEMA: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

impl CompareOp {
    fn parse(word: &str) -> Option<Self> {
        Some(match word.to_ascii_lowercase().as_str() {
            "eq" => Self::Eq,
            "ne" => Self::Ne,
            "co" => Self::Co,
            "sw" => Self::Sw,
            "ew" => Self::Ew,
            "gt" => Self::Gt,
            "ge" => Self::Ge,
            "lt" => Self::Lt,
            "le" => Self::Le,
            _ => return None,
        })
    }
}

/// An attribute path: an optional schema URN, an attribute and an optional sub-attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttrPath {
    /// An extension's URN (None: the resource's core schema).
    pub urn: Option<String>,
    pub name: String,
    pub sub: Option<String>,
}

impl AttrPath {
    /// Parses `[URN ":"] name ["." sub]`; a core schema URN prefix is dropped.
    pub fn parse(raw: &str) -> Result<Self> {
        let bad = || Error::invalid("path", format!("{raw:?} is not an attribute path"));
        let (urn, rest) = if raw.len() > 4 && raw[..4].eq_ignore_ascii_case("urn:") {
            let at = raw.rfind(':').ok_or_else(bad)?;
            (Some(&raw[..at]), &raw[at + 1..])
        } else {
            (None, raw)
        };
        let (name, sub) = match rest.split_once('.') {
            Some((name, sub)) => (name, Some(sub)),
            None => (rest, None),
        };
        let valid = |s: &str| {
            let mut chars = s.chars();
            chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '$')
                && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '$')
        };
        if !valid(name) || sub.is_some_and(|s| !valid(s)) {
            return Err(bad());
        }
        let urn = urn.filter(|u| !u.eq_ignore_ascii_case(USER_SCHEMA) && !u.eq_ignore_ascii_case(GROUP_SCHEMA));
        Ok(AttrPath {
            urn: urn.map(str::to_string),
            name: name.to_string(),
            sub: sub.map(str::to_string),
        })
    }

    /// Whether this names `name` (and `sub`) of the core schema, ignoring case.
    pub fn is(&self, name: &str, sub: Option<&str>) -> bool {
        self.urn.is_none()
            && self.name.eq_ignore_ascii_case(name)
            && match (&self.sub, sub) {
                (None, None) => true,
                (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
                _ => false,
            }
    }

    /// Whether values of this attribute compare with case (RFC 7643: `id`, `externalId`,
    /// `$ref`, `meta.location`, `meta.version` do; `userName`, emails and names do not).
    pub fn case_exact(&self) -> bool {
        let last = self.sub.as_deref().unwrap_or(&self.name);
        self.is("id", None)
            || self.is("externalId", None)
            || last == "$ref"
            || self.is("meta", Some("location"))
            || self.is("meta", Some("version"))
    }

    /// The values at this path in `resource`: each value of a multi-valued attribute (its
    /// `value` sub-attribute for complex ones when no sub-attribute is named).
    pub fn values<'a>(&self, resource: &'a Value) -> Vec<&'a Value> {
        let container = match &self.urn {
            Some(urn) => match get_ci(resource, urn) {
                Some(v) => v,
                None => return Vec::new(),
            },
            None => resource,
        };
        let Some(attr) = get_ci(container, &self.name) else {
            return Vec::new();
        };
        let items: Vec<&Value> = match attr {
            Value::Array(items) => items.iter().collect(),
            other => vec![other],
        };
        items
            .into_iter()
            .filter_map(|item| match (&self.sub, item) {
                (Some(sub), item) => get_ci(item, sub),
                (None, Value::Object(_)) if attr.is_array() => get_ci(item, "value"),
                (None, item) => Some(item),
            })
            .filter(|v| !v.is_null())
            .collect()
    }
}

/// A member of a JSON object by name, ignoring case (SCIM attribute names are).
pub fn get_ci<'a>(value: &'a Value, name: &str) -> Option<&'a Value> {
    value
        .as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

/// A parsed filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    Compare {
        path: AttrPath,
        op: CompareOp,
        value: Value,
    },
    Present(AttrPath),
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    /// `attr[filter]`: some value of the multi-valued `attr` matches `filter`.
    ValuePath {
        path: AttrPath,
        filter: Box<Filter>,
    },
}

/// A token of a filter.
#[derive(Debug, Clone, PartialEq)]
enum Token {
    Open,
    Close,
    OpenBracket,
    CloseBracket,
    Word(String),
    Text(String),
}

fn invalid_filter(reason: impl Into<String>) -> Error {
    Error::invalid("filter", reason)
}

fn tokenize(input: &str) -> Result<Vec<Token>> {
    let mut tokens = Vec::new();
    let chars: Vec<char> = input.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '(' => {
                tokens.push(Token::Open);
                i += 1;
            }
            ')' => {
                tokens.push(Token::Close);
                i += 1;
            }
            '[' => {
                tokens.push(Token::OpenBracket);
                i += 1;
            }
            ']' => {
                tokens.push(Token::CloseBracket);
                i += 1;
            }
            '"' => {
                // A JSON string: read to the closing quote, then decode its escapes.
                let start = i;
                i += 1;
                while i < chars.len() && chars[i] != '"' {
                    if chars[i] == '\\' {
                        i += 1;
                    }
                    i += 1;
                }
                if i >= chars.len() {
                    return Err(invalid_filter("a string is not closed"));
                }
                i += 1;
                let raw: String = chars[start..i].iter().collect();
                let text: String =
                    serde_json::from_str(&raw).map_err(|_| invalid_filter(format!("{raw} is not a valid string")))?;
                tokens.push(Token::Text(text));
            }
            _ => {
                let start = i;
                while i < chars.len() && !chars[i].is_whitespace() && !"()[]\"".contains(chars[i]) {
                    i += 1;
                }
                tokens.push(Token::Word(chars[start..i].iter().collect()));
            }
        }
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
    /// Inside `attr[...]`: attribute paths are relative to the values of `attr`.
    depth: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.at).cloned();
        self.at += 1;
        token
    }

    fn keyword(&self, word: &str) -> bool {
        matches!(self.peek(), Some(Token::Word(w)) if w.eq_ignore_ascii_case(word))
    }

    fn filter(&mut self) -> Result<Filter> {
        let mut left = self.term()?;
        while self.keyword("or") {
            self.at += 1;
            let right = self.term()?;
            left = Filter::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn term(&mut self) -> Result<Filter> {
        let mut left = self.factor()?;
        while self.keyword("and") {
            self.at += 1;
            let right = self.factor()?;
            left = Filter::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn factor(&mut self) -> Result<Filter> {
        if self.keyword("not") {
            self.at += 1;
            if self.next() != Some(Token::Open) {
                return Err(invalid_filter("\"not\" must be followed by a parenthesised filter"));
            }
            let inner = self.filter()?;
            self.expect(Token::Close, "\")\"")?;
            return Ok(Filter::Not(Box::new(inner)));
        }
        match self.next() {
            Some(Token::Open) => {
                let inner = self.filter()?;
                self.expect(Token::Close, "\")\"")?;
                Ok(inner)
            }
            Some(Token::Word(word)) => {
                let path =
                    AttrPath::parse(&word).map_err(|_| invalid_filter(format!("{word:?} is not an attribute path")))?;
                if self.peek() == Some(&Token::OpenBracket) {
                    if self.depth > 0 {
                        return Err(invalid_filter("value filters do not nest"));
                    }
                    if path.sub.is_some() {
                        return Err(invalid_filter(format!(
                            "{word:?}: a value filter applies to an attribute"
                        )));
                    }
                    self.at += 1;
                    self.depth += 1;
                    let inner = self.filter()?;
                    self.depth -= 1;
                    self.expect(Token::CloseBracket, "\"]\"")?;
                    return Ok(Filter::ValuePath {
                        path,
                        filter: Box::new(inner),
                    });
                }
                let op = match self.next() {
                    Some(Token::Word(op)) if op.eq_ignore_ascii_case("pr") => return Ok(Filter::Present(path)),
                    Some(Token::Word(op)) => CompareOp::parse(&op).ok_or_else(|| {
                        invalid_filter(format!("{op:?} is not an operator (eq ne co sw ew pr gt ge lt le)"))
                    })?,
                    _ => return Err(invalid_filter(format!("an operator must follow {word:?}"))),
                };
                let value = match self.next() {
                    Some(Token::Text(text)) => Value::String(text),
                    Some(Token::Word(w)) => match w.to_ascii_lowercase().as_str() {
                        "true" => Value::Bool(true),
                        "false" => Value::Bool(false),
                        "null" => Value::Null,
                        _ => serde_json::from_str::<serde_json::Number>(&w)
                            .map(Value::Number)
                            .map_err(|_| {
                                invalid_filter(format!("{w:?} is not a value (a string, number, true, false or null)"))
                            })?,
                    },
                    _ => {
                        return Err(invalid_filter(format!(
                            "a value must follow the operator after {word:?}"
                        )));
                    }
                };
                Ok(Filter::Compare { path, op, value })
            }
            Some(other) => Err(invalid_filter(format!("unexpected {other:?}"))),
            None => Err(invalid_filter("the filter ends too early")),
        }
    }

    fn expect(&mut self, token: Token, what: &str) -> Result<()> {
        if self.next() == Some(token) {
            Ok(())
        } else {
            Err(invalid_filter(format!("{what} expected")))
        }
    }
}

/// Parses a filter (error field `filter`, SCIM's `invalidFilter`).
pub fn parse_filter(input: &str) -> Result<Filter> {
    if input.len() > 4096 {
        return Err(invalid_filter("is longer than 4096 characters"));
    }
    let tokens = tokenize(input)?;
    if tokens.is_empty() {
        return Err(invalid_filter("is empty"));
    }
    let mut parser = Parser {
        tokens,
        at: 0,
        depth: 0,
    };
    let filter = parser.filter()?;
    if parser.at < parser.tokens.len() {
        return Err(invalid_filter(format!("unexpected {:?}", parser.tokens[parser.at])));
    }
    Ok(filter)
}

/// A PATCH path: `attrPath`, or `attr[filter]` optionally followed by `.sub`.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchPath {
    pub attr: AttrPath,
    /// The value filter selecting values of a multi-valued `attr`.
    pub filter: Option<Filter>,
}

/// Parses a PATCH `path` (error field `path`, SCIM's `invalidPath`).
pub fn parse_patch_path(raw: &str) -> Result<PatchPath> {
    let raw = raw.trim();
    let bad = |why: &str| Error::invalid("path", format!("{raw:?} is not a valid path: {why}"));
    match raw.find('[') {
        None => Ok(PatchPath {
            attr: AttrPath::parse(raw).map_err(|_| bad("not an attribute"))?,
            filter: None,
        }),
        Some(open) => {
            let close = raw.rfind(']').ok_or_else(|| bad("\"[\" is not closed"))?;
            if close < open {
                return Err(bad("\"]\" before \"[\""));
            }
            let mut attr = AttrPath::parse(&raw[..open]).map_err(|_| bad("not an attribute"))?;
            if attr.sub.is_some() {
                return Err(bad("a value filter applies to an attribute"));
            }
            let filter = parse_filter(&raw[open + 1..close]).map_err(|e| bad(e.reason().unwrap_or("bad filter")))?;
            let rest = &raw[close + 1..];
            if let Some(sub) = rest.strip_prefix('.') {
                if sub.is_empty() || !sub.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$') {
                    return Err(bad("a sub-attribute name is expected after \"].\""));
                }
                attr.sub = Some(sub.to_string());
            } else if !rest.is_empty() {
                return Err(bad("unexpected text after \"]\""));
            }
            Ok(PatchPath {
                attr,
                filter: Some(filter),
            })
        }
    }
}

/// Compares two strings as `path` requires (with or without case).
fn compare_text(path: &AttrPath, a: &str, b: &str) -> Ordering {
    if path.case_exact() {
        a.cmp(b)
    } else {
        a.to_lowercase().cmp(&b.to_lowercase())
    }
}

/// Orders two attribute values (for sorting and gt/ge/lt/le): dates by time, numbers by
/// value, strings by the attribute's case rule; None when they do not compare.
pub fn order(path: &AttrPath, a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::String(a), Value::String(b)) => {
            let date = |s: &str| time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok();
            match (date(a), date(b)) {
                (Some(x), Some(y)) => Some(x.cmp(&y)),
                _ => Some(compare_text(path, a, b)),
            }
        }
        (Value::Number(a), Value::Number(b)) => a.as_f64()?.partial_cmp(&b.as_f64()?),
        (Value::Bool(a), Value::Bool(b)) => Some(a.cmp(b)),
        _ => None,
    }
}

/// A boolean written as a string (`"True"`, `"false"`: what Entra ID sends) read as one.
pub fn loose_bool(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

fn compare(path: &AttrPath, op: CompareOp, actual: &Value, wanted: &Value) -> Result<bool> {
    // A boolean attribute compared with a string "true"/"false" compares as booleans.
    let wanted = match (actual, wanted) {
        (Value::Bool(_), w) => loose_bool(w).map(Value::Bool).unwrap_or_else(|| w.clone()),
        (_, w) => w.clone(),
    };
    Ok(match op {
        CompareOp::Eq => order(path, actual, &wanted) == Some(Ordering::Equal),
        CompareOp::Ne => order(path, actual, &wanted) != Some(Ordering::Equal),
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew => {
            let (Value::String(a), Value::String(w)) = (actual, &wanted) else {
                return Ok(false);
            };
            let (a, w) = if path.case_exact() {
                (a.clone(), w.clone())
            } else {
                (a.to_lowercase(), w.to_lowercase())
            };
            match op {
                CompareOp::Co => a.contains(&w),
                CompareOp::Sw => a.starts_with(&w),
                _ => a.ends_with(&w),
            }
        }
        CompareOp::Gt | CompareOp::Ge | CompareOp::Lt | CompareOp::Le => {
            if actual.is_boolean() || wanted.is_boolean() {
                return Err(invalid_filter("gt, ge, lt and le do not apply to booleans"));
            }
            match order(path, actual, &wanted) {
                None => false,
                Some(o) => match op {
                    CompareOp::Gt => o == Ordering::Greater,
                    CompareOp::Ge => o != Ordering::Less,
                    CompareOp::Lt => o == Ordering::Less,
                    _ => o != Ordering::Greater,
                },
            }
        }
    })
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

impl Filter {
    /// Whether `resource` matches.
    pub fn matches(&self, resource: &Value) -> Result<bool> {
        Ok(match self {
            Filter::And(a, b) => a.matches(resource)? && b.matches(resource)?,
            Filter::Or(a, b) => a.matches(resource)? || b.matches(resource)?,
            Filter::Not(inner) => !inner.matches(resource)?,
            Filter::Present(path) => path.values(resource).iter().any(|v| !is_empty(v)),
            Filter::Compare { path, op, value } => {
                let values = path.values(resource);
                if value.is_null() {
                    // `eq null`: absent; `ne null`: present.
                    return Ok(match op {
                        CompareOp::Eq => values.is_empty(),
                        CompareOp::Ne => !values.is_empty(),
                        _ => return Err(invalid_filter("null compares only with eq and ne")),
                    });
                }
                if values.is_empty() {
                    return Ok(*op == CompareOp::Ne);
                }
                let mut any = false;
                for actual in values {
                    if compare(path, *op, actual, value)? {
                        any = true;
                        break;
                    }
                }
                any
            }
            Filter::ValuePath { path, filter } => {
                let container = match &path.urn {
                    Some(urn) => get_ci(resource, urn),
                    None => Some(resource),
                };
                let items = match container.and_then(|c| get_ci(c, &path.name)) {
                    Some(Value::Array(items)) => items.clone(),
                    Some(Value::Null) | None => Vec::new(),
                    Some(other) => vec![other.clone()],
                };
                let mut any = false;
                for item in &items {
                    if filter.matches(item)? {
                        any = true;
                        break;
                    }
                }
                any
            }
        })
    }

    /// A value some attribute of every match must equal, when the filter says so at its top
    /// (alone or in an `and`): `(path, value)`, so a listing can look those few up first.
    pub fn required_equal(&self) -> Vec<(&AttrPath, &str)> {
        match self {
            Filter::Compare {
                path,
                op: CompareOp::Eq,
                value: Value::String(s),
            } => vec![(path, s.as_str())],
            Filter::And(a, b) => {
                let mut all = a.required_equal();
                all.extend(b.required_equal());
                all
            }
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn user() -> Value {
        json!({
            "schemas": [USER_SCHEMA, ENTERPRISE_SCHEMA],
            "id": "42",
            "externalId": "Ext-1",
            "userName": "Bjensen",
            "name": {"givenName": "Barbara", "familyName": "Jensen"},
            "displayName": "Babs Jensen",
            "active": true,
            "emails": [
                {"value": "bjensen@example.com", "type": "work", "primary": true},
                {"value": "babs@home.example", "type": "home"}
            ],
            "meta": {"lastModified": "2026-01-02T03:04:05Z", "created": "2025-01-01T00:00:00Z"},
            ENTERPRISE_SCHEMA: {"employeeNumber": "701984", "department": "Tour Operations", "manager": {"value": "7"}}
        })
    }

    fn check(filter: &str) -> bool {
        parse_filter(filter).unwrap().matches(&user()).unwrap()
    }

    #[test]
    fn each_operator() {
        assert!(check(r#"userName eq "bjensen""#), "userName is caseExact=false");
        assert!(!check(r#"userName eq "other""#));
        assert!(check(r#"userName ne "other""#));
        assert!(!check(r#"userName ne "BJENSEN""#));
        assert!(check(r#"displayName co "bs je""#));
        assert!(!check(r#"displayName co "xyz""#));
        assert!(check(r#"userName sw "bj""#));
        assert!(!check(r#"userName sw "je""#));
        assert!(check(r#"userName ew "SEN""#));
        assert!(!check(r#"userName ew "bj""#));
        assert!(check("name.givenName pr"));
        assert!(!check("nickName pr"));
        assert!(check(r#"meta.lastModified gt "2026-01-01T00:00:00Z""#));
        assert!(!check(r#"meta.lastModified gt "2026-01-02T03:04:05Z""#));
        assert!(check(r#"meta.lastModified ge "2026-01-02T03:04:05Z""#));
        assert!(check(r#"meta.created lt "2025-06-01T00:00:00+02:00""#));
        assert!(!check(r#"meta.created lt "2025-01-01T00:00:00Z""#));
        assert!(check(r#"meta.created le "2025-01-01T00:00:00Z""#));
        assert!(check("active eq true"));
        assert!(check(r#"active eq "True""#), "Entra's boolean strings");
        assert!(!check("active eq false"));
    }

    #[test]
    fn case_exact_attributes() {
        assert!(check(r#"externalId eq "Ext-1""#));
        assert!(!check(r#"externalId eq "ext-1""#));
        assert!(check(r#"id eq "42""#));
    }

    #[test]
    fn logical_operators_and_grouping() {
        assert!(check(r#"userName eq "bjensen" and active eq true"#));
        assert!(!check(r#"userName eq "bjensen" and active eq false"#));
        assert!(check(r#"userName eq "x" or active eq true"#));
        assert!(!check(r#"userName eq "x" or active eq false"#));
        assert!(check(r#"not (userName eq "x")"#));
        assert!(!check(r#"NOT (userName eq "bjensen")"#));
        // and binds tighter than or
        assert!(check(r#"userName eq "x" and active eq false or displayName pr"#));
        assert!(!check(r#"userName eq "x" and (active eq false or displayName pr)"#));
        assert!(check(
            r#"(userName eq "x" or userName eq "bjensen") and not (active eq false)"#
        ));
    }

    #[test]
    fn attribute_paths() {
        assert!(check(r#"emails.value eq "babs@home.example""#));
        assert!(check(r#"emails eq "BJENSEN@example.com""#));
        assert!(check(r#"emails[type eq "work" and value co "@example.com"]"#));
        assert!(!check(r#"emails[type eq "home" and value co "@example.com"]"#));
        assert!(check(r#"emails[primary eq true]"#));
        assert!(check(
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "701984""#
        ));
        assert!(check(
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "7""#
        ));
        assert!(check(
            r#"urn:ietf:params:scim:schemas:core:2.0:User:userName eq "bjensen""#
        ));
        assert!(check(r#"name.familyName eq "jensen""#));
    }

    #[test]
    fn invalid_filters_name_the_filter() {
        for bad in [
            "",
            "userName",
            "userName eq",
            r#"userName xx "a""#,
            r#"userName eq "a" and"#,
            r#"(userName eq "a""#,
            r#"userName eq "a")"#,
            r#"emails[type eq "work""#,
            r#"userName eq unquoted"#,
            r#"not userName eq "a""#,
            r#"userName eq "open"#,
        ] {
            let error = parse_filter(bad).unwrap_err();
            assert_eq!(error.field(), Some("filter"), "{bad:?}: {error}");
        }
        let error = parse_filter("active gt true").unwrap().matches(&user()).unwrap_err();
        assert_eq!(error.field(), Some("filter"));
    }

    #[test]
    fn patch_paths() {
        let p = parse_patch_path(r#"emails[type eq "work"].value"#).unwrap();
        assert!(p.attr.is("emails", Some("value")));
        assert!(p.filter.is_some());
        let p = parse_patch_path(r#"members[value eq "2819c223"]"#).unwrap();
        assert!(p.attr.is("members", None));
        let p = parse_patch_path("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department").unwrap();
        assert_eq!(p.attr.urn.as_deref(), Some(ENTERPRISE_SCHEMA));
        assert_eq!(p.attr.name, "department");
        for bad in ["", "emails[", r#"emails[type eq "work"]x"#, "a b", "name.given.x"] {
            assert_eq!(parse_patch_path(bad).unwrap_err().field(), Some("path"), "{bad:?}");
        }
    }

    #[test]
    fn required_equal_finds_lookups() {
        let f = parse_filter(r#"userName eq "a" and active eq true"#).unwrap();
        let eq = f.required_equal();
        assert_eq!(eq.len(), 1);
        assert!(eq[0].0.is("userName", None));
        assert!(
            parse_filter(r#"userName eq "a" or active eq true"#)
                .unwrap()
                .required_equal()
                .is_empty()
        );
    }
}
