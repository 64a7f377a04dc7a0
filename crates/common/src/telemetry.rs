//! Logs, request ids and request metrics.
//!
//! Every request gets one log line (method, path, status, latency) and is
//! counted in the service's Prometheus registry by method, route template
//! and status. Labels come from closed sets whatever clients send: the
//! standard methods or `other`, a route of the router or `unmatched`. Its
//! `x-request-id` (taken from the client or made here) is echoed
//! in the response and sent along on calls to other services.

use std::future::Future;
use std::io::Stderr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, Method};
use axum::middleware::Next;
use axum::response::Response;
use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};
use tracing::Instrument;
use tracing_subscriber::fmt::format::{JsonFields, Writer};
use tracing_subscriber::fmt::{self, FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::config::{ConfigError, Env};
use crate::log_writer::{Batched, Flushing};
use crate::metrics::registered;
use crate::traces::{self, Export, REQUEST_SPANS, SPAN_TARGET};

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

/// `future`, to run on a task of its own, still as part of the request
/// being handled: its request id (logs, calls) and its span (traces).
pub fn within_request<F: Future>(future: F) -> impl Future<Output = F::Output> {
    let request_id = current_request_id();
    async move {
        match request_id {
            Some(id) => REQUEST_ID.scope(id, future).await,
            None => future.await,
        }
    }
    .instrument(tracing::Span::current())
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

/// What [`init_logging`] installed: dropped at exit, it writes out the log
/// lines still waiting and exports the spans not yet sent.
pub struct Logging {
    pub lines: Flushing<Stderr>,
    pub traces: Option<Export>,
}

/// Installs the global log subscriber; `RUST_LOG` filters (default `info`).
/// Lines go to standard error in batches ([`Batched`]). When the OTLP
/// variables ask for it ([`Export::from_env`]), spans are exported too,
/// as `service_name` unless `OTEL_SERVICE_NAME` says otherwise.
pub fn init_logging(
    format: LogFormat,
    env: &Env,
    service_name: &str,
) -> Result<Logging, ConfigError> {
    let mut filter = match env.get("RUST_LOG") {
        None => EnvFilter::new("info"),
        Some(raw) => EnvFilter::try_new(raw)
            .map_err(|_| env.error("RUST_LOG", "a filter such as info or shop_order=debug"))?,
    };
    let traces = Export::from_env(env, service_name)?;
    // An export wants every request's span, whatever else the filter
    // leaves out, and the spans of calls and transactions below it. (One
    // filter for both layers: tracing-subscriber's filters per layer lost
    // some requests' spans on their way to the export.)
    if traces.is_some() {
        filter = filter
            .add_directive(directive(REQUEST_SPANS, "info"))
            .add_directive(directive(SPAN_TARGET, "debug"));
    }
    let (lines, flushing) = Batched::new(std::io::stderr());
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let log = tracing_subscriber::fmt::layer().with_writer(lines);
    let log = match format {
        LogFormat::Json => log
            .fmt_fields(JsonFields::new())
            .event_format(InRequest {
                line: fmt::format().json().flatten_event(true),
                json: true,
            })
            .boxed(),
        LogFormat::Pretty => log
            .with_ansi(ansi)
            .event_format(InRequest {
                line: fmt::format().compact().with_ansi(ansi),
                json: false,
            })
            .boxed(),
    };
    let export = traces.as_ref().map(|traces| {
        tracing_opentelemetry::layer()
            .with_tracer(traces.tracer())
            .with_location(false)
            .with_threads(false)
            .with_target(false)
            .with_tracked_inactivity(false)
            .with_context_activation(false)
    });
    // A second call (tests starting several services) keeps the first one.
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(log)
        .with(export)
        .try_init();
    Ok(Logging {
        lines: flushing,
        traces,
    })
}

/// Formats log lines as `line` does, with the request id of the request
/// being handled (when there is one, and the line names none itself) and,
/// when spans are exported, the `trace_id` and `span_id` of the span it was
/// logged in: so that whatever is logged inside a request says which one,
/// and leads to its trace. Fields of a JSON line; `name=value` at the end
/// of a text line.
struct InRequest<F> {
    line: F,
    json: bool,
}

impl<S, N, F> FormatEvent<S, N> for InRequest<F>
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        let names_one = event.fields().any(|field| field.name() == "request_id");
        let mut extra = Vec::new();
        if let Some(id) = current_request_id().filter(|_| !names_one) {
            extra.push(("request_id", id));
        }
        if let Some((trace_id, span_id)) = traces::current_ids() {
            extra.push(("trace_id", trace_id));
            extra.push(("span_id", span_id));
        }
        if extra.is_empty() {
            return self.line.format_event(ctx, writer, event);
        }
        let mut line = String::new();
        self.line.format_event(ctx, Writer::new(&mut line), event)?;
        let line = line.trim_end_matches('\n');
        match line.strip_suffix('}').filter(|_| self.json) {
            Some(open) => {
                write!(writer, "{open}")?;
                for (name, value) in extra {
                    write!(writer, ",\"{name}\":{}", serde_json::Value::from(value))?;
                }
                writeln!(writer, "}}")
            }
            None => {
                write!(writer, "{line}")?;
                for (name, value) in extra {
                    write!(writer, " {name}={value}")?;
                }
                writeln!(writer)
            }
        }
    }
}

/// `target=level`, a directive made of two known-good parts.
fn directive(target: &str, level: &str) -> tracing_subscriber::filter::Directive {
    format!("{target}={level}")
        .parse()
        .expect("a target and a level make a directive")
}

/// Request counters and latency of one service.
#[derive(Clone)]
pub struct HttpMetrics {
    pub registry: Registry,
    service: &'static str,
    requests: IntCounterVec,
    latency: HistogramVec,
    /// What is read afresh at each scrape ([`HttpMetrics::on_scrape`]).
    scraping: Arc<Mutex<Vec<Refresh>>>,
}

/// Sets gauges to what they are now, before a scrape.
type Refresh = Box<dyn Fn() + Send + Sync>;

impl std::fmt::Debug for HttpMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpMetrics")
            .field("service", &self.service)
            .finish_non_exhaustive()
    }
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
        let requests = registered(&registry, requests);
        let latency = registered(&registry, latency);
        crate::metrics::register_standard(&registry, service);
        HttpMetrics {
            registry,
            service,
            requests,
            latency,
            scraping: Arc::default(),
        }
    }

    /// The service these are the metrics of.
    pub fn service(&self) -> &'static str {
        self.service
    }

    /// Runs `refresh` before each scrape, to set gauges read from elsewhere.
    pub fn on_scrape(&self, refresh: impl Fn() + Send + Sync + 'static) {
        self.scraping
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Box::new(refresh));
    }

    /// The registry in Prometheus text format.
    pub fn render(&self) -> String {
        for refresh in self
            .scraping
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            refresh();
        }
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

    let span = traces::request_span(service, &method, &route, &request_id, request.headers());
    let mut response = REQUEST_ID
        .scope(request_id.clone(), next.run(request))
        .instrument(span.clone())
        .await;

    let status = response.status().as_u16();
    traces::record_status(&span, Some(status));
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
