//! Clients that hold connections: idle floods, slowloris, a full listener.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use futures::StreamExt;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::helpers::{any_free_ports, printed_urls, Options, Running, Stack};
use crate::raw::{addr, closed_by_server, connect, exchange, read_response};

/// Starts `shop up` on free ports with its soft open-files limit lowered
/// to 1024, as a default shell gives it; returns the six base URLs
/// (gateway first) once it printed them.
fn shop_up(dir: &std::path::Path, env: &[(&str, &str)]) -> (Running, Vec<(String, String)>) {
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(r#"ulimit -S -n 1024 && exec "$0" "$@""#)
        .arg(env!("CARGO_BIN_EXE_shop"))
        .args(["up", "--data-dir"])
        .arg(dir)
        .args(any_free_ports())
        .env("LOG_FORMAT", "json")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for (name, value) in env {
        command.env(name, value);
    }
    let mut running = Running(command.spawn().expect("shop up starts"));
    let urls = printed_urls(&mut running);
    assert_eq!(urls.len(), 6, "shop up printed its six URLs: {urls:?}");
    (running, urls)
}

/// This test process's open-files limit raised to its hard limit: it holds
/// thousands of client sockets.
fn raise_own_open_files_limit(needed: u64) {
    let limit = rlimit::increase_nofile_limit(u64::MAX).expect("raise the open-files limit");
    assert!(
        limit >= needed,
        "this test needs {needed} open files; the hard limit is {limit}"
    );
}

/// `GET /health` of every service answers 200, each on a new connection.
async fn every_health_answers(urls: &[(String, String)]) {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    for (name, url) in urls {
        let response = http
            .get(format!("{url}/health"))
            .send()
            .await
            .unwrap_or_else(|err| panic!("{name} /health does not answer: {err}"));
        assert_eq!(response.status(), 200, "{name}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["status"], "healthy", "{name}: {body}");
    }
}

/// A slowloris client: a request head sent one byte every 20 ms, never
/// finished. Returns once the server closed the connection (or the test's
/// deadline passed), with the number of bytes it got to send.
async fn slowloris(url: String, deadline: Duration) -> (bool, usize) {
    let mut stream = connect(&url).await;
    let head = "GET /health HTTP/1.1\r\nhost: shop\r\nx-slow: ";
    let mut sent = 0;
    let mut pace = tokio::time::interval(Duration::from_millis(20));
    let started = tokio::time::Instant::now();
    let bytes = head.bytes().chain(std::iter::repeat(b'a'));
    for byte in bytes {
        if started.elapsed() > deadline {
            return (false, sent);
        }
        pace.tick().await;
        if stream.write_all(&[byte]).await.is_err() {
            return (true, sent);
        }
        sent += 1;
        // The server may close while we still write into the socket buffer:
        // look for its end too.
        if closed_by_server(&mut stream, Duration::ZERO).await {
            return (true, sent);
        }
    }
    unreachable!()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_thousand_idle_connections_and_slowloris_leave_every_health_answering() {
    const IDLE: usize = 5_000;
    raise_own_open_files_limit(IDLE as u64 + 1_000);
    let dir = tempfile::tempdir().unwrap();
    let (_shop, urls) = shop_up(dir.path(), &[]);

    let lorises: Vec<_> = urls
        .iter()
        .map(|(_, url)| tokio::spawn(slowloris(url.clone(), Duration::from_secs(90))))
        .collect();

    // About 830 idle connections on each of the six ports: 5,000 file
    // descriptors, five times what the process was started with.
    let targets: Vec<String> = (0..IDLE).map(|i| addr(&urls[i % urls.len()].1)).collect();
    let opening = futures::stream::iter(targets)
        .map(|target| async move {
            tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(target)).await
        })
        .buffer_unordered(64)
        .filter_map(|connected| async move { connected.ok().and_then(Result::ok) })
        .collect::<Vec<TcpStream>>();
    let idle = tokio::time::timeout(Duration::from_secs(60), opening)
        .await
        .expect("the idle connections opened within a minute");
    assert_eq!(idle.len(), IDLE, "every idle connection opened");

    let started = Instant::now();
    every_health_answers(&urls).await;
    println!(
        "{} idle connections and 6 slowloris clients open: /health of all six answered in {:?}",
        idle.len(),
        started.elapsed()
    );

    // The server closes them all: idle ones after the header read timeout,
    // the slowloris ones however slowly they keep sending.
    let closed: Vec<bool> =
        futures::stream::iter(idle)
            .map(|mut stream| async move {
                closed_by_server(&mut stream, Duration::from_secs(60)).await
            })
            .buffer_unordered(IDLE)
            .collect()
            .await;
    let open = closed.iter().filter(|closed| !**closed).count();
    assert_eq!(open, 0, "idle connections the server kept open");
    println!("the server closed all {} idle connections", closed.len());
    for loris in lorises {
        let (closed, sent) = loris.await.unwrap();
        assert!(
            closed,
            "a slowloris sent {sent} bytes and is still connected"
        );
        println!("a slowloris was cut off after sending {sent} bytes");
    }
    every_health_answers(&urls).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_listener_answers_503_and_the_others_still_answer() {
    const CAP: usize = 50;
    let stack = Stack::start_with(Options {
        extra_env: vec![("SERVER_MAX_CONNECTIONS", CAP.to_string())],
        ..Options::default()
    })
    .await;
    let mut idle = Vec::new();
    for _ in 0..CAP {
        idle.push(connect(&stack.gateway).await);
    }
    // Once the gateway has accepted all of them, one more is refused at
    // once with the envelope.
    let deadline = Instant::now() + Duration::from_secs(20);
    let refused = loop {
        let response = exchange(
            &stack.gateway,
            b"GET /health HTTP/1.1\r\nhost: shop\r\n\r\n",
        )
        .await;
        if response.status == 503 {
            break response;
        }
        assert_eq!(response.status, 200);
        assert!(Instant::now() < deadline, "the gateway never refused");
    };
    let why = refused.detail(503);
    assert!(why.contains("Too many connections"), "{why}");
    assert_eq!(refused.header("connection"), Some("close"));

    // The other listeners are not starved.
    for url in [&stack.catalog, &stack.cart, &stack.order, &stack.payment] {
        let (status, body) = stack.get(&format!("{url}/health")).await;
        assert_eq!(status, 200, "{url}: {body}");
    }
    // And the gateway answers again once the idle connections are gone.
    drop(idle);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let response = exchange(
            &stack.gateway,
            b"GET /health HTTP/1.1\r\nhost: shop\r\n\r\n",
        )
        .await;
        if response.status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "the gateway stays full");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_heads_and_idle_keep_alive_connections_are_closed() {
    let stack = Stack::start_with(Options {
        extra_env: vec![
            ("SERVER_HEADER_READ_TIMEOUT_MS", "300".to_owned()),
            ("SERVER_IDLE_TIMEOUT_MS", "600".to_owned()),
        ],
        ..Options::default()
    })
    .await;
    for url in [&stack.gateway, &stack.catalog] {
        // A head that never ends.
        let (closed, sent) = slowloris(url.clone(), Duration::from_secs(20)).await;
        assert!(
            closed,
            "{url}: a slowloris sent {sent} bytes and is still connected"
        );

        // A connection that never sends anything.
        let mut silent = connect(url).await;
        assert!(
            closed_by_server(&mut silent, Duration::from_secs(20)).await,
            "{url}"
        );

        // A kept-alive connection, once its request is answered.
        let mut kept = connect(url).await;
        kept.write_all(b"GET /health HTTP/1.1\r\nhost: shop\r\n\r\n")
            .await
            .unwrap();
        let response = read_response(&mut kept).await.expect("an answer");
        assert_eq!(response.status, 200);
        assert!(
            closed_by_server(&mut kept, Duration::from_secs(20)).await,
            "{url}"
        );
    }
}
