//! One purchase through the gateway is one trace: the spans of the
//! gateway, order, cart, catalog and payment services, each service's
//! request a child of the call that made it, exported over OTLP to a
//! collector this test runs (the process's logging set up as `shop up`
//! sets it up, with `OTEL_EXPORTER_OTLP_ENDPOINT`). Both with the services
//! in one process (calls in-process) and calling each other over HTTP.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use prost::Message;
use reqwest::StatusCode;
use serde_json::{json, Value};
use shop_common::config::Env;
use shop_common::telemetry::{init_logging, LogFormat, Logging};

use crate::helpers::{listener, Options, Stack};

/// OTLP's span kinds.
const SERVER: i32 = 2;
const CLIENT: i32 = 3;

/// One span as the collector received it.
#[derive(Debug, Clone)]
struct Received {
    trace: String,
    id: String,
    parent: String,
    name: String,
    kind: i32,
    /// The resource's `service.name`.
    process: String,
    attributes: HashMap<String, String>,
}

impl Received {
    fn attribute(&self, key: &str) -> &str {
        self.attributes.get(key).map_or("", String::as_str)
    }
}

fn text(attributes: &[KeyValue]) -> HashMap<String, String> {
    attributes
        .iter()
        .map(|kv| {
            let value = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(AnyValue::StringValue(s)) => s.clone(),
                Some(AnyValue::IntValue(i)) => i.to_string(),
                Some(AnyValue::BoolValue(b)) => b.to_string(),
                Some(AnyValue::DoubleValue(d)) => d.to_string(),
                _ => String::new(),
            };
            (kv.key.clone(), value)
        })
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// An OTLP/HTTP collector of traces on a port of its own.
struct Collector {
    url: String,
    spans: Arc<Mutex<Vec<Received>>>,
}

impl Collector {
    async fn start() -> Collector {
        let spans = Arc::new(Mutex::new(Vec::new()));
        let app = axum::Router::new()
            .route("/v1/traces", post(receive))
            .with_state(spans.clone());
        let (listener, url) = listener().await;
        tokio::spawn(async move { axum::serve(listener, app).await });
        Collector { url, spans }
    }

    fn spans(&self) -> Vec<Received> {
        self.spans.lock().unwrap().clone()
    }
}

async fn receive(State(spans): State<Arc<Mutex<Vec<Received>>>>, body: Bytes) -> Vec<u8> {
    let request = ExportTraceServiceRequest::decode(body).expect("an OTLP trace export");
    let mut received = spans.lock().unwrap();
    for resource in request.resource_spans {
        let process = resource
            .resource
            .map(|r| text(&r.attributes))
            .and_then(|a| a.get("service.name").cloned())
            .unwrap_or_default();
        for scope in resource.scope_spans {
            for span in scope.spans {
                received.push(Received {
                    trace: hex(&span.trace_id),
                    id: hex(&span.span_id),
                    parent: hex(&span.parent_span_id),
                    name: span.name,
                    kind: span.kind,
                    process: process.clone(),
                    attributes: text(&span.attributes),
                });
            }
        }
    }
    ExportTraceServiceResponse::default().encode_to_vec()
}

/// This test process's logging, exporting to a collector of its own.
async fn traced() -> (Collector, Logging) {
    let collector = Collector::start().await;
    let env = Env::from_pairs([("OTEL_EXPORTER_OTLP_ENDPOINT", collector.url.clone())]);
    let logging = init_logging(LogFormat::Json, &env, "shop").expect("logging set up");
    assert!(
        shop_common::traces::exporting(),
        "another test set this process's logging up first"
    );
    (collector, logging)
}

/// The spans of `trace` once the export holds `enough` of them.
async fn trace_of(
    collector: &Collector,
    logging: &Logging,
    trace: &str,
    enough: impl Fn(&[Received]) -> bool,
) -> Vec<Received> {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        logging.traces.as_ref().expect("exporting").flush();
        let spans: Vec<Received> = collector
            .spans()
            .into_iter()
            .filter(|s| s.trace == trace)
            .collect();
        if enough(&spans) {
            return spans;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the trace never came whole: {spans:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn requests_of<'a>(spans: &'a [Received], service: &str) -> Vec<&'a Received> {
    spans
        .iter()
        .filter(|s| s.kind == SERVER && s.attribute("service") == service)
        .collect()
}

/// Sends `method url` with `traceparent` (if any) through the gateway.
async fn send(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    body: Option<Value>,
    traceparent: Option<&str>,
) -> (StatusCode, Value) {
    let mut request = http.request(method, url);
    if let Some(body) = body {
        request = request.json(&body);
    }
    if let Some(traceparent) = traceparent {
        request = request.header("traceparent", traceparent);
    }
    let response = request.send().await.expect("request sent");
    let status = response.status();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body)
}

async fn one_purchase_is_one_trace(options: Options) {
    let (collector, logging) = traced().await;
    let stack = Stack::start_with(options).await;
    let api = format!("{}/api", stack.gateway);
    let http = reqwest::Client::new();
    let product = stack.product("Lamp", "25.00", 10).await;

    // The client's own trace, which the gateway continues.
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let client_span = "00f067aa0ba902b7";
    let traceparent = format!("00-{trace}-{client_span}-01");
    let user = "tracer";
    let (status, item) = send(
        &http,
        reqwest::Method::POST,
        &format!("{api}/cart/cart/{user}/items"),
        Some(json!({"product_id": product, "quantity": 2})),
        Some(&traceparent),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{item}");
    let (status, order) = send(
        &http,
        reqwest::Method::POST,
        &format!("{api}/order/orders"),
        Some(json!({"user_id": user})),
        Some(&traceparent),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{order}");
    let id = order["id"].as_i64().unwrap();
    let (status, paid) = send(
        &http,
        reqwest::Method::POST,
        &format!("{api}/order/orders/{id}/payment"),
        None,
        Some(&traceparent),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{paid}");
    assert_eq!(paid["status"], "paid");

    let services = ["gateway", "cart", "order", "catalog", "payment"];
    let spans = trace_of(&collector, &logging, trace, |spans| {
        requests_of(spans, "gateway").len() >= 3
            && services
                .iter()
                .all(|service| !requests_of(spans, service).is_empty())
            && requests_of(spans, "order").len() >= 3
    })
    .await;
    let by_id: HashMap<&str, &Received> = spans.iter().map(|s| (s.id.as_str(), s)).collect();

    // Every span hangs from the client's, through spans of this trace.
    for span in &spans {
        assert_eq!(span.process, "shop", "{span:#?}");
        assert!(
            span.parent == client_span || by_id.contains_key(span.parent.as_str()),
            "a span of the trace has a parent outside it: {span:#?}"
        );
    }
    // The gateway's three requests are the client span's only children.
    let roots: Vec<&Received> = spans.iter().filter(|s| s.parent == client_span).collect();
    assert_eq!(roots.len(), 3, "{roots:#?}");
    for root in &roots {
        assert_eq!(root.kind, SERVER);
        assert_eq!(root.attribute("service"), "gateway", "{root:#?}");
    }

    // Each service's request is the child of a call to that service from
    // another service's request: the client's header never reached it.
    for service in &services[1..] {
        for request in requests_of(&spans, service) {
            let call = by_id[request.parent.as_str()];
            assert_eq!(call.kind, CLIENT, "{request:#?} under {call:#?}");
            assert_eq!(call.attribute("peer.service"), *service, "{call:#?}");
            let caller = by_id[call.parent.as_str()];
            assert_eq!(caller.kind, SERVER, "{call:#?} under {caller:#?}");
            assert_ne!(caller.attribute("service"), *service);
            assert_eq!(request.attribute("http.response.status_code").len(), 3);
            // Named by its service, method and route, as a trace view lists it.
            let route = request.attribute("http.route");
            assert!(route.starts_with('/'), "{request:#?}");
            assert_eq!(
                request.name,
                format!(
                    "{service} {} {route}",
                    request.attribute("http.request.method")
                )
            );
        }
    }
    // The order service called the cart (its lines, then their removal),
    // the catalog (the reservation) and the payment service, which asked
    // it back about the attempt.
    let called_by = |caller: &str, callee: &str| {
        requests_of(&spans, callee)
            .into_iter()
            .filter(|request| {
                let call = by_id[request.parent.as_str()];
                by_id[call.parent.as_str()].attribute("service") == caller
            })
            .count()
    };
    assert!(called_by("order", "cart") >= 2, "{spans:#?}");
    assert!(called_by("order", "catalog") >= 1, "{spans:#?}");
    assert!(called_by("order", "payment") >= 1, "{spans:#?}");
    assert!(called_by("payment", "order") >= 1, "{spans:#?}");
    // Writes are transactions inside the request that made them.
    for service in ["cart", "order", "catalog", "payment"] {
        let transactions = spans
            .iter()
            .filter(|s| {
                s.attribute("db.system.name") == "sqlite"
                    || s.attribute("db.system.name") == "postgresql"
            })
            .filter(|s| {
                let mut at = s.parent.as_str();
                while let Some(parent) = by_id.get(at) {
                    if parent.kind == SERVER {
                        return parent.attribute("service") == service;
                    }
                    at = parent.parent.as_str();
                }
                false
            })
            .count();
        assert!(transactions >= 1, "no transaction of {service}: {spans:#?}");
    }
    drop(stack);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_purchase_through_the_gateway_is_one_trace() {
    one_purchase_is_one_trace(Options::default()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_purchase_is_one_trace_with_the_services_calling_over_http() {
    one_purchase_is_one_trace(Options {
        over_network: true,
        ..Options::default()
    })
    .await;
}

/// A request without a `traceparent`, or with one that is not one, is a
/// trace of its own beginning at the gateway, and is served all the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_without_a_valid_traceparent_begins_its_own_trace() {
    let (collector, logging) = traced().await;
    let stack = Stack::start().await;
    let http = reqwest::Client::new();
    let product = stack.product("Lamp", "25.00", 10).await;
    let url = format!("{}/api/catalog/products/{product}", stack.gateway);
    for traceparent in [
        None,
        Some("00-zzz-not-a-trace"),
        Some("00-00000000000000000000000000000000-00f067aa0ba902b7-01"),
        Some("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
    ] {
        let (status, body) = send(&http, reqwest::Method::GET, &url, None, traceparent).await;
        assert_eq!(status, StatusCode::OK, "{traceparent:?}: {body}");
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let roots = loop {
        logging.traces.as_ref().expect("exporting").flush();
        let roots: Vec<Received> = collector
            .spans()
            .into_iter()
            .filter(|s| s.kind == SERVER && s.attribute("service") == "gateway")
            .collect();
        if roots.len() >= 4 {
            break roots;
        }
        assert!(std::time::Instant::now() < deadline, "{roots:#?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let traces: HashSet<&str> = roots.iter().map(|r| r.trace.as_str()).collect();
    assert_eq!(traces.len(), 4, "each request its own trace: {roots:#?}");
    for root in &roots {
        assert_eq!(root.parent, "", "{root:#?}");
        assert_ne!(root.trace, "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_ne!(root.trace, "00000000000000000000000000000000");
    }
}

/// With accounts on, a customer's requests name them (`user.id`, their
/// account id) in every service that checked their token, and their token
/// appears in no span.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customers_requests_carry_their_id_and_never_their_token() {
    let (collector, logging) = traced().await;
    let stack = Stack::start_with(Options {
        extra_env: vec![("AUTH", "on".to_owned())],
        ..Options::default()
    })
    .await;
    let product = stack.product("Lamp", "25.00", 10).await;
    let ada = stack.log_in("ada@example.com", "ada passphrase").await;
    let id = ada["account"]["id"].as_str().unwrap().to_owned();
    let token = ada["access_token"].as_str().unwrap().to_owned();
    let trace = "0af7651916cd43dd8448eb211c80319c";
    let response = stack
        .http
        .post(format!("{}/api/cart/cart/{id}/items", stack.gateway))
        .header("authorization", format!("Bearer {token}"))
        .header("traceparent", format!("00-{trace}-b7ad6b7169203331-01"))
        .json(&json!({"product_id": product, "quantity": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let spans = trace_of(&collector, &logging, trace, |spans| {
        !requests_of(spans, "cart").is_empty()
    })
    .await;
    let cart = requests_of(&spans, "cart")[0];
    assert_eq!(cart.attribute("user.id"), id, "{cart:#?}");
    for span in collector.spans() {
        for value in span.attributes.values() {
            assert!(!value.contains(&token), "a token in {span:#?}");
        }
    }
}
