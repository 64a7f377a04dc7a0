//! The cart service: lines, quantities, totals, and the catalog behind it.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use shop::services::ServiceName;

use crate::helpers::{
    check_ops, dead_url, detail, expect_rejected, hung_url, num, Options, Readers, Stack,
};

/// A user's cart, asserting a 200.
async fn cart_of(stack: &Stack, user: &str) -> Value {
    let (status, cart) = stack.get(&format!("{}/cart/{user}", stack.cart)).await;
    assert_eq!(status, StatusCode::OK, "{cart}");
    cart
}

/// `(product_id, quantity)` of each line.
fn lines(cart: &Value) -> Vec<(i64, i64)> {
    cart["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items in {cart}"))
        .iter()
        .map(|i| {
            (
                i["product_id"].as_i64().unwrap(),
                i["quantity"].as_i64().unwrap(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adding_returns_the_line_with_name_and_price() {
    let stack = Stack::start().await;
    let url = format!("{}/cart/alice/items", stack.cart);
    let (status, item) = stack
        .post(&url, json!({"product_id": 2, "quantity": 3}))
        .await;
    assert_eq!(status, StatusCode::OK, "{item}");
    assert_eq!(item["user_id"], "alice");
    assert_eq!(item["product_id"], 2);
    assert_eq!(item["quantity"], 3);
    assert_eq!(item["product_name"], "Mouse");
    assert_eq!(num(&item["product_price"]), "29.99");
    assert!(item["id"].is_i64(), "{item}");
    assert!(item["created_at"].is_string(), "{item}");

    // Adding again increments the same line.
    let (status, again) = stack
        .post(&url, json!({"product_id": 2, "quantity": 2}))
        .await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["quantity"], 5);
    assert_eq!(again["id"], item["id"]);

    // The quantity defaults to 1.
    let (status, one) = stack.post(&url, json!({"product_id": 3})).await;
    assert_eq!(status, StatusCode::OK, "{one}");
    assert_eq!(one["quantity"], 1);
    let (status, more) = stack.post(&url, json!({"product_id": 2})).await;
    assert_eq!(status, StatusCode::OK, "{more}");
    assert_eq!(more["quantity"], 6);

    let cart = cart_of(&stack, "alice").await;
    assert_eq!(cart["user_id"], "alice");
    assert_eq!(lines(&cart), [(2, 6), (3, 1)]);
    // 6 x 29.99 + 79.99
    assert_eq!(num(&cart["total"]), "259.93");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_adds_are_422_and_change_nothing() {
    let stack = Stack::start().await;
    stack.add_to_cart("bob", 1, 1).await;
    let before = cart_of(&stack, "bob").await;
    let url = format!("{}/cart/bob/items", stack.cart);
    for body in [
        r#"{"product_id": 1, "quantity": 0}"#,
        r#"{"product_id": 1, "quantity": -1}"#,
        r#"{"product_id": 1, "quantity": 1.5}"#,
        r#"{"product_id": 1, "quantity": "2"}"#,
        r#"{"product_id": 1, "quantity": 10000000}"#,
        r#"{"product_id": 1, "quantity": 99999999999999999999}"#,
        r#"{"quantity": 1}"#,
        r#"{"product_id": "1"}"#,
        r#"{"product_id": 99999999999999999999}"#,
        r#"{"product_id":"#,
        "",
        "[]",
        "null",
    ] {
        let (status, answer) = stack.send_raw_as_service(Method::POST, &url, body).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "body {body}: {answer}"
        );
        detail(status, &answer, StatusCode::UNPROCESSABLE_ENTITY);
    }
    assert_eq!(cart_of(&stack, "bob").await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adding_a_missing_product_is_404() {
    let stack = Stack::start().await;
    let (status, body) = stack
        .post(
            &format!("{}/cart/carol/items", stack.cart),
            json!({"product_id": 999, "quantity": 1}),
        )
        .await;
    let why = detail(status, &body, StatusCode::NOT_FOUND);
    assert!(why.contains("999"), "{why}");
    let cart = cart_of(&stack, "carol").await;
    assert_eq!(cart["items"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adding_more_than_the_stock_is_400_and_changes_nothing() {
    let stack = Stack::start().await;
    let url = format!("{}/cart/dave/items", stack.cart);
    // The laptop has 10 in stock.
    let (status, body) = stack
        .post(&url, json!({"product_id": 1, "quantity": 11}))
        .await;
    assert_eq!(
        detail(status, &body, StatusCode::BAD_REQUEST),
        "Insufficient stock"
    );
    assert_eq!(cart_of(&stack, "dave").await["items"], json!([]));

    // Cumulatively: 6 then 5 is more than 10.
    stack.add_to_cart("dave", 1, 6).await;
    let before = cart_of(&stack, "dave").await;
    let (status, body) = stack
        .post(&url, json!({"product_id": 1, "quantity": 5}))
        .await;
    assert_eq!(
        detail(status, &body, StatusCode::BAD_REQUEST),
        "Insufficient stock"
    );
    assert_eq!(cart_of(&stack, "dave").await, before);
    assert_eq!(lines(&before), [(1, 6)]);

    // Exactly the stock is fine.
    stack.add_to_cart("dave", 1, 4).await;
    assert_eq!(lines(&cart_of(&stack, "dave").await), [(1, 10)]);

    // A product out of stock cannot be added at all.
    let empty = stack.product("Sold out", "1.00", 0).await;
    let (status, body) = stack
        .post(&url, json!({"product_id": empty, "quantity": 1}))
        .await;
    assert_eq!(
        detail(status, &body, StatusCode::BAD_REQUEST),
        "Insufficient stock"
    );
    assert_eq!(lines(&cart_of(&stack, "dave").await), [(1, 10)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn totals_are_exact() {
    let stack = Stack::start().await;
    let dime = stack.product("Dime", "0.1", 10).await;
    let fifth = stack.product("Fifth", "0.2", 10).await;
    stack.add_to_cart("eve", dime, 1).await;
    stack.add_to_cart("eve", fifth, 1).await;
    let cart = cart_of(&stack, "eve").await;
    assert_eq!(num(&cart["total"]), "0.30");
    assert_eq!(num(&cart["items"][0]["product_price"]), "0.10");
    assert_eq!(num(&cart["items"][1]["product_price"]), "0.20");
    assert_eq!(cart["items"][0]["product_name"], "Dime");

    let book = stack.product("Book", "19.99", 10).await;
    stack.add_to_cart("frank", book, 3).await;
    assert_eq!(num(&cart_of(&stack, "frank").await["total"]), "59.97");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_cart_is_200_with_no_items() {
    let stack = Stack::start().await;
    let cart = cart_of(&stack, "nobody").await;
    assert_eq!(cart["user_id"], "nobody");
    assert_eq!(cart["items"], json!([]));
    assert_eq!(num(&cart["total"]), "0.00");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_quantity_by_query_or_body() {
    let stack = Stack::start().await;
    stack.add_to_cart("gina", 2, 1).await;
    let url = format!("{}/cart/gina/items/2", stack.cart);

    let (status, body) = stack
        .send(Method::PUT, &format!("{url}?quantity=4"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"message": "Item quantity updated"}));
    assert_eq!(lines(&cart_of(&stack, "gina").await), [(2, 4)]);

    let (status, body) = stack.put(&url, json!({"quantity": 7})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"message": "Item quantity updated"}));
    let cart = cart_of(&stack, "gina").await;
    assert_eq!(lines(&cart), [(2, 7)]);
    assert_eq!(num(&cart["total"]), "209.93");

    // Lowering works too, and the whole stock is allowed.
    let (status, _) = stack
        .send(Method::PUT, &format!("{url}?quantity=50"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(lines(&cart_of(&stack, "gina").await), [(2, 50)]);
    let (status, _) = stack
        .send(Method::PUT, &format!("{url}?quantity=1"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(lines(&cart_of(&stack, "gina").await), [(2, 1)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_quantity_updates_are_rejected_and_change_nothing() {
    let stack = Stack::start().await;
    stack.add_to_cart("hank", 1, 2).await;
    let before = cart_of(&stack, "hank").await;
    let url = format!("{}/cart/hank/items/1", stack.cart);

    // Missing, non-integer or too large quantity: 422.
    for (query, body) in [
        ("", None),
        ("", Some("{}")),
        ("?quantity=1.5", None),
        ("?quantity=abc", None),
        ("?quantity=10000000", None),
        ("", Some(r#"{"quantity": 10000000}"#)),
        ("", Some(r#"{"quantity": "2"}"#)),
        ("", Some(r#"{"quantity": 1.5}"#)),
        ("", Some(r#"{"quantity":"#)),
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

    // More than the stock (10 laptops): 400.
    let (status, answer) = stack
        .send(Method::PUT, &format!("{url}?quantity=11"), None)
        .await;
    assert_eq!(
        detail(status, &answer, StatusCode::BAD_REQUEST),
        "Insufficient stock"
    );
    let (status, answer) = stack.put(&url, json!({"quantity": 11})).await;
    assert_eq!(
        detail(status, &answer, StatusCode::BAD_REQUEST),
        "Insufficient stock"
    );

    // A product that is not in the cart: 404, and no line is created.
    let (status, answer) = stack
        .send(
            Method::PUT,
            &format!("{}/cart/hank/items/3?quantity=1", stack.cart),
            None,
        )
        .await;
    detail(status, &answer, StatusCode::NOT_FOUND);
    // A product that does not exist at all: 404.
    let (status, answer) = stack
        .send(
            Method::PUT,
            &format!("{}/cart/hank/items/999?quantity=1", stack.cart),
            None,
        )
        .await;
    detail(status, &answer, StatusCode::NOT_FOUND);
    // Another user's cart is not this one.
    let (status, answer) = stack
        .send(
            Method::PUT,
            &format!("{}/cart/other/items/1?quantity=1", stack.cart),
            None,
        )
        .await;
    detail(status, &answer, StatusCode::NOT_FOUND);

    assert_eq!(cart_of(&stack, "hank").await, before);
    assert_eq!(cart_of(&stack, "other").await["items"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_a_line_then_again_is_404() {
    let stack = Stack::start().await;
    stack.add_to_cart("ivy", 1, 1).await;
    stack.add_to_cart("ivy", 2, 2).await;
    let url = format!("{}/cart/ivy/items/1", stack.cart);
    let (status, body) = stack.delete(&url).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"message": "Item removed from cart"}));
    let after = cart_of(&stack, "ivy").await;
    assert_eq!(lines(&after), [(2, 2)]);

    let (status, body) = stack.delete(&url).await;
    detail(status, &body, StatusCode::NOT_FOUND);
    let (status, body) = stack
        .delete(&format!("{}/cart/ivy/items/abc", stack.cart))
        .await;
    detail(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(cart_of(&stack, "ivy").await, after);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clearing_a_cart_empties_only_that_cart() {
    let stack = Stack::start().await;
    stack.add_to_cart("jack", 1, 1).await;
    stack.add_to_cart("jack", 2, 1).await;
    stack.add_to_cart("jill", 3, 1).await;
    let (status, body) = stack.delete(&format!("{}/cart/jack", stack.cart)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"message": "Cart cleared"}));
    let cart = cart_of(&stack, "jack").await;
    assert_eq!(cart["items"], json!([]));
    assert_eq!(num(&cart["total"]), "0.00");
    assert_eq!(lines(&cart_of(&stack, "jill").await), [(3, 1)]);

    // Clearing an empty cart is fine too.
    let (status, body) = stack.delete(&format!("{}/cart/jack", stack.cart)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_ids_are_literal_path_segments() {
    let stack = Stack::start().await;
    stack.add_to_cart("victim", 1, 1).await;
    stack.add_to_cart("victim%23", 2, 2).await;
    stack.add_to_cart("victim%3Fx%3D1", 3, 3).await;

    let victim = cart_of(&stack, "victim").await;
    assert_eq!(lines(&victim), [(1, 1)]);
    assert_eq!(victim["user_id"], "victim");
    let hash = cart_of(&stack, "victim%23").await;
    assert_eq!(lines(&hash), [(2, 2)]);
    assert_eq!(hash["user_id"], "victim#");
    let query = cart_of(&stack, "victim%3Fx%3D1").await;
    assert_eq!(lines(&query), [(3, 3)]);
    assert_eq!(query["user_id"], "victim?x=1");

    // Clearing the look-alikes leaves the victim's cart alone.
    let (status, _) = stack
        .delete(&format!("{}/cart/victim%23", stack.cart))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = stack
        .delete(&format!("{}/cart/victim%3Fx%3D1", stack.cart))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(cart_of(&stack, "victim").await, victim);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_id_over_128_characters_is_422() {
    let stack = Stack::start().await;
    let long = "u".repeat(129);
    let (status, body) = stack.get(&format!("{}/cart/{long}", stack.cart)).await;
    detail(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, body) = stack
        .post(
            &format!("{}/cart/{long}/items", stack.cart),
            json!({"product_id": 1, "quantity": 1}),
        )
        .await;
    detail(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
    // 128 characters are fine.
    let ok = "u".repeat(128);
    stack.add_to_cart(&ok, 1, 1).await;
    assert_eq!(lines(&cart_of(&stack, &ok).await), [(1, 1)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_product_deleted_from_the_catalog_shows_without_name_and_price() {
    let stack = Stack::start().await;
    let gone = stack.product("Gone", "5.00", 5).await;
    stack.add_to_cart("kim", 2, 1).await;
    stack.add_to_cart("kim", gone, 2).await;
    assert_eq!(num(&cart_of(&stack, "kim").await["total"]), "39.99");

    let (status, _) = stack
        .delete(&format!("{}/products/{gone}", stack.catalog))
        .await;
    assert_eq!(status, StatusCode::OK);
    let cart = cart_of(&stack, "kim").await;
    assert_eq!(lines(&cart), [(2, 1), (gone, 2)]);
    let item = &cart["items"][1];
    assert_eq!(item["product_name"], Value::Null, "{item}");
    assert_eq!(item["product_price"], Value::Null, "{item}");
    assert_eq!(cart["items"][0]["product_name"], "Mouse");
    assert_eq!(num(&cart["total"]), "29.99");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalog_down_is_503_quickly() {
    let stack = Stack::start_with(Options {
        extra_env: vec![("CATALOG_SERVICE_URL", dead_url().await)],
        ..Options::default()
    })
    .await;
    let started = Instant::now();
    let (status, body) = stack
        .post(
            &format!("{}/cart/lee/items", stack.cart),
            json!({"product_id": 1, "quantity": 1}),
        )
        .await;
    detail(status, &body, StatusCode::SERVICE_UNAVAILABLE);
    assert!(started.elapsed() < Duration::from_secs(5));
    // Nothing was added.
    let (status, cart) = stack.get(&format!("{}/cart/lee", stack.cart)).await;
    assert_eq!(status, StatusCode::OK, "{cart}");
    assert_eq!(cart["items"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reading_a_cart_with_items_while_the_catalog_is_down_is_503() {
    let stack = Stack::start().await;
    stack.add_to_cart("mia", 1, 2).await;
    // A second cart service on the same database whose catalog is down.
    let cart = stack
        .service_with(
            ServiceName::Cart,
            &[("CATALOG_SERVICE_URL", dead_url().await)],
        )
        .await;

    let started = Instant::now();
    let (status, body) = stack.get(&format!("{cart}/cart/mia")).await;
    detail(status, &body, StatusCode::SERVICE_UNAVAILABLE);
    let (status, body) = stack
        .post(
            &format!("{cart}/cart/mia/items"),
            json!({"product_id": 2, "quantity": 1}),
        )
        .await;
    detail(status, &body, StatusCode::SERVICE_UNAVAILABLE);
    let (status, body) = stack
        .send(
            Method::PUT,
            &format!("{cart}/cart/mia/items/1?quantity=1"),
            None,
        )
        .await;
    detail(status, &body, StatusCode::SERVICE_UNAVAILABLE);
    assert!(started.elapsed() < Duration::from_secs(5));

    // Nothing changed.
    assert_eq!(lines(&cart_of(&stack, "mia").await), [(1, 2)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remove_items_takes_a_checkouts_lines_all_or_none_once() {
    let stack = Stack::start().await;
    stack.add_to_cart("ned", 1, 1).await;
    stack.add_to_cart("ned", 2, 3).await;
    stack.add_to_cart("ned", 3, 1).await;
    let url = format!("{}/cart/ned/remove-items", stack.cart);
    let remove = |key: &str, items: Value| {
        let url = url.clone();
        let body = json!({"key": key, "items": items});
        let stack = &stack;
        async move { stack.send_as_service(Method::POST, &url, Some(body)).await }
    };
    let two = json!([{"product_id": 1, "quantity": 1}, {"product_id": 2, "quantity": 1}]);
    let (status, body) = remove("k1", two.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["message"].is_string(), "{body}");
    assert_eq!(lines(&cart_of(&stack, "ned").await), [(2, 2), (3, 1)]);

    // Once per key, however often it is sent.
    let (status, _) = remove("k1", two).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(lines(&cart_of(&stack, "ned").await), [(2, 2), (3, 1)]);

    // A line the cart no longer holds in full, or at all: nothing is taken,
    // not even the lines it holds.
    for short in [
        json!([{"product_id": 3, "quantity": 1}, {"product_id": 2, "quantity": 3}]),
        json!([{"product_id": 3, "quantity": 1}, {"product_id": 4, "quantity": 1}]),
    ] {
        let (status, body) = remove("k2", short).await;
        detail(status, &body, StatusCode::CONFLICT);
        assert_eq!(lines(&cart_of(&stack, "ned").await), [(2, 2), (3, 1)]);
    }
    // The key was not used up by the refusals.
    let (status, body) = remove("k2", json!([{"product_id": 2, "quantity": 2}])).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(lines(&cart_of(&stack, "ned").await), [(3, 1)]);

    // Invalid bodies change nothing.
    let before = cart_of(&stack, "ned").await;
    for body in [
        r#"{"key": "k3", "items": [{"product_id": 3, "quantity": 0}]}"#,
        r#"{"key": "k3", "items": [{"product_id": 3}]}"#,
        r#"{"key": "k3", "items": [{"product_id": 3, "quantity": 1}, {"product_id": 4, "quantity": -1}]}"#,
        r#"{"key": "k3", "items": [{"product_id": 3, "quantity": 1}, {"product_id": 3, "quantity": 1}]}"#,
        r#"{"items": [{"product_id": 3, "quantity": 1}]}"#,
        r#"{"key": "", "items": [{"product_id": 3, "quantity": 1}]}"#,
        r#"{}"#,
        r#"{"items":"#,
    ] {
        let (status, answer) = stack.send_raw_as_service(Method::POST, &url, body).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "body {body}: {answer}"
        );
        detail(status, &answer, StatusCode::UNPROCESSABLE_ENTITY);
    }
    assert_eq!(cart_of(&stack, "ned").await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_items_gives_a_removal_back_once_and_stops_a_late_one() {
    let stack = Stack::start().await;
    stack.add_to_cart("ona", 1, 2).await;
    stack.add_to_cart("ona", 2, 1).await;
    let call = |action: &str, key: &str, items: Value| {
        let url = format!("{}/cart/ona/{action}", stack.cart);
        let body = json!({"key": key, "items": items});
        let stack = &stack;
        async move {
            let (status, body) = stack.send_as_service(Method::POST, &url, Some(body)).await;
            assert_eq!(status, StatusCode::OK, "{url}: {body}");
        }
    };
    let both = json!([{"product_id": 1, "quantity": 2}, {"product_id": 2, "quantity": 1}]);
    call("remove-items", "taken", both.clone()).await;
    assert_eq!(lines(&cart_of(&stack, "ona").await), []);
    // Added meanwhile: the lines come back on top of it.
    stack.add_to_cart("ona", 1, 1).await;
    call("restore-items", "taken", both.clone()).await;
    call("restore-items", "taken", both.clone()).await;
    let mut now = lines(&cart_of(&stack, "ona").await);
    now.sort_unstable();
    assert_eq!(now, [(1, 3), (2, 1)], "given back once");

    // Given back for good: the key takes nothing any more.
    let url = format!("{}/cart/ona/remove-items", stack.cart);
    let again = json!({"key": "taken", "items": both});
    let (status, body) = stack.send_as_service(Method::POST, &url, Some(again)).await;
    detail(status, &body, StatusCode::CONFLICT);

    // A key given back before its removal arrived: the removal takes nothing.
    call(
        "restore-items",
        "late",
        json!([{"product_id": 2, "quantity": 1}]),
    )
    .await;
    let late = json!({"key": "late", "items": [{"product_id": 2, "quantity": 1}]});
    let (status, body) = stack.send_as_service(Method::POST, &url, Some(late)).await;
    detail(status, &body, StatusCode::CONFLICT);
    let mut now = lines(&cart_of(&stack, "ona").await);
    now.sort_unstable();
    assert_eq!(now, [(1, 3), (2, 1)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cart_ops_endpoints() {
    let stack = Stack::start().await;
    check_ops(
        &stack,
        &stack.cart,
        "cart",
        "/cart/ops-user",
        "/cart/{user_id}",
        &[
            "/cart/{user_id}",
            "/cart/{user_id}/items",
            "/cart/{user_id}/items/{product_id}",
            "/cart/{user_id}/remove-items",
            "/cart/{user_id}/restore-items",
        ],
        "/cart/ops-user",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_array_bodies_are_422_and_change_nothing() {
    let stack = Stack::start().await;
    stack.add_to_cart("arr", 1, 1).await;
    let before = cart_of(&stack, "arr").await;
    for (method, path, body) in [
        (Method::POST, "/cart/arr/items", "[2, 3]"),
        (Method::PUT, "/cart/arr/items/1", "[2]"),
        (Method::POST, "/cart/arr/remove-items", "[[[1, 1]]]"),
    ] {
        let (status, answer) = stack
            .send_raw_as_service(method, &format!("{}{path}", stack.cart), body)
            .await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{path} {body}: {answer}"
        );
        detail(status, &answer, StatusCode::UNPROCESSABLE_ENTITY);
    }
    assert_eq!(cart_of(&stack, "arr").await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_catalog_that_hangs_is_503_after_the_timeout() {
    let stack = Stack::start().await;
    stack.add_to_cart("nia", 1, 1).await;
    let before = cart_of(&stack, "nia").await;
    let cart = stack
        .service_with(
            ServiceName::Cart,
            &[
                ("CATALOG_SERVICE_URL", hung_url().await),
                ("HTTP_REQUEST_TIMEOUT_MS", "500".to_owned()),
            ],
        )
        .await;
    let started = Instant::now();
    let (status, body) = stack.get(&format!("{cart}/cart/nia")).await;
    detail(status, &body, StatusCode::SERVICE_UNAVAILABLE);
    let (status, body) = stack
        .post(
            &format!("{cart}/cart/nia/items"),
            json!({"product_id": 1, "quantity": 1}),
        )
        .await;
    detail(status, &body, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(cart_of(&stack, "nia").await, before);
}

/// Kept cart lines never outlive a write to that cart: readers read the
/// cart (its user id percent-encoded, as a browser may send it)
/// throughout, and after each change has answered, the cart shows it.
/// Kept lines live ten minutes here, so only a write can make them go.
/// (A write that forgot another key than its cart's fails this at once;
/// `catalog::kept_reads_never_outlive_a_write` attacks the race between a
/// read and a write, which the two services share.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kept_carts_never_outlive_a_write() {
    let stack = Stack::start_with(Options {
        extra_env: vec![("READ_CACHE_MS", "600000".to_owned())],
        ..Options::default()
    })
    .await;
    let user = "kept%20reader";
    let cart = format!("{}/cart/{user}", stack.cart);
    let readers = Readers::start(&stack.http, std::slice::from_ref(&cart), 6);
    for quantity in 1..=30 {
        stack.add_to_cart(user, 2, 1).await;
        assert_eq!(lines(&cart_of(&stack, user).await), [(2, quantity)]);
    }
    for quantity in [5, 2, 7] {
        let url = format!("{cart}/items/2?quantity={quantity}");
        assert_eq!(stack.send(Method::PUT, &url, None).await.0, StatusCode::OK);
        assert_eq!(lines(&cart_of(&stack, user).await), [(2, quantity)]);
    }
    // A price change reaches the cart at its next read.
    let (status, _) = stack
        .send_as_service(
            Method::PUT,
            &format!("{}/products/2", stack.catalog),
            Some(json!({"price": 3.5})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(num(&cart_of(&stack, user).await["total"]), "24.50");
    // An order takes its lines out of the cart.
    stack.add_to_cart(user, 3, 1).await;
    stack.place_order("kept reader").await;
    assert_eq!(lines(&cart_of(&stack, user).await), []);
    stack.add_to_cart(user, 1, 1).await;
    assert_eq!(lines(&cart_of(&stack, user).await), [(1, 1)]);
    let (status, _) = stack.delete(&format!("{cart}/items/1")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(lines(&cart_of(&stack, user).await), []);
    stack.add_to_cart(user, 1, 1).await;
    let (status, _) = stack.delete(&cart).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(lines(&cart_of(&stack, user).await), []);
    readers.stop().await;
}
