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

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::{self, HeaderName};
use axum::http::{HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use shop_common::config::HttpSettings;
use shop_common::error::error_response;
use shop_common::extract::{read_body, MAX_BODY_BYTES};

/// The services behind the gateway, by the prefix that reaches them.
#[derive(Debug, Clone)]
pub struct Upstreams {
    /// `(name, base URL)`, e.g. `("catalog", "http://catalog-service:8001")`.
    pub services: Vec<(&'static str, String)>,
}

/// The proxy's shared state.
#[derive(Clone)]
pub struct Proxy {
    client: Client<HttpConnector, Body>,
    upstreams: Arc<Upstreams>,
    request_timeout: Duration,
}

impl Proxy {
    pub fn new(upstreams: Upstreams, http: HttpSettings) -> Proxy {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(http.connect_timeout));
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .build(connector);
        Proxy {
            client,
            upstreams: Arc::new(upstreams),
            request_timeout: http.request_timeout,
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

fn strip_hop_by_hop(headers: &mut axum::http::HeaderMap) {
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
}

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
pub async fn forward(State(proxy): State<Proxy>, request: Request) -> Response {
    let path = request.uri().path().to_owned();
    let Some((service, base, tail)) = route(&proxy.upstreams, &path) else {
        return error_response(StatusCode::NOT_FOUND, "Not Found");
    };
    if crate::internal::is_service_only(service, request.method(), tail) {
        return error_response(StatusCode::NOT_FOUND, "Not Found");
    }
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
        Some(query) => format!("{base}{tail}?{query}"),
        None => format!("{base}{tail}"),
    };
    let Ok(uri) = target.parse::<Uri>() else {
        return error_response(StatusCode::UNPROCESSABLE_ENTITY, "Invalid request path");
    };
    let client_host = request.headers().get(header::HOST).cloned();
    *request.uri_mut() = uri;
    let headers = request.headers_mut();
    strip_hop_by_hop(headers);
    headers.remove(header::HOST);
    // Clients never speak for a service.
    headers.remove(shop_common::auth::SERVICE_TOKEN_HEADER);
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

    match tokio::time::timeout(proxy.request_timeout, proxy.client.request(request)).await {
        Ok(Ok(response)) => {
            let (mut parts, body) = response.into_parts();
            strip_hop_by_hop(&mut parts.headers);
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
