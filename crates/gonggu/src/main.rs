use std::path::PathBuf;

use clap::{Parser, Subcommand};
use gonggu::{telemetry, Application, Settings};

/// 공구마켓 — 우리 동네 공동구매.
#[derive(Parser)]
#[command(name = "gonggu", version, about)]
struct Cli {
    /// Settings file (default: ./gonggu.toml if present).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the web app and API (the default).
    Serve,
    /// Run every context's database migrations and exit.
    Migrate,
    /// Print the effective settings (secrets hidden) and exit.
    Config,
    /// Wallet maintenance.
    #[command(subcommand)]
    Wallet(WalletCommand),
}

#[derive(Subcommand)]
enum WalletCommand {
    /// Check the ledger: every entry balances, every balance equals the sum of its postings, no
    /// balance is negative. Exits non-zero on any violation.
    Verify,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::load(cli.config.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("설정 오류 (configuration error): {e:#}");
            return std::process::ExitCode::from(2);
        }
    };
    telemetry::init_logging(&settings.log);
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(settings).await,
        Command::Migrate => gonggu::startup::migrate(&settings).await,
        Command::Config => {
            println!("{settings:#?}");
            Ok(())
        }
        Command::Wallet(WalletCommand::Verify) => match gonggu::startup::verify_wallet(&settings).await {
            Ok(audit) if audit.violations.is_empty() => {
                println!("ledger OK: {} accounts, {} journal entries, every invariant holds", audit.accounts, audit.entries);
                Ok(())
            }
            Ok(audit) => {
                for v in &audit.violations {
                    println!("VIOLATION: {v}");
                }
                Err(anyhow::anyhow!("{} ledger invariant violation(s)", audit.violations.len()))
            }
            Err(e) => Err(e),
        },
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "gonggu stopped with an error");
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let app = Application::build(settings.clone()).await?;
    tracing::info!(addr = %app.local_addr(), public_url = %settings.public_url, "gonggu listening");
    app.run_until_stopped().await
}
