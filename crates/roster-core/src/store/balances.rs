//! The credit ledger: a balance is the sum of a user's transactions.

use super::StoreResult;
use crate::id::UserId;
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
}
