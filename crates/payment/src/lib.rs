//! The payment service: simulated payments (port 8004).
//!
//! - [`domain`]: payments and the [`domain::Decider`] that approves them.
//! - [`store`]: the SQL.
//! - [`routes`]: the HTTP handlers.
//! - [`client`]: the order service, asked before a payment is recorded.
//!
//! `POST /payments` is for the order service only: it requires the service
//! credential (when one is configured) and a payment is recorded only for
//! an existing order, for its exact total, under the key of the payment
//! attempt that holds the order. So nothing outside the order service's own
//! flow can make a payment, and none can keep an order from being paid.
//! Every attempt is stored, declined ones too.

pub mod client;
pub mod domain;
pub mod routes;
pub mod store;

use std::sync::Arc;

use shop_common::access::{Access, AuthSettings};
use shop_common::auth::ServiceToken;
use shop_common::client::{Calls, ServiceClient};
use shop_common::config::{db_settings_from_env, ConfigError, Env, HttpSettings, Listen};
use shop_common::db::{Db, DbSettings};
use shop_common::service::{Service, StartError};
use utoipa::OpenApi;

pub const NAME: &str = "payment";
pub const DEFAULT_PORT: u16 = 8004;

/// Settings of the payment service.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: Listen,
    pub db: DbSettings,
    pub http: HttpSettings,
    /// `SERVICE_TOKEN`: required on `POST /payments`, sent to the order service.
    pub service_token: Option<ServiceToken>,
    /// `ORDER_SERVICE_URL`, default `http://order-service:8003`.
    pub order_url: String,
    /// `PAYMENT_SUCCESS_RATE`, from 0 to 1, default 0.9.
    pub success_rate: f64,
    /// `AUTH` (and where the keys are): with auth on, a customer sees the
    /// payments of their own orders.
    pub auth: AuthSettings,
}

impl Config {
    pub fn from_env(env: &Env) -> Result<Config, ConfigError> {
        let expected = "a probability from 0 to 1, such as 0.9";
        let success_rate: f64 = env.parse("PAYMENT_SUCCESS_RATE", 0.9, expected)?;
        if !(0.0..=1.0).contains(&success_rate) {
            return Err(env.error("PAYMENT_SUCCESS_RATE", expected));
        }
        Ok(Config {
            listen: Listen::from_env(env, DEFAULT_PORT)?,
            db: db_settings_from_env(env, NAME)?,
            http: HttpSettings::from_env(env)?,
            service_token: ServiceToken::from_env(env)?,
            order_url: env.url("ORDER_SERVICE_URL", "http://order-service:8003")?,
            success_rate,
            auth: AuthSettings::from_env(env)?,
        })
    }
}

/// What handlers share.
#[derive(Debug, Clone)]
pub struct AppState {
    pub db: Db,
    pub decider: Arc<dyn domain::Decider>,
    pub orders: client::Orders,
    pub service_token: Option<ServiceToken>,
    /// `shop_payments_total{outcome, method}`.
    pub payments: prometheus::IntCounterVec,
}

/// The document's title and schemas; the paths come with their routes
/// ([`routes::router`]).
#[derive(OpenApi)]
#[openapi(
    info(title = "Shop payment service", description = "Simulated payments."),
    components(schemas(
        domain::Payment,
        domain::Refund,
        domain::PaymentStatus,
        shop_common::PaymentMethod,
        domain::NewPayment
    ))
)]
pub struct ApiDoc;

/// The payment service's schema migrations, one set per backend.
pub fn migrations() -> shop_common::db::Migrations {
    shop_common::migrations!()
}

/// Opens the database and builds the service.
pub async fn build(config: &Config) -> Result<Service, StartError> {
    let decider = Arc::new(domain::RandomDecider {
        rate: config.success_rate,
    });
    build_with(config, decider).await
}

/// [`build`] with a chosen decider (tests force outcomes with it).
pub async fn build_with(
    config: &Config,
    decider: Arc<dyn domain::Decider>,
) -> Result<Service, StartError> {
    let service = Service::with_database(NAME, &config.db, migrations()).await?;
    // What the payment-failure alert compares the card payments' outcomes with.
    shop_common::metrics::registered(
        &service.metrics.registry,
        prometheus::Gauge::new(
            "shop_payment_success_rate",
            "PAYMENT_SUCCESS_RATE: the share of card payments the simulated provider approves",
        )
        .expect("a valid metric definition"),
    )
    .set(config.success_rate);
    let calls = Calls::new(config.http, config.service_token.as_ref());
    let state = AppState {
        db: service.db.clone(),
        decider,
        orders: client::Orders {
            client: ServiceClient::new("order", &config.order_url, calls),
        },
        service_token: config.service_token.clone(),
        payments: shop_common::metrics::counters(
            &service.metrics.registry,
            "shop_payments_total",
            "Payments recorded, by outcome (success, failed) and method",
            &["outcome", "method"],
        ),
    };
    let access = Access::new(&config.auth, config.http, config.service_token.clone());
    Ok(service
        .serve(ApiDoc::openapi(), routes::router(state))
        .with_access(access))
}
