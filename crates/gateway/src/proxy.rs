//! The reverse proxy: `/api/<service>/<rest>` -> `<service URL>/<rest>`.
//!
//! The request body is read whole first (at most the services' 64 KiB), so
//! a client's mistake is answered as the client's: a broken chunked body is
//! 400, a larger one 413, one sent too slowly 408, and no service is
//! called. Answers stream back as they are produced (server-sent events
//! pass through). The path is forwarded as the client encoded it, so
//! `/api/cart/cart/victim%23` reaches the cart as `/cart/victim%23`. A
//! service that cannot be reached, or does not start answering within the
//! request timeout, gives a JSON 503.
//!
//! No kind of traffic can take a service's connections from the rest: at
//! most `UPSTREAM_MAX_REQUESTS` requests are in flight to one service (a
//! connection each; below the service's own `SERVER_MAX_CONNECTIONS`, so
//! calls between services always find room), and event streams, which last,
//! are admitted by the gateway's own [`StreamGate`] (`EVENT_STREAMS_*`, per
//! client address) before they take one of those places.
//!
//! A request with the dashboard's session cookie goes on with the session's
//! access token instead of the cookie ([`crate::session`]).
//!
//! A service served in the gateway's own process (`shop up`) gets the
//! request in-process ([`shop_common::local`]): the same request, places
//! and timeout, without the loopback connection.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::header::{self, HeaderName};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use http_body::{Frame, SizeHint};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use shop_common::config::HttpSettings;
use shop_common::error::{error_response, try_again_later};
use shop_common::extract::{read_body, MAX_BODY_BYTES};
use shop_common::local;
use shop_common::streams::{StreamGate, StreamPermit, FORWARDED_FOR};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tracing::Instrument;

use crate::session::{self, Sessions};

/// The services behind the gateway, by the prefix that reaches them.
#[derive(Debug, Clone)]
pub struct Upstreams {
    /// `(name, base URL)`, e.g. `("catalog", "http://catalog-service:8001")`.
    pub services: Vec<(&'static str, String)>,
}

impl Upstreams {
    /// `host:port` of each service whose URL names an IP, where it may be
    /// served in this process.
    fn authorities(&self) -> HashMap<&'static str, String> {
        self.services
            .iter()
            .filter_map(|(name, base)| Some((*name, local::authority_of(base)?)))
            .collect()
    }
}

/// The proxy's shared state.
pub struct Proxy {
    client: Client<HttpConnector, Body>,
    upstreams: Arc<Upstreams>,
    authorities: Arc<HashMap<&'static str, String>>,
    request_timeout: Duration,
    /// Places for requests in flight, per service.
    in_flight: Arc<HashMap<&'static str, Arc<Semaphore>>>,
    streams: StreamGate,
    sessions: Sessions,
}

impl Proxy {
    /// A proxy to `upstreams` with at most `max_in_flight` requests in
    /// flight to each, and event streams admitted by `streams`.
    pub fn new(
        upstreams: Upstreams,
        http: HttpSettings,
        max_in_flight: usize,
        streams: StreamGate,
        sessions: Sessions,
    ) -> Proxy {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(http.connect_timeout));
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .build(connector);
        let in_flight = upstreams
            .services
            .iter()
            .map(|(name, _)| (*name, Arc::new(Semaphore::new(max_in_flight))))
            .collect();
        Proxy {
            client,
            authorities: Arc::new(upstreams.authorities()),
            upstreams: Arc::new(upstreams),
            request_timeout: http.request_timeout,
            in_flight: Arc::new(in_flight),
            streams,
            sessions,
        }
    }

    pub fn upstreams(&self) -> &Upstreams {
        &self.upstreams
    }
}

/// Headers that describe one connection, not the message: never forwarded.
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Removes the standard hop-by-hop headers and every header the message
/// names in `Connection` (RFC 9110 section 7.6.1).
fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
}

/// Whether the request opens an event stream (which lasts, unlike every
/// other request, bounded by the request timeout).
fn is_event_stream(service: &str, method: &Method, path: &str) -> bool {
    service == "order"
        && method == Method::GET
        && crate::internal::normalized_segments(path) == ["events", "stream"]
}

/// An answer's body that holds the places its request took until it ends.
struct Holding {
    body: Body,
    _in_flight: OwnedSemaphorePermit,
    _stream: Option<StreamPermit>,
}

impl HttpBody for Holding {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// How long a client refused for a busy service should wait.
const BUSY_RETRY_AFTER_SECS: u64 = 1;

/// Splits `/api/<service>/<rest>` into the service's base URL and `/<rest>`.
fn route<'a>(upstreams: &'a Upstreams, path: &'a str) -> Option<(&'static str, &'a str, &'a str)> {
    let rest = path.strip_prefix("/api/")?;
    let (name, tail) = match rest.find('/') {
        Some(at) => (&rest[..at], &rest[at..]),
        None => (rest, ""),
    };
    upstreams
        .services
        .iter()
        .find(|(service, _)| *service == name)
        .map(|(service, base)| (*service, base.as_str(), tail))
}

/// Forwards one request.
pub async fn forward(
    State(proxy): State<Arc<Proxy>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
) -> Response {
    let path = request.uri().path().to_owned();
    let Some((service, base, tail)) = route(&proxy.upstreams, &path) else {
        return error_response(StatusCode::NOT_FOUND, "Not Found");
    };
    if crate::internal::is_service_only(service, tail) {
        return error_response(StatusCode::NOT_FOUND, "Not Found");
    }
    // The dashboard's session: same origin for unsafe methods, and its
    // access token instead of the cookie (a client's own token wins).
    let session = session::session_token(request.headers());
    if session.is_some() && session::unsafe_method(request.method()) {
        if let Err(refused) = session::check_origin(request.headers()) {
            return refused.into_response();
        }
    }
    let bearer = match session {
        Some(token) if !request.headers().contains_key(header::AUTHORIZATION) => {
            match proxy.sessions.bearer(&token).await {
                Ok(bearer) => Some(bearer),
                Err(err) => return err.into_response(),
            }
        }
        _ => None,
    };
    let client = proxy.streams.trusted.client(peer, request.headers());
    let stream = if is_event_stream(service, request.method(), tail) {
        match proxy.streams.admit(peer, request.headers()) {
            Ok(permit) => Some(permit),
            Err(busy) => return busy.into_response(),
        }
    } else {
        None
    };
    let Some(in_flight) = proxy
        .in_flight
        .get(service)
        .and_then(|places| places.clone().try_acquire_owned().ok())
    else {
        tracing::warn!(service, "too many requests in flight to the service");
        return try_again_later(
            format!("{service} service is busy, try again"),
            BUSY_RETRY_AFTER_SECS,
        );
    };
    let (parts, body) = request.into_parts();
    let body = match read_body(body, MAX_BODY_BYTES).await {
        Ok(body) => body,
        Err(err) => return err.into_response(),
    };
    let length = body.len();
    let body = if length == 0 {
        Body::empty()
    } else {
        Body::from(body)
    };
    let mut request = Request::from_parts(parts, body);
    let tail = if tail.is_empty() { "/" } else { tail };
    let target = match request.uri().query() {
        Some(query) => format!("{tail}?{query}"),
        None => tail.to_owned(),
    };
    let local = proxy
        .authorities
        .get(service)
        .and_then(|authority| local::served_at(authority));
    // In-process the target is the path alone, as a server reads it.
    let uri = match local {
        Some(_) => target.parse::<Uri>(),
        None => format!("{base}{target}").parse::<Uri>(),
    };
    let Ok(uri) = uri else {
        return error_response(StatusCode::UNPROCESSABLE_ENTITY, "Invalid request path");
    };
    let client_host = request.headers().get(header::HOST).cloned();
    let method = request.method().clone();
    *request.uri_mut() = uri;
    let headers = request.headers_mut();
    strip_hop_by_hop(headers);
    headers.remove(header::HOST);
    // Clients never speak for a service.
    headers.remove(shop_common::auth::SERVICE_TOKEN_HEADER);
    // The session cookie stays at the gateway; its access token goes on.
    headers.remove(header::COOKIE);
    if let Some(bearer) = bearer {
        headers.insert(header::AUTHORIZATION, bearer);
    }
    // The client as the gateway knows it, not as it claims to be.
    headers.remove(FORWARDED_FOR);
    if let Ok(client) = HeaderValue::from_str(&client.to_string()) {
        headers.insert(HeaderName::from_static(FORWARDED_FOR), client);
    }
    headers.remove(header::CONTENT_LENGTH);
    if length > 0 {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    }
    if let Some(host) = client_host {
        headers.insert(HeaderName::from_static("x-forwarded-host"), host);
    }
    if let Some(id) = shop_common::telemetry::current_request_id() {
        if let Ok(value) = HeaderValue::from_str(&id) {
            headers.insert(
                HeaderName::from_static(shop_common::telemetry::REQUEST_ID_HEADER),
                value,
            );
        }
    }

    let span = shop_common::traces::call_span(service, &method, tail, headers);

    let answer = async {
        match local {
            Some(local) => Ok(local.call(request).await),
            None => proxy
                .client
                .request(request)
                .await
                .map(|response| response.map(Body::new)),
        }
    };
    let answer = tokio::time::timeout(proxy.request_timeout, answer.instrument(span.clone())).await;
    shop_common::traces::record_status(
        &span,
        match &answer {
            Ok(Ok(response)) => Some(response.status().as_u16()),
            _ => None,
        },
    );
    match answer {
        Ok(Ok(response)) => {
            let (mut parts, body) = response.into_parts();
            strip_hop_by_hop(&mut parts.headers);
            // A redirect to a path of the service (`/docs` -> `/docs/`) must
            // stay under the service's prefix, not land on the gateway's own.
            if let Some(location) = parts.headers.get(header::LOCATION) {
                let under_prefix = location
                    .to_str()
                    .ok()
                    .filter(|l| l.starts_with('/') && !l.starts_with("//"))
                    .and_then(|l| HeaderValue::from_str(&format!("/api/{service}{l}")).ok());
                if let Some(rewritten) = under_prefix {
                    parts.headers.insert(header::LOCATION, rewritten);
                }
            }
            // The gateway's own CORS layer answers for the origin.
            let cors: Vec<HeaderName> = parts
                .headers
                .keys()
                .filter(|name| name.as_str().starts_with("access-control-"))
                .cloned()
                .collect();
            for name in cors {
                parts.headers.remove(name);
            }
            let body = Holding {
                body,
                _in_flight: in_flight,
                _stream: stream,
            };
            Response::from_parts(parts, Body::new(body)).into_response()
        }
        Ok(Err(err)) => {
            tracing::warn!(service, error = %err, "upstream unreachable");
            if err.is_connect() {
                error_response(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("{service} service unavailable, try again"),
                )
            } else {
                error_response(
                    StatusCode::BAD_GATEWAY,
                    format!("{service} service closed the connection"),
                )
            }
        }
        Err(_) => {
            tracing::warn!(service, "upstream timed out");
            error_response(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("{service} service timed out, try again"),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_by_prefix_and_keeps_encoding() {
        let upstreams = Upstreams {
            services: vec![
                ("cart", "http://c:1".into()),
                ("catalog", "http://k:2".into()),
            ],
        };
        assert_eq!(
            route(&upstreams, "/api/cart/cart/a%23"),
            Some(("cart", "http://c:1", "/cart/a%23"))
        );
        assert_eq!(
            route(&upstreams, "/api/catalog"),
            Some(("catalog", "http://k:2", ""))
        );
        assert_eq!(route(&upstreams, "/api/cartx/y"), None);
        assert_eq!(route(&upstreams, "/apix/cart"), None);
    }
}
