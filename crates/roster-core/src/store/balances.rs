//! The credit ledger: a balance is the sum of a user's transactions.

use super::StoreResult;
use crate::id::UserId;
use crate::journal::Journal;
use async_trait::async_trait;
use time::OffsetDateTime;

/// The kinds of credit ledger transactions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BalanceKind {
    /// The start balance, granted once on first use.
    StartGrant,
    /// Credits used.
    Spend,
    /// An automatic refill.
    Refill,
    /// An administrator's change (`add-balance`, `set-balance`).
    Adjustment,
}

impl BalanceKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            BalanceKind::StartGrant => "start_grant",
            BalanceKind::Spend => "spend",
            BalanceKind::Refill => "refill",
            BalanceKind::Adjustment => "adjustment",
        }
    }
}

/// A credit ledger transaction; a balance is the sum of a user's.
#[derive(Debug, Clone, PartialEq)]
pub struct BalanceTransaction {
    pub id: i64,
    pub user_id: UserId,
    pub kind: BalanceKind,
    /// Credits added (negative: taken).
    pub amount: i64,
    pub created_at: OffsetDateTime,
}

/// The units of an auto-refill interval (LibreChat's `REFILL_INTERVAL_UNITS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefillUnit {
    Seconds,
    Minutes,
    Hours,
    Days,
    Weeks,
    Months,
}

impl RefillUnit {
    /// Every unit, in order.
    pub const ALL: [RefillUnit; 6] = [
        RefillUnit::Seconds,
        RefillUnit::Minutes,
        RefillUnit::Hours,
        RefillUnit::Days,
        RefillUnit::Weeks,
        RefillUnit::Months,
    ];

    /// The stored (and LibreChat's) name.
    pub fn as_str(self) -> &'static str {
        match self {
            RefillUnit::Seconds => "seconds",
            RefillUnit::Minutes => "minutes",
            RefillUnit::Hours => "hours",
            RefillUnit::Days => "days",
            RefillUnit::Weeks => "weeks",
            RefillUnit::Months => "months",
        }
    }

    /// The unit of a name (exact, lower case).
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|u| u.as_str() == name)
    }
}

impl BalanceKind {
    /// The kind of a stored name.
    pub fn parse(name: &str) -> Option<Self> {
        [
            BalanceKind::StartGrant,
            BalanceKind::Spend,
            BalanceKind::Refill,
            BalanceKind::Adjustment,
        ]
        .into_iter()
        .find(|k| k.as_str() == name)
    }
}

/// A user's own auto-refill settings; each `None` falls back to the configured default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RefillOverrides {
    pub enabled: Option<bool>,
    pub interval_value: Option<i64>,
    pub interval_unit: Option<RefillUnit>,
    /// Credits one refill adds.
    pub amount: Option<i64>,
}

/// A user's balance as the store holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct BalanceRecord {
    /// The sum of the ledger.
    pub credits: i64,
    /// Whether the ledger holds the start grant.
    pub granted: bool,
    pub overrides: RefillOverrides,
    /// When the last automatic refill was made; without one, when the ledger began (the
    /// record's creation, as LibreChat's `lastRefill` defaults to it); None for an empty ledger.
    pub last_refill: Option<OffsetDateTime>,
}

/// What a spend writes, decided from the record read in the spend's transaction.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SpendPlan {
    /// An automatic refill (kind `Refill`), written first; its time becomes `last_refill`.
    pub refill: Option<BalanceTransaction>,
    /// The spend itself (kind `Spend`, a negative amount); None: refused.
    pub spend: Option<BalanceTransaction>,
    /// The change's journal.
    pub journal: Journal,
}

/// Decides a spend from the record read under the user's ledger lock.
pub type SpendPlanner<'a> = &'a (dyn Fn(&BalanceRecord) -> SpendPlan + Send + Sync);

/// What a database must offer for the credit ledger: a balance is the sum of a user's
/// transactions (a part of [`crate::store::Store`]).
#[async_trait]
pub trait BalanceStore: Send + Sync {
    /// Appends a transaction to a user's credit ledger. A `StartGrant` is kept at most once
    /// per user: returns false, writing nothing, if the user already has one.
    async fn insert_balance_transaction(&self, transaction: &BalanceTransaction) -> StoreResult<bool>;
    /// Appends an `Adjustment` that brings the user's balance to `target` (computed and
    /// written in one transaction); returns the amount of the adjustment.
    async fn set_balance(&self, transaction: &BalanceTransaction, target: i64) -> StoreResult<i64>;
    /// A user's balance (the sum of its ledger) and whether it holds a start grant.
    async fn get_balance(&self, user: UserId) -> StoreResult<(i64, bool)>;
    /// A user's balance with its auto-refill overrides and last refill.
    async fn get_balance_record(&self, user: UserId) -> StoreResult<BalanceRecord>;
    /// Replaces a user's auto-refill overrides. `NotFound` for an unknown user.
    async fn set_refill_overrides(
        &self,
        user: UserId,
        overrides: &RefillOverrides,
        journal: &Journal,
    ) -> StoreResult<()>;
    /// A spend in one transaction, serialised with the user's other ledger writers: reads
    /// the record, asks `plan` what to write, writes the refill (stamping `last_refill`), the
    /// spend and the journal. Returns the plan written and the record after it. `NotFound`
    /// for an unknown user.
    async fn spend_balance(&self, user: UserId, plan: SpendPlanner<'_>) -> StoreResult<(SpendPlan, BalanceRecord)>;
    /// A user's ledger, newest first, at most `limit` transactions (by the index on the
    /// user's transactions).
    async fn list_balance_transactions(&self, user: UserId, limit: i64) -> StoreResult<Vec<BalanceTransaction>>;
    /// The same page by page: the transactions after `before` (the last one of the page
    /// before: its time and id) in that order, at most `limit`; None: from the newest.
    async fn list_balance_transactions_before(
        &self,
        user: UserId,
        before: Option<(OffsetDateTime, i64)>,
        limit: i64,
    ) -> StoreResult<Vec<BalanceTransaction>>;
}
