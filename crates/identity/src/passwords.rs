//! Password hashes: argon2id with the crate's default parameters (19 MiB,
//! 2 passes), computed on the blocking pool, never on the async runtime's
//! threads, and at most [`Hasher::new`]'s number at once, so a flood of
//! logins queues instead of starving every other request of CPU.

use std::sync::Arc;
use std::time::Duration;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use shop_common::ApiError;
use tokio::sync::{OnceCell, Semaphore};

/// How long a hash waits for its turn before the request is answered 503.
const QUEUE_WAIT: Duration = Duration::from_secs(5);

/// Hashes and checks passwords.
#[derive(Debug, Clone)]
pub struct Hasher {
    turns: Arc<Semaphore>,
    /// A hash of no one's password: checked when the email is unknown, so
    /// an unknown email takes as long as a wrong password. Made the first
    /// time it is needed, on the blocking pool like every hash.
    decoy: Arc<OnceCell<String>>,
}

impl Hasher {
    /// At most `concurrency` hashes at once.
    pub fn new(concurrency: usize) -> Hasher {
        Hasher {
            turns: Arc::new(Semaphore::new(concurrency.max(1))),
            decoy: Arc::default(),
        }
    }

    /// The PHC string of `password`'s argon2id hash, with a random salt.
    pub async fn hash(&self, password: &str) -> Result<String, ApiError> {
        let password = password.to_owned();
        let hashed = self.run(move || hash_now(&password)).await?;
        hashed.map_err(|err| ApiError::internal(format!("password hash: {err}")))
    }

    /// Whether `password` matches `hash` (the decoy when `None`, always
    /// false then).
    pub async fn verify(&self, password: &str, hash: Option<&str>) -> Result<bool, ApiError> {
        let known = hash.is_some();
        let hash = match hash {
            Some(hash) => hash.to_owned(),
            None => self
                .decoy
                .get_or_try_init(|| self.hash("decoy password, never valid"))
                .await?
                .clone(),
        };
        let password = password.to_owned();
        let matches = self
            .run(move || {
                PasswordHash::new(&hash)
                    .map(|parsed| {
                        Argon2::default()
                            .verify_password(password.as_bytes(), &parsed)
                            .is_ok()
                    })
                    .unwrap_or(false)
            })
            .await?;
        Ok(known && matches)
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let busy = || ApiError::Unavailable("Too many sign-ins at once, try again".to_owned());
        let _turn = tokio::time::timeout(QUEUE_WAIT, self.turns.clone().acquire_owned())
            .await
            .map_err(|_| busy())?
            .map_err(|_| busy())?;
        tokio::task::spawn_blocking(work)
            .await
            .map_err(ApiError::internal)
    }
}

/// A new password of 20 letters and digits (about 116 bits), without the
/// ones people mistake for each other.
pub fn generate() -> String {
    const CHARS: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    (0..20)
        .map(|_| char::from(CHARS[rand::random_range(0..CHARS.len())]))
        .collect()
}

fn hash_now(password: &str) -> Result<String, argon2::password_hash::Error> {
    let salt = SaltString::encode_b64(&rand::random::<[u8; 16]>())?;
    Ok(Argon2::default()
        .hash_password(password.as_bytes(), &salt)?
        .to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_only_their_password() {
        let hasher = Hasher::new(2);
        let hash = hasher.hash("correct horse battery").await.unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(hasher
            .verify("correct horse battery", Some(&hash))
            .await
            .unwrap());
        assert!(!hasher
            .verify("wrong horse battery", Some(&hash))
            .await
            .unwrap());
        // Unknown account: the decoy is checked, and never matches.
        assert!(!hasher
            .verify("decoy password, never valid", None)
            .await
            .unwrap());
        assert_ne!(
            hash,
            hasher.hash("correct horse battery").await.unwrap(),
            "salted"
        );
    }
}
