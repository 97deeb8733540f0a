//! The `roster` binary: `roster serve` runs the server; other subcommands administer the
//! same database through the same core services.

mod config;
mod serve;

use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(name = "roster", version, about = "User management for AI chat platforms")]
struct Cli {
    /// TOML configuration file (settings: see the README).
    #[arg(long, global = true, env = "ROSTER_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs the server (SQLite in ./roster-data by default).
    Serve {
        /// Address to listen on [env: ROSTER_LISTEN] [default: 127.0.0.1:8480]
        #[arg(long)]
        listen: Option<String>,
        /// Data directory [env: ROSTER_DATA_DIR] [default: roster-data]
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Database URL, sqlite://PATH or postgres://... [env: ROSTER_DATABASE_URL]
        #[arg(long)]
        database: Option<String>,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve {
                listen,
                data_dir,
                database,
            } => {
                let flags = config::FlagOverrides {
                    listen,
                    data_dir,
                    database_url: database,
                };
                let settings = config::Settings::load(cli.config.as_deref(), flags)?;
                serve::run(settings).await
            }
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
