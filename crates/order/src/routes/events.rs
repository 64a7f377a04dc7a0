//! Reading order events over HTTP.
//!
//! Every change to an order writes its event into the outbox in the same
//! transaction ([`crate::store::outbox::record`]), so an event exists
//! exactly when its change does. The relay ([`crate::relay`]) publishes the
//! outbox to Kafka when a broker is configured; with or without one,
//! `GET /events` pages through it and `GET /events/stream` follows it as
//! server-sent events, resuming from `Last-Event-ID`: each stream catches
//! up from the outbox, then takes new events from the process's one tail
//! ([`crate::feed`]), so open streams cost no queries of their own.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde::Deserialize;
use shop_common::access::SignedIn;
use shop_common::db::Connections;
use shop_common::error::ErrorBody;
use shop_common::extract::{Json, Query};
use shop_common::streams::StreamPermit;
use shop_common::ApiError;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::domain::OrderEvent;
use crate::feed::{Line, TAIL_POLL};
use crate::store::outbox::{self, Reading};
use crate::AppState;

/// The event routes, each declared once for the router and the document.
pub fn router(state: AppState) -> OpenApiRouter {
    OpenApiRouter::new()
        .routes(routes!(list_events))
        .routes(routes!(stream_events))
        .with_state(state)
}

/// Query of `GET /events`.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// Only events with a larger sequence (default 0).
    pub after: Option<i64>,
    /// At most this many, 1 to 1000 (default 100).
    pub limit: Option<i64>,
    /// `true`: the latest `limit` events (still oldest first), to fill a
    /// feed on load; not with `after`.
    pub last: Option<bool>,
    /// Only this order's events (a customer's own orders only).
    pub order_id: Option<i64>,
}

/// Query of `GET /events/stream`.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StreamQuery {
    /// Only events with a larger sequence (default: the latest, unless
    /// `Last-Event-ID` is sent).
    pub after: Option<i64>,
}

/// How many events a customer's list reads per query while it picks out
/// theirs.
const SCAN_BATCH: i64 = 1000;

/// Order events after a sequence, or the latest, oldest first; everyone's
/// (staff), a customer's own, or one order's. Events are kept
/// `OUTBOX_RETENTION_HOURS` after they reached Kafka.
#[utoipa::path(get, path = "/events", tag = "events", params(EventsQuery),
    responses(
        (status = 401, description = "Auth on: no valid access token", body = ErrorBody),
        (status = 200, description = "Events, oldest first", body = [OrderEvent]),
        (status = 404, description = "order_id names no order the caller may see", body = ErrorBody),
        (status = 422, description = "Bad query", body = ErrorBody)))]
pub async fn list_events(
    SignedIn(caller): SignedIn,
    State(state): State<AppState>,
    Query(query): Query<EventsQuery>,
) -> Result<Json<Vec<OrderEvent>>, ApiError> {
    let limit = query.limit.unwrap_or(100);
    let reading = match (query.after, query.last == Some(true)) {
        (Some(_), true) => {
            return Err(ApiError::Unprocessable(
                "Send after or last=true, not both".to_owned(),
            ))
        }
        (_, true) => Reading::Latest(None),
        (after, false) => Reading::After(after.unwrap_or(0)),
    };
    if query.after.is_some_and(|after| after < 0) || !(1..=1000).contains(&limit) {
        return Err(ApiError::Unprocessable(
            "after must not be negative and limit must be from 1 to 1000".to_owned(),
        ));
    }
    let db = &state.db.reader;
    let user = match query.order_id {
        Some(order_id) => {
            // One order's events: the order's owner or staff.
            super::own_order(&state, &caller, order_id).await?;
            None
        }
        None => caller.only_user(),
    };
    let Some(user) = user else {
        let events = outbox::read(db, query.order_id, reading, limit).await?;
        return Ok(Json(events.into_iter().map(|s| s.event).collect()));
    };
    // A customer's events only: read on, forwards after `after` or back
    // from the latest, until `limit` of theirs or the end.
    let mut mine = Vec::new();
    let mut reading = reading;
    loop {
        let mut batch = outbox::read(db, None, reading, SCAN_BATCH).await?;
        let full = batch.len() as i64 == SCAN_BATCH;
        let backwards = matches!(reading, Reading::Latest(_));
        if backwards {
            batch.reverse();
        }
        for stored in batch {
            let sequence = stored.event.sequence;
            reading = if backwards {
                Reading::Latest(Some(sequence))
            } else {
                Reading::After(sequence)
            };
            if stored.event.user_id() == Some(user) {
                mine.push(stored.event);
                if mine.len() as i64 == limit {
                    break;
                }
            }
        }
        if !full || mine.len() as i64 == limit {
            if backwards {
                mine.reverse();
            }
            return Ok(Json(mine));
        }
    }
}

/// Order events as server-sent events (`id` = sequence, `data` = the event).
/// The first message (`retry`, and `id` = where the stream starts) lets a
/// client resume from there even when the stream ends before any event.
/// Reconnecting clients resume after their `Last-Event-ID`. A stream ends
/// after `EVENT_STREAM_MAX_LIFETIME_MS`; at most `EVENT_STREAMS_MAX` are
/// open, `EVENT_STREAMS_PER_CLIENT` per client address (503 beyond).
#[utoipa::path(get, path = "/events/stream", tag = "events",
    params(StreamQuery, ("Last-Event-ID" = Option<i64>, Header, description = "Resume after this sequence")),
    responses(
        (status = 200, description = "text/event-stream of OrderEvent", content_type = "text/event-stream"),
        (status = 422, description = "Bad query or Last-Event-ID", body = ErrorBody),
        (status = 503, description = "Too many streams open (Retry-After)", body = ErrorBody)))]
pub async fn stream_events(
    SignedIn(caller): SignedIn,
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(query): Query<StreamQuery>,
) -> Result<Response, ApiError> {
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
    if query.after.is_some_and(|after| after < 0) {
        return Err(ApiError::Unprocessable(
            "after must not be negative".to_owned(),
        ));
    }
    let permit = match state.streams.admit(peer, &headers) {
        Ok(permit) => permit,
        Err(busy) => return Ok(busy.into_response()),
    };
    // Subscribed before reading the outbox: nothing committed from now on
    // can fall between the catch-up and the live events.
    let live = state.feed.subscribe();
    let last = match resume.or(query.after) {
        Some(after) => after,
        None => outbox::last_sequence(&state.db.reader).await?,
    };
    let follow = Follow {
        reader: state.db.reader.clone(),
        stopping: state.feed.stopping.clone(),
        ends_at: tokio::time::Instant::now() + state.streams.limiter.settings().max_lifetime,
        live,
        last,
        catching_up: true,
        only_user: caller.only_user().map(str::to_owned),
        _permit: permit,
    };
    // The reconnect delay, and where this stream starts: a browser whose
    // stream ends before it sent any event resumes from there (its
    // `Last-Event-ID`), not from whatever is latest when it reconnects.
    let hint = Bytes::from(format!(
        "retry: {}\nid: {last}\n\n",
        RECONNECT_AFTER.as_millis()
    ));
    let frames = futures::stream::once(async move { Ok::<_, Infallible>(hint) }).chain(
        futures::stream::unfold(follow, |mut follow| async move {
            let frames = follow.next().await?;
            Some((Ok(frames), follow))
        }),
    );
    Ok((
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        Body::from_stream(frames),
    )
        .into_response())
}

/// How long a client waits before it reconnects after a stream ended (the
/// `retry` field sent first).
const RECONNECT_AFTER: Duration = Duration::from_secs(1);

/// Events the stream reads per query while it catches up.
const CATCH_UP_BATCH: i64 = 100;

/// After a new event, how long a stream gathers more before it writes them
/// all at once: with many streams open, a burst of events costs each
/// stream one write, not one per event.
const GATHER: Duration = Duration::from_millis(50);

/// A comment sent when nothing happened for this long, so proxies and
/// clients see the stream is alive.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// One stream: catches up from the outbox, then follows the feed's tail.
struct Follow {
    reader: Connections,
    stopping: CancellationToken,
    ends_at: tokio::time::Instant,
    live: broadcast::Receiver<Arc<Line>>,
    /// The last sequence sent.
    last: i64,
    /// Reading the outbox rather than the tail.
    catching_up: bool,
    /// A customer's stream: only their orders' events.
    only_user: Option<String>,
    _permit: StreamPermit,
}

impl Follow {
    /// The next bytes to send: events after `last` (each an SSE message
    /// encoded once, by the tail), or a keep-alive comment; `None` when
    /// the stream ends.
    async fn next(&mut self) -> Option<Bytes> {
        loop {
            if self.catching_up {
                match outbox::after(&self.reader, self.last, CATCH_UP_BATCH).await {
                    Ok(batch) => {
                        self.catching_up = batch.len() as i64 == CATCH_UP_BATCH;
                        let lines: Vec<Arc<Line>> = batch
                            .iter()
                            .map(|stored| Arc::new(Line::of(stored)))
                            .collect();
                        if let Some(frames) = self.frames(&lines) {
                            return Some(frames);
                        }
                        continue;
                    }
                    Err(err) => {
                        tracing::warn!(error = %err, "event stream cannot read the outbox");
                        self.pause(TAIL_POLL).await?;
                        continue;
                    }
                }
            }
            let first = tokio::select! {
                _ = self.stopping.cancelled() => return None,
                _ = tokio::time::sleep_until(self.ends_at) => return None,
                _ = tokio::time::sleep(KEEP_ALIVE) => return Some(Bytes::from_static(b":\n\n")),
                received = self.live.recv() => received,
            };
            let mut lines = match first {
                Ok(line) => vec![line],
                // Fell behind the tail: read what was missed.
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    self.catching_up = true;
                    continue;
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            };
            self.pause(GATHER).await?;
            loop {
                match self.live.try_recv() {
                    Ok(line) => lines.push(line),
                    Err(broadcast::error::TryRecvError::Lagged(_)) => {
                        self.catching_up = true;
                        break;
                    }
                    Err(_) => break,
                }
            }
            if let Some(frames) = self.frames(&lines) {
                return Some(frames);
            }
        }
    }

    /// The messages of `lines` after `last`, in one buffer; `last` moves on.
    fn frames(&mut self, lines: &[Arc<Line>]) -> Option<Bytes> {
        let mut frames = Vec::new();
        for line in lines {
            if line.sequence > self.last {
                self.last = line.sequence;
                if self.only_user.is_none() || line.user_id == self.only_user {
                    frames.extend_from_slice(&line.frame);
                }
            }
        }
        (!frames.is_empty()).then(|| Bytes::from(frames))
    }

    /// Waits `wait`; `None` when the stream must end first.
    async fn pause(&self, wait: Duration) -> Option<()> {
        tokio::select! {
            _ = self.stopping.cancelled() => None,
            _ = tokio::time::sleep_until(self.ends_at) => None,
            _ = tokio::time::sleep(wait) => Some(()),
        }
    }
}
