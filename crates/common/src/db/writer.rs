//! The one connection that writes.
//!
//! SQLite takes one write at a time whatever the number of connections, so
//! a service keeps one writing connection. It is held behind a fair mutex
//! rather than in a pool of one: a pool tests the connection with a round
//! trip to SQLite's thread each time it comes back, on a task of its own,
//! and every write of the service queued behind that. With the mutex a
//! write holds the connection only while its own statements run.
//!
//! On PostgreSQL writes go through the service's pool, as any query.
//!
//! `&Writer` is an [`Executor`]: each statement takes the connection for
//! itself. [`Writer::begin`] takes it for a transaction ([`WriteTx`]) and
//! gives it back when the transaction ends: committed, rolled back, or
//! dropped midway (a cancelled request), which rolls it back before the
//! connection's next statement, as sqlx's own transactions do.

use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};
use sqlx::any::{AnyQueryResult, AnyRow, AnyStatement, AnyTypeInfo};
use sqlx::pool::PoolConnection;
use sqlx::{
    Any, AnyConnection, AnyPool, Connection, Database, Describe, Either, Execute, Executor,
    TransactionManager,
};
use tokio::sync::{Mutex, OwnedMappedMutexGuard, OwnedMutexGuard};

type Transactions = <Any as Database>::TransactionManager;

/// Where a service's writes go.
#[derive(Debug, Clone)]
pub enum Writer {
    /// SQLite: the one writing connection (`None` once closed).
    Sqlite {
        connection: Arc<Mutex<Option<AnyConnection>>>,
        /// How long a write waits for the connection before it is refused
        /// as unavailable (a 503), like a pool's acquire timeout.
        acquire_timeout: Duration,
    },
    /// PostgreSQL: the service's pool.
    Pool(AnyPool),
}

/// The writing connection, held until dropped.
enum WriteConnection {
    Sqlite(OwnedMappedMutexGuard<Option<AnyConnection>, AnyConnection>),
    Pool(PoolConnection<Any>),
}

impl Writer {
    pub(crate) fn sqlite(connection: AnyConnection, acquire_timeout: Duration) -> Writer {
        Writer::Sqlite {
            connection: Arc::new(Mutex::new(Some(connection))),
            acquire_timeout,
        }
    }

    /// Begins a transaction, once the writes ahead are done (refused as
    /// unavailable after the acquire timeout).
    pub async fn begin(&self) -> Result<WriteTx, sqlx::Error> {
        let mut connection = self.acquire().await?;
        Transactions::begin(&mut connection, None).await?;
        Ok(WriteTx {
            connection,
            open: true,
        })
    }

    /// Takes the writing connection, waiting for the writes ahead (at most
    /// the acquire timeout: then `PoolTimedOut`; `PoolClosed` once closed).
    async fn acquire(&self) -> Result<WriteConnection, sqlx::Error> {
        match self {
            Writer::Sqlite {
                connection,
                acquire_timeout,
            } => {
                let guard = tokio::time::timeout(*acquire_timeout, connection.clone().lock_owned())
                    .await
                    .map_err(|_| sqlx::Error::PoolTimedOut)?;
                let held = OwnedMutexGuard::try_map(guard, Option::as_mut)
                    .map_err(|_| sqlx::Error::PoolClosed)?;
                Ok(WriteConnection::Sqlite(held))
            }
            Writer::Pool(pool) => Ok(WriteConnection::Pool(pool.acquire().await?)),
        }
    }

    /// Closes the connection (SQLite) or the pool, after the write under way.
    pub async fn close(&self) {
        match self {
            Writer::Sqlite { connection, .. } => {
                if let Some(conn) = connection.lock().await.take() {
                    let _ = conn.close().await;
                }
            }
            Writer::Pool(pool) => pool.close().await,
        }
    }
}

/// A transaction on the writing connection, which it holds until it ends.
/// `&mut *tx` runs statements in it.
pub struct WriteTx {
    connection: WriteConnection,
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

impl std::fmt::Debug for WriteConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WriteConnection")
    }
}

impl Deref for WriteConnection {
    type Target = AnyConnection;

    fn deref(&self) -> &AnyConnection {
        match self {
            WriteConnection::Sqlite(conn) => conn,
            WriteConnection::Pool(conn) => conn,
        }
    }
}

impl DerefMut for WriteConnection {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        match self {
            WriteConnection::Sqlite(conn) => conn,
            WriteConnection::Pool(conn) => conn,
        }
    }
}

/// Each statement takes the writing connection for itself, as `&AnyPool`
/// takes a connection of the pool.
impl<'w> Executor<'w> for &'_ Writer {
    type Database = Any;

    fn fetch_many<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxStream<'e, Result<Either<AnyQueryResult, AnyRow>, sqlx::Error>>
    where
        E: 'q + Execute<'q, Any>,
    {
        let writer = self.clone();
        // The rows are read to the end while the connection is held, so a
        // caller that stops early leaves no statement open on it.
        stream::once(async move {
            let mut conn = writer.acquire().await?;
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
        let writer = self.clone();
        Box::pin(async move { writer.acquire().await?.fetch_optional(query).await })
    }

    fn prepare_with<'e, 'q: 'e>(
        self,
        sql: &'q str,
        parameters: &'e [AnyTypeInfo],
    ) -> BoxFuture<'e, Result<AnyStatement<'q>, sqlx::Error>> {
        let writer = self.clone();
        Box::pin(async move { writer.acquire().await?.prepare_with(sql, parameters).await })
    }

    fn describe<'e, 'q: 'e>(
        self,
        sql: &'q str,
    ) -> BoxFuture<'e, Result<Describe<Any>, sqlx::Error>> {
        let writer = self.clone();
        Box::pin(async move { writer.acquire().await?.describe(sql).await })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::{Db, DbSettings, DbTarget, Migrations, Synchronous};
    use sqlx::migrate::Migrator;
    use sqlx::Row;

    static NONE: Migrator = Migrator::DEFAULT;

    async fn open(dir: &tempfile::TempDir, acquire_timeout: Duration) -> Db {
        let settings = DbSettings {
            target: DbTarget::Sqlite(dir.path().join("w.db")),
            pool_size: 2,
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
        let db = open(&dir, Duration::from_secs(5)).await;
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
        let db = open(&dir, Duration::from_secs(5)).await;
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
        let db = open(&dir, Duration::from_millis(200)).await;
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
}
