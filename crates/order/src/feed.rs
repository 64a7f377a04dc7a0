//! Follows the outbox for this process: wakes the relay when this process
//! commits events, and hands new events to every event stream.
//!
//! One task per process (the tail, [`Feed::run_tail`]) reads the outbox
//! after the last event it saw, when this process commits events while a
//! stream is open and every [`TAIL_POLL`] (for events other replicas
//! write), and broadcasts each event, already encoded, to the streams. A write therefore costs one
//! query however many streams are open; a stream reads the outbox itself
//! only to catch up (when it starts, or when it fell more than
//! [`BACKLOG`] events behind).

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use shop_common::db::Connections;
use tokio::sync::{broadcast, Notify};
use tokio_util::sync::CancellationToken;

use crate::store::outbox::{self, Stored};

/// How often the tail looks for events written by other replicas.
pub const TAIL_POLL: Duration = Duration::from_millis(500);

/// Events a stream may fall behind the tail before it catches up from the
/// outbox instead.
pub const BACKLOG: usize = 1024;

/// Events the tail reads per query.
const TAIL_BATCH: i64 = 500;

/// One event as a stream sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub sequence: i64,
    /// The user whose order the event is about (a customer's stream holds
    /// only theirs).
    pub user_id: Option<String>,
    /// The server-sent event: `id: <sequence>`, `data: <the event as
    /// JSON, on one line>`, a blank line.
    pub frame: Bytes,
}

impl Line {
    pub fn of(stored: &Stored) -> Line {
        let sequence = stored.event.sequence;
        let json = serde_json::to_string(&stored.event)
            .unwrap_or_else(|_| format!("{{\"sequence\":{sequence}}}"));
        Line {
            sequence,
            user_id: stored.event.user_id().map(str::to_owned),
            frame: Bytes::from(format!("id: {sequence}\ndata: {json}\n\n")),
        }
    }
}

/// What follows the outbox in this process.
#[derive(Debug, Clone)]
pub struct Feed {
    /// Woken when this process commits events (the relay waits on it).
    pub written: Arc<Notify>,
    /// Ends the tail and every stream when the service shuts down.
    pub stopping: CancellationToken,
    tail_woken: Arc<Notify>,
    lines: broadcast::Sender<Arc<Line>>,
}

impl Default for Feed {
    fn default() -> Self {
        Feed {
            written: Arc::default(),
            stopping: CancellationToken::new(),
            tail_woken: Arc::default(),
            lines: broadcast::channel(BACKLOG).0,
        }
    }
}

impl Feed {
    /// Says this process committed events.
    pub fn wrote(&self) {
        self.written.notify_waiters();
        // Kept as a permit if the tail is busy reading: it reads again.
        self.tail_woken.notify_one();
    }

    /// New events from now on, in order (see [`Feed::run_tail`]). The
    /// tail, which may be up to [`TAIL_POLL`] behind while no stream was
    /// open, reads at once.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Line>> {
        let live = self.lines.subscribe();
        self.tail_woken.notify_one();
        live
    }

    /// Reads new events and broadcasts them until the feed stops. Every
    /// event is broadcast once, in sequence order (the outbox makes events
    /// visible in that order on both backends).
    pub async fn run_tail(self, reader: Connections) {
        let mut last = loop {
            match outbox::last_sequence(&reader).await {
                Ok(last) => break last,
                Err(err) => tracing::warn!(error = %err, "event tail cannot read the outbox"),
            }
            if self.pause().await.is_none() {
                return;
            }
        };
        loop {
            match outbox::after(&reader, last, TAIL_BATCH).await {
                Ok(batch) => {
                    let full = batch.len() as i64 == TAIL_BATCH;
                    for stored in &batch {
                        last = stored.event.sequence;
                        // No stream open: nobody to tell.
                        let _ = self.lines.send(Arc::new(Line::of(stored)));
                    }
                    if full {
                        continue;
                    }
                }
                Err(err) => tracing::warn!(error = %err, "event tail cannot read the outbox"),
            }
            if self.pause().await.is_none() {
                return;
            }
        }
    }

    /// Waits for the poll interval, the end (`None`), or a write while a
    /// stream is open: with none open, nobody waits for the next event,
    /// and the tail keeps up by the poll alone (one query per interval,
    /// not one per write).
    async fn pause(&self) -> Option<()> {
        let poll = tokio::time::sleep(TAIL_POLL);
        tokio::pin!(poll);
        loop {
            tokio::select! {
                _ = self.stopping.cancelled() => return None,
                _ = &mut poll => return Some(()),
                _ = self.tail_woken.notified() => {
                    if self.lines.receiver_count() > 0 {
                        return Some(());
                    }
                }
            }
        }
    }
}
