//! Access tokens (short-lived JWTs signed with a [`KeyRing`]'s key) and refresh
//! tokens (opaque random strings, stored only as their SHA-256).

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, Header};
use serde::{Deserialize, Serialize};
use shop_common::{access, ApiError};

use crate::domain::{Account, Role};
use crate::keys::{KeyRing, Keys};

/// How tokens are made.
#[derive(Debug, Clone)]
pub struct TokenSettings {
    /// `AUTH_ISSUER`, default `shop`: the tokens' `iss`.
    pub issuer: String,
    /// `ACCESS_TOKEN_TTL_SECS`, default 900.
    pub access_ttl: Duration,
    /// `REFRESH_TOKEN_TTL_SECS`, default 2592000 (30 days).
    pub refresh_ttl: Duration,
}

/// What an access token says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    /// The account id (the user id of its cart and orders).
    pub sub: String,
    pub role: Role,
    pub email: String,
    pub iat: u64,
    pub exp: u64,
}

fn now_secs() -> u64 {
    u64::try_from(chrono::Utc::now().timestamp()).unwrap_or(0)
}

/// An access token for `account`, signed with the ring's signing key.
pub fn issue(
    ring: &KeyRing,
    settings: &TokenSettings,
    account: &Account,
) -> Result<String, ApiError> {
    let iat = now_secs();
    let claims = Claims {
        iss: settings.issuer.clone(),
        aud: access::AUDIENCE.to_owned(),
        sub: account.id.clone(),
        role: account.role,
        email: account.email.clone(),
        iat,
        exp: iat + settings.access_ttl.as_secs(),
    };
    sign(ring.signing(), &claims)
}

/// `claims` signed by `keys`.
pub fn sign(keys: &Keys, claims: &Claims) -> Result<String, ApiError> {
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(keys.kid.clone());
    jsonwebtoken::encode(&header, claims, &keys.encoding).map_err(ApiError::internal)
}

/// The claims of a valid access token: signed by the ring's key its
/// header names and as [`access::validation`] asks (the same checks as
/// every service's). Anything else is 401.
pub fn verify(ring: &KeyRing, issuer: &str, token: &str) -> Result<Claims, ApiError> {
    let refused = |err: jsonwebtoken::errors::Error| {
        tracing::debug!(error = %err, "access token refused");
        ApiError::Unauthorized("The access token is missing, invalid or expired".to_owned())
    };
    let kid = jsonwebtoken::decode_header(token).map_err(refused)?.kid;
    let keys = kid
        .and_then(|kid| ring.key(&kid))
        .ok_or_else(|| refused(jsonwebtoken::errors::ErrorKind::InvalidSignature.into()))?;
    jsonwebtoken::decode::<Claims>(token, &keys.decoding, &access::validation(issuer))
        .map(|data| data.claims)
        .map_err(refused)
}

/// A new opaque secret (a refresh or session token): 32 random bytes,
/// base64url. Only its [`shop_common::token_hash`] is stored.
pub fn new_opaque_token() -> String {
    URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::new_seed;

    fn account(role: Role) -> Account {
        Account {
            id: "u-1".into(),
            email: "ada@example.com".into(),
            name: "Ada".into(),
            role,
            created_at: String::new(),
        }
    }

    fn settings(ttl: u64) -> TokenSettings {
        TokenSettings {
            issuer: "shop".into(),
            access_ttl: Duration::from_secs(ttl),
            refresh_ttl: Duration::from_secs(60),
        }
    }

    #[test]
    fn tokens_verify_with_their_key_issuer_and_time_only() {
        let keys = KeyRing::new(Keys::from_seed(&new_seed()).unwrap(), []);
        let token = issue(&keys, &settings(60), &account(Role::Staff)).unwrap();
        let claims = verify(&keys, "shop", &token).unwrap();
        assert_eq!((claims.sub.as_str(), claims.role), ("u-1", Role::Staff));
        // Another key, another issuer.
        let other = KeyRing::new(Keys::from_seed(&new_seed()).unwrap(), []);
        assert!(verify(&other, "shop", &token).is_err());
        assert!(verify(&keys, "elsewhere", &token).is_err());
        // Expired a second ago.
        let mut claims = claims;
        claims.exp = now_secs() - 1;
        assert!(verify(&keys, "shop", &sign(keys.signing(), &claims).unwrap()).is_err());
    }

    #[test]
    fn every_published_key_verifies_and_only_the_signing_one_signs() {
        let old = Keys::from_seed(&new_seed()).unwrap();
        let old_token = issue(
            &KeyRing::new(old.clone(), []),
            &settings(60),
            &account(Role::Customer),
        )
        .unwrap();
        let new = Keys::from_seed(&new_seed()).unwrap();
        let ring = KeyRing::new(new.clone(), [old]);
        assert!(verify(&ring, "shop", &old_token).is_ok());
        let token = issue(&ring, &settings(60), &account(Role::Customer)).unwrap();
        let kid = jsonwebtoken::decode_header(&token).unwrap().kid;
        assert_eq!(kid.as_deref(), Some(new.kid.as_str()));
        // The old key retired: its tokens are refused.
        assert!(verify(&KeyRing::new(new, []), "shop", &old_token).is_err());
    }

    #[test]
    fn unsigned_and_tampered_tokens_are_refused() {
        let keys = KeyRing::new(Keys::from_seed(&new_seed()).unwrap(), []);
        let token = issue(&keys, &settings(60), &account(Role::Customer)).unwrap();
        let parts: Vec<&str> = token.split('.').collect();
        let payload = URL_SAFE_NO_PAD.decode(parts[1]).unwrap();
        let staff = String::from_utf8(payload)
            .unwrap()
            .replace("\"customer\"", "\"staff\"");
        let staff = URL_SAFE_NO_PAD.encode(staff);
        let tampered = format!("{}.{staff}.{}", parts[0], parts[2]);
        assert!(verify(&keys, "shop", &tampered).is_err());
        let none = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
        assert!(verify(&keys, "shop", &format!("{none}.{}.", parts[1])).is_err());
        assert!(verify(&keys, "shop", "garbage").is_err());
    }

    #[test]
    fn refresh_tokens_are_random_and_stored_hashed() {
        let token = new_opaque_token();
        assert_ne!(token, new_opaque_token());
        assert_eq!(shop_common::token_hash(&token).len(), 64);
        assert_ne!(shop_common::token_hash(&token), token);
    }
}
