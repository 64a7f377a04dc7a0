//! A client's mistakes are answered as the client's (4xx with the JSON
//! envelope), through the gateway and on a service's own port, never as a
//! service failure (5xx). Raw HTTP/1.1, since no HTTP client sends these.

use std::time::Duration;

use tokio::io::AsyncWriteExt;

use crate::helpers::{Options, Stack};
use crate::raw::{connect, exchange, read_response};

/// The cart's add-item route, through the gateway and on its own port.
fn add_item_targets(stack: &Stack) -> [(String, &'static str); 2] {
    [
        (stack.gateway.clone(), "/api/cart/cart/raw-user/items"),
        (stack.cart.clone(), "/cart/raw-user/items"),
    ]
}

fn chunked_head(path: &str) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nhost: shop\r\ncontent-type: application/json\r\n\
         transfer-encoding: chunked\r\n\r\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_chunked_body_is_400_json() {
    let stack = Stack::start().await;
    let json = r#"{"product_id": 1, "quantity": 1}"#;
    for (url, path) in add_item_targets(&stack) {
        // A well-formed chunked body goes through.
        let good = format!(
            "{}{:x}\r\n{json}\r\n0\r\n\r\n",
            chunked_head(path),
            json.len()
        );
        let response = exchange(&url, good.as_bytes()).await;
        assert_eq!(response.status, 200, "{url}{path}: {:?}", response.json());

        for broken in [
            // Not a hexadecimal size.
            format!("zz\r\n{json}\r\n0\r\n\r\n"),
            // A size larger than the data, then the client hangs up.
            format!("ffff\r\n{json}"),
        ] {
            let mut stream = connect(&url).await;
            stream
                .write_all(format!("{}{broken}", chunked_head(path)).as_bytes())
                .await
                .unwrap();
            stream.shutdown().await.unwrap();
            let response = read_response(&mut stream)
                .await
                .unwrap_or_else(|| panic!("{url}{path}: closed without an answer"));
            let why = response.detail(400);
            assert!(why.contains("request body"), "{why}");
        }
    }
    let (_, cart) = stack.get(&format!("{}/cart/raw-user", stack.cart)).await;
    assert_eq!(cart["items"].as_array().unwrap().len(), 1, "{cart}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_100_mib_upload_is_413_json() {
    let stack = Stack::start().await;
    for (url, path) in add_item_targets(&stack) {
        // Announced: refused before any of it is read.
        let announced = format!(
            "POST {path} HTTP/1.1\r\nhost: shop\r\ncontent-type: application/json\r\n\
             content-length: {}\r\n\r\n",
            100 << 20
        );
        let response = exchange(&url, announced.as_bytes()).await;
        let why = response.detail(413);
        assert!(why.contains("larger than"), "{why}");

        // Chunked: refused once 64 KiB have come, while the client is
        // still sending.
        let stream = connect(&url).await;
        let (mut reader, mut writer) = stream.into_split();
        let head = chunked_head(path);
        let sender = tokio::spawn(async move {
            writer.write_all(head.as_bytes()).await?;
            let chunk = format!("10000\r\n{}\r\n", "a".repeat(0x10000));
            for _ in 0..1600 {
                writer.write_all(chunk.as_bytes()).await?;
            }
            writer.write_all(b"0\r\n\r\n").await
        });
        let response = read_response(&mut reader)
            .await
            .unwrap_or_else(|| panic!("{url}{path}: closed without an answer"));
        let why = response.detail(413);
        assert!(why.contains("larger than"), "{why}");
        sender.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_sent_too_slowly_is_408_json() {
    let stack = Stack::start_with(Options {
        extra_env: vec![("SERVER_BODY_READ_TIMEOUT_MS", "300".to_owned())],
        ..Options::default()
    })
    .await;
    for (url, path) in add_item_targets(&stack) {
        let stream = connect(&url).await;
        let (mut reader, mut writer) = stream.into_split();
        let body = r#"{"product_id": 1, "quantity": 1}                                "#;
        let head = format!(
            "POST {path} HTTP/1.1\r\nhost: shop\r\ncontent-type: application/json\r\n\
             content-length: {}\r\n\r\n",
            body.len()
        );
        let sender = tokio::spawn(async move {
            writer.write_all(head.as_bytes()).await?;
            // One byte every 50 ms: the whole body would take 3 s.
            let mut pace = tokio::time::interval(Duration::from_millis(50));
            for byte in body.as_bytes() {
                pace.tick().await;
                writer.write_all(&[*byte]).await?;
            }
            Ok::<_, std::io::Error>(())
        });
        let response = read_response(&mut reader)
            .await
            .unwrap_or_else(|| panic!("{url}{path}: closed without an answer"));
        let why = response.detail(408);
        assert!(why.contains("in time"), "{why}");
        sender.abort();
    }
    let (_, cart) = stack.get(&format!("{}/cart/raw-user", stack.cart)).await;
    assert_eq!(cart["items"], serde_json::json!([]), "{cart}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_http_layers_own_errors_are_4xx() {
    let stack = Stack::start().await;
    for (url, prefix) in [
        (stack.gateway.clone(), "/api/catalog"),
        (stack.catalog.clone(), ""),
    ] {
        let long = format!(
            "GET {prefix}/products?search={} HTTP/1.1\r\nhost: shop\r\n\r\n",
            "a".repeat(10_000)
        );
        let why = exchange(&url, long.as_bytes()).await.detail(414);
        assert!(why.contains("longer than"), "{why}");

        let large = format!(
            "GET {prefix}/products HTTP/1.1\r\nhost: shop\r\nx-filler: {}\r\n\r\n",
            "a".repeat(20_000)
        );
        let why = exchange(&url, large.as_bytes()).await.detail(431);
        assert!(why.contains("larger than"), "{why}");

        // hyper answers these itself, before any of Shop's code runs, with
        // an empty body: still a 4xx, never a 5xx.
        for (request, status) in [
            ("GET / HTTP/9.9\r\nhost: shop\r\n\r\n".to_owned(), 400),
            ("G(T / HTTP/1.1\r\nhost: shop\r\n\r\n".to_owned(), 400),
            (
                format!(
                    "GET / HTTP/1.1\r\nhost: shop\r\nx-filler: {}\r\n\r\n",
                    "a".repeat(70_000)
                ),
                431,
            ),
        ] {
            let response = exchange(&url, request.as_bytes()).await;
            assert_eq!(response.status, status, "{url}: {request:.40}");
        }
    }
}
