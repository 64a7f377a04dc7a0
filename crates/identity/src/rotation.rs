//! Where the signing keys come from, how a running service picks up new
//! ones, and how they rotate without an outage.
//!
//! - **From the database** (the default): the first start makes a key.
//!   [`rotate`] (`shop accounts rotate-key`) is a rotation's step: run once
//!   it publishes a next key beside the current one; run again it signs
//!   with that key, and keeps the one it replaced published until every
//!   token it signed has expired (the access tokens' lifetime, plus
//!   [`RETIRE_MARGIN`]), then drops it.
//! - **From files** (`IDENTITY_SIGNING_KEY_FILE`, a Kubernetes Secret):
//!   the signing key, and beside it `IDENTITY_NEXT_SIGNING_KEY_FILE` and
//!   `IDENTITY_PREVIOUS_SIGNING_KEY_FILE` when they exist. Replacing the
//!   Secret's files is the rotation (docs/security.md).
//!
//! Either way a running service reads its keys again when it next signs a
//! token or publishes its key set, at most every [`RELOAD_EVERY`], so
//! every replica follows a rotation without a restart. The services that
//! check tokens fetch the key set again when a token names a key they do
//! not know (`shop_common::access`).

use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use shop_common::db::Connections;
use shop_common::{now_rfc3339, rfc3339};

use crate::keys::{new_seed, KeyRing, Keys};
use crate::store::signing_keys::{self, Rotation, StoredKey};

/// How long a service signs with the keys it read before it reads them
/// again.
pub const RELOAD_EVERY: Duration = Duration::from_secs(2);

/// How long a replaced key stays published beyond the access tokens'
/// lifetime: the replicas' reload, and the clocks' disagreement.
pub const RETIRE_MARGIN: Duration = Duration::from_secs(60);

/// The files of `IDENTITY_*SIGNING_KEY_FILE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyFiles {
    /// The key that signs (must exist).
    pub current: PathBuf,
    /// Published before it signs, when the file exists.
    pub next: Option<PathBuf>,
    /// Published after it signed, when the file exists.
    pub previous: Option<PathBuf>,
}

/// Where the keys are read.
#[derive(Debug, Clone)]
pub enum KeySource {
    Database(Connections),
    Files(KeyFiles),
}

impl KeySource {
    /// The keys as they are now: the key that signs, and the others
    /// published beside it.
    async fn read(&self) -> Result<KeyRing, String> {
        match self {
            KeySource::Database(db) => {
                let keys = signing_keys::all(db).await.map_err(|err| err.to_string())?;
                ring_of(&keys, &now_rfc3339())
            }
            KeySource::Files(files) => {
                let signing = pem_file(&files.current)?
                    .ok_or_else(|| format!("{}: no such file", files.current.display()))?;
                let mut others = Vec::new();
                for file in [&files.next, &files.previous].into_iter().flatten() {
                    others.extend(pem_file(file)?);
                }
                Ok(KeyRing::new(signing, others))
            }
        }
    }
}

/// The key of a PEM file; `None` when there is no such file.
fn pem_file(file: &PathBuf) -> Result<Option<Keys>, String> {
    match std::fs::read_to_string(file) {
        Ok(pem) => Keys::from_pem(&pem)
            .map(Some)
            .map_err(|err| format!("{}: {err}", file.display())),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(format!("{}: {err}", file.display())),
    }
}

/// The ring of the stored keys at `now`: the first current key signs; the
/// next key and the previous keys not retired by `now` are published.
/// (Replicas that raced at the first start may have stored more current
/// keys than one; only the first ever signed.)
fn ring_of(stored: &[StoredKey], now: &str) -> Result<KeyRing, String> {
    let mut signing = None;
    let mut others = Vec::new();
    for key in stored {
        let keys = || seed_keys(&key.seed).map_err(|err| format!("key {}: {err}", key.kid));
        match key.state.as_str() {
            "current" if signing.is_none() => signing = Some(keys()?),
            "next" => others.push(keys()?),
            "previous" if key.retire_at.as_deref().is_some_and(|at| at > now) => {
                others.push(keys()?)
            }
            _ => {}
        }
    }
    let signing = signing.ok_or("no current signing key is stored")?;
    Ok(KeyRing::new(signing, others))
}

/// The key of a stored hex seed.
fn seed_keys(hex: &str) -> Result<Keys, String> {
    let seed: Vec<u8> = (0..hex.len())
        .step_by(2)
        .filter_map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect();
    let seed: [u8; 32] = seed
        .try_into()
        .map_err(|_| "the stored seed is damaged".to_owned())?;
    Keys::from_seed(&seed).map_err(|err| err.to_string())
}

/// A new key: its id and its seed as stored (hex).
fn candidate() -> Result<(String, String), String> {
    let seed = new_seed();
    let kid = Keys::from_seed(&seed).map_err(|err| err.to_string())?.kid;
    Ok((kid, seed.iter().map(|b| format!("{b:02x}")).collect()))
}

/// Makes the first key of `db` unless it has one.
async fn first_key(db: &Connections) -> Result<(), String> {
    let (kid, seed) = candidate()?;
    signing_keys::create_unless_any(db, &kid, &seed, &now_rfc3339())
        .await
        .map_err(|err| err.to_string())
}

/// A service's signing keys, read again at most every [`RELOAD_EVERY`].
#[derive(Debug)]
pub struct SigningKeys {
    source: KeySource,
    ring: RwLock<Arc<KeyRing>>,
    read_at: Mutex<Instant>,
    /// Held while the keys are read again; requests meanwhile use the
    /// keys read before.
    reading: tokio::sync::Mutex<()>,
}

impl SigningKeys {
    /// The keys of `source` (a database without keys gets its first).
    pub async fn open(source: KeySource) -> Result<SigningKeys, String> {
        if let KeySource::Database(db) = &source {
            first_key(db).await?;
        }
        let ring = source.read().await?;
        Ok(SigningKeys {
            source,
            ring: RwLock::new(Arc::new(ring)),
            read_at: Mutex::new(Instant::now()),
            reading: tokio::sync::Mutex::new(()),
        })
    }

    /// The keys as they were at most [`RELOAD_EVERY`] ago. When they
    /// cannot be read again, the keys read before stay in use.
    pub async fn ring(&self) -> Arc<KeyRing> {
        if self.fresh() {
            return self.current();
        }
        let Ok(_reading) = self.reading.try_lock() else {
            return self.current();
        };
        if self.fresh() {
            return self.current();
        }
        match self.source.read().await {
            Ok(ring) => *self.ring.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(ring),
            Err(err) => tracing::warn!(error = %err, "cannot read the signing keys again"),
        }
        *self.read_at.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
        self.current()
    }

    fn fresh(&self) -> bool {
        self.read_at
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .elapsed()
            < RELOAD_EVERY
    }

    fn current(&self) -> Arc<KeyRing> {
        self.ring.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// One step of a rotation of the keys stored in `db` (see the module's
/// text), whose access tokens live `access_ttl`. A database without keys
/// gets its first (current) one before.
pub async fn rotate(db: &Connections, access_ttl: Duration) -> Result<Rotation, String> {
    first_key(db).await?;
    let (kid, seed) = candidate()?;
    let now = chrono::Utc::now();
    let retire_at = now
        + chrono::Duration::from_std(access_ttl + RELOAD_EVERY + RETIRE_MARGIN)
            .map_err(|err| err.to_string())?;
    signing_keys::rotate(db, &kid, &seed, &rfc3339(now), &rfc3339(retire_at))
        .await
        .map_err(|err| err.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(kid_of: u8, state: &str, retire_at: Option<&str>) -> (StoredKey, String) {
        let seed = [kid_of; 32];
        let kid = Keys::from_seed(&seed).unwrap().kid;
        let key = StoredKey {
            kid: kid.clone(),
            seed: seed.iter().map(|b| format!("{b:02x}")).collect(),
            state: state.to_owned(),
            retire_at: retire_at.map(str::to_owned),
        };
        (key, kid)
    }

    #[test]
    fn the_first_current_key_signs_beside_the_next_and_unretired_previous_ones() {
        let (first, first_kid) = stored(1, "current", None);
        let (raced, raced_kid) = stored(2, "current", None);
        let (next, next_kid) = stored(3, "next", None);
        let (old, old_kid) = stored(4, "previous", Some("2026-01-01T00:00:10.000000Z"));
        let (gone, gone_kid) = stored(5, "previous", Some("2026-01-01T00:00:00.000000Z"));
        let all = [old, first, raced, next, gone];
        let ring = ring_of(&all, "2026-01-01T00:00:05.000000Z").unwrap();
        assert_eq!(ring.signing().kid, first_kid);
        let published: Vec<String> = ring.jwks().keys.into_iter().map(|key| key.kid).collect();
        assert_eq!(published, [first_kid.clone(), old_kid.clone(), next_kid]);
        assert!(ring.key(&raced_kid).is_none() && ring.key(&gone_kid).is_none());
        // Once retired, the previous key leaves the set.
        let ring = ring_of(&all, "2026-01-01T00:00:10.000000Z").unwrap();
        assert!(ring.key(&old_kid).is_none());
        // Without a current key there is nothing to sign with.
        assert!(ring_of(&all[3..], "2026-01-01T00:00:05.000000Z").is_err());
    }
}
