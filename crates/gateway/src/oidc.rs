//! Signing a browser in through an external OpenID Connect provider
//! (Keycloak, Auth0, Entra ID, Google): the authorization-code flow with
//! PKCE, by the `openidconnect` crate. It ends as a password sign-in does,
//! with the `shop_session` cookie: the identity service makes (or updates)
//! the user's account from the provider's access token and starts a
//! session (`/auth/sessions/provider`), and the provider's tokens never
//! reach the browser.
//!
//! - `GET /api/session/oidc` discovers the provider, keeps the flow's
//!   `state`, nonce and PKCE verifier in the short-lived `shop_oidc` cookie
//!   (HttpOnly, SameSite=Lax so that the provider's redirect back brings
//!   it, Path=/api/session/oidc, ten minutes) and sends the browser to the
//!   provider.
//! - `GET /api/session/oidc/callback` takes the provider's answer: the
//!   `state` must be the cookie's (so nobody else's sign-in can be
//!   completed in this browser), the code is exchanged with the verifier,
//!   the ID token is checked (signature, issuer, audience, expiry, nonce,
//!   and the access token's hash when it has one), and the session begins.
//!
//! Settings (besides `OIDC_ISSUER`, [`shop_common::access::Oidc`]):
//! `OIDC_CLIENT_ID` (sign-in is offered only with it), `OIDC_CLIENT_SECRET`
//! (a confidential client; unset, a public one), `OIDC_REDIRECT_URL` (the
//! callback's public URL, registered at the provider; unset, made from the
//! request's host).

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AccessTokenHash, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce,
    OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope, TokenResponse,
};
use serde::{Deserialize, Serialize};
use shop_common::config::{ConfigError, Env, HttpSettings};
use shop_common::error::error_response;

use crate::session::{append_cookie, Sessions};

/// The flow cookie's name.
pub const FLOW_COOKIE: &str = "shop_oidc";
/// Where the flow's routes are (and its cookie is sent).
const FLOW_PATH: &str = "/api/session/oidc";
/// How long a browser may take at the provider.
const FLOW_SECONDS: i64 = 600;

/// The gateway's client of the provider.
#[derive(Debug, Clone)]
pub struct OidcSignIn {
    issuer: IssuerUrl,
    client_id: ClientId,
    client_secret: Option<ClientSecret>,
    /// `OIDC_REDIRECT_URL`.
    redirect_url: Option<String>,
    /// Follows no redirect (a provider's answer is never one).
    http: reqwest::Client,
}

impl OidcSignIn {
    /// The sign-in `env` sets up: `None` without `OIDC_ISSUER` and
    /// `OIDC_CLIENT_ID`.
    pub fn from_env(env: &Env, http: HttpSettings) -> Result<Option<OidcSignIn>, ConfigError> {
        let (Some(issuer), Some(client_id)) = (env.get("OIDC_ISSUER"), env.get("OIDC_CLIENT_ID"))
        else {
            return Ok(None);
        };
        let issuer = IssuerUrl::new(issuer.to_owned())
            .map_err(|_| env.error("OIDC_ISSUER", "the provider's issuer URL"))?;
        let redirect_url = match env.get("OIDC_REDIRECT_URL") {
            Some(url) => Some(
                RedirectUrl::new(url.to_owned())
                    .map_err(|_| env.error("OIDC_REDIRECT_URL", "the callback's public URL"))?
                    .to_string(),
            ),
            None => None,
        };
        let http = reqwest::Client::builder()
            .connect_timeout(http.connect_timeout)
            .timeout(http.request_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|_| env.error("OIDC_ISSUER", "a provider the gateway can call"))?;
        Ok(Some(OidcSignIn {
            issuer,
            client_id: ClientId::new(client_id.to_owned()),
            client_secret: env
                .get("OIDC_CLIENT_SECRET")
                .map(|secret| ClientSecret::new(secret.to_owned())),
            redirect_url,
            http,
        }))
    }

    /// The provider's client, its metadata discovered now.
    async fn client(
        &self,
        redirect: &str,
    ) -> Result<
        CoreClient<
            openidconnect::EndpointSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointMaybeSet,
            openidconnect::EndpointMaybeSet,
        >,
        Response,
    > {
        let metadata = CoreProviderMetadata::discover_async(self.issuer.clone(), &self.http)
            .await
            .map_err(|err| {
                tracing::warn!(error = %err, "cannot discover the identity provider");
                error_response(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "The identity provider is unavailable, try again",
                )
            })?;
        let redirect = RedirectUrl::new(redirect.to_owned())
            .map_err(|_| error_response(StatusCode::BAD_REQUEST, "Bad redirect URL"))?;
        Ok(CoreClient::from_provider_metadata(
            metadata,
            self.client_id.clone(),
            self.client_secret.clone(),
        )
        .set_redirect_uri(redirect))
    }
}

/// What the flow cookie keeps between the two legs.
#[derive(Debug, Serialize, Deserialize)]
struct Flow {
    state: String,
    nonce: String,
    verifier: String,
    redirect: String,
}

impl Flow {
    fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    fn from_headers(headers: &HeaderMap) -> Option<Flow> {
        let jar = CookieJar::from_headers(headers);
        let bytes = URL_SAFE_NO_PAD.decode(jar.get(FLOW_COOKIE)?.value()).ok()?;
        serde_json::from_slice(&bytes).ok()
    }
}

fn flow_cookie(value: String, secure: bool) -> Cookie<'static> {
    Cookie::build((FLOW_COOKIE, value))
        .path(FLOW_PATH)
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure)
        .max_age(cookie::time::Duration::seconds(FLOW_SECONDS))
        .build()
}

fn see_other(location: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(location) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

fn not_offered() -> Response {
    error_response(
        StatusCode::NOT_FOUND,
        "Sign-in through an identity provider is not set up (OIDC_ISSUER, OIDC_CLIENT_ID)",
    )
}

/// The callback's URL: `OIDC_REDIRECT_URL`, else this gateway's as the
/// request reached it.
fn redirect_url(oidc: &OidcSignIn, secure: bool, headers: &HeaderMap) -> Option<String> {
    if let Some(url) = &oidc.redirect_url {
        return Some(url.clone());
    }
    let host = headers.get(header::HOST)?.to_str().ok()?;
    let scheme = if secure { "https" } else { "http" };
    Some(format!("{scheme}://{host}{FLOW_PATH}/callback"))
}

/// Sign in through the identity provider: a redirect to it (anyone).
#[utoipa::path(get, path = "/api/session/oidc", tag = "gateway",
    responses(
        (status = 303, description = "To the provider's sign-in page; the flow cookie is set"),
        (status = 404, description = "No provider is set up"),
        (status = 503, description = "The provider cannot be reached")))]
pub async fn start(
    State(sessions): State<Sessions>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    let Some(oidc) = sessions.oidc() else {
        return not_offered();
    };
    let secure = sessions.secure(peer, &headers);
    let Some(redirect) = redirect_url(oidc, secure, &headers) else {
        return error_response(StatusCode::BAD_REQUEST, "The request names no host");
    };
    let client = match oidc.client(&redirect).await {
        Ok(client) => client,
        Err(response) => return response,
    };
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state, nonce) = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("email".to_owned()))
        .add_scope(Scope::new("profile".to_owned()))
        .set_pkce_challenge(challenge)
        .url();
    let flow = Flow {
        state: state.secret().clone(),
        nonce: nonce.secret().clone(),
        verifier: verifier.secret().clone(),
        redirect,
    };
    let mut response = see_other(url.as_str());
    append_cookie(&mut response, &flow_cookie(flow.encode(), secure));
    response
}

/// The provider's answer to the browser's sign-in.
#[derive(Debug, Deserialize)]
pub struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

fn refused(detail: impl Into<String>) -> Response {
    error_response(StatusCode::BAD_REQUEST, detail.into())
}

/// The provider sends the browser back here; signed in, it goes on to the
/// dashboard with the session cookie (anyone).
#[utoipa::path(get, path = "/api/session/oidc/callback", tag = "gateway",
    params(("code" = Option<String>, Query), ("state" = Option<String>, Query)),
    responses(
        (status = 303, description = "Signed in: to the dashboard, with the session cookie"),
        (status = 400, description = "The sign-in cannot be completed (no flow, another state, a refused code, a bad ID token)"),
        (status = 409, description = "The provider's email belongs to another account"),
        (status = 503, description = "The provider or the identity service cannot be reached")))]
pub async fn callback(
    State(sessions): State<Sessions>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(answer): Query<Callback>,
) -> Response {
    let Some(oidc) = sessions.oidc() else {
        return not_offered();
    };
    let Some(flow) = Flow::from_headers(&headers) else {
        return refused(
            "No sign-in is under way in this browser (or it took over ten minutes); start again",
        );
    };
    if let Some(error) = answer.error {
        let why = answer.error_description.unwrap_or_default();
        return refused(format!(
            "The identity provider refused the sign-in: {error} {why}"
        ));
    }
    let (Some(code), Some(state)) = (answer.code, answer.state) else {
        return refused("The provider's answer has no code or state");
    };
    if state != flow.state {
        return refused("This answer is for another sign-in; start again");
    }
    let client = match oidc.client(&flow.redirect).await {
        Ok(client) => client,
        Err(response) => return response,
    };
    let exchange = match client.exchange_code(AuthorizationCode::new(code)) {
        Ok(exchange) => exchange,
        Err(_) => return refused("The provider has no token endpoint"),
    };
    let tokens = match exchange
        .set_pkce_verifier(PkceCodeVerifier::new(flow.verifier))
        .request_async(&oidc.http)
        .await
    {
        Ok(tokens) => tokens,
        Err(openidconnect::RequestTokenError::ServerResponse(err)) => {
            return refused(format!("The provider refused the code: {err}"))
        }
        Err(err) => {
            tracing::warn!(error = %err, "cannot exchange the code at the identity provider");
            return error_response(
                StatusCode::SERVICE_UNAVAILABLE,
                "The identity provider is unavailable, try again",
            );
        }
    };
    let Some(id_token) = tokens.id_token() else {
        return refused("The provider sent no ID token");
    };
    let verifier = client.id_token_verifier();
    let claims = match id_token.claims(&verifier, &Nonce::new(flow.nonce)) {
        Ok(claims) => claims,
        Err(err) => return refused(format!("The provider's ID token is not valid: {err}")),
    };
    if let Some(expected) = claims.access_token_hash() {
        let actual = id_token
            .signing_alg()
            .ok()
            .zip(id_token.signing_key(&verifier).ok())
            .and_then(|(alg, key)| {
                AccessTokenHash::from_token(tokens.access_token(), alg, key).ok()
            });
        if actual.as_ref() != Some(expected) {
            return refused("The provider's access token is not the one its ID token names");
        }
    }
    let mut response = sessions
        .start_provider_session(peer, &headers, tokens.access_token().secret())
        .await;
    append_cookie(&mut response, &removal());
    response
}

/// A Set-Cookie that removes the flow cookie (the flow is over).
fn removal() -> Cookie<'static> {
    let mut cookie = flow_cookie(String::new(), false);
    cookie.make_removal();
    cookie
}
