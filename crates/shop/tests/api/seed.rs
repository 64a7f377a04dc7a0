//! The seed platform's answers where a client of it depends on them, and
//! "mark as paid" (`PUT /orders/{id}/status` to `paid`): a manual payment
//! that keeps "a paid order has exactly one successful payment".

use std::sync::Arc;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use shop_common::config::Env;
use shop_common::db::{Db, Migrations};

use crate::helpers::{detail, listener, num, Options, Stack, TestDatabase};

async fn cart_of(stack: &Stack, user: &str) -> Value {
    let (status, cart) = stack.get(&format!("{}/cart/{user}", stack.cart)).await;
    assert_eq!(status, StatusCode::OK, "{cart}");
    cart
}

async fn order_of(stack: &Stack, id: i64) -> Value {
    let (status, order) = stack.get(&format!("{}/orders/{id}", stack.order)).await;
    assert_eq!(status, StatusCode::OK, "{order}");
    order
}

async fn payments_of(stack: &Stack, order: i64) -> Vec<Value> {
    stack
        .list(&format!("{}/payments?order_id={order}", stack.payment))
        .await
}

/// A pending order of `user` for two mice; returns it.
async fn pending_order(stack: &Stack, user: &str) -> Value {
    stack.add_to_cart(user, 2, 2).await;
    stack.place_order(user).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cart_quantity_of_zero_or_below_is_the_seeds_400() {
    let stack = Stack::start().await;
    stack.add_to_cart("quinn", 1, 2).await;
    let before = cart_of(&stack, "quinn").await;
    let url = format!("{}/cart/quinn/items/1", stack.cart);
    for (query, body) in [
        ("?quantity=0", None),
        ("?quantity=-1", None),
        ("?quantity=-9223372036854775808", None),
        ("", Some(r#"{"quantity": 0}"#)),
        ("", Some(r#"{"quantity": -5}"#)),
    ] {
        let (status, answer) = match body {
            Some(body) => {
                stack
                    .send_raw(Method::PUT, &format!("{url}{query}"), body)
                    .await
            }
            None => {
                stack
                    .send(Method::PUT, &format!("{url}{query}"), None)
                    .await
            }
        };
        assert_eq!(
            detail(status, &answer, StatusCode::BAD_REQUEST),
            "Quantity must be positive",
            "{query} {body:?}"
        );
    }
    // Not an integer, or above the bound: still 422.
    for query in ["?quantity=1.5", "?quantity=1000001", "?quantity=x"] {
        let (status, answer) = stack
            .send(Method::PUT, &format!("{url}{query}"), None)
            .await;
        detail(status, &answer, StatusCode::UNPROCESSABLE_ENTITY);
    }
    assert_eq!(cart_of(&stack, "quinn").await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_product_update_that_sets_nothing_is_the_seeds_400_after_the_404() {
    let stack = Stack::start().await;
    let c = &stack.catalog;
    let (_, before) = stack.get(&format!("{c}/products/1")).await;
    for body in [json!({}), json!({"unknown": 1}), json!({"price": null})] {
        let (status, answer) = stack.put(&format!("{c}/products/1"), body.clone()).await;
        assert_eq!(
            detail(status, &answer, StatusCode::BAD_REQUEST),
            "No fields to update",
            "{body}"
        );
    }
    let (_, after) = stack.get(&format!("{c}/products/1")).await;
    assert_eq!(after, before);
    // A missing product is a 404 first.
    let (status, answer) = stack.put(&format!("{c}/products/999"), json!({})).await;
    assert_eq!(
        detail(status, &answer, StatusCode::NOT_FOUND),
        "Product 999 not found"
    );
}

fn stocks(products: &[Value]) -> Vec<(String, i64, String)> {
    products
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_owned(),
                p["stock"].as_i64().unwrap(),
                p["category"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn seed_stocks(monitor: i64) -> Vec<(String, i64, String)> {
    [
        ("Laptop", 10),
        ("Mouse", 50),
        ("Keyboard", 30),
        ("Monitor", monitor),
    ]
    .into_iter()
    .map(|(name, stock)| (name.to_owned(), stock, "Electronics".to_owned()))
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_catalog_has_the_seeds_sample_stock() {
    let stack = Stack::start().await;
    let products = stack.list(&format!("{}/products", stack.catalog)).await;
    assert_eq!(stocks(&products), seed_stocks(15));
}

/// The catalog's migrations up to (not including) `version`, for a
/// database as an earlier release of Shop left it.
fn migrations_before(version: i64) -> Migrations {
    fn older(
        all: &'static sqlx::migrate::Migrator,
        version: i64,
    ) -> &'static sqlx::migrate::Migrator {
        let mut older = sqlx::migrate::Migrator::DEFAULT;
        older.migrations = all
            .migrations
            .iter()
            .filter(|m| m.version < version)
            .cloned()
            .collect::<Vec<_>>()
            .into();
        Box::leak(Box::new(older))
    }
    let all = shop_catalog::migrations();
    Migrations {
        sqlite: older(all.sqlite, version),
        postgres: older(all.postgres, version),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_catalog_seeded_by_an_earlier_release_keeps_its_stock() {
    let dir = tempfile::tempdir().unwrap();
    let database = TestDatabase::for_this_run().await;
    let mut env = Env::from_pairs([(
        "DB_PATH",
        dir.path().join("catalog.db").display().to_string(),
    )]);
    if let Some(database) = &database {
        env = env.with("DATABASE_URL", database.url.clone());
    }
    let config = shop_catalog::Config::from_env(&env).unwrap();
    // The catalog as the release before the seed's stock left it, an hour
    // before this upgrade: Monitor has 20.
    let monitor_version = if database.is_some() { 2 } else { 3 };
    let old = Db::open(&config.db, migrations_before(monitor_version))
        .await
        .unwrap();
    sqlx::query("UPDATE products SET created_at = '2026-01-01T00:00:00.000000Z', updated_at = '2026-01-01T00:00:00.000000Z'")
        .execute(&old.writer)
        .await
        .unwrap();
    old.close().await;

    // The upgrade runs the new migrations and leaves the stock alone.
    let service = shop_catalog::build(&config).await.unwrap();
    let (listener, url) = listener().await;
    let shutdown = tokio_util::sync::CancellationToken::new();
    let token = shutdown.clone();
    let server = shop_common::config::ServerSettings::from_env(&env).unwrap();
    let served = tokio::spawn(async move { service.run(listener, server, token).await });
    let products: Vec<Value> = reqwest::get(format!("{url}/products"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stocks(&products), seed_stocks(20));
    shutdown.cancel();
    served.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paying_an_unpayable_order_begins_with_the_seeds_detail() {
    let stack = Stack::start().await;
    let paid = pending_order(&stack, "ruth").await["id"].as_i64().unwrap();
    let (status, body) = stack.pay(paid).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let cancelled = pending_order(&stack, "saul").await["id"].as_i64().unwrap();
    stack
        .put(
            &format!("{}/orders/{cancelled}/status", stack.order),
            json!({"status": "cancelled"}),
        )
        .await;
    let shipped = pending_order(&stack, "tess").await["id"].as_i64().unwrap();
    stack.pay(shipped).await;
    for next in ["processing", "shipped"] {
        let (status, body) = stack
            .put(
                &format!("{}/orders/{shipped}/status", stack.order),
                json!({"status": next}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    for (id, status_now) in [
        (paid, "paid"),
        (cancelled, "cancelled"),
        (shipped, "shipped"),
    ] {
        let attempts = payments_of(&stack, id).await.len();
        let (status, body) = stack.pay(id).await;
        assert_eq!(
            detail(status, &body, StatusCode::BAD_REQUEST),
            format!("Order is not in pending status (it is {status_now})")
        );
        assert_eq!(
            payments_of(&stack, id).await.len(),
            attempts,
            "no payment made"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn marking_a_pending_or_confirmed_order_paid_records_one_manual_payment() {
    let stack = Stack::start_with(Options {
        // Card payments would all fail: a manual one is never declined.
        payment_success_rate: 0.0,
        ..Options::default()
    })
    .await;
    let pending = pending_order(&stack, "uma").await;
    let confirmed = pending_order(&stack, "vic").await;
    let confirmed_id = confirmed["id"].as_i64().unwrap();
    let (status, body) = stack
        .put(
            &format!("{}/orders/{confirmed_id}/status", stack.order),
            json!({"status": "confirmed"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    for order in [pending, confirmed] {
        let id = order["id"].as_i64().unwrap();
        let (status, paid) = stack.set_status(id, "paid").await;
        assert_eq!(status, StatusCode::OK, "{paid}");
        assert_eq!(paid["status"], "paid");
        let payment_id = paid["payment_id"]
            .as_str()
            .expect("a payment id")
            .to_owned();
        assert_eq!(order_of(&stack, id).await, paid);

        let (status, latest) = stack
            .get(&format!("{}/payments/order/{id}", stack.payment))
            .await;
        assert_eq!(status, StatusCode::OK, "{latest}");
        assert_eq!(latest["id"], payment_id.as_str());
        assert_eq!(latest["method"], "manual");
        assert_eq!(latest["status"], "success");
        assert_eq!(num(&latest["amount"]), num(&order["total_amount"]));
        assert_eq!(payments_of(&stack, id).await.len(), 1);

        // Marking it paid again is a no-op; paying it is the seed's 400.
        let (status, again) = stack.set_status(id, "paid").await;
        assert_eq!(status, StatusCode::OK, "{again}");
        assert_eq!(again, paid);
        let (status, body) = stack.pay(id).await;
        assert!(detail(status, &body, StatusCode::BAD_REQUEST)
            .starts_with("Order is not in pending status"));
        assert_eq!(payments_of(&stack, id).await.len(), 1, "no second payment");
    }

    // Card payments through the order service say so.
    let stack = Stack::start().await;
    let id = pending_order(&stack, "walt").await["id"].as_i64().unwrap();
    let (status, paid) = stack.pay(id).await;
    assert_eq!(status, StatusCode::OK, "{paid}");
    let (_, latest) = stack
        .get(&format!("{}/payments/order/{id}", stack.payment))
        .await;
    assert_eq!(latest["method"], "card");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mark_as_paid_publishes_order_paid_with_its_method() {
    let stack = Stack::start().await;
    let id = pending_order(&stack, "xavi").await["id"].as_i64().unwrap();
    let (status, paid) = stack.set_status(id, "paid").await;
    assert_eq!(status, StatusCode::OK, "{paid}");
    let events = stack.list(&format!("{}/events?after=0", stack.order)).await;
    let schemas = crate::helpers::event_schemas();
    let paid_events: Vec<&Value> = events
        .iter()
        .filter(|e| e["event_type"] == "order_paid" && e["data"]["order_id"] == id)
        .collect();
    assert_eq!(paid_events.len(), 1, "{events:?}");
    crate::helpers::assert_valid(&schemas, paid_events[0]);
    assert_eq!(paid_events[0]["data"]["method"], "manual");
    assert_eq!(paid_events[0]["data"]["payment_id"], paid["payment_id"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_card_and_manual_payments_end_with_one_successful_payment() {
    let stack = Arc::new(Stack::start().await);
    for round in 0..3 {
        let id = pending_order(&stack, &format!("yara{round}")).await["id"]
            .as_i64()
            .unwrap();
        let racers: Vec<_> = (0..20)
            .map(|i| {
                let stack = stack.clone();
                tokio::spawn(async move {
                    if i % 2 == 0 {
                        stack.pay(id).await
                    } else {
                        stack.set_status(id, "paid").await
                    }
                })
            })
            .collect();
        let mut answers = Vec::new();
        for racer in racers {
            answers.push(racer.await.unwrap());
        }
        for (status, body) in &answers {
            assert!(
                matches!(
                    *status,
                    StatusCode::OK | StatusCode::CONFLICT | StatusCode::BAD_REQUEST
                ),
                "{status} {body}"
            );
        }
        let order = order_of(&stack, id).await;
        assert_eq!(order["status"], "paid");
        let successes: Vec<Value> = payments_of(&stack, id)
            .await
            .into_iter()
            .filter(|p| p["status"] == "success")
            .collect();
        assert_eq!(successes.len(), 1, "{successes:?}");
        assert_eq!(order["payment_id"], successes[0]["id"]);
        // Every 200 describes that one payment.
        for (status, body) in &answers {
            if *status == StatusCode::OK {
                assert_eq!(body["payment_id"], successes[0]["id"]);
            }
        }
    }
}

/// Every route with an integer path parameter documents the 422 it gives
/// for one that is not a 64-bit integer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_integer_path_parameter_documents_its_422() {
    let stack = Stack::start().await;
    let mut checked = 0;
    for base in [&stack.catalog, &stack.cart, &stack.order, &stack.payment] {
        let (status, doc) = stack.get(&format!("{base}/openapi.json")).await;
        assert_eq!(status, StatusCode::OK);
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                let Some(params) = operation["parameters"].as_array() else {
                    continue;
                };
                let integer_path = params
                    .iter()
                    .any(|p| p["in"] == "path" && p["schema"]["type"] == "integer");
                if integer_path {
                    checked += 1;
                    assert!(
                        operation["responses"].get("422").is_some(),
                        "{base}: {method} {path} does not document 422"
                    );
                    // And it really answers 422.
                    let url = format!(
                        "{base}{}",
                        path.split('/')
                            .map(|seg| if seg.starts_with('{') {
                                if seg.contains("user") {
                                    "u1"
                                } else {
                                    "9223372036854775808"
                                }
                            } else {
                                seg
                            })
                            .collect::<Vec<_>>()
                            .join("/")
                    );
                    let method: Method = method.to_uppercase().parse().unwrap();
                    // As a service: the service-only routes answer too.
                    let (status, body) = stack
                        .send_as_service(method.clone(), &url, Some(json!({})))
                        .await;
                    assert_eq!(
                        status,
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "{method} {url}: {body}"
                    );
                }
            }
        }
    }
    assert!(
        checked >= 9,
        "only {checked} routes with integer path parameters"
    );
}
