//! Two replicas of every service on one PostgreSQL database: the checkout
//! guarantees hold across replicas, and the services ride out PostgreSQL
//! going away.

#[allow(dead_code)]
#[path = "api/helpers.rs"]
mod helpers;

use std::time::{Duration, Instant};

use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::{json, Value};

use helpers::{Replicas, TcpProxy, TestDatabase};

async fn send(request: reqwest::RequestBuilder) -> (StatusCode, Value) {
    let response = request.send().await.expect("request sent");
    let status = response.status();
    let text = response.text().await.expect("body");
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

impl Replicas {
    async fn new_product(&self, stock: i64) -> i64 {
        let (status, body) = send(
            self.http
                .post(format!("{}/products", self.catalog[0]))
                .json(&json!({"name": "Shared", "price": 4.25, "stock": stock})),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["id"].as_i64().unwrap()
    }

    async fn stock(&self, product: i64, replica: usize) -> i64 {
        let (_, body) = send(
            self.http
                .get(format!("{}/products/{product}", self.catalog[replica])),
        )
        .await;
        body["stock"].as_i64().unwrap()
    }

    async fn add(&self, user: &str, product: i64, quantity: i64, replica: usize) {
        let (status, body) = send(
            self.http
                .post(format!("{}/cart/{user}/items", self.cart[replica]))
                .json(&json!({"product_id": product, "quantity": quantity})),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    async fn order(&self, user: &str, replica: usize) -> (StatusCode, Value) {
        send(
            self.http
                .post(format!("{}/orders", self.order[replica]))
                .json(&json!({"user_id": user})),
        )
        .await
    }

    async fn payments(&self, order: i64, replica: usize) -> Vec<Value> {
        let (_, list) = send(self.http.get(format!(
            "{}/payments?order_id={order}",
            self.payment[replica]
        )))
        .await;
        list.as_array().unwrap().clone()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_oversell_across_replicas() {
    let shop = Replicas::start(&[]).await;
    let product = shop.new_product(100).await;
    let users: Vec<String> = (0..40).map(|i| format!("r{i}")).collect();
    for (i, user) in users.iter().enumerate() {
        shop.add(user, product, 1, i % 2).await;
    }
    let (status, _) = send(
        shop.http
            .put(format!("{}/products/{product}", shop.catalog[1]))
            .json(&json!({"stock": 5})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    let answers = join_all(users.iter().enumerate().map(|(i, u)| shop.order(u, i % 2))).await;
    let created = answers
        .iter()
        .filter(|(s, _)| *s == StatusCode::CREATED)
        .count();
    let refused = answers
        .iter()
        .filter(|(s, _)| *s == StatusCode::CONFLICT)
        .count();
    assert_eq!((created, refused), (5, 35), "{answers:?}");
    assert_eq!(shop.stock(product, 0).await, 0);
    assert_eq!(shop.stock(product, 1).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_charge_across_replicas() {
    let shop = Replicas::start(&[]).await;
    shop.add("payer", 1, 1, 0).await;
    let (status, order) = shop.order("payer", 0).await;
    assert_eq!(status, StatusCode::CREATED, "{order}");
    let id = order["id"].as_i64().unwrap();
    let answers = join_all((0..20).map(|i| {
        send(
            shop.http
                .post(format!("{}/orders/{id}/payment", shop.order[i % 2])),
        )
    }))
    .await;
    let ok = answers.iter().filter(|(s, _)| *s == StatusCode::OK).count();
    assert_eq!(ok, 1, "{answers:?}");
    for replica in 0..2 {
        let payments = shop.payments(id, replica).await;
        assert_eq!(payments.len(), 1, "{payments:?}");
        let (_, order) = send(
            shop.http
                .get(format!("{}/orders/{id}", shop.order[replica])),
        )
        .await;
        assert_eq!(order["status"], "paid");
        assert_eq!(order["payment_id"], payments[0]["id"]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_idempotency_keys_across_replicas() {
    let shop = Replicas::start(&[]).await;
    // Checkout: one order for six racing requests with one key.
    shop.add("keyed", 2, 1, 1).await;
    let answers = join_all((0..6).map(|i| {
        send(
            shop.http
                .post(format!("{}/orders", shop.order[i % 2]))
                .header("idempotency-key", "same-order")
                .json(&json!({"user_id": "keyed"})),
        )
    }))
    .await;
    for (status, body) in &answers {
        assert_eq!(*status, StatusCode::CREATED, "{body}");
        assert_eq!(body["id"], answers[0].1["id"]);
    }
    let (_, orders) = send(shop.http.get(format!("{}/orders", shop.order[0]))).await;
    assert_eq!(orders.as_array().unwrap().len(), 1);
    assert_eq!(shop.stock(2, 0).await, 49);

    // Paying it: one charge for six racing requests with one key, on both
    // replicas of the order service (and so of the payment service).
    let order = answers[0].1["id"].as_i64().unwrap();
    let paid = join_all((0..6).map(|i| {
        send(
            shop.http
                .post(format!("{}/orders/{order}/payment", shop.order[i % 2]))
                .header("idempotency-key", "same-payment"),
        )
    }))
    .await;
    for answer in &paid {
        assert_eq!(answer, &paid[0], "racing retries answer alike");
    }
    assert_eq!(paid[0].0, StatusCode::OK, "{paid:?}");
    let (_, payments) = send(shop.http.get(format!("{}/payments", shop.payment[1]))).await;
    assert_eq!(payments.as_array().unwrap().len(), 1, "{payments}");

    // Products, racing on both replicas of the catalog.
    for (urls, body, list) in [(
        &shop.catalog,
        json!({"name": "Once", "price": 1, "stock": 1}),
        "/products?limit=1000",
    )] {
        let path = "/products";
        let (_, before) = send(shop.http.get(format!("{}{list}", urls[0]))).await;
        let answers = join_all((0..6).map(|i| {
            send(
                shop.http
                    .post(format!("{}{path}", urls[i % 2]))
                    .header("idempotency-key", "same-create")
                    .json(&body),
            )
        }))
        .await;
        for answer in &answers {
            assert_eq!(answer, &answers[0], "racing retries answer alike");
        }
        assert_eq!(answers[0].0, StatusCode::CREATED, "{answers:?}");
        let (_, after) = send(shop.http.get(format!("{}{list}", urls[1]))).await;
        assert_eq!(
            after.as_array().unwrap().len(),
            before.as_array().unwrap().len() + 1,
            "{path}: one effect"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_cancels_across_replicas_return_stock_once() {
    let shop = Replicas::start(&[]).await;
    let product = shop.new_product(10).await;
    shop.add("canceller", product, 4, 0).await;
    let (_, order) = shop.order("canceller", 1).await;
    let id = order["id"].as_i64().unwrap();
    assert_eq!(shop.stock(product, 0).await, 6);
    let answers = join_all((0..10).map(|i| {
        send(
            shop.http
                .put(format!("{}/orders/{id}/status", shop.order[i % 2]))
                .json(&json!({"status": "cancelled"})),
        )
    }))
    .await;
    for (status, body) in &answers {
        assert_eq!(*status, StatusCode::OK, "{body}");
    }
    assert_eq!(shop.stock(product, 1).await, 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_going_away_is_503_and_the_services_recover() {
    let database = TestDatabase::create().await;
    // The proxy stands in front of the configured server
    // (SHOP_TEST_POSTGRES_URL), wherever it is.
    let mut url = reqwest::Url::parse(&database.url).unwrap();
    let server = tokio::net::lookup_host((
        url.host_str().unwrap_or("127.0.0.1"),
        url.port().unwrap_or(5432),
    ))
    .await
    .unwrap()
    .next()
    .expect("the PostgreSQL host resolves");
    let proxy = TcpProxy::start(server).await;
    url.set_host(Some("127.0.0.1")).unwrap();
    url.set_port(Some(proxy.port)).unwrap();
    let settings = [
        ("DB_ACQUIRE_TIMEOUT_MS", "1000".to_owned()),
        ("HTTP_REQUEST_TIMEOUT_MS", "3000".to_owned()),
    ];
    let shop = Replicas::start_with_url(url.to_string(), database, &settings).await;
    shop.add("outage", 1, 1, 0).await;

    proxy.cut();
    let started = Instant::now();
    let mut answered = Vec::new();
    for replica in 0..2 {
        for request in [
            shop.http
                .get(format!("{}/products/1", shop.catalog[replica])),
            shop.http.get(format!("{}/cart/outage", shop.cart[replica])),
            shop.http
                .post(format!("{}/orders", shop.order[replica]))
                .json(&json!({"user_id": "outage"})),
            shop.http.get(format!("{}/payments", shop.payment[replica])),
            shop.http.get(format!("{}/ready", shop.order[replica])),
        ] {
            answered.push(send(request).await);
        }
    }
    let took = started.elapsed();
    for (status, body) in &answered {
        assert_eq!(*status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    }
    assert!(
        answered
            .iter()
            .all(|(_, b)| b["detail"].is_string() || b["ready"] == false),
        "{answered:?}"
    );
    println!(
        "outage: {} requests answered 503 in {took:?}",
        answered.len()
    );

    proxy.restore();
    // Without a restart, the services serve again.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, body) = shop.order("outage", 1).await;
        if status == StatusCode::CREATED {
            assert_eq!(body["status"], "pending");
            break;
        }
        assert!(
            status.as_u16() < 500 || status == StatusCode::SERVICE_UNAVAILABLE,
            "{status} {body}"
        );
        assert!(Instant::now() < deadline, "no recovery: {status} {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (status, _) = send(shop.http.get(format!("{}/ready", shop.catalog[0]))).await;
    assert_eq!(status, StatusCode::OK);
}
