//! Calls from one service to another over HTTP.
//!
//! One pooled `reqwest::Client` per calling service, with connect and
//! request timeouts, so a dependency that is down or hung costs a bounded
//! wait and answers 503. Error envelopes from the other service are relayed
//! with their status; the request id of the incoming request travels along.
//! A service served in the same process is called in-process instead
//! ([`crate::local`]), with the same headers, answers and timeout.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::auth::{ServiceToken, SERVICE_TOKEN_HEADER};
use crate::config::HttpSettings;
use crate::error::{ApiError, ErrorBody};
use crate::local::{self, Local};
use crate::telemetry::{current_request_id, REQUEST_ID_HEADER};
use crate::traces;
use tracing::Instrument;

/// A connection pool with timeouts, shared by a service's [`ServiceClient`]s.
pub fn http_client(settings: HttpSettings) -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(settings.connect_timeout)
        .timeout(settings.request_timeout)
        .pool_idle_timeout(std::time::Duration::from_secs(60))
        .tcp_nodelay(true)
        .build()
        .unwrap_or_else(|_| reqwest::Client::new())
}

/// The service credential as a header value, kept out of debug output.
fn credential(token: &ServiceToken) -> Option<HeaderValue> {
    let mut value = HeaderValue::from_str(token.expose()).ok()?;
    value.set_sensitive(true);
    Some(value)
}

/// What one service's calls to the others share: the pool of
/// [`http_client`], the credential every call carries (when one is
/// configured) and the request timeout.
#[derive(Debug, Clone)]
pub struct Calls {
    http: reqwest::Client,
    credential: Option<HeaderValue>,
    request_timeout: Duration,
}

impl Calls {
    pub fn new(settings: HttpSettings, token: Option<&ServiceToken>) -> Calls {
        Calls {
            http: http_client(settings),
            credential: token.and_then(credential),
            request_timeout: settings.request_timeout,
        }
    }
}

/// A client for one other service.
#[derive(Debug, Clone)]
pub struct ServiceClient {
    name: &'static str,
    base: String,
    /// `host:port` of `base` when it names an IP, where a service of this
    /// process may be served.
    authority: Option<String>,
    calls: Calls,
}

impl ServiceClient {
    /// `name` is used in error messages ("catalog service unavailable").
    pub fn new(name: &'static str, base: impl Into<String>, calls: Calls) -> Self {
        let base = base.into().trim_end_matches('/').to_owned();
        ServiceClient {
            name,
            authority: local::authority_of(&base),
            base,
            calls,
        }
    }

    /// `GET base + path`, decoding a JSON answer.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ApiError> {
        self.call(Method::GET, path, None::<&()>, HeaderMap::new())
            .await
    }

    /// A call with an optional JSON body and extra headers.
    pub async fn call<T: DeserializeOwned, B: Serialize + ?Sized>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
        mut headers: HeaderMap,
    ) -> Result<T, ApiError> {
        if let Some(id) = current_request_id() {
            if let Ok(value) = HeaderValue::from_str(&id) {
                headers.insert(HeaderName::from_static(REQUEST_ID_HEADER), value);
            }
        }
        let body = match body.map(serde_json::to_vec).transpose() {
            Ok(body) => body,
            Err(err) => return Err(self.unavailable("failed", &err)),
        };
        if body.is_some() {
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
        }
        if let Some(credential) = &self.calls.credential {
            headers.insert(
                HeaderName::from_static(SERVICE_TOKEN_HEADER),
                credential.clone(),
            );
        }
        let span = traces::call_span(self.name, &method, path, &mut headers);
        let local = self.authority.as_deref().and_then(local::served_at);
        let answer = async {
            match local {
                Some(local) => self.call_local(local, method, path, body, headers).await,
                None => self.call_http(method, path, body, headers).await,
            }
        }
        .instrument(span.clone())
        .await;
        traces::record_status(
            &span,
            answer.as_ref().ok().map(|(status, _)| status.as_u16()),
        );
        let (status, bytes) = answer?;
        if status.is_success() {
            serde_json::from_slice(&bytes).map_err(|err| {
                tracing::warn!(service = self.name, error = %err, "undecodable answer");
                ApiError::BadGateway(format!("{} service sent an invalid answer", self.name))
            })
        } else {
            let body = serde_json::from_slice::<ErrorBody>(&bytes).unwrap_or_else(|_| ErrorBody {
                detail: format!("{} service answered {}", self.name, status),
                product_id: None,
            });
            Err(ApiError::from_status(status, body))
        }
    }

    async fn call_http(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
        headers: HeaderMap,
    ) -> Result<(StatusCode, Bytes), ApiError> {
        let mut request = self
            .calls
            .http
            .request(method, format!("{}{}", self.base, path))
            .headers(headers);
        if let Some(body) = body {
            request = request.body(body);
        }
        let response = request
            .send()
            .await
            .map_err(|err| self.transport_error(&err))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|err| self.transport_error(&err))?;
        Ok((status, bytes))
    }

    /// The call to a service of this process: the same request, answer
    /// and timeout as over HTTP, without the network.
    async fn call_local(
        &self,
        local: Local,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
        headers: HeaderMap,
    ) -> Result<(StatusCode, Bytes), ApiError> {
        let mut request = Request::new(body.map_or_else(Body::empty, Body::from));
        *request.method_mut() = method;
        *request.uri_mut() = path
            .parse()
            .map_err(|err| self.unavailable("failed", &err))?;
        *request.headers_mut() = headers;
        let exchange = async {
            let response = local.call(request).await;
            let status = response.status();
            (
                status,
                axum::body::to_bytes(response.into_body(), usize::MAX).await,
            )
        };
        match tokio::time::timeout(self.calls.request_timeout, exchange).await {
            Ok((status, Ok(bytes))) => Ok((status, bytes)),
            Ok((_, Err(err))) => Err(self.unavailable("failed", &err)),
            Err(elapsed) => Err(self.unavailable("timed out", &elapsed)),
        }
    }

    fn transport_error(&self, err: &reqwest::Error) -> ApiError {
        let why = if err.is_timeout() {
            "timed out"
        } else if err.is_connect() {
            "unreachable"
        } else {
            "failed"
        };
        self.unavailable(why, err)
    }

    fn unavailable(&self, why: &str, err: &dyn std::fmt::Display) -> ApiError {
        tracing::warn!(service = self.name, error = %err, "call {why}");
        ApiError::Unavailable(format!("{} service {why}, try again", self.name))
    }
}
