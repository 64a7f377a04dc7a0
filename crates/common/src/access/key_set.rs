//! An issuer's public keys, fetched and kept: from its key set's URL, or
//! from the one its OpenID discovery document names
//! (`<issuer>/.well-known/openid-configuration`, read once).
//!
//! A key is looked up by its id (`kid`). The set is fetched again when a
//! token names a key it does not hold (a key published since, as in a
//! rotation) or when it is older than [`MAX_AGE`] (a key may have left
//! it): one fetch at a time, at most one every [`REFETCH_EVERY`]. A miss
//! waits for the next fetch that begins after it arrived and is answered
//! by it, so made-up key ids cannot hammer the issuer, and a new key's
//! first tokens are never refused because of a fetch made just before.
//! A key id that fetch was asked for and did not hold is refused at once
//! until the next fetch may begin: a made-up id sent again holds no
//! request for a second.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Deserialize;

use crate::error::ApiError;

/// How often, at most, the key set is fetched again.
pub const REFETCH_EVERY: Duration = Duration::from_secs(1);

/// How long a fetched key set is used before it is fetched again.
pub const MAX_AGE: Duration = Duration::from_secs(600);

/// At most this many key ids are remembered as absent from a fetch.
const MAX_ABSENT: usize = 10_000;

/// Where an issuer's key set is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeysAt {
    /// This URL.
    Url(String),
    /// The `jwks_uri` of the issuer's discovery document.
    Discovery { issuer: String },
}

/// One public key, and the algorithm its set says it signs with.
#[derive(Clone)]
pub struct Key {
    pub decoding: DecodingKey,
    pub algorithm: Option<Algorithm>,
}

/// An issuer's keys, fetched when needed.
pub struct KeySet {
    at: KeysAt,
    /// Who publishes them, for messages (`the identity service`).
    publisher: &'static str,
    http: reqwest::Client,
    /// The discovered key set's URL, once read.
    discovered: Mutex<Option<String>>,
    keys: RwLock<HashMap<String, Key>>,
    /// When the last fetch began.
    fetched_at: Mutex<Option<Instant>>,
    /// Key ids the last fetch was asked for and did not hold.
    absent: Mutex<HashSet<String>>,
    /// Held while the set is fetched (one fetch at a time).
    fetching: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for KeySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeySet")
            .field("at", &self.at)
            .finish_non_exhaustive()
    }
}

/// What a fetch found: whether the set changed, and the key looked for.
pub struct Lookup {
    pub key: Option<Key>,
    /// The set was fetched again: keys may have left it.
    pub refetched: bool,
}

impl KeySet {
    pub fn new(at: KeysAt, publisher: &'static str, http: reqwest::Client) -> KeySet {
        KeySet {
            at,
            publisher,
            http,
            discovered: Mutex::new(None),
            keys: RwLock::new(HashMap::new()),
            fetched_at: Mutex::new(None),
            absent: Mutex::new(HashSet::new()),
            fetching: tokio::sync::Mutex::new(()),
        }
    }

    /// A set holding `keys`, fetched just now (tests).
    #[cfg(test)]
    pub fn holding(keys: HashMap<String, Key>) -> KeySet {
        let set = KeySet::new(
            KeysAt::Url("http://127.0.0.1:9/jwks.json".into()),
            "test",
            reqwest::Client::new(),
        );
        *set.keys.write().unwrap() = keys;
        *set.fetched_at.lock().unwrap() = Some(Instant::now());
        set
    }

    /// The key `kid` (see the module's text for when the set is fetched).
    pub async fn key(&self, kid: &str) -> Result<Lookup, ApiError> {
        let arrived = Instant::now();
        let known = self.read().get(kid).cloned();
        if known.is_some() && self.fetched().is_some_and(|at| at.elapsed() < MAX_AGE) {
            return Ok(Lookup {
                key: known,
                refetched: false,
            });
        }
        let refetch_soon = self
            .fetched()
            .is_some_and(|at| at.elapsed() < REFETCH_EVERY);
        if known.is_none() && refetch_soon && self.absent_ids().contains(kid) {
            return Ok(Lookup {
                key: None,
                refetched: false,
            });
        }
        let _fetching = self.fetching.lock().await;
        // A fetch that began after this request arrived has answered it.
        if self.fetched().is_some_and(|at| at >= arrived) {
            return Ok(Lookup {
                key: self.found(kid),
                refetched: false,
            });
        }
        if let Some(wait) = self
            .fetched()
            .and_then(|at| REFETCH_EVERY.checked_sub(at.elapsed()))
        {
            tokio::time::sleep(wait).await;
        }
        *self.fetched_at.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
        self.absent_ids().clear();
        let keys = match self.fetch().await {
            Ok(keys) => keys,
            // The set in hand stays in use while its publisher is away.
            Err(err) if known.is_some() => {
                tracing::warn!(error = %err, "cannot fetch the key set again; using the one fetched before");
                return Ok(Lookup {
                    key: known,
                    refetched: false,
                });
            }
            Err(err) => return Err(err),
        };
        *self.keys.write().unwrap_or_else(|e| e.into_inner()) = keys;
        Ok(Lookup {
            key: self.found(kid),
            refetched: true,
        })
    }

    /// The key `kid` of the last fetch; remembered as absent if it is not.
    fn found(&self, kid: &str) -> Option<Key> {
        let key = self.read().get(kid).cloned();
        let mut absent = self.absent_ids();
        if key.is_none() && absent.len() < MAX_ABSENT {
            absent.insert(kid.to_owned());
        }
        key
    }

    fn absent_ids(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.absent.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Key>> {
        self.keys.read().unwrap_or_else(|e| e.into_inner())
    }

    fn fetched(&self) -> Option<Instant> {
        *self.fetched_at.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn unavailable(&self, what: &str, err: impl std::fmt::Display) -> ApiError {
        tracing::warn!(error = %err, "cannot fetch {what}");
        ApiError::Unavailable(format!("{} is unavailable, try again", self.publisher))
    }

    /// The set's URL: given, or read from the discovery document once.
    async fn url(&self) -> Result<String, ApiError> {
        let issuer = match &self.at {
            KeysAt::Url(url) => return Ok(url.clone()),
            KeysAt::Discovery { issuer } => issuer,
        };
        if let Some(url) = self
            .discovered
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
        {
            return Ok(url);
        }
        #[derive(Deserialize)]
        struct Discovery {
            jwks_uri: String,
        }
        let url = format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        );
        let document: Discovery = self
            .get_json(&url)
            .await
            .map_err(|err| self.unavailable("the discovery document", err))?;
        *self.discovered.lock().unwrap_or_else(|e| e.into_inner()) =
            Some(document.jwks_uri.clone());
        Ok(document.jwks_uri)
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, url: &str) -> Result<T, String> {
        let response = self
            .http
            .get(url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|err| format!("{url}: {err}"))?;
        response.json().await.map_err(|err| format!("{url}: {err}"))
    }

    /// The key set, by key id (keys without an id, or of a kind that
    /// cannot check a signature, are left out).
    async fn fetch(&self) -> Result<HashMap<String, Key>, ApiError> {
        let url = self.url().await?;
        let set: JwkSet = self
            .get_json(&url)
            .await
            .map_err(|err| self.unavailable("the key set", err))?;
        Ok(set.keys.iter().filter_map(key_of).collect())
    }
}

/// A signing key of a key set, by its id.
fn key_of(jwk: &Jwk) -> Option<(String, Key)> {
    let kid = jwk.common.key_id.clone()?;
    if jwk
        .common
        .public_key_use
        .as_ref()
        .is_some_and(|key_use| *key_use != jsonwebtoken::jwk::PublicKeyUse::Signature)
    {
        return None;
    }
    let algorithm = jwk
        .common
        .key_algorithm
        .and_then(|alg| alg.to_string().parse::<Algorithm>().ok());
    let decoding = DecodingKey::from_jwk(jwk).ok()?;
    Some((
        kid,
        Key {
            decoding,
            algorithm,
        },
    ))
}
