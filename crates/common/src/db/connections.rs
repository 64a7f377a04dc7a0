//! A service's database connections, handed out without sqlx's pool.
//!
//! A set of connections is held here rather than in an sqlx pool: a pool
//! tests a connection with a round trip to the database each time it
//! comes back, on a task of its own, and (by default) again each time it
//! is handed out. With one writing SQLite connection every write of the
//! service queued behind those tests; on PostgreSQL each statement cost
//! three round trips and three wake-ups of a server process instead of
//! one. Here a connection is taken only while its statements run, and
//! given back the moment they end. Waiting is fair (first come, first
//! served), and bounded by the acquire timeout.
//!
//! SQLite takes one write at a time whatever the number of connections, so
//! a service keeps one writing connection, and a few read-only ones that
//! read beside it. On PostgreSQL one set serves both, up to `DB_POOL_SIZE`
//! connections, each opened when first needed. A PostgreSQL connection is
//! checked (a ping, as sqlx's pool checks every one) only when there is a
//! reason: it was left midway (a cancelled request, a transaction dropped
//! open) or a statement on it failed for a reason other than the statement
//! itself, or it sat idle longer than [`STALE`]. One that fails the check
//! is closed, and another is opened in its place when needed: the set
//! heals after the server restarts.
//!
//! `&Connections` is an [`Executor`]: each statement takes a connection for
//! itself. [`Connections::begin`] takes one for a transaction ([`WriteTx`])
//! and gives it back when the transaction ends: committed, rolled back, or
//! dropped midway (a cancelled request), which rolls it back before the
//! connection's next statement, as sqlx's own transactions do. A read
//! dropped midway leaves nothing open either: SQLite's reads run on
//! read-only connections beside sqlx's (`super::reads`), each to its end
//! before its turn is given back, and a PostgreSQL connection reads the
//! rest of the answer away before its next statement.

use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};
use sqlx::any::{AnyQueryResult, AnyRow, AnyStatement, AnyTypeInfo};
use sqlx::{
    Any, AnyConnection, Connection, Database, Describe, Either, Execute, Executor,
    TransactionManager,
};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tracing::{Instrument, Span};

use super::pipe::Pipe;
use super::queue::Queue;
use super::reads::{self, Readers};
use crate::paging::{self, Arg};
use crate::traces;

type Transactions = <Any as Database>::TransactionManager;

/// How long a PostgreSQL connection may sit idle before it is checked
/// again before use (the server or a proxy may have closed it meanwhile).
pub const STALE: Duration = Duration::from_secs(5);

/// A set of connections to one database.
#[derive(Debug, Clone)]
pub struct Connections(pub(super) Arc<Slots>);

/// The connections of a set, at most `size` of them, opened as needed.
pub struct Slots {
    /// One permit per connection that may be in use; closed on close.
    permits: Arc<Semaphore>,
    size: u32,
    idle: Mutex<Vec<Idle>>,
    /// How another connection is opened (`None`: the set is only those
    /// given at the start).
    opener: Option<Opener>,
    /// How long a statement waits for a connection before it is refused
    /// as unavailable (a 503), like a pool's acquire timeout.
    acquire_timeout: Duration,
    /// PostgreSQL: connections over the network, checked when in doubt.
    postgres: bool,
    /// A SQLite writer's: where its one-message transactions wait for
    /// their turn.
    queue: Option<Queue>,
    /// PostgreSQL's: the connection its one-message transactions are
    /// pipelined over.
    pipe: Option<Pipe>,
    /// SQLite's readers': the connections its reads run on, in the
    /// asking task's thread.
    readers: Option<Arc<Readers>>,
    /// Statements and transactions waiting for a connection now.
    waiting: AtomicUsize,
}

/// One request counted among those waiting for a connection, until dropped.
struct Waiting<'a>(&'a AtomicUsize);

impl<'a> Waiting<'a> {
    fn on(count: &'a AtomicUsize) -> Waiting<'a> {
        count.fetch_add(1, Ordering::Relaxed);
        Waiting(count)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// What [`Connections::usage`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    pub in_use: usize,
    pub waiting: usize,
    pub max: usize,
}

/// A connection not in use, and since when.
struct Idle {
    connection: AnyConnection,
    since: Instant,
}

/// Opens one more connection of a set.
pub type Opener =
    Box<dyn Fn() -> BoxFuture<'static, Result<AnyConnection, sqlx::Error>> + Send + Sync>;

impl std::fmt::Debug for Slots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slots")
            .field("size", &self.size)
            .field("acquire_timeout", &self.acquire_timeout)
            .field("postgres", &self.postgres)
            .finish_non_exhaustive()
    }
}

/// A connection taken from a set, given back when dropped.
pub(super) struct Held {
    connection: Option<AnyConnection>,
    slots: Arc<Slots>,
    permit: Option<OwnedSemaphorePermit>,
    /// What was asked of it has ended, with nothing left midway and no
    /// failure that may be the connection's own.
    pub(super) sound: bool,
    /// A SQLite transaction a [`Batch`] began is still open: it is rolled
    /// back before the connection serves anyone else.
    pub(super) rollback_first: bool,
}

impl Drop for Held {
    fn drop(&mut self) {
        let Some(connection) = self.connection.take() else {
            return;
        };
        let rollback = self.rollback_first;
        if !rollback && (self.sound || !self.slots.postgres) {
            // Back among the idle ones before the permit goes.
            self.slots.put_back(connection);
            return;
        }
        // Checked (PostgreSQL, which also sends the rollback of a
        // transaction dropped open) or rolled back (SQLite) before another
        // statement may take it, its permit held until then. Without a
        // runtime it is simply closed.
        let (slots, permit) = (self.slots.clone(), self.permit.take());
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let connection = if rollback {
                    Some(rolled_back(connection).await)
                } else {
                    checked(connection, slots.acquire_timeout).await
                };
                if let Some(connection) = connection {
                    slots.put_back(connection);
                }
                drop(permit);
            });
        }
    }
}

/// `connection` (SQLite) with no transaction open: one a batch left open
/// is rolled back. SQLite refuses a `ROLLBACK` only when nothing is open.
async fn rolled_back(mut connection: AnyConnection) -> AnyConnection {
    if let Err(err) = connection.execute("ROLLBACK").await {
        tracing::debug!(error = %err, "nothing to roll back");
    }
    connection
}

/// `connection` if it answers a ping within `timeout`; else it is closed.
async fn checked(mut connection: AnyConnection, timeout: Duration) -> Option<AnyConnection> {
    match tokio::time::timeout(timeout, connection.ping()).await {
        Ok(Ok(())) => Some(connection),
        outcome => {
            tracing::warn!(
                error = ?outcome.map(|result| result.err()),
                "a database connection failed its check; closing it"
            );
            None
        }
    }
}

/// Whether a statement's failure says nothing against its connection:
/// the statement itself was refused, or its rows did not fit. A refusal
/// that means "try again" may be the session's end (PostgreSQL sends
/// `57P01` as it terminates one), so it does not count.
fn statement_only(err: &sqlx::Error) -> bool {
    let own = matches!(
        err,
        sqlx::Error::Database(_)
            | sqlx::Error::RowNotFound
            | sqlx::Error::ColumnNotFound(_)
            | sqlx::Error::ColumnIndexOutOfBounds { .. }
            | sqlx::Error::ColumnDecode { .. }
            | sqlx::Error::Decode(_)
            | sqlx::Error::Encode(_)
            | sqlx::Error::TypeNotFound { .. }
    );
    own && !super::is_unavailable(err)
}

impl Held {
    /// Marks how the work on it ended: with `failure`, or without one.
    fn ended(&mut self, failure: Option<&sqlx::Error>) {
        self.sound = failure.is_none_or(statement_only);
    }
}

impl Slots {
    fn idle(&self) -> std::sync::MutexGuard<'_, Vec<Idle>> {
        self.idle.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `connection` idle from now on.
    fn put_back(&self, connection: AnyConnection) {
        self.idle().push(Idle {
            connection,
            since: Instant::now(),
        });
    }
}

/// What a set runs beside its sqlx connections.
pub(super) enum Beside {
    /// A SQLite writer's one-message transactions, queued for a thread
    /// that runs them on this connection.
    Queue(rusqlite::Connection),
    /// SQLite's reads, on these read-only connections.
    Readers(Readers),
    /// PostgreSQL's one-message transactions, pipelined.
    Pipe(Box<Pipe>),
}

impl Connections {
    /// A set of at most `size`, beginning with the connections `opened`.
    fn new(
        opened: Vec<AnyConnection>,
        opener: Option<Opener>,
        size: u32,
        acquire_timeout: Duration,
        beside: Beside,
    ) -> Connections {
        let (mut queued, mut readers, mut pipe) = (None, None, None);
        match beside {
            Beside::Queue(writer) => queued = Some(writer),
            Beside::Readers(set) => readers = Some(Arc::new(set)),
            Beside::Pipe(set) => pipe = Some(*set),
        }
        // PostgreSQL's sets are those with a pipe.
        let postgres = pipe.is_some();
        Connections(Arc::new_cyclic(|me| {
            let queue = queued.and_then(|writer| Queue::start(me.clone(), writer));
            let slots = Slots {
                permits: Arc::new(Semaphore::new(size as usize)),
                size,
                idle: Mutex::new(Vec::with_capacity(size as usize)),
                opener,
                acquire_timeout,
                postgres,
                queue,
                pipe,
                readers,
                waiting: AtomicUsize::new(0),
            };
            for connection in opened {
                slots.put_back(connection);
            }
            slots
        }))
    }

    /// One SQLite connection (the writer), whose one-message transactions
    /// are queued for a thread of their own, which runs them on `queued`, a
    /// connection of its own to the same file, in the writer's turns
    /// ([`Connections::commit`]).
    pub(crate) fn one(
        connection: AnyConnection,
        queued: rusqlite::Connection,
        acquire_timeout: Duration,
    ) -> Connections {
        Connections::new(
            vec![connection],
            None,
            1,
            acquire_timeout,
            Beside::Queue(queued),
        )
    }

    /// Up to `size` connections, each opened by `opener` when first needed
    /// (SQLite's readers, whose reads run on connections of `beside`;
    /// every PostgreSQL connection, with the pipe its one-message
    /// transactions go over), beginning with those of `opened`.
    pub(super) fn opened_by(
        opener: Opener,
        opened: Vec<AnyConnection>,
        size: u32,
        acquire_timeout: Duration,
        beside: Beside,
    ) -> Connections {
        Connections::new(opened, Some(opener), size, acquire_timeout, beside)
    }

    /// How many connections are in use now, how many requests wait for
    /// one, and how many there may be at most.
    pub fn usage(&self) -> Usage {
        let slots = &self.0;
        Usage {
            in_use: (slots.size as usize).saturating_sub(slots.permits.available_permits()),
            waiting: slots.waiting.load(Ordering::Relaxed),
            max: slots.size as usize,
        }
    }

    /// Whether these are PostgreSQL connections.
    pub fn is_postgres(&self) -> bool {
        self.0.postgres
    }

    /// A PostgreSQL connection of its own, outside the set and its limit,
    /// for a session that lasts (the relay's advisory lock); `None` on
    /// SQLite.
    pub async fn detached(&self) -> Option<Result<AnyConnection, sqlx::Error>> {
        match (&self.0.opener, self.0.postgres) {
            (Some(open), true) => Some(open().await),
            _ => None,
        }
    }

    /// Begins a transaction, once a connection is free (refused as
    /// unavailable after the acquire timeout).
    pub async fn begin(&self) -> Result<WriteTx, sqlx::Error> {
        let mut connection = self.acquire().await?;
        let begun = Transactions::begin(&mut connection, None).await;
        connection.ended(begun.as_ref().err());
        begun?;
        Ok(WriteTx {
            connection,
            open: true,
            span: traces::transaction_span(self.0.postgres, "transaction"),
        })
    }

    /// Runs `statements` as one transaction, sent in one message; the rows
    /// they return. A SQLite writer's wait in its queue for their turn
    /// (`super::queue`); PostgreSQL's are pipelined (`super::pipe`).
    pub async fn commit(&self, statements: Statements) -> Result<Vec<AnyRow>, sqlx::Error> {
        let span = traces::transaction_span(self.0.postgres, "commit");
        let rows = async {
            match (&self.0.queue, &self.0.pipe) {
                (Some(queue), _) => queue.commit(statements, self.0.acquire_timeout).await,
                // One statement is a transaction of its own: one round trip
                // on any connection, whose commits wait for the log's flush
                // beside the others', rather than in turn on the pipe.
                (None, Some(_)) if statements.0.len() == 1 => {
                    let mut connection = self.acquire().await?;
                    let rows = statements.run_on(&mut connection).await;
                    connection.ended(rows.as_ref().err());
                    rows
                }
                (None, Some(pipe)) => pipe.commit(statements).await,
                // SQLite's readers, which are not asked to write.
                (None, None) => self.batch_in(Span::none()).await?.commit(statements).await,
            }
        }
        .instrument(span.clone())
        .await;
        if rows.is_err() {
            traces::record_failure(&span);
        }
        rows
    }

    /// Takes a connection for a [`Batch`] (refused as unavailable after the
    /// acquire timeout); its transaction begins with its first statements.
    pub async fn batch(&self) -> Result<Batch, sqlx::Error> {
        self.batch_in(traces::transaction_span(self.0.postgres, "batch"))
            .await
    }

    /// A [`Batch`] whose transaction is `span` (none: it is part of another's).
    async fn batch_in(&self, span: Span) -> Result<Batch, sqlx::Error> {
        Ok(Batch {
            connection: self.acquire().await?,
            open: false,
            span,
        })
    }

    /// Takes a connection, waiting for one to be free (at most the acquire
    /// timeout: then `PoolTimedOut`; `PoolClosed` once closed).
    pub(super) async fn acquire(&self) -> Result<Held, sqlx::Error> {
        let slots = &self.0;
        let permit = self.permit().await?;
        let mut held = Held {
            connection: None,
            slots: slots.clone(),
            permit: Some(permit),
            sound: false,
            rollback_first: false,
        };
        let idle = slots.idle().pop();
        let idle = match idle {
            Some(idle) if slots.postgres && idle.since.elapsed() > STALE => {
                checked(idle.connection, slots.acquire_timeout).await
            }
            Some(idle) => Some(idle.connection),
            None => None,
        };
        let connection = match (idle, &slots.opener) {
            (Some(connection), _) => connection,
            (None, Some(open)) => open().await?,
            // Every connection of a fixed set is idle while a permit is free.
            (None, None) => return Err(sqlx::Error::PoolClosed),
        };
        held.connection = Some(connection);
        Ok(held)
    }

    /// A turn to use one of the set's connections, waiting for one to be
    /// free (at most the acquire timeout: then `PoolTimedOut`; `PoolClosed`
    /// once closed).
    async fn permit(&self) -> Result<OwnedSemaphorePermit, sqlx::Error> {
        let slots = &self.0;
        match slots.permits.clone().try_acquire_owned() {
            Ok(permit) => Ok(permit),
            Err(tokio::sync::TryAcquireError::Closed) => Err(sqlx::Error::PoolClosed),
            Err(tokio::sync::TryAcquireError::NoPermits) => {
                // Counted while it waits, however the wait ends (a request
                // that gives up drops this future midway).
                let _waiting = Waiting::on(&slots.waiting);
                tokio::time::timeout(slots.acquire_timeout, slots.permits.clone().acquire_owned())
                    .await
                    .map_err(|_| sqlx::Error::PoolTimedOut)?
                    .map_err(|_| sqlx::Error::PoolClosed)
            }
        }
    }

    /// A SQLite read on `readers` (`super::reads`), in its turn: here, or
    /// on a thread of its own once its statement was seen to run long.
    async fn read<'q, E: Execute<'q, Any>>(
        &self,
        readers: &Arc<Readers>,
        mut query: E,
    ) -> Result<Vec<AnyRow>, sqlx::Error> {
        let permit = self.permit().await?;
        let values = query
            .take_arguments()
            .map_err(sqlx::Error::Encode)?
            .map(|arguments| arguments.values.0)
            .unwrap_or_default();
        let sql = query.sql();
        if !readers.is_long(sql) {
            if let Some(rows) = readers.read_here(sql, &values) {
                return rows;
            }
        }
        let values = reads::owned(values);
        readers
            .clone()
            .read_apart(sql.to_owned(), values, permit)
            .await
    }

    /// Closes the connections, once the statements under way are done.
    pub async fn close(&self) {
        let slots = &self.0;
        // Every permit taken: nothing is in use any more.
        let all = slots.permits.acquire_many(slots.size).await;
        slots.permits.close();
        drop(all);
        if let Some(readers) = &slots.readers {
            readers.close();
        }
        let idle: Vec<_> = slots.idle().drain(..).collect();
        for idle in idle {
            let _ = idle.connection.close().await;
        }
        if let Some(pipe) = &slots.pipe {
            pipe.close();
        }
    }
}

/// A transaction on a connection, which it holds until it ends.
/// `&mut *tx` runs statements in it.
pub struct WriteTx {
    connection: Held,
    open: bool,
    /// The transaction's span, from its beginning to its end.
    span: Span,
}

impl WriteTx {
    pub async fn commit(mut self) -> Result<(), sqlx::Error> {
        let committed = Transactions::commit(&mut self.connection).await;
        self.end(committed)
    }

    pub async fn rollback(mut self) -> Result<(), sqlx::Error> {
        let rolled_back = Transactions::rollback(&mut self.connection).await;
        self.end(rolled_back)
    }

    /// The transaction is over, one way or the other: its connection is
    /// sound again only if it ended cleanly.
    fn end(&mut self, result: Result<(), sqlx::Error>) -> Result<(), sqlx::Error> {
        self.open = false;
        self.connection.sound = result.is_ok();
        if result.is_err() {
            traces::record_failure(&self.span);
        }
        result
    }
}

impl Drop for WriteTx {
    fn drop(&mut self) {
        if self.open {
            // Queued on the connection ahead of whatever it runs next.
            Transactions::start_rollback(&mut self.connection);
            self.connection.sound = false;
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
        self.connection.as_ref().expect("held until dropped")
    }
}

impl DerefMut for Held {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        self.connection.as_mut().expect("held until dropped")
    }
}

/// Statements sent together by a [`Batch`], each with its own values,
/// numbered `$1`, `$2`, … within it.
#[derive(Debug, Default)]
pub struct Statements(pub(super) Vec<(String, Vec<Arg>)>);

impl Statements {
    pub fn new() -> Statements {
        Statements::default()
    }

    /// One statement of the batch; `values` are its `$1` to `$n`.
    pub fn push(mut self, sql: impl Into<String>, values: Vec<Arg>) -> Statements {
        self.0.push((sql.into(), values));
        self
    }

    /// Runs the statements one at a time on `connection` (in the caller's
    /// transaction, if any); the rows they return, in order.
    pub async fn run_on(self, connection: &mut AnyConnection) -> Result<Vec<AnyRow>, sqlx::Error> {
        let mut rows = Vec::new();
        for (statement, values) in self.0 {
            let query = values.iter().fold(sqlx::query(&statement), paging::bind);
            rows.extend(query.fetch_all(&mut *connection).await?);
        }
        Ok(rows)
    }

    /// Appends the statements to `sql`, each followed by `; ` and its `$n`
    /// renumbered into one list of values for all (sqlx-sqlite binds `$n`
    /// by number across the statements of a query): that list.
    pub(super) fn joined(self, sql: &mut String) -> Vec<Arg> {
        let mut all = Vec::new();
        for (statement, values) in self.0 {
            sql.push_str(&renumbered(&statement, all.len()));
            sql.push_str("; ");
            all.extend(values);
        }
        all
    }

    /// The statements of `other` after these.
    pub fn then(mut self, other: Statements) -> Statements {
        self.0.extend(other.0);
        self
    }
}

/// A transaction whose statements reach the database in as few messages as
/// it takes: on SQLite each [`Batch::run`] and [`Batch::commit`] is one
/// message to the connection's thread, `BEGIN` sent with the first and
/// `COMMIT` with the last; on PostgreSQL, which takes one statement with
/// parameters at a time, each statement is one round trip, as in a
/// [`WriteTx`]. A statement that needs an earlier one's result in the same
/// message gets it in SQL.
///
/// A failure rolls the transaction back at once; a batch dropped open (a
/// cancelled request) is rolled back before its connection serves anyone
/// else.
pub struct Batch {
    connection: Held,
    /// A transaction is open (PostgreSQL; SQLite's is `rollback_first`).
    open: bool,
    /// The transaction's span, from its beginning to its end.
    span: Span,
}

impl Batch {
    /// Runs `statements` in the transaction (beginning it if this is the
    /// first); the rows they return, in order.
    pub async fn run(&mut self, statements: Statements) -> Result<Vec<AnyRow>, sqlx::Error> {
        self.send(statements, false).await
    }

    /// Runs `statements`, then commits; the rows they return.
    pub async fn commit(mut self, statements: Statements) -> Result<Vec<AnyRow>, sqlx::Error> {
        self.send(statements, true).await
    }

    pub async fn rollback(mut self) -> Result<(), sqlx::Error> {
        self.abort().await;
        Ok(())
    }

    async fn send(
        &mut self,
        statements: Statements,
        commit: bool,
    ) -> Result<Vec<AnyRow>, sqlx::Error> {
        let sent = if self.connection.slots.postgres {
            self.send_each(statements, commit).await
        } else {
            self.send_together(statements, commit).await
        };
        if sent.is_err() {
            traces::record_failure(&self.span);
            self.abort().await;
        }
        sent
    }

    /// SQLite: every statement in one query, their `$n` renumbered into one
    /// list of values (sqlx-sqlite binds `$n` by number across the
    /// statements of a query).
    async fn send_together(
        &mut self,
        statements: Statements,
        commit: bool,
    ) -> Result<Vec<AnyRow>, sqlx::Error> {
        let mut sql = String::new();
        if !self.connection.rollback_first {
            sql.push_str("BEGIN; ");
        }
        let all = statements.joined(&mut sql);
        if commit {
            sql.push_str("COMMIT");
        }
        // From here until it ends cleanly, a transaction may be open.
        self.connection.rollback_first = true;
        let rows = rows_of(&mut self.connection, &sql, &all).await?;
        if commit {
            self.connection.rollback_first = false;
            self.connection.sound = true;
        }
        Ok(rows)
    }

    /// PostgreSQL: one statement at a time in a transaction.
    async fn send_each(
        &mut self,
        statements: Statements,
        commit: bool,
    ) -> Result<Vec<AnyRow>, sqlx::Error> {
        if !self.open {
            Transactions::begin(&mut self.connection, None).await?;
            self.open = true;
        }
        let rows = statements.run_on(&mut self.connection).await?;
        if commit {
            Transactions::commit(&mut self.connection).await?;
            self.open = false;
            self.connection.sound = true;
        }
        Ok(rows)
    }

    /// Rolls back whatever is open now; a connection whose rollback fails
    /// is left to its check or its rollback before its next use.
    async fn abort(&mut self) {
        if self.open {
            self.open = false;
            let rolled_back = Transactions::rollback(&mut self.connection).await;
            self.connection.sound = rolled_back.is_ok();
        }
        if self.connection.rollback_first && self.connection.execute("ROLLBACK").await.is_ok() {
            self.connection.rollback_first = false;
            self.connection.sound = true;
        }
    }
}

impl Drop for Batch {
    fn drop(&mut self) {
        if self.open {
            // Queued on the connection ahead of whatever it runs next.
            Transactions::start_rollback(&mut self.connection);
            self.connection.sound = false;
        }
    }
}

impl std::fmt::Debug for Batch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batch").finish_non_exhaustive()
    }
}

/// The rows `sql` (SQLite: its statements in one message) returns with
/// `values` on `connection`; the first failure stops it.
async fn rows_of(
    connection: &mut AnyConnection,
    sql: &str,
    values: &[Arg],
) -> Result<Vec<AnyRow>, sqlx::Error> {
    let query = values.iter().fold(sqlx::query(sql), paging::bind);
    let mut rows = Vec::new();
    let mut results = connection.fetch_many(query);
    while let Some(result) = results.next().await {
        if let Either::Right(row) = result? {
            rows.push(row);
        }
    }
    Ok(rows)
}

/// `statement` with each `$n` made `$(n + offset)`.
pub(super) fn renumbered(statement: &str, offset: usize) -> String {
    if offset == 0 {
        return statement.to_owned();
    }
    let mut out = String::with_capacity(statement.len() + 8);
    let mut rest = statement;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..=at]);
        rest = &rest[at + 1..];
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        match rest[..digits].parse::<usize>() {
            Ok(n) => out.push_str(&(n + offset).to_string()),
            Err(_) => out.push_str(&rest[..digits]),
        }
        rest = &rest[digits..];
    }
    out.push_str(rest);
    out
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
        if let Some(readers) = connections.0.readers.clone() {
            return stream::once(async move {
                let rows = connections.read(&readers, query).await?;
                Ok::<_, sqlx::Error>(stream::iter(
                    rows.into_iter().map(|row| Ok(Either::Right(row))),
                ))
            })
            .try_flatten()
            .boxed();
        }
        // The rows are read to the end while the connection is held, so a
        // caller that stops early leaves no statement open on it.
        stream::once(async move {
            let mut conn = connections.acquire().await?;
            let results: Vec<_> = conn.fetch_many(query).collect().await;
            conn.ended(results.iter().find_map(|result| result.as_ref().err()));
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
        Box::pin(async move {
            if let Some(readers) = connections.0.readers.clone() {
                let rows = connections.read(&readers, query).await?;
                return Ok(rows.into_iter().next());
            }
            let mut conn = connections.acquire().await?;
            let row = conn.fetch_optional(query).await;
            conn.ended(row.as_ref().err());
            row
        })
    }

    fn prepare_with<'e, 'q: 'e>(
        self,
        sql: &'q str,
        parameters: &'e [AnyTypeInfo],
    ) -> BoxFuture<'e, Result<AnyStatement<'q>, sqlx::Error>> {
        let connections = self.clone();
        Box::pin(async move {
            let mut conn = connections.acquire().await?;
            let prepared = conn.prepare_with(sql, parameters).await;
            conn.ended(prepared.as_ref().err());
            prepared
        })
    }

    fn describe<'e, 'q: 'e>(
        self,
        sql: &'q str,
    ) -> BoxFuture<'e, Result<Describe<Any>, sqlx::Error>> {
        let connections = self.clone();
        Box::pin(async move {
            let mut conn = connections.acquire().await?;
            let described = conn.describe(sql).await;
            conn.ended(described.as_ref().err());
            described
        })
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
        open_with(dir, pool_size, acquire_timeout, Duration::from_secs(5)).await
    }

    /// [`open`], with reads stopped after `statement_timeout`.
    async fn open_with(
        dir: &tempfile::TempDir,
        pool_size: u32,
        acquire_timeout: Duration,
        statement_timeout: Duration,
    ) -> Db {
        let settings = DbSettings {
            target: DbTarget::Sqlite(dir.path().join("w.db")),
            pool_size,
            acquire_timeout,
            statement_timeout,
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

    /// What `/metrics` reads of a set: the connections in use, the
    /// requests waiting for one (one that gives up is no longer counted),
    /// and the most there may be.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn usage_counts_connections_in_use_and_requests_waiting() {
        let dir = tempfile::tempdir().unwrap();
        let db = open(&dir, 2, Duration::from_secs(5)).await;
        let idle = Usage {
            in_use: 0,
            waiting: 0,
            max: 1,
        };
        assert_eq!(db.writer.usage(), idle);
        let held = db.writer.begin().await.unwrap();
        assert_eq!(db.writer.usage().in_use, 1);
        let writer = db.writer.clone();
        let waiter = tokio::spawn(async move { writer.begin().await.map(drop) });
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while db.writer.usage().waiting != 1 {
            assert!(
                std::time::Instant::now() < deadline,
                "{:?}",
                db.writer.usage()
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // The waiting request gives up (its client hung up).
        waiter.abort();
        let _ = waiter.await;
        assert_eq!(db.writer.usage().waiting, 0);
        drop(held);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while db.writer.usage() != idle {
            assert!(
                std::time::Instant::now() < deadline,
                "{:?}",
                db.writer.usage()
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(db.reader.usage().max, 2);
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
        assert_eq!(db.reader.0.idle().len(), 2, "both readers kept, none lost");
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

    /// Transactions queued for the writer from many tasks at once, beside
    /// transactions taken by their tasks: each queued one answers its own
    /// rows and lands whole, and one that fails midway changes nothing,
    /// whatever runs before and after it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn queued_transactions_land_whole_or_not_at_all() {
        let dir = tempfile::tempdir().unwrap();
        let db = open(&dir, 2, Duration::from_secs(5)).await;
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..60i64 {
            let db = db.clone();
            tasks.spawn(async move {
                match i % 3 {
                    0 => {
                        let rows = db.writer.commit(insert(i).then(insert(1000 + i))).await;
                        let got: Vec<i64> = rows.unwrap().iter().map(|r| r.get("v")).collect();
                        assert_eq!(got, vec![i, 1000 + i]);
                    }
                    1 => {
                        let failing = insert(i).push("INSERT INTO n (v) VALUES (NULL)", vec![]);
                        let refused = db.writer.commit(failing).await.err().unwrap();
                        assert!(refused.as_database_error().is_some(), "{refused}");
                    }
                    _ => {
                        let mut tx = db.writer.begin().await.unwrap();
                        insert(i).run_on(&mut tx).await.unwrap();
                        tx.commit().await.unwrap();
                    }
                }
            });
        }
        while let Some(done) = tasks.join_next().await {
            done.unwrap();
        }
        let mut expected: Vec<i64> = (0..60).filter(|i| i % 3 != 1).collect();
        expected.extend((0..60).filter(|i| i % 3 == 0).map(|i| 1000 + i));
        expected.sort();
        assert_eq!(values(&db).await, expected);
    }

    /// Transactions queued together share one commit: each sees those
    /// before it, and one that fails midway is undone alone.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn queued_transactions_committed_together_each_stand_alone() {
        let dir = tempfile::tempdir().unwrap();
        let db = open(&dir, 2, Duration::from_secs(5)).await;
        let mut held = db.writer.begin().await.unwrap();
        insert(1).run_on(&mut held).await.unwrap();
        let failing = insert(11).push("INSERT INTO n (v) VALUES (NULL)", vec![]);
        let after = Statements::new().push(
            "INSERT INTO n (v) SELECT MAX(v) + 100 FROM n RETURNING v",
            vec![],
        );
        // Queued in this order while the writer is held, so that they wait
        // together; then the writer is given back.
        let queued = futures::future::join_all([
            db.writer.commit(insert(10)),
            db.writer.commit(failing),
            db.writer.commit(insert(12)),
            db.writer.commit(after),
        ]);
        let (answers, committed) = tokio::join!(queued, held.commit());
        committed.unwrap();
        let answers: Vec<_> = answers
            .into_iter()
            .map(|rows| {
                rows.map(|rows| {
                    rows.iter()
                        .map(|r| r.get::<i64, _>("v"))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        assert_eq!(answers[0].as_ref().unwrap(), &vec![10]);
        assert!(answers[1].is_err());
        assert_eq!(answers[2].as_ref().unwrap(), &vec![12]);
        assert_eq!(answers[3].as_ref().unwrap(), &vec![112]);
        assert_eq!(values(&db).await, vec![1, 10, 12, 112]);
    }

    /// A queued transaction refused as unavailable (the writer held past
    /// the acquire timeout) is never run later; the queue goes on.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_queued_transaction_refused_for_time_never_lands() {
        let dir = tempfile::tempdir().unwrap();
        let db = open(&dir, 2, Duration::from_millis(200)).await;
        let mut held = db.writer.begin().await.unwrap();
        insert(1).run_on(&mut held).await.unwrap();
        let refused = db.writer.commit(insert(7)).await.err().unwrap();
        assert!(matches!(refused, sqlx::Error::PoolTimedOut), "{refused}");
        held.commit().await.unwrap();
        db.writer.commit(insert(8)).await.unwrap();
        assert_eq!(values(&db).await, vec![1, 8]);
    }

    fn insert(v: i64) -> Statements {
        Statements::new().push("INSERT INTO n (v) VALUES ($1) RETURNING v", vec![v.into()])
    }

    async fn values(db: &Db) -> Vec<i64> {
        sqlx::query("SELECT v FROM n ORDER BY v")
            .fetch_all(&db.reader)
            .await
            .unwrap()
            .iter()
            .map(|row| row.get("v"))
            .collect()
    }

    #[test]
    fn statements_are_renumbered_after_the_values_before_them() {
        assert_eq!(renumbered("a = $1 AND b = $2", 0), "a = $1 AND b = $2");
        assert_eq!(renumbered("a = $1 AND b = $12", 3), "a = $4 AND b = $15");
        assert_eq!(renumbered("x = '$' || $1", 2), "x = '$' || $3");
    }

    /// A batch's statements are seen together once it commits, and one may
    /// use what an earlier one of the same message wrote.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_batch_commits_its_statements_together() {
        let dir = tempfile::tempdir().unwrap();
        let db = open(&dir, 2, Duration::from_secs(5)).await;
        let mut batch = db.writer.batch().await.unwrap();
        let rows = batch.run(insert(1).then(insert(2))).await.unwrap();
        let returned: Vec<i64> = rows.iter().map(|row| row.get("v")).collect();
        assert_eq!(returned, [1, 2]);
        assert_eq!(values(&db).await, Vec::<i64>::new(), "seen before commit");
        let rows = batch
            .commit(Statements::new().push(
                "INSERT INTO n (v) SELECT MAX(v) + $1 FROM n WHERE v < $2 RETURNING v",
                vec![10.into(), 5.into()],
            ))
            .await
            .unwrap();
        assert_eq!(rows[0].get::<i64, _>("v"), 12);
        assert_eq!(values(&db).await, [1, 2, 12]);
        // The writer is free and outside any transaction.
        let mut tx = db.writer.begin().await.unwrap();
        tx.execute("INSERT INTO n (v) VALUES (3)").await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(values(&db).await, [1, 2, 3, 12]);
    }

    /// A statement that fails undoes the whole batch, and the writer is
    /// ready for the next.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failing_statement_rolls_the_batch_back() {
        let dir = tempfile::tempdir().unwrap();
        let db = open(&dir, 2, Duration::from_secs(5)).await;
        let mut batch = db.writer.batch().await.unwrap();
        batch.run(insert(1)).await.unwrap();
        let failed = batch
            .commit(insert(2).push("INSERT INTO missing (v) VALUES ($1)", vec![3.into()]))
            .await;
        assert!(failed.is_err());
        let mut batch = db.writer.batch().await.unwrap();
        let failed = batch
            .run(insert(4).push("SELECT * FROM missing", vec![]))
            .await;
        assert!(failed.is_err());
        batch.commit(insert(5)).await.unwrap();
        sqlx::query("INSERT INTO n (v) VALUES (6)")
            .execute(&db.writer)
            .await
            .unwrap();
        assert_eq!(values(&db).await, [5, 6]);
    }

    /// A batch dropped open (its request cancelled) is rolled back before
    /// the writer's next statement, which then commits on its own.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_batch_dropped_open_is_rolled_back() {
        let dir = tempfile::tempdir().unwrap();
        let db = open(&dir, 2, Duration::from_secs(5)).await;
        for round in 0..20i64 {
            let mut batch = db.writer.batch().await.unwrap();
            batch.run(insert(100 + round)).await.unwrap();
            drop(batch);
            sqlx::query("INSERT INTO n (v) VALUES ($1)")
                .bind(round)
                .execute(&db.writer)
                .await
                .unwrap();
        }
        // And one cut short while its message is on SQLite's thread (the
        // statement takes far longer than the caller waits).
        let mut batch = db.writer.batch().await.unwrap();
        let slow = batch.run(Statements::new().push(
            "INSERT INTO n (v) WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL \
             SELECT x + 1 FROM c WHERE x < 3000000) SELECT 1000 + MAX(x) FROM c",
            vec![],
        ));
        assert!(tokio::time::timeout(Duration::from_millis(20), slow)
            .await
            .is_err());
        drop(batch);
        sqlx::query("INSERT INTO n (v) VALUES (20)")
            .execute(&db.writer)
            .await
            .unwrap();
        assert_eq!(values(&db).await, (0..=20).collect::<Vec<i64>>());
    }

    /// A read that counts far enough to outlast [`reads::INLINE`] (the
    /// count is the answer).
    const LONG_READ: &str = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL \
        SELECT x + 1 FROM c WHERE x < $1) SELECT MAX(x) AS m FROM c";

    /// Values bound through sqlx's `Any` reach a SQLite read by number,
    /// whatever their order in the text, and come back as sqlx reads them.
    #[tokio::test]
    async fn a_read_binds_and_answers_as_sqlx_does() {
        let dir = tempfile::tempdir().unwrap();
        let db = open(&dir, 2, Duration::from_secs(5)).await;
        let row = sqlx::query("SELECT $3 AS t, $1 AS i, $2 AS b, $4 AS f, $5 AS none, $1 + 1 AS j")
            .bind(41i64)
            .bind(true)
            .bind("text")
            .bind(1.5f64)
            .bind(None::<String>)
            .fetch_one(&db.reader)
            .await
            .unwrap();
        assert_eq!(row.get::<String, _>("t"), "text");
        assert_eq!(row.get::<i64, _>("i"), 41);
        assert_eq!(row.get::<i64, _>("b"), 1);
        assert_eq!(row.get::<f64, _>("f"), 1.5);
        assert_eq!(row.get::<Option<String>, _>("none"), None);
        assert_eq!(row.get::<i64, _>("j"), 42);
        let missing = sqlx::query("SELECT $2 AS x")
            .bind(1i64)
            .fetch_one(&db.reader)
            .await
            .err()
            .expect("refused");
        assert!(matches!(missing, sqlx::Error::Protocol(_)), "{missing:?}");
        let refused = sqlx::query("SELECT * FROM nowhere")
            .fetch_all(&db.reader)
            .await
            .err()
            .expect("refused");
        assert!(matches!(refused, sqlx::Error::Database(_)), "{refused:?}");
    }

    /// A read that runs long answers in full, but not on the asking task's
    /// thread: on a runtime of one thread, another task runs while it does.
    #[tokio::test(flavor = "current_thread")]
    async fn a_long_read_runs_apart_and_leaves_the_thread_free() {
        let dir = tempfile::tempdir().unwrap();
        let db = open(&dir, 2, Duration::from_secs(5)).await;
        let ticks = Arc::new(AtomicUsize::new(0));
        let ticker = tokio::spawn({
            let ticks = ticks.clone();
            async move {
                loop {
                    ticks.fetch_add(1, Ordering::Relaxed);
                    tokio::task::yield_now().await;
                }
            }
        });
        for _ in 0..2 {
            let before = ticks.load(Ordering::Relaxed);
            let row = sqlx::query(LONG_READ)
                .bind(2_000_000i64)
                .fetch_one(&db.reader)
                .await
                .unwrap();
            assert_eq!(row.get::<i64, _>("m"), 2_000_000);
            assert!(
                ticks.load(Ordering::Relaxed) > before,
                "nothing else ran during the read"
            );
        }
        ticker.abort();
        // A short read still answers here.
        assert_eq!(count(&db).await, 0);
    }

    /// A read past the statement timeout is stopped, and refused as
    /// unavailable (a 503), not left running; the readers serve on.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_read_past_the_statement_timeout_is_stopped_and_unavailable() {
        let dir = tempfile::tempdir().unwrap();
        let db = open_with(&dir, 1, Duration::from_secs(5), Duration::from_millis(50)).await;
        for _ in 0..2 {
            // Minutes of counting, were it not stopped.
            let stopped = sqlx::query(LONG_READ)
                .bind(i64::MAX)
                .fetch_one(&db.reader)
                .await
                .err()
                .expect("refused");
            assert!(crate::db::is_unavailable(&stopped), "{stopped:?}");
        }
        assert_eq!(count(&db).await, 0);
    }
}
