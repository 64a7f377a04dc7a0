//! The service credential: what service-only endpoints require.
//!
//! Some endpoints exist only for another service: the catalog's stock
//! reservations, the cart's clean-up after an order, the payment service's
//! `POST /payments` and the order service's payment attempts. The gateway
//! never routes them; on a service's own port they require the secret
//! shared by the services (`SERVICE_TOKEN`) in the `X-Service-Token`
//! header whenever one is configured, and answer 401 without it. Every
//! [`crate::client::ServiceClient`] sends it. `shop up` generates one at
//! start; containers take it from a Secret or an env file.

use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::config::{ConfigError, Env};
use crate::error::ApiError;

/// The request header carrying the service credential.
pub const SERVICE_TOKEN_HEADER: &str = "x-service-token";

/// The shortest service token accepted.
pub const MIN_TOKEN_CHARS: usize = 16;

/// The secret the services share (`SERVICE_TOKEN`).
#[derive(Clone, PartialEq, Eq)]
pub struct ServiceToken(String);

impl std::fmt::Debug for ServiceToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServiceToken(***)")
    }
}

impl ServiceToken {
    /// `SERVICE_TOKEN`: unset means service-only endpoints are open on the
    /// service's own port (the gateway still never routes them).
    pub fn from_env(env: &Env) -> Result<Option<ServiceToken>, ConfigError> {
        let expected =
            "at least 16 visible ASCII characters, such as the output of `openssl rand -hex 32`";
        match env.get("SERVICE_TOKEN") {
            None => Ok(None),
            Some(raw) => ServiceToken::new(raw.trim())
                .map(Some)
                .ok_or_else(|| env.error("SERVICE_TOKEN", expected)),
        }
    }

    pub fn new(token: &str) -> Option<ServiceToken> {
        let visible = token.chars().all(|c| c.is_ascii_graphic());
        (visible && token.len() >= MIN_TOKEN_CHARS).then(|| ServiceToken(token.to_owned()))
    }

    /// A new random token (`shop up`, tests).
    pub fn generate() -> ServiceToken {
        ServiceToken(format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        ))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether `headers` carry this token (compared in constant time).
    pub fn admits(&self, headers: &HeaderMap) -> bool {
        let Some(sent) = headers.get(SERVICE_TOKEN_HEADER) else {
            return false;
        };
        let (sent, want) = (sent.as_bytes(), self.0.as_bytes());
        sent.len() == want.len()
            && sent
                .iter()
                .zip(want)
                .fold(0u8, |diff, (a, b)| diff | (a ^ b))
                == 0
    }
}

/// Middleware for service-only routes: with a token configured, a request
/// without it is 401 and reaches no handler.
pub async fn require_service(
    State(token): State<Option<ServiceToken>>,
    request: Request,
    next: Next,
) -> Response {
    match &token {
        Some(token) if !token.admits(request.headers()) => ApiError::Unauthorized(
            "This endpoint is for Shop's services only: it needs the service credential \
             (X-Service-Token)"
                .to_owned(),
        )
        .into_response(),
        _ => next.run(request).await,
    }
}

/// Wraps the service-only `routes` with [`require_service`]: an axum
/// `Router`, a utoipa-axum `OpenApiRouter` or the method router of one
/// `utoipa_axum::routes!`.
pub fn service_only<R: ServiceOnly>(routes: R, token: Option<ServiceToken>) -> R {
    routes.require_service(token)
}

/// Routes that [`service_only`] can put behind the service credential (as a
/// route layer: a request for a method or path they lack is not theirs).
pub trait ServiceOnly {
    fn require_service(self, token: Option<ServiceToken>) -> Self;
}

impl<S: Clone + Send + Sync + 'static> ServiceOnly for axum::Router<S> {
    fn require_service(self, token: Option<ServiceToken>) -> Self {
        self.route_layer(axum::middleware::from_fn_with_state(token, require_service))
    }
}

impl<S: Clone + Send + Sync + 'static> ServiceOnly for utoipa_axum::router::OpenApiRouter<S> {
    fn require_service(self, token: Option<ServiceToken>) -> Self {
        self.route_layer(axum::middleware::from_fn_with_state(token, require_service))
    }
}

impl<S: Clone + Send + Sync + 'static> ServiceOnly for utoipa_axum::router::UtoipaMethodRouter<S> {
    fn require_service(self, token: Option<ServiceToken>) -> Self {
        let (schemas, paths, methods) = self;
        let methods =
            methods.route_layer(axum::middleware::from_fn_with_state(token, require_service));
        (schemas, paths, methods)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_visible_and_compared_whole() {
        assert!(ServiceToken::new("short").is_none());
        assert!(ServiceToken::new("has a space in it!!").is_none());
        let token = ServiceToken::new("0123456789abcdef").unwrap();
        let mut headers = HeaderMap::new();
        assert!(!token.admits(&headers));
        headers.insert(SERVICE_TOKEN_HEADER, "0123456789abcdeF".parse().unwrap());
        assert!(!token.admits(&headers));
        headers.insert(SERVICE_TOKEN_HEADER, "0123456789abcdef0".parse().unwrap());
        assert!(!token.admits(&headers));
        headers.insert(SERVICE_TOKEN_HEADER, "0123456789abcdef".parse().unwrap());
        assert!(token.admits(&headers));
        assert_eq!(format!("{token:?}"), "ServiceToken(***)");
        assert_ne!(ServiceToken::generate(), ServiceToken::generate());
    }

    #[test]
    fn a_bad_setting_names_the_variable() {
        let env = Env::from_pairs([("SERVICE_TOKEN", "abc")]);
        assert_eq!(
            ServiceToken::from_env(&env).unwrap_err().name,
            "SERVICE_TOKEN"
        );
        assert!(ServiceToken::from_env(&Env::default()).unwrap().is_none());
    }
}
