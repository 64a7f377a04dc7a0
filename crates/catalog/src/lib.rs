//! The catalog service: products and their stock (port 8001).
//!
//! - [`domain`]: products as the API shows and accepts them.
//! - [`store`]: the SQL.
//! - [`routes`]: the HTTP handlers.
//! - [`reservations`]: stock taken for orders, all or none, given back once.
//! - [`cache`]: product reads answered from memory until the catalog changes.
//!
//! It calls no other service. Reservations are for the order service only:
//! they need the service credential (`SERVICE_TOKEN`) and the gateway never
//! routes them.

pub mod cache;
pub mod domain;
pub mod reservations;
pub mod routes;
pub mod store;

use std::sync::Arc;

use shop_common::access::{Access, AuthSettings};
use shop_common::auth::{service_only, ServiceToken};
use shop_common::config::{db_settings_from_env, ConfigError, Env, HttpSettings, Listen};
use shop_common::db::{Db, DbSettings};
use shop_common::read_cache;
use shop_common::service::{Service, StartError};
use tokio::sync::Semaphore;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

pub const NAME: &str = "catalog";
pub const DEFAULT_PORT: u16 = 8001;

/// Settings of the catalog service.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: Listen,
    pub db: DbSettings,
    /// `SERVICE_TOKEN`: required on the reservation endpoints.
    pub service_token: Option<ServiceToken>,
    /// `SEARCH_CONCURRENCY`, default 2: product searches running at once
    /// (each bounded by `DB_STATEMENT_TIMEOUT_MS`); one more waits up to a
    /// second for its turn, then is answered 503.
    pub search_concurrency: usize,
    pub http: HttpSettings,
    /// `AUTH` (and where the keys are): with auth on, product writes are
    /// staff's.
    pub auth: AuthSettings,
    /// `READ_CACHE_MS`: how long a product read is answered from memory
    /// at most ([`cache`]).
    pub cache_for: std::time::Duration,
}

impl Config {
    pub fn from_env(env: &Env) -> Result<Config, ConfigError> {
        let db = db_settings_from_env(env, NAME)?;
        Ok(Config {
            cache_for: read_cache::keep_for_from_env(env, &db)?,
            listen: Listen::from_env(env, DEFAULT_PORT)?,
            db,
            service_token: ServiceToken::from_env(env)?,
            search_concurrency: env.count("SEARCH_CONCURRENCY", 2, 1..=1000, "searches")?,
            http: HttpSettings::from_env(env)?,
            auth: AuthSettings::from_env(env)?,
        })
    }
}

/// What handlers share.
#[derive(Debug, Clone)]
pub struct AppState {
    pub db: Db,
    /// How long a search may take: the database's statement timeout.
    pub search_timeout: std::time::Duration,
    /// Turns of product searches (`SEARCH_CONCURRENCY`), so searches never
    /// hold every reader that cart pricing and checkouts need.
    pub searches: Arc<Semaphore>,
    /// Product reads kept until the catalog changes.
    pub cache: cache::Answers,
    /// `shop_stock_reservations_total{outcome}`: held, released.
    pub reservations: prometheus::IntCounterVec,
}

/// The document's title and schemas; the product paths come with their
/// routes ([`routes::router`]). The reservation paths are still listed here
/// beside [`reservations::router`].
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Shop catalog service",
        description = "Products and their stock."
    ),
    paths(
        reservations::create_reservation,
        reservations::get_reservation,
        reservations::release_reservation
    ),
    components(schemas(
        domain::Product,
        domain::NewProduct,
        domain::ProductUpdate,
        domain::Message,
        domain::NewReservation,
        domain::Reservation,
        domain::ReservedLine,
        domain::Line,
        domain::ProductSort,
        shop_common::paging::SortOrder
    ))
)]
pub struct ApiDoc;

/// The catalog's schema migrations, one set per backend.
pub fn migrations() -> shop_common::db::Migrations {
    shop_common::migrations!()
}

/// Opens the database and builds the service.
pub async fn build(config: &Config) -> Result<Service, StartError> {
    let service = Service::with_database(NAME, &config.db, migrations()).await?;
    let state = AppState {
        db: service.db.clone(),
        search_timeout: config.db.statement_timeout,
        searches: Arc::new(Semaphore::new(config.search_concurrency)),
        cache: cache::answers(config.cache_for),
        reservations: shop_common::metrics::counters(
            &service.metrics.registry,
            "shop_stock_reservations_total",
            "Checkouts' stock reservations made (held), and given back (released: the checkout failed, the order was cancelled or expired)",
            &["outcome"],
        ),
    };
    let cache = state.cache.clone();
    let reservations = service_only(
        reservations::router(state.clone()),
        config.service_token.clone(),
    );
    let routes = routes::router(state)
        .merge(OpenApiRouter::from(reservations))
        .route_layer(axum::middleware::from_fn_with_state(
            cache::writes(cache),
            read_cache::track_writes,
        ));
    Ok(service
        .serve(ApiDoc::openapi(), routes)
        .with_access(Access::new(
            &config.auth,
            config.http,
            config.service_token.clone(),
        )))
}
