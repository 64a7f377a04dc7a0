//! Calls from one service to another over HTTP.
//!
//! One pooled `reqwest::Client` per calling service, with connect and
//! request timeouts, so a dependency that is down or hung costs a bounded
//! wait and answers 503. Error envelopes from the other service are relayed
//! with their status; the request id of the incoming request travels along.

use axum::http::{HeaderMap, HeaderName, HeaderValue, Method};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::auth::{ServiceToken, SERVICE_TOKEN_HEADER};
use crate::config::HttpSettings;
use crate::error::{ApiError, ErrorBody};
use crate::telemetry::{current_request_id, REQUEST_ID_HEADER};

/// A connection pool with timeouts, shared by a service's [`ServiceClient`]s.
/// Every call carries the service credential, when one is configured.
pub fn http_client(settings: HttpSettings, token: Option<&ServiceToken>) -> reqwest::Client {
    let mut headers = HeaderMap::new();
    if let Some(token) = token {
        if let Ok(mut value) = HeaderValue::from_str(token.expose()) {
            value.set_sensitive(true);
            headers.insert(HeaderName::from_static(SERVICE_TOKEN_HEADER), value);
        }
    }
    reqwest::Client::builder()
        .default_headers(headers)
        .connect_timeout(settings.connect_timeout)
        .timeout(settings.request_timeout)
        .pool_idle_timeout(std::time::Duration::from_secs(60))
        .tcp_nodelay(true)
        .build()
        .unwrap_or_else(|_| reqwest::Client::new())
}

/// A client for one other service.
#[derive(Debug, Clone)]
pub struct ServiceClient {
    name: &'static str,
    base: String,
    http: reqwest::Client,
}

impl ServiceClient {
    /// `name` is used in error messages ("catalog service unavailable").
    pub fn new(name: &'static str, base: impl Into<String>, http: reqwest::Client) -> Self {
        ServiceClient {
            name,
            base: base.into().trim_end_matches('/').to_owned(),
            http,
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
        headers: HeaderMap,
    ) -> Result<T, ApiError> {
        let mut request = self
            .http
            .request(method, format!("{}{}", self.base, path))
            .headers(headers);
        if let Some(id) = current_request_id() {
            if let Ok(value) = HeaderValue::from_str(&id) {
                request = request.header(HeaderName::from_static(REQUEST_ID_HEADER), value);
            }
        }
        if let Some(body) = body {
            request = request.json(body);
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

    fn transport_error(&self, err: &reqwest::Error) -> ApiError {
        let why = if err.is_timeout() {
            "timed out"
        } else if err.is_connect() {
            "unreachable"
        } else {
            "failed"
        };
        tracing::warn!(service = self.name, error = %err, "call {why}");
        ApiError::Unavailable(format!("{} service {why}, try again", self.name))
    }
}
