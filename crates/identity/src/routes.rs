//! Identity HTTP handlers: extract, call [`Identity`], map.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::Extension;
use shop_common::access::bearer_token;
use shop_common::error::ErrorBody;
use shop_common::extract::Json;
use shop_common::streams::TrustedProxies;
use shop_common::ApiError;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::accounts::Identity;
use crate::domain::{
    Account, Credentials, Message, NewAccount, ProviderSessionRequest, RefreshRequest, Role,
    SessionAccess, SessionRequest, SessionTokens, Tokens,
};
use crate::keys::JwkSet;

/// The routes, each declared once for the router and the document.
/// `trusted`: the proxies (the gateway) whose `X-Forwarded-For` names the
/// client whose failed logins are counted.
pub fn router(identity: Identity, trusted: TrustedProxies) -> OpenApiRouter {
    OpenApiRouter::new()
        .routes(routes!(register))
        .routes(routes!(login))
        .routes(routes!(refresh))
        .routes(routes!(logout))
        .routes(routes!(me))
        .routes(routes!(create_staff))
        .routes(routes!(start_session))
        .routes(routes!(start_provider_session))
        .routes(routes!(session_access))
        .routes(routes!(end_session))
        .routes(routes!(jwks))
        .with_state(identity)
        .layer(Extension(trusted))
}

/// The token of `Authorization: Bearer <token>`; 401 without one.
pub fn bearer(headers: &HeaderMap) -> Result<&str, ApiError> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(bearer_token)
        .ok_or_else(|| {
            ApiError::Unauthorized("Send an access token: Authorization: Bearer <token>".to_owned())
        })
}

/// Register a customer account (anyone).
#[utoipa::path(post, path = "/auth/register", tag = "identity", request_body = NewAccount,
    responses(
        (status = 201, description = "The new customer account", body = Account),
        (status = 409, description = "The email has an account", body = ErrorBody),
        (status = 422, description = "Bad email, weak password or bad name", body = ErrorBody)))]
pub async fn register(
    State(identity): State<Identity>,
    Json(new): Json<NewAccount>,
) -> Result<impl IntoResponse, ApiError> {
    let account = identity.create_account(new, Role::Customer).await?;
    Ok((StatusCode::CREATED, Json(account)))
}

/// Log in: an access token and a refresh token (anyone).
#[utoipa::path(post, path = "/auth/login", tag = "identity", request_body = Credentials,
    responses(
        (status = 200, description = "Tokens and the account", body = Tokens),
        (status = 401, description = "Invalid email or password", body = ErrorBody),
        (status = 429, description = "Too many failed logins for the account or from the address; see Retry-After", body = ErrorBody)))]
pub async fn login(
    State(identity): State<Identity>,
    Extension(trusted): Extension<TrustedProxies>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Json(credentials): Json<Credentials>,
) -> Result<Json<Tokens>, ApiError> {
    let address = trusted.client(peer, &headers);
    Ok(Json(
        identity
            .login(&credentials.email, &credentials.password, address)
            .await?,
    ))
}

/// Exchange a refresh token (used up) for new tokens (its holder).
#[utoipa::path(post, path = "/auth/refresh", tag = "identity", request_body = RefreshRequest,
    responses(
        (status = 200, description = "New tokens", body = Tokens),
        (status = 401, description = "Invalid, expired, used or revoked refresh token (a used one revokes its whole family)", body = ErrorBody)))]
pub async fn refresh(
    State(identity): State<Identity>,
    Json(request): Json<RefreshRequest>,
) -> Result<Json<Tokens>, ApiError> {
    Ok(Json(identity.refresh(&request.refresh_token).await?))
}

/// Log out: revoke the refresh token and every token refreshed from the
/// same login (its holder).
#[utoipa::path(post, path = "/auth/logout", tag = "identity", request_body = RefreshRequest,
    responses((status = 200, description = "Logged out", body = Message)))]
pub async fn logout(
    State(identity): State<Identity>,
    Json(request): Json<RefreshRequest>,
) -> Result<Json<Message>, ApiError> {
    identity.logout(&request.refresh_token).await?;
    Ok(Json(Message {
        message: "Logged out".to_owned(),
    }))
}

/// The account of the access token (its owner).
#[utoipa::path(get, path = "/auth/me", tag = "identity",
    responses(
        (status = 200, description = "The account", body = Account),
        (status = 401, description = "No valid access token", body = ErrorBody)))]
pub async fn me(
    State(identity): State<Identity>,
    headers: HeaderMap,
) -> Result<Json<Account>, ApiError> {
    Ok(Json(identity.account_of(bearer(&headers)?).await?))
}

/// Make a staff account (staff only).
#[utoipa::path(post, path = "/auth/staff", tag = "identity", request_body = NewAccount,
    responses(
        (status = 201, description = "The new staff account", body = Account),
        (status = 401, description = "No valid access token", body = ErrorBody),
        (status = 403, description = "The caller is not staff", body = ErrorBody),
        (status = 409, description = "The email has an account", body = ErrorBody),
        (status = 422, description = "Bad email, weak password or bad name", body = ErrorBody)))]
pub async fn create_staff(
    State(identity): State<Identity>,
    headers: HeaderMap,
    Json(new): Json<NewAccount>,
) -> Result<impl IntoResponse, ApiError> {
    let caller = identity.account_of(bearer(&headers)?).await?;
    if caller.role != Role::Staff {
        return Err(ApiError::Forbidden(
            "Only staff may make staff accounts".to_owned(),
        ));
    }
    let account = identity.create_account(new, Role::Staff).await?;
    Ok((StatusCode::CREATED, Json(account)))
}

/// Start a browser session (the gateway, for its cookie; never routed to
/// clients, which log in at `/auth/login`).
#[utoipa::path(post, path = "/auth/sessions", tag = "identity", request_body = Credentials,
    responses(
        (status = 201, description = "The session token and a first access token", body = SessionTokens),
        (status = 401, description = "Invalid email or password", body = ErrorBody),
        (status = 429, description = "Too many failed logins; see Retry-After", body = ErrorBody)))]
pub async fn start_session(
    State(identity): State<Identity>,
    Extension(trusted): Extension<TrustedProxies>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Json(credentials): Json<Credentials>,
) -> Result<impl IntoResponse, ApiError> {
    let address = trusted.client(peer, &headers);
    let session = identity
        .start_session(&credentials.email, &credentials.password, address)
        .await?;
    Ok((StatusCode::CREATED, Json(session)))
}

/// Start a browser session for a user of the external identity provider
/// (the gateway, once the provider signed them in; never routed to
/// clients): their account is made or updated from the provider's access
/// token, which is checked as the services check it.
#[utoipa::path(post, path = "/auth/sessions/provider", tag = "identity", request_body = ProviderSessionRequest,
    responses(
        (status = 201, description = "The session token and a first access token", body = SessionTokens),
        (status = 401, description = "Not an access token the provider issued for Shop", body = ErrorBody),
        (status = 404, description = "No provider is set up (OIDC_ISSUER)", body = ErrorBody),
        (status = 409, description = "The email belongs to another account, or the subject to one of Shop's own", body = ErrorBody),
        (status = 422, description = "The token carries no email claim", body = ErrorBody)))]
pub async fn start_provider_session(
    State(identity): State<Identity>,
    Json(request): Json<ProviderSessionRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let session = identity
        .start_provider_session(&request.access_token)
        .await?;
    Ok((StatusCode::CREATED, Json(session)))
}

/// A fresh access token for a live session (the gateway).
#[utoipa::path(post, path = "/auth/sessions/access", tag = "identity", request_body = SessionRequest,
    responses(
        (status = 200, description = "An access token", body = SessionAccess),
        (status = 401, description = "The session has ended or expired", body = ErrorBody)))]
pub async fn session_access(
    State(identity): State<Identity>,
    Json(request): Json<SessionRequest>,
) -> Result<Json<SessionAccess>, ApiError> {
    Ok(Json(identity.session_access(&request.session_token).await?))
}

/// End a browser session: sign-out (the gateway).
#[utoipa::path(post, path = "/auth/sessions/end", tag = "identity", request_body = SessionRequest,
    responses((status = 200, description = "The session has ended", body = Message)))]
pub async fn end_session(
    State(identity): State<Identity>,
    Json(request): Json<SessionRequest>,
) -> Result<Json<Message>, ApiError> {
    identity.end_session(&request.session_token).await?;
    Ok(Json(Message {
        message: "Signed out".to_owned(),
    }))
}

/// The public keys that sign access tokens (anyone).
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "identity",
    responses((status = 200, description = "The key set (RFC 7517)", body = JwkSet)))]
pub async fn jwks(State(identity): State<Identity>) -> impl IntoResponse {
    (
        [(header::CACHE_CONTROL, "public, max-age=300")],
        Json(identity.keys.ring().await.jwks()),
    )
}
