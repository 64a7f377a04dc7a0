//! An OpenID Connect provider of the tests' own, in-process: a discovery
//! document, a key set (one RSA key, `rsa-1`) and access tokens signed as
//! a provider such as Keycloak signs them, counting what it serves; and the
//! authorization-code flow with PKCE for one confidential client, whose
//! sign-in page signs in at once whoever [`Provider::sign_in_as`] names.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

use crate::helpers::listener;

/// The audience of the provider's access tokens for Shop.
pub const AUDIENCE: &str = "shop-dashboard";
/// The role (in `realm_access.roles`) that means staff.
pub const STAFF_ROLE: &str = "shop-staff";
/// The gateway's client at the provider.
pub const CLIENT_ID: &str = "shop-dashboard";
pub const CLIENT_SECRET: &str = "the gateway's secret";

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
    flow: Arc<Flow>,
}

/// Who the provider's sign-in page signs in: sub, email, name, roles.
type User = (String, String, String, Vec<String>);

/// The provider's sign-in state.
#[derive(Default)]
struct Flow {
    user: Mutex<Option<User>>,
    /// Codes given and not used yet.
    codes: Mutex<HashMap<String, Grant>>,
    issuer: String,
    key: Option<EncodingKey>,
}

/// What a code stands for.
#[derive(Clone)]
struct Grant {
    redirect_uri: String,
    challenge: String,
    nonce: String,
    user: User,
}

#[derive(serde::Deserialize)]
struct AuthorizeQuery {
    client_id: String,
    redirect_uri: String,
    state: String,
    nonce: String,
    code_challenge: String,
    code_challenge_method: String,
}

fn oauth_error(error: &str) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({ "error": error }))).into_response()
}

/// The sign-in page: signs in the configured user at once, and sends the
/// browser back with a code.
async fn authorize(State(flow): State<Arc<Flow>>, Query(query): Query<AuthorizeQuery>) -> Response {
    if query.client_id != CLIENT_ID || query.code_challenge_method != "S256" {
        return oauth_error("invalid_request");
    }
    let Some(user) = flow.user.lock().unwrap().clone() else {
        return (StatusCode::FORBIDDEN, "nobody signs in").into_response();
    };
    let code = format!("code-{}", rand::random::<u64>());
    flow.codes.lock().unwrap().insert(
        code.clone(),
        Grant {
            redirect_uri: query.redirect_uri.clone(),
            challenge: query.code_challenge,
            nonce: query.nonce,
            user,
        },
    );
    let back = reqwest::Url::parse_with_params(
        &query.redirect_uri,
        [("code", code.as_str()), ("state", query.state.as_str())],
    )
    .unwrap();
    Redirect::to(back.as_str()).into_response()
}

/// The token endpoint: a code (once), with the client's secret and the
/// PKCE verifier, for an access token and an ID token.
async fn token(
    State(flow): State<Arc<Flow>>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let basic = format!(
        "Basic {}",
        STANDARD.encode(format!("{CLIENT_ID}:{}", url_encoded(CLIENT_SECRET)))
    );
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(basic.as_str()) {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": "invalid_client"})),
        )
            .into_response();
    }
    let field = |name: &str| form.get(name).cloned().unwrap_or_default();
    if field("grant_type") != "authorization_code" {
        return oauth_error("unsupported_grant_type");
    }
    let Some(grant) = flow.codes.lock().unwrap().remove(&field("code")) else {
        return oauth_error("invalid_grant");
    };
    let verified = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(
        <sha2::Sha256 as sha2::Digest>::digest(field("code_verifier")),
    );
    if grant.redirect_uri != field("redirect_uri") || verified != grant.challenge {
        return oauth_error("invalid_grant");
    }
    let (sub, email, name, roles) = grant.user;
    let now = jsonwebtoken::get_current_timestamp();
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("rsa-1".to_owned());
    let key = flow.key.as_ref().unwrap();
    let access = json!({
        "iss": flow.issuer, "aud": AUDIENCE, "sub": sub, "azp": CLIENT_ID,
        "iat": now, "exp": now + 300, "realm_access": { "roles": roles },
        "email": email, "name": name,
    });
    let id = json!({
        "iss": flow.issuer, "aud": CLIENT_ID, "sub": sub, "iat": now, "exp": now + 300,
        "nonce": grant.nonce, "email": email, "name": name,
    });
    Json(json!({
        "access_token": jsonwebtoken::encode(&header, &access, key).unwrap(),
        "id_token": jsonwebtoken::encode(&header, &id, key).unwrap(),
        "token_type": "Bearer",
        "expires_in": 300,
    }))
    .into_response()
}

/// `text` as application/x-www-form-urlencoded writes it (what RFC 6749
/// asks of a client secret in HTTP Basic).
fn url_encoded(text: &str) -> String {
    reqwest::Url::parse_with_params("http://x/", [("v", text)])
        .unwrap()
        .query()
        .unwrap()
        .trim_start_matches("v=")
        .to_owned()
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
        let flow = Arc::new(Flow {
            issuer: issuer.clone(),
            key: Some(rsa_key().0),
            ..Flow::default()
        });
        let sign_in = Router::new()
            .route("/realms/shop/protocol/openid-connect/auth", get(authorize))
            .route("/realms/shop/protocol/openid-connect/token", post(token))
            .with_state(flow.clone());
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
            )
            .merge(sign_in);
        tokio::spawn(async move { axum::serve(listener, app).await });
        Provider {
            issuer,
            key,
            key_fetches,
            discovery_fetches,
            flow,
        }
    }

    /// Whom the sign-in page signs in from now on.
    pub fn sign_in_as(&self, sub: &str, email: &str, name: &str, roles: &[&str]) {
        let roles = roles.iter().map(|role| role.to_string()).collect();
        *self.flow.user.lock().unwrap() =
            Some((sub.to_owned(), email.to_owned(), name.to_owned(), roles));
    }

    /// The settings of a gateway that signs browsers in through this
    /// provider (beside [`Provider::settings`]).
    pub fn sign_in_settings(&self) -> Vec<(&'static str, String)> {
        let mut settings = self.settings();
        settings.push(("OIDC_CLIENT_ID", CLIENT_ID.to_owned()));
        settings.push(("OIDC_CLIENT_SECRET", CLIENT_SECRET.to_owned()));
        settings
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
