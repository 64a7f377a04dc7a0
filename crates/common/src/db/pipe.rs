//! PostgreSQL: a transaction sent in one message, its statements pipelined.
//!
//! sqlx sends a statement and waits for its answer before it sends the
//! next, so a transaction of n statements cost n + 2 round trips (`BEGIN`
//! and `COMMIT`), each a wake-up of the server's process, and the server's
//! CPU per checkout went mostly to those (docs/performance.md, findings
//! 22, 23 and 25). Here a transaction of several statements sent in one
//! message ([`Connections::commit`]; one statement alone goes on any
//! connection of the set, its commit waiting for the log beside others')
//! goes over a tokio-postgres connection, which
//! pipelines: its `BEGIN`, its statements (each prepared once, with the
//! types sqlx gives the same values) and its `COMMIT` leave together, and
//! their answers are read after.
//!
//! One such connection serves all of a service's one-message transactions,
//! many in flight at once (more connections were measured slower: the
//! server then wakes several processes instead of one that reads a
//! stream). A transaction sends all of its requests at once, under the
//! connection's lock, so the server receives each one whole and runs them
//! one after another in its one session; so do statements being prepared,
//! which the server would refuse inside another's failed transaction. If a
//! statement fails, PostgreSQL refuses the rest of its transaction and its
//! `COMMIT` rolls it back, so nothing of it stands, and the next begins
//! clean. A caller that stops waiting has sent its transaction whole
//! already: it lands or not as it would have, its answer unread. One that
//! waits longer than the acquire timeout and the statement timeout
//! together is refused as unavailable (the outcome is then unknown, as
//! after any lost answer: the callers' keys make a retry safe), and the
//! connection is replaced.
//!
//! The rows come back as sqlx's `AnyRow`, with the types sqlx's own
//! PostgreSQL driver gives them, so every caller reads them as before.
//!
//! [`Connections::commit`]: super::Connections::commit

use std::borrow::Cow;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::Duration;

use futures::future::{maybe_done, MaybeDone};
use sqlx::any::{AnyRow, AnyTypeInfo, AnyTypeInfoKind, AnyValue};
use sqlx::error::ErrorKind;
use sqlx_core::any::{AnyColumn, AnyValueKind};
use sqlx_core::ext::ustr::UStr;
use tokio_postgres::types::{IsNull, ToSql, Type};
use tokio_postgres::{Client, NoTls, Row, Statement};

use super::connections::Statements;
use super::refusal::Refusal;
use crate::paging::Arg;

type Answer = Result<Vec<AnyRow>, sqlx::Error>;

/// The connection a service's one-message transactions go over, opened
/// when first needed and again after it failed.
pub(super) struct Pipe {
    config: tokio_postgres::Config,
    live: Mutex<Option<Arc<Live>>>,
    /// Held while the connection is opened, so it is opened once.
    opening: tokio::sync::Mutex<()>,
    /// Closed with the set: refused from then on.
    closed: AtomicBool,
    /// How long a transaction may take to be connected and sent.
    connect_timeout: Duration,
    /// How long it may wait for its answers once sent.
    answer_timeout: Duration,
}

/// An open connection and what it has prepared.
struct Live {
    client: Client,
    /// Held while requests are sent, so that no two transactions'
    /// interleave.
    sending: Mutex<()>,
    prepared: Mutex<HashMap<Key, Arc<Prepared>>>,
    begin: Arc<Prepared>,
    commit: Arc<Prepared>,
}

/// A statement's text and the types of its values: what it is prepared
/// under.
type Key = (String, Vec<Type>);

/// A statement prepared on one connection, and how its rows are read.
struct Prepared {
    statement: Statement,
    columns: Vec<AnyColumn>,
    names: Arc<sqlx_core::HashMap<UStr, usize>>,
}

/// The most statements a connection keeps prepared; beyond it they are
/// all prepared again as needed (the checkout's vary only in their number
/// of lines).
const PREPARED: usize = 512;

impl std::fmt::Debug for Pipe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipe").finish_non_exhaustive()
    }
}

impl Pipe {
    /// A connection to `config`'s database, opened when first needed.
    pub(super) fn new(
        config: tokio_postgres::Config,
        connect_timeout: Duration,
        statement_timeout: Duration,
    ) -> Pipe {
        Pipe {
            config,
            live: Mutex::new(None),
            opening: tokio::sync::Mutex::new(()),
            closed: AtomicBool::new(false),
            connect_timeout,
            answer_timeout: connect_timeout + statement_timeout,
        }
    }

    /// Runs `statements` as one transaction (one statement alone without
    /// `BEGIN` and `COMMIT`); the rows they return, in order.
    pub(super) async fn commit(&self, statements: Statements) -> Answer {
        if self.closed.load(Ordering::Relaxed) {
            return Err(sqlx::Error::PoolClosed);
        }
        let live = tokio::time::timeout(self.connect_timeout, self.live())
            .await
            .map_err(|_| sqlx::Error::PoolTimedOut)??;
        let answered =
            tokio::time::timeout(self.answer_timeout, live.transaction(statements)).await;
        let answer = answered.unwrap_or(Err(sqlx::Error::PoolTimedOut));
        if answer.as_ref().is_err_and(super::is_unavailable) {
            self.forget(&live);
        }
        answer
    }

    fn current(&self) -> Option<Arc<Live>> {
        let live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        live.as_ref()
            .filter(|live| !live.client.is_closed())
            .cloned()
    }

    /// The open connection, opening it first if there is none.
    async fn live(&self) -> Result<Arc<Live>, sqlx::Error> {
        if let Some(live) = self.current() {
            return Ok(live);
        }
        let _opening = self.opening.lock().await;
        if let Some(live) = self.current() {
            return Ok(live);
        }
        let live = Arc::new(Live::open(&self.config).await?);
        *self.live.lock().unwrap_or_else(|e| e.into_inner()) = Some(live.clone());
        Ok(live)
    }

    /// Closes the connection (once the transactions on it are answered).
    pub(super) fn close(&self) {
        self.closed.store(true, Ordering::Relaxed);
        *self.live.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// `live` is not used again: the next transaction opens another.
    fn forget(&self, live: &Arc<Live>) {
        let mut current = self.live.lock().unwrap_or_else(|e| e.into_inner());
        if current.as_ref().is_some_and(|now| Arc::ptr_eq(now, live)) {
            *current = None;
        }
    }
}

impl Live {
    async fn open(config: &tokio_postgres::Config) -> Result<Live, sqlx::Error> {
        let (client, connection) = config.connect(NoTls).await.map_err(error)?;
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!(error = %err, "a pipelined database connection ended");
            }
        });
        let (begin, commit) = futures::try_join!(
            prepare(&client, "BEGIN", Vec::new()),
            prepare(&client, "COMMIT", Vec::new())
        )?;
        Ok(Live {
            client,
            sending: Mutex::new(()),
            prepared: Mutex::new(HashMap::new()),
            begin,
            commit,
        })
    }

    fn prepared(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Arc<Prepared>>> {
        self.prepared.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Each of `statements` prepared on this connection (those it has not
    /// prepared yet, all together), checked against its values.
    async fn prepare_all(
        &self,
        statements: &Statements,
    ) -> Result<Vec<Arc<Prepared>>, sqlx::Error> {
        let keys: Vec<Key> = statements
            .0
            .iter()
            .map(|(sql, values)| (sql.clone(), values.iter().map(type_of).collect()))
            .collect();
        let mut found: Vec<Option<Arc<Prepared>>> = {
            let prepared = self.prepared();
            keys.iter().map(|key| prepared.get(key).cloned()).collect()
        };
        let missing: Vec<usize> = (0..keys.len()).filter(|&i| found[i].is_none()).collect();
        if !missing.is_empty() {
            // Sent between transactions: inside one that failed, the server
            // would refuse them.
            let made = self
                .sent_together(
                    missing
                        .iter()
                        .map(|&i| prepare(&self.client, &keys[i].0, keys[i].1.clone()))
                        .collect(),
                )
                .await
                .into_iter()
                .collect::<Result<Vec<_>, _>>()?;
            let mut prepared = self.prepared();
            if prepared.len() + made.len() > PREPARED {
                prepared.clear();
            }
            for (i, made) in missing.into_iter().zip(made) {
                prepared.insert(keys[i].clone(), made.clone());
                found[i] = Some(made);
            }
        }
        keys.iter()
            .zip(found)
            .map(|((sql, types), made)| match made {
                // Each value bound as it was typed, or nothing is sent: a
                // statement refused before it leaves would leave the rest
                // of its transaction to commit without it.
                Some(made) if made.statement.params() == types.as_slice() => Ok(made),
                _ => Err(sqlx::Error::Protocol(format!(
                    "the values given do not match the parameters of: {sql}"
                ))),
            })
            .collect()
    }

    /// `statements` in one transaction, sent together; the rows they
    /// return, or the first failure.
    async fn transaction(&self, statements: Statements) -> Answer {
        let prepared = self.prepare_all(&statements).await?;
        let alone = prepared.len() == 1;
        let values: Vec<Vec<Value<'_>>> = statements
            .0
            .iter()
            .map(|(_, values)| values.iter().map(Value).collect())
            .collect();
        let params: Vec<Vec<&(dyn ToSql + Sync)>> = values
            .iter()
            .map(|values| values.iter().map(|v| v as &(dyn ToSql + Sync)).collect())
            .collect();
        let mut steps: Vec<&Prepared> = Vec::with_capacity(prepared.len() + 2);
        let mut step_params: Vec<&[&(dyn ToSql + Sync)]> = Vec::with_capacity(prepared.len() + 2);
        if !alone {
            steps.push(&self.begin);
            step_params.push(&[]);
        }
        for (statement, params) in prepared.iter().zip(&params) {
            steps.push(statement);
            step_params.push(params);
        }
        if !alone {
            steps.push(&self.commit);
            step_params.push(&[]);
        }
        let requests: Vec<_> = steps
            .iter()
            .zip(step_params)
            .map(|(step, params)| self.client.query(&step.statement, params))
            .collect();
        let answers = self.sent_together(requests).await;
        let mut rows = Vec::new();
        for (step, answer) in steps.iter().zip(answers) {
            for row in answer.map_err(error)? {
                rows.push(any_row(step, &row)?);
            }
        }
        Ok(rows)
    }

    /// Every request of `requests` sent, in order and with nobody else's
    /// in between (each sends on its first poll), then their answers.
    async fn sent_together<F: Future>(&self, requests: Vec<F>) -> Vec<F::Output> {
        let mut all: Vec<MaybeDone<Pin<Box<F>>>> = requests
            .into_iter()
            .map(|request| maybe_done(Box::pin(request)))
            .collect();
        let mut first = true;
        std::future::poll_fn(|cx| {
            let sending = first.then(|| self.sending.lock().unwrap_or_else(|e| e.into_inner()));
            first = false;
            let mut done = true;
            for request in all.iter_mut() {
                done &= Pin::new(request).poll(cx).is_ready();
            }
            drop(sending);
            if done {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await;
        all.iter_mut()
            .map(|done| Pin::new(done).take_output().expect("polled to its end"))
            .collect()
    }
}

async fn prepare(
    client: &Client,
    sql: &str,
    types: Vec<Type>,
) -> Result<Arc<Prepared>, sqlx::Error> {
    let statement = client.prepare_typed(sql, &types).await.map_err(error)?;
    let columns: Vec<AnyColumn> = statement
        .columns()
        .iter()
        .enumerate()
        .map(|(ordinal, column)| AnyColumn {
            ordinal,
            name: UStr::new(column.name()),
            type_info: AnyTypeInfo {
                kind: kind_of(column.type_()),
            },
        })
        .collect();
    let names = columns
        .iter()
        .map(|column| (column.name.clone(), column.ordinal))
        .collect();
    Ok(Arc::new(Prepared {
        statement,
        columns,
        names: Arc::new(names),
    }))
}

/// The type a value is sent as: what sqlx sends for it (`paging::bind`).
fn type_of(value: &Arg) -> Type {
    match value {
        Arg::Int(_) => Type::INT8,
        Arg::Text(_) | Arg::Null => Type::TEXT,
    }
}

/// How sqlx's `Any` driver reads a PostgreSQL type (`Null`: one it does
/// not read, refused when a row holds it).
fn kind_of(ty: &Type) -> AnyTypeInfoKind {
    const KINDS: [(Type, AnyTypeInfoKind); 11] = [
        (Type::BOOL, AnyTypeInfoKind::Bool),
        (Type::INT2, AnyTypeInfoKind::SmallInt),
        (Type::INT4, AnyTypeInfoKind::Integer),
        (Type::INT8, AnyTypeInfoKind::BigInt),
        (Type::FLOAT4, AnyTypeInfoKind::Real),
        (Type::FLOAT8, AnyTypeInfoKind::Double),
        (Type::TEXT, AnyTypeInfoKind::Text),
        (Type::VARCHAR, AnyTypeInfoKind::Text),
        (Type::BPCHAR, AnyTypeInfoKind::Text),
        (Type::NAME, AnyTypeInfoKind::Text),
        (Type::BYTEA, AnyTypeInfoKind::Blob),
    ];
    KINDS
        .iter()
        .find(|(known, _)| known == ty)
        .map_or(AnyTypeInfoKind::Null, |(_, kind)| *kind)
}

/// `row` of `statement` as sqlx's `Any` driver gives it.
fn any_row(statement: &Prepared, row: &Row) -> Result<AnyRow, sqlx::Error> {
    let values = statement
        .columns
        .iter()
        .map(|column| {
            let at = column.ordinal;
            let decode = |err| sqlx::Error::ColumnDecode {
                index: column.name.to_string(),
                source: Box::new(err),
            };
            let kind = match column.type_info.kind {
                AnyTypeInfoKind::Bool => row
                    .try_get::<_, Option<bool>>(at)
                    .map(|v| v.map(AnyValueKind::Bool)),
                AnyTypeInfoKind::SmallInt => row
                    .try_get::<_, Option<i16>>(at)
                    .map(|v| v.map(AnyValueKind::SmallInt)),
                AnyTypeInfoKind::Integer => row
                    .try_get::<_, Option<i32>>(at)
                    .map(|v| v.map(AnyValueKind::Integer)),
                AnyTypeInfoKind::BigInt => row
                    .try_get::<_, Option<i64>>(at)
                    .map(|v| v.map(AnyValueKind::BigInt)),
                AnyTypeInfoKind::Real => row
                    .try_get::<_, Option<f32>>(at)
                    .map(|v| v.map(AnyValueKind::Real)),
                AnyTypeInfoKind::Double => row
                    .try_get::<_, Option<f64>>(at)
                    .map(|v| v.map(AnyValueKind::Double)),
                AnyTypeInfoKind::Text => row
                    .try_get::<_, Option<String>>(at)
                    .map(|v| v.map(|v| AnyValueKind::Text(Cow::Owned(v)))),
                AnyTypeInfoKind::Blob => row
                    .try_get::<_, Option<Vec<u8>>>(at)
                    .map(|v| v.map(|v| AnyValueKind::Blob(Cow::Owned(v)))),
                AnyTypeInfoKind::Null => {
                    return Err(sqlx::Error::TypeNotFound {
                        type_name: format!(
                            "{} (column {})",
                            row.columns()[at].type_(),
                            column.name
                        ),
                    })
                }
            }
            .map_err(decode)?;
            Ok(AnyValue {
                kind: kind.unwrap_or(AnyValueKind::Null(column.type_info.kind)),
            })
        })
        .collect::<Result<_, sqlx::Error>>()?;
    Ok(AnyRow {
        column_names: statement.names.clone(),
        columns: statement.columns.clone(),
        values,
    })
}

/// A value as sent: `i64` as `INT8`, text as `TEXT`, `NULL`.
#[derive(Debug)]
struct Value<'a>(&'a Arg);

impl ToSql for Value<'_> {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut tokio_postgres::types::private::BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self.0 {
            Arg::Int(v) => v.to_sql(ty, out),
            Arg::Text(v) => v.as_str().to_sql(ty, out),
            Arg::Null => Ok(IsNull::Yes),
        }
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::INT8 || *ty == Type::TEXT
    }

    tokio_postgres::types::to_sql_checked!();
}

/// A tokio-postgres failure as sqlx's: the server's refusal as a database
/// error (its code kept, so a unique violation is one), anything else (a
/// closed connection, a failed read) as an I/O error, which is a 503.
fn error(err: tokio_postgres::Error) -> sqlx::Error {
    match err.as_db_error() {
        Some(db) => Refusal {
            code: db.code().code().to_owned(),
            message: db.message().to_owned(),
            kind_of: error_kind,
            shown: db.to_string(),
            constraint: db.constraint().map(str::to_owned),
            table: db.table().map(str::to_owned),
        }
        .into_sqlx(),
        None => sqlx::Error::Io(std::io::Error::other(err.to_string())),
    }
}

/// What a SQLSTATE says, as sqlx-postgres reads it.
fn error_kind(code: &str) -> ErrorKind {
    match code {
        "23505" => ErrorKind::UniqueViolation,
        "23503" => ErrorKind::ForeignKeyViolation,
        "23502" => ErrorKind::NotNullViolation,
        "23514" => ErrorKind::CheckViolation,
        _ => ErrorKind::Other,
    }
}
