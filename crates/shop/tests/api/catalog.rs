//! The catalog service: products, their filters, and every bad input.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{
    check_ops, detail, eventually, expect_rejected, num, Options, Readers, Stack,
};

/// Every product, by id (the whole catalog, to compare before and after).
async fn all_products(stack: &Stack) -> Value {
    Value::Array(
        stack
            .list(&format!("{}/products?limit=1000", stack.catalog))
            .await,
    )
}

fn names(products: &Value) -> Vec<String> {
    products
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {products}"))
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_owned())
        .collect()
}

fn ids(products: &Value) -> Vec<i64> {
    products
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {products}"))
        .iter()
        .map(|p| p["id"].as_i64().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_the_four_seeded_products_in_id_order() {
    let stack = Stack::start().await;
    let (status, products) = stack.get(&format!("{}/products", stack.catalog)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(names(&products), ["Laptop", "Mouse", "Keyboard", "Monitor"]);
    assert_eq!(ids(&products), [1, 2, 3, 4]);
    let prices: Vec<String> = products
        .as_array()
        .unwrap()
        .iter()
        .map(|p| num(&p["price"]))
        .collect();
    assert_eq!(prices, ["999.99", "29.99", "79.99", "399.99"]);
    let laptop = &products[0];
    assert_eq!(laptop["stock"], 10);
    assert_eq!(laptop["description"], "High-performance laptop");
    for product in products.as_array().unwrap() {
        assert_eq!(product["category"], "Electronics", "{product}");
        let created = product["created_at"].as_str().unwrap();
        assert!(
            created.ends_with('Z') || created.ends_with("+00:00"),
            "{created}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn category_filter_is_case_insensitive_and_exact() {
    let stack = Stack::start().await;
    let c = &stack.catalog;
    stack.product("Pen", "1.50", 5).await; // category "Test"

    let (status, products) = stack
        .get(&format!("{c}/products?category=electronics"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(names(&products), ["Laptop", "Mouse", "Keyboard", "Monitor"]);

    let (_, products) = stack.get(&format!("{c}/products?category=TEST")).await;
    assert_eq!(names(&products), ["Pen"]);

    let (status, products) = stack.get(&format!("{c}/products?category=Electro")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(products, json!([]), "category is an exact match");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_matches_name_or_description_case_insensitively() {
    let stack = Stack::start().await;
    let c = &stack.catalog;

    let (status, products) = stack.get(&format!("{c}/products?search=LAPTOP")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(names(&products), ["Laptop"]);

    // Only in the description ("Wireless optical mouse", "27-inch 4K monitor").
    let (_, products) = stack.get(&format!("{c}/products?search=wIrElEsS")).await;
    assert_eq!(names(&products), ["Mouse"]);
    let (_, products) = stack.get(&format!("{c}/products?search=4k")).await;
    assert_eq!(names(&products), ["Monitor"]);

    // A substring in the middle of a name.
    let (_, products) = stack.get(&format!("{c}/products?search=board")).await;
    assert_eq!(names(&products), ["Keyboard"]);

    let (status, products) = stack.get(&format!("{c}/products?search=tablet")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(products, json!([]));

    // Search and category together.
    let (_, products) = stack
        .get(&format!("{c}/products?search=mouse&category=electronics"))
        .await;
    assert_eq!(names(&products), ["Mouse"]);
    let (_, products) = stack
        .get(&format!("{c}/products?search=mouse&category=Test"))
        .await;
    assert_eq!(products, json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_takes_percent_and_underscore_literally() {
    let stack = Stack::start().await;
    let c = &stack.catalog;
    let discount = stack.product("50% off", "1.00", 1).await;
    let snake = stack.product("snake_case", "1.00", 1).await;
    stack.product("plain", "1.00", 1).await;

    let (status, products) = stack.get(&format!("{c}/products?search=%25")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ids(&products), [discount], "% is not a wildcard");

    let (_, products) = stack.get(&format!("{c}/products?search=_")).await;
    assert_eq!(ids(&products), [snake], "_ is not a wildcard");

    let slash = stack.product("back\\\\slash", "1.00", 1).await;
    let (_, products) = stack.get(&format!("{c}/products?search=%5C")).await;
    assert_eq!(ids(&products), [slash], "backslash is literal");

    let (_, products) = stack.get(&format!("{c}/products?search=e_c")).await;
    assert_eq!(ids(&products), [snake]);
    let (_, products) = stack.get(&format!("{c}/products?search=ake%25")).await;
    assert_eq!(products, json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ids_fetches_a_batch() {
    let stack = Stack::start().await;
    let c = &stack.catalog;
    let (status, products) = stack.get(&format!("{c}/products?ids=1,3")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(names(&products), ["Laptop", "Keyboard"]);

    let (_, products) = stack.get(&format!("{c}/products?ids=4,2,999")).await;
    assert_eq!(
        ids(&products),
        [2, 4],
        "missing ids are absent, order by id"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skip_and_limit_page_the_list() {
    let stack = Stack::start().await;
    let c = &stack.catalog;
    let (status, products) = stack.get(&format!("{c}/products?skip=1&limit=2")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(names(&products), ["Mouse", "Keyboard"]);

    let (_, products) = stack.get(&format!("{c}/products?limit=1")).await;
    assert_eq!(names(&products), ["Laptop"]);
    let (_, products) = stack.get(&format!("{c}/products?skip=3")).await;
    assert_eq!(names(&products), ["Monitor"]);
    let (_, products) = stack.get(&format!("{c}/products?skip=10")).await;
    assert_eq!(products, json!([]));
    let (status, products) = stack.get(&format!("{c}/products?limit=1000")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ids(&products), [1, 2, 3, 4]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_list_queries_are_422() {
    let stack = Stack::start().await;
    let c = &stack.catalog;
    let many_ids = (1..=1001)
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(",");
    let long = "s".repeat(201);
    for query in [
        "limit=1001".to_owned(),
        "limit=-1".to_owned(),
        "skip=-1".to_owned(),
        "ids=1,x".to_owned(),
        "ids=1,,2".to_owned(),
        "ids=99999999999999999999".to_owned(),
        format!("ids={many_ids}"),
        "limit=abc".to_owned(),
        "skip=1.5".to_owned(),
        "limit=99999999999999999999".to_owned(),
        format!("search={long}"),
        format!("category={long}"),
    ] {
        let (status, body) = stack.get(&format!("{c}/products?{query}")).await;
        let why = detail(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(!why.is_empty(), "{query}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_one_product() {
    let stack = Stack::start().await;
    let c = &stack.catalog;
    let (status, product) = stack.get(&format!("{c}/products/2")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(product["id"], 2);
    assert_eq!(product["name"], "Mouse");
    assert_eq!(num(&product["price"]), "29.99");
    assert_eq!(product["stock"], 50);

    let (status, body) = stack.get(&format!("{c}/products/999")).await;
    let why = detail(status, &body, StatusCode::NOT_FOUND);
    assert!(why.contains("999"), "{why}");

    for bad in ["abc", "99999999999999999999999", "1.5"] {
        let (status, body) = stack.get(&format!("{c}/products/{bad}")).await;
        detail(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_product_returns_201_and_stores_it() {
    let stack = Stack::start().await;
    let c = &stack.catalog;
    let (status, product) = stack
        .post(
            &format!("{c}/products"),
            json!({"name": "Webcam", "description": "HD", "price": 49.5, "stock": 7, "category": "Video"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{product}");
    assert_eq!(product["id"], 5);
    assert_eq!(product["name"], "Webcam");
    assert_eq!(product["description"], "HD");
    assert_eq!(num(&product["price"]), "49.50");
    assert_eq!(product["stock"], 7);
    assert_eq!(product["category"], "Video");
    assert!(product["created_at"].is_string());

    let (status, stored) = stack.get(&format!("{c}/products/5")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(stored, product);
    assert_eq!(ids(&all_products(&stack).await), [1, 2, 3, 4, 5]);

    // Only name and price are required; the name is trimmed.
    let (status, minimal) = stack
        .post(
            &format!("{c}/products"),
            json!({"name": "  Cable ", "price": 3}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{minimal}");
    assert_eq!(minimal["name"], "Cable");
    assert_eq!(num(&minimal["price"]), "3.00");
    assert_eq!(minimal["stock"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prices_are_exact_cents() {
    let stack = Stack::start().await;
    let c = &stack.catalog;
    let (status, product) = stack
        .send_raw(
            Method::POST,
            &format!("{c}/products"),
            r#"{"name": "Dime", "price": 0.1, "stock": 1}"#,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{product}");
    assert_eq!(num(&product["price"]), "0.10");
    let (_, stored) = stack.get(&format!("{c}/products/{}", product["id"])).await;
    assert_eq!(num(&stored["price"]), "0.10");

    for (text, expected) in [
        ("0", "0.00"),
        ("1000000000", "1000000000.00"),
        ("1.20", "1.20"),
    ] {
        let (status, product) = stack
            .send_raw(
                Method::POST,
                &format!("{c}/products"),
                format!(r#"{{"name": "P", "price": {text}}}"#),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{text}: {product}");
        assert_eq!(num(&product["price"]), expected);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_new_products_are_422_and_create_nothing() {
    let stack = Stack::start().await;
    let c = &stack.catalog;
    let before = all_products(&stack).await;
    let long_name = "n".repeat(201);
    let bodies: Vec<String> = vec![
        r#"{"name":"#.into(),
        "".into(),
        "   ".into(),
        "[]".into(),
        "null".into(),
        r#""Pen""#.into(),
        r#"{"price": 1}"#.into(),
        r#"{"name": "", "price": 1}"#.into(),
        r#"{"name": "   ", "price": 1}"#.into(),
        format!(r#"{{"name": "{long_name}", "price": 1}}"#),
        r#"{"name": "Pen"}"#.into(),
        r#"{"name": "Pen", "price": "12"}"#.into(),
        r#"{"name": "Pen", "price": 1, "stock": "3"}"#.into(),
        r#"{"name": 5, "price": 1}"#.into(),
        r#"{"name": "Pen", "price": null}"#.into(),
        r#"{"name": "Pen", "price": -1}"#.into(),
        r#"{"name": "Pen", "price": -0.01}"#.into(),
        r#"{"name": "Pen", "price": 1.005}"#.into(),
        r#"{"name": "Pen", "price": 1e400}"#.into(),
        r#"{"name": "Pen", "price": 1e10}"#.into(),
        r#"{"name": "Pen", "price": 1000000000.01}"#.into(),
        r#"{"name": "Pen", "price": 1, "stock": -1}"#.into(),
        r#"{"name": "Pen", "price": 1, "stock": 1.5}"#.into(),
        r#"{"name": "Pen", "price": 1, "stock": 1e30}"#.into(),
        r#"{"name": "Pen", "price": 1, "description": 7}"#.into(),
        format!(
            r#"{{"name": "Pen", "price": 1, "category": "{}"}}"#,
            "c".repeat(101)
        ),
        r#"{"name": "Pen", "price": 1} trailing"#.into(),
    ];
    for body in &bodies {
        expect_rejected(
            &stack,
            Method::POST,
            &format!("{c}/products"),
            Some(body.clone()),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
    assert_eq!(all_products(&stack).await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_json_array_body_is_not_a_product() {
    let stack = Stack::start().await;
    let c = &stack.catalog;
    let before = all_products(&stack).await;
    let (status, answer) = stack
        .send_raw(
            Method::POST,
            &format!("{c}/products"),
            r#"["Pen", null, 1.5, 3, "Test"]"#,
        )
        .await;
    detail(status, &answer, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(all_products(&stack).await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_json_array_body_is_not_an_update() {
    let stack = Stack::start().await;
    let c = &stack.catalog;
    let before = all_products(&stack).await;
    let (status, answer) = stack
        .send_raw(
            Method::PUT,
            &format!("{c}/products/1"),
            "[null, null, 5, null, null]",
        )
        .await;
    detail(status, &answer, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(all_products(&stack).await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_create_with_the_same_idempotency_key_creates_once() {
    let stack = Stack::start().await;
    let url = format!("{}/products", stack.catalog);
    let body = json!({"name": "Once", "price": 2.5, "stock": 1});
    let (status, first) = stack
        .send_with_key(Method::POST, &url, "create-once", Some(body.clone()))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    let (status, retry) = stack
        .send_with_key(Method::POST, &url, "create-once", Some(body))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{retry}");
    assert_eq!(retry, first);
    assert_eq!(ids(&all_products(&stack).await), [1, 2, 3, 4, 5]);

    // The same key with another body is a 422 and creates nothing.
    let (status, answer) = stack
        .send_with_key(
            Method::POST,
            &url,
            "create-once",
            Some(json!({"name": "Other", "price": 1})),
        )
        .await;
    detail(status, &answer, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(ids(&all_products(&stack).await), [1, 2, 3, 4, 5]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_over_64_kib_is_413_json() {
    let stack = Stack::start().await;
    let c = &stack.catalog;
    let before = all_products(&stack).await;
    let body = json!({"name": "Big", "price": 1, "description": "d".repeat(70_000)});
    let (status, answer) = stack
        .send_raw(Method::POST, &format!("{c}/products"), body.to_string())
        .await;
    detail(status, &answer, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(all_products(&stack).await, before);

    // Just under the limit, a too-long description is a 422, not a 413.
    let body = json!({"name": "Big", "price": 1, "description": "d".repeat(2001)});
    let (status, answer) = stack
        .send_raw(Method::POST, &format!("{c}/products"), body.to_string())
        .await;
    detail(status, &answer, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(all_products(&stack).await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_changes_only_the_given_fields() {
    let stack = Stack::start().await;
    let c = &stack.catalog;
    let (_, before) = stack.get(&format!("{c}/products/3")).await;

    let (status, updated) = stack
        .put(&format!("{c}/products/3"), json!({"price": 74.5}))
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(num(&updated["price"]), "74.50");
    for field in [
        "id",
        "name",
        "description",
        "stock",
        "category",
        "created_at",
    ] {
        assert_eq!(updated[field], before[field], "{field} unchanged");
    }

    let (status, updated) = stack
        .put(
            &format!("{c}/products/3"),
            json!({"name": "Clicky keyboard", "stock": 0, "category": "Input", "description": "Blue switches"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["name"], "Clicky keyboard");
    assert_eq!(updated["stock"], 0);
    assert_eq!(updated["category"], "Input");
    assert_eq!(updated["description"], "Blue switches");
    assert_eq!(num(&updated["price"]), "74.50", "price kept");

    let (_, stored) = stack.get(&format!("{c}/products/3")).await;
    assert_eq!(stored, updated);

    // An empty change is the seed's 400 and changes nothing.
    let (status, answer) = stack.put(&format!("{c}/products/3"), json!({})).await;
    assert_eq!(
        detail(status, &answer, StatusCode::BAD_REQUEST),
        "No fields to update"
    );
    let (_, same) = stack.get(&format!("{c}/products/3")).await;
    assert_eq!(same, stored);

    // Other products are untouched.
    let (_, mouse) = stack.get(&format!("{c}/products/2")).await;
    assert_eq!(mouse["name"], "Mouse");
    assert_eq!(num(&mouse["price"]), "29.99");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_of_a_missing_product_is_404() {
    let stack = Stack::start().await;
    let c = &stack.catalog;
    let before = all_products(&stack).await;
    let (status, body) = stack
        .put(&format!("{c}/products/999"), json!({"price": 1}))
        .await;
    detail(status, &body, StatusCode::NOT_FOUND);
    let (status, body) = stack
        .put(&format!("{c}/products/abc"), json!({"price": 1}))
        .await;
    detail(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(all_products(&stack).await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_updates_are_422_and_change_nothing() {
    let stack = Stack::start().await;
    let c = &stack.catalog;
    let before = all_products(&stack).await;
    for body in [
        r#"{"price": -1}"#.to_owned(),
        r#"{"price": 1.005}"#.to_owned(),
        r#"{"price": "12"}"#.to_owned(),
        r#"{"price": 1e400}"#.to_owned(),
        r#"{"stock": -1}"#.to_owned(),
        r#"{"stock": 1.5}"#.to_owned(),
        r#"{"name": ""}"#.to_owned(),
        r#"{"name": "   "}"#.to_owned(),
        r#"{"name": 5}"#.to_owned(),
        format!(r#"{{"name": "{}"}}"#, "n".repeat(201)),
        r#"{"name": "Renamed", "price": -1}"#.to_owned(),
        r#"{"name":"#.to_owned(),
        String::new(),
    ] {
        expect_rejected(
            &stack,
            Method::PUT,
            &format!("{c}/products/1"),
            Some(body.clone()),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
    assert_eq!(all_products(&stack).await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_removes_the_product_once() {
    let stack = Stack::start().await;
    let c = &stack.catalog;
    let id = stack.product("Temp", "2.00", 1).await;
    let (status, body) = stack.delete(&format!("{c}/products/{id}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"message": "Product deleted successfully"}));

    let (status, body) = stack.get(&format!("{c}/products/{id}")).await;
    detail(status, &body, StatusCode::NOT_FOUND);
    assert_eq!(ids(&all_products(&stack).await), [1, 2, 3, 4]);

    let (status, body) = stack.delete(&format!("{c}/products/{id}")).await;
    detail(status, &body, StatusCode::NOT_FOUND);
    let (status, body) = stack.delete(&format!("{c}/products/abc")).await;
    detail(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(ids(&all_products(&stack).await), [1, 2, 3, 4]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalog_ops_endpoints() {
    let stack = Stack::start().await;
    check_ops(
        &stack,
        &stack.catalog,
        "catalog",
        "/products/1",
        "/products/{product_id}",
        &["/products", "/products/{product_id}"],
        "/products",
    )
    .await;
}

/// Kept answers live ten minutes here, so only a write can make them go.
fn keeping_long() -> Options {
    Options {
        extra_env: vec![("READ_CACHE_MS", "600000".to_owned())],
        ..Options::default()
    }
}

/// Reads answered from memory never outlive a write: after each write has
/// answered, the product, the list and a batch by ids all show it, while
/// other clients keep reading (and so keeping) them throughout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kept_reads_never_outlive_a_write() {
    let stack = Stack::start_with(keeping_long()).await;
    let product = stack.product("Kept", "1.00", 1000).await;
    // A long list takes long to read: more writes land during a read.
    for i in 0..300 {
        stack.product(&format!("Filler {i}"), "2.00", 1).await;
    }
    let reads = [
        format!("{}/products/{product}", stack.catalog),
        format!("{}/products?limit=1000", stack.catalog),
        format!("{}/products?ids={product}", stack.catalog),
    ];
    let readers = Readers::start(&stack.http, &reads, 6);
    let this = |body: &Value| -> Value {
        match body.as_array() {
            Some(rows) => rows.iter().find(|p| p["id"] == product).cloned().unwrap(),
            None => body.clone(),
        }
    };
    for cents in 101..=200 {
        let price = format!("{}.{:02}", cents / 100, cents % 100);
        let body = serde_json::from_str(&format!(r#"{{"price": {price}}}"#)).unwrap();
        let (status, updated) = stack
            .send_as_service(Method::PUT, &reads[0], Some(body))
            .await;
        assert_eq!(status, StatusCode::OK, "{updated}");
        for url in &reads {
            let (status, body) = stack.get(url).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            assert_eq!(num(&this(&body)["price"]), price, "{url} after {price}");
        }
    }
    // Reservations change the stock as product writes do.
    stack.add_to_cart("kept-reader", product, 3).await;
    let order = stack.place_order("kept-reader").await;
    for url in &reads {
        assert_eq!(this(&stack.get(url).await.1)["stock"], 997, "{url}");
    }
    let (status, _) = stack
        .set_status(order["id"].as_i64().unwrap(), "cancelled")
        .await;
    assert_eq!(status, StatusCode::OK);
    for url in &reads {
        assert_eq!(this(&stack.get(url).await.1)["stock"], 1000, "{url}");
    }
    readers.stop().await;
    let (status, _) = stack.delete(&reads[0]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(stack.get(&reads[0]).await.0, StatusCode::NOT_FOUND);
    assert_eq!(stack.get(&reads[2]).await.1, json!([]));
}

/// A change made around the catalog (`shop seed` into a running shop) is
/// seen once kept answers expire (`READ_CACHE_MS`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_made_around_the_catalog_are_seen_once_kept_answers_expire() {
    let stack = Stack::start_with(Options {
        extra_env: vec![("READ_CACHE_MS", "300".to_owned())],
        ..Options::default()
    })
    .await;
    let list = format!("{}/products?limit=1000", stack.catalog);
    assert_eq!(stack.list(&list).await.len(), 4);
    stack.seed(&["--orders", "0", "--products", "3"]);
    eventually(Duration::from_secs(10), || async {
        (stack.list(&list).await.len() == 7).then_some(())
    })
    .await;
}
