//! `roster migrate open-webui|langflow|librechat`: a reader per product maps the source into
//! the core's records; the core's migration service decides and writes.

mod db;
mod langflow;
mod librechat;
mod openwebui;

use super::explain;
use super::transfer::ConflictArg;
use roster_core::Core;
use roster_core::service::{MigrateOptions, MigrationOutcome, OnConflict};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    from: Source,
}

#[derive(Debug, clap::Args)]
pub struct Common {
    /// Prints what would be created, updated and skipped, with reasons; writes nothing.
    #[arg(long)]
    dry_run: bool,
    /// When an account not made by an earlier run of this migration holds the email or
    /// username: skip the record, update that account (and link it), or fail the record.
    #[arg(long, value_enum, default_value_t = ConflictArg::Skip)]
    on_conflict: ConflictArg,
}

#[derive(Debug, clap::Subcommand)]
enum Source {
    /// Open WebUI: its webui.db (or the data directory holding it) or a postgres:// URL.
    OpenWebui {
        /// webui.db, Open WebUI's data directory, or postgres://...
        source: String,
        /// Open WebUI's data directory, where profile images stored as files are read from
        /// (`uploads/`, `cache/`). Default: the directory holding webui.db.
        #[arg(long, value_name = "DIR")]
        files: Option<PathBuf>,
        #[command(flatten)]
        common: Common,
    },
    /// Langflow: its langflow.db (or the directory holding it) or a postgres:// URL.
    Langflow {
        /// langflow.db, the directory holding it, or postgres://...
        source: String,
        #[command(flatten)]
        common: Common,
    },
    /// LibreChat: mongoexport JSON files of the users, balances and transactions collections.
    Librechat {
        /// Export files (JSON lines or --jsonArray), e.g. users.json balances.json transactions.json.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// LibreChat's CREDS_KEY (64 hex characters, from its .env), to decrypt two-factor
        /// secrets; read from the environment variable CREDS_KEY when not given. Without it,
        /// encrypted secrets are not carried over (noted per user).
        #[arg(long, env = "CREDS_KEY", hide_env_values = true, value_name = "HEX")]
        creds_key: Option<String>,
        #[command(flatten)]
        common: Common,
    },
}

pub async fn run(core: &Core, args: Args) -> anyhow::Result<()> {
    let (source, data, common) = match args.from {
        Source::OpenWebui { source, files, common } => {
            let db = db::SourceDb::open(&source, "webui.db").await?;
            let files = files.or_else(|| db::SourceDb::directory_of(&source));
            if let Some(dir) = files.as_ref().filter(|d| !d.is_dir()) {
                anyhow::bail!("--files: {} is not a directory", dir.display());
            }
            let images = openwebui::ImageFiles::new(files, core.config.avatar_max_bytes);
            let data = openwebui::read(&db, images).await;
            db.close().await;
            ("open-webui", data?, common)
        }
        Source::Langflow { source, common } => {
            let db = db::SourceDb::open(&source, "langflow.db").await?;
            let data = langflow::read(&db).await;
            db.close().await;
            ("langflow", data?, common)
        }
        Source::Librechat {
            files,
            common,
            creds_key,
        } => {
            let key = creds_key
                .filter(|k| !k.trim().is_empty())
                .map(|k| librechat::CredsKey::parse(&k))
                .transpose()?;
            ("librechat", librechat::read(&files, key.as_ref())?, common)
        }
    };
    let options = MigrateOptions {
        on_conflict: match common.on_conflict {
            ConflictArg::Skip => OnConflict::Skip,
            ConflictArg::Update => OnConflict::Update,
            ConflictArg::Fail => OnConflict::Fail,
        },
        dry_run: common.dry_run,
    };
    let bar = if std::io::stderr().is_terminal() {
        let bar = indicatif::ProgressBar::new(data.len() as u64);
        if let Ok(style) = indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} records ({eta} left)") {
            bar.set_style(style);
        }
        bar
    } else {
        indicatif::ProgressBar::hidden()
    };
    let progress = |n: u64| bar.inc(n);
    let report = core
        .migrate_unchecked(source, data, options, &progress)
        .await
        .map_err(explain)?;
    bar.finish_and_clear();
    let mut out = std::io::stdout().lock();
    for r in &report.records {
        let line = format!(
            "{} {} ({}): {}{}",
            r.kind,
            r.who,
            r.source_id,
            r.outcome.as_str(report.dry_run),
            if r.reasons.is_empty() {
                String::new()
            } else {
                format!(": {}", r.reasons.join("; "))
            }
        );
        if r.outcome == MigrationOutcome::Failed {
            eprintln!("{line}");
        } else if report.dry_run
            || !r.reasons.is_empty()
            || matches!(r.outcome, MigrationOutcome::Skipped | MigrationOutcome::Created)
        {
            writeln!(out, "{line}")?;
        }
    }
    let count = |kind: &str, o: MigrationOutcome| report.count(kind, o);
    use MigrationOutcome::*;
    writeln!(
        out,
        "{}{source}: users: {} created, {} updated, {} unchanged, {} skipped, {} failed; groups: {} created, {} updated, \
         {} unchanged, {} failed{}",
        if report.dry_run {
            "Dry run, nothing written: "
        } else {
            "Migrated from "
        },
        count("user", Created),
        count("user", Updated),
        count("user", Unchanged),
        count("user", Skipped),
        count("user", Failed),
        count("group", Created),
        count("group", Updated),
        count("group", Unchanged),
        count("group", Failed),
        match report.records.iter().find(|r| r.kind == "default permissions") {
            Some(r) => format!("; default permissions: {}", r.outcome.as_str(report.dry_run)),
            None => String::new(),
        }
    )?;
    if report.failed() > 0 {
        anyhow::bail!("{} record(s) failed (see above)", report.failed());
    }
    Ok(())
}
