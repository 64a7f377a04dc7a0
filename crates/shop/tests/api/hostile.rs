//! Hostile and careless clients (docs/security.md): each test performs an
//! attack that worked before the trust boundaries, and shows it fails.

use std::sync::Arc;

use futures::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{detail, service_client, Options, Stack};

async fn stock_of(stack: &Stack, product: i64) -> i64 {
    let (status, body) = stack
        .get(&format!("{}/products/{product}", stack.catalog))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["stock"].as_i64().unwrap()
}

async fn orders_of(stack: &Stack, user: &str) -> Vec<Value> {
    stack
        .list(&format!("{}/orders/user/{user}", stack.order))
        .await
}

fn units(orders: &[Value]) -> i64 {
    orders
        .iter()
        .flat_map(|o| o["items"].as_array().unwrap().iter())
        .map(|i| i["quantity"].as_i64().unwrap())
        .sum()
}

// ---------------------------------------------------------------------------
// 1. One cart, several orders.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_checkouts_of_one_cart_make_one_order() {
    let stack = Arc::new(Stack::start().await);
    let product = stack.product("Racy", "3.00", 1000).await;
    for trial in 0..20 {
        let user = format!("racer{trial}");
        stack.add_to_cart(&user, product, 2).await;
        let answers = join_all((0..5).map(|_| {
            let stack = stack.clone();
            let user = user.clone();
            async move {
                stack
                    .post(&format!("{}/orders", stack.order), json!({"user_id": user}))
                    .await
            }
        }))
        .await;
        let created = answers
            .iter()
            .filter(|(status, _)| *status == StatusCode::CREATED)
            .count();
        assert_eq!(created, 1, "trial {trial}: {answers:?}");
        for (status, body) in &answers {
            match *status {
                StatusCode::CREATED => {}
                StatusCode::BAD_REQUEST => {
                    assert_eq!(detail(*status, body, *status), "Cart is empty")
                }
                StatusCode::CONFLICT => {
                    detail(*status, body, *status);
                }
                other => panic!("trial {trial}: {other} {body}"),
            }
        }
        let orders = orders_of(&stack, &user).await;
        assert_eq!(orders.len(), 1, "trial {trial}");
        assert_eq!(units(&orders), 2, "trial {trial}: never more than the cart");
    }
    assert_eq!(stock_of(&stack, product).await, 1000 - 2 * 20);
}

// ---------------------------------------------------------------------------
// 2. Stock released (or held) by anyone.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_never_routes_service_only_endpoints() {
    let stack = Stack::start().await;
    let g = &stack.gateway;
    stack.add_to_cart("held", 1, 2).await;
    let order = stack.place_order("held").await;
    let stock = stock_of(&stack, 1).await;
    stack.add_to_cart("victim", 2, 1).await;
    let reservation = json!({"key": "made-up", "items": [{"product_id": 1, "quantity": 5}]});
    let attempts: Vec<(Method, String, Option<Value>)> = vec![
        (
            Method::POST,
            format!("{g}/api/catalog/reservations"),
            Some(reservation.clone()),
        ),
        (
            Method::POST,
            format!("{g}/api/catalog//reservations"),
            Some(reservation.clone()),
        ),
        (
            Method::POST,
            format!("{g}/api/catalog/%72eservations"),
            Some(reservation.clone()),
        ),
        (
            Method::POST,
            format!("{g}/api/catalog/products/../reservations"),
            Some(reservation),
        ),
        (
            Method::GET,
            format!("{g}/api/catalog/reservations/any"),
            None,
        ),
        (
            Method::POST,
            format!("{g}/api/catalog/reservations/any/release"),
            None,
        ),
        (
            Method::POST,
            format!("{g}/api/cart/cart/victim/remove-items"),
            Some(json!({"key": "k", "items": [{"product_id": 2, "quantity": 1}]})),
        ),
        (
            Method::POST,
            format!("{g}/api/cart/cart/held/restore-items"),
            Some(json!({"key": "k", "items": [{"product_id": 2, "quantity": 1}]})),
        ),
        (
            Method::GET,
            format!("{g}/api/cart/cart/victim/checkout-lines"),
            None,
        ),
        (
            Method::GET,
            format!("{g}/api/order/orders/{}/payment-attempt", order["id"]),
            None,
        ),
    ];
    for (method, url, body) in attempts {
        // Even with the right credential: the gateway does not forward it.
        let mut request = stack.http.request(method.clone(), &url).header(
            shop_common::auth::SERVICE_TOKEN_HEADER,
            &stack.service_token,
        );
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        assert!(
            matches!(status, StatusCode::NOT_FOUND | StatusCode::UNAUTHORIZED),
            "{method} {url}: {status} {body}"
        );
        detail(status, &body, status);
    }
    assert_eq!(
        stock_of(&stack, 1).await,
        stock,
        "no stock taken or given back"
    );
    let (_, cart) = stack.get(&format!("{}/cart/victim", stack.cart)).await;
    assert_eq!(cart["items"].as_array().unwrap().len(), 1, "cart untouched");
    let (_, payments) = stack.get(&format!("{}/payments", stack.payment)).await;
    assert_eq!(payments, json!([]));
    // The public routes still work through the gateway.
    let (status, _) = stack.get(&format!("{g}/api/catalog/products")).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = stack.get(&format!("{g}/api/payment/payments")).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_only_endpoints_need_the_service_credential() {
    let stack = Stack::start().await;
    stack.add_to_cart("own", 1, 2).await;
    let order = stack.place_order("own").await;
    let stock = stock_of(&stack, 1).await;
    stack.add_to_cart("victim", 2, 1).await;
    let stranger = service_client("a-wrong-token-of-enough-length");
    let reservation = json!({"key": "squat", "items": [{"product_id": 1, "quantity": 5}]});
    let targets: Vec<(Method, String, Option<Value>)> = vec![
        (
            Method::POST,
            format!("{}/reservations", stack.catalog),
            Some(reservation),
        ),
        (
            Method::GET,
            format!("{}/reservations/squat", stack.catalog),
            None,
        ),
        (
            Method::POST,
            format!("{}/reservations/squat/release", stack.catalog),
            None,
        ),
        (
            Method::POST,
            format!("{}/cart/victim/remove-items", stack.cart),
            Some(json!({"key": "k", "items": [{"product_id": 2, "quantity": 1}]})),
        ),
        (
            Method::POST,
            format!("{}/cart/held/restore-items", stack.cart),
            Some(json!({"key": "k", "items": [{"product_id": 2, "quantity": 1}]})),
        ),
        (
            Method::GET,
            format!("{}/cart/victim/checkout-lines", stack.cart),
            None,
        ),
        (
            Method::GET,
            format!("{}/orders/{}/payment-attempt", stack.order, order["id"]),
            None,
        ),
    ];
    for client in [&stack.http, &stranger] {
        for (method, url, body) in &targets {
            let mut request = client.request(method.clone(), url);
            if let Some(body) = body {
                request = request.json(body);
            }
            let response = request.send().await.unwrap();
            let status = response.status();
            let body: Value = response.json().await.unwrap();
            assert_eq!(
                detail(status, &body, StatusCode::UNAUTHORIZED),
                "This endpoint is for Shop's services only: it needs the service credential \
                 (X-Service-Token)",
                "{method} {url}"
            );
        }
    }
    // POST /payments is also the clients' (the seed's way to pay, through
    // the order's own flow); a wrong credential is still refused.
    let response = stranger
        .post(format!("{}/payments", stack.payment))
        .json(&json!({"order_id": order["id"], "amount": order["total_amount"]}))
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    detail(status, &body, StatusCode::UNAUTHORIZED);
    assert_eq!(stock_of(&stack, 1).await, stock);
    let (_, cart) = stack.get(&format!("{}/cart/victim", stack.cart)).await;
    assert_eq!(cart["items"].as_array().unwrap().len(), 1);
    let (_, payments) = stack.get(&format!("{}/payments", stack.payment)).await;
    assert_eq!(payments, json!([]));
    // With the credential, the service answers (a key never reserved: 404).
    let (status, _) = stack
        .send_as_service(
            Method::GET,
            &format!("{}/reservations/squat", stack.catalog),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, lines) = stack
        .send_as_service(
            Method::GET,
            &format!("{}/cart/victim/checkout-lines", stack.cart),
            None,
        )
        .await;
    assert_eq!(
        (status, lines),
        (StatusCode::OK, json!([{"product_id": 2, "quantity": 1}]))
    );
    // And the order, whose stock nobody could release, still pays.
    let (status, paid) = stack.pay(order["id"].as_i64().unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{paid}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reservation_keys_cannot_be_derived_from_the_idempotency_key() {
    let stack = Stack::start().await;
    stack.add_to_cart("derive", 1, 1).await;
    let (status, _) = stack
        .send_with_key(
            Method::POST,
            &format!("{}/orders", stack.order),
            "known-key",
            Some(json!({"user_id": "derive"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    // Before, the key was UUID v5 of what the client sent.
    let name = format!("{}:checkout:derive:known-key", "checkout:derive".len());
    let guessed = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, name.as_bytes());
    let (status, _) = stack
        .send_as_service(
            Method::GET,
            &format!("{}/reservations/{guessed}", stack.catalog),
            None,
        )
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "the old derivation finds nothing"
    );
}

// ---------------------------------------------------------------------------
// 3. Payment squatting.

/// Payments nobody may make: for orders that do not exist (yet), for
/// another amount, or outside the order's payment attempt. `as_service`
/// sends them with the credential, as a compromised neighbour could.
async fn squat(stack: &Stack, as_service: bool, order: i64, total: &Value) {
    let url = format!("{}/payments", stack.payment);
    let send = |body: Value, key: Option<&'static str>| {
        let client = if as_service {
            &stack.service_http
        } else {
            &stack.http
        };
        let mut request = client.post(&url).json(&body);
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        async move {
            let response = request.send().await.unwrap();
            let status = response.status();
            (status, response.json::<Value>().await.unwrap())
        }
    };
    // Every future order id, and this one for a cent.
    for id in order + 1..order + 20 {
        let (status, body) = send(json!({"order_id": id, "amount": 0.01}), Some("squat")).await;
        assert_eq!(
            detail(status, &body, StatusCode::NOT_FOUND),
            format!("Order {id} not found")
        );
    }
    let (status, body) = send(json!({"order_id": order, "amount": 0.01}), None).await;
    assert!(
        detail(status, &body, StatusCode::UNPROCESSABLE_ENTITY).contains("total"),
        "{body}"
    );
    // The exact total, but not the order's own attempt.
    for key in [None, Some("guess")] {
        let (status, body) = send(json!({"order_id": order, "amount": total}), key).await;
        detail(status, &body, StatusCode::CONFLICT);
        let (status, body) = send(
            json!({"order_id": order, "amount": total, "method": "manual"}),
            key,
        )
        .await;
        detail(status, &body, StatusCode::CONFLICT);
    }
}

async fn squatting_never_blocks_a_payment(stack: &Stack, as_service: bool) {
    stack.add_to_cart("squatted", 2, 1).await;
    let order = stack.place_order("squatted").await;
    let id = order["id"].as_i64().unwrap();
    squat(stack, as_service, id, &order["total_amount"]).await;
    let (_, payments) = stack.get(&format!("{}/payments", stack.payment)).await;
    assert_eq!(payments, json!([]), "nothing recorded");

    // This order and the next ones pay as usual.
    let (status, paid) = stack.pay(id).await;
    assert_eq!(status, StatusCode::OK, "{paid}");
    for n in 0..3 {
        let user = format!("next{n}");
        stack.add_to_cart(&user, 2, 1).await;
        let next = stack.place_order(&user).await["id"].as_i64().unwrap();
        let (status, paid) = stack.pay(next).await;
        assert_eq!(status, StatusCode::OK, "{paid}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payment_squatting_by_a_service_is_refused_and_blocks_nothing() {
    let stack = Stack::start().await;
    squatting_never_blocks_a_payment(&stack, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payment_squatting_without_a_service_token_configured_is_refused_too() {
    // No SERVICE_TOKEN: the service-only endpoints are open on their own
    // ports, and the payment service's check of the order still holds.
    let stack = Stack::start_with(Options {
        extra_env: vec![("SERVICE_TOKEN", String::new())],
        ..Options::default()
    })
    .await;
    squatting_never_blocks_a_payment(&stack, false).await;
}

// ---------------------------------------------------------------------------
// 4. Idempotency keys belong to their user.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_users_idempotency_key_neither_replays_nor_preempts() {
    let stack = Stack::start().await;
    let url = format!("{}/orders", stack.order);
    let (one, two) = (
        stack.product("Key one", "1.00", 100).await,
        stack.product("Key two", "2.00", 100).await,
    );
    for round in 0..20 {
        let (alice, bob, eve) = (
            format!("alice{round}"),
            format!("bob{round}"),
            format!("eve{round}"),
        );
        let key = format!("shared-{round}");
        // Eve, with an empty cart, sends the key first.
        let (status, body) = stack
            .send_with_key(Method::POST, &url, &key, Some(json!({"user_id": eve})))
            .await;
        assert_eq!(
            detail(status, &body, StatusCode::BAD_REQUEST),
            "Cart is empty"
        );
        // Alice and Bob both order with it: each gets their own order.
        stack.add_to_cart(&alice, one, 1).await;
        stack.add_to_cart(&bob, two, 1).await;
        let (status, a) = stack
            .send_with_key(Method::POST, &url, &key, Some(json!({"user_id": alice})))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{a}");
        let (status, b) = stack
            .send_with_key(Method::POST, &url, &key, Some(json!({"user_id": bob})))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{b}");
        assert_ne!(a["id"], b["id"]);
        assert_eq!(a["user_id"], alice.as_str());
        assert_eq!(b["user_id"], bob.as_str());
        assert_eq!(b["items"][0]["product_id"], two);
    }
}

// ---------------------------------------------------------------------------
// 8. Input that should not be stored.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_characters_and_padded_user_ids_are_refused() {
    let stack = Stack::start().await;
    let c = &stack.catalog;
    let before = stack.list(&format!("{c}/products")).await;
    for name in [
        "nul\u{0}byte",
        "esc\u{1b}[31mred",
        "bell\u{7}",
        "c1\u{85}",
        "tab\tname",
        "two\nlines",
    ] {
        let (status, body) = stack
            .post(&format!("{c}/products"), json!({"name": name, "price": 1}))
            .await;
        detail(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
        let (status, body) = stack
            .post(
                &format!("{c}/products"),
                json!({"name": "ok", "price": 1, "category": name}),
            )
            .await;
        detail(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
        let (status, body) = stack
            .put(&format!("{c}/products/1"), json!({"name": name}))
            .await;
        detail(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
    }
    for description in ["nul\u{0}", "cr\r\nlf", "esc\u{1b}"] {
        let (status, body) = stack
            .post(
                &format!("{c}/products"),
                json!({"name": "ok", "price": 1, "description": description}),
            )
            .await;
        detail(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
    }
    assert_eq!(stack.list(&format!("{c}/products")).await, before);

    // User ids: in paths and in bodies.
    for user in [
        "\r\nSet-Cookie: x=1",
        " ",
        "alice ",
        " alice",
        "a\u{0}b",
        "tab\t",
    ] {
        let (status, body) = stack
            .post(&format!("{}/orders", stack.order), json!({"user_id": user}))
            .await;
        detail(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
        let encoded = shop_order::client::encode(user);
        let (status, body) = stack
            .post(
                &format!("{}/cart/{encoded}/items", stack.cart),
                json!({"product_id": 1, "quantity": 1}),
            )
            .await;
        detail(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
        let (status, body) = stack.get(&format!("{}/cart/{encoded}", stack.cart)).await;
        detail(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_names_of_every_script_round_trip_exactly() {
    let stack = Stack::start().await;
    let c = &stack.catalog;
    for name in [
        "Ñandú de peluche",
        "東京タワー模型",
        "שלום\u{200f} עולם",
        "مرحبا بالعالم",
        "👩\u{200d}👩\u{200d}👧\u{200d}👦 family pack",
        "🇫🇷 drapeau",
        "क्षत्रिय",
    ] {
        let description = format!("{name}\nline two\twith a tab");
        let (status, product) = stack
            .post(
                &format!("{c}/products"),
                json!({"name": name, "price": 1, "description": description, "category": name}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{product}");
        let (_, stored) = stack.get(&format!("{c}/products/{}", product["id"])).await;
        assert_eq!(stored["name"], name);
        assert_eq!(stored["category"], name);
        assert_eq!(stored["description"], description.as_str());
    }
    for user in ["Zoë", "山田太郎", "user\u{200d}name", "אבי"] {
        stack.add_to_cart(user, 1, 1).await;
        let order = stack.place_order(user).await;
        assert_eq!(order["user_id"], user);
    }
}

/// Issue 23, hole 2: with 2,000 products of 2,000-character descriptions, a
/// crafted search of the longest allowed pattern, 24 at a time, used to
/// hold every reader of the catalog for seconds: product reads, carts and
/// checkouts took 4-5 s or answered 503. Now searches take turns, match in
/// linear time and read a bounded range per statement.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_crafted_searches_leaves_checkouts_completing() {
    let stack = Stack::start_with(Options {
        extra_env: vec![("HTTP_REQUEST_TIMEOUT_MS", "2000".into())],
        ..Options::default()
    })
    .await;
    let stack = Arc::new(stack);
    let description = "a".repeat(2000);
    for batch in 0..100 {
        let creates = (0..20).map(|i| {
            let body = json!({
                "name": format!("Product {batch}-{i}"),
                "description": description,
                "price": 1.0,
                "stock": 100,
            });
            let url = format!("{}/products", stack.catalog);
            let stack = stack.clone();
            async move { stack.post(&url, body).await }
        });
        for (status, body) in join_all(creates).await {
            assert_eq!(status, StatusCode::CREATED, "{body}");
        }
    }
    let pattern = format!("{}b", "a".repeat(99));
    let too_long = format!("{pattern}b");
    let (status, body) = stack
        .get(&format!("{}/products?search={too_long}", stack.catalog))
        .await;
    detail(status, &body, StatusCode::UNPROCESSABLE_ENTITY);

    // 24 clients searching without pause while customers check out.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let searchers: Vec<_> = (0..24)
        .map(|_| {
            let (stack, stop, pattern) = (stack.clone(), stop.clone(), pattern.clone());
            tokio::spawn(async move {
                let url = format!(
                    "{}/api/catalog/products?limit=1&search={pattern}",
                    stack.gateway
                );
                let mut answered = 0;
                while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                    let (status, body) = stack.get(&url).await;
                    assert!(
                        status == StatusCode::OK || status == StatusCode::SERVICE_UNAVAILABLE,
                        "{status} {body}"
                    );
                    if status == StatusCode::OK {
                        assert_eq!(body, json!([]));
                    }
                    answered += 1;
                }
                answered
            })
        })
        .collect();
    let product = stack.product("Cable", "3.00", 100).await;
    let gateway = &stack.gateway;
    for i in 0..5 {
        let user = format!("buyer{i}");
        let (status, body) = stack
            .get(&format!("{gateway}/api/catalog/products/{product}"))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let (status, body) = stack
            .post(
                &format!("{gateway}/api/cart/cart/{user}/items"),
                json!({"product_id": product, "quantity": 1}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let (status, body) = stack.get(&format!("{gateway}/api/cart/cart/{user}")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let (status, order) = stack
            .post(
                &format!("{gateway}/api/order/orders"),
                json!({"user_id": user}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{order}");
        let id = order["id"].as_i64().unwrap();
        let (status, paid) = stack
            .send(
                Method::POST,
                &format!("{gateway}/api/order/orders/{id}/payment"),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{paid}");
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let mut searches = 0;
    for searcher in searchers {
        searches += searcher.await.unwrap();
    }
    assert!(searches >= 24, "the searchers ran ({searches} answers)");
    assert_eq!(stock_of(&stack, product).await, 95);
}

/// Issue 23, hole 5: a header the client names in `Connection` is
/// hop-by-hop (RFC 9110 section 7.6.1); the gateway used to pass it on, so
/// `Connection: keep-alive, Idempotency-Key` still replayed by key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_named_in_connection_stop_at_the_gateway() {
    let stack = Stack::start().await;
    let product = stack.product("Lamp", "8.00", 10).await;
    let url = format!("{}/api/order/orders", stack.gateway);
    let mut answers = Vec::new();
    for _ in 0..2 {
        stack.add_to_cart("hopper", product, 1).await;
        let response = stack
            .http
            .post(&url)
            .header("connection", "keep-alive, Idempotency-Key")
            .header("idempotency-key", "hop-by-hop-1")
            .json(&json!({"user_id": "hopper"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        let order: Value = response.json().await.unwrap();
        answers.push(order["id"].as_i64().unwrap());
    }
    // Without the key, the second request is a checkout of its own.
    assert_ne!(answers[0], answers[1]);
    assert_eq!(orders_of(&stack, "hopper").await.len(), 2);
}

/// Issue 23, hole 4: user ids `.` and `..` (also percent-encoded) filled a
/// cart that could never check out, because a URL path cannot carry them.
/// Every route that takes a user id refuses them, on the services' ports
/// and through the gateway, and nothing is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dot_user_ids_are_refused_on_every_route() {
    use crate::raw::exchange;
    let stack = Stack::start().await;
    let product = stack.product("Pen", "1.00", 10).await;
    let token = stack.service_token.clone();
    let add = format!(r#"{{"product_id": {product}, "quantity": 1}}"#);
    let remove =
        format!(r#"{{"key": "k", "items": [{{"product_id": {product}, "quantity": 1}}]}}"#);
    for user in [".", "..", "%2E", "%2e", "%2E%2E", ".%2e"] {
        // (method, base URL, path, body, as a service)
        let routes: Vec<(&str, &str, String, Option<&str>, bool)> = vec![
            ("GET", &stack.cart, format!("/cart/{user}"), None, false),
            ("DELETE", &stack.cart, format!("/cart/{user}"), None, false),
            (
                "POST",
                &stack.cart,
                format!("/cart/{user}/items"),
                Some(&add),
                false,
            ),
            (
                "PUT",
                &stack.cart,
                format!("/cart/{user}/items/{product}?quantity=1"),
                None,
                false,
            ),
            (
                "DELETE",
                &stack.cart,
                format!("/cart/{user}/items/{product}"),
                None,
                false,
            ),
            (
                "POST",
                &stack.cart,
                format!("/cart/{user}/remove-items"),
                Some(&remove),
                true,
            ),
            (
                "POST",
                &stack.cart,
                format!("/cart/{user}/restore-items"),
                Some(&remove),
                true,
            ),
            (
                "GET",
                &stack.order,
                format!("/orders/user/{user}"),
                None,
                false,
            ),
            (
                "GET",
                &stack.gateway,
                format!("/api/cart/cart/{user}"),
                None,
                false,
            ),
            (
                "POST",
                &stack.gateway,
                format!("/api/cart/cart/{user}/items"),
                Some(&add),
                false,
            ),
            (
                "GET",
                &stack.gateway,
                format!("/api/order/orders/user/{user}"),
                None,
                false,
            ),
        ];
        for (method, base, path, body, as_service) in routes {
            let body = body.unwrap_or("");
            let host = base.trim_start_matches("http://");
            let service = if as_service {
                format!("x-service-token: {token}\r\n")
            } else {
                String::new()
            };
            let request = format!(
                "{method} {path} HTTP/1.1\r\nHost: {host}\r\n{service}content-type: application/json\r\n\
                 content-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let response = exchange(base, request.as_bytes()).await;
            let detail = response.detail(422);
            assert!(detail.contains("user_id"), "{method} {path}: {detail}");
        }
    }
    for user in [".", ".."] {
        for base in [&stack.order, &format!("{}/api/order", stack.gateway)] {
            let (status, body) = stack
                .post(&format!("{base}/orders"), json!({ "user_id": user }))
                .await;
            detail(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
        }
    }
    assert_eq!(stock_of(&stack, product).await, 10);
    // Ids that merely hold dots are ids like any other.
    stack.add_to_cart("...", product, 1).await;
    stack.add_to_cart(".alice", product, 1).await;
    let order = stack.place_order("...").await;
    assert_eq!(order["user_id"], "...");
}

/// Issue 23, hole 3: a cart that accepted every add became unreadable
/// (1,001 products: "ids may name at most 1000 products"; a huge total:
/// "Cart total is too large"), so it could be neither shown nor ordered.
/// Now the add that would make the 1,001st line is the one refused, and a
/// total past what an order may cost is still shown exactly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cart_refuses_its_1001st_product_and_stays_usable() {
    let stack = Arc::new(Stack::start().await);
    let mut products = Vec::new();
    for batch in 0..51 {
        let creates = (0..20).map(|i| {
            let stack = stack.clone();
            async move { stack.product(&format!("Bolt {batch}-{i}"), "0.01", 5).await }
        });
        products.extend(join_all(creates).await);
    }
    let (first, rest) = products.split_at(1000);
    for chunk in first.chunks(50) {
        let adds = chunk.iter().map(|&p| {
            let stack = stack.clone();
            async move { stack.add_to_cart("hoarder", p, 1).await }
        });
        join_all(adds).await;
    }
    let add = |product: i64| {
        let stack = stack.clone();
        async move {
            stack
                .post(
                    &format!("{}/cart/hoarder/items", stack.cart),
                    json!({"product_id": product, "quantity": 1}),
                )
                .await
        }
    };
    let (status, body) = add(rest[0]).await;
    let message = detail(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(message.contains("1000"), "{message}");
    // A product already in the cart can still be added to.
    let (status, body) = add(first[0]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, cart) = stack.get(&format!("{}/cart/hoarder", stack.cart)).await;
    assert_eq!(status, StatusCode::OK, "{cart}");
    assert_eq!(cart["items"].as_array().unwrap().len(), 1000);
    assert_eq!(cart["total"].to_string(), "10.01");
    let order = stack.place_order("hoarder").await;
    assert_eq!(order["items"].as_array().unwrap().len(), 1000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cart_past_the_largest_order_total_is_shown_exactly_and_cleared() {
    let stack = Stack::start().await;
    let mut added = Vec::new();
    for i in 0..93 {
        let product = stack
            .product(&format!("Yacht {i}"), "1000000000", 1_000_000)
            .await;
        stack.add_to_cart("whale", product, 1_000_000).await;
        added.push(product);
    }
    for base in [stack.cart.clone(), format!("{}/api/cart", stack.gateway)] {
        let (status, cart) = stack.get(&format!("{base}/cart/whale")).await;
        assert_eq!(status, StatusCode::OK, "{cart}");
        assert_eq!(cart["total"].to_string(), "93000000000000000.00");
    }
    let (status, body) = stack
        .post(
            &format!("{}/orders", stack.order),
            json!({"user_id": "whale"}),
        )
        .await;
    let message = detail(status, &body, StatusCode::BAD_REQUEST);
    assert!(message.contains("maximum"), "{message}");
    let (status, body) = stack.delete(&format!("{}/cart/whale", stack.cart)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, cart) = stack.get(&format!("{}/cart/whale", stack.cart)).await;
    assert_eq!(cart["items"], json!([]));
    for product in added {
        assert_eq!(stock_of(&stack, product).await, 1_000_000);
    }
}
