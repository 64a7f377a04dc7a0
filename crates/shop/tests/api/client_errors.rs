//! A client's mistakes are answered as the client's (4xx with the JSON
//! envelope), through the gateway and on a service's own port, never as a
//! service failure (5xx). Raw HTTP/1.1, since no HTTP client sends these.

use std::time::Duration;

use tokio::io::AsyncWriteExt;

use crate::helpers::{Options, Stack};
use crate::raw::{closed_by_server, connect, exchange, read_response, DEADLINE};

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
        assert_eq!(response.header("connection"), Some("close"), "{url}{path}");
        sender.abort();
    }
}

/// A body the service read keeps the connection; one it refused unread
/// ends it, and the answer says so, so that a client never sends its next
/// request on a connection the server is closing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_body_closes_the_connection_and_says_so() {
    let stack = Stack::start().await;
    for (url, path) in add_item_targets(&stack) {
        let mut stream = connect(&url).await;
        let read = r#"{"product_id": 1, "quantity": 0}"#;
        let request = format!(
            "POST {path} HTTP/1.1\r\nhost: shop\r\ncontent-type: application/json\r\n\
             content-length: {}\r\n\r\n{read}",
            read.len()
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let response = read_response(&mut stream).await.expect("an answer");
        response.detail(422);
        assert_eq!(response.header("connection"), None, "{url}{path}");

        let unread = format!(
            "POST {path} HTTP/1.1\r\nhost: shop\r\ncontent-type: application/json\r\n\
             content-length: {}\r\n\r\n{{",
            1 << 20
        );
        stream.write_all(unread.as_bytes()).await.unwrap();
        let response = read_response(&mut stream).await.expect("an answer");
        response.detail(413);
        assert_eq!(response.header("connection"), Some("close"), "{url}{path}");
        assert!(
            closed_by_server(&mut stream, DEADLINE).await,
            "{url}{path}: still open"
        );
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

/// Every kind of request the parsers refuse, with the sentence a person
/// reads: what is wrong, and which field or where, never the parser's own
/// words ("EOF while parsing", "expected i64", "Cannot parse ... to a").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parse_errors_read_as_plain_sentences() {
    use reqwest::{Method, StatusCode};

    let stack = Stack::start().await;
    let cart = format!("{}/cart/ada/items", stack.cart);
    let cases: Vec<(Method, String, Option<&str>, &str)> = vec![
        // JSON syntax, with the position.
        (Method::POST, cart.clone(), Some(r#"{"product_id": 1, "quantity": 2"#),
         "The body is not valid JSON: it ends inside an object (line 1, column 31)"),
        (Method::POST, cart.clone(), Some(r#"{"product_id": 1, "quantity": 2,}"#),
         "The body is not valid JSON: there is a comma after the last item (line 1, column 33)"),
        (Method::POST, cart.clone(), Some(r#"{"product_id": 1 "quantity": 2}"#),
         "The body is not valid JSON: a comma or a closing } is missing (line 1, column 18)"),
        (Method::POST, cart.clone(), Some("{'product_id': 1}"),
         "The body is not valid JSON: keys must be text in double quotes (line 1, column 2)"),
        (Method::POST, cart.clone(), Some(r#"{"product_id": 1, "quantity": 2} x"#),
         "The body is not valid JSON: there is more after the JSON object (line 1, column 34)"),
        (Method::POST, cart.clone(), Some(r#"{"product_id": True, "quantity": 2}"#),
         "The body is not valid JSON: a value is missing or is not JSON (text needs double quotes) (line 1, column 16)"),
        // Types, missing and repeated fields, named.
        (Method::POST, cart.clone(), Some(r#"{"product_id": "x", "quantity": 2}"#),
         r#"product_id must be a whole number, not the text "x""#),
        (Method::POST, cart.clone(), Some(r#"{"product_id": 1.5, "quantity": 2}"#),
         "product_id must be a whole number, not 1.5"),
        (Method::POST, cart.clone(), Some(r#"{"product_id": 1, "quantity": 99999999999999999999}"#),
         "quantity must be a whole number, and 1e+20 is too large"),
        (Method::POST, cart.clone(), Some(r#"{"quantity": 2}"#), "product_id is required"),
        (Method::POST, cart.clone(), Some(r#"{"product_id": 1, "quantity": 1, "product_id": 2}"#),
         "product_id is given twice"),
        (Method::POST, format!("{}/products", stack.catalog), Some(r#"{"name": "Pen", "price": "abc", "stock": 1}"#),
         r#"price must be a number, not the text "abc""#),
        (Method::POST, format!("{}/products", stack.catalog), Some(r#"{"name": "Pen", "price": 1.234, "stock": 1}"#),
         "price must have at most two decimals"),
        // Path and query parameters, named, with what was sent.
        (Method::GET, format!("{}/products/abc", stack.catalog), None,
         "product_id in the path must be a whole number, not abc"),
        (Method::PUT, format!("{}/cart/ada/items/abc?quantity=1", stack.cart), None,
         "product_id in the path must be a whole number, not abc"),
        (Method::GET, format!("{}/products?limit=abc", stack.catalog), None,
         r#"In the query: limit must be a whole number, not "abc""#),
        (Method::PUT, format!("{}/orders/1/status?status=bogus", stack.order), None,
         "In the query: status must be one of pending, confirmed, paid, processing, shipped, delivered, cancelled, not bogus"),
    ];
    for (method, url, body, expected) in cases {
        let mut request = stack.http.request(method.clone(), &url);
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_owned());
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let answer: serde_json::Value = response.json().await.unwrap();
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{method} {url} {body:?}: {answer}"
        );
        assert_eq!(answer["detail"], expected, "{method} {url} {body:?}");
    }
    // Nothing reached the cart.
    let (_, cart) = stack.get(&format!("{}/cart/ada", stack.cart)).await;
    assert_eq!(cart["items"], serde_json::json!([]), "{cart}");
}
