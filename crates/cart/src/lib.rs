//! The cart service: users' cart lines (port 8002).
//!
//! - [`domain`]: carts as the API shows and accepts them.
//! - [`store`]: the SQL.
//! - [`client`]: the catalog, for names, prices and stock.
//! - [`routes`]: the HTTP handlers.
//!
//! It owns no product data: names and prices are read from the catalog at
//! every read, in one batch call per cart. A cart's own lines are kept in
//! memory until a write to that cart ([`Lines`]).

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
use shop_common::read_cache::{self, ReadCache};
use shop_common::service::{Service, StartError};
use utoipa::OpenApi;

pub const NAME: &str = "cart";
pub const DEFAULT_PORT: u16 = 8002;

/// Settings of the cart service.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: Listen,
    pub db: DbSettings,
    pub http: HttpSettings,
    /// `SERVICE_TOKEN`: sent to the catalog, required on the service-only endpoint.
    pub service_token: Option<ServiceToken>,
    /// `CATALOG_SERVICE_URL`, default `http://catalog-service:8001`.
    pub catalog_url: String,
    /// `AUTH` (and where the keys are): with auth on, a cart is its owner's
    /// (and staff's).
    pub auth: AuthSettings,
    /// `READ_CACHE_MS`: how long a cart's lines are read from memory at
    /// most ([`Lines`]).
    pub cache_for: std::time::Duration,
}

impl Config {
    pub fn from_env(env: &Env) -> Result<Config, ConfigError> {
        let db = db_settings_from_env(env, NAME)?;
        Ok(Config {
            listen: Listen::from_env(env, DEFAULT_PORT)?,
            http: HttpSettings::from_env(env)?,
            service_token: ServiceToken::from_env(env)?,
            catalog_url: env.url("CATALOG_SERVICE_URL", "http://catalog-service:8001")?,
            auth: AuthSettings::from_env(env)?,
            cache_for: read_cache::keep_for_from_env(env, &db)?,
            db,
        })
    }
}

/// What handlers share.
#[derive(Debug, Clone)]
pub struct AppState {
    pub db: Db,
    pub catalog: client::Catalog,
    pub service_token: Option<ServiceToken>,
    /// Each cart's lines as last read, until a write to that cart.
    pub lines: Lines,
}

/// Each user's stored lines, kept until a write to that cart
/// ([`shop_common::read_cache`]; prices are still the catalog's at every
/// read).
pub type Lines = ReadCache<String, Arc<Vec<store::StoredItem>>>;

/// At most this many cart lines are kept, in all (about 250 bytes each).
const MAX_KEPT_LINES: usize = 200_000;

/// The document's title and schemas; the paths come with their routes
/// ([`routes::router`]).
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Shop cart service",
        description = "Users' carts, priced by the catalog."
    ),
    components(schemas(
        domain::Cart,
        domain::CartItem,
        domain::AddItem,
        domain::SetQuantity,
        domain::RemoveItems,
        domain::Line,
        domain::Message
    ))
)]
pub struct ApiDoc;

/// Opens the database and builds the service.
pub async fn build(config: &Config) -> Result<Service, StartError> {
    let service = Service::with_database(NAME, &config.db, shop_common::migrations!()).await?;
    let calls = Calls::new(config.http, config.service_token.as_ref());
    let state = AppState {
        db: service.db.clone(),
        catalog: client::Catalog::new(ServiceClient::new("catalog", &config.catalog_url, calls)),
        service_token: config.service_token.clone(),
        lines: ReadCache::new(config.cache_for, |lines| lines.len() + 1, MAX_KEPT_LINES),
    };
    Ok(service
        .serve(ApiDoc::openapi(), routes::router(state))
        .with_access(Access::new(
            &config.auth,
            config.http,
            config.service_token.clone(),
        )))
}
