//! A credit ledger in keyset pages, newest first: the piece the administrator's page of a user
//! (`/admin/users/{id}`) and the user's own credits page (`/account/credits`) share. A page
//! is read with one transaction more than it shows; that one's presence means "Older
//! transactions", whose link carries the cursor of the page's last transaction in `ledger`.

use roster_core::Error;
use roster_core::store::BalanceTransaction;
use time::OffsetDateTime;

/// A ledger cursor as the pages write it: the time in milliseconds and the id of the last
/// transaction of the page before, `1767225600000.42`.
pub fn cursor(at: OffsetDateTime, id: i64) -> String {
    format!("{}.{id}", at.unix_timestamp_nanos() / 1_000_000)
}

/// Reads a ledger cursor (the `ledger` query parameter); empty is the first page. Anything
/// else is the field's error (`422`), never a failure.
pub fn parse_cursor(raw: &str) -> Result<Option<(OffsetDateTime, i64)>, Error> {
    if raw.is_empty() {
        return Ok(None);
    }
    let bad = || Error::invalid("ledger", "is not a page of the ledger");
    let (ms, id) = raw.split_once('.').ok_or_else(bad)?;
    let ms: i64 = ms.parse().map_err(|_| bad())?;
    let id: i64 = id.parse().map_err(|_| bad())?;
    let at = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).map_err(|_| bad())?;
    Ok(Some((at, id)))
}

/// One page of a ledger, with the links to the next (older) page and back to the newest.
#[derive(Debug, Clone)]
pub struct LedgerPage {
    /// The page's transactions, newest first.
    pub transactions: Vec<BalanceTransaction>,
    /// The next (older) page, when there is one.
    pub older: Option<String>,
    /// The first (newest) page, when on another.
    pub newest: Option<String>,
}

impl LedgerPage {
    /// The page of `size` transactions out of `read` (read with `size + 1`), its links at
    /// `base` (a path without a query) ending in `#anchor`; `current` is the page's cursor
    /// (empty: the first page).
    pub fn new(mut read: Vec<BalanceTransaction>, size: i64, base: &str, anchor: &str, current: &str) -> Self {
        let size = usize::try_from(size).unwrap_or(0);
        let more = read.len() > size;
        read.truncate(size);
        let older = read
            .last()
            .filter(|_| more)
            .map(|last| format!("{base}?ledger={}#{anchor}", cursor(last.created_at, last.id)));
        let newest = (!current.is_empty()).then(|| format!("{base}#{anchor}"));
        LedgerPage {
            transactions: read,
            older,
            newest,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use roster_core::store::BalanceKind;

    fn transaction(id: i64, ms: i64) -> BalanceTransaction {
        BalanceTransaction {
            id,
            user_id: "1".parse().unwrap(),
            kind: BalanceKind::Adjustment,
            amount: id,
            created_at: OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).unwrap(),
        }
    }

    #[test]
    fn a_cursor_reads_back_and_nonsense_is_the_fields_error() {
        let at = OffsetDateTime::from_unix_timestamp_nanos(1_767_225_600_123_000_000).unwrap();
        assert_eq!(cursor(at, 42), "1767225600123.42");
        assert_eq!(parse_cursor("1767225600123.42").unwrap(), Some((at, 42)));
        assert_eq!(parse_cursor("").unwrap(), None);
        for bad in ["yesterday", "1.x", "x.1", "99999999999999999999.1", "1"] {
            match parse_cursor(bad) {
                Err(Error::Invalid { field, .. }) => assert_eq!(field, "ledger", "{bad}"),
                other => panic!("{bad}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_page_links_to_older_only_when_more_was_read() {
        let read: Vec<_> = (1..=3).rev().map(|id| transaction(id, 1_000 * id)).collect();
        let page = LedgerPage::new(read.clone(), 2, "/account/credits", "h", "");
        assert_eq!(page.transactions.len(), 2);
        assert_eq!(page.older.as_deref(), Some("/account/credits?ledger=2000.2#h"));
        assert_eq!(page.newest, None);
        let last = LedgerPage::new(read, 3, "/account/credits", "h", "2000.2");
        assert_eq!(last.transactions.len(), 3);
        assert_eq!(last.older, None);
        assert_eq!(last.newest.as_deref(), Some("/account/credits#h"));
    }
}
