//! A purchase from browsing to delivery, through the gateway only: with
//! the services in one process as `shop up` runs them (they call each
//! other in-process), and with them calling each other over HTTP as in
//! separate processes.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{num, Options, Stack};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browse_add_order_pay_and_ship_through_the_gateway() {
    purchase(&Stack::start().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_purchase_with_the_services_calling_over_http() {
    let stack = Stack::start_with(Options {
        over_network: true,
        ..Options::default()
    })
    .await;
    purchase(&stack).await;
}

async fn purchase(stack: &Stack) {
    let api = format!("{}/api", stack.gateway);

    let (status, products) = stack.get(&format!("{api}/catalog/products?search=o")).await;
    assert_eq!(status, StatusCode::OK);
    let names: Vec<&str> = products
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Laptop", "Mouse", "Keyboard", "Monitor"]);

    let user = "buyer";
    for (product_id, quantity) in [(1, 2), (2, 1)] {
        let (status, item) = stack
            .post(
                &format!("{api}/cart/cart/{user}/items"),
                json!({"product_id": product_id, "quantity": quantity}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{item}");
    }
    let (_, cart) = stack.get(&format!("{api}/cart/cart/{user}")).await;
    assert_eq!(num(&cart["total"]), "2029.97");

    let (status, order) = stack
        .post(&format!("{api}/order/orders"), json!({"user_id": user}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{order}");
    assert_eq!(order["status"], "pending");
    assert_eq!(num(&order["total_amount"]), "2029.97");
    let id = order["id"].as_i64().unwrap();

    let (_, cart) = stack.get(&format!("{api}/cart/cart/{user}")).await;
    assert_eq!(cart["items"], json!([]), "the ordered items left the cart");

    let (status, paid) = stack
        .send(
            reqwest::Method::POST,
            &format!("{api}/order/orders/{id}/payment"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{paid}");
    assert_eq!(paid["status"], "paid");
    let (status, payment) = stack
        .get(&format!("{api}/payment/payments/order/{id}"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(payment["id"], paid["payment_id"]);
    assert_eq!(payment["status"], "success");
    assert_eq!(num(&payment["amount"]), "2029.97");

    for next in ["processing", "shipped", "delivered"] {
        let (status, order) = stack
            .send(
                reqwest::Method::PUT,
                &format!("{api}/order/orders/{id}/status"),
                Some(json!({"status": next})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{order}");
        assert_eq!(order["status"], next);
    }
    let (_, history) = stack.get(&format!("{api}/order/orders/user/{user}")).await;
    assert_eq!(history[0]["id"], id);
    assert_eq!(history[0]["status"], "delivered");
}
