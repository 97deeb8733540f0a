//! `roster import-users` and `roster export-users`.

use super::explain;
use crate::config::Settings;
use anyhow::Context;
use roster_core::Core;
use roster_core::service::{
    ImportFormat, ImportLine, ImportOptions, ListUsers, OnConflict, Outcome, UserRecord, parse_duration,
    read_import_lines,
};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FileFormat {
    Csv,
    Jsonl,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ConflictArg {
    Skip,
    Update,
    Fail,
}

#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// The file to read (`-` for standard input).
    file: PathBuf,
    /// csv or jsonl [default: from the file name's extension, else jsonl].
    #[arg(long, value_enum)]
    format: Option<FileFormat>,
    /// Reports what would happen to each record; writes nothing.
    #[arg(long)]
    dry_run: bool,
    /// When the email or username exists: skip the record, update the account, or fail the record.
    #[arg(long, value_enum, default_value_t = ConflictArg::Skip)]
    on_conflict: ConflictArg,
    /// How long the set-password links of accounts without a password stay valid.
    #[arg(long, value_name = "DURATION", default_value = "7d")]
    link_expires: String,
}

#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// jsonl (one JSON object per line) or csv.
    #[arg(long, value_enum, default_value_t = FileFormat::Jsonl)]
    format: FileFormat,
}

fn read_lines(args: &ImportArgs) -> anyhow::Result<Vec<ImportLine>> {
    let format = args.format.unwrap_or_else(|| {
        if args.file.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv")) {
            FileFormat::Csv
        } else {
            FileFormat::Jsonl
        }
    });
    let reader: Box<dyn std::io::Read> = if args.file.as_os_str() == "-" {
        Box::new(std::io::stdin())
    } else {
        Box::new(std::fs::File::open(&args.file).with_context(|| format!("cannot open {}", args.file.display()))?)
    };
    let format = match format {
        FileFormat::Csv => ImportFormat::Csv,
        FileFormat::Jsonl => ImportFormat::Jsonl,
    };
    read_import_lines(reader, format).with_context(|| format!("reading {}", args.file.display()))
}

pub async fn import(core: &Core, settings: &Settings, args: ImportArgs) -> anyhow::Result<()> {
    let link_expires_in = parse_duration("link_expires", &args.link_expires).map_err(explain)?;
    let lines = read_lines(&args)?;
    let options = ImportOptions {
        on_conflict: match args.on_conflict {
            ConflictArg::Skip => OnConflict::Skip,
            ConflictArg::Update => OnConflict::Update,
            ConflictArg::Fail => OnConflict::Fail,
        },
        dry_run: args.dry_run,
        link_expires_in,
    };
    let bar = if std::io::stderr().is_terminal() {
        let bar = indicatif::ProgressBar::new(lines.len() as u64);
        if let Ok(style) = indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} records ({eta} left)") {
            bar.set_style(style);
        }
        bar
    } else {
        indicatif::ProgressBar::hidden()
    };
    let progress = |n: u64| bar.inc(n);
    let report = core
        .import_users(core.operator(), lines, &options, &progress)
        .await
        .map_err(explain)?;
    bar.finish_and_clear();
    let mut out = std::io::stdout().lock();
    let would = if report.dry_run { "would be " } else { "" };
    for r in &report.records {
        match &r.outcome {
            Outcome::Failed(reason) => eprintln!("line {}: {}: error: {reason}", r.line, r.who),
            Outcome::CreatedWithLink(Some(token)) => writeln!(
                out,
                "line {}: {}: created without a password; set-password link: {}",
                r.line,
                r.who,
                settings.link("reset-password", token)
            )?,
            outcome if report.dry_run => {
                let what = match outcome {
                    Outcome::Created => "create",
                    Outcome::CreatedWithLink(_) => "create without a password (with a set-password link)",
                    Outcome::Updated => "update",
                    Outcome::Unchanged => "unchanged",
                    Outcome::Skipped => "skip (exists)",
                    Outcome::Failed(_) => "fail",
                };
                writeln!(out, "line {}: {}: {what}", r.line, r.who)?;
            }
            _ => {}
        }
    }
    writeln!(
        out,
        "{}{} created ({} with a set-password link), {} updated, {} unchanged, {} skipped, {} failed{}",
        if report.dry_run { "Dry run: " } else { "Imported: " },
        report.created(),
        report.linked(),
        report.updated(),
        report.unchanged(),
        report.skipped(),
        report.failed(),
        if report.dry_run {
            format!("; nothing {would}written")
        } else {
            String::new()
        }
    )?;
    if report.failed() > 0 {
        anyhow::bail!("{} record(s) failed (see above)", report.failed());
    }
    Ok(())
}

pub async fn export(core: &Core, args: ExportArgs) -> anyhow::Result<()> {
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut csv_writer = (args.format == FileFormat::Csv).then(|| csv::Writer::from_writer(Vec::new()));
    let mut cursor = None;
    let mut count = 0u64;
    loop {
        let page = core
            .list_users(
                core.operator(),
                ListUsers {
                    cursor,
                    limit: Some(roster_core::service::MAX_PAGE_SIZE),
                    ..ListUsers::default()
                },
            )
            .await
            .map_err(explain)?;
        for user in &page.users {
            let mut record = UserRecord::from_user(user);
            count += 1;
            match &mut csv_writer {
                None => {
                    serde_json::to_writer(&mut out, &record)?;
                    out.write_all(b"\n")?;
                }
                Some(writer) => {
                    // CSV holds the preferences object as its JSON text.
                    record.preferences = record.preferences.map(|p| serde_json::Value::String(p.to_string()));
                    writer.serialize(&record)?;
                }
            }
        }
        cursor = page.next_cursor;
        if cursor.is_none() {
            break;
        }
    }
    if let Some(writer) = csv_writer {
        let bytes = writer.into_inner().map_err(|e| anyhow::anyhow!("writing CSV: {e}"))?;
        out.write_all(&bytes)?;
    }
    out.flush()?;
    eprintln!("Exported {count} user(s).");
    Ok(())
}
