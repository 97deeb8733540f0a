//! `roster add-balance` and `roster set-balance` (LibreChat's `add-balance` and
//! `set-balance` scripts): an administrator's adjustment in the user's credit ledger.

use super::{describe, explain, find_user};
use roster_core::Core;

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
