//! Order events: the transactional outbox, and reading it over HTTP.
//!
//! Every change to an order writes its event into the `outbox` table in the
//! same transaction ([`record`]), so an event exists exactly when its change
//! does. The relay ([`crate::relay`]) publishes the outbox to Kafka when a
//! broker is configured; with or without one, `GET /events` pages through
//! it and `GET /events/stream` follows it as server-sent events, resuming
//! from `Last-Event-ID`.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::routing::get;
use axum::Router;
use futures::Stream;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use shop_common::error::ErrorBody;
use shop_common::extract::{Json, Query};
use shop_common::{now_rfc3339, ApiError};
use sqlx::any::AnyRow;
use sqlx::{Any, AnyConnection, Executor, Row};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use utoipa::{IntoParams, ToSchema};

use crate::domain::{Order, OrderStatus};
use crate::AppState;

/// What happened to an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EventType {
    OrderCreated,
    OrderStatusUpdated,
    OrderPaid,
    OrderPaymentFailed,
    OrderCancelled,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::OrderCreated => "order_created",
            EventType::OrderStatusUpdated => "order_status_updated",
            EventType::OrderPaid => "order_paid",
            EventType::OrderPaymentFailed => "order_payment_failed",
            EventType::OrderCancelled => "order_cancelled",
        }
    }
}

/// An event as published and served: the seed's shape plus `event_id` (for
/// de-duplication) and `sequence` (the outbox position).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct OrderEvent {
    /// UUID v4; a redelivered event keeps its id.
    pub event_id: String,
    pub event_type: String,
    /// RFC 3339, UTC: when the change was committed.
    pub timestamp: String,
    /// Increases with every event.
    pub sequence: i64,
    /// `order_id`, `user_id`, `total_amount`, `status`, and per type:
    /// `items` (created), `previous_status` (status updated, cancelled),
    /// `payment_id` (paid, payment failed).
    #[schema(value_type = Object)]
    pub data: Value,
}

/// The PostgreSQL advisory lock that orders outbox writers.
const OUTBOX_WRITE_LOCK: i64 = 0x5348_4f50_0001;

/// Writes the event of a change to `order`, in the caller's transaction.
pub async fn record(
    conn: &mut AnyConnection,
    event_type: EventType,
    order: &Order,
    extra: Value,
) -> Result<(), sqlx::Error> {
    let mut data = json!({
        "order_id": order.id,
        "user_id": order.user_id,
        "total_amount": order.total_amount,
        "status": order.status,
    });
    if let (Some(data), Value::Object(extra)) = (data.as_object_mut(), extra) {
        data.extend(extra);
    }
    if conn.backend_name() == "PostgreSQL" {
        // Sequences are handed out at insert but become visible at commit;
        // one writer at a time (until its commit) makes them visible in
        // order, so a reader following `after=N` never skips an event.
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(OUTBOX_WRITE_LOCK)
            .execute(&mut *conn)
            .await?;
    }
    sqlx::query(
        "INSERT INTO outbox (event_id, order_id, event_type, data, created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(uuid::Uuid::new_v4().to_string())
    .bind(order.id)
    .bind(event_type.as_str())
    .bind(data.to_string())
    .bind(now_rfc3339())
    .execute(conn)
    .await?;
    Ok(())
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
    Ok(Stored {
        order_id: row.try_get("order_id")?,
        event: OrderEvent {
            event_id: row.try_get("event_id")?,
            event_type: row.try_get("event_type")?,
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
    let sql = format!("SELECT {COLUMNS} FROM outbox WHERE seq > $1 ORDER BY seq LIMIT $2");
    sqlx::query(&sql)
        .bind(sequence)
        .bind(limit)
        .fetch_all(db)
        .await?
        .iter()
        .map(stored)
        .collect()
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

/// Wakes event streams when this process commits events (streams also poll,
/// for events written by other replicas).
#[derive(Debug, Clone, Default)]
pub struct Feed {
    pub written: Arc<Notify>,
    /// Ends every stream when the service shuts down.
    pub stopping: CancellationToken,
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/events", get(list_events))
        .route("/events/stream", get(stream_events))
        .with_state(state)
}

/// Query of `GET /events` and `GET /events/stream`.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// Only events with a larger sequence (default 0; for the stream: the
    /// latest, unless `Last-Event-ID` is sent).
    pub after: Option<i64>,
    /// At most this many, 1 to 1000 (default 100). Not for the stream.
    pub limit: Option<i64>,
}

/// Order events after a sequence, oldest first.
#[utoipa::path(get, path = "/events", tag = "events", params(EventsQuery),
    responses(
        (status = 200, description = "Events, oldest first", body = [OrderEvent]),
        (status = 422, description = "Bad query", body = ErrorBody)))]
pub async fn list_events(
    State(state): State<AppState>,
    Query(query): Query<EventsQuery>,
) -> Result<Json<Vec<OrderEvent>>, ApiError> {
    let after = query.after.unwrap_or(0);
    let limit = query.limit.unwrap_or(100);
    if after < 0 || !(1..=1000).contains(&limit) {
        return Err(ApiError::Unprocessable(
            "after must not be negative and limit must be from 1 to 1000".to_owned(),
        ));
    }
    let events = self::after(&state.db.reader, after, limit).await?;
    Ok(Json(events.into_iter().map(|s| s.event).collect()))
}

/// Order events as server-sent events (`id` = sequence, `data` = the event).
/// Reconnecting clients resume after their `Last-Event-ID`.
#[utoipa::path(get, path = "/events/stream", tag = "events",
    params(EventsQuery, ("Last-Event-ID" = Option<i64>, Header, description = "Resume after this sequence")),
    responses(
        (status = 200, description = "text/event-stream of OrderEvent", content_type = "text/event-stream"),
        (status = 422, description = "Bad query or Last-Event-ID", body = ErrorBody)))]
pub async fn stream_events(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<EventsQuery>,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    let resume = match headers.get("last-event-id") {
        None => None,
        Some(value) => Some(
            value
                .to_str()
                .ok()
                .and_then(|v| v.trim().parse::<i64>().ok())
                .filter(|v| *v >= 0)
                .ok_or_else(|| {
                    ApiError::Unprocessable("Last-Event-ID must be a sequence number".to_owned())
                })?,
        ),
    };
    let start = match resume.or(query.after) {
        Some(after) if after >= 0 => after,
        Some(_) => {
            return Err(ApiError::Unprocessable(
                "after must not be negative".to_owned(),
            ))
        }
        None => last_sequence(&state.db.reader).await?,
    };
    let stream = futures::stream::unfold(
        (state, start, Vec::<Stored>::new()),
        |(state, mut last, mut pending)| async move {
            loop {
                if !pending.is_empty() {
                    let next = pending.remove(0);
                    last = next.event.sequence;
                    let event = SseEvent::default()
                        .id(last.to_string())
                        .json_data(&next.event)
                        .unwrap_or_else(|_| SseEvent::default().comment("unencodable event"));
                    return Some((Ok(event), (state, last, pending)));
                }
                match after(&state.db.reader, last, 100).await {
                    Ok(batch) if !batch.is_empty() => {
                        pending = batch;
                        continue;
                    }
                    Ok(_) => {}
                    Err(err) => tracing::warn!(error = %err, "event stream cannot read the outbox"),
                }
                let woken = state.feed.written.notified();
                tokio::select! {
                    _ = state.feed.stopping.cancelled() => return None,
                    _ = woken => {}
                    _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                }
            }
        },
    );
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}
