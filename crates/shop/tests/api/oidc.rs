//! An external OpenID Connect provider (`OIDC_ISSUER`): the services take
//! its access tokens beside Shop's own, with its subject as the user and
//! its role claim deciding staff, and refuse whatever it did not issue
//! for them.

use std::sync::atomic::Ordering;

use axum::http::StatusCode;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::Method;
use serde_json::{json, Value};
use shop::services::ServiceName;

use crate::helpers::{detail, Options, Stack};
use crate::provider::{Provider, STAFF_ROLE};

async fn send(
    stack: &Stack,
    method: Method,
    url: &str,
    token: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = stack.http.request(method, url).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn stack_trusting(provider: &Provider) -> Stack {
    Stack::start_with(Options {
        extra_env: provider.settings(),
        ..Options::default()
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_providers_tokens_are_taken_with_its_subject_and_roles() {
    let provider = Provider::start().await;
    let stack = stack_trusting(&provider).await;
    let lamp = stack.product("Lamp", "20.00", 10).await;
    let ada = provider.token("kc-ada", &["offline_access"]);
    let staff = provider.token("kc-staff", &["offline_access", STAFF_ROLE]);

    // A customer: their own cart and order, through the gateway and on
    // the services' own ports alike.
    for cart in [
        format!("{}/cart/kc-ada", stack.cart),
        format!("{}/api/cart/cart/kc-ada", stack.gateway),
    ] {
        let (status, body) = send(&stack, Method::GET, &cart, &ada, None).await;
        assert_eq!(status, StatusCode::OK, "{cart}: {body}");
    }
    let item = json!({"product_id": lamp, "quantity": 2});
    let (status, body) = send(
        &stack,
        Method::POST,
        &format!("{}/api/cart/cart/kc-ada/items", stack.gateway),
        &ada,
        Some(item.clone()),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, order) = send(
        &stack,
        Method::POST,
        &format!("{}/api/order/orders", stack.gateway),
        &ada,
        Some(json!({"user_id": "kc-ada"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{order}");
    let order_url = format!("{}/orders/{}", stack.order, order["id"]);
    let (status, _) = send(&stack, Method::GET, &order_url, &ada, None).await;
    assert_eq!(status, StatusCode::OK);

    // Not another's cart or order, and no staff work.
    let bob = provider.token("kc-bob", &[]);
    let (status, body) = send(
        &stack,
        Method::GET,
        &format!("{}/cart/kc-ada", stack.cart),
        &bob,
        None,
    )
    .await;
    detail(status, &body, StatusCode::FORBIDDEN);
    let (status, body) = send(&stack, Method::GET, &order_url, &bob, None).await;
    detail(status, &body, StatusCode::NOT_FOUND);
    let product_url = format!("{}/products/{lamp}", stack.catalog);
    let (status, body) = send(&stack, Method::DELETE, &product_url, &ada, None).await;
    detail(status, &body, StatusCode::FORBIDDEN);

    // Staff: every order, and product writes.
    let (status, orders) = send(
        &stack,
        Method::GET,
        &format!("{}/orders", stack.order),
        &staff,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{orders}");
    assert!(orders.to_string().contains("kc-ada"), "{orders}");
    let (status, body) = send(
        &stack,
        Method::PUT,
        &product_url,
        &staff,
        Some(json!({"price": 25.0})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Shop's own accounts still sign in beside the provider's.
    let own = stack.log_in("own@example.com", "own passphrase").await;
    let own_id = own["account"]["id"].as_str().unwrap();
    let (status, _) = send(
        &stack,
        Method::GET,
        &format!("{}/cart/{own_id}", stack.cart),
        own["access_token"].as_str().unwrap(),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    // The key set was found through the discovery document, and both were
    // read once by each service that checked a token (at most the four).
    for fetches in [&provider.discovery_fetches, &provider.key_fetches] {
        let fetches = fetches.load(Ordering::SeqCst);
        assert!((1..=4).contains(&fetches), "{fetches}");
    }
}

/// A token signed by `key` (EdDSA) under `kid`, with `claims`.
fn signed_by_another_key(claims: &Value, kid: &str) -> String {
    let keys = shop_identity::keys::Keys::from_seed(&[11; 32]).unwrap();
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&header, claims, &keys.encoding).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_the_provider_did_not_issue_for_shop_is_refused() {
    let provider = Provider::start().await;
    let stack = stack_trusting(&provider).await;
    let cart = format!("{}/cart/kc-ada", stack.cart);
    let good = provider.claims("kc-ada", &[STAFF_ROLE]);
    let (status, _) = send(&stack, Method::GET, &cart, &provider.sign(&good), None).await;
    assert_eq!(status, StatusCode::OK);

    let with = |change: Value| {
        let mut claims = good.clone();
        for (name, value) in change.as_object().unwrap() {
            claims[name] = value.clone();
        }
        claims
    };
    let now = jsonwebtoken::get_current_timestamp();
    let header =
        |alg: &str| URL_SAFE_NO_PAD.encode(json!({"alg": alg, "kid": "rsa-1"}).to_string());
    let payload = URL_SAFE_NO_PAD.encode(good.to_string());
    // HS256 "signed" with the provider's public key set as the secret.
    let public = reqwest::get(format!("{}/protocol/openid-connect/certs", provider.issuer))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut hs_header = Header::new(Algorithm::HS256);
    hs_header.kid = Some("rsa-1".to_owned());
    let confused = jsonwebtoken::encode(
        &hs_header,
        &good,
        &EncodingKey::from_secret(public.as_bytes()),
    )
    .unwrap();
    let refused = [
        (
            "another audience",
            provider.sign(&with(json!({"aud": "account"}))),
        ),
        ("expired", provider.sign(&with(json!({"exp": now - 1})))),
        (
            "another issuer's iss",
            provider.sign(&with(json!({"iss": "shop"}))),
        ),
        (
            "an unknown issuer",
            provider.sign(&with(json!({"iss": "https://evil.example"}))),
        ),
        ("no subject", provider.sign(&with(json!({"sub": null})))),
        (
            "a key not in its set",
            signed_by_another_key(&good, "rsa-2"),
        ),
        (
            "another key under its key's id",
            signed_by_another_key(&good, "rsa-1"),
        ),
        ("alg none", format!("{}.{payload}.", header("none"))),
        ("the public key as an HMAC secret", confused),
    ];
    for (what, token) in refused {
        for url in [
            cart.clone(),
            format!("{}/api/cart/cart/kc-ada", stack.gateway),
        ] {
            let (status, body) = send(&stack, Method::GET, &url, &token, None).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}: {url}: {body}");
        }
    }
    // A service told the key set's URL reads no discovery document.
    let documents = provider.discovery_fetches.load(Ordering::SeqCst);
    let mut settings = provider.settings();
    settings.push((
        "OIDC_JWKS_URL",
        format!("{}/protocol/openid-connect/certs", provider.issuer),
    ));
    let direct = stack.service_with(ServiceName::Cart, &settings).await;
    let (status, _) = send(
        &stack,
        Method::GET,
        &format!("{direct}/cart/kc-ada"),
        &provider.sign(&good),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(provider.discovery_fetches.load(Ordering::SeqCst), documents);
}
