//! Event streams cannot hold a service or the gateway: capped in all and
//! per client address, ended after their lifetime (clients resume and miss
//! nothing), and kept off the connections other requests need
//! (`docs/security.md`, "Event streams").

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::helpers::{detail, eventually, Options, Stack};
use crate::raw::closed_by_server;

/// The loopback address `127.0.0.n`: one client of many on this machine.
fn client_address(n: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, n))
}

/// Opens a connection from `from` to `url`'s host and asks for `path`;
/// returns the connection (kept open by the caller) and the status line and
/// headers of the answer.
async fn open_stream(from: IpAddr, url: &str, path: &str) -> (TcpStream, String) {
    let host = url.trim_start_matches("http://");
    let target: SocketAddr = host.parse().expect("host:port");
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(from, 0)).unwrap();
    let mut stream = socket.connect(target).await.expect("connects");
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nAccept: text/event-stream\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    tokio::time::timeout(Duration::from_secs(10), async {
        while !head.ends_with(b"\r\n\r\n") {
            let n = stream.read(&mut byte).await.expect("readable");
            assert!(n > 0, "closed before the answer's head: {head:?}");
            head.push(byte[0]);
        }
    })
    .await
    .expect("the answer's head in time");
    (stream, String::from_utf8_lossy(&head).to_lowercase())
}

fn status_of(head: &str) -> u16 {
    head.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_are_capped_per_client_address_and_in_all() {
    let stack = Stack::start_with(Options {
        extra_env: vec![
            ("EVENT_STREAMS_MAX", "3".into()),
            ("EVENT_STREAMS_PER_CLIENT", "2".into()),
        ],
        ..Options::default()
    })
    .await;
    let path = "/api/order/events/stream";
    let mut held = Vec::new();
    for _ in 0..2 {
        let (stream, head) = open_stream(client_address(2), &stack.gateway, path).await;
        assert_eq!(status_of(&head), 200, "{head}");
        held.push(stream);
    }
    // A third from the same address: refused, told when to retry, and its
    // connection is not kept.
    let (mut refused, head) = open_stream(client_address(2), &stack.gateway, path).await;
    assert_eq!(status_of(&head), 503, "{head}");
    assert!(head.contains("retry-after: 5"), "{head}");
    assert!(closed_by_server(&mut refused, Duration::from_secs(5)).await);
    // Another address still gets one: the cap is per client.
    let (stream, head) = open_stream(client_address(3), &stack.gateway, path).await;
    assert_eq!(status_of(&head), 200, "{head}");
    held.push(stream);
    // The fourth in all is refused, whoever asks.
    let (_, head) = open_stream(client_address(4), &stack.gateway, path).await;
    assert_eq!(status_of(&head), 503, "{head}");

    // The service caps its own port the same way (its three places are
    // taken by the gateway's streams).
    let (_, head) = open_stream(client_address(5), &stack.order, "/events/stream").await;
    assert_eq!(status_of(&head), 503, "{head}");
    let response = stack
        .http
        .get(format!("{}/events/stream", stack.order))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()["retry-after"], "5");
    let body: Value = response.json().await.unwrap();
    detail(
        StatusCode::SERVICE_UNAVAILABLE,
        &body,
        StatusCode::SERVICE_UNAVAILABLE,
    );

    // A client cannot pose as many by what it writes in X-Forwarded-For.
    let forged = stack
        .http
        .get(format!("{}{path}", stack.gateway))
        .header("x-forwarded-for", "203.0.113.50")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::SERVICE_UNAVAILABLE);

    // Places come back when streams end.
    drop(held);
    let (_, head) = crate::helpers::eventually(Duration::from_secs(10), || async {
        let (stream, head) = open_stream(client_address(4), &stack.gateway, path).await;
        (status_of(&head) == 200).then_some((stream, head))
    })
    .await;
    assert_eq!(status_of(&head), 200);
}

/// The attack of issue 23: a flood of streams through the gateway from
/// many addresses. Before the caps, it took every connection of the
/// gateway and the order service: `/health`, product reads and payments
/// answered 503.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_streams_leaves_every_other_request_answering() {
    let stack = Stack::start_with(Options {
        extra_env: vec![
            ("SERVER_MAX_CONNECTIONS", "120".into()),
            ("UPSTREAM_MAX_REQUESTS", "60".into()),
            ("EVENT_STREAMS_MAX", "30".into()),
        ],
        ..Options::default()
    })
    .await;
    let product = stack.product("Keyboard", "10.00", 100).await;
    let mut held = Vec::new();
    let mut refused = 0;
    // 200 streams from 25 addresses, each kept open when admitted.
    for i in 0..200u8 {
        let from = client_address(10 + i % 25);
        let (stream, head) = open_stream(from, &stack.gateway, "/api/order/events/stream").await;
        match status_of(&head) {
            200 => held.push(stream),
            503 => refused += 1,
            other => panic!("stream {i}: {other} {head}"),
        }
    }
    assert_eq!(
        held.len(),
        30,
        "the gateway admits EVENT_STREAMS_MAX streams"
    );
    assert_eq!(refused, 170);

    // Everyone else is still served: through the gateway...
    let gateway = &stack.gateway;
    for path in ["/health", "/api/catalog/products", "/api/order/health"] {
        let (status, body) = stack.get(&format!("{gateway}{path}")).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
    }
    let (status, body) = stack
        .post(
            &format!("{gateway}/api/cart/cart/buyer/items"),
            json!({"product_id": product, "quantity": 1}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, order) = stack
        .post(
            &format!("{gateway}/api/order/orders"),
            json!({"user_id": "buyer"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{order}");
    let id = order["id"].as_i64().unwrap();
    // ... and on the order service's own port, with payment's call to it.
    let (status, paid) = stack.pay(id).await;
    assert_eq!(status, StatusCode::OK, "{paid}");
    assert_eq!(paid["status"], "paid");
    drop(held);
}

/// A client that follows the stream across many lifetimes as a browser's
/// `EventSource` does: it first connects without `Last-Event-ID`, keeps the
/// last `id` the server sent (with an event or without), and reconnects
/// with it each time the server ends the stream, until it has seen `want`
/// events (unknown while it is `usize::MAX`). Counts its streams.
async fn follow(url: String, want: Arc<AtomicUsize>, streams: Arc<AtomicUsize>) -> Vec<i64> {
    let client = reqwest::Client::new();
    let mut seen = Vec::new();
    let mut last: Option<String> = None;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while seen.len() < want.load(Ordering::SeqCst) {
        assert!(tokio::time::Instant::now() < deadline, "followed {seen:?}");
        let mut request = client.get(&url);
        if let Some(last) = &last {
            request = request.header("last-event-id", last);
        }
        let response = request.send().await;
        let Ok(mut response) = response else {
            continue;
        };
        assert_eq!(response.status(), StatusCode::OK);
        streams.fetch_add(1, Ordering::SeqCst);
        for block in messages_until_end(&mut response).await {
            let id = block.lines().find_map(|line| line.strip_prefix("id:"));
            if let Some(id) = id {
                last = Some(id.trim().to_owned());
            }
            if block.lines().any(|line| line.starts_with("data:")) {
                seen.push(id.expect("every event has its id").trim().parse().unwrap());
            }
        }
    }
    seen
}

/// The messages of a stream (blocks ending in a blank line) until the
/// server ends it.
async fn messages_until_end(response: &mut reqwest::Response) -> Vec<String> {
    let mut buffer = String::new();
    let mut messages = Vec::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buffer.find("\n\n") {
            messages.push(buffer.drain(..end + 2).collect());
        }
    }
    messages
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_that_ended_before_any_event_resumes_where_it_started() {
    let stack = Stack::start_with(Options {
        extra_env: vec![("EVENT_STREAM_MAX_LIFETIME_MS", "200".into())],
        ..Options::default()
    })
    .await;
    let product = stack.product("Mouse", "5.00", 100).await;
    stack.add_to_cart("early", product, 1).await;
    stack.place_order("early").await;
    let url = format!("{}/api/order/events/stream", stack.gateway);
    let client = reqwest::Client::new();
    // A browser's first stream: no Last-Event-ID; nothing happens in it.
    let mut first = client.get(&url).send().await.unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    let messages = tokio::time::timeout(Duration::from_secs(10), messages_until_end(&mut first))
        .await
        .expect("the server ends the stream");
    assert!(
        !messages.iter().any(|m| m.contains("data:")),
        "{messages:?}"
    );
    // An order placed before the browser reconnects, with the last id it
    // was sent (none would mean: from the latest, missing this order).
    stack.add_to_cart("between", product, 1).await;
    let between = stack.place_order("between").await;
    let last = messages
        .iter()
        .flat_map(|m| m.lines())
        .filter_map(|line| line.strip_prefix("id:"))
        .next_back()
        .expect("the stream said where it started")
        .trim()
        .to_owned();
    let mut second = client
        .get(&url)
        .header("last-event-id", &last)
        .send()
        .await
        .unwrap();
    let messages = tokio::time::timeout(Duration::from_secs(10), messages_until_end(&mut second))
        .await
        .expect("the server ends the stream");
    let events: Vec<Value> = messages
        .iter()
        .flat_map(|m| m.lines())
        .filter_map(|line| line.strip_prefix("data:"))
        .map(|data| serde_json::from_str(data.trim()).unwrap())
        .collect();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["data"]["order_id"], between["id"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_end_after_their_lifetime_and_clients_resume_missing_nothing() {
    let stack = Stack::start_with(Options {
        extra_env: vec![("EVENT_STREAM_MAX_LIFETIME_MS", "200".into())],
        ..Options::default()
    })
    .await;
    let product = stack.product("Mouse", "5.00", 10_000).await;
    let want = Arc::new(AtomicUsize::new(usize::MAX));
    let streams = Arc::new(AtomicUsize::new(0));
    let follower = tokio::spawn(follow(
        format!("{}/api/order/events/stream", stack.gateway),
        want.clone(),
        streams.clone(),
    ));
    // Its first stream starts from the latest event: it is open before the
    // first order.
    eventually(Duration::from_secs(10), || async {
        (streams.load(Ordering::SeqCst) > 0).then_some(())
    })
    .await;
    // Orders placed while the server ends the follower's stream at least
    // four times: events are written before, during and between streams.
    let mut placed = 0;
    while placed < 20 || streams.load(Ordering::SeqCst) < 5 {
        assert!(placed < 5_000, "the stream was never ended");
        let user = format!("u{placed}");
        stack.add_to_cart(&user, product, 1).await;
        stack.place_order(&user).await;
        placed += 1;
    }
    want.store(placed, Ordering::SeqCst);
    let seen = tokio::time::timeout(Duration::from_secs(60), follower)
        .await
        .expect("the follower got every event")
        .unwrap();
    let expected: Vec<i64> = (1..=placed as i64).collect();
    assert_eq!(seen, expected, "every event once, in order");
}
