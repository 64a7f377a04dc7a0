//! `shop`: every Shop service in one binary, as a library the binary and
//! the tests share.
//!
//! `shop up` runs them all in one process, each on its own port, talking
//! over HTTP as separate processes would; `shop serve <service>` runs one,
//! configured by the environment (what containers run).
//!
//! - [`services`]: the six services described once (name, port, settings,
//!   wiring, build), for `serve`, `up` and the tests.
//! - [`up`]: `shop up`.
//! - [`events`]: `shop events tail`.
//! - [`accounts`]: `shop accounts create-staff` and `rotate-key`.
//!
//! This crate parses the command line, wires the services and reports
//! start-up errors; the services live in their own crates.

pub mod accounts;
pub mod bench;
pub mod events;
pub mod seed;
pub mod services;
pub mod up;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use shop_common::config::{ConfigError, Env, ServerSettings};
use shop_common::service::{bind, shutdown_on_signals, StartError};
use shop_common::telemetry::{init_logging, LogFormat};

use crate::services::{BuildOptions, ServiceName};

/// Shop: an e-commerce platform of catalog, cart, order and payment
/// services behind a gateway.
#[derive(Debug, Parser)]
#[command(name = "shop", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run every service and the gateway in one process (SQLite files under
    /// the data directory).
    Up(up::UpArgs),
    /// Run one service, configured by environment variables (PORT, BIND,
    /// DB_PATH, *_SERVICE_URL, ...).
    Serve {
        #[arg(value_enum)]
        service: ServiceName,
    },
    /// Exit 0 when the URL answers 2xx within the timeout (container health
    /// checks: images need no curl).
    Check {
        /// For example http://127.0.0.1:8001/health
        url: String,
        /// Seconds to wait for the answer.
        #[arg(long, default_value_t = 3)]
        timeout: u64,
    },
    /// Order events on Kafka.
    Events {
        #[command(subcommand)]
        command: EventsCommand,
    },
    /// Accounts of the identity service.
    Accounts {
        #[command(subcommand)]
        command: AccountsCommand,
    },
    /// Fill the databases with a realistic history: products, customers,
    /// orders in every status over the last days, payments and refunds.
    Seed(seed::SeedArgs),
    /// Measure the shop's main paths (browse, product, cart read, add to
    /// cart, checkout) against an axum hello-world measured in the same
    /// run; on a shop it starts, or `--target`.
    Bench(bench::BenchArgs),
}

#[derive(Debug, Subcommand)]
enum AccountsCommand {
    /// Make a staff account (staff may do everything: every user's orders,
    /// product writes, status changes).
    CreateStaff(accounts::CreateStaffArgs),
    /// One step of a rotation of the signing keys: the first run publishes
    /// a next key beside the current one, the second signs with it (the
    /// one it replaces stays published until its tokens have expired).
    RotateKey(accounts::RotateKeyArgs),
}

#[derive(Debug, Subcommand)]
enum EventsCommand {
    /// Print the events of the order topic as they arrive, one JSON per line.
    Tail(events::TailArgs),
}

/// Why `shop` could not run, and its exit code.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// A bad setting: exit code 2.
    #[error("{0}")]
    Config(#[from] ConfigError),
    /// Anything else at start-up or while serving: exit code 1.
    #[error("{0}")]
    Start(String),
}

impl From<StartError> for Failure {
    fn from(err: StartError) -> Self {
        match err {
            StartError::Config(config) => Failure::Config(config),
            other => Failure::Start(other.to_string()),
        }
    }
}

/// Runs `shop` as the command line says, and its exit code.
pub fn main(cli: Cli) -> ExitCode {
    let env = Env::from_process();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("shop: error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli, env)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("shop: error: {failure}");
            match failure {
                Failure::Config(_) => ExitCode::from(2),
                Failure::Start(_) => ExitCode::FAILURE,
            }
        }
    }
}

async fn run(cli: Cli, env: Env) -> Result<(), Failure> {
    // Spans are exported as the service's (one served alone) or as the
    // shop's (every service of `shop up` in one process).
    let traced_as = match &cli.command {
        Command::Serve { service } => service.name(),
        _ => "shop",
    };
    let _logging = init_logging(LogFormat::from_env(&env)?, &env, traced_as)?;
    match cli.command {
        Command::Up(args) => up::run(args, env).await,
        Command::Serve { service } => serve(service, env).await,
        Command::Check { url, timeout } => check(&url, timeout).await,
        Command::Events {
            command: EventsCommand::Tail(args),
        } => events::tail(args).await,
        Command::Accounts {
            command: AccountsCommand::CreateStaff(args),
        } => accounts::create_staff(args, env).await,
        Command::Accounts {
            command: AccountsCommand::RotateKey(args),
        } => accounts::rotate_key(args, env).await,
        Command::Seed(args) => seed::seed(args, env).await,
        Command::Bench(args) => bench::bench(args).await,
    }
}

async fn serve(service: ServiceName, env: Env) -> Result<(), Failure> {
    let config = service.configure(&env)?;
    let listen = config.listen();
    let built = config.build(&BuildOptions::default()).await?;
    let server = server_settings(&env, 1)?;
    let listener = bind(built.name, SocketAddr::new(listen.bind, listen.port))
        .await
        .map_err(|err| Failure::Start(err.to_string()))?;
    let addr = listener
        .local_addr()
        .map_err(|err| Failure::Start(err.to_string()))?;
    tracing::info!(service = built.name, %addr, "listening");
    built
        .run(listener, server, shutdown_on_signals())
        .await
        .map_err(|err| Failure::Start(err.to_string()))
}

/// The connection settings of `listeners` listeners in this process, after
/// raising its open-files limit to the hard limit (every client connection
/// is a file): the connection cap is lowered, with a warning, if full
/// listeners would leave no files for the rest.
fn server_settings(env: &Env, listeners: usize) -> Result<ServerSettings, ConfigError> {
    let settings = ServerSettings::from_env(env)?;
    let open_files = match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => limit,
        Err(err) => {
            tracing::warn!(error = %err, "cannot raise the open-files limit");
            match rlimit::Resource::NOFILE.get() {
                Ok((soft, _)) => soft,
                Err(_) => return Ok(settings),
            }
        }
    };
    let (fitted, lowered) = settings.fit_open_files(listeners, open_files);
    if lowered {
        tracing::warn!(
            open_files,
            max_connections = fitted.max_connections,
            "SERVER_MAX_CONNECTIONS lowered to fit the open-files limit"
        );
    } else {
        tracing::debug!(open_files, "open-files limit");
    }
    Ok(fitted)
}

async fn check(url: &str, timeout: u64) -> Result<(), Failure> {
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(timeout))
        .build()
        .map_err(|err| Failure::Start(err.to_string()))?;
    let response = client
        .get(url)
        .send()
        .await
        .map_err(|err| Failure::Start(format!("{url}: {err}")))?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(Failure::Start(format!(
            "{url} answered {}",
            response.status()
        )))
    }
}

/// The default data directory of `shop up`.
fn default_data_dir() -> PathBuf {
    PathBuf::from("./data")
}
