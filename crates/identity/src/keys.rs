//! The keys that sign access tokens: Ed25519 (JWT `alg: EdDSA`). One
//! [`Keys`] is one key; a [`KeyRing`] is the key that signs and every key
//! published at `/.well-known/jwks.json` beside it (the next one of a
//! rotation, and the previous ones until their tokens have expired).
//! Where they come from and how they rotate: [`crate::rotation`].

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use ed25519_dalek::SigningKey;
use jsonwebtoken::{DecodingKey, EncodingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

/// The signing key, ready to sign and check tokens.
#[derive(Clone)]
pub struct Keys {
    /// The key id in tokens' headers and the key set.
    pub kid: String,
    pub encoding: EncodingKey,
    pub decoding: DecodingKey,
    /// The public key, base64url.
    x: String,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// A key that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("invalid signing key: {0}")]
pub struct KeyError(String);

impl Keys {
    /// The key of a 32-byte Ed25519 seed.
    pub fn from_seed(seed: &[u8; 32]) -> Result<Keys, KeyError> {
        Keys::of(SigningKey::from_bytes(seed))
    }

    /// The key of a PKCS#8 PEM file's text (`openssl genpkey -algorithm ed25519`).
    pub fn from_pem(pem: &str) -> Result<Keys, KeyError> {
        let key = SigningKey::from_pkcs8_pem(pem).map_err(|err| KeyError(err.to_string()))?;
        Keys::of(key)
    }

    fn of(key: SigningKey) -> Result<Keys, KeyError> {
        let der = key
            .to_pkcs8_der()
            .map_err(|err| KeyError(err.to_string()))?;
        let public = key.verifying_key().to_bytes();
        let x = URL_SAFE_NO_PAD.encode(public);
        let kid = URL_SAFE_NO_PAD.encode(&Sha256::digest(public)[..12]);
        let decoding =
            DecodingKey::from_ed_components(&x).map_err(|err| KeyError(err.to_string()))?;
        Ok(Keys {
            kid,
            encoding: EncodingKey::from_ed_der(der.as_bytes()),
            decoding,
            x,
        })
    }

    /// The public key, as a key set lists it.
    fn jwk(&self) -> Jwk {
        Jwk {
            kty: "OKP".to_owned(),
            crv: "Ed25519".to_owned(),
            alg: "EdDSA".to_owned(),
            key_use: "sig".to_owned(),
            kid: self.kid.clone(),
            x: self.x.clone(),
        }
    }
}

/// The key that signs, and every key whose tokens are accepted.
#[derive(Debug, Clone)]
pub struct KeyRing {
    /// The signing key first.
    published: Vec<Keys>,
}

impl KeyRing {
    /// `signing`, published with `others` (a key listed twice once).
    pub fn new(signing: Keys, others: impl IntoIterator<Item = Keys>) -> KeyRing {
        let mut published = vec![signing];
        for keys in others {
            if published.iter().all(|known| known.kid != keys.kid) {
                published.push(keys);
            }
        }
        KeyRing { published }
    }

    /// The key new tokens are signed with.
    pub fn signing(&self) -> &Keys {
        &self.published[0]
    }

    /// The published key `kid`.
    pub fn key(&self, kid: &str) -> Option<&Keys> {
        self.published.iter().find(|keys| keys.kid == kid)
    }

    /// The public key set: the signing key first.
    pub fn jwks(&self) -> JwkSet {
        JwkSet {
            keys: self.published.iter().map(Keys::jwk).collect(),
        }
    }
}

/// `GET /.well-known/jwks.json` (RFC 7517; the key as RFC 8037 says).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct JwkSet {
    pub keys: Vec<Jwk>,
}

/// One public key.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Jwk {
    /// `OKP`.
    pub kty: String,
    /// `Ed25519`.
    pub crv: String,
    /// `EdDSA`.
    pub alg: String,
    /// `sig`.
    #[serde(rename = "use")]
    pub key_use: String,
    pub kid: String,
    /// The public key, base64url without padding.
    pub x: String,
}

/// A new random seed.
pub fn new_seed() -> [u8; 32] {
    rand::random()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_gives_one_key_and_its_public_set() {
        let seed = new_seed();
        let keys = Keys::from_seed(&seed).unwrap();
        assert_eq!(keys.kid, Keys::from_seed(&seed).unwrap().kid);
        assert_ne!(keys.kid, Keys::from_seed(&new_seed()).unwrap().kid);
        let set = serde_json::to_value(KeyRing::new(keys, []).jwks()).unwrap();
        assert_eq!(set["keys"][0]["kty"], "OKP");
        assert_eq!(set["keys"][0]["use"], "sig");
        assert_eq!(set["keys"][0]["x"].as_str().unwrap().len(), 43);
    }

    #[test]
    fn a_pem_file_is_read() {
        let pem = SigningKey::from_bytes(&[7; 32])
            .to_pkcs8_pem(Default::default())
            .unwrap();
        let keys = Keys::from_pem(&pem).unwrap();
        assert_eq!(keys.kid, Keys::from_seed(&[7; 32]).unwrap().kid);
        assert!(Keys::from_pem("not a key").is_err());
    }
}
