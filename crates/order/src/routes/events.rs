//! Reading order events over HTTP.
//!
//! Every change to an order writes its event into the outbox in the same
//! transaction ([`crate::store::outbox::record`]), so an event exists
//! exactly when its change does. The relay ([`crate::relay`]) publishes the
//! outbox to Kafka when a broker is configured; with or without one,
//! `GET /events` pages through it and `GET /events/stream` follows it as
//! server-sent events, resuming from `Last-Event-ID`.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures::Stream;
use serde::Deserialize;
use shop_common::error::ErrorBody;
use shop_common::extract::{Json, Query};
use shop_common::ApiError;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::domain::OrderEvent;
use crate::store::outbox::{self, Stored};
use crate::AppState;

/// The event routes, each declared once for the router and the document.
pub fn router(state: AppState) -> OpenApiRouter {
    OpenApiRouter::new()
        .routes(routes!(list_events))
        .routes(routes!(stream_events))
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
    let events = outbox::after(&state.db.reader, after, limit).await?;
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
        None => outbox::last_sequence(&state.db.reader).await?,
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
                match outbox::after(&state.db.reader, last, 100).await {
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
