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

/// An order of `user` for `quantity` keyboards (79.99 each); returns its id.
async fn order_of(stack: &Stack, user: &str, quantity: i64) -> i64 {
    stack.add_to_cart(user, 3, quantity).await;
    stack.place_order(user).await["id"].as_i64().unwrap()
}

/// Pays order `id` through the order service; returns its latest payment.
async fn pay(stack: &Stack, id: i64) -> (StatusCode, Value) {
    let (status, answer) = stack.pay(id).await;
    let (found, latest) = stack
        .get(&format!("{}/payments/order/{id}", stack.payment))
        .await;
    assert_eq!(found, StatusCode::OK, "{latest} after {status} {answer}");
    (status, latest)
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
    let id = order_of(&stack, "pia", 2).await;
    let (status, payment) = pay(&stack, id).await;
    assert_eq!(status, StatusCode::OK, "{payment}");
    assert_uuid_v4(payment["id"].as_str().unwrap());
    assert_eq!(payment["order_id"], id);
    assert_eq!(num(&payment["amount"]), "159.98");
    assert_eq!(payment["status"], "success");
    assert_eq!(payment["method"], "card");
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

    // Exact cents.
    let tiny = stack.product("Tiny", "0.1", 5).await;
    stack.add_to_cart("tia", tiny, 3).await;
    let tiny_order = stack.place_order("tia").await["id"].as_i64().unwrap();
    let (_, tiny_payment) = pay(&stack, tiny_order).await;
    assert_eq!(num(&tiny_payment["amount"]), "0.30");
    assert_ne!(tiny_payment["id"], payment["id"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payment_fails_at_rate_zero_and_is_recorded() {
    let stack = Stack::start_with(Options {
        payment_success_rate: 0.0,
        ..Options::default()
    })
    .await;
    let id = order_of(&stack, "fay", 1).await;
    let (status, payment) = pay(&stack, id).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(payment["status"], "failed");
    assert_uuid_v4(payment["id"].as_str().unwrap());
    assert_eq!(num(&payment["amount"]), "79.99");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_payments_are_422_and_store_nothing() {
    let stack = Stack::start().await;
    let id = order_of(&stack, "ivy", 1).await;
    pay(&stack, id).await;
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
        // Even as the order service: the body is checked first.
        let (status, answer) = stack
            .send_raw_as_service(Method::POST, &format!("{}/payments", stack.payment), body)
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

/// Declined attempts of orders `a` and `b`, interleaved: a, b, a, a, b.
async fn declined_attempts(stack: &Stack, a: i64, b: i64) -> Vec<Value> {
    let mut made = Vec::new();
    for id in [a, b, a, a, b] {
        let (status, payment) = pay(stack, id).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{payment}");
        made.push(payment);
    }
    made
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
    let (five, six) = (
        order_of(&stack, "lat", 1).await,
        order_of(&stack, "est", 2).await,
    );
    let made = declined_attempts(&stack, five, six).await;

    let (status, latest) = stack.get(&format!("{p}/payments/order/{five}")).await;
    assert_eq!(status, StatusCode::OK, "{latest}");
    assert_eq!(latest, made[3]);

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
    let (nine, ten) = (
        order_of(&stack, "nin", 1).await,
        order_of(&stack, "ten", 1).await,
    );
    let made = declined_attempts(&stack, nine, ten).await;
    let [first, other, second, third, last] = [0, 1, 2, 3, 4].map(|i| made[i].clone());

    let (status, list) = stack.get(&format!("{p}/payments?order_id={nine}")).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(
        ids(&list),
        [&third["id"], &second["id"], &first["id"]].map(|v| v.as_str().unwrap().to_owned())
    );

    let all = all_payments(&stack).await;
    assert_eq!(
        ids(&all),
        [
            &last["id"],
            &third["id"],
            &second["id"],
            &other["id"],
            &first["id"]
        ]
        .map(|v| v.as_str().unwrap().to_owned())
    );
    let (_, page) = stack
        .get(&format!("{p}/payments?order_id={nine}&skip=1&limit=1"))
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
        .send_raw_as_service(
            Method::POST,
            &format!("{}/payments", stack.payment),
            "[1, 10.5]",
        )
        .await;
    detail(status, &answer, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(all_payments(&stack).await, json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_is_charged_at_most_once() {
    let stack = Stack::start().await;
    let id = order_of(&stack, "once", 1).await;
    let (status, first) = pay(&stack, id).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    // Even the order service itself cannot charge a paid order again.
    let (status, body) = stack
        .send_as_service(
            Method::POST,
            &format!("{}/payments", stack.payment),
            Some(json!({"order_id": id, "amount": 79.99})),
        )
        .await;
    let why = detail(status, &body, StatusCode::BAD_REQUEST);
    assert!(why.starts_with("Order is not in pending status"), "{why}");
    let (_, list) = stack
        .get(&format!("{}/payments?order_id={id}", stack.payment))
        .await;
    assert_eq!(ids(&list), [first["id"].as_str().unwrap()]);
}

/// The seed's way for a client to pay: `POST /payments` with the order and
/// its total, through the gateway. It pays through the order's own flow
/// (claim, at most one charge) and answers the payment, `success` or
/// `failed`, as the seed does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_pay_with_the_seeds_post_payments() {
    let decider = crate::helpers::Switch::approving(false);
    let stack = Stack::start_with(Options {
        payment_decider: Some(decider.clone()),
        ..Options::default()
    })
    .await;
    let id = order_of(&stack, "seedy", 1).await;
    let (_, order) = stack.get(&format!("{}/orders/{id}", stack.order)).await;
    let total = order["total_amount"].clone();
    let url = format!("{}/api/payment/payments", stack.gateway);
    let seed_body = json!({"order_id": id, "amount": total, "payment_method": "credit_card"});

    // Declined: the failed payment is the answer; the order stays payable.
    let (status, failed) = stack.post(&url, seed_body.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{failed}");
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["order_id"], id);
    let (_, order) = stack.get(&format!("{}/orders/{id}", stack.order)).await;
    assert_eq!(order["status"], "pending");

    // Approved: the order is paid with this payment.
    decider.set(true);
    let (status, paid) = stack.post(&url, seed_body.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{paid}");
    assert_eq!(paid["status"], "success");
    assert_eq!(num(&paid["amount"]), num(&total));
    let (_, order) = stack.get(&format!("{}/orders/{id}", stack.order)).await;
    assert_eq!(order["status"], "paid");
    assert_eq!(order["payment_id"], paid["id"]);

    // Never twice; never another amount; never an order that does not exist.
    let (status, body) = stack.post(&url, seed_body).await;
    let message = detail(status, &body, StatusCode::BAD_REQUEST);
    assert!(message.contains("not in pending status"), "{message}");
    let other = order_of(&stack, "seedy2", 1).await;
    let (status, body) = stack
        .post(&url, json!({"order_id": other, "amount": 0.01}))
        .await;
    detail(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, body) = stack
        .post(&url, json!({"order_id": other + 100, "amount": 1}))
        .await;
    detail(status, &body, StatusCode::NOT_FOUND);
    let payments = all_payments(&stack).await;
    let successes: Vec<&Value> = payments
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["order_id"] == id && p["status"] == "success")
        .collect();
    assert_eq!(successes.len(), 1);
    assert!(payments
        .as_array()
        .unwrap()
        .iter()
        .all(|p| p["order_id"] != other));
}

/// What a stand-in order service says of an order's attempt: pending,
/// total 10.00, held by the attempt under `key`. With `gather` set, each
/// answer waits until that many requests asked, so that they race.
#[derive(Default)]
struct StandIn {
    key: std::sync::Mutex<String>,
    gather: std::sync::Mutex<Option<std::sync::Arc<tokio::sync::Barrier>>>,
}

async fn orders_saying(stand_in: std::sync::Arc<StandIn>) -> String {
    use axum::extract::{Path as UrlPath, State as Shared};
    async fn attempt(
        Shared(stand_in): Shared<std::sync::Arc<StandIn>>,
        UrlPath(id): UrlPath<i64>,
    ) -> axum::Json<Value> {
        let key = stand_in.key.lock().unwrap().clone();
        let gather = stand_in.gather.lock().unwrap().clone();
        if let Some(gather) = gather {
            gather.wait().await;
        }
        axum::Json(
            json!({"order_id": id, "user_id": "stand-in", "total_amount": 10.0,
            "status": "pending", "key": key, "method": "card"}),
        )
    }
    let (listener, url) = crate::helpers::listener().await;
    let app = axum::Router::new()
        .route("/orders/{id}/payment-attempt", axum::routing::get(attempt))
        .with_state(stand_in);
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

/// The payment service charges an order at most once even when the order
/// service says the order is unpaid and held by another attempt: a second
/// attempt, approved or declined, stores nothing and is refused naming the
/// payment that stands, and that refusal is its key's answer for good. A
/// key's racing requests store one payment between them and all answer it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paid_order_is_never_charged_again_whatever_its_order_says() {
    use shop::services::ServiceName;
    let stack = Stack::start().await;
    let stand_in = std::sync::Arc::new(StandIn::default());
    let orders = orders_saying(stand_in.clone()).await;
    let mut payments = Vec::new();
    for rate in ["1", "0"] {
        let env = [
            ("ORDER_SERVICE_URL", orders.clone()),
            ("PAYMENT_SUCCESS_RATE", rate.to_owned()),
        ];
        payments.push(stack.service_with(ServiceName::Payment, &env).await);
    }
    let (approving, declining) = (&payments[0], &payments[1]);
    let attempt = |payments: &str, order: i64, attempt: &str| {
        *stand_in.key.lock().unwrap() = attempt.to_owned();
        let request = stack
            .service_http
            .post(format!("{payments}/payments"))
            .header("idempotency-key", attempt)
            .json(&json!({"order_id": order, "amount": 10.0}));
        async move {
            let response = request.send().await.expect("request sent");
            let status = response.status();
            (
                status,
                response.json::<Value>().await.expect("a JSON answer"),
            )
        }
    };
    let stack = &stack;
    let stored = |order: i64| async move {
        let url = format!("{}/payments?order_id={order}", stack.payment);
        ids(&Value::Array(stack.list(&url).await))
    };

    // Six requests of one key, each past its key's lookup before any
    // stores: one payment, one answer.
    for (payments, order, status) in [(approving, 901, "success"), (declining, 902, "failed")] {
        *stand_in.gather.lock().unwrap() = Some(std::sync::Arc::new(tokio::sync::Barrier::new(6)));
        let racing = format!("racing-{order}");
        let answers = futures::future::join_all((0..6).map(|_| attempt(payments, order, &racing)));
        let answers = tokio::time::timeout(std::time::Duration::from_secs(30), answers)
            .await
            .expect("all six asked the stand-in, and were answered");
        *stand_in.gather.lock().unwrap() = None;
        let (code, first) = &answers[0];
        assert_eq!(*code, StatusCode::CREATED, "{first}");
        assert_eq!(first["status"], status);
        assert!(
            answers.iter().all(|answer| answer == &answers[0]),
            "{answers:?}"
        );
        assert_eq!(stored(order).await, [first["id"].as_str().unwrap()]);
    }

    // Order 901 is paid: no other attempt stores anything.
    let (_, paid) = attempt(approving, 901, "racing-901").await;
    let paid = paid["id"].as_str().unwrap().to_owned();
    for (payments, again) in [(approving, "second"), (declining, "third")] {
        let (code, refusal) = attempt(payments, 901, again).await;
        let why = detail(code, &refusal, StatusCode::CONFLICT);
        assert_eq!(why, format!("Order 901 is already paid (payment {paid})"));
        assert_eq!(attempt(payments, 901, again).await, (code, refusal));
    }
    assert_eq!(stored(901).await, [paid]);
}
