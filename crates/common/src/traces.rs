//! Traces: one trace per purchase, across the services.
//!
//! Every request is a span ([`crate::telemetry::observe`]); every call to
//! another service is a child span whose context travels on as a W3C
//! `traceparent` header ([`crate::client::ServiceClient`], the gateway's
//! proxy); every database transaction is a child span
//! ([`crate::db::Connections`]). A service continues the trace of the
//! `traceparent` it is sent, so one purchase through the gateway is one
//! trace, whether its services run in one process or in many.
//!
//! The spans are exported over OTLP (HTTP, protobuf) when
//! `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`)
//! is set. When it is not, nothing is exported and no span is made: a
//! request's span is [`Span::none`], those of calls and transactions are
//! at DEBUG level for a target the log's filter then leaves out, and no
//! header is read or written. (A line logged inside a request names its
//! request id either way: [`crate::telemetry::init_logging`].)

use std::sync::atomic::{AtomicBool, Ordering};

use axum::http::{HeaderMap, HeaderName, HeaderValue, Method};
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::{TraceContextExt as _, TracerProvider as _};
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
use opentelemetry_sdk::Resource;
use tracing::field::Empty;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::config::{ConfigError, Env};

/// Whether this process exports its spans (set once, at start).
static EXPORTING: AtomicBool = AtomicBool::new(false);

/// Whether spans are exported: only then are the spans of calls and
/// transactions made and `traceparent` headers read and written.
pub fn exporting() -> bool {
    EXPORTING.load(Ordering::Relaxed)
}

/// The target of the spans only an export needs (calls, transactions):
/// at DEBUG level, the log's default filter leaves them out.
pub const SPAN_TARGET: &str = "shop::trace";

/// The target of every request's span (at INFO, always on when spans are
/// exported).
pub const REQUEST_SPANS: &str = "shop::request";

/// The export of this process's spans, flushed and stopped when dropped.
#[derive(Debug)]
pub struct Export {
    provider: SdkTracerProvider,
}

impl Export {
    /// The export the standard variables ask for, if any:
    /// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (the whole URL) or
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` (to which `/v1/traces` is added);
    /// none when neither is set, or `OTEL_SDK_DISABLED=true`, or
    /// `OTEL_TRACES_EXPORTER=none`. The resource's `service.name` is
    /// `OTEL_SERVICE_NAME`, else `service_name`.
    pub fn from_env(env: &Env, service_name: &str) -> Result<Option<Export>, ConfigError> {
        let Some(endpoint) = endpoint(env)? else {
            return Ok(None);
        };
        if env
            .get("OTEL_SDK_DISABLED")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
        {
            return Ok(None);
        }
        match env.get("OTEL_TRACES_EXPORTER") {
            None | Some("otlp") => {}
            Some("none") => return Ok(None),
            Some(_) => return Err(env.error("OTEL_TRACES_EXPORTER", "otlp or none")),
        }
        match env
            .get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
            .or(env.get("OTEL_EXPORTER_OTLP_PROTOCOL"))
        {
            None | Some("http/protobuf") => {}
            Some(_) => {
                return Err(env.error(
                    "OTEL_EXPORTER_OTLP_PROTOCOL",
                    "http/protobuf (OTLP over HTTP, port 4318; gRPC is not built in)",
                ))
            }
        }
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_endpoint(endpoint)
            .build()
            .map_err(|err| {
                env.error(
                    "OTEL_EXPORTER_OTLP_ENDPOINT",
                    &format!("an http:// URL of an OTLP collector ({err})"),
                )
            })?;
        let name = env.get("OTEL_SERVICE_NAME").unwrap_or(service_name);
        let resource = Resource::builder()
            .with_service_name(name.to_owned())
            .with_attribute(opentelemetry::KeyValue::new(
                "service.version",
                env!("CARGO_PKG_VERSION"),
            ))
            .build();
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(resource)
            .build();
        Ok(Some(Export { provider }))
    }

    /// The tracer the log subscriber's OpenTelemetry layer makes spans
    /// with; from then on calls and transactions get spans of their own.
    pub fn tracer(&self) -> SdkTracer {
        EXPORTING.store(true, Ordering::Relaxed);
        self.provider.tracer("shop")
    }

    /// Sends every span ended so far.
    pub fn flush(&self) {
        if let Err(err) = self.provider.force_flush() {
            tracing::warn!(error = %err, "cannot export spans");
        }
    }
}

impl Drop for Export {
    /// Sends the spans still waiting, for at most two seconds: a collector
    /// that is down does not hold up the process's exit.
    fn drop(&mut self) {
        let shut = self
            .provider
            .shutdown_with_timeout(std::time::Duration::from_secs(2));
        if let Err(err) = shut {
            tracing::warn!(error = %err, "cannot export the last spans");
        }
    }
}

/// The traces endpoint the variables name, if any.
fn endpoint(env: &Env) -> Result<Option<String>, ConfigError> {
    let (name, url) = match env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") {
        Some(url) if !url.is_empty() => ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", url.to_owned()),
        _ => match env.get("OTEL_EXPORTER_OTLP_ENDPOINT") {
            Some(base) if !base.is_empty() => (
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                format!("{}/v1/traces", base.trim_end_matches('/')),
            ),
            _ => return Ok(None),
        },
    };
    match url.parse::<axum::http::Uri>() {
        Ok(uri) if matches!(uri.scheme_str(), Some("http" | "https")) && uri.host().is_some() => {
            Ok(Some(url))
        }
        _ => Err(env.error(name, "an http:// URL of an OTLP collector")),
    }
}

/// The span of one request to `service`, a child of the `traceparent` it
/// carries; none when spans are not exported.
pub fn request_span(
    service: &'static str,
    method: &Method,
    route: &str,
    request_id: &str,
    headers: &HeaderMap,
) -> Span {
    if !exporting() {
        return Span::none();
    }
    let span = tracing::info_span!(
        target: REQUEST_SPANS,
        "request",
        otel.name = %format_args!("{service} {method} {route}"),
        otel.kind = "server",
        otel.status_code = Empty,
        service,
        http.request.method = %method,
        http.route = route,
        http.response.status_code = Empty,
        user.id = Empty,
        request_id,
    );
    if headers.contains_key(TRACEPARENT) {
        let parent = TraceContextPropagator::new().extract(&Headers(headers));
        // Only a span not yet started refuses a parent, and this one is new.
        let _ = span.set_parent(parent);
    }
    span
}

/// The span of a call from this service to `service`, with its context
/// written into `headers` as `traceparent` (when spans are exported:
/// otherwise a span that records nothing, and no header).
pub fn call_span(service: &str, method: &Method, path: &str, headers: &mut HeaderMap) -> Span {
    // A client's own `traceparent` never travels past the service that
    // read it: this call's context replaces it, or none goes.
    headers.remove(TRACEPARENT);
    headers.remove(TRACESTATE);
    let span = tracing::debug_span!(
        target: SPAN_TARGET,
        "call",
        otel.name = %format_args!("call {service} {method}"),
        otel.kind = "client",
        otel.status_code = Empty,
        peer.service = service,
        http.request.method = %method,
        url.path = path.split('?').next().unwrap_or(path),
        http.response.status_code = Empty,
    );
    if exporting() && !span.is_disabled() {
        TraceContextPropagator::new().inject_context(&span.context(), &mut HeadersMut(headers));
    }
    span
}

/// The span of one database transaction (`what`: how it is sent).
pub fn transaction_span(postgres: bool, what: &'static str) -> Span {
    tracing::debug_span!(
        target: SPAN_TARGET,
        "transaction",
        otel.name = what,
        otel.kind = "client",
        otel.status_code = Empty,
        db.system.name = if postgres { "postgresql" } else { "sqlite" },
    )
}

/// Records a request's or a call's answer on its span: its status, and an
/// error for a 5xx (or, for a call, no answer at all).
pub fn record_status(span: &Span, status: Option<u16>) {
    match status {
        Some(status) => {
            span.record("http.response.status_code", status);
            if status >= 500 {
                span.record("otel.status_code", "ERROR");
            }
        }
        None => {
            span.record("otel.status_code", "ERROR");
        }
    }
}

/// Records a failed database transaction on its span.
pub fn record_failure(span: &Span) {
    span.record("otel.status_code", "ERROR");
}

/// The trace and span ids (hex) of the span being handled now, when
/// spans are exported and there is one.
pub fn current_ids() -> Option<(String, String)> {
    if !exporting() {
        return None;
    }
    let context = Span::current().context();
    let span = context.span();
    let ids = span.span_context();
    ids.is_valid()
        .then(|| (ids.trace_id().to_string(), ids.span_id().to_string()))
}

/// Records who made the request being handled (a customer's or staff's
/// id) on its span.
pub fn record_user(user: &str) {
    if exporting() {
        Span::current().record("user.id", user);
    }
}

const TRACEPARENT: &str = "traceparent";
const TRACESTATE: &str = "tracestate";

/// Request headers read as a carrier of trace context.
struct Headers<'a>(&'a HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(HeaderName::as_str).collect()
    }
}

/// Request headers written as a carrier of trace context.
struct HeadersMut<'a>(&'a mut HeaderMap);

impl Injector for HeadersMut<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(key.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            self.0.insert(name, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn export(pairs: &[(&str, &str)]) -> Result<Option<Export>, ConfigError> {
        Export::from_env(&Env::from_pairs(pairs.iter().copied()), "order")
    }

    #[test]
    fn an_export_only_when_a_collector_is_named_and_nothing_turns_it_off() {
        assert!(export(&[]).unwrap().is_none());
        assert!(export(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "")])
            .unwrap()
            .is_none());
        let named = [("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")];
        assert!(export(&named).unwrap().is_some());
        let whole = [(
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "http://c:4318/v1/traces",
        )];
        assert!(export(&whole).unwrap().is_some());
        for off in [
            ("OTEL_SDK_DISABLED", "true"),
            ("OTEL_TRACES_EXPORTER", "none"),
        ] {
            assert!(export(&[named[0], off]).unwrap().is_none(), "{off:?}");
        }
    }

    #[test]
    fn a_setting_the_export_cannot_follow_is_refused_naming_it() {
        for (pairs, variable) in [
            (
                vec![("OTEL_EXPORTER_OTLP_ENDPOINT", "not a url")],
                "OTEL_EXPORTER_OTLP_ENDPOINT",
            ),
            (
                vec![("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "ftp://c/v1/traces")],
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            ),
            (
                vec![
                    ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4317"),
                    ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
                ],
                "OTEL_EXPORTER_OTLP_PROTOCOL",
            ),
            (
                vec![
                    ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
                    ("OTEL_TRACES_EXPORTER", "zipkin"),
                ],
                "OTEL_TRACES_EXPORTER",
            ),
        ] {
            let refused = export(&pairs).expect_err(variable);
            assert_eq!(refused.name, variable);
        }
    }

    /// A `traceparent` written for a call is one a callee reads back as
    /// the same trace; one a client made up is not trusted past the
    /// service that read it.
    #[test]
    fn headers_carry_trace_context_both_ways() {
        let mut headers = HeaderMap::new();
        headers.insert(
            TRACEPARENT,
            HeaderValue::from_static("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
        );
        let read = TraceContextPropagator::new().extract(&Headers(&headers));
        let span = read.span();
        let ids = span.span_context();
        assert_eq!(
            ids.trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        let mut out = HeaderMap::new();
        TraceContextPropagator::new().inject_context(&read, &mut HeadersMut(&mut out));
        assert_eq!(out[TRACEPARENT], headers[TRACEPARENT]);
        // Not exporting: a call carries none, and drops the client's.
        let mut forwarded = headers.clone();
        let _span = call_span("catalog", &Method::GET, "/products/1", &mut forwarded);
        assert!(!forwarded.contains_key(TRACEPARENT));
    }
}
