//! Credits: a ledger of transactions (start grant, spend, refill, administrator adjustment);
//! a balance is their sum, never a bare number that can drift. The start balance is granted
//! once, on first use. Spends refill the balance automatically as LibreChat does (lazily, at
//! spend time, see [`refill_due`]), with the deployment's defaults and per-user overrides.

use super::users::not_found;
use super::{Actor, Authority, Core};
use crate::error::{Error, Result};
use crate::id::UserId;
use crate::journal::audit;
use crate::store::{BalanceKind, BalanceRecord, BalanceTransaction, RefillOverrides, RefillUnit, SpendPlan};
use time::{Date, Duration, OffsetDateTime};

/// The largest amount one adjustment, spend or refill may carry.
pub const MAX_AMOUNT: i64 = 1_000_000_000_000_000;
/// The largest refill interval value (in its unit).
pub const MAX_REFILL_INTERVAL: i64 = 1_000_000;
/// The most ledger transactions one listing returns.
pub const MAX_LEDGER_PAGE: i64 = 500;

/// A ledger page's size, 1 to [`MAX_LEDGER_PAGE`].
pub(super) fn check_ledger_limit(limit: i64) -> Result<()> {
    if (1..=MAX_LEDGER_PAGE).contains(&limit) {
        Ok(())
    } else {
        Err(Error::invalid("limit", format!("must be 1 to {MAX_LEDGER_PAGE}")))
    }
}

/// Auto-refill settings: the deployment's defaults (LibreChat's `balance` section) or a
/// user's effective ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefillSettings {
    /// Whether spends refill the balance (LibreChat's `autoRefillEnabled`).
    pub enabled: bool,
    /// The interval between refills, in `interval_unit`s (`refillIntervalValue`).
    pub interval_value: i64,
    /// `refillIntervalUnit`.
    pub interval_unit: RefillUnit,
    /// Credits one refill adds (`refillAmount`).
    pub amount: i64,
}

impl Default for RefillSettings {
    /// LibreChat's defaults: off, every 30 days, 10000 credits.
    fn default() -> Self {
        Self {
            enabled: false,
            interval_value: 30,
            interval_unit: RefillUnit::Days,
            amount: 10_000,
        }
    }
}

impl RefillSettings {
    /// These settings with a user's overrides applied.
    pub fn with(self, o: &RefillOverrides) -> Self {
        Self {
            enabled: o.enabled.unwrap_or(self.enabled),
            interval_value: o.interval_value.unwrap_or(self.interval_value),
            interval_unit: o.interval_unit.unwrap_or(self.interval_unit),
            amount: o.amount.unwrap_or(self.amount),
        }
    }

    /// Checks the values (as the configuration and the overrides must have them).
    pub fn validate(&self) -> Result<()> {
        validate_interval(self.interval_value)?;
        validate_refill_amount(self.amount)
    }
}

fn validate_interval(value: i64) -> Result<()> {
    if !(0..=MAX_REFILL_INTERVAL).contains(&value) {
        return Err(Error::invalid(
            "refill_interval_value",
            format!("must be between 0 and {MAX_REFILL_INTERVAL}"),
        ));
    }
    Ok(())
}

fn validate_refill_amount(amount: i64) -> Result<()> {
    if !(0..=MAX_AMOUNT).contains(&amount) {
        return Err(Error::invalid(
            "refill_amount",
            format!("must be between 0 and {MAX_AMOUNT}"),
        ));
    }
    Ok(())
}

/// When a refill made at `last` allows the next one: `last` plus the interval, as
/// LibreChat's `getRefillEligibilityDate` adds it with `Date` setters (months are calendar
/// months: Jan 31 plus one month is Mar 3, or Mar 2 in a leap year), in UTC. None: beyond
/// the representable dates (never).
pub fn refill_eligible_at(last: OffsetDateTime, value: i64, unit: RefillUnit) -> Option<OffsetDateTime> {
    let seconds = |per: i64| value.checked_mul(per).map(Duration::seconds);
    match unit {
        RefillUnit::Seconds => last.checked_add(Duration::seconds(value)),
        RefillUnit::Minutes => last.checked_add(seconds(60)?),
        RefillUnit::Hours => last.checked_add(seconds(3_600)?),
        RefillUnit::Days => last.checked_add(seconds(86_400)?),
        RefillUnit::Weeks => last.checked_add(seconds(7 * 86_400)?),
        RefillUnit::Months => {
            let months = i64::from(last.year()) * 12 + i64::from(u8::from(last.month())) - 1 + value;
            let year = i32::try_from(months.div_euclid(12)).ok()?;
            let month = time::Month::try_from(u8::try_from(months.rem_euclid(12) + 1).ok()?).ok()?;
            let first = Date::from_calendar_date(year, month, 1).ok()?;
            // A day past the month's end overflows into the next month, as `setMonth` does.
            let date = first.checked_add(Duration::days(i64::from(last.day()) - 1))?;
            Some(date.with_time(last.time()).assume_offset(last.offset()))
        }
    }
}

/// The credits an automatic refill adds before a spend of `cost`, if one is due: only when
/// the spend would take the balance to 0 or below, auto-refill is on, the amount is
/// positive, and the interval since the last refill has passed (or there is none). The
/// amount is added once (not once per missed interval), and a negative balance is lifted to
/// at least 0 (LibreChat clamps every balance update at 0).
pub fn refill_due(record: &BalanceRecord, settings: &RefillSettings, cost: i64, now: OffsetDateTime) -> Option<i64> {
    if record.credits.saturating_sub(cost) > 0 || !settings.enabled || settings.amount <= 0 {
        return None;
    }
    let due = match record.last_refill {
        None => true,
        Some(last) => {
            refill_eligible_at(last, settings.interval_value, settings.interval_unit).is_some_and(|at| now >= at)
        }
    };
    due.then(|| settings.amount.max(record.credits.saturating_neg()))
}

/// A user's balance with its auto-refill state.
#[derive(Debug, Clone, PartialEq)]
pub struct BalanceView {
    pub user: UserId,
    pub credits: i64,
    /// The settings in effect (the defaults with the user's overrides).
    pub refill: RefillSettings,
    /// The user's own settings (None: the default).
    pub overrides: RefillOverrides,
    /// The last automatic refill; without one, when the balance began.
    pub last_refill: Option<OffsetDateTime>,
    /// From when a spend may refill (None: auto-refill is off or adds nothing).
    pub refill_eligible_at: Option<OffsetDateTime>,
}

/// What a spend did.
#[derive(Debug, Clone, PartialEq)]
pub struct SpendOutcome {
    /// Whether the credits were taken; false: the balance (after any refill) was short.
    pub spent: bool,
    /// Credits an automatic refill added before the spend (0: none).
    pub refilled: i64,
    /// The balance after.
    pub balance: BalanceView,
}

/// A change of a user's auto-refill overrides: `None` leaves a field as it is,
/// `Some(None)` returns it to the default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RefillChanges {
    pub enabled: Option<Option<bool>>,
    pub interval_value: Option<Option<i64>>,
    pub interval_unit: Option<Option<RefillUnit>>,
    pub amount: Option<Option<i64>>,
}

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

    /// The view of a user's balance record.
    fn balance_view(&self, user: UserId, record: BalanceRecord) -> BalanceView {
        let refill = self.config.balance_refill.with(&record.overrides);
        let refill_eligible_at = if refill.enabled && refill.amount > 0 {
            match record.last_refill {
                Some(last) => refill_eligible_at(last, refill.interval_value, refill.interval_unit),
                None => Some(self.clock.now()),
            }
        } else {
            None
        };
        BalanceView {
            user,
            credits: record.credits,
            refill,
            overrides: record.overrides,
            last_refill: record.last_refill,
            refill_eligible_at,
        }
    }

    /// The caller's balance with its auto-refill state.
    pub async fn balance_details(&self, actor: &Actor) -> Result<BalanceView> {
        self.ensure_start_grant(actor.user.id).await?;
        let record = self.store.get_balance_record(actor.user.id).await?;
        Ok(self.balance_view(actor.user.id, record))
    }

    /// The caller's credit ledger, newest first: at most `limit` (1 to [`MAX_LEDGER_PAGE`])
    /// transactions after `before` in that order (the last one of the page before: its time
    /// and id; None: from the newest). The same keyset read as an administrator's
    /// [`Core::user_balance_transactions`].
    pub async fn my_balance_transactions(
        &self,
        actor: &Actor,
        before: Option<(OffsetDateTime, i64)>,
        limit: i64,
    ) -> Result<Vec<BalanceTransaction>> {
        check_ledger_limit(limit)?;
        self.ensure_start_grant(actor.user.id).await?;
        Ok(self
            .store
            .list_balance_transactions_before(actor.user.id, before, limit)
            .await?)
    }

    /// A user's balance with its auto-refill state (administrators and the operator).
    pub async fn balance_details_of(&self, by: impl Into<Authority<'_>>, user: UserId) -> Result<BalanceView> {
        by.into().require_admin()?;
        self.existing_balance(user).await?;
        let record = self.store.get_balance_record(user).await?;
        Ok(self.balance_view(user, record))
    }

    /// Changes a user's auto-refill overrides (administrators and the operator).
    pub async fn set_refill_overrides(
        &self,
        by: impl Into<Authority<'_>>,
        user: UserId,
        changes: RefillChanges,
    ) -> Result<BalanceView> {
        let actor = by.into().require_admin()?;
        if let Some(Some(value)) = changes.interval_value {
            validate_interval(value)?;
        }
        if let Some(Some(amount)) = changes.amount {
            validate_refill_amount(amount)?;
        }
        self.existing_balance(user).await?;
        let before = self.store.get_balance_record(user).await?.overrides;
        let after = RefillOverrides {
            enabled: changes.enabled.unwrap_or(before.enabled),
            interval_value: changes.interval_value.unwrap_or(before.interval_value),
            interval_unit: changes.interval_unit.unwrap_or(before.interval_unit),
            amount: changes.amount.unwrap_or(before.amount),
        };
        let journal = self
            .journal(actor)
            .audit(audit::BALANCE_REFILL_SETTINGS, Some(user), overrides_json(&after))
            .build();
        self.store
            .set_refill_overrides(user, &after, &journal)
            .await
            .map_err(not_found("user"))?;
        tracing::info!(user = %user, "auto-refill settings changed");
        self.balance_details_of(self.operator(), user).await
    }

    /// Spends `amount` credits of a user's balance (the platform, as an administrator, or the
    /// operator), as LibreChat's balance check does: when the spend would take the balance to
    /// 0 or below and a refill is due ([`refill_due`]), the refill is added first, once, with
    /// its ledger entry and `last_refill` stamped, in the spend's transaction (concurrent
    /// spends take turns, so a refill is never made twice). The spend is taken only if the
    /// balance then covers it; a refused spend keeps its refill. An amount of 0 takes nothing
    /// and refills as a spend would (an admission check).
    pub async fn spend_balance(&self, by: impl Into<Authority<'_>>, user: UserId, amount: i64) -> Result<SpendOutcome> {
        let actor = by.into().require_admin()?;
        if !(0..=MAX_AMOUNT).contains(&amount) {
            return Err(Error::invalid("amount", format!("must be between 0 and {MAX_AMOUNT}")));
        }
        self.existing_balance(user).await?;
        let now = self.clock.now();
        let defaults = self.config.balance_refill;
        let planner = |record: &BalanceRecord| {
            let settings = defaults.with(&record.overrides);
            let mut plan = SpendPlan::default();
            let mut journal = self.journal(actor);
            let mut credits = record.credits;
            if let Some(refill) = refill_due(record, &settings, amount, now) {
                let mut t = self.balance_transaction(user, BalanceKind::Refill, refill);
                t.created_at = now;
                credits = credits.saturating_add(refill);
                journal = journal.audit(
                    audit::BALANCE_REFILL,
                    Some(user),
                    serde_json::json!({ "amount": refill, "balance": credits }),
                );
                plan.refill = Some(t);
            }
            if credits >= amount && amount > 0 {
                let mut t = self.balance_transaction(user, BalanceKind::Spend, -amount);
                t.created_at = now;
                plan.spend = Some(t);
            }
            plan.journal = journal.build();
            plan
        };
        let (plan, record) = self
            .store
            .spend_balance(user, &planner)
            .await
            .map_err(not_found("user"))?;
        let refilled = plan.refill.as_ref().map_or(0, |t| t.amount);
        if refilled != 0 {
            tracing::info!(user = %user, refilled, "balance refilled automatically");
        }
        Ok(SpendOutcome {
            spent: plan.spend.is_some() || amount == 0 && record.credits >= 0,
            refilled,
            balance: self.balance_view(user, record),
        })
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

/// The overrides as an audit entry's details.
fn overrides_json(o: &RefillOverrides) -> serde_json::Value {
    serde_json::json!({
        "auto_refill_enabled": o.enabled,
        "refill_interval_value": o.interval_value,
        "refill_interval_unit": o.interval_unit.map(RefillUnit::as_str),
        "refill_amount": o.amount,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn record(credits: i64, last_refill: Option<OffsetDateTime>) -> BalanceRecord {
        BalanceRecord {
            credits,
            granted: true,
            overrides: RefillOverrides::default(),
            last_refill,
        }
    }

    fn on(value: i64, unit: RefillUnit, amount: i64) -> RefillSettings {
        RefillSettings {
            enabled: true,
            interval_value: value,
            interval_unit: unit,
            amount,
        }
    }

    #[test]
    fn months_are_calendar_months_and_overflow_as_set_month_does() {
        let at = |t| refill_eligible_at(t, 1, RefillUnit::Months);
        assert_eq!(
            at(datetime!(2025-01-31 10:00 UTC)),
            Some(datetime!(2025-03-03 10:00 UTC))
        );
        assert_eq!(
            at(datetime!(2024-01-31 10:00 UTC)),
            Some(datetime!(2024-03-02 10:00 UTC))
        );
        assert_eq!(
            at(datetime!(2025-01-15 00:00:01 UTC)),
            Some(datetime!(2025-02-15 00:00:01 UTC))
        );
        assert_eq!(
            refill_eligible_at(datetime!(2025-11-30 08:00 UTC), 3, RefillUnit::Months),
            Some(datetime!(2026-03-02 08:00 UTC))
        );
        assert_eq!(
            refill_eligible_at(datetime!(2025-12-01 00:00 UTC), 12, RefillUnit::Months),
            Some(datetime!(2026-12-01 00:00 UTC))
        );
    }

    #[test]
    fn other_units_add_fixed_lengths() {
        let t = datetime!(2025-03-01 12:00 UTC);
        assert_eq!(
            refill_eligible_at(t, 90, RefillUnit::Seconds),
            Some(datetime!(2025-03-01 12:01:30 UTC))
        );
        assert_eq!(
            refill_eligible_at(t, 5, RefillUnit::Minutes),
            Some(datetime!(2025-03-01 12:05 UTC))
        );
        assert_eq!(
            refill_eligible_at(t, 13, RefillUnit::Hours),
            Some(datetime!(2025-03-02 01:00 UTC))
        );
        assert_eq!(
            refill_eligible_at(t, 30, RefillUnit::Days),
            Some(datetime!(2025-03-31 12:00 UTC))
        );
        assert_eq!(
            refill_eligible_at(t, 2, RefillUnit::Weeks),
            Some(datetime!(2025-03-15 12:00 UTC))
        );
        assert_eq!(refill_eligible_at(t, 0, RefillUnit::Days), Some(t));
        assert_eq!(
            refill_eligible_at(t, MAX_REFILL_INTERVAL * 1_000_000, RefillUnit::Months),
            None
        );
    }

    #[test]
    fn a_refill_is_due_only_when_every_condition_holds() {
        let now = datetime!(2025-03-31 12:00 UTC);
        let last = Some(datetime!(2025-03-01 12:00 UTC));
        let s = on(30, RefillUnit::Days, 500);
        // The spend would take the balance to 0: due.
        assert_eq!(refill_due(&record(100, last), &s, 100, now), Some(500));
        // It would leave something: not due.
        assert_eq!(refill_due(&record(101, last), &s, 100, now), None);
        // The interval has not passed (one second short).
        assert_eq!(refill_due(&record(0, last), &s, 1, now - Duration::seconds(1)), None);
        // No refill yet: due.
        assert_eq!(refill_due(&record(0, None), &s, 1, now), Some(500));
        // Off, or nothing to add.
        assert_eq!(
            refill_due(&record(0, last), &RefillSettings { enabled: false, ..s }, 1, now),
            None
        );
        assert_eq!(refill_due(&record(0, last), &on(30, RefillUnit::Days, 0), 1, now), None);
        // A negative balance is lifted to 0 at least.
        assert_eq!(refill_due(&record(-800, last), &s, 1, now), Some(800));
        // A zero-cost check refills an empty balance.
        assert_eq!(refill_due(&record(0, last), &s, 0, now), Some(500));
    }

    #[test]
    fn overrides_replace_the_defaults_field_by_field() {
        let d = RefillSettings::default();
        assert_eq!(
            (d.enabled, d.interval_value, d.interval_unit, d.amount),
            (false, 30, RefillUnit::Days, 10_000)
        );
        let o = RefillOverrides {
            enabled: Some(true),
            amount: Some(7),
            ..RefillOverrides::default()
        };
        assert_eq!(
            d.with(&o),
            RefillSettings {
                enabled: true,
                amount: 7,
                ..d
            }
        );
    }
}
