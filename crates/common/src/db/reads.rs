//! SQLite's reads, run by the task that asks for them.
//!
//! sqlx gives each SQLite connection a thread of its own: a read was a
//! message to that thread and a wake-up of the task back, two thread
//! switches for the 10–50 µs of SQLite's own work of a read on the hot
//! paths (a key's answer, an order, a cart's lines). Here a read runs on
//! the asking task's thread, on a read-only rusqlite connection to the
//! same file, its statement kept prepared (docs/performance.md, finding 27).
//!
//! A read that runs long would hold a tokio worker, and with it every
//! request waiting behind it: one that runs past [`INLINE`] is stopped
//! (SQLite's progress handler), and it runs again, with every later run of
//! the same statement, on tokio's threads for blocking work. There a read
//! may run up to the statement timeout (`DB_STATEMENT_TIMEOUT_MS`), then it
//! is stopped and refused as unavailable, as PostgreSQL's statement
//! timeout refuses one. Reads are taken in turn either way: as many at once
//! as the set's permits, each waiting at most the acquire timeout.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use sqlx::any::AnyRow;
use sqlx_core::any::AnyValueKind;
use tokio::sync::OwnedSemaphorePermit;

use super::lite::{self, refusal};

/// How long a read may run on the asking task's thread.
pub(super) const INLINE: Duration = Duration::from_millis(2);

/// How many statements are remembered as long.
const LONG_KEPT: usize = 256;

/// SQLite's virtual machine steps between two looks at the clock.
const STEPS: i32 = 1_000;

/// SQLite's read-only connections of a set, and what its statements were
/// seen to cost.
pub(super) struct Readers {
    path: PathBuf,
    statement_timeout: Duration,
    idle: Mutex<Vec<Reader>>,
    /// Statements seen to run longer than [`INLINE`].
    long: Mutex<HashSet<String>>,
}

/// A read-only connection, stopped by its progress handler once the time
/// set for its statement has passed.
struct Reader {
    connection: rusqlite::Connection,
    /// When the running statement must stop: microseconds since [`EPOCH`].
    deadline: Arc<AtomicU64>,
}

static EPOCH: LazyLock<Instant> = LazyLock::new(Instant::now);

fn micros_since_epoch(at: Instant) -> u64 {
    u64::try_from(at.saturating_duration_since(*EPOCH).as_micros()).unwrap_or(u64::MAX)
}

/// A read's values, its own (for a thread of its own).
type Values = Vec<AnyValueKind<'static>>;

/// How a read ended.
enum Outcome {
    Rows(Vec<AnyRow>),
    Failed(sqlx::Error),
    /// Stopped for time.
    Stopped,
}

impl Readers {
    pub(super) fn new(path: PathBuf, statement_timeout: Duration) -> Readers {
        Readers {
            path,
            statement_timeout,
            idle: Mutex::new(Vec::new()),
            long: Mutex::new(HashSet::new()),
        }
    }

    /// Whether `sql` was seen to run longer than [`INLINE`].
    pub(super) fn is_long(&self, sql: &str) -> bool {
        lock(&self.long).contains(sql)
    }

    /// Runs the read `sql` with `values` here, unless it runs past
    /// [`INLINE`]: then `None`, and the statement is remembered as long.
    pub(super) fn read_here(
        &self,
        sql: &str,
        values: &[AnyValueKind<'_>],
    ) -> Option<Result<Vec<AnyRow>, sqlx::Error>> {
        match self.read(sql, values, INLINE.min(self.statement_timeout)) {
            Outcome::Rows(rows) => Some(Ok(rows)),
            Outcome::Failed(err) => Some(Err(err)),
            Outcome::Stopped => {
                let mut long = lock(&self.long);
                if long.len() < LONG_KEPT {
                    long.insert(sql.to_owned());
                }
                None
            }
        }
    }

    /// Runs the read `sql` with `values` on a thread for blocking work, up
    /// to the statement timeout, holding its `turn` until it ends (also
    /// when the caller stops waiting).
    pub(super) async fn read_apart(
        self: Arc<Self>,
        sql: String,
        values: Values,
        turn: OwnedSemaphorePermit,
    ) -> Result<Vec<AnyRow>, sqlx::Error> {
        let run = tokio::task::spawn_blocking(move || {
            let _turn = turn;
            match self.read(&sql, &values, self.statement_timeout) {
                Outcome::Rows(rows) => Ok(rows),
                Outcome::Failed(err) => Err(err),
                Outcome::Stopped => Err(refusal(rusqlite::Error::SqliteFailure(
                    rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_INTERRUPT),
                    Some(format!(
                        "the read ran longer than the statement timeout ({:?})",
                        self.statement_timeout
                    )),
                ))),
            }
        });
        run.await
            .map_err(|err| sqlx::Error::Io(std::io::Error::other(err)))?
    }

    /// Runs `sql` with `values` on an idle reader (or a new one), stopped
    /// once `allowed` has passed.
    fn read(&self, sql: &str, values: &[AnyValueKind<'_>], allowed: Duration) -> Outcome {
        let reader = match lock(&self.idle).pop() {
            Some(reader) => reader,
            None => match self.open() {
                Ok(reader) => reader,
                Err(err) => return Outcome::Failed(refusal(err)),
            },
        };
        reader.deadline.store(
            micros_since_epoch(Instant::now() + allowed),
            Ordering::Relaxed,
        );
        let mut rows = Vec::new();
        let value = |n: usize| values.get(n.wrapping_sub(1)).map(lite::any_value);
        let ran = lite::run(&reader.connection, sql, value, &mut rows);
        let outcome = match ran {
            Ok(()) => Outcome::Rows(rows),
            Err(err) if interrupted(&err) => Outcome::Stopped,
            Err(err) => Outcome::Failed(err),
        };
        lock(&self.idle).push(reader);
        outcome
    }

    /// A new read-only connection to the file.
    fn open(&self) -> rusqlite::Result<Reader> {
        let flags =
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let connection = rusqlite::Connection::open_with_flags(&self.path, flags)?;
        connection.execute_batch("PRAGMA busy_timeout = 5000;")?;
        connection.set_prepared_statement_cache_capacity(128);
        let deadline = Arc::new(AtomicU64::new(u64::MAX));
        let until = deadline.clone();
        connection.progress_handler(
            STEPS,
            Some(move || micros_since_epoch(Instant::now()) > until.load(Ordering::Relaxed)),
        );
        Ok(Reader {
            connection,
            deadline,
        })
    }

    /// Closes every idle reader.
    pub(super) fn close(&self) {
        lock(&self.idle).clear();
    }
}

/// `values` made the read's own.
pub(super) fn owned(values: Vec<AnyValueKind<'_>>) -> Values {
    values
        .into_iter()
        .map(|value| match value {
            AnyValueKind::Text(text) => AnyValueKind::Text(text.into_owned().into()),
            AnyValueKind::Blob(blob) => AnyValueKind::Blob(blob.into_owned().into()),
            AnyValueKind::Null(kind) => AnyValueKind::Null(kind),
            AnyValueKind::Bool(v) => AnyValueKind::Bool(v),
            AnyValueKind::SmallInt(v) => AnyValueKind::SmallInt(v),
            AnyValueKind::Integer(v) => AnyValueKind::Integer(v),
            AnyValueKind::BigInt(v) => AnyValueKind::BigInt(v),
            AnyValueKind::Real(v) => AnyValueKind::Real(v),
            AnyValueKind::Double(v) => AnyValueKind::Double(v),
            _ => AnyValueKind::Null(sqlx::any::AnyTypeInfoKind::Null),
        })
        .collect()
}

/// Whether SQLite interrupted the statement: here only the progress
/// handler does, once the statement's time has passed.
fn interrupted(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db)
        if db.code().and_then(|code| code.parse().ok()) == Some(rusqlite::ffi::SQLITE_INTERRUPT))
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl std::fmt::Debug for Readers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Readers")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}
