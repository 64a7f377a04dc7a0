//! Who is calling, and what they may do: the access tokens of the identity
//! service, checked by each service itself.
//!
//! `AUTH=off` (the default of a bare `shop serve`; `shop up`, Compose and
//! Kubernetes run with `AUTH=on`) keeps the seed's open API: every caller is [`Caller::Open`] and may do anything. With
//! `AUTH=on` a request's `Authorization: Bearer <token>` is checked against
//! the identity service's public keys (`/.well-known/jwks.json`, fetched
//! and cached; a token naming a key not in the cache, or a cache ten
//! minutes old, makes it fetched again, at most once a second): signature (EdDSA only, `none` never),
//! issuer (`AUTH_ISSUER`), audience `shop` and expiry. A request without a
//! token is [`Caller::Anonymous`]; a bad token is 401 at once.
//!
//! Routes say who may call them with [`Caller`]'s methods: the owner of a
//! user id ([`Caller::act_for`]), staff ([`Caller::staff`]), or anyone;
//! another customer's order is hidden as 404 ([`Caller::sees`]).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use crate::auth::ServiceToken;
use crate::config::{ConfigError, Env, HttpSettings};
use crate::error::ApiError;

/// The audience of Shop's access tokens.
pub const AUDIENCE: &str = "shop";

/// What every check of an access token asks (the identity service's own
/// and every service's): EdDSA only (`none` and every other algorithm
/// refused), issued by `issuer` for [`AUDIENCE`], not expired, no leeway.
pub fn validation(issuer: &str) -> Validation {
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.set_issuer(&[issuer]);
    validation.set_audience(&[AUDIENCE]);
    validation.leeway = 0;
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    validation
}

/// The token of an `Authorization: Bearer <token>` header value; `None`
/// when the value is not a bearer token.
pub fn bearer_token(value: &HeaderValue) -> Option<&str> {
    let (scheme, token) = value.to_str().ok()?.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// How often, at most, the key set is fetched again for an unknown key.
const REFETCH_EVERY: Duration = Duration::from_secs(1);

/// How long a fetched key set is used before it is fetched again.
const KEYS_MAX_AGE: Duration = Duration::from_secs(600);

/// `AUTH`, and where the keys are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthSettings {
    /// `AUTH=off`: the seed's open API.
    Off,
    /// `AUTH=on`.
    On {
        /// `AUTH_JWKS_URL`, default `IDENTITY_SERVICE_URL` (default
        /// `http://identity-service:8005`) + `/.well-known/jwks.json`.
        jwks_url: String,
        /// `AUTH_ISSUER`, default `shop`.
        issuer: String,
        /// `AUTH_JWKS_URL` was set, and holds over the identity service
        /// `shop up` wires.
        jwks_url_set: bool,
    },
}

impl AuthSettings {
    /// With auth on, takes the key set from the identity service at
    /// `identity_url` (what `shop up` and the tests wire).
    pub fn use_identity(&mut self, identity_url: &str) {
        if let AuthSettings::On {
            jwks_url,
            jwks_url_set: false,
            ..
        } = self
        {
            *jwks_url = format!("{identity_url}/.well-known/jwks.json");
        }
    }

    pub fn from_env(env: &Env) -> Result<AuthSettings, ConfigError> {
        let on = match env.get("AUTH").map(str::to_ascii_lowercase).as_deref() {
            None | Some("off") | Some("false") | Some("0") => false,
            Some("on") | Some("true") | Some("1") => true,
            Some(_) => return Err(env.error("AUTH", "on or off")),
        };
        if !on {
            return Ok(AuthSettings::Off);
        }
        let jwks_url = match env.get("AUTH_JWKS_URL") {
            Some(_) => env.url("AUTH_JWKS_URL", "")?,
            None => format!(
                "{}/.well-known/jwks.json",
                env.url("IDENTITY_SERVICE_URL", "http://identity-service:8005")?
            ),
        };
        Ok(AuthSettings::On {
            jwks_url,
            issuer: env.string("AUTH_ISSUER", "shop"),
            jwks_url_set: env.get("AUTH_JWKS_URL").is_some(),
        })
    }
}

/// What the caller of a request is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// `AUTH=off`: anyone may do anything, as in the seed.
    Open,
    /// No token.
    Anonymous,
    /// A customer: their own cart, orders, payments and events.
    Customer(String),
    /// Staff: everything.
    Staff(String),
    /// Another of Shop's services (the service credential): everything,
    /// as staff.
    Service,
}

fn sign_in() -> ApiError {
    ApiError::Unauthorized("Sign in first: send Authorization: Bearer <access token>".to_owned())
}

impl Caller {
    /// May act for the user `user_id` (their cart, their checkout): the
    /// user themselves or staff; 401 anonymous, 403 another customer.
    pub fn act_for(&self, user_id: &str) -> Result<(), ApiError> {
        match self {
            Caller::Open | Caller::Staff(_) | Caller::Service => Ok(()),
            Caller::Customer(id) if id == user_id => Ok(()),
            Caller::Customer(_) => Err(ApiError::Forbidden(
                "This belongs to another user".to_owned(),
            )),
            Caller::Anonymous => Err(sign_in()),
        }
    }

    /// Staff only: 401 anonymous, 403 a customer.
    pub fn staff(&self) -> Result<(), ApiError> {
        match self {
            Caller::Open | Caller::Staff(_) | Caller::Service => Ok(()),
            Caller::Customer(_) => Err(ApiError::Forbidden("Only staff may do this".to_owned())),
            Caller::Anonymous => Err(sign_in()),
        }
    }

    /// Signed in (or auth off): 401 otherwise.
    pub fn signed_in(&self) -> Result<(), ApiError> {
        match self {
            Caller::Anonymous => Err(sign_in()),
            _ => Ok(()),
        }
    }

    /// Whether what belongs to `owner` exists for this caller (another
    /// customer's order is answered 404, not 403: its existence is not
    /// told).
    pub fn sees(&self, owner: &str) -> bool {
        match self {
            Caller::Open | Caller::Staff(_) | Caller::Service => true,
            Caller::Customer(id) => id == owner,
            Caller::Anonymous => false,
        }
    }

    /// The one user whose rows a list may hold (`None`: everyone's).
    pub fn only_user(&self) -> Option<&str> {
        match self {
            Caller::Customer(id) => Some(id),
            _ => None,
        }
    }
}

/// The claims of Shop's access tokens that the services read.
#[derive(Debug, Clone, Deserialize)]
struct Claims {
    sub: String,
    role: String,
    /// Expiry, seconds since the epoch.
    exp: u64,
}

/// At most this many verified tokens are remembered; past it, the expired
/// ones are forgotten, and all of them if none has expired.
const MAX_VERIFIED: usize = 10_000;

/// Tokens whose signature and claims were checked, with their claims, so
/// that a client's next requests with the same token skip the signature
/// check (which costs more than the rest of a small request). A token is
/// only remembered after a full check, and only until it expires.
#[derive(Debug, Default)]
struct Verified {
    tokens: std::sync::Mutex<HashMap<String, Claims>>,
}

impl Verified {
    /// The claims of `token`, checked before and not expired at `now`.
    fn get(&self, token: &str, now: u64) -> Option<Claims> {
        self.held()
            .get(token)
            .filter(|claims| now < claims.exp)
            .cloned()
    }

    fn remember(&self, token: &str, claims: &Claims, now: u64) {
        let mut tokens = self.held();
        if tokens.len() >= MAX_VERIFIED {
            tokens.retain(|_, claims| now < claims.exp);
            if tokens.len() >= MAX_VERIFIED {
                tokens.clear();
            }
        }
        tokens.insert(token.to_owned(), claims.clone());
    }

    fn forget_all(&self) {
        self.held().clear();
    }

    fn held(&self) -> std::sync::MutexGuard<'_, HashMap<String, Claims>> {
        self.tokens.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Checks access tokens; one per service, shared by its handlers.
#[derive(Debug, Clone)]
pub struct Access {
    inner: Option<Arc<Verifier>>,
    /// Requests that carry it are [`Caller::Service`].
    service_token: Option<ServiceToken>,
}

#[derive(Debug)]
struct Verifier {
    jwks_url: String,
    issuer: String,
    http: reqwest::Client,
    keys: RwLock<HashMap<String, DecodingKey>>,
    verified: Verified,
    /// When the last fetch of the key set began.
    fetched_at: std::sync::Mutex<Option<Instant>>,
    /// Held while the key set is fetched (one fetch at a time).
    fetching: tokio::sync::Mutex<()>,
}

fn invalid_token() -> ApiError {
    ApiError::Unauthorized("The access token is invalid or expired; sign in again".to_owned())
}

impl Access {
    /// Checks tokens as `settings` say; requests with `service_token`
    /// (`SERVICE_TOKEN`; with auth on, the services need it to call each
    /// other) are the service's peers.
    pub fn new(
        settings: &AuthSettings,
        http: HttpSettings,
        service_token: Option<ServiceToken>,
    ) -> Access {
        match settings {
            AuthSettings::Off => Access {
                inner: None,
                service_token,
            },
            AuthSettings::On {
                jwks_url, issuer, ..
            } => Access {
                service_token,
                inner: Some(Arc::new(Verifier {
                    jwks_url: jwks_url.clone(),
                    issuer: issuer.clone(),
                    http: crate::client::http_client(http),
                    keys: RwLock::new(HashMap::new()),
                    verified: Verified::default(),
                    fetched_at: std::sync::Mutex::new(None),
                    fetching: tokio::sync::Mutex::new(()),
                })),
            },
        }
    }

    /// Whether tokens are checked (`AUTH=on`).
    pub fn is_on(&self) -> bool {
        self.inner.is_some()
    }

    /// The caller of a request with `headers`.
    pub async fn caller(&self, headers: &HeaderMap) -> Result<Caller, ApiError> {
        let Some(verifier) = &self.inner else {
            return Ok(Caller::Open);
        };
        if self
            .service_token
            .as_ref()
            .is_some_and(|token| token.admits(headers))
        {
            return Ok(Caller::Service);
        }
        let Some(value) = headers.get(header::AUTHORIZATION) else {
            return Ok(Caller::Anonymous);
        };
        let token = bearer_token(value).ok_or_else(invalid_token)?;
        let claims = verifier.verify(token).await?;
        match claims.role.as_str() {
            "staff" => Ok(Caller::Staff(claims.sub)),
            "customer" => Ok(Caller::Customer(claims.sub)),
            _ => Err(invalid_token()),
        }
    }
}

impl Verifier {
    async fn verify(&self, token: &str) -> Result<Claims, ApiError> {
        let now = jsonwebtoken::get_current_timestamp();
        if let Some(claims) = self.verified.get(token, now) {
            return Ok(claims);
        }
        let claims = self.check(token).await?;
        self.verified.remember(token, &claims, now);
        Ok(claims)
    }

    /// The full check: signature by a key of the set, issuer, audience and
    /// expiry.
    async fn check(&self, token: &str) -> Result<Claims, ApiError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| invalid_token())?;
        if header.alg != Algorithm::EdDSA {
            return Err(invalid_token());
        }
        let kid = header.kid.ok_or_else(invalid_token)?;
        let key = self.key(&kid).await?.ok_or_else(invalid_token)?;
        jsonwebtoken::decode::<Claims>(token, &key, &validation(&self.issuer))
            .map(|data| data.claims)
            .map_err(|_| invalid_token())
    }

    /// The key `kid`, fetching the key set again when it does not hold it
    /// (a key published since, as in a rotation) or is older than
    /// [`KEYS_MAX_AGE`] (a key may have left it). One fetch at a time, at
    /// most one every [`REFETCH_EVERY`]: a miss waits for the next fetch
    /// that begins after it arrived, and is answered by it, so made-up key
    /// ids cannot hammer the identity service, and a new key's first
    /// tokens are never refused for a fetch made just before.
    async fn key(&self, kid: &str) -> Result<Option<DecodingKey>, ApiError> {
        let arrived = Instant::now();
        let known = self.read_keys().get(kid).cloned();
        if known.is_some() && self.fetched().is_some_and(|at| at.elapsed() < KEYS_MAX_AGE) {
            return Ok(known);
        }
        let _fetching = self.fetching.lock().await;
        // A fetch that began after this request arrived has answered it.
        if self.fetched().is_some_and(|at| at >= arrived) {
            return Ok(self.read_keys().get(kid).cloned());
        }
        if let Some(wait) = self
            .fetched()
            .and_then(|at| REFETCH_EVERY.checked_sub(at.elapsed()))
        {
            tokio::time::sleep(wait).await;
        }
        *self.fetched_at.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
        let keys = match self.fetch().await {
            Ok(keys) => keys,
            // The set in hand stays in use while the identity service is away.
            Err(err) if known.is_some() => {
                tracing::warn!(error = %err, "cannot fetch the key set again; using the one fetched before");
                return Ok(known);
            }
            Err(err) => return Err(err),
        };
        let found = keys.get(kid).cloned();
        *self.keys.write().unwrap_or_else(|e| e.into_inner()) = keys;
        // A key may have left the set: its tokens are checked again.
        self.verified.forget_all();
        Ok(found)
    }

    /// When the last fetch of the key set began.
    fn fetched(&self) -> Option<Instant> {
        *self.fetched_at.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The key set, by key id.
    async fn fetch(&self) -> Result<HashMap<String, DecodingKey>, ApiError> {
        let set: JwkSet = self
            .http
            .get(&self.jwks_url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|err| {
                tracing::warn!(error = %err, url = %self.jwks_url, "cannot fetch the key set");
                ApiError::Unavailable("The identity service is unavailable, try again".to_owned())
            })?
            .json()
            .await
            .map_err(|err| ApiError::BadGateway(format!("The key set is not valid: {err}")))?;
        Ok(set
            .keys
            .iter()
            .filter_map(|jwk| {
                let kid = jwk.common.key_id.clone()?;
                DecodingKey::from_jwk(jwk).ok().map(|key| (kid, key))
            })
            .collect())
    }

    fn read_keys(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, DecodingKey>> {
        self.keys.read().unwrap_or_else(|e| e.into_inner())
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    /// The caller, by the service's [`Access`] (an extension every
    /// service's router carries; without one, [`Caller::Open`]).
    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Caller, ApiError> {
        let caller = match parts.extensions.get::<Access>() {
            Some(access) => access.caller(&parts.headers).await?,
            None => Caller::Open,
        };
        if let Caller::Customer(user) | Caller::Staff(user) = &caller {
            crate::traces::record_user(user);
        }
        Ok(caller)
    }
}

/// A caller who is signed in (or auth is off): anonymous requests are 401
/// before anything else of the request is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedIn(pub Caller);

impl<S: Send + Sync> FromRequestParts<S> for SignedIn {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<SignedIn, ApiError> {
        let caller = Caller::from_request_parts(parts, state).await?;
        caller.signed_in()?;
        Ok(SignedIn(caller))
    }
}

/// A staff caller (or auth is off): 401 anonymous, 403 a customer, before
/// anything else of the request is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Staff(pub Caller);

impl<S: Send + Sync> FromRequestParts<S> for Staff {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Staff, ApiError> {
        let caller = Caller::from_request_parts(parts, state).await?;
        caller.staff()?;
        Ok(Staff(caller))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    use ed25519_dalek::pkcs8::EncodePrivateKey;
    use jsonwebtoken::{EncodingKey, Header};

    /// A verifier that knows the key `k1` (and fetches nothing), and that
    /// key's signing half.
    fn verifier_with_key() -> (Verifier, EncodingKey) {
        let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
        let x = URL_SAFE_NO_PAD.encode(key.verifying_key().to_bytes());
        let decoding = DecodingKey::from_ed_components(&x).unwrap();
        let verifier = Verifier {
            jwks_url: "http://127.0.0.1:9/.well-known/jwks.json".into(),
            issuer: "shop".into(),
            http: reqwest::Client::new(),
            keys: RwLock::new(HashMap::from([("k1".to_owned(), decoding)])),
            verified: Verified::default(),
            fetched_at: std::sync::Mutex::new(Some(Instant::now())),
            fetching: tokio::sync::Mutex::new(()),
        };
        let der = key.to_pkcs8_der().unwrap();
        (verifier, EncodingKey::from_ed_der(der.as_bytes()))
    }

    fn token(key: &EncodingKey, role: &str, exp: u64) -> String {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some("k1".to_owned());
        let claims = serde_json::json!({
            "sub": "ada", "role": role, "iss": "shop", "aud": AUDIENCE, "exp": exp,
        });
        jsonwebtoken::encode(&header, &claims, key).unwrap()
    }

    #[tokio::test]
    async fn a_checked_token_is_remembered_only_until_it_expires() {
        let (verifier, key) = verifier_with_key();
        let now = jsonwebtoken::get_current_timestamp();
        let ada = token(&key, "customer", now + 600);
        assert!(verifier.verified.get(&ada, now).is_none());
        let claims = verifier.verify(&ada).await.unwrap();
        assert_eq!(
            (claims.sub.as_str(), claims.role.as_str()),
            ("ada", "customer")
        );
        assert!(verifier.verified.get(&ada, now).is_some());
        assert!(verifier.verified.get(&ada, now + 599).is_some());
        assert!(verifier.verified.get(&ada, now + 600).is_none());
        // An expired token is checked in full, refused and not remembered.
        let expired = token(&key, "customer", now - 1);
        assert!(verifier.verify(&expired).await.is_err());
        assert!(verifier.verified.get(&expired, now - 2).is_none());
    }

    #[tokio::test]
    async fn forged_copies_of_a_remembered_token_are_refused() {
        let (verifier, key) = verifier_with_key();
        let now = jsonwebtoken::get_current_timestamp();
        let ada = token(&key, "customer", now + 600);
        verifier.verify(&ada).await.unwrap();
        let (signed, signature) = ada.rsplit_once('.').unwrap();
        // Another signature on the same claims.
        let flipped = if signature.starts_with('A') { "B" } else { "A" };
        let forged = format!("{signed}.{flipped}{}", &signature[1..]);
        assert!(verifier.verify(&forged).await.is_err());
        // Staff claims under the remembered token's signature.
        let staff = token(&key, "staff", now + 600);
        let (staff_signed, _) = staff.rsplit_once('.').unwrap();
        let forged = format!("{staff_signed}.{signature}");
        assert!(verifier.verify(&forged).await.is_err());
        assert!(verifier.verified.get(&forged, now).is_none());
        // The token itself still passes.
        assert!(verifier.verify(&ada).await.is_ok());
    }

    #[test]
    fn remembered_tokens_are_bounded() {
        let verified = Verified::default();
        let claims = |exp| Claims {
            sub: "ada".into(),
            role: "customer".into(),
            exp,
        };
        let now = 1_000;
        for n in 0..MAX_VERIFIED {
            // Half of them expired by `now`.
            let exp = if n % 2 == 0 { now } else { now + 60 };
            verified.remember(&format!("t{n}"), &claims(exp), now - 10);
        }
        verified.remember("one more", &claims(now + 60), now);
        let held = verified.held().len();
        assert_eq!(held, MAX_VERIFIED / 2 + 1, "the expired ones go first");
        for n in 0..MAX_VERIFIED {
            verified.remember(&format!("u{n}"), &claims(now + 60), now);
        }
        assert!(verified.held().len() <= MAX_VERIFIED);
    }

    #[test]
    fn auth_is_off_unless_turned_on() {
        let env = |pairs: &[(&str, &str)]| Env::from_pairs(pairs.iter().copied());
        assert_eq!(
            AuthSettings::from_env(&env(&[])).unwrap(),
            AuthSettings::Off
        );
        assert_eq!(
            AuthSettings::from_env(&env(&[
                ("AUTH", "on"),
                ("IDENTITY_SERVICE_URL", "http://id:1")
            ]))
            .unwrap(),
            AuthSettings::On {
                jwks_url: "http://id:1/.well-known/jwks.json".into(),
                issuer: "shop".into(),
                jwks_url_set: false,
            }
        );
        let mut set = AuthSettings::from_env(&env(&[
            ("AUTH", "on"),
            ("AUTH_JWKS_URL", "http://keys.example/jwks.json"),
        ]))
        .unwrap();
        let before = set.clone();
        set.use_identity("http://identity:8005");
        assert_eq!(set, before, "an explicit key set holds");
        assert!(AuthSettings::from_env(&env(&[("AUTH", "maybe")])).is_err());
    }

    #[test]
    fn bearer_tokens_are_read_from_the_header_value() {
        let value = |v: &str| HeaderValue::from_str(v).unwrap();
        assert_eq!(bearer_token(&value("Bearer abc.def")), Some("abc.def"));
        assert_eq!(bearer_token(&value("bearer  abc ")), Some("abc"));
        for bad in ["Basic abc", "Bearer", "Bearer  ", "abc"] {
            assert_eq!(bearer_token(&value(bad)), None, "{bad:?}");
        }
    }

    #[test]
    fn owners_staff_and_strangers() {
        let ada = Caller::Customer("ada".into());
        assert!(ada.act_for("ada").is_ok());
        assert!(matches!(ada.act_for("bob"), Err(ApiError::Forbidden(_))));
        assert!(matches!(ada.staff(), Err(ApiError::Forbidden(_))));
        assert!(matches!(
            Caller::Anonymous.act_for("ada"),
            Err(ApiError::Unauthorized(_))
        ));
        assert!(Caller::Staff("s".into()).act_for("bob").is_ok());
        assert!(Caller::Open.staff().is_ok());
        assert!(ada.sees("ada") && !ada.sees("bob") && !Caller::Anonymous.sees("ada"));
        assert_eq!(ada.only_user(), Some("ada"));
        assert_eq!(Caller::Staff("s".into()).only_user(), None);
    }
}
