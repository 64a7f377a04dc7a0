//! The keys the order service sends to other services: a checkout's
//! reservation key (catalog, cart) and a payment attempt's key (payment).
//!
//! A retry with the same `Idempotency-Key` must reach the same checkout or
//! attempt, so the key is derived from the client's key; but nobody may be
//! able to compute it from what a client sends (a reservation key would let
//! a stranger release another order's stock). So it is an HMAC-SHA256 of
//! the client's key under a secret that only this service's database holds
//! (table `secrets`, made on first start, shared by replicas). Without an
//! `Idempotency-Key` the key is random.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use shop_common::db::Connections;

use crate::store::secrets;

/// Derives keys under this service's secret.
#[derive(Clone)]
pub struct KeyDeriver {
    secret: std::sync::Arc<[u8]>,
}

impl std::fmt::Debug for KeyDeriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyDeriver(***)")
    }
}

impl KeyDeriver {
    /// The deriver keyed by the database's secret, made on first use.
    pub async fn load(db: &Connections) -> Result<KeyDeriver, sqlx::Error> {
        let fresh = format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        let secret = secrets::get_or_create(db, "derived_keys", &fresh).await?;
        Ok(KeyDeriver::new(secret.as_bytes()))
    }

    pub fn new(secret: &[u8]) -> KeyDeriver {
        KeyDeriver {
            secret: secret.into(),
        }
    }

    /// The key for `purpose` (e.g. `checkout:alice`) of a request with the
    /// client key `client_key`, or a random one when there is none. The same
    /// inputs always give the same key; it reads as a UUID.
    pub fn derive(&self, purpose: &str, client_key: Option<&str>) -> String {
        let Some(client_key) = client_key else {
            return uuid::Uuid::new_v4().to_string();
        };
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.secret).expect("HMAC takes keys of any length");
        // Length-prefixed, so ("a:b", "c") and ("a", "b:c") differ.
        mac.update(format!("{}:{purpose}:{client_key}", purpose.len()).as_bytes());
        let digest = mac.finalize().into_bytes();
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&digest[..16]);
        uuid::Builder::from_custom_bytes(bytes)
            .into_uuid()
            .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_stable_per_secret_and_purpose() {
        let one = KeyDeriver::new(b"secret one");
        let two = KeyDeriver::new(b"secret two");
        let key = one.derive("checkout:alice", Some("k1"));
        assert_eq!(key, one.derive("checkout:alice", Some("k1")));
        assert_ne!(key, two.derive("checkout:alice", Some("k1")));
        assert_ne!(key, one.derive("checkout:bob", Some("k1")));
        assert_ne!(key, one.derive("checkout:alice", Some("k2")));
        assert_ne!(one.derive("a:b", Some("c")), one.derive("a", Some("b:c")));
        assert_ne!(one.derive("x", None), one.derive("x", None));
        assert_eq!(key.len(), 36);
    }
}
