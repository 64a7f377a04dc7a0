//! The dashboard's sign-in through the gateway (`/api/session`): the
//! cookie's flags, the access token the gateway attaches and refreshes,
//! sign-out, and the CSRF check on every unsafe request with the cookie.

use std::time::Duration;

use reqwest::header::{HeaderMap, SET_COOKIE};
use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{eventually, Options, Stack};

async fn auth_stack(extra_env: Vec<(&'static str, String)>) -> Stack {
    let mut env = vec![("AUTH", "on".to_owned())];
    env.extend(extra_env);
    Stack::start_with(Options {
        extra_env: env,
        ..Options::default()
    })
    .await
}

/// The gateway's own origin, as its dashboard sends it.
fn origin(stack: &Stack) -> String {
    stack.gateway.clone()
}

async fn answer(request: RequestBuilder) -> (StatusCode, HeaderMap, Value) {
    let response = request.send().await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    (
        status,
        headers,
        response.json().await.unwrap_or(Value::Null),
    )
}

fn set_cookie(headers: &HeaderMap) -> String {
    let cookies: Vec<&str> = headers
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    assert_eq!(cookies.len(), 1, "{cookies:?}");
    cookies[0].to_owned()
}

/// The `name=value` of a Set-Cookie, to send back as `Cookie`.
fn cookie_pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap().trim().to_owned()
}

/// Registers `email` through the gateway and signs in: the Set-Cookie and
/// the account.
async fn sign_in(stack: &Stack, email: &str, password: &str) -> (String, Value) {
    let (status, _, body) = answer(
        stack
            .http
            .post(format!("{}/api/identity/auth/register", stack.gateway))
            .json(&json!({"email": email, "password": password, "name": "Ada"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, headers, body) = answer(
        stack
            .http
            .post(format!("{}/api/session", stack.gateway))
            .header("origin", origin(stack))
            .json(&json!({"email": email, "password": password})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    (set_cookie(&headers), body["account"].clone())
}

fn with_cookie(stack: &Stack, method: Method, path: &str, cookie: &str) -> RequestBuilder {
    stack
        .http
        .request(method, format!("{}{path}", stack.gateway))
        .header("cookie", cookie)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_cookie_acts_as_its_account_until_sign_out() {
    let stack = auth_stack(vec![]).await;
    let product = stack.product("Keyboard", "10.00", 5).await;
    let (status, _, body) = answer(stack.http.get(format!("{}/api/session", stack.gateway))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({"auth": true, "account": null, "currency": "USD", "provider": false})
    );

    let (set, account) = sign_in(&stack, "ada@example.com", "ada passphrase").await;
    // HttpOnly, SameSite=Strict, the whole site, and not Secure over
    // plain HTTP.
    let flags: Vec<&str> = set.split(';').map(str::trim).collect();
    assert!(flags[0].starts_with("shop_session="), "{set}");
    assert!(flags[0].len() > "shop_session=".len() + 30, "{set}");
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(flags.contains(&flag), "{flag} missing: {set}");
    }
    assert!(flags.iter().any(|f| f.starts_with("Max-Age=")), "{set}");
    assert!(!flags.contains(&"Secure"), "{set}");
    assert_eq!(account["email"], "ada@example.com");
    let me = account["id"].as_str().unwrap().to_owned();
    let cookie = cookie_pair(&set);

    // The page asks who is signed in; no token in any answer.
    let (status, _, body) = answer(with_cookie(&stack, Method::GET, "/api/session", &cookie)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["account"]["id"], me.as_str());
    assert!(!body.to_string().contains("token"), "{body}");

    // The cookie is the owner at the cart: own cart yes, another's no.
    let add = with_cookie(
        &stack,
        Method::POST,
        &format!("/api/cart/cart/{me}/items"),
        &cookie,
    )
    .header("origin", origin(&stack))
    .json(&json!({"product_id": product, "quantity": 2}));
    let (status, _, body) = answer(add).await;
    assert!(status.is_success(), "{status} {body}");
    let mine = format!("/api/cart/cart/{me}");
    let (status, _, body) = answer(with_cookie(&stack, Method::GET, &mine, &cookie)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["items"].as_array().map(Vec::len), Some(1), "{body}");
    let (status, _, _) = answer(with_cookie(
        &stack,
        Method::GET,
        "/api/cart/cart/someone-else",
        &cookie,
    ))
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Without the cookie the same request is anonymous.
    let (status, _, _) = answer(stack.http.get(format!("{}{mine}", stack.gateway))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Sign-out clears the cookie ...
    let (status, headers, body) = answer(
        with_cookie(&stack, Method::DELETE, "/api/session", &cookie)
            .header("origin", origin(&stack)),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["account"], Value::Null);
    let cleared = set_cookie(&headers);
    assert!(
        cleared.starts_with("shop_session=;") && cleared.contains("Max-Age=0"),
        "{cleared}"
    );
    // ... and the old cookie is refused everywhere, at once.
    let (status, headers, body) = answer(with_cookie(&stack, Method::GET, &mine, &cookie)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(set_cookie(&headers).contains("Max-Age=0"));
    let (status, _, _) = answer(with_cookie(&stack, Method::GET, "/api/session", &cookie)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // The identity service has ended it too (any gateway replica agrees).
    let token = cookie.trim_start_matches("shop_session=");
    let (status, _) = stack
        .post(
            &format!("{}/auth/sessions/access", stack.identity),
            json!({ "session_token": token }),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsafe_requests_with_the_cookie_must_come_from_the_gateways_origin() {
    let stack = auth_stack(vec![]).await;
    let product = stack.product("Keyboard", "10.00", 5).await;
    let (set, account) = sign_in(&stack, "ada@example.com", "ada passphrase").await;
    let cookie = cookie_pair(&set);
    let me = account["id"].as_str().unwrap();
    let items = format!("/api/cart/cart/{me}/items");
    let body = json!({"product_id": product, "quantity": 1});

    let forged: [&[(&str, &str)]; 5] = [
        &[],
        &[("origin", "http://evil.example")],
        &[("origin", "null")],
        &[("referer", "http://evil.example/form.html")],
        &[("sec-fetch-site", "cross-site"), ("origin", &stack.gateway)],
    ];
    for headers in forged {
        let mut request = with_cookie(&stack, Method::POST, &items, &cookie).json(&body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let (status, _, answer_body) = answer(request).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{headers:?}: {answer_body}");
        assert!(answer_body["detail"]
            .as_str()
            .unwrap()
            .contains("Cross-site"));
    }
    // Nothing reached the cart.
    let (_, _, cart) = answer(with_cookie(
        &stack,
        Method::GET,
        &format!("/api/cart/cart/{me}"),
        &cookie,
    ))
    .await;
    assert_eq!(cart["items"], json!([]), "{cart}");
    // Sign-out from another site is refused: the session lives on.
    let (status, _, _) = answer(
        with_cookie(&stack, Method::DELETE, "/api/session", &cookie)
            .header("origin", "http://evil.example"),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Sign-in from another site too (login CSRF), and it sets no cookie.
    let (status, headers, _) = answer(
        stack
            .http
            .post(format!("{}/api/session", stack.gateway))
            .header("origin", "http://evil.example")
            .json(&json!({"email": "ada@example.com", "password": "ada passphrase"})),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(headers.get(SET_COOKIE).is_none());

    // The browser's own same-origin request passes.
    let (status, _, answer_body) = answer(
        with_cookie(&stack, Method::POST, &items, &cookie)
            .header("sec-fetch-site", "same-origin")
            .json(&body),
    )
    .await;
    assert!(status.is_success(), "{status} {answer_body}");
    // Reads need no origin; a client's own bearer token is left alone.
    let (status, _, _) = answer(with_cookie(
        &stack,
        Method::GET,
        &format!("/api/cart/cart/{me}"),
        &cookie,
    ))
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) = answer(
        with_cookie(
            &stack,
            Method::GET,
            &format!("/api/cart/cart/{me}"),
            &cookie,
        )
        .header("authorization", "Bearer not-a-token"),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // The identity service's session endpoints are the gateway's alone.
    for path in [
        "/auth/sessions",
        "/auth/sessions/access",
        "/auth/sessions/end",
        "/auth/sessions/provider",
    ] {
        let (status, _, _) = answer(
            stack
                .http
                .post(format!("{}/api/identity{path}", stack.gateway))
                .json(&json!({"email": "ada@example.com", "password": "ada passphrase"})),
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_refreshes_the_access_token_and_rechecks_the_session() {
    let stack = auth_stack(vec![
        ("ACCESS_TOKEN_TTL_SECS", "1".to_owned()),
        ("SESSION_RECHECK_SECS", "1".to_owned()),
    ])
    .await;
    let (set, account) = sign_in(&stack, "ada@example.com", "ada passphrase").await;
    let cookie = cookie_pair(&set);
    let mine = format!("/api/cart/cart/{}", account["id"].as_str().unwrap());
    // A token from a later login, used as is, expires ...
    let direct = stack.log_in("ada@example.com", "ada passphrase").await;
    let direct = direct["access_token"].as_str().unwrap().to_owned();
    eventually(Duration::from_secs(10), || async {
        let response = stack
            .http
            .get(format!("{}{mine}", stack.gateway))
            .bearer_auth(&direct)
            .send()
            .await
            .unwrap();
        (response.status() == StatusCode::UNAUTHORIZED).then_some(())
    })
    .await;
    // ... while the session's, older still, was refreshed by the gateway.
    let (status, _, body) = answer(with_cookie(&stack, Method::GET, &mine, &cookie)).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // A session ended elsewhere (another gateway replica) is refused here
    // within SESSION_RECHECK_SECS.
    let token = cookie.trim_start_matches("shop_session=");
    let (status, _) = stack
        .post(
            &format!("{}/auth/sessions/end", stack.identity),
            json!({ "session_token": token }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    eventually(Duration::from_secs(10), || async {
        let response = with_cookie(&stack, Method::GET, &mine, &cookie)
            .send()
            .await
            .unwrap();
        (response.status() == StatusCode::UNAUTHORIZED).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cookie_is_secure_when_a_trusted_proxy_says_tls() {
    let stack = auth_stack(vec![("TRUSTED_PROXIES", "127.0.0.0/8,::1".to_owned())]).await;
    let register = stack
        .http
        .post(format!("{}/api/identity/auth/register", stack.gateway))
        .json(&json!({"email": "ada@example.com", "password": "ada passphrase", "name": "Ada"}));
    assert_eq!(answer(register).await.0, StatusCode::CREATED);
    for (proto, secure) in [(None, false), (Some("https"), true), (Some("http"), false)] {
        let mut request = stack
            .http
            .post(format!("{}/api/session", stack.gateway))
            .header("origin", origin(&stack))
            .json(&json!({"email": "ada@example.com", "password": "ada passphrase"}));
        if let Some(proto) = proto {
            request = request.header("x-forwarded-proto", proto);
        }
        let (status, headers, body) = answer(request).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let set = set_cookie(&headers);
        let flags: Vec<&str> = set.split(';').map(str::trim).collect();
        assert_eq!(flags.contains(&"Secure"), secure, "{proto:?}: {set}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_sets_no_cookie_and_auth_off_is_reported() {
    let stack = Stack::start().await;
    let (status, _, body) = answer(stack.http.get(format!("{}/api/session", stack.gateway))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({"auth": false, "account": null, "currency": "USD", "provider": false})
    );
    // The currency the dashboard shows amounts in is the operator's.
    let gateway = stack
        .service_with(
            shop::services::ServiceName::Gateway,
            &[("DASHBOARD_CURRENCY", "EUR".to_owned())],
        )
        .await;
    let (_, _, body) = answer(stack.http.get(format!("{gateway}/api/session"))).await;
    assert_eq!(body["currency"], "EUR");
    let (status, headers, body) = answer(
        stack
            .http
            .post(format!("{}/api/session", stack.gateway))
            .header("origin", origin(&stack))
            .json(&json!({"email": "nobody@example.com", "password": "wrong passphrase"})),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(body["detail"].is_string(), "{body}");
    assert!(headers.get(SET_COOKIE).is_none());
    // A made-up cookie is refused, not taken for anyone.
    let (status, _, _) = answer(with_cookie(
        &stack,
        Method::GET,
        "/api/session",
        "shop_session=made-up",
    ))
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}
