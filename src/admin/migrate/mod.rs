//! `roster migrate open-webui|langflow|librechat`: a reader per product maps the source into
//! the core's records; the core's migration service decides and writes.

mod db;
mod langflow;
mod librechat;
mod openwebui;

use super::explain;
use super::transfer::ConflictArg;
use roster_core::Core;
use roster_core::service::SourceImage;
use roster_core::service::{MigrateOptions, MigrationOutcome, OnConflict};
use std::io::{IsTerminal, Write};
use std::path::{Component, Path, PathBuf};

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
        #[arg(required = true, value_name = "FILE")]
        exports: Vec<PathBuf>,
        /// LibreChat's public directory (client/public, holding images/), where avatars
        /// stored as files (`/images/...`) are read from.
        #[arg(long = "files", value_name = "DIR")]
        public: Option<PathBuf>,
        /// LibreChat's CREDS_KEY (64 hex characters, from its .env), to decrypt two-factor
        /// secrets; read from the environment variable CREDS_KEY when not given. Without it,
        /// encrypted secrets are not carried over (noted per user).
        #[arg(long, env = "CREDS_KEY", hide_env_values = true, value_name = "HEX")]
        creds_key: Option<String>,
        #[command(flatten)]
        common: Common,
    },
}

/// Where profile images stored as files on the old server are read from: the product's data
/// (or public) directory given with `--files`, never outside it, each file at most the avatar
/// upload limit.
pub struct ImageDir {
    dir: Option<PathBuf>,
    max_bytes: u64,
}

impl ImageDir {
    /// `dir` must be a directory when given.
    pub fn new(dir: Option<PathBuf>, max_bytes: usize) -> anyhow::Result<Self> {
        if let Some(dir) = dir.as_ref().filter(|d| !d.is_dir()) {
            anyhow::bail!("--files: {} is not a directory", dir.display());
        }
        Ok(ImageDir {
            dir,
            max_bytes: max_bytes as u64,
        })
    }

    /// Reads `relative` under the directory (no `..`, no symlink out). `url` is how the source
    /// named the image and `directory` what `--files` should name, for the reason when it
    /// cannot be read.
    fn read(&self, relative: &Path, url: &str, directory: &str) -> Result<SourceImage, String> {
        let Some(dir) = &self.dir else {
            return Err(format!(
                "the profile image {url:?} is a file of the old server; give {directory} with --files DIR"
            ));
        };
        if relative.components().any(|c| !matches!(c, Component::Normal(_))) {
            return Err(format!(
                "the profile image {url:?} leaves {directory}; not carried over"
            ));
        }
        let file = dir.join(relative);
        let inside = match (dir.canonicalize(), file.canonicalize()) {
            (Ok(d), Ok(f)) => f.starts_with(d),
            _ => return Err(format!("the profile image file {} does not exist", file.display())),
        };
        if !inside {
            return Err(format!("the profile image file {} leaves {directory}", file.display()));
        }
        let size = std::fs::metadata(&file)
            .map_err(|e| format!("reading {}: {e}", file.display()))?
            .len();
        if size > self.max_bytes {
            return Err(format!(
                "the profile image file {} ({size} bytes) is larger than the avatar limit ({} bytes)",
                file.display(),
                self.max_bytes
            ));
        }
        let bytes = std::fs::read(&file).map_err(|e| format!("reading {}: {e}", file.display()))?;
        Ok(SourceImage {
            bytes,
            origin: file.display().to_string(),
        })
    }
}

pub async fn run(core: &Core, args: Args) -> anyhow::Result<()> {
    let (source, data, common) = match args.from {
        Source::OpenWebui { source, files, common } => {
            let db = db::SourceDb::open(&source, "webui.db").await?;
            let files = files.or_else(|| db::SourceDb::directory_of(&source));
            let images = openwebui::ImageFiles::new(ImageDir::new(files, core.config.avatar_max_bytes)?);
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
            exports,
            public,
            common,
            creds_key,
        } => {
            let key = creds_key
                .filter(|k| !k.trim().is_empty())
                .map(|k| librechat::CredsKey::parse(&k))
                .transpose()?;
            let images = ImageDir::new(public, core.config.avatar_max_bytes)?;
            ("librechat", librechat::read(&exports, key.as_ref(), &images)?, common)
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
        .migrate(core.operator(), source, data, options, &progress)
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
