//! Credits: a ledger of transactions (start grant, spend, refill, administrator adjustment);
//! a balance is their sum, never a bare number that can drift. The start balance is granted
//! once, on first use.

use super::users::not_found;
use super::{Actor, Authority, Core};
use crate::error::{Error, Result};
use crate::id::UserId;
use crate::store::{BalanceKind, BalanceTransaction};

/// The largest amount one adjustment may carry.
const MAX_AMOUNT: i64 = 1_000_000_000_000_000;

impl Core {
    fn balance_transaction(&self, user: UserId, kind: BalanceKind, amount: i64) -> BalanceTransaction {
        BalanceTransaction {
            id: self.next_id(),
            user_id: user,
            kind,
            amount,
            created_at: self.clock.now(),
        }
    }

    /// Grants the start balance if the user never had it.
    async fn ensure_start_grant(&self, user: UserId) -> Result<i64> {
        let (balance, granted) = self.store.get_balance(user).await?;
        if granted {
            return Ok(balance);
        }
        let grant = self.balance_transaction(user, BalanceKind::StartGrant, self.config.start_balance);
        self.store.insert_balance_transaction(&grant).await?;
        Ok(self.store.get_balance(user).await?.0)
    }

    /// The caller's balance in credits.
    pub async fn balance(&self, actor: &Actor) -> Result<i64> {
        self.ensure_start_grant(actor.user.id).await
    }

    /// A user's balance (administrators and the operator).
    pub async fn balance_of(&self, by: impl Into<Authority<'_>>, user: UserId) -> Result<i64> {
        by.into().require_admin()?;
        self.existing_balance(user).await
    }

    /// The balance of a user that must exist.
    async fn existing_balance(&self, user: UserId) -> Result<i64> {
        self.store.get_user(user).await.map_err(not_found("user"))?;
        self.ensure_start_grant(user).await
    }

    /// Adds `amount` credits (negative: takes them) to a user's balance; returns the new
    /// balance (administrators and the operator).
    pub async fn add_balance(&self, by: impl Into<Authority<'_>>, user: UserId, amount: i64) -> Result<i64> {
        by.into().require_admin()?;
        if amount.abs() > MAX_AMOUNT {
            return Err(Error::invalid("amount", "is too large"));
        }
        self.existing_balance(user).await?;
        let t = self.balance_transaction(user, BalanceKind::Adjustment, amount);
        self.store.insert_balance_transaction(&t).await?;
        tracing::info!(user = %user, amount, "balance adjusted");
        Ok(self.store.get_balance(user).await?.0)
    }

    /// Deletes a user as [`Core::delete_user`] does, but keeps its credit ledger (LibreChat's
    /// `delete-user` asks whether to keep the transaction history).
    pub async fn delete_user_keeping_transactions(&self, by: impl Into<Authority<'_>>, user: UserId) -> Result<()> {
        let by = self.administer(by.into(), user).await?;
        self.delete_user_by(by, user, super::users::Deletion::KeepingLedger)
            .await
    }

    /// Sets a user's balance to `target` credits by an adjustment; returns the new balance
    /// (administrators and the operator).
    pub async fn set_balance(&self, by: impl Into<Authority<'_>>, user: UserId, target: i64) -> Result<i64> {
        by.into().require_admin()?;
        if target.abs() > MAX_AMOUNT {
            return Err(Error::invalid("amount", "is too large"));
        }
        self.existing_balance(user).await?;
        let t = self.balance_transaction(user, BalanceKind::Adjustment, 0);
        let amount = self.store.set_balance(&t, target).await.map_err(not_found("user"))?;
        tracing::info!(user = %user, amount, target, "balance set");
        Ok(self.store.get_balance(user).await?.0)
    }
}
