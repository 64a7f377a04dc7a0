//! A service's SQLite connections, handed out without sqlx's pool.
//!
//! SQLite takes one write at a time whatever the number of connections, so
//! a service keeps one writing connection, and a few read-only ones that
//! read beside it. Each set is held here rather than in an sqlx pool: a
//! pool tests a connection with a round trip to SQLite's thread each time
//! it comes back, on a task of its own, and with one writing connection
//! every write of the service queued behind that. Here a connection is
//! taken only while its statements run, and given back the moment they
//! end. Waiting is fair (first come, first served), and bounded by the
//! acquire timeout.
//!
//! On PostgreSQL both sets are the service's pool, as any query.
//!
//! `&Connections` is an [`Executor`]: each statement takes a connection for
//! itself. [`Connections::begin`] takes one for a transaction ([`WriteTx`])
//! and gives it back when the transaction ends: committed, rolled back, or
//! dropped midway (a cancelled request), which rolls it back before the
//! connection's next statement, as sqlx's own transactions do. A read
//! dropped midway leaves nothing open either: SQLite's thread resets the
//! statement as soon as nobody takes its rows.

use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};
use sqlx::any::{AnyQueryResult, AnyRow, AnyStatement, AnyTypeInfo};
use sqlx::pool::PoolConnection;
use sqlx::{
    Any, AnyConnection, AnyPool, Connection, Database, Describe, Either, Execute, Executor,
    TransactionManager,
};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

type Transactions = <Any as Database>::TransactionManager;

/// A set of connections to one database.
#[derive(Debug, Clone)]
pub enum Connections {
    /// SQLite: connections of this process's own.
    Sqlite(Arc<Slots>),
    /// PostgreSQL: the service's pool.
    Pool(AnyPool),
}

/// SQLite connections, at most `size` of them, opened as needed.
pub struct Slots {
    /// One permit per connection that may be in use; closed on close.
    permits: Arc<Semaphore>,
    size: u32,
    idle: Mutex<Vec<AnyConnection>>,
    /// How another connection is opened (`None`: the set is only those
    /// given at the start).
    opener: Option<Opener>,
    /// How long a statement waits for a connection before it is refused
    /// as unavailable (a 503), like a pool's acquire timeout.
    acquire_timeout: Duration,
}

/// Opens one more connection of a set.
pub type Opener =
    Box<dyn Fn() -> BoxFuture<'static, Result<AnyConnection, sqlx::Error>> + Send + Sync>;

impl std::fmt::Debug for Slots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slots")
            .field("size", &self.size)
            .field("acquire_timeout", &self.acquire_timeout)
            .finish_non_exhaustive()
    }
}

/// A connection taken from a set, given back when dropped.
enum Held {
    Sqlite {
        connection: Option<AnyConnection>,
        slots: Arc<Slots>,
        _permit: OwnedSemaphorePermit,
    },
    Pool(PoolConnection<Any>),
}

impl Drop for Held {
    fn drop(&mut self) {
        if let Held::Sqlite {
            connection, slots, ..
        } = self
        {
            // Back among the idle ones before the permit goes.
            if let Some(connection) = connection.take() {
                slots.idle().push(connection);
            }
        }
    }
}

impl Slots {
    fn idle(&self) -> std::sync::MutexGuard<'_, Vec<AnyConnection>> {
        self.idle.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Connections {
    /// One SQLite connection (the writer).
    pub(crate) fn one(connection: AnyConnection, acquire_timeout: Duration) -> Connections {
        Connections::Sqlite(Arc::new(Slots {
            permits: Arc::new(Semaphore::new(1)),
            size: 1,
            idle: Mutex::new(vec![connection]),
            opener: None,
            acquire_timeout,
        }))
    }

    /// Up to `size` SQLite connections, each opened by `opener` when first
    /// needed (the readers).
    pub(crate) fn opened_by(opener: Opener, size: u32, acquire_timeout: Duration) -> Connections {
        Connections::Sqlite(Arc::new(Slots {
            permits: Arc::new(Semaphore::new(size as usize)),
            size,
            idle: Mutex::new(Vec::new()),
            opener: Some(opener),
            acquire_timeout,
        }))
    }

    /// The PostgreSQL pool behind these connections, if that is what they are.
    pub fn pool(&self) -> Option<&AnyPool> {
        match self {
            Connections::Pool(pool) => Some(pool),
            Connections::Sqlite(_) => None,
        }
    }

    /// Begins a transaction, once a connection is free (refused as
    /// unavailable after the acquire timeout).
    pub async fn begin(&self) -> Result<WriteTx, sqlx::Error> {
        let mut connection = self.acquire().await?;
        Transactions::begin(&mut connection, None).await?;
        Ok(WriteTx {
            connection,
            open: true,
        })
    }

    /// Takes a connection, waiting for one to be free (at most the acquire
    /// timeout: then `PoolTimedOut`; `PoolClosed` once closed).
    async fn acquire(&self) -> Result<Held, sqlx::Error> {
        let slots = match self {
            Connections::Pool(pool) => return Ok(Held::Pool(pool.acquire().await?)),
            Connections::Sqlite(slots) => slots,
        };
        let permit =
            tokio::time::timeout(slots.acquire_timeout, slots.permits.clone().acquire_owned())
                .await
                .map_err(|_| sqlx::Error::PoolTimedOut)?
                .map_err(|_| sqlx::Error::PoolClosed)?;
        let idle = slots.idle().pop();
        let connection = match (idle, &slots.opener) {
            (Some(connection), _) => connection,
            (None, Some(open)) => open().await?,
            // Every connection of a fixed set is idle while a permit is free.
            (None, None) => return Err(sqlx::Error::PoolClosed),
        };
        Ok(Held::Sqlite {
            connection: Some(connection),
            slots: slots.clone(),
            _permit: permit,
        })
    }

    /// Closes the connections (SQLite, once the statements under way are
    /// done) or the pool.
    pub async fn close(&self) {
        match self {
            Connections::Sqlite(slots) => {
                // Every permit taken: nothing is in use any more.
                let all = slots.permits.acquire_many(slots.size).await;
                slots.permits.close();
                drop(all);
                let idle: Vec<_> = slots.idle().drain(..).collect();
                for connection in idle {
                    let _ = connection.close().await;
                }
            }
            Connections::Pool(pool) => pool.close().await,
        }
    }
}

/// A transaction on a connection, which it holds until it ends.
/// `&mut *tx` runs statements in it.
pub struct WriteTx {
    connection: Held,
    open: bool,
}

impl WriteTx {
    pub async fn commit(mut self) -> Result<(), sqlx::Error> {
        Transactions::commit(&mut self.connection).await?;
        self.open = false;
        Ok(())
    }

    pub async fn rollback(mut self) -> Result<(), sqlx::Error> {
        Transactions::rollback(&mut self.connection).await?;
        self.open = false;
        Ok(())
    }
}

impl Drop for WriteTx {
    fn drop(&mut self) {
        if self.open {
            // Queued on the connection ahead of whatever it runs next.
            Transactions::start_rollback(&mut self.connection);
        }
    }
}

impl Deref for WriteTx {
    type Target = AnyConnection;

    fn deref(&self) -> &AnyConnection {
        &self.connection
    }
}

impl DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        &mut self.connection
    }
}

impl std::fmt::Debug for WriteTx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriteTx").field("open", &self.open).finish()
    }
}

impl std::fmt::Debug for Held {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Held")
    }
}

impl Deref for Held {
    type Target = AnyConnection;

    fn deref(&self) -> &AnyConnection {
        match self {
            Held::Sqlite { connection, .. } => connection.as_ref().expect("held until dropped"),
            Held::Pool(conn) => conn,
        }
    }
}

impl DerefMut for Held {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        match self {
            Held::Sqlite { connection, .. } => connection.as_mut().expect("held until dropped"),
            Held::Pool(conn) => conn,
        }
    }
}

/// Each statement takes a connection for itself, as `&AnyPool` takes a
/// connection of the pool.
impl<'w> Executor<'w> for &'_ Connections {
    type Database = Any;

    fn fetch_many<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxStream<'e, Result<Either<AnyQueryResult, AnyRow>, sqlx::Error>>
    where
        E: 'q + Execute<'q, Any>,
    {
        let connections = self.clone();
        // The rows are read to the end while the connection is held, so a
        // caller that stops early leaves no statement open on it.
        stream::once(async move {
            let mut conn = connections.acquire().await?;
            let results: Vec<_> = conn.fetch_many(query).collect().await;
            Ok::<_, sqlx::Error>(stream::iter(results))
        })
        .try_flatten()
        .boxed()
    }

    fn fetch_optional<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxFuture<'e, Result<Option<AnyRow>, sqlx::Error>>
    where
        E: 'q + Execute<'q, Any>,
    {
        let connections = self.clone();
        Box::pin(async move { connections.acquire().await?.fetch_optional(query).await })
    }

    fn prepare_with<'e, 'q: 'e>(
        self,
        sql: &'q str,
        parameters: &'e [AnyTypeInfo],
    ) -> BoxFuture<'e, Result<AnyStatement<'q>, sqlx::Error>> {
        let connections = self.clone();
        Box::pin(async move {
            connections
                .acquire()
                .await?
                .prepare_with(sql, parameters)
                .await
        })
    }

    fn describe<'e, 'q: 'e>(
        self,
        sql: &'q str,
    ) -> BoxFuture<'e, Result<Describe<Any>, sqlx::Error>> {
        let connections = self.clone();
        Box::pin(async move { connections.acquire().await?.describe(sql).await })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::{Db, DbSettings, DbTarget, Migrations, Synchronous};
    use sqlx::migrate::Migrator;
    use sqlx::Row;

    static NONE: Migrator = Migrator::DEFAULT;

    /// A fresh database with `pool_size` readers and an empty table `n`.
    async fn open(dir: &tempfile::TempDir, pool_size: u32, acquire_timeout: Duration) -> Db {
        let settings = DbSettings {
            target: DbTarget::Sqlite(dir.path().join("w.db")),
            pool_size,
            acquire_timeout,
            statement_timeout: Duration::from_secs(5),
            startup_timeout: Duration::from_secs(5),
            synchronous: Synchronous::Normal,
        };
        let migrations = Migrations {
            sqlite: &NONE,
            postgres: &NONE,
        };
        let db = Db::open(&settings, migrations).await.unwrap();
        sqlx::query("CREATE TABLE n (v INTEGER NOT NULL)")
            .execute(&db.writer)
            .await
            .unwrap();
        db
    }

    async fn count(db: &Db) -> i64 {
        sqlx::query("SELECT COUNT(*) AS n FROM n")
            .fetch_one(&db.reader)
            .await
            .unwrap()
            .get("n")
    }

    /// Statements and transactions from many tasks at once all land, one
    /// at a time, and readers see each once committed.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_writes_all_land() {
        let dir = tempfile::tempdir().unwrap();
        let db = open(&dir, 2, Duration::from_secs(5)).await;
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..50i64 {
            let db = db.clone();
            tasks.spawn(async move {
                if i % 2 == 0 {
                    sqlx::query("INSERT INTO n (v) VALUES ($1)")
                        .bind(i)
                        .execute(&db.writer)
                        .await
                } else {
                    let mut tx = db.writer.begin().await?;
                    let done = sqlx::query("INSERT INTO n (v) VALUES ($1)")
                        .bind(i)
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    Ok(done)
                }
            });
        }
        while let Some(joined) = tasks.join_next().await {
            joined.unwrap().unwrap();
        }
        assert_eq!(count(&db).await, 50);
        let rows = sqlx::query("SELECT v FROM n ORDER BY v")
            .fetch_all(&db.writer)
            .await
            .unwrap();
        assert_eq!(rows.len(), 50);
    }

    /// A transaction abandoned midway (its request cancelled) is rolled
    /// back, and the next write finds the connection ready.
    #[tokio::test]
    async fn an_abandoned_transaction_is_rolled_back() {
        let dir = tempfile::tempdir().unwrap();
        let db = open(&dir, 2, Duration::from_secs(5)).await;
        {
            let mut tx = db.writer.begin().await.unwrap();
            sqlx::query("INSERT INTO n (v) VALUES (1)")
                .execute(&mut *tx)
                .await
                .unwrap();
            // Dropped without commit or rollback.
        }
        sqlx::query("INSERT INTO n (v) VALUES (2)")
            .execute(&db.writer)
            .await
            .unwrap();
        let values: Vec<i64> = sqlx::query("SELECT v FROM n")
            .fetch_all(&db.reader)
            .await
            .unwrap()
            .iter()
            .map(|row| row.get("v"))
            .collect();
        assert_eq!(values, vec![2]);
    }

    /// A write that cannot have the connection within the acquire timeout
    /// is refused as unavailable (a 503), not left waiting; once closed,
    /// the writer refuses at once.
    #[tokio::test]
    async fn a_write_waits_at_most_the_acquire_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let db = open(&dir, 2, Duration::from_millis(200)).await;
        let held = db.writer.acquire().await.unwrap();
        let refused = sqlx::query("INSERT INTO n (v) VALUES (1)")
            .execute(&db.writer)
            .await
            .unwrap_err();
        assert!(matches!(refused, sqlx::Error::PoolTimedOut), "{refused:?}");
        assert!(crate::db::is_unavailable(&refused));
        drop(held);
        sqlx::query("INSERT INTO n (v) VALUES (1)")
            .execute(&db.writer)
            .await
            .unwrap();
        db.close().await;
        let closed = db.writer.acquire().await.unwrap_err();
        assert!(matches!(closed, sqlx::Error::PoolClosed), "{closed:?}");
    }

    /// At most `DB_POOL_SIZE` reads at once: one more waits, and is refused
    /// as unavailable after the acquire timeout; a reader given back
    /// serves the next read.
    #[tokio::test]
    async fn reads_are_bounded_by_the_pool_size() {
        let dir = tempfile::tempdir().unwrap();
        let db = open(&dir, 2, Duration::from_millis(200)).await;
        let first = db.reader.acquire().await.unwrap();
        let second = db.reader.acquire().await.unwrap();
        let refused = sqlx::query("SELECT 1")
            .execute(&db.reader)
            .await
            .unwrap_err();
        assert!(matches!(refused, sqlx::Error::PoolTimedOut), "{refused:?}");
        drop(first);
        assert_eq!(count(&db).await, 0);
        drop(second);
        let Connections::Sqlite(slots) = &db.reader else {
            panic!("SQLite readers");
        };
        assert_eq!(slots.idle().len(), 2, "both readers kept, none lost");
        db.close().await;
        let closed = sqlx::query("SELECT 1")
            .execute(&db.reader)
            .await
            .unwrap_err();
        assert!(matches!(closed, sqlx::Error::PoolClosed), "{closed:?}");
    }

    /// A reader sees every commit made before its read starts, also after
    /// a read on it was abandoned midway (its request cancelled).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn readers_see_each_commit_after_an_abandoned_read() {
        let dir = tempfile::tempdir().unwrap();
        let db = open(&dir, 1, Duration::from_secs(5)).await;
        for round in 1..=20i64 {
            // A long read on the one reader, abandoned after it started.
            let reader = db.reader.clone();
            let long = tokio::spawn(async move {
                sqlx::query(
                    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 200000) \
                     SELECT x, (SELECT COUNT(*) FROM n) AS seen FROM c",
                )
                .fetch_all(&reader)
                .await
            });
            tokio::task::yield_now().await;
            long.abort();
            sqlx::query("INSERT INTO n (v) VALUES ($1)")
                .bind(round)
                .execute(&db.writer)
                .await
                .unwrap();
            assert_eq!(count(&db).await, round, "round {round}");
        }
    }
}
