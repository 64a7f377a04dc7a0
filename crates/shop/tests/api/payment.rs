//! The payment service: payments, their outcome and their listing.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{check_ops, detail, num, Options, Stack};

/// Every payment, newest first.
async fn all_payments(stack: &Stack) -> Value {
    Value::Array(
        stack
            .list(&format!("{}/payments?limit=1000", stack.payment))
            .await,
    )
}

async fn create(stack: &Stack, body: Value) -> Value {
    let (status, payment) = stack
        .post(&format!("{}/payments", stack.payment), body)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{payment}");
    payment
}

fn assert_uuid_v4(id: &str) {
    assert_eq!(id.len(), 36, "{id}");
    for (i, c) in id.chars().enumerate() {
        if [8, 13, 18, 23].contains(&i) {
            assert_eq!(c, '-', "{id}");
        } else {
            assert!(c.is_ascii_hexdigit(), "{id}");
        }
    }
    assert_eq!(&id[14..15], "4", "version nibble of {id}");
    assert!(
        matches!(&id[19..20], "8" | "9" | "a" | "b" | "A" | "B"),
        "variant of {id}"
    );
}

fn ids(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payment_succeeds_at_rate_one() {
    let stack = Stack::start().await;
    let (status, payment) = stack
        .send_raw(
            Method::POST,
            &format!("{}/payments", stack.payment),
            r#"{"order_id": 1, "amount": 10.50}"#,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{payment}");
    assert_uuid_v4(payment["id"].as_str().unwrap());
    assert_eq!(payment["order_id"], 1);
    assert_eq!(num(&payment["amount"]), "10.50");
    assert_eq!(payment["status"], "success");
    let at = payment["created_at"].as_str().unwrap();
    assert!(at.ends_with('Z') || at.ends_with("+00:00"), "{at}");

    let (status, stored) = stack
        .get(&format!(
            "{}/payments/{}",
            stack.payment,
            payment["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{stored}");
    assert_eq!(stored, payment);

    // Exact cents both ways.
    let tiny = create(&stack, json!({"order_id": 2, "amount": 0.1})).await;
    assert_eq!(num(&tiny["amount"]), "0.10");
    let other = create(&stack, json!({"order_id": 3, "amount": 3})).await;
    assert_ne!(other["id"], tiny["id"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payment_fails_at_rate_zero_and_is_recorded() {
    let stack = Stack::start_with(Options {
        payment_success_rate: 0.0,
        ..Options::default()
    })
    .await;
    let payment = create(&stack, json!({"order_id": 7, "amount": 10.5})).await;
    assert_eq!(payment["status"], "failed");
    assert_uuid_v4(payment["id"].as_str().unwrap());
    assert_eq!(num(&payment["amount"]), "10.50");
    let (status, stored) = stack
        .get(&format!("{}/payments/order/7", stack.payment))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(stored, payment);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_payments_are_422_and_store_nothing() {
    let stack = Stack::start().await;
    create(&stack, json!({"order_id": 1, "amount": 1})).await;
    let before = all_payments(&stack).await;
    for body in [
        r#"{"order_id": 1, "amount": -1}"#,
        r#"{"order_id": 1, "amount": -0.01}"#,
        r#"{"order_id": 1, "amount": 10.505}"#,
        r#"{"order_id": 1, "amount": "10.50"}"#,
        r#"{"order_id": 1, "amount": 1e400}"#,
        r#"{"order_id": 1}"#,
        r#"{"amount": 10.5}"#,
        r#"{"order_id": 0, "amount": 10.5}"#,
        r#"{"order_id": -3, "amount": 10.5}"#,
        r#"{"order_id": 99999999999999999999999, "amount": 10.5}"#,
        r#"{"order_id": "1", "amount": 10.5}"#,
        r#"{"order_id": 1.5, "amount": 10.5}"#,
        r#"{"order_id": 1, "amount":"#,
        "",
        "[]",
    ] {
        let (status, answer) = stack
            .send_raw(Method::POST, &format!("{}/payments", stack.payment), body)
            .await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "body {body}: {answer}"
        );
        detail(status, &answer, StatusCode::UNPROCESSABLE_ENTITY);
    }
    assert_eq!(all_payments(&stack).await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_payment_is_404() {
    let stack = Stack::start().await;
    for id in ["00000000-0000-4000-8000-000000000000", "not-a-uuid"] {
        let (status, body) = stack.get(&format!("{}/payments/{id}", stack.payment)).await;
        detail(status, &body, StatusCode::NOT_FOUND);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_latest_payment_of_an_order() {
    // Several attempts per order: declined ones (an order has one success).
    let stack = Stack::start_with(Options {
        payment_success_rate: 0.0,
        ..Options::default()
    })
    .await;
    let p = &stack.payment;
    create(&stack, json!({"order_id": 5, "amount": 1})).await;
    create(&stack, json!({"order_id": 5, "amount": 2})).await;
    create(&stack, json!({"order_id": 6, "amount": 9})).await;
    let last = create(&stack, json!({"order_id": 5, "amount": 3})).await;
    create(&stack, json!({"order_id": 6, "amount": 8})).await;

    let (status, latest) = stack.get(&format!("{p}/payments/order/5")).await;
    assert_eq!(status, StatusCode::OK, "{latest}");
    assert_eq!(latest, last);
    assert_eq!(num(&latest["amount"]), "3.00");

    let (status, body) = stack.get(&format!("{p}/payments/order/42")).await;
    let why = detail(status, &body, StatusCode::NOT_FOUND);
    assert!(why.contains("42"), "{why}");
    let (status, body) = stack.get(&format!("{p}/payments/order/abc")).await;
    detail(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payments_are_listed_newest_first() {
    // Several attempts per order: declined ones (an order has one success).
    let stack = Stack::start_with(Options {
        payment_success_rate: 0.0,
        ..Options::default()
    })
    .await;
    let p = &stack.payment;
    let first = create(&stack, json!({"order_id": 9, "amount": 1})).await;
    let other = create(&stack, json!({"order_id": 10, "amount": 1})).await;
    let second = create(&stack, json!({"order_id": 9, "amount": 2})).await;
    let third = create(&stack, json!({"order_id": 9, "amount": 3})).await;

    let (status, list) = stack.get(&format!("{p}/payments?order_id=9")).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(
        ids(&list),
        [&third["id"], &second["id"], &first["id"]].map(|v| v.as_str().unwrap().to_owned())
    );

    let all = all_payments(&stack).await;
    assert_eq!(
        ids(&all),
        [&third["id"], &second["id"], &other["id"], &first["id"]]
            .map(|v| v.as_str().unwrap().to_owned())
    );
    let (_, page) = stack
        .get(&format!("{p}/payments?order_id=9&skip=1&limit=1"))
        .await;
    assert_eq!(ids(&page), [second["id"].as_str().unwrap()]);
    let (status, none) = stack.get(&format!("{p}/payments?order_id=11")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(none, json!([]));

    for query in [
        "limit=1001",
        "limit=-1",
        "skip=-1",
        "order_id=abc",
        "limit=x",
    ] {
        let (status, body) = stack.get(&format!("{p}/payments?{query}")).await;
        detail(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payment_ops_endpoints() {
    let stack = Stack::start().await;
    check_ops(
        &stack,
        &stack.payment,
        "payment",
        "/payments",
        "/payments",
        &[
            "/payments",
            "/payments/{payment_id}",
            "/payments/order/{order_id}",
        ],
        "/payments",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_json_array_body_is_not_a_payment() {
    let stack = Stack::start().await;
    let (status, answer) = stack
        .send_raw(
            Method::POST,
            &format!("{}/payments", stack.payment),
            "[1, 10.5]",
        )
        .await;
    detail(status, &answer, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(all_payments(&stack).await, json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_payment_with_the_same_idempotency_key_charges_once() {
    let stack = Stack::start().await;
    let url = format!("{}/payments", stack.payment);
    let body = json!({"order_id": 3, "amount": 12.34});
    let (status, first) = stack
        .send_with_key(Method::POST, &url, "pay-3", Some(body.clone()))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    let (status, retry) = stack
        .send_with_key(Method::POST, &url, "pay-3", Some(body))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{retry}");
    assert_eq!(retry, first);
    assert_eq!(all_payments(&stack).await.as_array().unwrap().len(), 1);

    let (status, answer) = stack
        .send_with_key(
            Method::POST,
            &url,
            "pay-3",
            Some(json!({"order_id": 3, "amount": 99})),
        )
        .await;
    detail(status, &answer, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(all_payments(&stack).await.as_array().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_is_charged_at_most_once() {
    let stack = Stack::start().await;
    let first = create(&stack, json!({"order_id": 4, "amount": 5})).await;
    assert_eq!(first["status"], "success");
    let (status, body) = stack
        .post(
            &format!("{}/payments", stack.payment),
            json!({"order_id": 4, "amount": 5}),
        )
        .await;
    let why = detail(status, &body, StatusCode::CONFLICT);
    assert!(why.contains(first["id"].as_str().unwrap()), "{why}");
    let (_, list) = stack
        .get(&format!("{}/payments?order_id=4", stack.payment))
        .await;
    assert_eq!(ids(&list), [first["id"].as_str().unwrap()]);
}
