//! The relay: publishes the outbox to Kafka, at least once, in order per
//! order, and keeps the outbox metrics.
//!
//! It runs beside the API and never blocks it: a broker that is down or
//! slow only delays events. Each round takes the oldest unpublished event of
//! each order (so one order never has two events in flight and Kafka
//! receives them in order), sends them with an idempotent producer
//! (`acks=all`), keyed by order id, and marks published only what the
//! broker acknowledged. Failures back off and retry with a new producer,
//! creating the topic again if it went missing. Published events are pruned after the retention period.

use std::time::Duration;

use futures::future::join_all;
use prometheus::{Gauge, IntCounter, IntGauge, Registry};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{FutureProducer, FutureRecord};
use shop_common::db::Db;
use shop_common::metrics::{counter, gauge, registered};
use tokio_util::sync::CancellationToken;

use crate::feed::Feed;
use crate::store::outbox::{self, Leadership};

/// Where and how events are published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaSettings {
    /// `KAFKA_BOOTSTRAP_SERVERS`, e.g. `kafka:9092`.
    pub bootstrap: String,
    /// `KAFKA_TOPIC`, default `order-events`.
    pub topic: String,
    /// `KAFKA_PARTITIONS` of a topic the relay creates, default 3.
    pub partitions: i32,
    /// `KAFKA_REPLICATION_FACTOR` of a topic the relay creates, default 1.
    pub replication: i32,
}

/// Outbox settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxSettings {
    /// `None` without `KAFKA_BOOTSTRAP_SERVERS`: events stay in the outbox.
    pub kafka: Option<KafkaSettings>,
    /// `OUTBOX_RETENTION_HOURS` (default 168): how long published events stay.
    pub retention: Duration,
}

/// The outbox's Prometheus metrics.
#[derive(Debug, Clone)]
pub struct OutboxMetrics {
    backlog: IntGauge,
    oldest_age: Gauge,
    published: IntCounter,
    errors: IntCounter,
}

impl OutboxMetrics {
    pub fn register(registry: &Registry) -> OutboxMetrics {
        OutboxMetrics {
            backlog: gauge(
                registry,
                "outbox_backlog",
                "Order events not yet published to Kafka",
            ),
            oldest_age: registered(
                registry,
                Gauge::new(
                    "outbox_oldest_unpublished_age_seconds",
                    "Age of the oldest event not yet published (0 when none)",
                )
                .expect("a valid metric definition"),
            ),
            published: counter(
                registry,
                "outbox_events_published_total",
                "Order events published to Kafka",
            ),
            errors: counter(
                registry,
                "outbox_publish_errors_total",
                "Failed attempts to publish an event",
            ),
        }
    }
}

/// A Kafka producer and admin client for one topic.
struct Publisher {
    settings: KafkaSettings,
    producer: FutureProducer,
    admin: AdminClient<DefaultClientContext>,
    topic_ready: bool,
}

impl Publisher {
    fn new(settings: KafkaSettings) -> Result<Publisher, KafkaError> {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &settings.bootstrap)
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("message.timeout.ms", "5000")
            .set("linger.ms", "5")
            .set("log_level", "3");
        Ok(Publisher {
            producer: config.create()?,
            admin: config.create()?,
            settings,
            topic_ready: false,
        })
    }

    /// Creates the topic unless it exists.
    async fn ensure_topic(&mut self) -> Result<(), String> {
        let topic = NewTopic::new(
            &self.settings.topic,
            self.settings.partitions,
            TopicReplication::Fixed(self.settings.replication),
        );
        let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(5)));
        let results = self
            .admin
            .create_topics([&topic], &options)
            .await
            .map_err(|err| format!("cannot create topic {}: {err}", self.settings.topic))?;
        for result in results {
            match result {
                Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((name, code)) => return Err(format!("cannot create topic {name}: {code}")),
            }
        }
        self.topic_ready = true;
        Ok(())
    }

    /// Publishes one round; the number of events published.
    async fn publish_round(&mut self, db: &Db, metrics: &OutboxMetrics) -> Result<usize, String> {
        if !self.topic_ready {
            self.ensure_topic().await?;
        }
        let batch = outbox::next_to_publish(&db.writer, 500)
            .await
            .map_err(|err| format!("cannot read the outbox: {err}"))?;
        if batch.is_empty() {
            return Ok(0);
        }
        let messages: Vec<(i64, String, String)> = batch
            .iter()
            .map(|stored| {
                let payload = serde_json::to_string(&stored.event).unwrap_or_default();
                (stored.event.sequence, stored.order_id.to_string(), payload)
            })
            .collect();
        let sends = messages.iter().map(|(_, key, payload)| {
            let record = FutureRecord::to(&self.settings.topic)
                .key(key)
                .payload(payload);
            self.producer.send(record, Duration::from_secs(15))
        });
        let results = join_all(sends).await;
        let mut delivered = Vec::with_capacity(results.len());
        let mut first_error = None;
        for ((sequence, _, _), result) in messages.iter().zip(results) {
            match result {
                Ok(_) => delivered.push(*sequence),
                Err((err, _)) => {
                    metrics.errors.inc();
                    first_error.get_or_insert(err);
                }
            }
        }
        outbox::mark_published(&db.writer, &delivered)
            .await
            .map_err(|err| format!("cannot mark events published: {err}"))?;
        metrics.published.inc_by(delivered.len() as u64);
        match first_error {
            None => Ok(delivered.len()),
            Some(err) => Err(format!(
                "{} of {} events not published: {err}",
                messages.len() - delivered.len(),
                messages.len()
            )),
        }
    }
}

async fn refresh_gauges(db: &Db, metrics: &OutboxMetrics) {
    if let Ok((count, oldest)) = outbox::backlog(&db.reader).await {
        metrics.backlog.set(count);
        let age = oldest
            .and_then(|at| chrono::DateTime::parse_from_rfc3339(&at).ok())
            .map(|at| (chrono::Utc::now() - at.with_timezone(&chrono::Utc)).num_milliseconds())
            .map_or(0.0, |ms| ms.max(0) as f64 / 1000.0);
        metrics.oldest_age.set(age);
    }
}

/// Runs until `shutdown`: publishes when Kafka is configured, prunes, and
/// keeps the gauges current.
pub async fn run(
    db: Db,
    settings: OutboxSettings,
    metrics: OutboxMetrics,
    feed: Feed,
    shutdown: CancellationToken,
) {
    let gauges = tokio::spawn(keep_gauges(db.clone(), metrics.clone(), shutdown.clone()));
    let mut relay = Relay {
        db,
        settings,
        metrics,
        publisher: None,
        backoff: MIN_BACKOFF,
        last_prune: None,
        leadership: Leadership::default(),
    };
    loop {
        let pause = if relay.leads().await {
            relay.prune_when_due().await;
            match relay.round().await {
                Next::Again => continue,
                Next::Wait(pause) => pause,
            }
        } else {
            // Another replica relays; check again shortly.
            Pause::Fixed(Duration::from_secs(1))
        };
        let wake_on_events = matches!(pause, Pause::UntilEvents(_));
        let pause = match pause {
            Pause::UntilEvents(pause) | Pause::Fixed(pause) => pause,
        };
        tokio::select! {
            _ = shutdown.cancelled() => break,
            // New events wake a healthy relay at once; a failing one backs off.
            _ = feed.written.notified(), if wake_on_events => {}
            _ = tokio::time::sleep(pause) => {}
        }
    }
    let _ = gauges.await;
}

const MIN_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// How often published events past the retention period are deleted.
const PRUNE_EVERY: Duration = Duration::from_secs(60);

/// The gauges stay current even while a send waits on a dead broker.
async fn keep_gauges(db: Db, metrics: OutboxMetrics, shutdown: CancellationToken) {
    loop {
        let started = tokio::time::Instant::now();
        refresh_gauges(&db, &metrics).await;
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(gauge_pause(started.elapsed())) => {}
        }
    }
}

/// How long the gauges rest after a refresh that took `took`: every
/// 250 ms, or less often as the backlog grows. Counting it reads every
/// unpublished event (about 300 ms for a million on SQLite, which `shop up`
/// without Kafka reaches, and so does a long broker outage), so refreshes
/// take at most a twentieth of a connection's time, however long it grows.
fn gauge_pause(took: Duration) -> Duration {
    (took * 19).max(Duration::from_millis(250))
}

/// What to do after a round.
enum Next {
    /// Events were published: look for more at once.
    Again,
    Wait(Pause),
}

/// How long to wait before the next round.
enum Pause {
    /// Up to this long, or until new events are written.
    UntilEvents(Duration),
    /// This long (backing off after a failure).
    Fixed(Duration),
}

/// The relay's state between rounds.
struct Relay {
    db: Db,
    settings: OutboxSettings,
    metrics: OutboxMetrics,
    /// Made on first use, and anew after any failure.
    publisher: Option<Publisher>,
    backoff: Duration,
    last_prune: Option<tokio::time::Instant>,
    leadership: Leadership,
}

impl Relay {
    /// Whether this replica relays: always on SQLite or without Kafka; on
    /// PostgreSQL with Kafka, the one replica holding the relay lock.
    async fn leads(&mut self) -> bool {
        self.settings.kafka.is_none()
            || !self.db.is_postgres()
            || self.leadership.held(&self.db).await
    }

    /// Deletes published events past the retention period, once a minute.
    async fn prune_when_due(&mut self) {
        if self.last_prune.is_some_and(|at| at.elapsed() < PRUNE_EVERY) {
            return;
        }
        self.last_prune = Some(tokio::time::Instant::now());
        let retention = chrono::Duration::from_std(self.settings.retention)
            .unwrap_or(chrono::Duration::days(7));
        let before = shop_common::rfc3339(chrono::Utc::now() - retention);
        match outbox::prune(&self.db.writer, &before).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(pruned = n, "pruned published events"),
            Err(err) => tracing::warn!(error = %err, "cannot prune the outbox"),
        }
    }

    /// Publishes one batch (making the producer first when there is none).
    async fn round(&mut self) -> Next {
        let Some(kafka) = self.settings.kafka.clone() else {
            return Next::Wait(Pause::Fixed(Duration::from_millis(500)));
        };
        let published = match &mut self.publisher {
            None => match Publisher::new(kafka) {
                Ok(created) => {
                    self.publisher = Some(created);
                    return Next::Again;
                }
                Err(err) => Err(format!("cannot create the Kafka producer: {err}")),
            },
            Some(publisher) => publisher.publish_round(&self.db, &self.metrics).await,
        };
        match published {
            Ok(0) => {
                self.backoff = MIN_BACKOFF;
                Next::Wait(Pause::UntilEvents(Duration::from_millis(500)))
            }
            Ok(_) => {
                self.backoff = MIN_BACKOFF;
                Next::Again
            }
            Err(err) => Next::Wait(Pause::Fixed(self.failed(&err))),
        }
    }

    /// After a failure: start over with a new producer (after a broker
    /// restart the old one's idempotence state may be unknown to the
    /// broker, and the topic may be gone) after a growing pause.
    fn failed(&mut self, err: &str) -> Duration {
        self.publisher = None;
        tracing::warn!(error = %err, retry_in_ms = self.backoff.as_millis() as u64, "event relay");
        let pause = self.backoff;
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
        pause
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_costly_gauge_refresh_rests_longer() {
        assert_eq!(
            gauge_pause(Duration::from_millis(2)),
            Duration::from_millis(250)
        );
        assert_eq!(
            gauge_pause(Duration::from_millis(300)),
            Duration::from_millis(5700)
        );
    }
}
