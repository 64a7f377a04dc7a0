//! An OpenID Connect provider of the tests' own, in-process: a discovery
//! document, a key set (one RSA key, `rsa-1`) and access tokens signed as
//! a provider such as Keycloak signs them, counting what it serves.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::routing::get;
use axum::{Json, Router};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

use crate::helpers::listener;

/// The audience of the provider's access tokens for Shop.
pub const AUDIENCE: &str = "shop-dashboard";
/// The role (in `realm_access.roles`) that means staff.
pub const STAFF_ROLE: &str = "shop-staff";

/// The key `rsa-1`: its private half (PKCS#1 DER) and its public JWK.
fn rsa_key() -> (EncodingKey, Value) {
    let fixture: Value =
        serde_json::from_str(include_str!("fixtures/test_provider_rsa.json")).unwrap();
    let der = STANDARD
        .decode(fixture["pkcs1_der_base64"].as_str().unwrap())
        .unwrap();
    let jwk = json!({
        "kty": "RSA", "use": "sig", "alg": "RS256", "kid": "rsa-1",
        "n": fixture["n"], "e": fixture["e"],
    });
    (EncodingKey::from_rsa_der(&der), jwk)
}

/// A running provider.
pub struct Provider {
    /// Its issuer URL (the tokens' `iss`).
    pub issuer: String,
    key: EncodingKey,
    /// Key-set and discovery-document fetches so far.
    pub key_fetches: Arc<AtomicUsize>,
    pub discovery_fetches: Arc<AtomicUsize>,
}

impl Provider {
    pub async fn start() -> Provider {
        let (listener, url) = listener().await;
        let issuer = format!("{url}/realms/shop");
        let (key, jwk) = rsa_key();
        let key_fetches = Arc::new(AtomicUsize::new(0));
        let discovery_fetches = Arc::new(AtomicUsize::new(0));
        let discovery = json!({
            "issuer": issuer,
            "jwks_uri": format!("{issuer}/protocol/openid-connect/certs"),
            "authorization_endpoint": format!("{issuer}/protocol/openid-connect/auth"),
            "token_endpoint": format!("{issuer}/protocol/openid-connect/token"),
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
        });
        let (keys, documents) = (key_fetches.clone(), discovery_fetches.clone());
        let app = Router::new()
            .route(
                "/realms/shop/.well-known/openid-configuration",
                get(move || {
                    documents.fetch_add(1, Ordering::SeqCst);
                    let discovery = discovery.clone();
                    async move { Json(discovery) }
                }),
            )
            .route(
                "/realms/shop/protocol/openid-connect/certs",
                get(move || {
                    keys.fetch_add(1, Ordering::SeqCst);
                    let set = json!({ "keys": [jwk.clone()] });
                    async move { Json(set) }
                }),
            );
        tokio::spawn(async move { axum::serve(listener, app).await });
        Provider {
            issuer,
            key,
            key_fetches,
            discovery_fetches,
        }
    }

    /// The settings that make a service accept this provider's tokens
    /// (found through its discovery document).
    pub fn settings(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AUTH", "on".to_owned()),
            ("OIDC_ISSUER", self.issuer.clone()),
            ("OIDC_AUDIENCE", AUDIENCE.to_owned()),
            ("OIDC_ROLE_CLAIM", "realm_access.roles".to_owned()),
            ("OIDC_STAFF_ROLE", STAFF_ROLE.to_owned()),
        ]
    }

    /// The claims of an access token for `sub` with `roles`, as Keycloak
    /// writes them, valid for ten minutes.
    pub fn claims(&self, sub: &str, roles: &[&str]) -> Value {
        let now = jsonwebtoken::get_current_timestamp();
        json!({
            "iss": self.issuer, "aud": AUDIENCE, "sub": sub, "azp": AUDIENCE,
            "iat": now, "exp": now + 600, "typ": "Bearer",
            "realm_access": { "roles": roles },
            "preferred_username": sub,
        })
    }

    /// `claims` signed with the provider's key.
    pub fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some("rsa-1".to_owned());
        jsonwebtoken::encode(&header, claims, &self.key).unwrap()
    }

    /// An access token for `sub` with `roles`.
    pub fn token(&self, sub: &str, roles: &[&str]) -> String {
        self.sign(&self.claims(sub, roles))
    }
}
