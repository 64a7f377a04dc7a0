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
use tokio_util::sync::CancellationToken;

use crate::events::{self, Feed};

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
        let metrics = OutboxMetrics {
            backlog: IntGauge::new("outbox_backlog", "Order events not yet published to Kafka")
                .expect("valid metric"),
            oldest_age: Gauge::new(
                "outbox_oldest_unpublished_age_seconds",
                "Age of the oldest event not yet published (0 when none)",
            )
            .expect("valid metric"),
            published: IntCounter::new(
                "outbox_events_published_total",
                "Order events published to Kafka",
            )
            .expect("valid metric"),
            errors: IntCounter::new(
                "outbox_publish_errors_total",
                "Failed attempts to publish an event",
            )
            .expect("valid metric"),
        };
        for collector in [
            Box::new(metrics.backlog.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(metrics.oldest_age.clone()),
            Box::new(metrics.published.clone()),
            Box::new(metrics.errors.clone()),
        ] {
            registry
                .register(collector)
                .expect("metric registered once");
        }
        metrics
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
        let batch = events::next_to_publish(&db.writer, 500)
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
        events::mark_published(&db.writer, &delivered)
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
    if let Ok((count, oldest)) = events::backlog(&db.reader).await {
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
    let mut publisher = None;
    let mut backoff = Duration::from_millis(200);
    let mut last_prune = tokio::time::Instant::now() - Duration::from_secs(3600);
    // The gauges stay current even while a send waits on a dead broker.
    let gauges = {
        let (db, metrics, shutdown) = (db.clone(), metrics.clone(), shutdown.clone());
        tokio::spawn(async move {
            loop {
                refresh_gauges(&db, &metrics).await;
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_millis(250)) => {}
                }
            }
        })
    };
    let mut leadership = Leadership::default();
    loop {
        if settings.kafka.is_some() && db.is_postgres() && !leadership.held(&db).await {
            // Another replica relays; check again shortly.
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
            }
        }
        if last_prune.elapsed() > Duration::from_secs(60) {
            last_prune = tokio::time::Instant::now();
            let before = chrono::Utc::now()
                - chrono::Duration::from_std(settings.retention)
                    .unwrap_or(chrono::Duration::days(7));
            let before = before.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
            match events::prune(&db.writer, &before).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(pruned = n, "pruned published events"),
                Err(err) => tracing::warn!(error = %err, "cannot prune the outbox"),
            }
        }

        let round = match (&settings.kafka, &mut publisher) {
            (None, _) => Ok(0),
            (Some(kafka), None) => match Publisher::new(kafka.clone()) {
                Ok(created) => {
                    publisher = Some(created);
                    continue;
                }
                Err(err) => Err(format!("cannot create the Kafka producer: {err}")),
            },
            (Some(_), Some(publisher)) => publisher.publish_round(&db, &metrics).await,
        };
        let healthy = round.is_ok();
        let pause = match round {
            Ok(0) => {
                backoff = Duration::from_millis(200);
                Duration::from_millis(500)
            }
            Ok(_) => {
                backoff = Duration::from_millis(200);
                continue;
            }
            Err(err) => {
                // Start over with a new producer: after a broker restart the
                // old one's idempotence state (producer id, sequences) may be
                // unknown to the broker, and the topic may be gone.
                publisher = None;
                tracing::warn!(error = %err, retry_in_ms = backoff.as_millis() as u64, "event relay");
                let pause = backoff;
                backoff = (backoff * 2).min(Duration::from_secs(10));
                pause
            }
        };
        tokio::select! {
            _ = shutdown.cancelled() => break,
            // New events wake a healthy relay at once; a failing one backs off.
            _ = feed.written.notified(), if healthy && settings.kafka.is_some() => {}
            _ = tokio::time::sleep(pause) => {}
        }
    }
    let _ = gauges.await;
}

/// The PostgreSQL advisory lock of the one replica that relays.
const RELAY_LOCK: i64 = 0x5348_4f50_0002;

/// With PostgreSQL, replicas share the outbox: one of them relays, holding
/// a session advisory lock on a connection of its own (released when that
/// connection or process dies, so another replica takes over), which keeps
/// each order's events in order on the topic.
#[derive(Default)]
struct Leadership {
    connection: Option<sqlx::AnyConnection>,
}

impl Leadership {
    async fn held(&mut self, db: &Db) -> bool {
        if let Some(conn) = self.connection.as_mut() {
            if sqlx::query("SELECT 1").execute(&mut *conn).await.is_ok() {
                return true;
            }
            // The connection broke: the lock went with it.
            self.connection = None;
        }
        let Ok(conn) = db.writer.acquire().await else {
            return false;
        };
        let mut conn = conn.detach();
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
