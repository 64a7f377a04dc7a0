//! Logs, request ids and request metrics.
//!
//! Every request gets one log line (method, path, status, latency) and is
//! counted in the service's Prometheus registry by method, route template
//! and status. Labels come from closed sets whatever clients send: the
//! standard methods or `other`, a route of the router or `unmatched`. Its
//! `x-request-id` (taken from the client or made here) is echoed
//! in the response and sent along on calls to other services.

use std::io::Stderr;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, Method};
use axum::middleware::Next;
use axum::response::Response;
use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};

use crate::config::{ConfigError, Env};
use crate::log_writer::{Batched, Flushing};

/// The route label of a request no route matched.
pub const UNMATCHED: &str = "unmatched";

/// The header carrying the request id.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

tokio::task_local! {
    static REQUEST_ID: String;
}

/// The request id of the request being handled on this task, if any.
pub fn current_request_id() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

impl LogFormat {
    /// `LOG_FORMAT`: `pretty` (default) or `json`.
    pub fn from_env(env: &Env) -> Result<LogFormat, ConfigError> {
        match env
            .get("LOG_FORMAT")
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("pretty") | Some("text") => Ok(LogFormat::Pretty),
            Some("json") => Ok(LogFormat::Json),
            Some(_) => Err(env.error("LOG_FORMAT", "json or pretty")),
        }
    }
}

/// Installs the global log subscriber; `RUST_LOG` filters (default `info`).
/// Lines go to standard error in batches ([`Batched`]); the guard writes
/// out those still waiting when it is dropped.
pub fn init_logging(format: LogFormat, env: &Env) -> Result<Flushing<Stderr>, ConfigError> {
    let filter = match env.get("RUST_LOG") {
        None => tracing_subscriber::EnvFilter::new("info"),
        Some(raw) => tracing_subscriber::EnvFilter::try_new(raw)
            .map_err(|_| env.error("RUST_LOG", "a filter such as info or shop_order=debug"))?,
    };
    let (lines, flushing) = Batched::new(std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(lines)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    // A second call (tests starting several services) keeps the first one.
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Pretty => builder.compact().try_init(),
    };
    Ok(flushing)
}

/// Request counters and latency of one service.
#[derive(Debug, Clone)]
pub struct HttpMetrics {
    pub registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
}

impl HttpMetrics {
    pub fn new(service: &'static str) -> HttpMetrics {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "http_requests_total",
                "HTTP requests by route, method and status",
            )
            .const_label("service", service),
            &["method", "route", "status"],
        )
        .expect("valid metric definition");
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "HTTP request latency by route and method",
            )
            .const_label("service", service)
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                10.0,
            ]),
            &["method", "route"],
        )
        .expect("valid metric definition");
        registry
            .register(Box::new(requests.clone()))
            .expect("metric registered once");
        registry
            .register(Box::new(latency.clone()))
            .expect("metric registered once");
        HttpMetrics {
            registry,
            requests,
            latency,
        }
    }

    /// The registry in Prometheus text format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let encoder = prometheus::TextEncoder::new();
        if let Err(err) = encoder.encode_utf8(&self.registry.gather(), &mut out) {
            tracing::error!(error = %err, "cannot encode metrics");
        }
        out
    }
}

/// The metrics label of a method: made-up methods (any token is valid
/// HTTP) all count as `other`, so clients cannot grow `/metrics`.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::OPTIONS => "OPTIONS",
        Method::TRACE => "TRACE",
        Method::CONNECT => "CONNECT",
        _ => "other",
    }
}

/// Middleware: request id, one log line and the metrics of each request.
pub async fn observe(
    State((service, metrics)): State<(&'static str, HttpMetrics)>,
    request: Request,
    next: Next,
) -> Response {
    let start = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
        .unwrap_or_else(|| UNMATCHED.to_owned());
    let request_id = request
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 200)
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());

    let mut response = REQUEST_ID
        .scope(request_id.clone(), next.run(request))
        .await;

    let status = response.status().as_u16();
    let elapsed = start.elapsed();
    let label = method_label(&method);
    metrics
        .requests
        .with_label_values(&[label, &route, &status.to_string()])
        .inc();
    metrics
        .latency
        .with_label_values(&[label, &route])
        .observe(elapsed.as_secs_f64());
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    tracing::info!(
        service,
        %method,
        path,
        status,
        latency_ms = elapsed.as_micros() as f64 / 1000.0,
        request_id,
        "request"
    );
    response
}
