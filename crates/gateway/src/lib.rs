//! The gateway (port 3000): one origin for the API and the dashboard.
//!
//! - [`proxy`]: `/api/{catalog,cart,order,payment}/*` to the services,
//!   prefix stripped, as the seed's nginx.conf does.
//! - [`dashboard`]: the React app at `/`.
//! - [`session`]: the dashboard's sign-in at `/api/session` (a cookie; the
//!   access tokens stay here); [`oidc`]: the same through an external
//!   OpenID Connect provider.
//!
//! It keeps no state of its own: sessions live at the identity service,
//! their access tokens are only cached. `GET /api` names the API prefixes and each service's
//! docs.

pub mod dashboard;
pub mod internal;
pub mod oidc;
pub mod proxy;
pub mod session;

use std::sync::Arc;

use axum::extract::State;
use axum::routing::{any, get};
use axum::Router;
use serde::{Deserialize, Serialize};
use shop_common::access::AuthSettings;
use shop_common::config::{ConfigError, Env, HttpSettings, Listen};
use shop_common::extract::Json;
use shop_common::service::{standard_router, ReadyCheck, Service, StartError};
use shop_common::streams::{StreamGate, StreamSettings, TrustedProxies};
use shop_common::telemetry::HttpMetrics;
use utoipa::{OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::oidc::OidcSignIn;
use crate::proxy::{Proxy, Upstreams};
use crate::session::{SessionSettings, Sessions};

pub const NAME: &str = "gateway";
pub const DEFAULT_PORT: u16 = 3000;

/// Settings of the gateway.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: Listen,
    pub http: HttpSettings,
    pub catalog_url: String,
    pub cart_url: String,
    pub order_url: String,
    pub payment_url: String,
    /// `IDENTITY_SERVICE_URL`: the identity service, routed under
    /// `/api/identity/` when set.
    pub identity_url: Option<String>,
    /// `UPSTREAM_MAX_REQUESTS`, default 1024: requests in flight to one
    /// service (each holds a connection to it). Keep it below the
    /// services' `SERVER_MAX_CONNECTIONS` (default 2048), so that calls
    /// between services always find a connection.
    pub upstream_max_requests: usize,
    /// `EVENT_STREAMS_*`: event streams through the gateway.
    pub streams: StreamSettings,
    /// `TRUSTED_PROXIES` (default none: the gateway is the edge): proxies
    /// in front of the gateway whose `X-Forwarded-For` names the client.
    pub trusted_proxies: TrustedProxies,
    /// `AUTH`: told to the dashboard (sign-in, or a user switcher).
    pub auth: AuthSettings,
    /// `SESSION_*`: the dashboard's sessions.
    pub sessions: SessionSettings,
    /// `OIDC_ISSUER` with `OIDC_CLIENT_ID`: sign-in through that provider.
    pub oidc: Option<OidcSignIn>,
}

impl Config {
    pub fn from_env(env: &Env) -> Result<Config, ConfigError> {
        Ok(Config {
            listen: Listen::from_env(env, DEFAULT_PORT)?,
            http: HttpSettings::from_env(env)?,
            catalog_url: env.url("CATALOG_SERVICE_URL", "http://catalog-service:8001")?,
            cart_url: env.url("CART_SERVICE_URL", "http://cart-service:8002")?,
            order_url: env.url("ORDER_SERVICE_URL", "http://order-service:8003")?,
            payment_url: env.url("PAYMENT_SERVICE_URL", "http://payment-service:8004")?,
            identity_url: match env.get("IDENTITY_SERVICE_URL") {
                Some(_) => Some(env.url("IDENTITY_SERVICE_URL", "")?),
                None => None,
            },
            upstream_max_requests: env.count(
                "UPSTREAM_MAX_REQUESTS",
                1024,
                1..=1_000_000,
                "requests",
            )?,
            streams: StreamSettings::from_env(env)?,
            trusted_proxies: TrustedProxies::from_env(env, "none")?,
            auth: AuthSettings::from_env(env)?,
            sessions: SessionSettings::from_env(env)?,
            oidc: OidcSignIn::from_env(env, HttpSettings::from_env(env)?)?,
        })
    }
}

/// One API behind the gateway.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ApiEntry {
    pub service: String,
    /// Requests under this prefix reach the service, prefix stripped.
    pub prefix: String,
    /// The service's interactive API docs.
    pub docs: String,
    pub openapi: String,
}

/// The body of `GET /`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Index {
    pub name: String,
    pub version: String,
    pub apis: Vec<ApiEntry>,
}

/// What the gateway serves.
#[utoipa::path(get, path = "/api", tag = "gateway",
    responses((status = 200, description = "The API prefixes and their docs", body = Index)))]
async fn index(State(proxy): State<Arc<Proxy>>) -> Json<Index> {
    let apis = proxy
        .upstreams()
        .services
        .iter()
        .map(|(name, _)| ApiEntry {
            service: (*name).to_owned(),
            prefix: format!("/api/{name}/"),
            docs: format!("/api/{name}/docs/"),
            openapi: format!("/api/{name}/openapi.json"),
        })
        .collect();
    Json(Index {
        name: "Shop".to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        apis,
    })
}

/// The document's title and schemas; the paths come with their routes.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Shop gateway",
        description = "Proxies /api/{catalog,cart,order,payment}/* to the services."
    ),
    components(schemas(
        Index,
        ApiEntry,
        session::SessionInfo,
        session::SignIn,
        session::Account,
        session::Role
    ))
)]
pub struct ApiDoc;

/// Ready when every service behind it is ready.
fn upstreams_ready(services: Vec<(&'static str, String)>, http: HttpSettings) -> ReadyCheck {
    let client = shop_common::client::http_client(http);
    let services = Arc::new(services);
    Arc::new(move || {
        let client = client.clone();
        let services = services.clone();
        Box::pin(async move {
            let mut down = Vec::new();
            for (name, base) in services.iter() {
                let ok = client
                    .get(format!("{base}/ready"))
                    .send()
                    .await
                    .map(|r| r.status().is_success())
                    .unwrap_or(false);
                if !ok {
                    down.push(*name);
                }
            }
            if down.is_empty() {
                Ok(())
            } else {
                Err(format!("not ready: {}", down.join(", ")))
            }
        })
    })
}

/// Builds the gateway.
pub async fn build(config: &Config) -> Result<Service, StartError> {
    let mut services = vec![
        ("catalog", config.catalog_url.clone()),
        ("cart", config.cart_url.clone()),
        ("order", config.order_url.clone()),
        ("payment", config.payment_url.clone()),
    ];
    if let Some(identity) = &config.identity_url {
        services.push(("identity", identity.clone()));
    }
    let sessions = Sessions::new(
        config.identity_url.clone(),
        &config.auth,
        config.sessions.clone(),
        config.trusted_proxies.clone(),
        config.http,
        config.oidc.clone(),
    );
    let proxy = Proxy::new(
        Upstreams {
            services: services.clone(),
        },
        config.http,
        config.upstream_max_requests,
        StreamGate::new(config.streams, config.trusted_proxies.clone()),
        sessions.clone(),
    );
    tokio::task::spawn_blocking(dashboard::precompress);
    let dashboard = Router::new()
        .route("/", get(dashboard::index))
        .route("/{*path}", get(dashboard::asset))
        .layer(axum::middleware::map_response(dashboard::security_headers));
    let session_routes = OpenApiRouter::new()
        .routes(routes!(
            session::current,
            session::sign_in,
            session::sign_out
        ))
        .routes(routes!(oidc::start))
        .routes(routes!(oidc::callback))
        .with_state(sessions);
    let routes = OpenApiRouter::new()
        .routes(routes!(index))
        .route("/api/", get(index))
        .route("/api/{*rest}", any(proxy::forward))
        // One reference per request, not a copy of the proxy's parts.
        .with_state(Arc::new(proxy))
        .merge(session_routes)
        .merge(dashboard.into());
    let router = standard_router(
        NAME,
        ApiDoc::openapi(),
        routes,
        upstreams_ready(services, config.http),
        HttpMetrics::new(NAME),
    );
    Ok(Service::new(NAME, router, None))
}
