//! The one error envelope of every Shop service: `{"detail": "..."}`.
//!
//! Handlers return `Result<_, ApiError>` and use `?`; `From` impls map
//! database and upstream failures to the right status. Internal errors are
//! logged with their cause and answered without it.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// The JSON body of every error response.
#[derive(Debug, Clone, Serialize, serde::Deserialize, ToSchema)]
pub struct ErrorBody {
    /// A human-readable explanation.
    pub detail: String,
    /// The product a stock conflict concerns, so a client can show the
    /// error next to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_id: Option<i64>,
}

/// Any error, kept as the cause of an [`ApiError::Internal`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// An error a handler answers with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: a business rule is broken.
    #[error("{0}")]
    BadRequest(String),
    /// 401: the caller lacks the credential the endpoint needs.
    #[error("{0}")]
    Unauthorized(String),
    /// 403: the caller is known but may not do this (a role or owner
    /// mismatch).
    #[error("{0}")]
    Forbidden(String),
    /// 404: the resource does not exist.
    #[error("{0}")]
    NotFound(String),
    /// 409: conflicts with the current state.
    #[error("{0}")]
    Conflict(String),
    /// 409: not enough stock of one product (named in the body).
    #[error("{detail}")]
    StockConflict { product_id: i64, detail: String },
    /// 408: the client did not send its request body in time.
    #[error("{0}")]
    RequestTimeout(String),
    /// 413: the body is larger than allowed.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// 422: malformed JSON, wrong types or out-of-range values.
    #[error("{0}")]
    Unprocessable(String),
    /// 429 with `Retry-After`: the caller has tried too often (failed
    /// logins).
    #[error("{detail}")]
    TooManyRequests {
        detail: String,
        retry_after_secs: u64,
    },
    /// 502: a service it depends on answered with something it cannot use.
    #[error("{0}")]
    BadGateway(String),
    /// 503: a service or database it depends on is unreachable or timed out.
    #[error("{0}")]
    Unavailable(String),
    /// 500: a bug. The cause, with its chain of sources, is logged where the
    /// response is made, never sent.
    #[error("internal error: {0}")]
    Internal(#[source] BoxError),
}

impl ApiError {
    /// A 500 caused by `cause` (an error, or a message for a broken
    /// invariant).
    pub fn internal(cause: impl Into<BoxError>) -> ApiError {
        ApiError::Internal(cause.into())
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) | ApiError::StockConflict { .. } => StatusCode::CONFLICT,
            ApiError::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::BadGateway(_) => StatusCode::BAD_GATEWAY,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// An error with the given status and body, as relayed from another
    /// service; statuses outside the envelope's set become 502 (a 401 from
    /// another service means this one's service credential is wrong: 502
    /// too, not the caller's fault).
    pub fn from_status(status: StatusCode, body: ErrorBody) -> ApiError {
        let detail = body.detail;
        match status {
            StatusCode::CONFLICT if body.product_id.is_some() => ApiError::StockConflict {
                product_id: body.product_id.unwrap_or_default(),
                detail,
            },
            StatusCode::BAD_REQUEST => ApiError::BadRequest(detail),
            StatusCode::NOT_FOUND => ApiError::NotFound(detail),
            StatusCode::CONFLICT => ApiError::Conflict(detail),
            StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge(detail),
            StatusCode::UNPROCESSABLE_ENTITY => ApiError::Unprocessable(detail),
            StatusCode::SERVICE_UNAVAILABLE | StatusCode::GATEWAY_TIMEOUT => {
                ApiError::Unavailable(detail)
            }
            _ => ApiError::BadGateway(detail),
        }
    }

    /// The body sent to the client.
    pub fn body(&self) -> ErrorBody {
        let detail = match self {
            ApiError::Internal(_) => "Internal server error".to_owned(),
            other => other.to_string(),
        };
        let product_id = match self {
            ApiError::StockConflict { product_id, .. } => Some(*product_id),
            _ => None,
        };
        ErrorBody { detail, product_id }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(cause) = &self {
            tracing::error!(cause = %chain(cause.as_ref()), "internal error");
        }
        let mut response = (self.status(), axum::Json(self.body())).into_response();
        if let ApiError::TooManyRequests {
            retry_after_secs, ..
        } = self
        {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(retry_after_secs),
            );
        }
        response
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(err: sqlx::Error) -> Self {
        if crate::db::is_unavailable(&err) {
            tracing::warn!(error = %err, "database unavailable");
            ApiError::Unavailable("Database unavailable, try again".to_owned())
        } else {
            ApiError::internal(err)
        }
    }
}

/// `err` and its sources, outermost first: "a: b: c".
fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// An error response with the envelope, for places that build responses
/// without an `ApiError` (fallbacks, middleware).
pub fn error_response(status: StatusCode, detail: impl Into<String>) -> Response {
    (
        status,
        axum::Json(ErrorBody {
            detail: detail.into(),
            product_id: None,
        }),
    )
        .into_response()
}

/// `503` with the envelope and `Retry-After: after_secs`: a limit was
/// reached, and the client should come back a little later.
pub fn try_again_later(detail: impl Into<String>, after_secs: u64) -> Response {
    let mut response = error_response(StatusCode::SERVICE_UNAVAILABLE, detail);
    response.headers_mut().insert(
        axum::http::header::RETRY_AFTER,
        axum::http::HeaderValue::from(after_secs),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("cannot save the order")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn internal_errors_keep_their_cause_and_never_send_it() {
        let err = ApiError::internal(Outer(std::io::Error::other("disk full")));
        assert_eq!(err.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(err.body().detail, "Internal server error");
        let ApiError::Internal(cause) = err else {
            panic!("not an internal error: {err}");
        };
        assert_eq!(chain(cause.as_ref()), "cannot save the order: disk full");
    }
}
