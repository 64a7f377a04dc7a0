//! The identity service: accounts, logins, refresh-token rotation, staff
//! accounts and the key set, over HTTP (and `shop accounts create-staff`).

use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use futures::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{check_ops, detail, eventually, Options, Stack};

async fn register(stack: &Stack, email: &str, password: &str) -> (StatusCode, Value) {
    stack
        .post(
            &format!("{}/auth/register", stack.identity),
            json!({"email": email, "password": password, "name": "Ada Lovelace"}),
        )
        .await
}

async fn login(stack: &Stack, email: &str, password: &str) -> (StatusCode, Value) {
    stack
        .post(
            &format!("{}/auth/login", stack.identity),
            json!({"email": email, "password": password}),
        )
        .await
}

async fn me(stack: &Stack, token: &str) -> (StatusCode, Value) {
    let response = stack
        .http
        .get(format!("{}/auth/me", stack.identity))
        .header("authorization", format!("Bearer {token}"))
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn refresh(stack: &Stack, token: &Value) -> (StatusCode, Value) {
    stack
        .post(
            &format!("{}/auth/refresh", stack.identity),
            json!({ "refresh_token": token }),
        )
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_log_in_refresh_and_log_out() {
    let stack = Stack::start().await;
    let (status, account) = register(&stack, "  Ada@Example.COM ", "correct horse battery").await;
    assert_eq!(status, StatusCode::CREATED, "{account}");
    assert_eq!(account["email"], "ada@example.com");
    assert_eq!(account["role"], "customer");
    assert!(account.get("password_hash").is_none(), "{account}");

    let (status, tokens) = login(&stack, "ADA@example.com", "correct horse battery").await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 900);
    assert_eq!(tokens["account"]["id"], account["id"]);
    let (status, mine) = me(&stack, tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{mine}");
    assert_eq!(mine, account);

    // Rotation: the refresh token is used up and replaced.
    let (status, second) = refresh(&stack, &tokens["refresh_token"]).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    assert_ne!(second["refresh_token"], tokens["refresh_token"]);
    let (status, _) = me(&stack, second["access_token"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    // Replaying the used one (a stolen copy) revokes the whole family: the
    // token that replaced it is refused too.
    let (status, body) = refresh(&stack, &tokens["refresh_token"]).await;
    detail(status, &body, StatusCode::UNAUTHORIZED);
    let (status, body) = refresh(&stack, &second["refresh_token"]).await;
    detail(status, &body, StatusCode::UNAUTHORIZED);

    // Logging out revokes the login's refresh token; another login's stays.
    let (_, one) = login(&stack, "ada@example.com", "correct horse battery").await;
    let (_, other) = login(&stack, "ada@example.com", "correct horse battery").await;
    let (status, body) = stack
        .post(
            &format!("{}/auth/logout", stack.identity),
            json!({"refresh_token": one["refresh_token"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = refresh(&stack, &one["refresh_token"]).await;
    detail(status, &body, StatusCode::UNAUTHORIZED);
    let (status, body) = refresh(&stack, &other["refresh_token"]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = refresh(&stack, &json!("made-up")).await;
    detail(status, &body, StatusCode::UNAUTHORIZED);

    // Through the gateway too.
    let (status, body) = stack
        .post(
            &format!("{}/api/identity/auth/login", stack.gateway),
            json!({"email": "ada@example.com", "password": "correct horse battery"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_refuses_taken_emails_and_weak_passwords() {
    let stack = Arc::new(Stack::start().await);
    let (status, _) = register(&stack, "grace@example.com", "a long passphrase").await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, body) = register(&stack, "GRACE@example.com", "another passphrase").await;
    detail(status, &body, StatusCode::CONFLICT);
    for (email, password, expected) in [
        ("short@example.com", "123456789", "at least 10"),
        ("same@example.com", "Same@Example.com", "not be the email"),
        ("not-an-email", "a long passphrase", "email"),
    ] {
        let (status, body) = register(&stack, email, password).await;
        let message = detail(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(message.contains(expected), "{message}");
    }
    let (status, body) = stack
        .post(
            &format!("{}/auth/register", stack.identity),
            json!({"email": "x@example.com", "password": "a long passphrase", "name": "\u{0}"}),
        )
        .await;
    detail(status, &body, StatusCode::UNPROCESSABLE_ENTITY);

    // 50 at once for one email: one account.
    let racers = (0..50).map(|i| {
        let stack = stack.clone();
        async move {
            let email = if i % 2 == 0 {
                "race@example.com"
            } else {
                "RACE@example.com"
            };
            register(&stack, email, "a long passphrase").await.0
        }
    });
    let statuses = join_all(racers).await;
    let created = statuses
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    let taken = statuses
        .iter()
        .filter(|s| **s == StatusCode::CONFLICT)
        .count();
    assert_eq!((created, taken), (1, 49), "{statuses:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_passwords_and_unknown_emails_get_the_same_401() {
    let stack = Stack::start().await;
    register(&stack, "alan@example.com", "a long passphrase").await;
    let (status, wrong) = login(&stack, "alan@example.com", "not the passphrase").await;
    let wrong = detail(status, &wrong, StatusCode::UNAUTHORIZED);
    let (status, unknown) = login(&stack, "nobody@example.com", "a long passphrase").await;
    let unknown = detail(status, &unknown, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong, unknown);
    let (status, body) = login(&stack, "not an email", "a long passphrase").await;
    detail(status, &body, StatusCode::UNAUTHORIZED);
}

/// The key set's public key, as a verifier builds it.
async fn published_key(stack: &Stack) -> (String, jsonwebtoken::DecodingKey) {
    let (status, set) = stack
        .get(&format!(
            "{}/api/identity/.well-known/jwks.json",
            stack.gateway
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{set}");
    let key = &set["keys"][0];
    assert_eq!(
        (key["kty"].as_str(), key["alg"].as_str()),
        (Some("OKP"), Some("EdDSA"))
    );
    let decoding =
        jsonwebtoken::DecodingKey::from_ed_components(key["x"].as_str().unwrap()).unwrap();
    (key["kid"].as_str().unwrap().to_owned(), decoding)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_tokens_verify_with_the_published_key_and_nothing_else_passes() {
    let stack = Stack::start_with(Options {
        extra_env: vec![("ACCESS_TOKEN_TTL_SECS", "1".into())],
        ..Options::default()
    })
    .await;
    register(&stack, "edsger@example.com", "a long passphrase").await;
    let (_, tokens) = login(&stack, "edsger@example.com", "a long passphrase").await;
    let token = tokens["access_token"].as_str().unwrap().to_owned();

    let (kid, key) = published_key(&stack).await;
    let header = jsonwebtoken::decode_header(&token).unwrap();
    assert_eq!(header.alg, jsonwebtoken::Algorithm::EdDSA);
    assert_eq!(header.kid.as_deref(), Some(kid.as_str()));
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
    validation.set_audience(&["shop"]);
    validation.set_issuer(&["shop"]);
    validation.validate_exp = false;
    let claims = jsonwebtoken::decode::<Value>(&token, &key, &validation)
        .unwrap()
        .claims;
    assert_eq!(claims["role"], "customer");
    assert_eq!(claims["sub"], tokens["account"]["id"]);

    // Forgeries: a role raised in the payload, no signature at all, a key
    // of one's own, garbage, no token.
    let parts: Vec<&str> = token.split('.').collect();
    let payload = String::from_utf8(URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    let raised = URL_SAFE_NO_PAD.encode(payload.replace("\"customer\"", "\"staff\""));
    let none = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
    let own_key = shop_identity::keys::Keys::from_seed(&[9; 32]).unwrap();
    let claims: shop_identity::tokens::Claims =
        serde_json::from_value(serde_json::from_str(&payload).unwrap()).unwrap();
    let self_signed = shop_identity::tokens::sign(&own_key, &claims).unwrap();
    for forged in [
        format!("{}.{raised}.{}", parts[0], parts[2]),
        format!("{none}.{}.", parts[1]),
        self_signed,
        "garbage".to_owned(),
    ] {
        let (status, body) = me(&stack, &forged).await;
        detail(status, &body, StatusCode::UNAUTHORIZED);
    }
    let (status, body) = stack.get(&format!("{}/auth/me", stack.identity)).await;
    detail(status, &body, StatusCode::UNAUTHORIZED);

    // Expired after its one second.
    eventually(Duration::from_secs(10), || async {
        (me(&stack, &token).await.0 == StatusCode::UNAUTHORIZED).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_accounts_come_from_the_command_line_or_from_staff() {
    let stack = Stack::start().await;
    let printed = stack.create_staff("boss@example.com", None);
    let password = printed
        .lines()
        .find_map(|line| line.strip_prefix("Password (shown once): "))
        .unwrap_or_else(|| panic!("no password in {printed}"))
        .to_owned();
    assert_eq!(password.len(), 20);
    let (status, staff) = login(&stack, "boss@example.com", &password).await;
    assert_eq!(status, StatusCode::OK, "{staff}");
    assert_eq!(staff["account"]["role"], "staff");

    register(&stack, "clerk@example.com", "a long passphrase").await;
    let (_, customer) = login(&stack, "clerk@example.com", "a long passphrase").await;
    let new_staff =
        json!({"email": "second@example.com", "password": "a long passphrase", "name": "Second"});
    let url = format!("{}/auth/staff", stack.identity);
    let send = |token: Option<String>| {
        let request = stack.http.request(Method::POST, &url).json(&new_staff);
        let request = match token {
            Some(token) => request.header("authorization", format!("Bearer {token}")),
            None => request,
        };
        async move {
            let response = request.send().await.unwrap();
            (response.status(), response.json::<Value>().await.unwrap())
        }
    };
    let (status, body) = send(None).await;
    detail(status, &body, StatusCode::UNAUTHORIZED);
    let customer_token = customer["access_token"].as_str().unwrap().to_owned();
    let (status, body) = send(Some(customer_token)).await;
    detail(status, &body, StatusCode::FORBIDDEN);
    let staff_token = staff["access_token"].as_str().unwrap().to_owned();
    let (status, body) = send(Some(staff_token)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["role"], "staff");
    let (status, body) = login(&stack, "second@example.com", "a long passphrase").await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // A given password is kept; a taken email fails.
    let printed = stack.create_staff("third@example.com", Some("another passphrase"));
    assert!(!printed.contains("Password"), "{printed}");
    let (status, _) = login(&stack, "third@example.com", "another passphrase").await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_signing_key_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let config = shop_identity::Config::from_env(&shop_common::config::Env::from_pairs([(
        "DB_PATH",
        dir.path().join("identity.db").display().to_string(),
    )]))
    .unwrap();
    let mut kids = Vec::new();
    for _ in 0..2 {
        let db = shop_common::db::Db::open(&config.db, shop_identity::migrations())
            .await
            .unwrap();
        let keys = shop_identity::signing_keys(&config, &db).await.unwrap();
        kids.push(keys.ring().await.signing().kid.clone());
        db.close().await;
    }
    assert_eq!(kids[0], kids[1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identity_has_the_standard_endpoints() {
    let stack = Stack::start().await;
    check_ops(
        &stack,
        &stack.identity,
        "identity",
        "/.well-known/jwks.json",
        "/.well-known/jwks.json",
        &[
            "/auth/register",
            "/auth/login",
            "/auth/refresh",
            "/auth/logout",
            "/auth/me",
            "/auth/staff",
            "/.well-known/jwks.json",
        ],
        "/auth/login",
    )
    .await;
}

/// A login from `address` (as the gateway, a trusted proxy, names it).
async fn login_from(
    stack: &Stack,
    address: &str,
    email: &str,
    password: &str,
) -> (StatusCode, Option<u64>) {
    let response = stack
        .http
        .post(format!("{}/auth/login", stack.identity))
        .header("x-forwarded-for", address)
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok()?.parse().ok());
    (response.status(), retry_after)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guessing_client_is_stopped_while_the_owner_still_signs_in() {
    let stack = Stack::start_with(Options {
        extra_env: vec![
            ("LOGIN_FAILURES_PER_ADDRESS", "3".to_owned()),
            ("LOGIN_FAILURES_PER_ACCOUNT", "6".to_owned()),
        ],
        ..Options::default()
    })
    .await;
    for email in ["ada@example.com", "bob@example.com"] {
        assert_eq!(
            register(&stack, email, "the real passphrase").await.0,
            StatusCode::CREATED
        );
    }
    let ada = "ada@example.com";
    // The guesser at 10.1.1.1: three failures, then locked out.
    for _ in 0..3 {
        let (status, _) = login_from(&stack, "10.1.1.1", ada, "a guess, surely").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (status, retry_after) = login_from(&stack, "10.1.1.1", ada, "another guess").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(retry_after.is_some_and(|secs| secs >= 1), "{retry_after:?}");
    // Even the right password: the address is locked, nothing is checked.
    let (status, _) = login_from(&stack, "10.1.1.1", ada, "the real passphrase").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    let (status, _) = login_from(&stack, "10.1.1.1", "bob@example.com", "x guess").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    // The owner, elsewhere, signs in.
    let (status, _) = login_from(&stack, "10.2.2.2", ada, "the real passphrase").await;
    assert_eq!(status, StatusCode::OK);

    // A guesser spread over addresses meets the account's limit (4 of
    // Ada's 6 are spent): then the account is locked for everyone ...
    for address in ["10.3.0.1", "10.3.0.2"] {
        let (status, _) = login_from(&stack, address, ada, "a guess, surely").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{address}");
    }
    let (status, retry_after) = login_from(&stack, "10.3.0.3", ada, "a guess").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(retry_after.is_some());
    let (status, _) = login_from(&stack, "10.4.0.1", ada, "the real passphrase").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    // ... and only for it.
    let (status, _) =
        login_from(&stack, "10.4.0.1", "bob@example.com", "the real passphrase").await;
    assert_eq!(status, StatusCode::OK);

    // Through the gateway (which names the client itself): the same limit,
    // and its 429 keeps Retry-After.
    let sign_in = || {
        stack
            .http
            .post(format!("{}/api/session", stack.gateway))
            .header("origin", stack.gateway.clone())
            .header("x-forwarded-for", "10.9.9.9")
            .json(&json!({"email": "bob@example.com", "password": "a guess, surely"}))
            .send()
    };
    for _ in 0..3 {
        assert_eq!(sign_in().await.unwrap().status(), StatusCode::UNAUTHORIZED);
    }
    let response = sign_in().await.unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(response.headers().contains_key("retry-after"));
}
