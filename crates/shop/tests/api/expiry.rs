//! Unpaid orders expire after `ORDER_PAYMENT_TIMEOUT`: cancelled with
//! reason `expired`, their stock back exactly once, and a payment racing
//! the expiry either pays or is refused without a charge, never both.

use std::time::{Duration, Instant};

use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{assert_valid, event_schemas, eventually, Options, Stack};

async fn stack_expiring_after(timeout: &str) -> Stack {
    Stack::start_with(Options {
        payment_success_rate: 1.0,
        extra_env: vec![
            ("ORDER_PAYMENT_TIMEOUT", timeout.to_owned()),
            ("RECOVERY_INTERVAL_MS", "20".to_owned()),
        ],
        ..Options::default()
    })
    .await
}

async fn stock(stack: &Stack, product: i64) -> i64 {
    let (status, body) = stack
        .get(&format!("{}/products/{product}", stack.catalog))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["stock"].as_i64().unwrap()
}

async fn order(stack: &Stack, id: i64) -> Value {
    let (status, body) = stack.get(&format!("{}/orders/{id}", stack.order)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

async fn successful_payments(stack: &Stack, id: i64) -> usize {
    let payments = stack
        .list(&format!("{}/payments?order_id={id}", stack.payment))
        .await;
    payments.iter().filter(|p| p["status"] == "success").count()
}

fn rfc3339(value: &Value) -> chrono::DateTime<chrono::FixedOffset> {
    chrono::DateTime::parse_from_rfc3339(value.as_str().unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unpaid_order_expires_and_its_stock_returns_once() {
    let stack = stack_expiring_after("1").await;
    let product = stack.product("Keyboard", "25.00", 10).await;
    stack.add_to_cart("ada", product, 3).await;
    let unpaid = stack.place_order("ada").await;
    let id = unpaid["id"].as_i64().unwrap();
    // It says when it expires: a second after it was placed.
    let expires = rfc3339(&unpaid["expires_at"]) - rfc3339(&unpaid["created_at"]);
    assert_eq!(expires.num_milliseconds(), 1000, "{unpaid}");
    assert!(unpaid.get("reason").is_none(), "{unpaid}");
    // A paid order of the same age stays paid.
    stack.add_to_cart("bob", product, 2).await;
    let paid = stack.place_order("bob").await["id"].as_i64().unwrap();
    assert_eq!(stack.pay(paid).await.0, StatusCode::OK);
    assert_eq!(stock(&stack, product).await, 5);

    let expired = eventually(Duration::from_secs(10), || async {
        let now = order(&stack, id).await;
        (now["status"] == "cancelled").then_some(now)
    })
    .await;
    assert_eq!(expired["reason"], "expired", "{expired}");
    assert!(expired.get("expires_at").is_none(), "{expired}");
    eventually(Duration::from_secs(10), || async {
        (stock(&stack, product).await == 8).then_some(())
    })
    .await;
    // A payment after the expiry is refused and charges nothing.
    let (status, body) = stack.pay(id).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("expired unpaid"),
        "{body}"
    );
    assert_eq!(successful_payments(&stack, id).await, 0);
    // Cancelling it again changes nothing; the paid one is untouched.
    let (status, again) = stack
        .put(
            &format!("{}/orders/{id}/status", stack.order),
            json!({"status": "cancelled"}),
        )
        .await;
    assert_eq!(
        (status, &again["status"]),
        (StatusCode::OK, &json!("cancelled"))
    );
    assert_eq!(order(&stack, paid).await["status"], "paid");
    assert_eq!(stock(&stack, product).await, 8);

    // One order_cancelled event, with the reason, valid against the schema.
    let schemas = event_schemas();
    let events = stack
        .list(&format!("{}/events?after=0&limit=1000", stack.order))
        .await;
    let cancelled: Vec<&Value> = events
        .iter()
        .filter(|e| e["data"]["order_id"] == id && e["event_type"] == "order_cancelled")
        .collect();
    assert_eq!(cancelled.len(), 1, "{events:?}");
    assert_eq!(cancelled[0]["data"]["reason"], "expired");
    assert_eq!(cancelled[0]["data"]["previous_status"], "pending");
    for event in &events {
        assert_valid(&schemas, event);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payment_racing_the_expiry_pays_or_is_refused_never_both() {
    const ROUNDS: usize = 20;
    let stack = stack_expiring_after("1").await;
    let product = stack.product("Lamp", "10.00", 10 * ROUNDS as i64).await;
    let mut placed = Vec::new();
    for round in 0..ROUNDS {
        let user = format!("racer{round}");
        stack.add_to_cart(&user, product, 2).await;
        placed.push((
            stack.place_order(&user).await["id"].as_i64().unwrap(),
            Instant::now(),
        ));
    }
    // Each payment is sent around its order's deadline: from 150 ms before
    // to 150 ms after, so some win and some lose the race.
    let outcomes = join_all(placed.iter().enumerate().map(|(round, (id, at))| {
        let stack = &stack;
        async move {
            let offset = 850 + (round as u64 * 300) / ROUNDS as u64;
            tokio::time::sleep_until((*at + Duration::from_millis(offset)).into()).await;
            let (status, body) = stack.pay(*id).await;
            (*id, status, body)
        }
    }))
    .await;

    let mut paid = 0;
    for (id, status, body) in &outcomes {
        let settled = eventually(Duration::from_secs(10), || async {
            let now = order(&stack, *id).await;
            (now["status"] == "paid" || now["status"] == "cancelled").then_some(now)
        })
        .await;
        let charged = successful_payments(&stack, *id).await;
        match *status {
            StatusCode::OK => {
                paid += 1;
                assert_eq!(settled["status"], "paid", "{settled}");
                assert_eq!(charged, 1, "order {id}");
            }
            StatusCode::BAD_REQUEST => {
                assert_eq!(settled["reason"], "expired", "{settled} after {body}");
                assert_eq!(charged, 0, "order {id} expired yet charged");
            }
            other => panic!("order {id}: pay answered {other} {body}"),
        }
    }
    println!("{paid} of {ROUNDS} payments beat the expiry");
    // Stock: exactly the paid orders' units are gone.
    let expected = 10 * ROUNDS as i64 - 2 * paid;
    eventually(Duration::from_secs(10), || async {
        (stock(&stack, product).await == expected).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zero_keeps_unpaid_orders_and_bad_timeouts_are_refused() {
    let stack = stack_expiring_after("0").await;
    stack.add_to_cart("ada", 1, 1).await;
    let unpaid = stack.place_order("ada").await;
    assert!(unpaid.get("expires_at").is_none(), "{unpaid}");
    for bad in ["-1", "soon", "10d", "1.5m"] {
        let env = shop_common::config::Env::from_pairs([("ORDER_PAYMENT_TIMEOUT", bad)]);
        let err = shop_order::Config::from_env(&env).unwrap_err().to_string();
        assert!(err.contains("ORDER_PAYMENT_TIMEOUT"), "{bad}: {err}");
    }
    for (good, secs) in [("90", 90), ("90s", 90), ("30m", 1800), ("2h", 7200)] {
        let env = shop_common::config::Env::from_pairs([("ORDER_PAYMENT_TIMEOUT", good)]);
        let config = shop_order::Config::from_env(&env).unwrap();
        assert_eq!(config.payment_timeout, Some(Duration::from_secs(secs)));
    }
}
