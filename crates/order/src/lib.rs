//! The order service: orders and their payment (port 8003).
//!
//! Layers, each using only those below it:
//!
//! - [`routes`]: the HTTP handlers (orders; [`routes::events`]: the event
//!   feed and its stream; [`routes::stats`]). Extract, call, map.
//! - [`workflow`]: checkout, paying, status changes, recovery: the work
//!   across the store and the other services.
//! - [`relay`]: publishes the outbox to Kafka (a background worker).
//! - [`store`]: all SQL, a module per table; [`client`]: the cart, catalog
//!   and payment services; [`keys`]: keys sent to them, unguessable from a
//!   client's; [`feed`]: wakes what follows the outbox.
//! - [`domain`]: the types: orders and the status machine, checkouts,
//!   events; [`stats`]: the figures of `GET /stats`, from one aggregate.
//!
//! The design, with its failure cases: `docs/checkout.md` and
//! `docs/events.md`.

pub mod client;
pub mod domain;
pub mod feed;
pub mod keys;
pub mod metrics;
pub mod relay;
pub mod routes;
pub mod stats;
pub mod store;
pub mod workflow;

use shop_common::access::{Access, AuthSettings};
use shop_common::auth::ServiceToken;
use shop_common::client::{Calls, ServiceClient};
use shop_common::config::{db_settings_from_env, ConfigError, Env, HttpSettings, Listen};
use shop_common::db::{Db, DbSettings};
use shop_common::service::{Service, StartError};
use shop_common::streams::{StreamGate, StreamSettings, TrustedProxies, PRIVATE_NETWORKS};
use utoipa::OpenApi;

pub const NAME: &str = "order";
pub const DEFAULT_PORT: u16 = 8003;

/// Settings of the order service.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: Listen,
    pub db: DbSettings,
    pub http: HttpSettings,
    /// `SERVICE_TOKEN`: sent to the other services, required on the
    /// service-only endpoint.
    pub service_token: Option<ServiceToken>,
    /// `CART_SERVICE_URL`, default `http://cart-service:8002`.
    pub cart_url: String,
    /// `CATALOG_SERVICE_URL`, default `http://catalog-service:8001`.
    pub catalog_url: String,
    /// `PAYMENT_SERVICE_URL`, default `http://payment-service:8004`.
    pub payment_url: String,
    /// `RECOVERY_INTERVAL_MS` (default 1000) and `RECOVERY_STALE_MS`
    /// (default 15000).
    pub recovery: workflow::recovery::RecoverySettings,
    /// Kafka (`KAFKA_*`) and retention of the outbox.
    pub outbox: relay::OutboxSettings,
    /// `EVENT_STREAMS_*`: how many event streams, for how long.
    pub streams: StreamSettings,
    /// `TRUSTED_PROXIES` (default: loopback and private networks): whose
    /// `X-Forwarded-For` names the client of a stream.
    pub trusted_proxies: TrustedProxies,
    /// `AUTH` (and where the keys are): with auth on, a customer's orders,
    /// payments and events are theirs.
    pub auth: AuthSettings,
    /// `ORDER_PAYMENT_TIMEOUT` (default 30 minutes; `0`: never): how long an
    /// unpaid order holds its stock before it expires.
    pub payment_timeout: Option<std::time::Duration>,
}

impl Config {
    pub fn from_env(env: &Env) -> Result<Config, ConfigError> {
        Ok(Config {
            listen: Listen::from_env(env, DEFAULT_PORT)?,
            db: db_settings_from_env(env, NAME)?,
            http: HttpSettings::from_env(env)?,
            service_token: ServiceToken::from_env(env)?,
            cart_url: env.url("CART_SERVICE_URL", "http://cart-service:8002")?,
            catalog_url: env.url("CATALOG_SERVICE_URL", "http://catalog-service:8001")?,
            payment_url: env.url("PAYMENT_SERVICE_URL", "http://payment-service:8004")?,
            recovery: workflow::recovery::RecoverySettings {
                interval: env.millis("RECOVERY_INTERVAL_MS", 1_000)?,
                stale_after: env.millis("RECOVERY_STALE_MS", 15_000)?,
            },
            outbox: outbox_settings(env)?,
            streams: StreamSettings::from_env(env)?,
            trusted_proxies: TrustedProxies::from_env(env, PRIVATE_NETWORKS)?,
            auth: AuthSettings::from_env(env)?,
            payment_timeout: payment_timeout(env)?,
        })
    }
}

/// `ORDER_PAYMENT_TIMEOUT`: seconds, or a number with `s`, `m` or `h`
/// (`30m`); `0` keeps unpaid orders forever (as the seed did).
fn payment_timeout(env: &Env) -> Result<Option<std::time::Duration>, ConfigError> {
    const NAME: &str = "ORDER_PAYMENT_TIMEOUT";
    const EXPECTED: &str = "a duration such as 1800, 90s, 30m or 2h (0: never)";
    let raw = env.string(NAME, "30m");
    let raw = raw.trim();
    let (number, unit) = match raw.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => raw.split_at(at),
        None => (raw, "s"),
    };
    let scale = match unit.trim() {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        _ => return Err(env.error(NAME, EXPECTED)),
    };
    let secs = number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(scale))
        .filter(|secs| *secs <= 366 * 24 * 3600)
        .ok_or_else(|| env.error(NAME, EXPECTED))?;
    Ok((secs > 0).then(|| std::time::Duration::from_secs(secs)))
}

fn outbox_settings(env: &Env) -> Result<relay::OutboxSettings, ConfigError> {
    let kafka = match env.get("KAFKA_BOOTSTRAP_SERVERS") {
        None => None,
        Some(bootstrap) => {
            let partitions: i32 =
                env.parse("KAFKA_PARTITIONS", 3, "a number of partitions, at least 1")?;
            let replication: i32 = env.parse(
                "KAFKA_REPLICATION_FACTOR",
                1,
                "a replication factor, at least 1",
            )?;
            if partitions < 1 {
                return Err(env.error("KAFKA_PARTITIONS", "a number of partitions, at least 1"));
            }
            if replication < 1 {
                return Err(env.error(
                    "KAFKA_REPLICATION_FACTOR",
                    "a replication factor, at least 1",
                ));
            }
            Some(relay::KafkaSettings {
                bootstrap: bootstrap.trim().to_owned(),
                topic: env.string("KAFKA_TOPIC", "order-events"),
                partitions,
                replication,
            })
        }
    };
    let hours: u64 = env.parse("OUTBOX_RETENTION_HOURS", 168, "a whole number of hours")?;
    Ok(relay::OutboxSettings {
        kafka,
        retention: std::time::Duration::from_secs(hours * 3600),
    })
}

/// What handlers share.
#[derive(Debug, Clone)]
pub struct AppState {
    pub db: Db,
    pub cart: client::Cart,
    pub catalog: client::Catalog,
    pub payments: client::Payments,
    pub feed: feed::Feed,
    /// Admits event streams.
    pub streams: StreamGate,
    pub keys: keys::KeyDeriver,
    pub service_token: Option<ServiceToken>,
    /// `ORDER_PAYMENT_TIMEOUT`; `None`: unpaid orders never expire.
    pub payment_timeout: Option<std::time::Duration>,
    /// What the business does: orders, revenue, refunds, checkouts.
    pub metrics: metrics::Metrics,
}

impl AppState {
    /// `order` as clients see it (with when it expires, while unpaid).
    pub fn shown(&self, order: domain::Order) -> domain::Order {
        workflow::expiry::shown(self.payment_timeout, order)
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Shop order service",
        description = "Orders from carts, and their payment."
    ),
    components(schemas(
        domain::Order,
        domain::OrderItem,
        domain::OrderStatus,
        domain::RefundStatus,
        domain::NewOrder,
        domain::StatusUpdate,
        domain::PaymentAttempt,
        shop_common::PaymentMethod,
        domain::OrderEvent,
        domain::EventType,
        domain::OrderSort,
        shop_common::paging::SortOrder
    ))
)]
pub struct ApiDoc;

/// The order service's schema migrations, one set per backend.
pub fn migrations() -> shop_common::db::Migrations {
    shop_common::migrations!()
}

/// Opens the database and builds the service.
pub async fn build(config: &Config) -> Result<Service, StartError> {
    let service = Service::with_database(NAME, &config.db, migrations()).await?;
    let db = service.db.clone();
    let calls = Calls::new(config.http, config.service_token.as_ref());
    let keys = keys::KeyDeriver::load(&db.writer).await.map_err(|source| {
        shop_common::db::DbError::Open {
            target: config.db.target.describe(),
            source,
        }
    })?;
    let state = AppState {
        db: db.clone(),
        cart: client::Cart {
            client: ServiceClient::new("cart", &config.cart_url, calls.clone()),
        },
        catalog: client::Catalog {
            client: ServiceClient::new("catalog", &config.catalog_url, calls.clone()),
        },
        payments: client::Payments {
            client: ServiceClient::new("payment", &config.payment_url, calls),
        },
        feed: feed::Feed::default(),
        streams: StreamGate::new(config.streams, config.trusted_proxies.clone()),
        keys,
        service_token: config.service_token.clone(),
        payment_timeout: config.payment_timeout,
        metrics: metrics::Metrics::register(&service.metrics.registry),
    };
    let outbox_metrics = relay::OutboxMetrics::register(&service.metrics.registry);
    let routes = routes::router(state.clone())
        .merge(routes::events::router(state.clone()))
        .merge(routes::stats::router(state.clone()));
    let (recovery_settings, outbox) = (config.recovery, config.outbox.clone());
    let access = Access::new(&config.auth, config.http, config.service_token.clone());
    Ok(service
        .serve(ApiDoc::openapi(), routes)
        .with_access(access)
        .with_worker(Box::new(move |shutdown| {
            Box::pin(async move {
                // Streams end when the service stops, so draining does not wait
                // for clients that never hang up.
                let stopping = state.feed.stopping.clone();
                let stop_streams = shutdown.clone();
                tokio::spawn(async move {
                    stop_streams.cancelled().await;
                    stopping.cancel();
                });
                let feed = state.feed.clone();
                tokio::join!(
                    feed.clone().run_tail(db.reader.clone()),
                    workflow::recovery::run(state, recovery_settings, shutdown.clone()),
                    relay::run(db, outbox, outbox_metrics, feed, shutdown),
                );
            })
        })))
}
