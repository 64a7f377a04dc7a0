//! The dashboard's sign-in: the gateway keeps the session, the browser
//! holds only a cookie (the backend-for-frontend pattern).
//!
//! - `POST /api/session` (email, password) starts a session at the identity
//!   service (`/auth/sessions`) and sets the `shop_session` cookie:
//!   HttpOnly (no script reads it), SameSite=Strict (no other site's page
//!   sends it), Path=/, Secure when the gateway is reached over TLS. The
//!   cookie holds only the opaque session token; the access tokens stay in
//!   the gateway.
//! - Every request through the proxy that carries the cookie (and no
//!   `Authorization` of its own) reaches the service with
//!   `Authorization: Bearer <access token>`. The gateway keeps each
//!   session's access token in memory and asks the identity service for a
//!   fresh one when half its lifetime is gone, and at least every
//!   `SESSION_RECHECK_SECS` (default 5), so a session ended through
//!   another gateway replica stops working here within that time.
//! - `DELETE /api/session` ends the session at the identity service and
//!   clears the cookie; the old cookie is refused from then on (401).
//! - `GET /api/session` says whether auth is on and who is signed in.
//!
//! CSRF: every unsafe request (not GET, HEAD or OPTIONS) that carries the
//! cookie, and every sign-in and sign-out, must come from the gateway's own
//! origin ([`check_origin`]): `Sec-Fetch-Site: same-origin` when the browser
//! sends it, else an `Origin` (or, without one, a `Referer`) whose host is
//! the request's `Host`. Anything else is 403 and nothing is forwarded.
//! With SameSite=Strict a browser does not even send the cookie on another
//! site's request; the origin check is the second lock.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, State};
use axum::http::header::{self, HeaderName};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use shop_common::access::AuthSettings;
use shop_common::config::{ConfigError, Env, HttpSettings};
use shop_common::error::{error_response, ErrorBody};
use shop_common::extract::Json;
use shop_common::streams::{TrustedProxies, FORWARDED_FOR};
use shop_common::token_hash;
use shop_common::ApiError;
use utoipa::ToSchema;

use crate::oidc::OidcSignIn;

/// The session cookie's name.
pub const COOKIE: &str = "shop_session";

/// Sessions whose access tokens are kept in memory at once; beyond that
/// the stalest are dropped (and fetched again when they come back).
const MAX_CACHED: usize = 100_000;

/// `SESSION_COOKIE_SECURE`: when the cookie is marked Secure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CookieSecure {
    /// `auto` (default): when the request came over TLS, as a trusted
    /// proxy says with `X-Forwarded-Proto: https`.
    Auto,
    /// `on`: always (the gateway is only ever reached over TLS).
    Always,
    /// `off`: never.
    Never,
}

/// Settings of the sessions.
#[derive(Debug, Clone)]
pub struct SessionSettings {
    pub secure: CookieSecure,
    /// `SESSION_RECHECK_SECS`, default 5: how long an access token is
    /// used before the session is checked again at the identity service.
    pub recheck: Duration,
    /// `DASHBOARD_CURRENCY`, default `USD`: the ISO 4217 code the
    /// dashboard shows amounts in (told with the session; amounts are the
    /// API's, never converted).
    pub currency: String,
}

impl SessionSettings {
    pub fn from_env(env: &Env) -> Result<SessionSettings, ConfigError> {
        let secure = match env.string("SESSION_COOKIE_SECURE", "auto").as_str() {
            "auto" => CookieSecure::Auto,
            "on" | "true" | "1" => CookieSecure::Always,
            "off" | "false" | "0" => CookieSecure::Never,
            _ => return Err(env.error("SESSION_COOKIE_SECURE", "auto, on or off")),
        };
        let recheck = env.count("SESSION_RECHECK_SECS", 5, 1..=3600, "seconds")?;
        let currency = env.string("DASHBOARD_CURRENCY", "USD");
        if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(env.error(
                "DASHBOARD_CURRENCY",
                "a three-letter ISO 4217 code such as USD or EUR",
            ));
        }
        Ok(SessionSettings {
            secure,
            recheck: Duration::from_secs(recheck as u64),
            currency,
        })
    }
}

/// A session's access token as the gateway keeps it.
#[derive(Debug, Clone)]
struct Cached {
    bearer: HeaderValue,
    account: Account,
    /// When to ask the identity service again.
    fresh_until: Instant,
}

/// The sessions' shared state.
#[derive(Clone)]
pub struct Sessions {
    identity: Option<String>,
    auth_on: bool,
    settings: SessionSettings,
    trusted: TrustedProxies,
    http: reqwest::Client,
    /// Shared entries: a request takes its session's without copying it.
    cache: Arc<Mutex<HashMap<String, Arc<Cached>>>>,
    /// Sign-in through an external provider, when set up.
    oidc: Option<Arc<OidcSignIn>>,
}

/// Why a session's cookie could not be turned into an access token.
#[derive(Debug)]
pub enum SessionError {
    /// Ended, expired or unknown: 401, and the cookie is cleared.
    Ended,
    /// The identity service is down or not configured: 503.
    Unavailable(String),
}

impl SessionError {
    /// The identity service could not be reached.
    fn unreachable() -> SessionError {
        SessionError::Unavailable("identity service unavailable, try again".to_owned())
    }

    /// The identity service answered something the gateway cannot use.
    fn bad_answer() -> SessionError {
        SessionError::Unavailable("identity service answered badly".to_owned())
    }
}

impl IntoResponse for SessionError {
    fn into_response(self) -> Response {
        match self {
            SessionError::Ended => {
                let mut response = error_response(
                    StatusCode::UNAUTHORIZED,
                    "Your session has ended; sign in again",
                );
                append_cookie(&mut response, &removal());
                response
            }
            SessionError::Unavailable(detail) => {
                error_response(StatusCode::SERVICE_UNAVAILABLE, detail)
            }
        }
    }
}

/// What `GET /api/session` and sign-in answer.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SessionInfo {
    /// Whether the services check access tokens (`AUTH=on`); off, the
    /// dashboard picks a user instead of signing in.
    pub auth: bool,
    /// The signed-in account, or null (always present).
    #[schema(required = true)]
    pub account: Option<Account>,
    /// The ISO 4217 code the dashboard shows amounts in
    /// (`DASHBOARD_CURRENCY`).
    pub currency: String,
    /// Whether signing in through the external identity provider is
    /// offered (at `GET /api/session/oidc`).
    pub provider: bool,
}

/// An account as the identity service describes it (never its password).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Account {
    /// The user id of the account's cart and orders.
    pub id: String,
    pub email: String,
    pub name: String,
    pub role: Role,
    /// RFC 3339, UTC.
    pub created_at: String,
}

/// What an account may do: a customer their own cart and orders, staff
/// everything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Customer,
    Staff,
}

/// The body of `POST /api/session`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SignIn {
    pub email: String,
    pub password: String,
}

/// What the identity service answers for a session.
#[derive(Debug, Deserialize)]
struct Access {
    access_token: String,
    expires_in: u64,
    account: Account,
    #[serde(default)]
    session_token: Option<String>,
    #[serde(default)]
    session_expires_in: Option<u64>,
}

/// Whether `method` may change something (what the CSRF check guards).
pub fn unsafe_method(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The host (with port) of an origin or URL such as `http://shop:3000/x`.
fn host_of(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let host = rest.split(['/', '?', '#']).next()?;
    (!host.is_empty()).then_some(host)
}

/// The CSRF check: whether a request comes from the gateway's own origin
/// (see the module's documentation); 403 otherwise.
pub fn check_origin(headers: &HeaderMap) -> Result<(), ApiError> {
    let refuse = |why: &str| {
        Err(ApiError::Forbidden(format!(
            "Cross-site request refused: {why}"
        )))
    };
    let get = |name: HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = get(HeaderName::from_static("sec-fetch-site")) {
        return match site {
            "same-origin" => Ok(()),
            other => refuse(&format!("the browser says it comes from a {other} page")),
        };
    }
    let Some(host) = get(header::HOST) else {
        return refuse("the request names no host");
    };
    let from = get(header::ORIGIN)
        .filter(|origin| *origin != "null")
        .or_else(|| get(header::REFERER));
    match from.and_then(host_of) {
        Some(from) if from.eq_ignore_ascii_case(host) => Ok(()),
        Some(_) => refuse("it comes from another origin"),
        None => refuse("it does not say where it comes from (send Origin)"),
    }
}

/// A Set-Cookie that removes the session cookie.
fn removal() -> Cookie<'static> {
    let mut cookie = Cookie::build((COOKIE, ""))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .build();
    cookie.make_removal();
    cookie
}

pub(crate) fn append_cookie(response: &mut Response, cookie: &Cookie<'_>) {
    if let Ok(value) = HeaderValue::from_str(&cookie.encoded().to_string()) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

/// The session token in the request's cookie.
pub fn session_token(headers: &HeaderMap) -> Option<String> {
    CookieJar::from_headers(headers)
        .get(COOKIE)
        .map(|cookie| cookie.value().to_owned())
        .filter(|token| !token.is_empty())
}

impl Sessions {
    pub fn new(
        identity: Option<String>,
        auth: &AuthSettings,
        settings: SessionSettings,
        trusted: TrustedProxies,
        http: HttpSettings,
        oidc: Option<OidcSignIn>,
    ) -> Sessions {
        Sessions {
            identity,
            auth_on: matches!(auth, AuthSettings::On { .. }),
            settings,
            trusted,
            http: shop_common::client::http_client(http),
            cache: Arc::new(Mutex::new(HashMap::new())),
            oidc: oidc.map(Arc::new),
        }
    }

    /// The sign-in through an external provider, when set up.
    pub fn oidc(&self) -> Option<&OidcSignIn> {
        self.oidc.as_deref()
    }

    fn identity(&self) -> Result<&str, SessionError> {
        self.identity.as_deref().ok_or_else(|| {
            SessionError::Unavailable(
                "Accounts are not set up: the gateway has no IDENTITY_SERVICE_URL".to_owned(),
            )
        })
    }

    fn remember(&self, key: String, access: &Access) -> Result<Arc<Cached>, SessionError> {
        let bearer = HeaderValue::from_str(&format!("Bearer {}", access.access_token))
            .map_err(|_| SessionError::bad_answer())?;
        let half_life = Duration::from_secs(access.expires_in) / 2;
        let cached = Arc::new(Cached {
            bearer,
            account: access.account.clone(),
            fresh_until: Instant::now() + half_life.min(self.settings.recheck),
        });
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= MAX_CACHED {
            let now = Instant::now();
            cache.retain(|_, entry| entry.fresh_until > now);
            if cache.len() >= MAX_CACHED {
                cache.clear();
            }
        }
        cache.insert(key, cached.clone());
        Ok(cached)
    }

    fn forget(&self, key: &str) {
        self.cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
    }

    /// The access token and account of the session `token`: from memory
    /// while fresh, else from the identity service.
    async fn access(&self, token: &str) -> Result<Arc<Cached>, SessionError> {
        let key = token_hash(token);
        let cached = self
            .cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
            .cloned();
        if let Some(cached) = cached.filter(|c| c.fresh_until > Instant::now()) {
            return Ok(cached);
        }
        let identity = self.identity()?;
        let response = self
            .http
            .post(format!("{identity}/auth/sessions/access"))
            .json(&serde_json::json!({ "session_token": token }))
            .send()
            .await
            .map_err(|err| {
                tracing::warn!(error = %err, "identity service unreachable");
                SessionError::unreachable()
            })?;
        match response.status() {
            StatusCode::OK => {}
            StatusCode::UNAUTHORIZED => {
                self.forget(&key);
                return Err(SessionError::Ended);
            }
            status => {
                tracing::warn!(%status, "identity service refused a session check");
                return Err(SessionError::unreachable());
            }
        }
        let access: Access = response
            .json()
            .await
            .map_err(|_| SessionError::bad_answer())?;
        self.remember(key, &access)
    }

    /// The `Authorization` to send for a request with the session
    /// `token` (from its cookie).
    pub async fn bearer(&self, token: &str) -> Result<HeaderValue, SessionError> {
        Ok(self.access(token).await?.bearer.clone())
    }

    fn info(&self, account: Option<Account>) -> SessionInfo {
        SessionInfo {
            auth: self.auth_on,
            account,
            currency: self.settings.currency.clone(),
            provider: self.auth_on && self.oidc.is_some(),
        }
    }

    /// Whether the cookie is to be marked Secure for this request.
    pub(crate) fn secure(&self, peer: SocketAddr, headers: &HeaderMap) -> bool {
        match self.settings.secure {
            CookieSecure::Always => true,
            CookieSecure::Never => false,
            CookieSecure::Auto => {
                self.trusted.trusts_peer(peer)
                    && headers
                        .get("x-forwarded-proto")
                        .and_then(|v| v.to_str().ok())
                        .is_some_and(|proto| proto.eq_ignore_ascii_case("https"))
            }
        }
    }
}

/// Who is signed in (anyone).
#[utoipa::path(get, path = "/api/session", tag = "gateway",
    responses(
        (status = 200, description = "Whether auth is on, and the signed-in account or null", body = SessionInfo),
        (status = 401, description = "The cookie's session has ended (the cookie is cleared)", body = ErrorBody)))]
pub async fn current(State(sessions): State<Sessions>, headers: HeaderMap) -> Response {
    match session_token(&headers) {
        None => Json(sessions.info(None)).into_response(),
        Some(token) => match sessions.access(&token).await {
            Ok(cached) => Json(sessions.info(Some(cached.account.clone()))).into_response(),
            Err(err) => err.into_response(),
        },
    }
}

/// Sign in: a session cookie for the account (anyone, from the gateway's
/// own origin).
#[utoipa::path(post, path = "/api/session", tag = "gateway", request_body = SignIn,
    responses(
        (status = 200, description = "Signed in; the cookie is set", body = SessionInfo),
        (status = 401, description = "Invalid email or password", body = ErrorBody),
        (status = 403, description = "Not from the gateway's own origin", body = ErrorBody),
        (status = 429, description = "Too many failed sign-ins; see Retry-After", body = ErrorBody)))]
pub async fn sign_in(
    State(sessions): State<Sessions>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Json(credentials): Json<SignIn>,
) -> Response {
    if let Err(refused) = check_origin(&headers) {
        return refused.into_response();
    }
    let client = sessions.trusted.client(peer, &headers).to_string();
    let (access, cookie) = match sessions
        .start("/auth/sessions", &credentials, Some(client), peer, &headers)
        .await
    {
        Ok(started) => started,
        Err(refused) => return refused,
    };
    let mut answer = Json(sessions.info(Some(access.account))).into_response();
    append_cookie(&mut answer, &cookie);
    answer
}

impl Sessions {
    /// The session cookie of a session the identity service started
    /// (`access`), its access token kept.
    fn session_cookie(
        &self,
        peer: SocketAddr,
        headers: &HeaderMap,
        access: &Access,
    ) -> Result<Cookie<'static>, SessionError> {
        let token = access
            .session_token
            .clone()
            .ok_or_else(SessionError::bad_answer)?;
        let max_age = access.session_expires_in.unwrap_or(0);
        self.remember(token_hash(&token), access)?;
        Ok(Cookie::build((COOKIE, token))
            .path("/")
            .http_only(true)
            .same_site(SameSite::Strict)
            .secure(self.secure(peer, headers))
            .max_age(cookie::time::Duration::seconds(
                i64::try_from(max_age).unwrap_or(i64::MAX),
            ))
            .build())
    }

    /// Starts the session of the provider's user whose access token the
    /// sign-in through the provider got: a redirect to the dashboard with
    /// the session cookie, or the identity service's refusal.
    pub(crate) async fn start_provider_session(
        &self,
        peer: SocketAddr,
        headers: &HeaderMap,
        access_token: &str,
    ) -> Response {
        let body = serde_json::json!({ "access_token": access_token });
        let cookie = match self
            .start("/auth/sessions/provider", &body, None, peer, headers)
            .await
        {
            Ok((_, cookie)) => cookie,
            Err(refused) => return refused,
        };
        let mut answer = StatusCode::SEE_OTHER.into_response();
        answer
            .headers_mut()
            .insert(header::LOCATION, HeaderValue::from_static("/"));
        append_cookie(&mut answer, &cookie);
        answer
    }

    /// Starts a session at the identity service (`POST path` with `body`,
    /// for the client `forwarded_for`): its access and the session cookie,
    /// or the answer to send instead (the identity service's own refusal,
    /// with its Retry-After; 503 when it cannot be reached).
    async fn start(
        &self,
        path: &str,
        body: &impl Serialize,
        forwarded_for: Option<String>,
        peer: SocketAddr,
        headers: &HeaderMap,
    ) -> Result<(Access, Cookie<'static>), Response> {
        let identity = self.identity().map_err(IntoResponse::into_response)?;
        let mut request = self.http.post(format!("{identity}{path}")).json(body);
        if let Some(client) = forwarded_for {
            request = request.header(FORWARDED_FOR, client);
        }
        let response = request.send().await.map_err(|err| {
            tracing::warn!(error = %err, "identity service unreachable");
            SessionError::unreachable().into_response()
        })?;
        let status = response.status();
        if status != StatusCode::CREATED {
            // The identity service's own answer: 401, 409, 422, 429 with
            // Retry-After.
            let retry_after = response.headers().get(header::RETRY_AFTER).cloned();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            let mut answer = (status, axum::Json(body)).into_response();
            if let Some(retry_after) = retry_after {
                answer
                    .headers_mut()
                    .insert(header::RETRY_AFTER, retry_after);
            }
            return Err(answer);
        }
        let access: Access = response
            .json()
            .await
            .map_err(|_| SessionError::bad_answer().into_response())?;
        let cookie = self
            .session_cookie(peer, headers, &access)
            .map_err(IntoResponse::into_response)?;
        Ok((access, cookie))
    }
}

/// Sign out: ends the session and clears the cookie (the session's holder,
/// from the gateway's own origin).
#[utoipa::path(delete, path = "/api/session", tag = "gateway",
    responses(
        (status = 200, description = "Signed out; the cookie is cleared", body = SessionInfo),
        (status = 403, description = "Not from the gateway's own origin", body = ErrorBody),
        (status = 503, description = "The identity service could not end the session", body = ErrorBody)))]
pub async fn sign_out(State(sessions): State<Sessions>, headers: HeaderMap) -> Response {
    if let Err(refused) = check_origin(&headers) {
        return refused.into_response();
    }
    if let Some(token) = session_token(&headers) {
        let identity = match sessions.identity() {
            Ok(identity) => identity,
            Err(err) => return err.into_response(),
        };
        let ended = sessions
            .http
            .post(format!("{identity}/auth/sessions/end"))
            .json(&serde_json::json!({ "session_token": token }))
            .send()
            .await
            .is_ok_and(|response| response.status().is_success());
        if !ended {
            return SessionError::Unavailable(
                "identity service unavailable: not signed out, try again".to_owned(),
            )
            .into_response();
        }
        sessions.forget(&token_hash(&token));
    }
    let mut answer = Json(sessions.info(None)).into_response();
    append_cookie(&mut answer, &removal());
    answer
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn only_the_gateways_own_origin_passes() {
        let ok = [
            headers(&[("host", "shop:3000"), ("origin", "http://shop:3000")]),
            headers(&[("host", "shop:3000"), ("origin", "https://SHOP:3000")]),
            headers(&[
                ("host", "shop:3000"),
                ("referer", "http://shop:3000/orders"),
            ]),
            headers(&[("host", "x"), ("sec-fetch-site", "same-origin")]),
        ];
        for h in ok {
            assert!(check_origin(&h).is_ok(), "{h:?}");
        }
        let refused = [
            headers(&[("host", "shop:3000"), ("origin", "http://evil.example")]),
            headers(&[("host", "shop:3000"), ("origin", "http://shop:3001")]),
            headers(&[("host", "shop:3000"), ("origin", "http://shop:3000.evil")]),
            headers(&[("host", "shop:3000"), ("origin", "null")]),
            headers(&[("host", "shop:3000")]),
            headers(&[
                ("host", "shop:3000"),
                ("referer", "http://evil/http://shop:3000"),
            ]),
            // The browser's word wins over a matching Origin.
            headers(&[
                ("host", "shop:3000"),
                ("origin", "http://shop:3000"),
                ("sec-fetch-site", "cross-site"),
            ]),
            headers(&[("host", "shop:3000"), ("sec-fetch-site", "same-site")]),
        ];
        for h in refused {
            assert!(check_origin(&h).is_err(), "{h:?}");
        }
    }

    #[test]
    fn the_session_token_is_read_from_its_cookie_only() {
        let h = headers(&[("cookie", "a=1; shop_session=tok; b=2")]);
        assert_eq!(session_token(&h).as_deref(), Some("tok"));
        assert_eq!(
            session_token(&headers(&[("cookie", "shop_session=")])),
            None
        );
        assert_eq!(session_token(&headers(&[("cookie", "other=tok")])), None);
        assert_eq!(session_token(&HeaderMap::new()), None);
    }

    #[test]
    fn the_removal_cookie_expires_the_cookie() {
        let text = removal().encoded().to_string();
        assert!(text.starts_with("shop_session=;"), "{text}");
        assert!(text.contains("Max-Age=0"), "{text}");
        assert!(
            text.contains("HttpOnly") && text.contains("SameSite=Strict"),
            "{text}"
        );
    }

    #[test]
    fn the_dashboard_currency_is_a_three_letter_code() {
        let settings = |value: &str| {
            SessionSettings::from_env(&Env::from_pairs([("DASHBOARD_CURRENCY", value.to_owned())]))
        };
        assert_eq!(
            SessionSettings::from_env(&Env::default()).unwrap().currency,
            "USD"
        );
        assert_eq!(settings("EUR").unwrap().currency, "EUR");
        for bad in ["eur", "EURO", "E1R"] {
            assert!(settings(bad).is_err(), "{bad:?}");
        }
    }
}
