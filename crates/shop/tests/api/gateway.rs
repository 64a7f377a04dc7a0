//! The gateway: its index, and the proxy to the four services.

use reqwest::{Method, StatusCode};
use serde_json::json;

use std::time::{Duration, Instant};

use crate::helpers::{check_ops, dead_url, detail, hung_url, num, Options, Stack};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_index_names_the_five_apis() {
    let stack = Stack::start().await;
    let (status, index) = stack.get(&format!("{}/api", stack.gateway)).await;
    assert_eq!(status, StatusCode::OK, "{index}");
    let apis = index["apis"]
        .as_array()
        .unwrap_or_else(|| panic!("no apis in {index}"));
    let mut prefixes: Vec<(&str, &str)> = apis
        .iter()
        .map(|a| {
            (
                a["service"].as_str().unwrap(),
                a["prefix"].as_str().unwrap(),
            )
        })
        .collect();
    prefixes.sort();
    assert_eq!(
        prefixes,
        [
            ("cart", "/api/cart/"),
            ("catalog", "/api/catalog/"),
            ("identity", "/api/identity/"),
            ("order", "/api/order/"),
            ("payment", "/api/payment/"),
        ]
    );
    // Every advertised docs and openapi link works through the gateway.
    for api in apis {
        let openapi = api["openapi"].as_str().unwrap();
        let (status, doc) = stack.get(&format!("{}{openapi}", stack.gateway)).await;
        assert_eq!(status, StatusCode::OK, "{openapi}");
        assert!(doc["paths"].is_object(), "{openapi}: {doc}");
        let docs = api["docs"].as_str().unwrap();
        let response = stack
            .raw(Method::GET, &format!("{}{docs}", stack.gateway))
            .await;
        assert_eq!(response.status(), StatusCode::OK, "{docs}");
        // Without the trailing slash: redirected to the service's docs, not
        // to the gateway's own.
        let no_redirects = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let bare = docs.trim_end_matches('/');
        let response = no_redirects
            .get(format!("{}{bare}", stack.gateway))
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_redirection(),
            "{bare}: {}",
            response.status()
        );
        assert_eq!(
            response.headers()["location"].to_str().unwrap(),
            docs,
            "{bare}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxies_with_the_query_string() {
    let stack = Stack::start().await;
    let (status, products) = stack
        .get(&format!("{}/api/catalog/products?limit=2", stack.gateway))
        .await;
    assert_eq!(status, StatusCode::OK, "{products}");
    let names: Vec<&str> = products
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Laptop", "Mouse"]);
    assert_eq!(num(&products[0]["price"]), "999.99");

    let (_, filtered) = stack
        .get(&format!(
            "{}/api/catalog/products?search=key&skip=0",
            stack.gateway
        ))
        .await;
    assert_eq!(filtered.as_array().unwrap().len(), 1, "{filtered}");
    assert_eq!(filtered[0]["name"], "Keyboard");

    // The query string goes through as the client encoded it.
    let discount = stack.product("50% off", "1.00", 1).await;
    let (status, found) = stack
        .get(&format!(
            "{}/api/catalog/products?search=%25",
            stack.gateway
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{found}");
    assert_eq!(found.as_array().unwrap().len(), 1, "{found}");
    assert_eq!(found[0]["id"], discount);
    let (status, body) = stack
        .get(&format!(
            "{}/api/catalog/products?limit=1001",
            stack.gateway
        ))
        .await;
    detail(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posts_with_a_body_through_the_gateway() {
    let stack = Stack::start().await;
    let (status, item) = stack
        .post(
            &format!("{}/api/cart/cart/gw-user/items", stack.gateway),
            json!({"product_id": 4, "quantity": 2}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{item}");
    assert_eq!(item["product_name"], "Monitor");
    assert_eq!(item["quantity"], 2);

    let (status, cart) = stack.get(&format!("{}/cart/gw-user", stack.cart)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(cart["items"][0]["quantity"], 2);
    assert_eq!(num(&cart["total"]), "799.98");

    // Other methods pass through too.
    let (status, body) = stack
        .send(
            Method::PUT,
            &format!("{}/api/cart/cart/gw-user/items/4?quantity=1", stack.gateway),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = stack
        .delete(&format!("{}/api/cart/cart/gw-user", stack.gateway))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, cart) = stack.get(&format!("{}/cart/gw-user", stack.cart)).await;
    assert_eq!(cart["items"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_encoded_user_id_reaches_the_same_cart() {
    let stack = Stack::start().await;
    let (status, _) = stack
        .post(
            &format!("{}/api/cart/cart/victim%23/items", stack.gateway),
            json!({"product_id": 2, "quantity": 1}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, direct) = stack.get(&format!("{}/cart/victim%23", stack.cart)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(direct["user_id"], "victim#");
    assert_eq!(direct["items"][0]["product_id"], 2);
    let (_, proxied) = stack
        .get(&format!("{}/api/cart/cart/victim%23", stack.gateway))
        .await;
    assert_eq!(proxied, direct);

    let (_, victim) = stack.get(&format!("{}/cart/victim", stack.cart)).await;
    assert_eq!(victim["items"], json!([]), "victim's own cart untouched");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_statuses_and_bodies_pass_through() {
    let stack = Stack::start().await;
    let (status, proxied) = stack
        .get(&format!("{}/api/catalog/products/999", stack.gateway))
        .await;
    let why = detail(status, &proxied, StatusCode::NOT_FOUND);
    assert!(why.contains("999"), "{why}");
    let (_, direct) = stack.get(&format!("{}/products/999", stack.catalog)).await;
    assert_eq!(proxied, direct);

    let (status, body) = stack
        .post(
            &format!("{}/api/cart/cart/u/items", stack.gateway),
            json!({"product_id": 1, "quantity": 0}),
        )
        .await;
    detail(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, body) = stack
        .post(
            &format!("{}/api/order/orders", stack.gateway),
            json!({"user_id": "empty"}),
        )
        .await;
    assert_eq!(
        detail(status, &body, StatusCode::BAD_REQUEST),
        "Cart is empty"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_prefixes_are_404_json() {
    let stack = Stack::start().await;
    for path in ["/api/unknown/x", "/api/cartx/cart/u", "/nope.css"] {
        let (status, body) = stack.get(&format!("{}{path}", stack.gateway)).await;
        assert_eq!(
            detail(status, &body, StatusCode::NOT_FOUND),
            "Not Found",
            "{path}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_that_is_down_is_503_json() {
    let stack = Stack::start_with(Options {
        extra_env: vec![("ORDER_SERVICE_URL", dead_url().await)],
        ..Options::default()
    })
    .await;
    let (status, body) = stack
        .get(&format!("{}/api/order/orders", stack.gateway))
        .await;
    let why = detail(status, &body, StatusCode::SERVICE_UNAVAILABLE);
    assert!(why.contains("order"), "{why}");
    // The others still answer.
    let (status, _) = stack
        .get(&format!("{}/api/catalog/products/1", stack.gateway))
        .await;
    assert_eq!(status, StatusCode::OK);
    // And the gateway is not ready while one service is down.
    let (status, ready) = stack.get(&format!("{}/ready", stack.gateway)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{ready}");
    assert_eq!(ready["ready"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_carry_a_request_id() {
    let stack = Stack::start().await;
    for path in ["/", "/api/catalog/products/1", "/api/unknown/x"] {
        let response = stack
            .raw(Method::GET, &format!("{}{path}", stack.gateway))
            .await;
        let id = response
            .headers()
            .get("x-request-id")
            .unwrap_or_else(|| panic!("no x-request-id on {path}"));
        assert!(!id.is_empty(), "{path}");
    }
    // A request id sent by the client comes back.
    let response = stack
        .http
        .get(format!("{}/api/catalog/products/1", stack.gateway))
        .header("x-request-id", "test-request-42")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "test-request-42");
    let ids: Vec<_> = response.headers().get_all("x-request-id").iter().collect();
    assert_eq!(ids.len(), 1, "{ids:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_ops_endpoints() {
    let stack = Stack::start().await;
    check_ops(
        &stack,
        &stack.gateway,
        "gateway",
        "/api/catalog/products/1",
        "/api/{*rest}",
        &["/api"],
        "/api",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_that_hangs_is_503_after_the_timeout() {
    let stack = Stack::start_with(Options {
        extra_env: vec![
            ("PAYMENT_SERVICE_URL", hung_url().await),
            ("HTTP_REQUEST_TIMEOUT_MS", "500".to_owned()),
        ],
        ..Options::default()
    })
    .await;
    let started = Instant::now();
    let (status, body) = stack
        .get(&format!("{}/api/payment/payments", stack.gateway))
        .await;
    detail(status, &body, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

/// The built dashboard's index.html: these tests check the real pages, so
/// they fail, saying how to build it, rather than check less without it.
fn built_dashboard() -> std::path::PathBuf {
    let dist =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../dashboard/dist/index.html");
    assert!(
        dist.exists(),
        "dashboard/dist is missing: build the dashboard first \
         (npm --prefix dashboard ci && npm --prefix dashboard run build; scripts/test.sh does)"
    );
    dist
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_is_served_at_the_root_with_its_routes_and_assets() {
    let stack = Stack::start().await;
    let dist = built_dashboard();
    for path in ["/", "/orders", "/products/3"] {
        let response = stack
            .raw(Method::GET, &format!("{}{path}", stack.gateway))
            .await;
        let status = response.status();
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html"),
            "{path}"
        );
        let page = response.text().await.unwrap();
        assert_eq!(status, StatusCode::OK, "{path}");
        assert!(page.contains("<script"), "{path}: {page}");
    }
    let (status, body) = stack
        .get(&format!("{}/no-such-file.js", stack.gateway))
        .await;
    detail(status, &body, StatusCode::NOT_FOUND);

    {
        let index = std::fs::read_to_string(&dist).unwrap();
        let start = index
            .find("/assets/")
            .expect("index.html references /assets/");
        let end = start + index[start..].find('"').unwrap();
        let asset = &index[start..end];
        let response = stack
            .http
            .get(format!("{}{asset}", stack.gateway))
            .header("accept-encoding", "gzip")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{asset}");
        assert_eq!(
            response.headers()["cache-control"],
            "public, max-age=31536000, immutable"
        );
        assert_eq!(response.headers()["content-encoding"], "gzip");
        assert_eq!(response.headers()["vary"], "accept-encoding");
        // Gzipped once, not per request: a stored body with its length
        // (compressing on the fly streams it chunked, without one).
        let length = response.headers()["content-length"]
            .to_str()
            .unwrap()
            .to_owned();
        let gzipped = response.bytes().await.unwrap();
        assert_eq!(length, gzipped.len().to_string());
        let mut original = Vec::new();
        std::io::Read::read_to_end(
            &mut flate2::read::GzDecoder::new(&gzipped[..]),
            &mut original,
        )
        .unwrap();
        let on_disk = dist.parent().unwrap().join(asset.trim_start_matches('/'));
        assert_eq!(original, std::fs::read(on_disk).unwrap());
        // A client that does not accept gzip gets the file as it is.
        for accept in ["identity", "gzip;q=0", "br"] {
            let plain = stack
                .http
                .get(format!("{}{asset}", stack.gateway))
                .header("accept-encoding", accept)
                .send()
                .await
                .unwrap();
            assert!(
                plain.headers().get("content-encoding").is_none(),
                "{accept}"
            );
            assert_eq!(plain.bytes().await.unwrap(), original, "{accept}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_forbids_framing_sniffing_and_foreign_scripts() {
    let stack = Stack::start().await;
    let dist = built_dashboard();
    let mut paths = vec!["/".to_owned(), "/orders".to_owned(), "/nope.css".to_owned()];
    {
        let index = std::fs::read_to_string(&dist).unwrap();
        let start = index
            .find("/assets/")
            .expect("index.html references /assets/");
        let end = start + index[start..].find('"').unwrap();
        paths.push(index[start..end].to_owned());
    }
    for path in paths {
        let response = stack
            .raw(Method::GET, &format!("{}{path}", stack.gateway))
            .await;
        let headers = response.headers();
        let csp = headers
            .get("content-security-policy")
            .unwrap_or_else(|| panic!("no CSP on {path}"))
            .to_str()
            .unwrap();
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert!(!csp.contains("script-src 'unsafe-inline'"), "{path}: {csp}");
        assert!(
            csp.contains("script-src 'self'") || csp.contains("default-src 'none'"),
            "{path}: {csp}"
        );
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(headers["x-frame-options"], "DENY", "{path}");
        assert_eq!(headers["referrer-policy"], "same-origin", "{path}");
    }
}
