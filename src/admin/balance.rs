//! `roster add-balance` and `roster set-balance` (LibreChat's `add-balance` and
//! `set-balance` scripts): an administrator's adjustment in the user's credit ledger;
//! `roster balance`: a user's balance and auto-refill settings.

use super::{describe, explain, find_user, usage};
use roster_core::Core;
use roster_core::service::{BalanceView, RefillChanges};
use roster_core::store::RefillUnit;
use roster_core::user::rfc3339;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The user's email or username.
    email: String,
    /// Credits (an integer; 1,000,000 credits = $1). add-balance accepts negative amounts.
    #[arg(allow_negative_numbers = true)]
    amount: i64,
}

/// Adds AMOUNT credits to the user's balance.
pub async fn add(core: &Core, args: Args) -> anyhow::Result<()> {
    let user = find_user(core, &args.email).await?;
    let balance = core
        .add_balance(core.operator(), user.id, args.amount)
        .await
        .map_err(explain)?;
    println!("Added {} credits to {}.", args.amount, describe(&user));
    println!("Balance: {balance}");
    Ok(())
}

/// Sets the user's balance to AMOUNT credits.
pub async fn set(core: &Core, args: Args) -> anyhow::Result<()> {
    let user = find_user(core, &args.email).await?;
    let balance = core
        .set_balance(core.operator(), user.id, args.amount)
        .await
        .map_err(explain)?;
    println!("Set the balance of {} to {balance} credits.", describe(&user));
    Ok(())
}

#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    /// The user's email or username.
    email: String,
    /// The user's own auto-refill switch: true, false, or default (the deployment's setting).
    #[arg(long, value_name = "true|false|default")]
    auto_refill: Option<String>,
    /// The user's own refill interval (in --refill-unit units), or default.
    #[arg(long, value_name = "N|default", allow_hyphen_values = true)]
    refill_interval: Option<String>,
    /// The user's own interval unit: seconds, minutes, hours, days, weeks, months, or default.
    #[arg(long, value_name = "UNIT|default")]
    refill_unit: Option<String>,
    /// The user's own refill amount in credits, or default.
    #[arg(long, value_name = "CREDITS|default", allow_hyphen_values = true)]
    refill_amount: Option<String>,
}

/// An override given on the command line: `default` clears it, anything else is parsed.
fn override_of<T>(
    option: &str,
    value: Option<&str>,
    parse: impl Fn(&str) -> Option<T>,
    expected: &str,
) -> anyhow::Result<Option<Option<T>>> {
    let Some(value) = value.map(str::trim) else {
        return Ok(None);
    };
    if value.eq_ignore_ascii_case("default") {
        return Ok(Some(None));
    }
    match parse(value) {
        Some(v) => Ok(Some(Some(v))),
        None => Err(usage(format!(
            "--{option}: expected {expected} or default, not {value:?}"
        ))),
    }
}

/// Shows a user's balance and auto-refill settings, after changing the user's own settings
/// when options are given.
pub async fn show(core: &Core, args: ShowArgs) -> anyhow::Result<()> {
    let changes = RefillChanges {
        enabled: override_of(
            "auto-refill",
            args.auto_refill.as_deref(),
            |v| v.parse().ok(),
            "true or false",
        )?,
        interval_value: override_of(
            "refill-interval",
            args.refill_interval.as_deref(),
            |v| v.parse().ok(),
            "a whole number",
        )?,
        interval_unit: override_of(
            "refill-unit",
            args.refill_unit.as_deref(),
            RefillUnit::parse,
            "seconds, minutes, hours, days, weeks or months",
        )?,
        amount: override_of(
            "refill-amount",
            args.refill_amount.as_deref(),
            |v| v.parse().ok(),
            "a whole number",
        )?,
    };
    let user = find_user(core, &args.email).await?;
    let view = if changes == RefillChanges::default() {
        core.balance_details_of(core.operator(), user.id).await
    } else {
        core.set_refill_overrides(core.operator(), user.id, changes).await
    }
    .map_err(explain)?;
    print!("{}", describe_balance(&describe(&user), &view));
    Ok(())
}

/// The balance report `roster balance` prints.
fn describe_balance(who: &str, b: &BalanceView) -> String {
    let own = |set: bool| if set { "" } else { " (default)" };
    let o = &b.overrides;
    let r = &b.refill;
    let time = |t: Option<roster_core::time::OffsetDateTime>| t.map_or_else(|| "-".to_string(), rfc3339);
    format!(
        "Balance of {who}: {} credits\n\
         Auto-refill: {}{}\n\
         Refill interval: {} {}{}\n\
         Refill amount: {}{}\n\
         Last refill: {}\n\
         Refill possible from: {}\n",
        b.credits,
        if r.enabled { "on" } else { "off" },
        own(o.enabled.is_some()),
        r.interval_value,
        r.interval_unit.as_str(),
        own(o.interval_value.is_some() || o.interval_unit.is_some()),
        r.amount,
        own(o.amount.is_some()),
        time(b.last_refill),
        time(b.refill_eligible_at),
    )
}
