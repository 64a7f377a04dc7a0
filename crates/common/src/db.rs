//! Database set-up shared by the services.
//!
//! Each service owns one database. Queries go through sqlx's `Any` driver
//! with `$1`-style placeholders, which SQLite and PostgreSQL both read, so one
//! set of queries serves both backends. SQLite runs in WAL mode with one
//! writer connection (writes never wait on each other for a lock) and a pool
//! of read-only connections that read concurrently with the writer.

use std::path::{Path, PathBuf};
use std::time::Duration;

use sqlx::any::AnyPoolOptions;
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, Executor};

/// Where a service keeps its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbTarget {
    /// An SQLite file, created on first start.
    Sqlite(PathBuf),
}

impl DbTarget {
    /// A human-readable name for logs and errors.
    pub fn describe(&self) -> String {
        match self {
            DbTarget::Sqlite(path) => format!("sqlite:{}", path.display()),
        }
    }
}

/// Pool settings.
#[derive(Debug, Clone)]
pub struct DbSettings {
    pub target: DbTarget,
    /// Read connections (SQLite) or all connections.
    pub pool_size: u32,
    /// How long a request waits for a connection before it is answered 503.
    pub acquire_timeout: Duration,
}

/// A service's database: one writer, many readers.
#[derive(Debug, Clone)]
pub struct Db {
    /// Every write, and reads that must see the latest write in a transaction.
    pub writer: AnyPool,
    /// Reads.
    pub reader: AnyPool,
}

/// Why the database could not be opened at start-up.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("cannot create directory {dir} for database {db}: {source}")]
    CreateDir {
        dir: PathBuf,
        db: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot open database {target}: {source}")]
    Open { target: String, source: sqlx::Error },
    #[error("cannot migrate database {target}: {source}")]
    Migrate {
        target: String,
        source: sqlx::migrate::MigrateError,
    },
}

impl Db {
    /// Opens (creating if needed) the database and runs the migrations.
    pub async fn open(settings: &DbSettings, migrator: &Migrator) -> Result<Db, DbError> {
        sqlx::any::install_default_drivers();
        let target = settings.target.describe();
        let open_err = |source| DbError::Open {
            target: target.clone(),
            source,
        };
        match &settings.target {
            DbTarget::Sqlite(path) => {
                ensure_parent_dir(path)?;
                let url = sqlite_url(path);
                let writer = AnyPoolOptions::new()
                    .max_connections(1)
                    .min_connections(1)
                    .acquire_timeout(settings.acquire_timeout)
                    .after_connect(|conn, _meta| {
                        Box::pin(async move {
                            conn.execute(
                                "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                                 PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON;",
                            )
                            .await?;
                            Ok(())
                        })
                    })
                    .connect(&format!("{url}?mode=rwc"))
                    .await
                    .map_err(open_err)?;
                migrator
                    .run(&writer)
                    .await
                    .map_err(|source| DbError::Migrate {
                        target: target.clone(),
                        source,
                    })?;
                let reader = AnyPoolOptions::new()
                    .max_connections(settings.pool_size.max(1))
                    .acquire_timeout(settings.acquire_timeout)
                    .after_connect(|conn, _meta| {
                        Box::pin(async move {
                            conn.execute("PRAGMA busy_timeout = 5000;").await?;
                            Ok(())
                        })
                    })
                    .connect(&format!("{url}?mode=ro"))
                    .await
                    .map_err(open_err)?;
                Ok(Db { writer, reader })
            }
        }
    }

    /// True when the database answers a trivial query.
    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1")
            .fetch_one(&self.reader)
            .await
            .is_ok()
    }

    /// Closes both pools, waiting for in-flight queries.
    pub async fn close(&self) {
        self.reader.close().await;
        self.writer.close().await;
    }
}

fn sqlite_url(path: &Path) -> String {
    format!("sqlite://{}", path.display())
}

fn ensure_parent_dir(path: &Path) -> Result<(), DbError> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => {
            std::fs::create_dir_all(dir).map_err(|source| DbError::CreateDir {
                dir: dir.to_owned(),
                db: path.to_owned(),
                source,
            })
        }
        _ => Ok(()),
    }
}

/// True when the error means "try again later" rather than a bug: the pool is
/// exhausted or closed, the connection broke, or the database is busy.
pub fn is_unavailable(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => {
            let code = db.code().unwrap_or_default();
            // SQLite: BUSY (5), LOCKED (6), IOERR (10), FULL (13) and their
            // extended codes. PostgreSQL: connection exceptions (08...),
            // resources (53...), operator intervention (57...).
            let sqlite_primary = code.parse::<i64>().map(|c| c & 0xff).ok();
            matches!(sqlite_primary, Some(5 | 6 | 10 | 13))
                || code.starts_with("08")
                || code.starts_with("53")
                || code.starts_with("57")
        }
        _ => false,
    }
}
