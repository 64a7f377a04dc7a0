//! The order service: checkout, listing, the status machine and payment.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{check_ops, dead_url, detail, expect_rejected, hung_url, num, Options, Stack};

/// Every order, newest first (to compare before and after).
async fn all_orders(stack: &Stack) -> Value {
    Value::Array(
        stack
            .list(&format!("{}/orders?limit=1000", stack.order))
            .await,
    )
}

async fn order_of(stack: &Stack, id: i64) -> Value {
    let (status, order) = stack.get(&format!("{}/orders/{id}", stack.order)).await;
    assert_eq!(status, StatusCode::OK, "{order}");
    order
}

async fn cart_of(stack: &Stack, user: &str) -> Value {
    let (status, cart) = stack.get(&format!("{}/cart/{user}", stack.cart)).await;
    assert_eq!(status, StatusCode::OK, "{cart}");
    cart
}

fn ids(list: &Value) -> Vec<i64> {
    list.as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|o| o["id"].as_i64().unwrap())
        .collect()
}

/// A pending order of `user` for one mouse; returns its id.
async fn pending_order(stack: &Stack, user: &str) -> i64 {
    stack.add_to_cart(user, 2, 1).await;
    stack.place_order(user).await["id"].as_i64().unwrap()
}

async fn payments_of(stack: &Stack, id: i64) -> Value {
    let (status, payments) = stack
        .get(&format!("{}/payments?order_id={id}", stack.payment))
        .await;
    assert_eq!(status, StatusCode::OK, "{payments}");
    payments
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkout_creates_a_pending_order_and_empties_the_cart() {
    let stack = Stack::start().await;
    let dime = stack.product("Dime", "0.1", 10).await;
    let fifth = stack.product("Fifth", "0.2", 10).await;
    stack.add_to_cart("olga", dime, 1).await;
    stack.add_to_cart("olga", fifth, 1).await;
    stack.add_to_cart("olga", 3, 2).await;

    let (status, order) = stack
        .post(
            &format!("{}/orders", stack.order),
            json!({"user_id": "olga"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{order}");
    assert_eq!(order["user_id"], "olga");
    assert_eq!(order["status"], "pending");
    assert_eq!(order["payment_id"], Value::Null);
    // 0.10 + 0.20 + 2 x 79.99
    assert_eq!(num(&order["total_amount"]), "160.28");
    let items = order["items"].as_array().unwrap();
    assert_eq!(items.len(), 3, "{order}");
    assert_eq!(items[0]["product_id"], dime);
    assert_eq!(items[0]["product_name"], "Dime");
    assert_eq!(items[0]["quantity"], 1);
    assert_eq!(num(&items[0]["price"]), "0.10");
    assert_eq!(items[1]["product_name"], "Fifth");
    assert_eq!(num(&items[1]["price"]), "0.20");
    assert_eq!(items[2]["product_id"], 3);
    assert_eq!(items[2]["product_name"], "Keyboard");
    assert_eq!(items[2]["quantity"], 2);
    assert_eq!(num(&items[2]["price"]), "79.99");
    for field in ["created_at", "updated_at"] {
        let at = order[field].as_str().unwrap();
        assert!(at.ends_with('Z') || at.ends_with("+00:00"), "{field}: {at}");
    }

    let id = order["id"].as_i64().unwrap();
    assert_eq!(order_of(&stack, id).await, order);
    let cart = cart_of(&stack, "olga").await;
    assert_eq!(cart["items"], json!([]), "{cart}");
    assert_eq!(num(&cart["total"]), "0.00");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_takes_the_catalog_price_at_order_time() {
    let stack = Stack::start().await;
    let pen = stack.product("Pen", "10.00", 10).await;
    stack.add_to_cart("pat", pen, 3).await;
    let (status, _) = stack
        .put(
            &format!("{}/products/{pen}", stack.catalog),
            json!({"price": 12.5}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let order = stack.place_order("pat").await;
    assert_eq!(num(&order["items"][0]["price"]), "12.50");
    assert_eq!(num(&order["total_amount"]), "37.50");

    // A later price change does not touch the order.
    let (status, _) = stack
        .put(
            &format!("{}/products/{pen}", stack.catalog),
            json!({"price": 1}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let stored = order_of(&stack, order["id"].as_i64().unwrap()).await;
    assert_eq!(num(&stored["total_amount"]), "37.50");
    assert_eq!(num(&stored["items"][0]["price"]), "12.50");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_cart_cannot_be_ordered() {
    let stack = Stack::start().await;
    let (status, body) = stack
        .post(
            &format!("{}/orders", stack.order),
            json!({"user_id": "quinn"}),
        )
        .await;
    assert_eq!(
        detail(status, &body, StatusCode::BAD_REQUEST),
        "Cart is empty"
    );
    assert_eq!(all_orders(&stack).await, json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_order_bodies_are_422_and_create_nothing() {
    let stack = Stack::start().await;
    stack.add_to_cart("rita", 1, 1).await;
    let cart_before = cart_of(&stack, "rita").await;
    let long = format!(r#"{{"user_id": "{}"}}"#, "u".repeat(129));
    for body in [
        "{}",
        r#"{"user_id": ""}"#,
        r#"{"user_id": 5}"#,
        r#"{"user_id": null}"#,
        long.as_str(),
        r#"{"user_id":"#,
        "",
        "[]",
    ] {
        let (status, answer) = stack
            .send_raw(
                Method::POST,
                &format!("{}/orders", stack.order),
                body.to_owned(),
            )
            .await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "body {body}: {answer}"
        );
        detail(status, &answer, StatusCode::UNPROCESSABLE_ENTITY);
    }
    assert_eq!(all_orders(&stack).await, json!([]));
    assert_eq!(cart_of(&stack, "rita").await, cart_before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_product_deleted_after_adding_is_409_and_nothing_changes() {
    let stack = Stack::start().await;
    let gone = stack.product("Gone", "5.00", 5).await;
    stack.add_to_cart("sam", 2, 1).await;
    stack.add_to_cart("sam", gone, 1).await;
    let (status, _) = stack
        .delete(&format!("{}/products/{gone}", stack.catalog))
        .await;
    assert_eq!(status, StatusCode::OK);
    let cart_before = cart_of(&stack, "sam").await;

    let (status, body) = stack
        .post(
            &format!("{}/orders", stack.order),
            json!({"user_id": "sam"}),
        )
        .await;
    let why = detail(status, &body, StatusCode::CONFLICT);
    assert!(why.contains(&gone.to_string()), "{why}");
    assert_eq!(all_orders(&stack).await, json!([]));
    assert_eq!(cart_of(&stack, "sam").await, cart_before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_are_listed_newest_first_and_paged() {
    let stack = Stack::start().await;
    let a = pending_order(&stack, "u1").await;
    let b = pending_order(&stack, "u2").await;
    let c = pending_order(&stack, "u1").await;
    let o = &stack.order;

    assert_eq!(ids(&all_orders(&stack).await), [c, b, a]);
    let (status, page) = stack.get(&format!("{o}/orders?skip=1&limit=1")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ids(&page), [b]);
    let (_, page) = stack.get(&format!("{o}/orders?limit=2")).await;
    assert_eq!(ids(&page), [c, b]);
    let (_, page) = stack.get(&format!("{o}/orders?skip=3")).await;
    assert_eq!(page, json!([]));

    for query in ["limit=1001", "limit=-1", "skip=-1", "limit=abc"] {
        let (status, body) = stack.get(&format!("{o}/orders?{query}")).await;
        detail(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_one_order() {
    let stack = Stack::start().await;
    let id = pending_order(&stack, "tom").await;
    let o = &stack.order;
    let order = order_of(&stack, id).await;
    assert_eq!(order["id"], id);
    assert_eq!(order["user_id"], "tom");

    let (status, body) = stack.get(&format!("{o}/orders/999")).await;
    let why = detail(status, &body, StatusCode::NOT_FOUND);
    assert!(why.contains("999"), "{why}");
    for bad in ["abc", "99999999999999999999999"] {
        let (status, body) = stack.get(&format!("{o}/orders/{bad}")).await;
        detail(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_users_orders_newest_first_and_only_theirs() {
    let stack = Stack::start().await;
    let mut mine = Vec::new();
    for _ in 0..3 {
        mine.push(pending_order(&stack, "uma").await);
        pending_order(&stack, "victor").await;
    }
    let (status, orders) = stack.get(&format!("{}/orders/user/uma", stack.order)).await;
    assert_eq!(status, StatusCode::OK, "{orders}");
    let listed = ids(&orders);
    mine.reverse();
    assert_eq!(listed, mine);
    assert!(listed.windows(2).all(|w| w[0] > w[1]), "{listed:?}");
    assert!(orders
        .as_array()
        .unwrap()
        .iter()
        .all(|o| o["user_id"] == "uma"));

    let (_, page) = stack
        .get(&format!("{}/orders/user/uma?skip=1&limit=1", stack.order))
        .await;
    assert_eq!(ids(&page), [mine[1]]);
    let (status, none) = stack
        .get(&format!("{}/orders/user/nobody", stack.order))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(none, json!([]));
    let (status, body) = stack
        .get(&format!("{}/orders/user/uma?limit=1001", stack.order))
        .await;
    detail(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_changes_by_body_or_query() {
    let stack = Stack::start().await;
    let id = pending_order(&stack, "walt").await;
    let before = order_of(&stack, id).await;

    let (status, order) = stack.set_status(id, "confirmed").await;
    assert_eq!(status, StatusCode::OK, "{order}");
    assert_eq!(order["status"], "confirmed");
    assert_eq!(order["id"], id);
    assert_eq!(order["total_amount"], before["total_amount"]);
    assert_eq!(order_of(&stack, id).await, order);

    let other = pending_order(&stack, "walt").await;
    let (status, order) = stack
        .send(
            Method::PUT,
            &format!("{}/orders/{other}/status?status=confirmed", stack.order),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{order}");
    assert_eq!(order["status"], "confirmed");
    let (status, order) = stack
        .send(
            Method::PUT,
            &format!("{}/orders/{other}/status?status=cancelled", stack.order),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{order}");
    assert_eq!(order_of(&stack, other).await["status"], "cancelled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setting_the_same_status_again_is_a_no_op() {
    let stack = Stack::start().await;
    let id = pending_order(&stack, "xena").await;
    let (status, confirmed) = stack.set_status(id, "confirmed").await;
    assert_eq!(status, StatusCode::OK);
    let (status, again) = stack.set_status(id, "confirmed").await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again, confirmed);
    assert_eq!(again["updated_at"], confirmed["updated_at"]);
    assert_eq!(order_of(&stack, id).await, confirmed);

    let fresh = pending_order(&stack, "xena").await;
    let before = order_of(&stack, fresh).await;
    let (status, same) = stack.set_status(fresh, "pending").await;
    assert_eq!(status, StatusCode::OK, "{same}");
    assert_eq!(same, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn illegal_transitions_are_400_naming_both_states() {
    let stack = Stack::start().await;
    let id = pending_order(&stack, "yuri").await;
    let before = order_of(&stack, id).await;
    for next in ["shipped", "processing", "delivered"] {
        let (status, body) = stack.set_status(id, next).await;
        let why = detail(status, &body, StatusCode::BAD_REQUEST);
        assert!(why.contains("pending") && why.contains(next), "{why}");
    }
    assert_eq!(order_of(&stack, id).await, before);

    // Confirmed cannot go back to pending.
    stack.set_status(id, "confirmed").await;
    let confirmed = order_of(&stack, id).await;
    let (status, body) = stack.set_status(id, "pending").await;
    let why = detail(status, &body, StatusCode::BAD_REQUEST);
    assert!(
        why.contains("confirmed") && why.contains("pending"),
        "{why}"
    );
    assert_eq!(order_of(&stack, id).await, confirmed);

    // Paid (by hand) only from pending or confirmed.
    stack.set_status(id, "cancelled").await;
    let cancelled = order_of(&stack, id).await;
    let (status, body) = stack.set_status(id, "paid").await;
    let why = detail(status, &body, StatusCode::BAD_REQUEST);
    assert!(why.contains("cancelled") && why.contains("paid"), "{why}");
    assert_eq!(order_of(&stack, id).await, cancelled);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_status_requests_are_422_or_404() {
    let stack = Stack::start().await;
    let id = pending_order(&stack, "zoe").await;
    let before = order_of(&stack, id).await;
    let url = format!("{}/orders/{id}/status", stack.order);
    for (query, body) in [
        ("", Some(r#"{"status": "lost"}"#)),
        ("?status=lost", None),
        ("", None),
        ("", Some("{}")),
        ("", Some(r#"{"status": 1}"#)),
        ("", Some(r#"{"status": "CONFIRMED"}"#)),
        ("", Some(r#"{"status":"#)),
    ] {
        expect_rejected(
            &stack,
            Method::PUT,
            &format!("{url}{query}"),
            body.map(str::to_owned),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
    assert_eq!(order_of(&stack, id).await, before);

    let (status, body) = stack.set_status(999, "confirmed").await;
    detail(status, &body, StatusCode::NOT_FOUND);
    let (status, body) = stack
        .put(
            &format!("{}/orders/abc/status", stack.order),
            json!({"status": "confirmed"}),
        )
        .await;
    detail(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(all_orders(&stack).await.as_array().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_and_delivered_are_final() {
    let stack = Stack::start().await;
    let cancelled = pending_order(&stack, "amy").await;
    let (status, _) = stack.set_status(cancelled, "cancelled").await;
    assert_eq!(status, StatusCode::OK);
    let before = order_of(&stack, cancelled).await;
    for next in ["pending", "confirmed", "processing", "shipped", "delivered"] {
        let (status, body) = stack.set_status(cancelled, next).await;
        let why = detail(status, &body, StatusCode::BAD_REQUEST);
        assert!(why.contains("cancelled") && why.contains(next), "{why}");
    }
    assert_eq!(order_of(&stack, cancelled).await, before);

    let delivered = pending_order(&stack, "amy").await;
    let (status, paid) = stack.pay(delivered).await;
    assert_eq!(status, StatusCode::OK, "{paid}");
    for next in ["processing", "shipped", "delivered"] {
        let (status, order) = stack.set_status(delivered, next).await;
        assert_eq!(status, StatusCode::OK, "{next}: {order}");
        assert_eq!(order["status"], next);
    }
    let before = order_of(&stack, delivered).await;
    for next in ["pending", "confirmed", "processing", "shipped", "cancelled"] {
        let (status, body) = stack.set_status(delivered, next).await;
        let why = detail(status, &body, StatusCode::BAD_REQUEST);
        assert!(why.contains("delivered") && why.contains(next), "{why}");
    }
    assert_eq!(order_of(&stack, delivered).await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shipped_orders_cannot_be_cancelled() {
    let stack = Stack::start().await;
    let id = pending_order(&stack, "ben").await;
    let (status, _) = stack.pay(id).await;
    assert_eq!(status, StatusCode::OK);
    for next in ["processing", "shipped"] {
        let (status, _) = stack.set_status(id, next).await;
        assert_eq!(status, StatusCode::OK);
    }
    let before = order_of(&stack, id).await;
    let (status, body) = stack.set_status(id, "cancelled").await;
    let why = detail(status, &body, StatusCode::BAD_REQUEST);
    assert!(
        why.contains("shipped") && why.contains("cancelled"),
        "{why}"
    );
    assert_eq!(order_of(&stack, id).await, before);

    // A paid order can still be cancelled.
    let other = pending_order(&stack, "ben").await;
    let (status, _) = stack.pay(other).await;
    assert_eq!(status, StatusCode::OK);
    let (status, order) = stack.set_status(other, "cancelled").await;
    assert_eq!(status, StatusCode::OK, "{order}");
    assert_eq!(order["status"], "cancelled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paying_marks_the_order_paid_with_the_payment_id() {
    let stack = Stack::start().await;
    let id = pending_order(&stack, "cleo").await;
    let (status, paid) = stack.pay(id).await;
    assert_eq!(status, StatusCode::OK, "{paid}");
    assert_eq!(paid["status"], "paid");
    assert_eq!(paid["id"], id);
    let payment_id = paid["payment_id"].as_str().expect("payment_id set");
    assert_eq!(order_of(&stack, id).await, paid);

    let (status, payment) = stack
        .get(&format!("{}/payments/order/{id}", stack.payment))
        .await;
    assert_eq!(status, StatusCode::OK, "{payment}");
    assert_eq!(payment["id"], payment_id);
    assert_eq!(payment["status"], "success");
    assert_eq!(payment["order_id"], id);
    assert_eq!(num(&payment["amount"]), "29.99");

    // Paying again: 400, no second payment, order unchanged.
    let (status, body) = stack.pay(id).await;
    let why = detail(status, &body, StatusCode::BAD_REQUEST);
    assert!(why.contains("paid"), "{why}");
    assert_eq!(payments_of(&stack, id).await.as_array().unwrap().len(), 1);
    assert_eq!(order_of(&stack, id).await, paid);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_confirmed_order_can_be_paid() {
    let stack = Stack::start().await;
    let id = pending_order(&stack, "dan").await;
    stack.set_status(id, "confirmed").await;
    let (status, paid) = stack.pay(id).await;
    assert_eq!(status, StatusCode::OK, "{paid}");
    assert_eq!(paid["status"], "paid");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declined_payment_is_400_and_the_order_stays_pending() {
    let stack = Stack::start_with(Options {
        payment_success_rate: 0.0,
        ..Options::default()
    })
    .await;
    let id = pending_order(&stack, "eli").await;
    let before = order_of(&stack, id).await;
    let (status, body) = stack.pay(id).await;
    assert_eq!(
        detail(status, &body, StatusCode::BAD_REQUEST),
        "Payment failed"
    );
    let after = order_of(&stack, id).await;
    assert_eq!(after, before);
    assert_eq!(after["status"], "pending");
    assert_eq!(after["payment_id"], Value::Null);

    let payments = payments_of(&stack, id).await;
    let payments = payments.as_array().unwrap();
    assert_eq!(payments.len(), 1, "{payments:?}");
    assert_eq!(payments[0]["status"], "failed");
    assert_eq!(payments[0]["order_id"], id);
    assert_eq!(num(&payments[0]["amount"]), "29.99");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unpayable_and_missing_orders() {
    let stack = Stack::start().await;
    let id = pending_order(&stack, "fay").await;
    stack.set_status(id, "cancelled").await;
    let before = order_of(&stack, id).await;
    let (status, body) = stack.pay(id).await;
    let why = detail(status, &body, StatusCode::BAD_REQUEST);
    assert!(why.contains("cancelled"), "{why}");
    assert_eq!(order_of(&stack, id).await, before);
    assert_eq!(payments_of(&stack, id).await, json!([]));

    let (status, body) = stack.pay(999).await;
    detail(status, &body, StatusCode::NOT_FOUND);
    assert_eq!(payments_of(&stack, 999).await, json!([]));
    let (status, body) = stack.pay(-1).await;
    detail(status, &body, StatusCode::NOT_FOUND);
    let (status, body) = stack
        .send(
            Method::POST,
            &format!("{}/orders/abc/payment", stack.order),
            None,
        )
        .await;
    detail(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payment_service_down_is_503_and_the_order_stays_pending() {
    let stack = Stack::start_with(Options {
        extra_env: vec![("PAYMENT_SERVICE_URL", dead_url().await)],
        ..Options::default()
    })
    .await;
    let id = pending_order(&stack, "gus").await;
    let before = order_of(&stack, id).await;
    let (status, body) = stack.pay(id).await;
    detail(status, &body, StatusCode::SERVICE_UNAVAILABLE);
    let after = order_of(&stack, id).await;
    assert_eq!(after, before);
    assert_eq!(after["status"], "pending");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn order_ops_endpoints() {
    let stack = Stack::start().await;
    check_ops(
        &stack,
        &stack.order,
        "order",
        "/orders/1",
        "/orders/{order_id}",
        &[
            "/orders",
            "/orders/{order_id}",
            "/orders/user/{user_id}",
            "/orders/{order_id}/status",
            "/orders/{order_id}/payment",
        ],
        "/orders",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_ids_with_special_characters_order_their_own_cart() {
    let stack = Stack::start().await;
    stack.add_to_cart("victim", 1, 1).await;
    stack.add_to_cart("victim%23", 2, 2).await;
    stack.add_to_cart("a%2Fb%3Fx%3D1", 3, 1).await;
    let victim_before = cart_of(&stack, "victim").await;

    let order = stack.place_order("victim#").await;
    assert_eq!(order["user_id"], "victim#");
    assert_eq!(order["items"].as_array().unwrap().len(), 1, "{order}");
    assert_eq!(order["items"][0]["product_id"], 2);
    assert_eq!(cart_of(&stack, "victim%23").await["items"], json!([]));
    assert_eq!(cart_of(&stack, "victim").await, victim_before);

    let order = stack.place_order("a/b?x=1").await;
    assert_eq!(order["items"][0]["product_id"], 3);
    assert_eq!(cart_of(&stack, "a%2Fb%3Fx%3D1").await["items"], json!([]));

    let (status, orders) = stack
        .get(&format!("{}/orders/user/victim%23", stack.order))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(orders.as_array().unwrap().len(), 1, "{orders}");
    let (_, orders) = stack
        .get(&format!("{}/orders/user/victim", stack.order))
        .await;
    assert_eq!(orders, json!([]));
    let (status, body) = stack
        .get(&format!("{}/orders/user/{}", stack.order, "u".repeat(129)))
        .await;
    detail(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_array_bodies_are_422_and_change_nothing() {
    let stack = Stack::start().await;
    let id = pending_order(&stack, "arr").await;
    stack.add_to_cart("arr", 1, 1).await;
    let orders_before = all_orders(&stack).await;
    let cart_before = cart_of(&stack, "arr").await;
    for (method, path, body) in [
        (Method::POST, "/orders".to_owned(), r#"["arr"]"#),
        (
            Method::PUT,
            format!("/orders/{id}/status"),
            r#"["confirmed"]"#,
        ),
    ] {
        let (status, answer) = stack
            .send_raw(method, &format!("{}{path}", stack.order), body)
            .await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{path} {body}: {answer}"
        );
        detail(status, &answer, StatusCode::UNPROCESSABLE_ENTITY);
    }
    assert_eq!(all_orders(&stack).await, orders_before);
    assert_eq!(cart_of(&stack, "arr").await, cart_before);
}

async fn stock_of(stack: &Stack, product: i64) -> i64 {
    let (status, product) = stack
        .get(&format!("{}/products/{product}", stack.catalog))
        .await;
    assert_eq!(status, StatusCode::OK, "{product}");
    product["stock"].as_i64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkout_reserves_stock_and_cancelling_returns_it() {
    let stack = Stack::start().await;
    let pen = stack.product("Pen", "1.00", 5).await;
    stack.add_to_cart("hal", pen, 3).await;
    let order = stack.place_order("hal").await;
    assert_eq!(stock_of(&stack, pen).await, 2);
    let id = order["id"].as_i64().unwrap();
    let (status, _) = stack.set_status(id, "cancelled").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(stock_of(&stack, pen).await, 5);
    // Exactly once.
    let (status, _) = stack.set_status(id, "cancelled").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(stock_of(&stack, pen).await, 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_beyond_the_stock_is_409_and_changes_nothing() {
    let stack = Stack::start().await;
    let pen = stack.product("Pen", "1.00", 5).await;
    let ink = stack.product("Ink", "2.00", 5).await;
    stack.add_to_cart("ida", ink, 2).await;
    stack.add_to_cart("ida", pen, 4).await;
    let (status, _) = stack
        .put(
            &format!("{}/products/{pen}", stack.catalog),
            json!({"stock": 3}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let cart_before = cart_of(&stack, "ida").await;

    let (status, body) = stack
        .post(
            &format!("{}/orders", stack.order),
            json!({"user_id": "ida"}),
        )
        .await;
    detail(status, &body, StatusCode::CONFLICT);
    assert_eq!(all_orders(&stack).await, json!([]));
    assert_eq!(cart_of(&stack, "ida").await, cart_before);
    // All or nothing: the ink in stock was not reserved either.
    assert_eq!(stock_of(&stack, pen).await, 3);
    assert_eq!(stock_of(&stack, ink).await, 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_checkouts_never_oversell() {
    let stack = Stack::start().await;
    let last = stack.product("Last one", "9.00", 1).await;
    let users: Vec<String> = (0..4).map(|i| format!("rush{i}")).collect();
    for user in &users {
        stack.add_to_cart(user, last, 1).await;
    }
    let url = format!("{}/orders", stack.order);
    let answers = futures::future::join_all(
        users
            .iter()
            .map(|user| stack.post(&url, json!({"user_id": user}))),
    )
    .await;
    let created = answers
        .iter()
        .filter(|(status, _)| *status == StatusCode::CREATED)
        .count();
    assert_eq!(created, 1, "{answers:?}");
    for (status, body) in answers.iter().filter(|(s, _)| *s != StatusCode::CREATED) {
        detail(*status, body, StatusCode::CONFLICT);
    }
    assert_eq!(all_orders(&stack).await.as_array().unwrap().len(), 1);
    assert_eq!(stock_of(&stack, last).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_payments_charge_once() {
    let stack = Stack::start().await;
    let id = pending_order(&stack, "jon").await;
    let answers = futures::future::join_all((0..8).map(|_| stack.pay(id))).await;
    let paid: Vec<_> = answers
        .iter()
        .filter(|(status, _)| *status == StatusCode::OK)
        .collect();
    assert_eq!(paid.len(), 1, "{answers:?}");
    for (status, body) in answers.iter().filter(|(s, _)| *s != StatusCode::OK) {
        assert!(
            *status == StatusCode::BAD_REQUEST || *status == StatusCode::CONFLICT,
            "{status}: {body}"
        );
        detail(*status, body, *status);
    }
    let payments = payments_of(&stack, id).await;
    let successes: Vec<_> = payments
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["status"] == "success")
        .collect();
    assert_eq!(successes.len(), 1, "{payments}");
    assert_eq!(order_of(&stack, id).await["payment_id"], successes[0]["id"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_checkout_with_the_same_idempotency_key_orders_once() {
    let stack = Stack::start().await;
    stack.add_to_cart("kay", 2, 1).await;
    let url = format!("{}/orders", stack.order);
    let body = json!({"user_id": "kay"});
    let (status, first) = stack
        .send_with_key(Method::POST, &url, "order-kay", Some(body.clone()))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    stack.add_to_cart("kay", 3, 1).await;
    let (status, retry) = stack
        .send_with_key(Method::POST, &url, "order-kay", Some(body))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{retry}");
    assert_eq!(retry, first);
    assert_eq!(all_orders(&stack).await.as_array().unwrap().len(), 1);
    assert_eq!(cart_of(&stack, "kay").await["items"][0]["product_id"], 3);

    // The same key from another user is another key: no replay of kay's
    // order, and someone-else's own (empty) cart answers.
    let (status, answer) = stack
        .send_with_key(
            Method::POST,
            &url,
            "order-kay",
            Some(json!({"user_id": "someone-else"})),
        )
        .await;
    assert_eq!(
        detail(status, &answer, StatusCode::BAD_REQUEST),
        "Cart is empty"
    );
    assert_eq!(all_orders(&stack).await.as_array().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_payment_with_the_same_idempotency_key_answers_the_same() {
    let stack = Stack::start().await;
    let id = pending_order(&stack, "lou").await;
    let url = format!("{}/orders/{id}/payment", stack.order);
    let (status, first) = stack
        .send_with_key(Method::POST, &url, "pay-lou", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let (status, retry) = stack
        .send_with_key(Method::POST, &url, "pay-lou", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{retry}");
    assert_eq!(retry, first);
    assert_eq!(payments_of(&stack, id).await.as_array().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payment_service_that_hangs_is_503_and_the_order_stays_pending() {
    let stack = Stack::start_with(Options {
        extra_env: vec![
            ("PAYMENT_SERVICE_URL", hung_url().await),
            ("HTTP_REQUEST_TIMEOUT_MS", "500".to_owned()),
        ],
        ..Options::default()
    })
    .await;
    let id = pending_order(&stack, "hung").await;
    let before = order_of(&stack, id).await;
    let started = std::time::Instant::now();
    let (status, body) = stack.pay(id).await;
    detail(status, &body, StatusCode::SERVICE_UNAVAILABLE);
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    assert_eq!(order_of(&stack, id).await, before);
}
