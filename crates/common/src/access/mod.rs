//! Who is calling, and what they may do: access tokens, checked by each
//! service itself.
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
//! With `OIDC_ISSUER` set, the tokens of that OpenID Connect provider are
//! accepted too, beside Shop's own ([`Oidc`]): checked against its key set
//! (`OIDC_JWKS_URL`, or the one its discovery document names), for
//! `OIDC_AUDIENCE`; their `sub` is the user id, and `OIDC_ROLE_CLAIM`
//! holding `OIDC_STAFF_ROLE` makes them staff. A token goes to the issuer
//! its `iss` names, and to no other.
//!
//! - [`key_set`]: an issuer's keys, fetched and kept;
//! - [`issuer`]: what is checked of an issuer's tokens.
//!
//! Routes say who may call them with [`Caller`]'s methods: the owner of a
//! user id ([`Caller::act_for`]), staff ([`Caller::staff`]), or anyone;
//! another customer's order is hidden as 404 ([`Caller::sees`]).

pub mod issuer;
pub mod key_set;

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue};
use jsonwebtoken::{Algorithm, Validation};
use serde::Deserialize;

pub use self::issuer::Subject;
use self::issuer::{Issuer, IssuerSettings, Roles};
use self::key_set::KeysAt;

use crate::auth::ServiceToken;
use crate::config::{ConfigError, Env, HttpSettings};
use crate::error::ApiError;

/// The audience of Shop's access tokens.
pub const AUDIENCE: &str = "shop";

/// What every check of Shop's own access tokens asks (the identity
/// service's own and every service's): EdDSA only (`none` and every other
/// algorithm refused), issued by `issuer` for [`AUDIENCE`], not expired,
/// no leeway.
pub fn validation(issuer: &str) -> Validation {
    issuer::validation(Algorithm::EdDSA, issuer, AUDIENCE)
}

/// The token of an `Authorization: Bearer <token>` header value; `None`
/// when the value is not a bearer token.
pub fn bearer_token(value: &HeaderValue) -> Option<&str> {
    let (scheme, token) = value.to_str().ok()?.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

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
        /// `OIDC_ISSUER` and its settings: a provider whose tokens are
        /// accepted beside Shop's own.
        oidc: Option<Oidc>,
    },
}

/// An external OpenID Connect provider whose access tokens are accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Oidc {
    /// `OIDC_ISSUER`: its tokens' `iss`, exactly (with or without the
    /// trailing `/` the provider writes).
    pub issuer: String,
    /// `OIDC_JWKS_URL`; unset, the `jwks_uri` of
    /// `OIDC_ISSUER/.well-known/openid-configuration`.
    pub jwks_url: Option<String>,
    /// `OIDC_AUDIENCE` (default `OIDC_CLIENT_ID`): the `aud` its access
    /// tokens must carry.
    pub audience: String,
    /// `OIDC_ROLE_CLAIM`, default `roles`: the claim (a dotted path, e.g.
    /// Keycloak's `realm_access.roles`) that says who is staff.
    pub role_claim: String,
    /// `OIDC_STAFF_ROLE`, default `staff`: the value of that claim (or one
    /// of its values) that means staff.
    pub staff_role: String,
}

impl Oidc {
    /// The provider `env` names (`None` without `OIDC_ISSUER`).
    pub fn from_env(env: &Env) -> Result<Option<Oidc>, ConfigError> {
        let Some(issuer) = env.get("OIDC_ISSUER") else {
            return Ok(None);
        };
        let valid = reqwest::Url::parse(issuer)
            .is_ok_and(|url| matches!(url.scheme(), "http" | "https") && url.host().is_some());
        if !valid {
            return Err(env.error(
                "OIDC_ISSUER",
                "the provider's issuer URL, exactly as its tokens' iss",
            ));
        }
        let jwks_url = match env.get("OIDC_JWKS_URL") {
            Some(_) => Some(env.url("OIDC_JWKS_URL", "")?),
            None => None,
        };
        let audience = env
            .get("OIDC_AUDIENCE")
            .or_else(|| env.get("OIDC_CLIENT_ID"))
            .ok_or_else(|| {
                env.error(
                    "OIDC_AUDIENCE",
                    "the audience of the provider's access tokens (or OIDC_CLIENT_ID)",
                )
            })?;
        Ok(Some(Oidc {
            issuer: issuer.to_owned(),
            jwks_url,
            audience: audience.to_owned(),
            role_claim: env.string("OIDC_ROLE_CLAIM", "roles"),
            staff_role: env.string("OIDC_STAFF_ROLE", "staff"),
        }))
    }

    fn settings(&self) -> IssuerSettings {
        IssuerSettings {
            issuer: self.issuer.clone(),
            keys: match &self.jwks_url {
                Some(url) => KeysAt::Url(url.clone()),
                None => KeysAt::Discovery {
                    issuer: self.issuer.clone(),
                },
            },
            audience: self.audience.clone(),
            roles: Roles::Claim {
                path: self.role_claim.clone(),
                staff: self.staff_role.clone(),
            },
        }
    }
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
        let jwks_url_set = env.get("AUTH_JWKS_URL").is_some();
        let jwks_url = match jwks_url_set {
            true => env.url("AUTH_JWKS_URL", "")?,
            false => format!(
                "{}/.well-known/jwks.json",
                env.url("IDENTITY_SERVICE_URL", "http://identity-service:8005")?
            ),
        };
        Ok(AuthSettings::On {
            jwks_url,
            issuer: env.string("AUTH_ISSUER", "shop"),
            jwks_url_set,
            oidc: Oidc::from_env(env)?,
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

/// At most this many verified tokens are remembered; past it, the expired
/// ones are forgotten, and all of them if none has expired.
const MAX_VERIFIED: usize = 10_000;

/// Tokens whose signature and claims were checked, with their claims, so
/// that a client's next requests with the same token skip the signature
/// check (which costs more than the rest of a small request). A token is
/// only remembered after a full check, and only until it expires.
#[derive(Debug, Default)]
struct Verified {
    tokens: std::sync::Mutex<HashMap<String, Subject>>,
}

impl Verified {
    /// The subject of `token`, checked before and not expired at `now`.
    fn get(&self, token: &str, now: u64) -> Option<Subject> {
        self.held()
            .get(token)
            .filter(|subject| now < subject.exp)
            .cloned()
    }

    fn remember(&self, token: &str, subject: &Subject, now: u64) {
        let mut tokens = self.held();
        if tokens.len() >= MAX_VERIFIED {
            tokens.retain(|_, subject| now < subject.exp);
            if tokens.len() >= MAX_VERIFIED {
                tokens.clear();
            }
        }
        tokens.insert(token.to_owned(), subject.clone());
    }

    fn forget_all(&self) {
        self.held().clear();
    }

    fn held(&self) -> std::sync::MutexGuard<'_, HashMap<String, Subject>> {
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

/// The issuers whose tokens are accepted, and the tokens checked already.
#[derive(Debug)]
struct Verifier {
    issuers: Vec<Issuer>,
    verified: Verified,
}

pub(crate) fn invalid_token() -> ApiError {
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
                jwks_url,
                issuer,
                oidc,
                ..
            } => {
                let http = crate::client::http_client(http);
                let shop = IssuerSettings {
                    issuer: issuer.clone(),
                    keys: KeysAt::Url(jwks_url.clone()),
                    audience: AUDIENCE.to_owned(),
                    roles: Roles::Shop,
                };
                let mut issuers = vec![Issuer::new(shop, http.clone())];
                issuers.extend(
                    oidc.iter()
                        .map(|oidc| Issuer::new(oidc.settings(), http.clone())),
                );
                Access::checking(issuers, service_token)
            }
        }
    }

    /// Checks the tokens of the provider `oidc` only: what the identity
    /// service takes to start a session for the provider's user.
    pub fn provider(oidc: &Oidc, http: HttpSettings) -> Access {
        let http = crate::client::http_client(http);
        Access::checking(vec![Issuer::new(oidc.settings(), http)], None)
    }

    /// Checks the tokens of `issuers`.
    fn checking(issuers: Vec<Issuer>, service_token: Option<ServiceToken>) -> Access {
        Access {
            service_token,
            inner: Some(Arc::new(Verifier {
                issuers,
                verified: Verified::default(),
            })),
        }
    }

    /// The subject of a bare access token, checked as a request's is
    /// (401 when auth is off: there is nothing to check it with).
    pub async fn subject(&self, token: &str) -> Result<Subject, ApiError> {
        match &self.inner {
            Some(verifier) => verifier.verify(token).await,
            None => Err(invalid_token()),
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
        let subject = verifier.verify(token).await?;
        Ok(match subject.staff {
            true => Caller::Staff(subject.id),
            false => Caller::Customer(subject.id),
        })
    }
}

impl Verifier {
    async fn verify(&self, token: &str) -> Result<Subject, ApiError> {
        let now = jsonwebtoken::get_current_timestamp();
        if let Some(subject) = self.verified.get(token, now) {
            return Ok(subject);
        }
        let subject = self.check(token).await?;
        self.verified.remember(token, &subject, now);
        Ok(subject)
    }

    /// The full check, by the issuer the token's `iss` names: signature
    /// by a key of its set, issuer, audience, expiry, subject and role.
    async fn check(&self, token: &str) -> Result<Subject, ApiError> {
        #[derive(Deserialize)]
        struct Iss {
            iss: String,
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| invalid_token())?;
        // Only to choose whose keys check it; nothing else is read unchecked.
        let named = jsonwebtoken::dangerous::insecure_decode::<Iss>(token)
            .map_err(|_| invalid_token())?
            .claims
            .iss;
        let issuer = self
            .issuers
            .iter()
            .find(|issuer| issuer.settings.issuer == named)
            .ok_or_else(invalid_token)?;
        let (subject, refetched) = issuer.check(token, &header).await?;
        if refetched {
            // A key may have left the set: its tokens are checked again.
            self.verified.forget_all();
        }
        Ok(subject)
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
    use jsonwebtoken::{DecodingKey, EncodingKey, Header};

    /// A verifier of Shop's tokens that knows the key `k1` (and fetches
    /// nothing), and that key's signing half.
    fn verifier_with_key() -> (Verifier, EncodingKey) {
        let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
        let x = URL_SAFE_NO_PAD.encode(key.verifying_key().to_bytes());
        let decoding = DecodingKey::from_ed_components(&x).unwrap();
        let k1 = key_set::Key {
            decoding,
            algorithm: None,
        };
        let shop = Issuer {
            settings: IssuerSettings {
                issuer: "shop".into(),
                keys: KeysAt::Url("http://127.0.0.1:9/.well-known/jwks.json".into()),
                audience: AUDIENCE.into(),
                roles: Roles::Shop,
            },
            keys: key_set::KeySet::holding(HashMap::from([("k1".to_owned(), k1)])),
        };
        let verifier = Verifier {
            issuers: vec![shop],
            verified: Verified::default(),
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
        let subject = verifier.verify(&ada).await.unwrap();
        assert_eq!((subject.id.as_str(), subject.staff), ("ada", false));
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
        let claims = |exp| Subject {
            id: "ada".into(),
            staff: false,
            exp,
            email: None,
            name: None,
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
                oidc: None,
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
    fn a_provider_needs_an_issuer_url_and_an_audience() {
        let env = |pairs: &[(&str, &str)]| Env::from_pairs(pairs.iter().copied());
        assert_eq!(Oidc::from_env(&env(&[])).unwrap(), None);
        let keycloak = "https://sso.example.com/realms/shop";
        let oidc = Oidc::from_env(&env(&[
            ("OIDC_ISSUER", keycloak),
            ("OIDC_CLIENT_ID", "dash"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(
            oidc.audience, "dash",
            "the client id, without OIDC_AUDIENCE"
        );
        assert_eq!(
            (oidc.role_claim.as_str(), oidc.staff_role.as_str()),
            ("roles", "staff")
        );
        assert_eq!(
            oidc.settings().keys,
            KeysAt::Discovery {
                issuer: keycloak.to_owned()
            }
        );
        let without_audience = Oidc::from_env(&env(&[("OIDC_ISSUER", keycloak)]));
        assert!(without_audience
            .unwrap_err()
            .to_string()
            .contains("OIDC_AUDIENCE"));
        let not_a_url =
            Oidc::from_env(&env(&[("OIDC_ISSUER", "keycloak"), ("OIDC_AUDIENCE", "a")]));
        assert!(not_a_url.unwrap_err().to_string().contains("OIDC_ISSUER"));
        // The issuer is kept exactly, trailing slash and all (Auth0 writes one).
        let auth0 = Oidc::from_env(&env(&[
            ("OIDC_ISSUER", "https://tenant.auth0.com/"),
            ("OIDC_AUDIENCE", "https://shop.example.com/api"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(auth0.issuer, "https://tenant.auth0.com/");
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
