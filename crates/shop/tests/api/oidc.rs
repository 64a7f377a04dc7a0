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

/// A browser without a cookie store: cookies are carried by hand.
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The `name=value` of the cookie `name` a response sets.
fn set_cookie(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .map(|value| value.split(';').next().unwrap().to_owned())
        .find(|pair| pair.starts_with(&format!("{name}=")) && pair.len() > name.len() + 1)
}

fn location(response: &reqwest::Response) -> String {
    response.headers()["location"].to_str().unwrap().to_owned()
}

/// A sign-in started at the gateway and answered by the provider: the
/// flow cookie and the callback URL the provider sent the browser to.
async fn to_the_callback(stack: &Stack) -> (String, String) {
    let browser = browser();
    let started = browser
        .get(format!("{}/api/session/oidc", stack.gateway))
        .send()
        .await
        .unwrap();
    assert_eq!(started.status(), StatusCode::SEE_OTHER);
    let flow = set_cookie(&started, "shop_oidc").expect("the flow cookie");
    let at_provider = browser.get(location(&started)).send().await.unwrap();
    assert!(
        at_provider.status().is_redirection(),
        "{}",
        at_provider.status()
    );
    let callback = location(&at_provider);
    assert!(callback.starts_with(&format!("{}/api/session/oidc/callback?", stack.gateway)));
    (flow, callback)
}

async fn finish(callback: &str, flow: Option<&str>) -> reqwest::Response {
    let mut request = browser().get(callback);
    if let Some(flow) = flow {
        request = request.header("cookie", flow);
    }
    request.send().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_signs_in_through_the_provider_and_keeps_only_a_cookie() {
    let provider = Provider::start().await;
    let stack = Stack::start_with(Options {
        extra_env: provider.sign_in_settings(),
        ..Options::default()
    })
    .await;
    let (_, info) = stack.get(&format!("{}/api/session", stack.gateway)).await;
    assert_eq!(info["provider"], true, "{info}");
    provider.sign_in_as(
        "kc-grace",
        "Grace@Example.com",
        "Grace Hopper",
        &[STAFF_ROLE],
    );

    let (flow, callback) = to_the_callback(&stack).await;
    let signed_in = finish(&callback, Some(&flow)).await;
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&signed_in), "/");
    let session = set_cookie(&signed_in, "shop_session").expect("the session cookie");
    let body = signed_in.text().await.unwrap();
    assert!(
        !body.contains("eyJ"),
        "no token reaches the browser: {body}"
    );

    let with_session = |method: Method, path: &str| {
        browser()
            .request(method, format!("{}{path}", stack.gateway))
            .header("cookie", &session)
            .header("origin", &stack.gateway)
    };
    let info: Value = with_session(Method::GET, "/api/session")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["account"]["id"], "kc-grace", "{info}");
    assert_eq!(info["account"]["email"], "grace@example.com");
    assert_eq!(info["account"]["name"], "Grace Hopper");
    assert_eq!(info["account"]["role"], "staff");
    // The session works as a password sign-in's: staff see every order.
    let orders = with_session(Method::GET, "/api/order/orders")
        .send()
        .await
        .unwrap();
    assert_eq!(orders.status(), StatusCode::OK);

    // The same user signs in again as a customer: the account follows the
    // provider.
    provider.sign_in_as("kc-grace", "grace@example.com", "Grace", &[]);
    let (flow, callback) = to_the_callback(&stack).await;
    let again = finish(&callback, Some(&flow)).await;
    let session = set_cookie(&again, "shop_session").unwrap();
    let info: Value = browser()
        .get(format!("{}/api/session", stack.gateway))
        .header("cookie", &session)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["account"]["role"], "customer", "{info}");

    // Signing out ends it.
    let out = browser()
        .delete(format!("{}/api/session", stack.gateway))
        .header("cookie", &session)
        .header("origin", &stack.gateway)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), StatusCode::OK);
    let after = browser()
        .get(format!("{}/api/cart/cart/kc-grace", stack.gateway))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), StatusCode::UNAUTHORIZED);
    // The provider's account has no password to log in with.
    let (status, _) = stack
        .post(
            &format!("{}/auth/login", stack.identity),
            json!({"email": "grace@example.com", "password": "!"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sign_in_through_the_provider_cannot_be_forged_replayed_or_hijacked() {
    let provider = Provider::start().await;
    let stack = Stack::start_with(Options {
        extra_env: provider.sign_in_settings(),
        ..Options::default()
    })
    .await;
    provider.sign_in_as("kc-mallory", "mallory@example.com", "Mallory", &[]);
    let refused = |response: &reqwest::Response| {
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert!(set_cookie(response, "shop_session").is_none());
    };

    // Without the flow cookie (another browser's answer), or with another
    // sign-in's: refused, and the code is not even tried.
    let (flow, callback) = to_the_callback(&stack).await;
    refused(&finish(&callback, None).await);
    let (other_flow, _) = to_the_callback(&stack).await;
    refused(&finish(&callback, Some(&other_flow)).await);
    // Its own flow still completes; the same code again does not.
    let done = finish(&callback, Some(&flow)).await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    refused(&finish(&callback, Some(&flow)).await);

    // The PKCE verifier changed in the cookie: the provider refuses the code.
    let (flow, callback) = to_the_callback(&stack).await;
    let (name, value) = flow.split_once('=').unwrap();
    let mut kept: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(value).unwrap()).unwrap();
    kept["verifier"] = json!("a".repeat(64));
    let forged = format!("{name}={}", URL_SAFE_NO_PAD.encode(kept.to_string()));
    refused(&finish(&callback, Some(&forged)).await);

    // The provider's refusal, passed on.
    let denied = format!(
        "{}/api/session/oidc/callback?error=access_denied&state=x",
        stack.gateway
    );
    refused(&finish(&denied, Some(&flow)).await);

    // An email that one of Shop's own accounts has: 409, no session.
    stack.log_in("taken@example.com", "taken passphrase").await;
    provider.sign_in_as("kc-taker", "taken@example.com", "Taker", &[STAFF_ROLE]);
    let (flow, callback) = to_the_callback(&stack).await;
    let taken = finish(&callback, Some(&flow)).await;
    assert_eq!(taken.status(), StatusCode::CONFLICT);
    assert!(set_cookie(&taken, "shop_session").is_none());

    // Without a provider the routes say so.
    let plain = Stack::start_with(Options {
        extra_env: vec![("AUTH", "on".to_owned())],
        ..Options::default()
    })
    .await;
    let (status, body) = plain
        .get(&format!("{}/api/session/oidc", plain.gateway))
        .await;
    detail(status, &body, StatusCode::NOT_FOUND);
    let (_, info) = plain.get(&format!("{}/api/session", plain.gateway)).await;
    assert_eq!(info["provider"], false);
}
