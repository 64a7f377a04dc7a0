//! The identity service: accounts and tokens (port 8005).
//!
//! - [`domain`]: accounts, roles, the rules for emails and passwords.
//! - [`routes`]: the HTTP handlers; [`accounts`]: the work behind them
//!   (also used by `shop accounts`).
//! - [`passwords`]: argon2id hashes, off the async runtime.
//! - [`keys`]: the Ed25519 signing keys and their public key set;
//!   [`rotation`]: where they come from, and how they rotate;
//!   [`tokens`]: access tokens (EdDSA JWTs) and refresh tokens.
//! - [`throttle`]: failed logins limited per account and client address.
//! - [`store`]: all SQL.
//!
//! A login gives a short-lived access token, which every service checks
//! against the public key set at `/.well-known/jwks.json`, and a refresh
//! token, stored only hashed, used once: each refresh replaces it, and a
//! used one presented again revokes every token of that login.
//!
//! The gateway signs browsers in through sessions instead (`/auth/sessions`):
//! a session token that it keeps in an HttpOnly cookie and exchanges for
//! access tokens until the session is ended or expires.

pub mod accounts;
pub mod domain;
pub mod keys;
pub mod passwords;
pub mod rotation;
pub mod routes;
pub mod store;
pub mod throttle;
pub mod tokens;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use shop_common::access::{Access, Oidc};
use shop_common::config::{db_settings_from_env, ConfigError, Env, HttpSettings, Listen};
use shop_common::db::{Db, DbSettings};
use shop_common::service::{Service, StartError};
use shop_common::streams::{TrustedProxies, PRIVATE_NETWORKS};
use utoipa::OpenApi;

use crate::accounts::{Identity, Provider};
use crate::passwords::Hasher;
use crate::rotation::{KeyFiles, KeySource, SigningKeys};
use crate::throttle::{LoginThrottle, ThrottleSettings};
use crate::tokens::TokenSettings;

pub const NAME: &str = "identity";
pub const DEFAULT_PORT: u16 = 8005;

/// Settings of the identity service.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: Listen,
    pub db: DbSettings,
    pub tokens: TokenSettings,
    /// `IDENTITY_SIGNING_KEY_FILE`: an Ed25519 private key (PKCS#8 PEM),
    /// with `IDENTITY_NEXT_SIGNING_KEY_FILE` and
    /// `IDENTITY_PREVIOUS_SIGNING_KEY_FILE` published beside it when they
    /// exist; unset, the keys are kept in the database, the first made on
    /// first start ([`rotation`]).
    pub signing_key_files: Option<KeyFiles>,
    /// `PASSWORD_HASH_CONCURRENCY`, default 2: password hashes computed at
    /// once (each about 20 ms of one core).
    pub hash_concurrency: usize,
    /// `LOGIN_FAILURES_*`: failed logins allowed per account and address.
    pub throttle: ThrottleSettings,
    /// `TRUSTED_PROXIES` (default loopback and the private networks, where
    /// the gateway runs): whose `X-Forwarded-For` names the client.
    pub trusted_proxies: TrustedProxies,
    /// `OIDC_ISSUER` and its settings: a provider whose users the gateway
    /// signs in ([`accounts::Identity::start_provider_session`]).
    pub oidc: Option<Oidc>,
    /// `OIDC_SESSION_SECS`, default 28800 (8 hours): how long a session
    /// started through the provider lasts (the provider's role changes
    /// reach Shop at the next sign-in).
    pub oidc_session: Duration,
    pub http: HttpSettings,
}

impl Config {
    pub fn from_env(env: &Env) -> Result<Config, ConfigError> {
        let secs = |name: &str, default: u64| -> Result<Duration, ConfigError> {
            let expected = "a whole number of seconds, at least 1";
            let secs: u64 = env.parse(name, default, expected)?;
            if secs == 0 {
                return Err(env.error(name, expected));
            }
            Ok(Duration::from_secs(secs))
        };
        let hash_concurrency = env.count("PASSWORD_HASH_CONCURRENCY", 2, 1..=64, "hashes")?;
        Ok(Config {
            listen: Listen::from_env(env, DEFAULT_PORT)?,
            db: db_settings_from_env(env, NAME)?,
            tokens: TokenSettings {
                issuer: env.string("AUTH_ISSUER", "shop"),
                access_ttl: secs("ACCESS_TOKEN_TTL_SECS", 900)?,
                refresh_ttl: secs("REFRESH_TOKEN_TTL_SECS", 30 * 24 * 3600)?,
            },
            signing_key_files: env
                .get("IDENTITY_SIGNING_KEY_FILE")
                .map(|current| KeyFiles {
                    current: PathBuf::from(current),
                    next: env.get("IDENTITY_NEXT_SIGNING_KEY_FILE").map(PathBuf::from),
                    previous: env
                        .get("IDENTITY_PREVIOUS_SIGNING_KEY_FILE")
                        .map(PathBuf::from),
                }),
            hash_concurrency,
            throttle: ThrottleSettings::from_env(env)?,
            trusted_proxies: TrustedProxies::from_env(env, PRIVATE_NETWORKS)?,
            oidc: Oidc::from_env(env)?,
            oidc_session: secs("OIDC_SESSION_SECS", 8 * 3600)?,
            http: HttpSettings::from_env(env)?,
        })
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Shop identity service",
        description = "Customer and staff accounts, access and refresh tokens, and the key set that checks them."
    ),
    components(schemas(
        domain::Account,
        domain::Role,
        domain::NewAccount,
        domain::Credentials,
        domain::RefreshRequest,
        domain::Tokens,
        domain::SessionRequest,
        domain::ProviderSessionRequest,
        domain::SessionAccess,
        domain::SessionTokens,
        domain::Message,
        keys::JwkSet,
        keys::Jwk
    ))
)]
pub struct ApiDoc;

pub fn migrations() -> shop_common::db::Migrations {
    shop_common::migrations!()
}

/// The signing keys: from the files when they are set, else the
/// database's (the first made on first start).
pub async fn signing_keys(config: &Config, db: &Db) -> Result<SigningKeys, StartError> {
    let (source, from) = match &config.signing_key_files {
        Some(files) => (
            KeySource::Files(files.clone()),
            files.current.display().to_string(),
        ),
        None => (
            KeySource::Database(db.writer.clone()),
            config.db.target.describe(),
        ),
    };
    SigningKeys::open(source).await.map_err(|err| {
        StartError::Io(std::io::Error::other(format!(
            "signing key ({from}): {err}"
        )))
    })
}

/// Opens the database, loads the signing key and builds the service.
pub async fn build(config: &Config) -> Result<Service, StartError> {
    let service = Service::with_database(NAME, &config.db, migrations()).await?;
    let identity = Identity {
        db: service.db.clone(),
        hasher: Hasher::new(config.hash_concurrency),
        keys: Arc::new(signing_keys(config, &service.db).await?),
        tokens: config.tokens.clone(),
        throttle: LoginThrottle::new(config.throttle),
        provider: config.oidc.as_ref().map(|oidc| Provider {
            issuer: oidc.issuer.clone(),
            access: Access::provider(oidc, config.http),
            session: config.oidc_session,
        }),
    };
    let routes = routes::router(identity, config.trusted_proxies.clone());
    Ok(service.serve(ApiDoc::openapi(), routes))
}
