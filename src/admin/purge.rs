//! `roster purge`: retention's purge, now (the same as the background job of `roster serve`).

use roster_core::Core;
use roster_core::service::RetentionPolicy;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Count what would be deleted, per kind, and delete nothing.
    #[arg(long)]
    pub dry_run: bool,
}

pub async fn run(core: &Core, policy: &RetentionPolicy, args: Args) -> anyhow::Result<()> {
    let purged = core.purge(policy, args.dry_run).await?;
    let total: u64 = purged.iter().map(|p| p.rows).sum();
    for p in &purged {
        if args.dry_run {
            println!("{}: {}", p.kind.as_str(), p.rows);
        } else {
            println!("{}: {} ({} batches)", p.kind.as_str(), p.rows, p.batches);
        }
    }
    if args.dry_run {
        println!("would purge {total} rows (dry run: nothing was deleted)");
    } else {
        println!("purged {total} rows");
    }
    Ok(())
}
