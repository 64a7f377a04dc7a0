//! The six services, described once.
//!
//! What `shop serve <service>`, `shop up` and the tests all start from:
//! each service's name and default port ([`ServiceName`]), how it is
//! configured from an [`Env`] and built ([`ServiceConfig`]), and what it
//! needs wired when several run together: the other services' URLs
//! ([`Peers`]) and where its data lives ([`DataHome`]). [`build_all`] does
//! all of it for a set of services.

use std::path::PathBuf;
use std::sync::Arc;

use clap::ValueEnum;
use shop_common::config::{ConfigError, Env, Listen};
use shop_common::db::{Db, DbTarget, Migrations};
use shop_common::service::{Service, StartError};
use shop_payment::domain::Decider;

/// One of Shop's services.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, ValueEnum)]
pub enum ServiceName {
    Catalog,
    Cart,
    Order,
    Payment,
    Identity,
    Gateway,
}

impl ServiceName {
    /// Every service, in the order they are configured, built and listed.
    pub const ALL: [ServiceName; 6] = [
        ServiceName::Catalog,
        ServiceName::Cart,
        ServiceName::Order,
        ServiceName::Payment,
        ServiceName::Identity,
        ServiceName::Gateway,
    ];

    /// The shop's services behind the gateway, each with its own database
    /// (the identity service, which has one too, is not among them: nothing
    /// of the shop calls it).
    pub const BACKENDS: [ServiceName; 4] = [
        ServiceName::Catalog,
        ServiceName::Cart,
        ServiceName::Order,
        ServiceName::Payment,
    ];

    /// Its name: in logs, metrics, `/health`, its schema and its SQLite file.
    pub fn name(self) -> &'static str {
        match self {
            ServiceName::Catalog => shop_catalog::NAME,
            ServiceName::Cart => shop_cart::NAME,
            ServiceName::Order => shop_order::NAME,
            ServiceName::Payment => shop_payment::NAME,
            ServiceName::Identity => shop_identity::NAME,
            ServiceName::Gateway => shop_gateway::NAME,
        }
    }

    /// The port it listens on unless told otherwise.
    pub fn default_port(self) -> u16 {
        match self {
            ServiceName::Catalog => shop_catalog::DEFAULT_PORT,
            ServiceName::Cart => shop_cart::DEFAULT_PORT,
            ServiceName::Order => shop_order::DEFAULT_PORT,
            ServiceName::Payment => shop_payment::DEFAULT_PORT,
            ServiceName::Identity => shop_identity::DEFAULT_PORT,
            ServiceName::Gateway => shop_gateway::DEFAULT_PORT,
        }
    }

    /// The variable that tells the other services where it is (the
    /// gateway is called by none).
    pub fn url_var(self) -> Option<&'static str> {
        match self {
            ServiceName::Catalog => Some("CATALOG_SERVICE_URL"),
            ServiceName::Cart => Some("CART_SERVICE_URL"),
            ServiceName::Order => Some("ORDER_SERVICE_URL"),
            ServiceName::Payment => Some("PAYMENT_SERVICE_URL"),
            ServiceName::Identity => Some("IDENTITY_SERVICE_URL"),
            ServiceName::Gateway => None,
        }
    }

    /// Its settings from `env` (what `shop serve` runs with).
    pub fn configure(self, env: &Env) -> Result<ServiceConfig, ConfigError> {
        Ok(match self {
            ServiceName::Catalog => ServiceConfig::Catalog(shop_catalog::Config::from_env(env)?),
            ServiceName::Cart => ServiceConfig::Cart(shop_cart::Config::from_env(env)?),
            ServiceName::Order => {
                ServiceConfig::Order(Box::new(shop_order::Config::from_env(env)?))
            }
            ServiceName::Payment => ServiceConfig::Payment(shop_payment::Config::from_env(env)?),
            ServiceName::Identity => ServiceConfig::Identity(shop_identity::Config::from_env(env)?),
            ServiceName::Gateway => ServiceConfig::Gateway(shop_gateway::Config::from_env(env)?),
        })
    }
}

/// Where the services reach each other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peers {
    pub catalog: String,
    pub cart: String,
    pub order: String,
    pub payment: String,
    /// The identity service, when one runs (the gateway routes
    /// `/api/identity/` to it).
    pub identity: Option<String>,
}

impl Peers {
    /// Points `auth` at the identity service's key set, when one runs.
    pub fn keys_for(&self, auth: &mut shop_common::access::AuthSettings) {
        if let Some(identity) = &self.identity {
            auth.use_identity(identity);
        }
    }

    /// The URL of `service` (`None` for the gateway, which none calls).
    pub fn get_mut(&mut self, service: ServiceName) -> Option<&mut String> {
        match service {
            ServiceName::Catalog => Some(&mut self.catalog),
            ServiceName::Cart => Some(&mut self.cart),
            ServiceName::Order => Some(&mut self.order),
            ServiceName::Payment => Some(&mut self.payment),
            ServiceName::Identity => self.identity.as_mut(),
            ServiceName::Gateway => None,
        }
    }
}

/// Where the services of one deployment keep their data: an SQLite file
/// each in a directory, or a schema each in one PostgreSQL database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataHome {
    Dir(PathBuf),
    Postgres(String),
}

impl DataHome {
    /// `env` with what every service reads of it: `DATABASE_URL`, so it is
    /// checked like a service's own and sets the pool defaults.
    pub fn env(&self, env: Env) -> Env {
        match self {
            DataHome::Dir(_) => env,
            DataHome::Postgres(url) => env.with("DATABASE_URL", url.clone()),
        }
    }

    /// The database of the service called `name`.
    pub fn target(&self, name: &str) -> DbTarget {
        match self {
            DataHome::Dir(dir) => DbTarget::Sqlite(dir.join(format!("{name}.db"))),
            DataHome::Postgres(url) => DbTarget::Postgres {
                url: url.clone(),
                schema: name.to_owned(),
            },
        }
    }

    /// For people: the directory, or the database (password hidden).
    pub fn describe(&self) -> String {
        match self {
            DataHome::Dir(dir) => dir.display().to_string(),
            DataHome::Postgres(_) => self
                .target(shop_catalog::NAME)
                .describe()
                .replace("schema catalog", "one schema per service"),
        }
    }

    /// The database of the service called `name`, migrated by
    /// `migrations`, with the pool settings `env` gives (a command's own
    /// access, as `shop seed` and the tests use it).
    pub async fn open(
        &self,
        env: &Env,
        name: &str,
        migrations: Migrations,
    ) -> Result<Db, StartError> {
        let mut settings = shop_common::config::db_settings_from_env(&self.env(env.clone()), name)?;
        settings.target = self.target(name);
        Ok(Db::open(&settings, migrations).await?)
    }
}

/// What a caller chooses beyond the settings (tests force payment outcomes).
#[derive(Clone, Default)]
pub struct BuildOptions {
    /// Decides payments instead of `PAYMENT_SUCCESS_RATE` when set.
    pub payment_decider: Option<Arc<dyn Decider>>,
}

/// One service's settings.
#[derive(Debug, Clone)]
pub enum ServiceConfig {
    Catalog(shop_catalog::Config),
    Cart(shop_cart::Config),
    /// Boxed: by far the largest.
    Order(Box<shop_order::Config>),
    Payment(shop_payment::Config),
    Identity(shop_identity::Config),
    Gateway(shop_gateway::Config),
}

impl ServiceConfig {
    /// Where it listens (`PORT`, `BIND`).
    pub fn listen(&self) -> Listen {
        match self {
            ServiceConfig::Catalog(config) => config.listen,
            ServiceConfig::Cart(config) => config.listen,
            ServiceConfig::Order(config) => config.listen,
            ServiceConfig::Payment(config) => config.listen,
            ServiceConfig::Identity(config) => config.listen,
            ServiceConfig::Gateway(config) => config.listen,
        }
    }

    /// Points it at the services it calls.
    pub fn wire(&mut self, peers: &Peers) {
        match self {
            ServiceConfig::Identity(_) => {}
            ServiceConfig::Catalog(config) => {
                peers.keys_for(&mut config.auth);
            }
            ServiceConfig::Cart(config) => {
                config.catalog_url = peers.catalog.clone();
                peers.keys_for(&mut config.auth);
            }
            ServiceConfig::Order(config) => {
                config.cart_url = peers.cart.clone();
                config.catalog_url = peers.catalog.clone();
                config.payment_url = peers.payment.clone();
                peers.keys_for(&mut config.auth);
            }
            ServiceConfig::Payment(config) => {
                config.order_url = peers.order.clone();
                peers.keys_for(&mut config.auth);
            }
            ServiceConfig::Gateway(config) => {
                config.catalog_url = peers.catalog.clone();
                config.cart_url = peers.cart.clone();
                config.order_url = peers.order.clone();
                config.payment_url = peers.payment.clone();
                config.identity_url = peers.identity.clone();
            }
        }
    }

    /// Keeps its data in `data` (the gateway keeps none).
    pub fn store_in(&mut self, data: &DataHome) {
        let name = self.service().name();
        let db = match self {
            ServiceConfig::Catalog(config) => &mut config.db,
            ServiceConfig::Cart(config) => &mut config.db,
            ServiceConfig::Order(config) => &mut config.db,
            ServiceConfig::Payment(config) => &mut config.db,
            ServiceConfig::Identity(config) => &mut config.db,
            ServiceConfig::Gateway(_) => return,
        };
        db.target = data.target(name);
    }

    /// Which service it configures.
    pub fn service(&self) -> ServiceName {
        match self {
            ServiceConfig::Catalog(_) => ServiceName::Catalog,
            ServiceConfig::Cart(_) => ServiceName::Cart,
            ServiceConfig::Order(_) => ServiceName::Order,
            ServiceConfig::Payment(_) => ServiceName::Payment,
            ServiceConfig::Identity(_) => ServiceName::Identity,
            ServiceConfig::Gateway(_) => ServiceName::Gateway,
        }
    }

    /// Opens its database and builds it, ready to serve.
    pub async fn build(&self, options: &BuildOptions) -> Result<Service, StartError> {
        match self {
            ServiceConfig::Catalog(config) => shop_catalog::build(config).await,
            ServiceConfig::Cart(config) => shop_cart::build(config).await,
            ServiceConfig::Order(config) => shop_order::build(config).await,
            ServiceConfig::Payment(config) => match &options.payment_decider {
                Some(decider) => shop_payment::build_with(config, decider.clone()).await,
                None => shop_payment::build(config).await,
            },
            ServiceConfig::Identity(config) => shop_identity::build(config).await,
            ServiceConfig::Gateway(config) => shop_gateway::build(config).await,
        }
    }
}

/// `services` running together: each configured from `env` (all of them
/// first, so a bad setting stops start-up before any database opens),
/// wired to `peers`, keeping its data in `data`, then built in order.
pub async fn build_all(
    services: &[ServiceName],
    env: &Env,
    peers: &Peers,
    data: &DataHome,
    options: &BuildOptions,
) -> Result<Vec<Service>, StartError> {
    let mut configs = Vec::with_capacity(services.len());
    for service in services {
        let mut config = service.configure(env)?;
        config.wire(peers);
        config.store_in(data);
        configs.push(config);
    }
    let mut built = Vec::with_capacity(configs.len());
    for config in &configs {
        built.push(config.build(options).await?);
    }
    Ok(built)
}
