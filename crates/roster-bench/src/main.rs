//! `roster-bench`: seeds N users through the store's bulk path, starts `roster serve` as its
//! own process, drives closed-loop load at the hot routes, and reports throughput, latency,
//! memory and start-up. Run by hand: `cargo run --release -p roster-bench -- --users 1000000`.

mod load;
mod oidc;
mod report;
mod seed;
mod server;

use anyhow::Context;
use clap::{Parser, ValueEnum};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendArg {
    Sqlite,
    Postgres,
}

#[derive(Debug, Parser)]
#[command(name = "roster-bench", about = "Measure Roster on this machine")]
pub struct Args {
    /// How many users to seed.
    #[arg(long, default_value_t = 100_000)]
    pub users: u64,
    /// Which database the server runs on.
    #[arg(long, value_enum, default_value_t = BackendArg::Sqlite)]
    pub backend: BackendArg,
    /// PostgreSQL server (the bench creates and drops its own database there).
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    pub pg_url: String,
    /// Concurrent connections of the load generator.
    #[arg(long, default_value_t = 32)]
    pub connections: usize,
    /// Measured seconds per scenario.
    #[arg(long, default_value_t = 10)]
    pub duration: u64,
    /// Unmeasured warm-up seconds per scenario.
    #[arg(long, default_value_t = 2)]
    pub warmup: u64,
    /// Also write the results as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Only these scenarios (comma-separated names); all by default.
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
    /// Also time `roster import-users` of this many records with bcrypt hashes, into a fresh
    /// database (0 skips it).
    #[arg(long, default_value_t = 100_000)]
    pub import_records: u64,
    /// How many authorization codes the code exchange scenario gets (made through
    /// `/oidc/authorize` just before it; it ends early if they run out).
    #[arg(long, default_value_t = 20_000)]
    pub oidc_codes: usize,
    /// Keep the PostgreSQL database at the end (its URL is printed), to look into it.
    #[arg(long)]
    pub keep_database: bool,
    /// Run the server with Redis configured (`ROSTER_REDIS_URL`): rate limits, and on
    /// PostgreSQL the credential cache's changes, go through it.
    #[arg(long)]
    pub redis_url: Option<String>,
    /// The `roster` binary; by default built with `cargo build --release` from this workspace.
    #[arg(long)]
    pub server_bin: Option<PathBuf>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let bin = match &args.server_bin {
        Some(p) => p.clone(),
        None => server::build_server_binary().context("building the roster binary")?,
    };
    let data_dir = std::env::temp_dir().join(format!("roster-bench-{}", std::process::id()));
    std::fs::create_dir_all(&data_dir)?;
    let database = server::Database::create(args.backend, &args.pg_url, &data_dir).await?;

    eprintln!("seeding {} users on {:?} ...", args.users, args.backend);
    let seeded = seed::seed(&database.url, args.users).await?;
    eprintln!("seeded in {:.1} s", seeded.seconds);

    let mut server = server::Server::start(&bin, &database.url, &data_dir, args.redis_url.as_deref()).await?;
    let startup = server.startup;
    let idle_rss = server.rss_kib();
    eprintln!(
        "server ready in {:.0} ms, idle RSS {} KiB",
        startup.as_secs_f64() * 1000.0,
        idle_rss.unwrap_or(0)
    );

    let plan = load::Plan {
        address: server.address.clone(),
        connections: args.connections,
        duration: Duration::from_secs(args.duration),
        warmup: Duration::from_secs(args.warmup),
    };
    let fixtures = load::Fixtures::prepare(&plan, &seeded, args.users, args.oidc_codes).await?;
    let results = load::run_all(&plan, &fixtures, &args.only).await?;
    let final_rss = server.rss_kib();
    server.stop();
    if args.keep_database {
        eprintln!("kept the database: {}", database.url);
    } else {
        database.drop_database().await;
    }
    let import_seconds = if args.import_records > 0 {
        eprintln!("timing import-users of {} records ...", args.import_records);
        let import_db = server::Database::create(args.backend, &args.pg_url, &data_dir.join("import")).await?;
        let seconds = seed::time_import(&bin, &import_db.url, &data_dir, args.import_records).await;
        import_db.drop_database().await;
        Some(seconds?)
    } else {
        None
    };
    let _ = std::fs::remove_dir_all(&data_dir);

    let mut report = report::Report::new(&args, seeded.seconds, startup, idle_rss, final_rss, results);
    report.import_seconds = import_seconds;
    report.print();
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_vec_pretty(&report)?)?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}
