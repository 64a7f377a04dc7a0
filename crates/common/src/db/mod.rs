//! Database set-up shared by the services.
//!
//! Each service owns one database. Queries go through sqlx's `Any` driver
//! with `$1`-style placeholders, which SQLite and PostgreSQL both read, so one
//! set of queries serves both backends; only the migrations differ
//! (`migrations/sqlite`, `migrations/postgres` of each service).
//!
//! SQLite (the one-command default) runs in WAL mode with one writing
//! connection (writes never wait on each other for a lock) and a few
//! read-only connections that read concurrently with it, both held by
//! [`Connections`] rather than sqlx's pool; a read runs on the asking
//! task's thread unless it runs long, and stops at the statement timeout.
//! PostgreSQL (`DATABASE_URL`, for replicas that share one database) uses
//! one set of [`Connections`] for reads and writes, in the service's own
//! schema, with a statement timeout.

use std::path::{Path, PathBuf};
use std::time::Duration;

use sqlx::any::AnyPoolOptions;
use sqlx::migrate::Migrator;
use sqlx::{AnyConnection, Connection, Executor};

mod connections;
mod guard;
mod lite;
mod pipe;
mod queue;
mod reads;
mod refusal;
use connections::Beside;
pub use connections::{Batch, Connections, Statements, WriteTx};
pub use guard::{Column, Guard, UNKNOWN_ID};
use reads::Readers;

/// Where a service keeps its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbTarget {
    /// An SQLite file, created on first start.
    Sqlite(PathBuf),
    /// A schema (created on first start) of a PostgreSQL database.
    Postgres { url: String, schema: String },
}

impl DbTarget {
    /// A human-readable name for logs and errors (no password).
    pub fn describe(&self) -> String {
        match self {
            DbTarget::Sqlite(path) => format!("sqlite:{}", path.display()),
            DbTarget::Postgres { url, schema } => {
                let shown = reqwest::Url::parse(url)
                    .map(|mut u| {
                        if u.password().is_some() {
                            let _ = u.set_password(Some("***"));
                        }
                        u.to_string()
                    })
                    .unwrap_or_else(|_| "postgres://(unparsable)".to_owned());
                format!("{shown} (schema {schema})")
            }
        }
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self, DbTarget::Postgres { .. })
    }
}

/// The migrations of the calling service crate: `migrations/sqlite` and
/// `migrations/postgres` beside its `Cargo.toml`, embedded at compile time.
#[macro_export]
macro_rules! migrations {
    () => {{
        static SQLITE: ::sqlx::migrate::Migrator = ::sqlx::migrate!("./migrations/sqlite");
        static POSTGRES: ::sqlx::migrate::Migrator = ::sqlx::migrate!("./migrations/postgres");
        $crate::db::Migrations {
            sqlite: &SQLITE,
            postgres: &POSTGRES,
        }
    }};
}

/// The migrations of a service, one set per backend.
#[derive(Debug, Clone, Copy)]
pub struct Migrations {
    pub sqlite: &'static Migrator,
    pub postgres: &'static Migrator,
}

/// Pool settings.
#[derive(Debug, Clone)]
pub struct DbSettings {
    pub target: DbTarget,
    /// Read connections (SQLite) or all connections.
    pub pool_size: u32,
    /// How long a request waits for a connection before it is answered 503.
    pub acquire_timeout: Duration,
    /// PostgreSQL: the longest a statement may run.
    pub statement_timeout: Duration,
    /// PostgreSQL: how long start-up keeps trying to reach the database
    /// (containers often start before it).
    pub startup_timeout: Duration,
    /// SQLite: `SQLITE_SYNCHRONOUS`, when a commit reaches the disk.
    pub synchronous: Synchronous,
}

/// SQLite's `synchronous` level in WAL mode (`SQLITE_SYNCHRONOUS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Synchronous {
    /// `normal` (the default): a commit is in the write-ahead log, in the
    /// operating system's hands, when it returns; it survives the process
    /// being killed (kill -9, a crash), and the WAL is synced at each
    /// checkpoint. A power loss or an operating-system crash may lose the
    /// last commits, never corrupt the database.
    #[default]
    Normal,
    /// `full`: every commit also waits for the log to reach the disk, so it
    /// survives a power loss too, at the cost of an fsync per commit.
    Full,
}

impl Synchronous {
    fn pragma(self) -> &'static str {
        match self {
            Synchronous::Normal => "NORMAL",
            Synchronous::Full => "FULL",
        }
    }
}

/// A service's database: one writer, many readers.
#[derive(Debug, Clone)]
pub struct Db {
    /// Every write, and reads that must see a transaction's own writes.
    pub writer: Connections,
    /// Reads.
    pub reader: Connections,
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
    pub async fn open(settings: &DbSettings, migrations: Migrations) -> Result<Db, DbError> {
        sqlx::any::install_default_drivers();
        match &settings.target {
            DbTarget::Sqlite(path) => open_sqlite(path, settings, migrations.sqlite).await,
            DbTarget::Postgres { url, schema } => {
                open_postgres(url, schema, settings, migrations.postgres).await
            }
        }
    }

    /// Whether this is PostgreSQL (shared by replicas) rather than SQLite.
    pub fn is_postgres(&self) -> bool {
        self.reader.is_postgres()
    }

    /// True when the database answers a trivial query.
    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1")
            .fetch_one(&self.reader)
            .await
            .is_ok()
    }

    /// Closes both sets of connections, waiting for in-flight queries.
    pub async fn close(&self) {
        self.reader.close().await;
        self.writer.close().await;
    }
}

/// The page size of a new SQLite database, in bytes.
const PAGE_SIZE: i64 = 2048;

/// SQLite in WAL mode: one writing connection (writes never wait on each
/// other for a lock), migrated, and up to `pool_size` read-only ones,
/// opened as reads need them. Neither set is tested before or after use, as
/// sqlx's pool would: a local file does not hang up.
async fn open_sqlite(
    path: &Path,
    settings: &DbSettings,
    migrator: &Migrator,
) -> Result<Db, DbError> {
    let (open_err, migrate_err) = (&open_error(settings), migrate_error(settings));

    ensure_parent_dir(path)?;
    let url = sqlite_url(path);
    // Pages of 2 KiB rather than SQLite's 4 KiB: each commit writes every
    // page it changed to the log, and a checkout's small rows change many
    // b-trees a little (docs/performance.md, finding 20). It applies only
    // to a new file; an existing database keeps its page size.
    let pragmas = format!(
        "PRAGMA page_size = {PAGE_SIZE}; PRAGMA journal_mode = WAL; PRAGMA synchronous = {}; \
         PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON;",
        settings.synchronous.pragma()
    );
    let mut writer = AnyConnection::connect(&format!("{url}?mode=rwc"))
        .await
        .map_err(open_err)?;
    writer.execute(pragmas.as_str()).await.map_err(open_err)?;
    migrator.run(&mut writer).await.map_err(migrate_err)?;
    let queued = open_queued_writer(path, settings).map_err(|err| DbError::Open {
        target: settings.target.describe(),
        source: sqlx::Error::Configuration(Box::new(err)),
    })?;
    let writer = Connections::one(writer, queued, settings.acquire_timeout);
    let read_only = format!("{url}?mode=ro");
    let open_reader: connections::Opener = Box::new(move || {
        let url = read_only.clone();
        Box::pin(async move {
            let mut conn = AnyConnection::connect(&url).await?;
            conn.execute("PRAGMA busy_timeout = 5000;").await?;
            Ok(conn)
        })
    });
    let reader = Connections::opened_by(
        open_reader,
        Vec::new(),
        settings.pool_size.max(1),
        settings.acquire_timeout,
        Beside::Readers(Readers::new(path.to_owned(), settings.statement_timeout)),
    );
    // The file answers reads now, or start-up fails here.
    sqlx::query("SELECT 1")
        .execute(&reader)
        .await
        .map_err(open_err)?;
    Ok(Db { writer, reader })
}

/// The writer's queue's own connection to the (migrated) file at `path`,
/// with the writer's settings (`queue`).
fn open_queued_writer(
    path: &Path,
    settings: &DbSettings,
) -> rusqlite::Result<rusqlite::Connection> {
    let flags =
        rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let writer = rusqlite::Connection::open_with_flags(path, flags)?;
    writer.execute_batch(&format!(
        "PRAGMA synchronous = {}; PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON;",
        settings.synchronous.pragma()
    ))?;
    // The statements of every kind of transaction sent whole, kept prepared.
    writer.set_prepared_statement_cache_capacity(256);
    Ok(writer)
}

/// PostgreSQL: the schema created if needed (waiting for the database at
/// start-up), then one set of connections in that schema with a statement
/// timeout.
async fn open_postgres(
    url: &str,
    schema: &str,
    settings: &DbSettings,
    migrator: &Migrator,
) -> Result<Db, DbError> {
    let (open_err, migrate_err) = (&open_error(settings), migrate_error(settings));

    // The schema must exist before connections select it.
    let deadline = tokio::time::Instant::now() + settings.startup_timeout;
    let setup = loop {
        let attempt = AnyPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(settings.acquire_timeout)
            .connect(url)
            .await;
        match attempt {
            Ok(pool) => break pool,
            Err(err) if is_unavailable(&err) && tokio::time::Instant::now() < deadline => {
                tracing::warn!(database = %settings.target.describe(), error = %err, "database not reachable yet; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(err) => return Err(open_err(err)),
        }
    };
    let created = sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\""))
        .execute(&setup)
        .await;
    match created {
        // Two replicas starting together: the other one created it.
        Err(err) if !is_unique_violation(&err) => return Err(open_err(err)),
        _ => {}
    }
    setup.close().await;
    let options = session_options(schema, settings.statement_timeout);
    let in_schema = with_session_options(url, &options);
    let mut pipelined: tokio_postgres::Config = url.parse().map_err(|err| DbError::Open {
        target: settings.target.describe(),
        source: sqlx::Error::Configuration(Box::new(err)),
    })?;
    pipelined
        .options(options)
        .connect_timeout(settings.acquire_timeout);
    let pipe = pipe::Pipe::new(
        pipelined,
        settings.acquire_timeout,
        settings.statement_timeout,
    );
    let open: connections::Opener = Box::new(move || {
        let url = in_schema.clone();
        Box::pin(async move { AnyConnection::connect(&url).await })
    });
    let mut first = open().await.map_err(open_err)?;
    migrator.run(&mut first).await.map_err(migrate_err)?;
    // One set for reads and writes: the server orders the writes.
    let connections = Connections::opened_by(
        open,
        vec![first],
        settings.pool_size.max(1),
        settings.acquire_timeout,
        Beside::Pipe(Box::new(pipe)),
    );
    Ok(Db {
        writer: connections.clone(),
        reader: connections,
    })
}

/// A failure to open `settings`'s database, naming it.
fn open_error(settings: &DbSettings) -> impl Fn(sqlx::Error) -> DbError + '_ {
    move |source| DbError::Open {
        target: settings.target.describe(),
        source,
    }
}

/// A failure to migrate `settings`'s database, naming it.
fn migrate_error(settings: &DbSettings) -> impl Fn(sqlx::migrate::MigrateError) -> DbError + '_ {
    move |source| DbError::Migrate {
        target: settings.target.describe(),
        source,
    }
}

/// The server options of every session: `search_path` and
/// `statement_timeout`.
fn session_options(schema: &str, statement_timeout: Duration) -> String {
    format!(
        "-c search_path={schema} -c statement_timeout={}",
        statement_timeout.as_millis()
    )
}

/// `url` with the server `options` of every session.
fn with_session_options(url: &str, options: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut parsed) => {
            parsed.query_pairs_mut().append_pair("options", options);
            parsed.to_string()
        }
        Err(_) => url.to_owned(),
    }
}

/// True when `err` is a unique-constraint violation (a racing insert won).
pub fn is_unique_violation(err: &sqlx::Error) -> bool {
    err.as_database_error()
        .is_some_and(|db| db.is_unique_violation())
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
            // SQLite: BUSY (5), LOCKED (6), INTERRUPT (9: a read past the
            // statement timeout), IOERR (10), FULL (13) and their
            // extended codes. PostgreSQL: connection exceptions (08...),
            // transaction rollbacks such as deadlocks (40...), resources
            // (53...), operator intervention (57...), e.g. a statement timeout.
            let sqlite_primary = code.parse::<i64>().map(|c| c & 0xff).ok();
            matches!(sqlite_primary, Some(5 | 6 | 9 | 10 | 13))
                || ["08", "40", "53", "57"]
                    .iter()
                    .any(|class| code.starts_with(class))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::migrate::Migrator;

    static NONE: Migrator = Migrator::DEFAULT;

    /// A new database has pages of `PAGE_SIZE`, and the writer runs at the
    /// `SQLITE_SYNCHRONOUS` level (SQLite reports 1 for NORMAL, 2 for FULL).
    #[tokio::test]
    async fn a_new_sqlite_database_has_its_page_size_and_the_chosen_synchronous_level() {
        let dir = tempfile::tempdir().unwrap();
        for (synchronous, level) in [(Synchronous::Normal, 1i64), (Synchronous::Full, 2)] {
            let settings = DbSettings {
                target: DbTarget::Sqlite(dir.path().join(format!("{level}.db"))),
                pool_size: 1,
                acquire_timeout: Duration::from_secs(5),
                statement_timeout: Duration::from_secs(5),
                startup_timeout: Duration::from_secs(5),
                synchronous,
            };
            let migrations = Migrations {
                sqlite: &NONE,
                postgres: &NONE,
            };
            let db = Db::open(&settings, migrations).await.unwrap();
            let row = sqlx::query("PRAGMA synchronous")
                .fetch_one(&db.writer)
                .await
                .unwrap();
            let got: i64 = sqlx::Row::try_get(&row, 0).unwrap();
            assert_eq!(got, level, "{synchronous:?}");
            let row = sqlx::query("PRAGMA page_size")
                .fetch_one(&db.reader)
                .await
                .unwrap();
            let page_size: i64 = sqlx::Row::try_get(&row, 0).unwrap();
            assert_eq!(page_size, PAGE_SIZE);
            db.close().await;
        }
    }
}
