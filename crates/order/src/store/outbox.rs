//! SQL for the outbox of order events: written in the same transaction as
//! the change it describes, read by the feed and the relay, pruned once
//! published.

use serde_json::{json, Value};
use shop_common::now_rfc3339;
use sqlx::any::AnyRow;
use sqlx::{Any, AnyConnection, Executor, Row};

use shop_common::db::{Column, Db, Guard, Statements, UNKNOWN_ID};
use shop_common::paging::Arg;
use shop_common::ApiError;

use crate::domain::{EventType, Order, OrderEvent, OrderStatus};

/// The PostgreSQL advisory lock that orders outbox writers.
const OUTBOX_WRITE_LOCK: i64 = 0x5348_4f50_0001;

/// On PostgreSQL, what every outbox insert takes before its row has a
/// sequence: sequences are handed out at insert but become visible at
/// commit; one writer at a time (until its commit) makes them visible in
/// order, so a reader following `after=N` never skips an event. Taken in
/// the insert itself (a `FROM` item of its `SELECT`), and the insert is
/// the last statement before the commit, so that writers wait for each
/// other only across that insert and the commit, not the whole
/// transaction.
const WRITE_LOCK: &str = "(SELECT pg_advisory_xact_lock($1)) AS outbox_lock";

/// The outbox's columns, as every insert names them.
const INTO: &str = "outbox (event_id, order_id, event_type, data, created_at)";

/// Writes the event of a change to `order`, in the caller's transaction,
/// as its last statement before the commit ([`WRITE_LOCK`]).
pub async fn record(
    conn: &mut AnyConnection,
    event_type: EventType,
    order: &Order,
    extra: Value,
) -> Result<(), sqlx::Error> {
    let postgres = conn.backend_name() == "PostgreSQL";
    event(postgres, event_type, order, extra)
        .run_on(conn)
        .await?;
    Ok(())
}

/// The statements that write the event of a change to `order`, for
/// [`record`].
fn event(postgres: bool, event_type: EventType, order: &Order, extra: Value) -> Statements {
    let values: Vec<Arg> = vec![
        uuid::Uuid::new_v4().to_string().into(),
        order.id.into(),
        event_type.as_str().into(),
        data(order, extra).into(),
        now_rfc3339().into(),
    ];
    if postgres {
        let columns = values.into_iter().map(Column::from).collect();
        return Guard::new(WRITE_LOCK, vec![OUTBOX_WRITE_LOCK.into()]).insert(INTO, columns, "");
    }
    Statements::new().push(
        format!("INSERT INTO {INTO} VALUES ($1, $2, $3, $4, $5)"),
        values,
    )
}

/// The statements that write the event of a change to `order`, for a
/// batch that makes the change in the same message: written only if
/// `guard` finds the order as the change left it, and at most once under
/// `event_id` (racing changes of one order that both left it so, in the
/// same millisecond, write it once). An order built with
/// [`UNKNOWN_ID`] (its insert is in the batch) gets its id from the row.
/// The last statement of its batch: on PostgreSQL it takes the outbox's
/// lock ([`WRITE_LOCK`]) until the commit.
pub fn event_when(
    postgres: bool,
    event_type: EventType,
    order: &Order,
    extra: Value,
    guard: &Guard,
    event_id: uuid::Uuid,
) -> Result<Statements, ApiError> {
    let data = data(order, extra);
    let (order_id, data) = if order.id == UNKNOWN_ID {
        let data = Column::with_id(&data, "order_id", "id")
            .ok_or_else(|| ApiError::internal("an event without its order's id"))?;
        (Column::Of("id"), data)
    } else {
        (order.id.into(), data.into())
    };
    let guard = if postgres {
        guard.joined(WRITE_LOCK, vec![OUTBOX_WRITE_LOCK.into()])
    } else {
        guard.clone()
    };
    Ok(guard.insert(
        INTO,
        vec![
            event_id.to_string().into(),
            order_id,
            event_type.as_str().into(),
            data,
            now_rfc3339().into(),
        ],
        "ON CONFLICT (event_id) DO NOTHING",
    ))
}

/// The id of the one event `event_type` of the order named by `name` (its
/// checkout's key, its id and payment's, …): the same for every write of
/// it, and, like every event id, a version 4 UUID in form (its bits drawn
/// from a hash of the name instead of at random).
pub fn event_id(event_type: EventType, name: &str) -> uuid::Uuid {
    let name = format!("shop:order-event:{}:{name}", event_type.as_str());
    let hashed = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, name.as_bytes());
    uuid::Builder::from_random_bytes(hashed.into_bytes()).into_uuid()
}

/// The event's data: the order's id, owner, total and status, and `extra`.
fn data(order: &Order, extra: Value) -> String {
    let mut data = json!({
        "order_id": order.id,
        "user_id": order.user_id,
        "total_amount": order.total_amount,
        "status": order.status,
    });
    if let (Some(data), Value::Object(extra)) = (data.as_object_mut(), extra) {
        data.extend(extra);
    }
    data.to_string()
}

/// The event of a status change from `previous` to `order.status`.
pub async fn record_status_change(
    conn: &mut AnyConnection,
    order: &Order,
    previous: OrderStatus,
) -> Result<(), sqlx::Error> {
    let event_type = if order.status == OrderStatus::Cancelled {
        EventType::OrderCancelled
    } else {
        EventType::OrderStatusUpdated
    };
    record(
        conn,
        event_type,
        order,
        json!({"previous_status": previous}),
    )
    .await
}

const COLUMNS: &str = "seq, event_id, order_id, event_type, data, created_at";

/// An outbox row: the event and the order it is keyed by.
#[derive(Debug, Clone)]
pub struct Stored {
    pub order_id: i64,
    pub event: OrderEvent,
}

fn stored(row: &AnyRow) -> Result<Stored, sqlx::Error> {
    let data: String = row.try_get("data")?;
    let event_type: String = row.try_get("event_type")?;
    Ok(Stored {
        order_id: row.try_get("order_id")?,
        event: OrderEvent {
            event_id: row.try_get("event_id")?,
            event_type: EventType::parse(&event_type)
                .ok_or_else(|| sqlx::Error::Decode(format!("event type {event_type}").into()))?,
            timestamp: row.try_get("created_at")?,
            sequence: row.try_get("seq")?,
            data: serde_json::from_str(&data)
                .map_err(|err| sqlx::Error::Decode(format!("event data: {err}").into()))?,
        },
    })
}

/// Events after `sequence`, in order.
pub async fn after<'c>(
    db: impl Executor<'c, Database = Any>,
    sequence: i64,
    limit: i64,
) -> Result<Vec<Stored>, sqlx::Error> {
    read(db, None, Reading::After(sequence), limit).await
}

/// Which events of the outbox to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reading {
    /// The first ones after this sequence.
    After(i64),
    /// The last ones, before this sequence if one is given.
    Latest(Option<i64>),
}

/// At most `limit` events of `order_id` (or of every order) as `reading`
/// says, oldest first. An order's events are read along `outbox_order`.
pub async fn read<'c>(
    db: impl Executor<'c, Database = Any>,
    order_id: Option<i64>,
    reading: Reading,
    limit: i64,
) -> Result<Vec<Stored>, sqlx::Error> {
    let (condition, sequence, backwards) = match reading {
        Reading::After(seq) => ("seq > $1", seq, false),
        Reading::Latest(before) => ("seq < $1", before.unwrap_or(i64::MAX), true),
    };
    let dir = if backwards { "DESC" } else { "ASC" };
    let order = if order_id.is_some() {
        " AND order_id = $3"
    } else {
        ""
    };
    let sql = format!(
        "SELECT {COLUMNS} FROM outbox WHERE {condition}{order} ORDER BY seq {dir} LIMIT $2"
    );
    let mut query = sqlx::query(&sql).bind(sequence).bind(limit);
    if let Some(order_id) = order_id {
        query = query.bind(order_id);
    }
    let mut events = query
        .fetch_all(db)
        .await?
        .iter()
        .map(stored)
        .collect::<Result<Vec<_>, _>>()?;
    if backwards {
        events.reverse();
    }
    Ok(events)
}

/// The last sequence written (0 when none).
pub async fn last_sequence<'c>(db: impl Executor<'c, Database = Any>) -> Result<i64, sqlx::Error> {
    let row = sqlx::query("SELECT COALESCE(MAX(seq), 0) AS last FROM outbox")
        .fetch_one(db)
        .await?;
    row.try_get("last")
}

/// The next events to publish: the oldest unpublished event of each order
/// (so two events of one order are never in flight at once, and Kafka gets
/// them in order), oldest first.
pub async fn next_to_publish<'c>(
    db: impl Executor<'c, Database = Any>,
    limit: i64,
) -> Result<Vec<Stored>, sqlx::Error> {
    let sql = format!(
        "SELECT {COLUMNS} FROM outbox WHERE seq IN (SELECT MIN(seq) FROM outbox \
         WHERE published_at IS NULL GROUP BY order_id) ORDER BY seq LIMIT $1"
    );
    sqlx::query(&sql)
        .bind(limit)
        .fetch_all(db)
        .await?
        .iter()
        .map(stored)
        .collect()
}

/// Marks events published.
pub async fn mark_published<'c>(
    db: impl Executor<'c, Database = Any>,
    sequences: &[i64],
) -> Result<(), sqlx::Error> {
    if sequences.is_empty() {
        return Ok(());
    }
    let marks: Vec<String> = (0..sequences.len())
        .map(|i| format!("${}", i + 2))
        .collect();
    let sql = format!(
        "UPDATE outbox SET published_at = $1 WHERE seq IN ({})",
        marks.join(", ")
    );
    let mut query = sqlx::query(&sql).bind(now_rfc3339());
    for seq in sequences {
        query = query.bind(*seq);
    }
    query.execute(db).await?;
    Ok(())
}

/// Deletes events published before `before`; never an unpublished one.
pub async fn prune<'c>(
    db: impl Executor<'c, Database = Any>,
    before: &str,
) -> Result<u64, sqlx::Error> {
    let done =
        sqlx::query("DELETE FROM outbox WHERE published_at IS NOT NULL AND published_at < $1")
            .bind(before.to_owned())
            .execute(db)
            .await?;
    Ok(done.rows_affected())
}

/// How many events await publication, and when the oldest was written.
pub async fn backlog<'c>(
    db: impl Executor<'c, Database = Any>,
) -> Result<(i64, Option<String>), sqlx::Error> {
    let row = sqlx::query(
        "SELECT COUNT(*) AS n, MIN(created_at) AS oldest FROM outbox WHERE published_at IS NULL",
    )
    .fetch_one(db)
    .await?;
    Ok((row.try_get("n")?, row.try_get("oldest")?))
}

/// The PostgreSQL advisory lock of the one replica that relays.
const RELAY_LOCK: i64 = 0x5348_4f50_0002;

/// With PostgreSQL, replicas share the outbox: one of them relays, holding
/// a session advisory lock on a connection of its own (released when that
/// connection or process dies, so another replica takes over), which keeps
/// each order's events in order on the topic.
#[derive(Default)]
pub struct Leadership {
    connection: Option<sqlx::AnyConnection>,
}

impl Leadership {
    /// Whether this replica holds (or now takes) the relay's lock.
    pub async fn held(&mut self, db: &Db) -> bool {
        if let Some(conn) = self.connection.as_mut() {
            if sqlx::query("SELECT 1").execute(&mut *conn).await.is_ok() {
                return true;
            }
            // The connection broke: the lock went with it.
            self.connection = None;
        }
        // A connection of its own: the lock lasts as long as its session.
        let Some(Ok(mut conn)) = db.reader.detached().await else {
            return false;
        };
        let got = sqlx::query("SELECT pg_try_advisory_lock($1) AS got")
            .bind(RELAY_LOCK)
            .fetch_one(&mut conn)
            .await
            .and_then(|row| sqlx::Row::try_get::<bool, _>(&row, "got"));
        if matches!(got, Ok(true)) {
            tracing::info!("this replica relays the outbox");
            self.connection = Some(conn);
            true
        } else {
            false
        }
    }
}
