//! What every service has around its own routes, and how it is served.
//!
//! [`standard_router`] adds `/health`, `/ready`, `/metrics`, `/openapi.json`
//! and `/docs`, JSON answers for unknown routes and methods, CORS, the body
//! limit, limits on the request line and headers, panic catching and
//! request observation. [`Service::with_database`] opens a service's
//! database and puts its routes inside all that; [`Service::run`] serves it
//! ([`crate::server`]).
//!
//! Routes are declared once, for both the router and the OpenAPI document:
//! services hand in an [`OpenApiRouter`] filled with `utoipa_axum::routes!`.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::Serialize;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::CorsLayer;
use utoipa::openapi::OpenApi;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use utoipa_swagger_ui::SwaggerUi;

use crate::config::ServerSettings;
use crate::db::{Db, DbSettings, Migrations};
use crate::error::error_response;
use crate::extract::{Json, MAX_BODY_BYTES};
use crate::telemetry::{observe, HttpMetrics};

/// A readiness check: resolves to `Ok` when the service can do its work.
pub type ReadyCheck =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> + Send + Sync>;

/// The body of `GET /health`.
#[derive(Debug, Serialize, serde::Deserialize, ToSchema)]
pub struct Health {
    /// Always `healthy` while the process answers.
    pub status: String,
    /// The service's name.
    pub service: String,
}

/// The body of `GET /ready`.
#[derive(Debug, Serialize, serde::Deserialize, ToSchema)]
pub struct Readiness {
    /// Whether the service can serve requests.
    pub ready: bool,
    pub service: String,
    /// Why not, when it cannot.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

#[derive(Clone)]
struct Ops {
    service: &'static str,
    metrics: HttpMetrics,
    ready: ReadyCheck,
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/health", tag = "operations",
    responses((status = 200, description = "The service is alive", body = Health)))]
async fn get_health(State(ops): State<Ops>) -> Json<Health> {
    Json(Health {
        status: "healthy".to_owned(),
        service: ops.service.to_owned(),
    })
}

/// Readiness: the service's database (or dependencies) answer.
#[utoipa::path(get, path = "/ready", tag = "operations",
    responses(
        (status = 200, description = "Ready to serve", body = Readiness),
        (status = 503, description = "Not ready", body = Readiness)))]
async fn get_ready(State(ops): State<Ops>) -> Response {
    let result = (ops.ready)().await;
    let status = if result.is_ok() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = Readiness {
        ready: result.is_ok(),
        service: ops.service.to_owned(),
        detail: result.err(),
    };
    (status, Json(body)).into_response()
}

/// Prometheus metrics in text format.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
async fn get_metrics(State(ops): State<Ops>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        ops.metrics.render(),
    )
        .into_response()
}

/// Schemas every service's document carries (the error envelope among them).
#[derive(utoipa::OpenApi)]
#[openapi(components(schemas(Health, Readiness, crate::error::ErrorBody)))]
struct OpsApi;

/// Wraps a service's own routes with the standard endpoints and layers.
///
/// `api` is the service's document (its title and schemas), completed by
/// the paths of `routes`. `metrics` is the service's registry; a service
/// registers its own metrics in it too, and `/metrics` serves them all.
pub fn standard_router(
    service: &'static str,
    api: OpenApi,
    routes: OpenApiRouter,
    ready: ReadyCheck,
    metrics: HttpMetrics,
) -> Router {
    let ops = Ops {
        service,
        metrics: metrics.clone(),
        ready,
    };
    let (routes, mut openapi) = OpenApiRouter::with_openapi(api)
        .merge(routes)
        .merge(
            OpenApiRouter::with_openapi(<OpsApi as utoipa::OpenApi>::openapi())
                .routes(routes!(get_health))
                .routes(routes!(get_ready))
                .routes(routes!(get_metrics))
                .with_state(ops),
        )
        .split_for_parts();
    // Relative to the document, so "Try it out" works both on the service's
    // own port and behind the gateway's /api/<service>/ prefix.
    openapi.servers = Some(vec![utoipa::openapi::Server::new(".")]);
    let openapi = Arc::new(openapi);
    routes
        .route(
            "/openapi.json",
            get(move || async move { Json(openapi.as_ref().clone()) }),
        )
        .merge(SwaggerUi::new("/docs").config(utoipa_swagger_ui::Config::new(["../openapi.json"])))
        .fallback(|| async { error_response(StatusCode::NOT_FOUND, "Not Found") })
        .method_not_allowed_fallback(|| async {
            error_response(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed")
        })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn(limit_head))
        .layer(CatchPanicLayer::custom(|_| {
            tracing::error!("handler panicked");
            error_response(StatusCode::INTERNAL_SERVER_ERROR, "Internal server error")
        }))
        .layer(axum::middleware::from_fn_with_state(
            (service, metrics),
            observe,
        ))
        .layer(CorsLayer::permissive())
}

/// The longest request target (path and query) a service reads.
pub const MAX_URI_BYTES: usize = 8 * 1024;

/// The most header bytes (names and values) a service reads.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// Answers an over-long target `414` and over-large headers `431`, with
/// the envelope. hyper itself refuses heads over
/// [`crate::server::MAX_HEAD_BYTES`], with an empty body.
async fn limit_head(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let target = request
        .uri()
        .path_and_query()
        .map_or(0, |target| target.as_str().len());
    if target > MAX_URI_BYTES {
        return error_response(
            StatusCode::URI_TOO_LONG,
            format!("Request target is longer than {MAX_URI_BYTES} bytes"),
        );
    }
    let headers: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    if headers > MAX_HEADER_BYTES {
        return error_response(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            format!("Request headers are larger than {MAX_HEADER_BYTES} bytes"),
        );
    }
    next.run(request).await
}

/// Binds `addr`, naming the service in the error.
pub async fn bind(service: &str, addr: SocketAddr) -> Result<TcpListener, std::io::Error> {
    TcpListener::bind(addr).await.map_err(|err| {
        std::io::Error::new(
            err.kind(),
            format!("{service}: cannot listen on {addr}: {err}"),
        )
    })
}

pub use crate::server::{serve, DRAIN_TIMEOUT};

/// A token cancelled on SIGINT or SIGTERM.
pub fn shutdown_on_signals() -> CancellationToken {
    let token = CancellationToken::new();
    let trigger = token.clone();
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            let mut term =
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(term) => term,
                    Err(_) => {
                        let _ = ctrl_c.await;
                        trigger.cancel();
                        return;
                    }
                };
            tokio::select! {
                _ = ctrl_c => {},
                _ = term.recv() => {},
            }
        }
        #[cfg(not(unix))]
        let _ = ctrl_c.await;
        tracing::info!("shutdown signal received, draining requests");
        trigger.cancel();
    });
    token
}

/// A [`ReadyCheck`] that passes while the database answers.
pub fn db_ready(db: crate::db::Db) -> ReadyCheck {
    Arc::new(move || {
        let db = db.clone();
        Box::pin(async move {
            if db.ping().await {
                Ok(())
            } else {
                Err("database does not answer".to_owned())
            }
        })
    })
}

/// Why a service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Db(#[from] crate::db::DbError),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Background work of a service (e.g. recovery), started with it and
/// stopped by the same shutdown token.
pub type Worker =
    Box<dyn FnOnce(CancellationToken) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send>;

/// A service with its own database, before its routes: what
/// [`Service::with_database`] opened for the service's state.
pub struct ServiceBuilder {
    name: &'static str,
    /// The service's database, migrated.
    pub db: Db,
    /// The service's metrics registry (to register its own metrics in).
    pub metrics: HttpMetrics,
}

impl ServiceBuilder {
    /// The service serving `routes` with the standard endpoints and layers
    /// ([`standard_router`]), documented by `api` and ready while its
    /// database answers.
    pub fn serve(self, api: OpenApi, routes: OpenApiRouter) -> Service {
        let router = standard_router(
            self.name,
            api,
            routes,
            db_ready(self.db.clone()),
            self.metrics,
        );
        Service::new(self.name, router, Some(self.db))
    }
}

/// A service ready to be served: its full router, its background work and
/// what to close after.
pub struct Service {
    pub name: &'static str,
    pub router: Router,
    pub db: Option<crate::db::Db>,
    pub worker: Option<Worker>,
}

impl Service {
    pub fn new(name: &'static str, router: Router, db: Option<crate::db::Db>) -> Service {
        Service {
            name,
            router,
            db,
            worker: None,
        }
    }

    /// Opens the database of service `name` with `settings`, running its
    /// `migrations`; the service's state is made from it, then
    /// [`ServiceBuilder::serve`].
    pub async fn with_database(
        name: &'static str,
        settings: &DbSettings,
        migrations: Migrations,
    ) -> Result<ServiceBuilder, StartError> {
        let db = Db::open(settings, migrations).await?;
        let metrics = HttpMetrics::new(name);
        crate::metrics::watch_db(&metrics, &db);
        Ok(ServiceBuilder { name, db, metrics })
    }

    /// Lets its handlers know their [`crate::access::Caller`] by `access`.
    pub fn with_access(mut self, access: crate::access::Access) -> Service {
        self.router = self.router.layer(axum::Extension(access));
        self
    }

    /// Adds background work that runs while the service serves.
    pub fn with_worker(mut self, worker: Worker) -> Service {
        self.worker = Some(worker);
        self
    }

    /// Serves with `settings` until `shutdown` fires, drains requests, stops the background
    /// work, then closes the database.
    pub async fn run(
        self,
        listener: TcpListener,
        settings: ServerSettings,
        shutdown: CancellationToken,
    ) -> std::io::Result<()> {
        let worker = self.worker.map(|work| tokio::spawn(work(shutdown.clone())));
        let result = serve(listener, self.router, settings, shutdown.clone()).await;
        shutdown.cancel();
        if let Some(worker) = worker {
            let _ = worker.await;
        }
        if let Some(db) = self.db {
            db.close().await;
        }
        tracing::info!(service = self.name, "stopped");
        result
    }
}
