//! `roster backup`, `roster restore` and `roster copy`: whole-database transfers (the store's
//! `transfer` module does the work; these parse and print).

use roster_store::transfer::{self, Backup, Report};
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct BackupArgs {
    /// The file to write (must not exist).
    pub file: PathBuf,
}

#[derive(Debug, clap::Args)]
pub struct RestoreArgs {
    /// A file `roster backup` wrote (a SQLite database file or a dump).
    pub file: PathBuf,
}

#[derive(Debug, clap::Args)]
pub struct CopyArgs {
    /// The database to copy from (sqlite://PATH or postgres://...); read, never changed.
    #[arg(long)]
    pub from: String,
    /// The database to copy into (sqlite://PATH or postgres://...); must be empty.
    #[arg(long)]
    pub to: String,
}

/// Prints the rows per table and the total.
fn print_report(verb: &str, report: &Report) {
    for (table, rows) in &report.tables {
        println!("{table}: {rows}");
    }
    println!("{verb} {} rows in {} tables", report.rows(), report.tables.len());
}

pub async fn backup(database_url: &str, args: BackupArgs) -> anyhow::Result<()> {
    match transfer::backup(database_url, &args.file).await? {
        Backup::SqliteFile => println!("backed up the SQLite database to {}", args.file.display()),
        Backup::Dump(report) => {
            print_report("backed up", &report);
            println!("wrote {}", args.file.display());
        }
    }
    Ok(())
}

pub async fn restore(database_url: &str, args: RestoreArgs) -> anyhow::Result<()> {
    let report = transfer::restore(&args.file, database_url).await?;
    print_report("restored", &report);
    Ok(())
}

pub async fn copy(args: CopyArgs) -> anyhow::Result<()> {
    let report = transfer::copy(&args.from, &args.to).await?;
    print_report("copied", &report);
    Ok(())
}
