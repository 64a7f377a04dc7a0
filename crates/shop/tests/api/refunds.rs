//! Refunds: cancelling a `paid` or `processing` order refunds its payment
//! in full, exactly once, whatever races it; `order_refunded` says so once;
//! a refund that cannot be made at once is finished by recovery; nobody but
//! the order service can make one.

use std::time::Duration;

use futures::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use shop::services::ServiceName;

use crate::helpers::{assert_valid, dead_url, detail, event_schemas, eventually, Options, Stack};

async fn order(stack: &Stack, id: i64) -> Value {
    let (status, body) = stack.get(&format!("{}/orders/{id}", stack.order)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

async fn payment(stack: &Stack, id: &str) -> Value {
    let (status, body) = stack.get(&format!("{}/payments/{id}", stack.payment)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// The order's events of `event_type`, each checked against its schema.
async fn events_of(stack: &Stack, id: i64, event_type: &str) -> Vec<Value> {
    let schemas = event_schemas();
    let events = stack
        .list(&format!("{}/events?after=0&limit=1000", stack.order))
        .await;
    events
        .into_iter()
        .filter(|e| e["data"]["order_id"] == id)
        .inspect(|e| assert_valid(&schemas, e))
        .filter(|e| e["event_type"] == event_type)
        .collect()
}

/// A paid order of `user` for 3 x 19.99; its id and payment id.
async fn paid_order(stack: &Stack, user: &str) -> (i64, String) {
    let product = stack.product("Teapot", "19.99", 10).await;
    stack.add_to_cart(user, product, 3).await;
    let id = stack.place_order(user).await["id"].as_i64().unwrap();
    let (status, paid) = stack.pay(id).await;
    assert_eq!(status, StatusCode::OK, "{paid}");
    (id, paid["payment_id"].as_str().unwrap().to_owned())
}

/// The refund is recorded on both sides, for the total, and announced once.
async fn assert_refunded_once(stack: &Stack, id: i64, payment_id: &str) {
    let refunded = order(stack, id).await;
    assert_eq!(refunded["status"], "cancelled", "{refunded}");
    assert_eq!(refunded["refund_status"], "refunded", "{refunded}");
    let charged = payment(stack, payment_id).await;
    assert_eq!(
        charged["status"], "success",
        "the charge happened: {charged}"
    );
    let refund = &charged["refund"];
    assert_eq!(refund["amount"], refunded["total_amount"], "{charged}");
    assert_eq!(refund["id"], refunded["refund_id"], "{charged} {refunded}");
    assert_eq!(refund["created_at"], refunded["refunded_at"]);
    let announced = events_of(stack, id, "order_refunded").await;
    assert_eq!(announced.len(), 1, "{announced:?}");
    let data = &announced[0]["data"];
    assert_eq!(data["payment_id"], payment_id);
    assert_eq!(data["refund_id"], refund["id"]);
    assert_eq!(data["total_amount"], refunded["total_amount"]);
    assert_eq!(events_of(stack, id, "order_cancelled").await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_paid_order_refunds_it_once() {
    let stack = Stack::start().await;
    let (paid, payment_id) = paid_order(&stack, "ada").await;
    let (status, body) = stack.set_status(paid, "cancelled").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["refund_status"], "refunded", "{body}");
    assert_refunded_once(&stack, paid, &payment_id).await;
    let refund_id = order(&stack, paid).await["refund_id"].clone();
    // Cancelling again changes nothing and refunds nothing more.
    let (status, again) = stack.set_status(paid, "cancelled").await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["refund_id"], refund_id);
    assert_refunded_once(&stack, paid, &payment_id).await;

    // An order in processing is refunded too.
    let (processing, processing_payment) = paid_order(&stack, "bob").await;
    assert_eq!(
        stack.set_status(processing, "processing").await.0,
        StatusCode::OK
    );
    assert_eq!(
        stack.set_status(processing, "cancelled").await.0,
        StatusCode::OK
    );
    assert_refunded_once(&stack, processing, &processing_payment).await;

    // An unpaid order has nothing to refund, and a shipped one cannot be
    // cancelled: neither is refunded.
    let product = stack.product("Cup", "4.50", 10).await;
    stack.add_to_cart("cy", product, 1).await;
    let unpaid = stack.place_order("cy").await["id"].as_i64().unwrap();
    let (status, cancelled) = stack.set_status(unpaid, "cancelled").await;
    assert_eq!(status, StatusCode::OK, "{cancelled}");
    assert!(cancelled.get("refund_status").is_none(), "{cancelled}");
    assert!(events_of(&stack, unpaid, "order_refunded").await.is_empty());
    let (shipped, shipped_payment) = paid_order(&stack, "dee").await;
    for next in ["processing", "shipped"] {
        assert_eq!(stack.set_status(shipped, next).await.0, StatusCode::OK);
    }
    let (status, body) = stack.set_status(shipped, "cancelled").await;
    detail(status, &body, StatusCode::BAD_REQUEST);
    assert!(payment(&stack, &shipped_payment)
        .await
        .get("refund")
        .is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_cancels_of_a_paid_order_refund_it_once() {
    let stack = Stack::start().await;
    let (id, payment_id) = paid_order(&stack, "ada").await;
    let answers = join_all((0..16).map(|_| stack.set_status(id, "cancelled"))).await;
    for (status, body) in &answers {
        assert_eq!(*status, StatusCode::OK, "{body}");
        assert_eq!(body["status"], "cancelled", "{body}");
    }
    // Every racer may have answered before the winner recorded the refund;
    // the order settles on one refund.
    eventually(Duration::from_secs(10), || async {
        (order(&stack, id).await["refund_status"] == "refunded").then_some(())
    })
    .await;
    assert_refunded_once(&stack, id, &payment_id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refund_the_payment_service_cannot_make_now_is_finished_by_recovery() {
    let stack = Stack::start_with(Options {
        extra_env: vec![
            ("RECOVERY_INTERVAL_MS", "50".to_owned()),
            ("RECOVERY_STALE_MS", "300".to_owned()),
        ],
        ..Options::default()
    })
    .await;
    let (id, payment_id) = paid_order(&stack, "ada").await;
    // A replica of the order service that cannot reach the payment service.
    let cut_off = stack
        .service_with(
            ServiceName::Order,
            &[
                ("PAYMENT_SERVICE_URL", dead_url().await),
                ("RECOVERY_INTERVAL_MS", "60000".to_owned()),
            ],
        )
        .await;
    let (status, body) = stack
        .put(
            &format!("{cut_off}/orders/{id}/status"),
            serde_json::json!({"status": "cancelled"}),
        )
        .await;
    // The cancel stands; the refund is on its way.
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "cancelled", "{body}");
    assert_eq!(body["refund_status"], "pending", "{body}");
    // The other replica's recovery finishes it.
    eventually(Duration::from_secs(10), || async {
        (order(&stack, id).await["refund_status"] == "refunded").then_some(())
    })
    .await;
    assert_refunded_once(&stack, id, &payment_id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_order_service_refunds_and_only_a_cancelled_order() {
    let stack = Stack::start().await;
    let (id, payment_id) = paid_order(&stack, "ada").await;
    let refund = format!("{}/payments/{payment_id}/refund", stack.payment);
    // Not a client: 401 on the service, not routed by the gateway.
    let (status, body) = stack.send(Method::POST, &refund, None).await;
    detail(status, &body, StatusCode::UNAUTHORIZED);
    let through_gateway = format!("{}/api/payment/payments/{payment_id}/refund", stack.gateway);
    let (status, _) = stack.send(Method::POST, &through_gateway, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Even the service credential cannot refund an order that stands.
    let (status, body) = stack.send_as_service(Method::POST, &refund, None).await;
    assert!(
        detail(status, &body, StatusCode::CONFLICT).contains("is paid"),
        "{body}"
    );
    assert!(payment(&stack, &payment_id).await.get("refund").is_none());
    let missing = format!("{}/payments/no-such-payment/refund", stack.payment);
    let (status, body) = stack.send_as_service(Method::POST, &missing, None).await;
    detail(status, &body, StatusCode::NOT_FOUND);

    // A declined payment has nothing to refund.
    let declining = Stack::start_with(Options {
        payment_success_rate: 0.0,
        ..Options::default()
    })
    .await;
    let product = declining.product("Cup", "4.50", 10).await;
    declining.add_to_cart("bob", product, 1).await;
    let unpaid = declining.place_order("bob").await["id"].as_i64().unwrap();
    assert_eq!(declining.pay(unpaid).await.0, StatusCode::BAD_REQUEST);
    let failed = declining
        .list(&format!("{}/payments?order_id={unpaid}", declining.payment))
        .await;
    let failed_id = failed[0]["id"].as_str().unwrap();
    let (status, body) = declining
        .send_as_service(
            Method::POST,
            &format!("{}/payments/{failed_id}/refund", declining.payment),
            None,
        )
        .await;
    assert!(
        detail(status, &body, StatusCode::CONFLICT).contains("failed"),
        "{body}"
    );

    // Once the order is cancelled, asking again answers the one refund.
    assert_eq!(stack.set_status(id, "cancelled").await.0, StatusCode::OK);
    let (status, again) = stack.send_as_service(Method::POST, &refund, None).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["refund"]["id"], order(&stack, id).await["refund_id"]);
    assert_refunded_once(&stack, id, &payment_id).await;
}
