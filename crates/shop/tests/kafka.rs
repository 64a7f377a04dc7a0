//! Order events on a real Kafka-compatible broker (Tansu, started per test
//! on a free port): what arrives on the topic, through an outage, and
//! across a `kill -9` of the order service.
//!
//! `scripts/test.sh` installs Tansu when missing; `TANSU_BIN` overrides
//! where it is looked for.

#[allow(dead_code)]
#[path = "api/helpers.rs"]
mod helpers;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Message, Offset, TopicPartitionList};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use helpers::{
    assert_valid, event_schemas, every_kind_of_event, expected_types, Options, Replicas, Stack,
    Switch,
};

const TOPIC: &str = "order-events";

/// A port for a process the test may kill and start again on it.
fn restartable_port() -> u16 {
    helpers::restartable_ports(1)[0]
}

fn tansu_bin() -> PathBuf {
    if let Some(path) = std::env::var_os("TANSU_BIN") {
        return PathBuf::from(path);
    }
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")));
    match home.map(|h| h.join("bin/tansu")) {
        Some(path) if path.exists() => path,
        _ => PathBuf::from("tansu"),
    }
}

/// A Tansu broker with in-memory storage. Dropping it kills it.
struct Broker {
    port: u16,
    child: Option<Child>,
    log: PathBuf,
}

impl Broker {
    fn start(port: u16, log: PathBuf) -> Broker {
        let mut broker = Broker {
            port,
            child: None,
            log,
        };
        broker.restart();
        broker
    }

    fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn restart(&mut self) {
        let url = format!("tcp://127.0.0.1:{}", self.port);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("broker log");
        let child = Command::new(tansu_bin())
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
            ])
            .args(["--storage-engine", "memory://tansu/"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("tansu starts (scripts/test.sh installs it; or set TANSU_BIN)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "tansu did not listen: {}",
                self.tail()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn tail(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A message of the topic.
#[derive(Debug, Clone)]
struct Received {
    key: String,
    event: Value,
}

/// Reads the topic from the beginning until `done` holds or the deadline,
/// then for `grace` more, so that a message published twice is seen too.
fn consume(
    bootstrap: &str,
    deadline: Duration,
    grace: Duration,
    done: impl Fn(&[Received]) -> bool,
) -> Vec<Received> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", format!("test-{}", rand::random::<u64>()))
        .set("enable.auto.commit", "false")
        .set("log_level", "3")
        .create()
        .expect("consumer");
    let until = Instant::now() + deadline;
    let partitions = loop {
        let found: Vec<i32> = consumer
            .fetch_metadata(Some(TOPIC), Duration::from_secs(5))
            .map(|m| {
                m.topics()
                    .iter()
                    .filter(|t| t.name() == TOPIC && t.error().is_none())
                    .flat_map(|t| t.partitions().iter().map(|p| p.id()))
                    .collect()
            })
            .unwrap_or_default();
        if !found.is_empty() {
            break found;
        }
        assert!(Instant::now() < until, "topic {TOPIC} never appeared");
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut assignment = TopicPartitionList::new();
    for p in partitions {
        assignment
            .add_partition_offset(TOPIC, p, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&assignment).unwrap();
    let mut received = Vec::new();
    let mut stop_at: Option<Instant> = None;
    loop {
        let now = Instant::now();
        if stop_at.is_none() && done(&received) {
            stop_at = Some(now + grace);
        }
        if now >= stop_at.unwrap_or(until) || now >= until {
            break;
        }
        if let Some(Ok(message)) = consumer.poll(Duration::from_millis(200)) {
            let key = message
                .key_view::<str>()
                .and_then(Result::ok)
                .unwrap_or_default()
                .to_owned();
            let payload = message
                .payload_view::<str>()
                .and_then(Result::ok)
                .unwrap_or("{}");
            received.push(Received {
                key,
                event: serde_json::from_str(payload).expect("a JSON event"),
            });
        }
    }
    received
}

fn distinct_ids(received: &[Received]) -> HashSet<String> {
    received
        .iter()
        .map(|r| r.event["event_id"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// Per order, the events in the order they arrived (first delivery of each
/// event id; redeliveries must repeat the same event).
fn per_order(received: &[Received]) -> HashMap<i64, Vec<Value>> {
    let mut seen: HashMap<String, Value> = HashMap::new();
    let mut orders: HashMap<i64, Vec<Value>> = HashMap::new();
    for r in received {
        let id = r.event["event_id"].as_str().unwrap().to_owned();
        let order = r.event["data"]["order_id"].as_i64().unwrap();
        assert_eq!(r.key, order.to_string(), "keyed by order id: {}", r.event);
        match seen.get(&id) {
            Some(first) => assert_eq!(first, &r.event, "a duplicate is the same event"),
            None => {
                seen.insert(id, r.event.clone());
                orders.entry(order).or_default().push(r.event.clone());
            }
        }
    }
    orders
}

fn assert_in_sequence(orders: &HashMap<i64, Vec<Value>>) {
    for (order, events) in orders {
        let sequences: Vec<i64> = events
            .iter()
            .map(|e| e["sequence"].as_i64().unwrap())
            .collect();
        let mut sorted = sequences.clone();
        sorted.sort_unstable();
        assert_eq!(sequences, sorted, "order {order}'s events in order");
    }
}

/// A value of the order service's `/metrics`.
async fn metric(http: &reqwest::Client, order_url: &str, name: &str) -> Option<i64> {
    let response = http.get(format!("{order_url}/metrics")).send().await.ok()?;
    let text = response.text().await.ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

async fn backlog(http: &reqwest::Client, order_url: &str) -> Option<i64> {
    metric(http, order_url, "outbox_backlog").await
}

/// Waits until the relay has published `count` events in all.
async fn wait_for_published(
    http: &reqwest::Client,
    order_url: &str,
    count: i64,
    deadline: Duration,
) -> Duration {
    let start = Instant::now();
    loop {
        let published = metric(http, order_url, "outbox_events_published_total").await;
        if published.is_some_and(|p| p >= count) {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < deadline,
            "only {published:?} of {count} events published"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn wait_for_empty_backlog(
    http: &reqwest::Client,
    order_url: &str,
    deadline: Duration,
) -> Duration {
    let start = Instant::now();
    loop {
        if backlog(http, order_url).await == Some(0) {
            return start.elapsed();
        }
        assert!(start.elapsed() < deadline, "the outbox never drained");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn stack_on(broker: &Broker, decider: std::sync::Arc<Switch>) -> Stack {
    Stack::start_with(Options {
        payment_decider: Some(decider),
        extra_env: vec![
            ("KAFKA_BOOTSTRAP_SERVERS", broker.bootstrap()),
            ("KAFKA_PARTITIONS", "3".to_owned()),
        ],
        ..Options::default()
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_change_reaches_the_topic_in_order_and_valid() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start(restartable_port(), dir.path().join("tansu.log"));
    let decider = Switch::approving(true);
    let stack = stack_on(&broker, decider.clone()).await;
    let (first, second) = every_kind_of_event(&stack, &decider).await;

    let bootstrap = broker.bootstrap();
    let received = tokio::task::spawn_blocking(move || {
        consume(&bootstrap, Duration::from_secs(30), Duration::ZERO, |r| {
            distinct_ids(r).len() >= 6
        })
    })
    .await
    .unwrap();
    assert_eq!(distinct_ids(&received).len(), 6, "{received:?}");
    let schemas = event_schemas();
    for r in &received {
        assert_valid(&schemas, &r.event);
    }
    let orders = per_order(&received);
    assert_in_sequence(&orders);
    let mut got: Vec<(i64, &str)> = orders
        .iter()
        .flat_map(|(order, events)| {
            events
                .iter()
                .map(move |e| (*order, e["event_type"].as_str().unwrap()))
        })
        .collect();
    got.sort_by_key(|(order, _)| *order);
    assert_eq!(got, expected_types(first, second));
    // What the topic has is what the order service's feed has.
    let (_, feed) = stack.get(&format!("{}/events", stack.order)).await;
    let feed_ids: HashSet<String> = feed
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(feed_ids, distinct_ids(&received));

    // `shop events tail` prints the same events, one JSON per line.
    let output = Command::new(env!("CARGO_BIN_EXE_shop"))
        .args([
            "events",
            "tail",
            "--from-beginning",
            "--max",
            &received.len().to_string(),
        ])
        .args(["--bootstrap", &broker.bootstrap()])
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let tailed: HashSet<String> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| {
            let event: Value = serde_json::from_str(line).expect("one JSON event per line");
            event["event_id"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(tailed, feed_ids);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_outage_delays_events_but_loses_none() {
    let dir = tempfile::tempdir().unwrap();
    let mut broker = Broker::start(restartable_port(), dir.path().join("tansu.log"));
    let stack = stack_on(&broker, Switch::approving(true)).await;
    // The relay is connected and has created the topic.
    stack.add_to_cart("before", 1, 1).await;
    stack.place_order("before").await;
    wait_for_published(&stack.http, &stack.order, 1, Duration::from_secs(30)).await;

    broker.stop();
    // 100 order operations while the broker is down: 25 orders, each
    // created, paid, processing and shipped. Every one succeeds at once.
    let started = Instant::now();
    let mut ids = Vec::new();
    for i in 0..25 {
        let user = format!("outage{i}");
        stack.add_to_cart(&user, 2, 1).await;
        let id = stack.place_order(&user).await["id"].as_i64().unwrap();
        let (status, body) = stack
            .send(
                Method::POST,
                &format!("{}/orders/{id}/payment", stack.order),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        for next in ["processing", "shipped"] {
            let (status, body) = stack
                .put(
                    &format!("{}/orders/{id}/status", stack.order),
                    json!({"status": next}),
                )
                .await;
            assert_eq!(status, StatusCode::OK, "{body}");
        }
        ids.push(id);
    }
    let during_outage = started.elapsed();
    let deadline = Instant::now() + Duration::from_secs(10);
    while backlog(&stack.http, &stack.order).await != Some(100) {
        let now = backlog(&stack.http, &stack.order).await;
        assert!(
            Instant::now() < deadline,
            "the backlog counts {now:?}, not the 100 events"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    broker.restart();
    let drained = wait_for_published(&stack.http, &stack.order, 101, Duration::from_secs(60)).await;
    let bootstrap = broker.bootstrap();
    let received = tokio::task::spawn_blocking(move || {
        consume(&bootstrap, Duration::from_secs(30), Duration::ZERO, |r| {
            distinct_ids(r).len() >= 100
        })
    })
    .await
    .unwrap();
    let orders = per_order(&received);
    assert_in_sequence(&orders);
    for id in &ids {
        let types: Vec<&str> = orders[id]
            .iter()
            .map(|e| e["event_type"].as_str().unwrap())
            .collect();
        assert_eq!(
            types,
            [
                "order_created",
                "order_paid",
                "order_status_updated",
                "order_status_updated"
            ]
        );
    }
    println!(
        "outage: 100 operations in {during_outage:?} with the broker down; \
         100 events published {drained:?} after it returned"
    );
}

/// The order service as its own process, so it can be killed; what it
/// prints goes to `order.log` beside its database.
struct OrderProcess {
    child: Option<Child>,
    env: Vec<(String, String)>,
    url: String,
    log: PathBuf,
}

impl OrderProcess {
    fn start(env: Vec<(String, String)>, url: String, dir: &tempfile::TempDir) -> OrderProcess {
        let mut process = OrderProcess {
            child: None,
            env,
            url,
            log: dir.path().join("order.log"),
        };
        process.restart();
        process
    }

    fn restart(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("order log");
        let child = Command::new(env!("CARGO_BIN_EXE_shop"))
            .args(["serve", "order"])
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("shop serve order");
        self.child = Some(child);
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().expect("SIGKILL");
            let _ = child.wait();
        }
    }

    async fn wait_ready(&mut self, http: &reqwest::Client) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ready = http.get(format!("{}/ready", self.url)).send().await;
            if matches!(ready, Ok(r) if r.status().is_success()) {
                return;
            }
            let exited = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten());
            let log = || std::fs::read_to_string(&self.log).unwrap_or_default();
            assert!(
                exited.is_none(),
                "order service exited ({exited:?}):\n{}",
                log()
            );
            assert!(
                Instant::now() < deadline,
                "order service not ready:\n{}",
                log()
            );
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
    }
}

impl Drop for OrderProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The environment of an order service process wired to `stack`.
/// A TCP proxy in front of a service that tells when a request it forwards
/// starts with `needle` (e.g. `POST /reservations`): a test then knows a
/// call is in flight, instead of guessing with a sleep.
struct Tripwire {
    port: u16,
    armed: std::sync::Arc<std::sync::atomic::AtomicBool>,
    tripped: std::sync::Arc<tokio::sync::Notify>,
}

impl Tripwire {
    async fn start(upstream: std::net::SocketAddr, needle: &'static [u8]) -> Tripwire {
        use std::sync::atomic::Ordering;
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let armed = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let tripped = std::sync::Arc::new(tokio::sync::Notify::new());
        let (armed_in, tripped_in) = (armed.clone(), tripped.clone());
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (armed, tripped) = (armed_in.clone(), tripped_in.clone());
                tokio::spawn(async move {
                    let Ok(server) = tokio::net::TcpStream::connect(upstream).await else {
                        return;
                    };
                    let (mut client_read, mut client_write) = client.into_split();
                    let (mut server_read, mut server_write) = server.into_split();
                    let back = tokio::spawn(async move {
                        let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
                    });
                    let mut buffer = vec![0u8; 16 * 1024];
                    while let Ok(n) = client_read.read(&mut buffer).await {
                        if n == 0 {
                            break;
                        }
                        if server_write.write_all(&buffer[..n]).await.is_err() {
                            break;
                        }
                        let seen = buffer[..n].windows(needle.len()).any(|w| w == needle);
                        if seen && armed.swap(false, Ordering::SeqCst) {
                            tripped.notify_one();
                        }
                    }
                    back.abort();
                });
            }
        });
        Tripwire {
            port,
            armed,
            tripped,
        }
    }

    /// Waits until the next request starting with the needle has been
    /// forwarded.
    fn arm(&self) -> impl std::future::Future<Output = ()> + '_ {
        self.armed.store(true, std::sync::atomic::Ordering::SeqCst);
        self.tripped.notified()
    }
}

fn order_env(
    stack: &Stack,
    broker: &Broker,
    dir: &tempfile::TempDir,
    port: u16,
) -> Vec<(String, String)> {
    [
        ("BIND", "127.0.0.1".to_owned()),
        ("PORT", port.to_string()),
        ("DB_PATH", dir.path().join("order.db").display().to_string()),
        ("SERVICE_TOKEN", stack.service_token.clone()),
        ("CART_SERVICE_URL", stack.cart.clone()),
        ("CATALOG_SERVICE_URL", stack.catalog.clone()),
        ("PAYMENT_SERVICE_URL", stack.payment.clone()),
        ("KAFKA_BOOTSTRAP_SERVERS", broker.bootstrap()),
        ("RECOVERY_STALE_MS", "500".to_owned()),
        ("RUST_LOG", "warn".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_committed_but_unpublished_at_a_kill_are_published_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut broker = Broker::start(restartable_port(), dir.path().join("tansu.log"));
    let stack = Stack::start().await;
    let port = restartable_port();
    let url = format!("http://127.0.0.1:{port}");
    let mut order = OrderProcess::start(order_env(&stack, &broker, &dir, port), url.clone(), &dir);
    order.wait_ready(&stack.http).await;

    // With the broker down, changes commit but their events cannot leave.
    broker.stop();
    let mut committed = HashSet::new();
    for round in 0..10 {
        let user = format!("pending{round}");
        stack.add_to_cart(&user, 1, 1).await;
        let response = stack
            .http
            .post(format!("{url}/orders"))
            .json(&json!({"user_id": user}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
    }
    let (_, feed): (_, Value) = stack.get(&format!("{url}/events?limit=1000")).await;
    for event in feed.as_array().unwrap() {
        committed.insert(event["event_id"].as_str().unwrap().to_owned());
    }
    assert_eq!(committed.len(), 10);
    let deadline = Instant::now() + Duration::from_secs(10);
    while backlog(&stack.http, &url).await < Some(10) {
        assert!(Instant::now() < deadline, "the events wait in the outbox");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Killed between commit and publish, then everything comes back.
    order.kill();
    broker.restart();
    order.restart();
    order.wait_ready(&stack.http).await;
    let bootstrap = broker.bootstrap();
    let wanted = committed.clone();
    let received = tokio::task::spawn_blocking(move || {
        consume(&bootstrap, Duration::from_secs(30), Duration::ZERO, |r| {
            distinct_ids(r).is_superset(&wanted)
        })
    })
    .await
    .unwrap();
    assert!(
        distinct_ids(&received).is_superset(&committed),
        "{received:?}"
    );
    assert_in_sequence(&per_order(&received));
}

/// Sends a checkout (`place`, again while one ends before it reaches the
/// catalog: a connection lost on the way, which changes nothing) until one
/// is in flight at the catalog's tripwire; that one, still running.
async fn checkout_reaching<F>(
    tripwire: &Tripwire,
    place: impl Fn() -> F,
) -> tokio::task::JoinHandle<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: std::fmt::Debug + Send + 'static,
{
    for _ in 0..3 {
        let reserving = tripwire.arm();
        let mut in_flight = tokio::spawn(place());
        tokio::select! {
            biased;
            _ = reserving => return in_flight,
            ended = &mut in_flight => {
                eprintln!("a checkout ended before it reached the catalog: {ended:?}");
            }
            _ = tokio::time::sleep(Duration::from_secs(10)) => {
                panic!("no checkout reached the catalog within 10 s");
            }
        }
    }
    panic!("three checkouts ended before they reached the catalog");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_order_service_loses_no_committed_event() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start(restartable_port(), dir.path().join("tansu.log"));
    let port = restartable_port();
    let url = format!("http://127.0.0.1:{port}");
    // The payment service asks this order process about the orders it pays.
    let stack = Stack::start_with(Options {
        extra_env: vec![("ORDER_SERVICE_URL", url.clone())],
        ..Options::default()
    })
    .await;
    // The order process reaches the catalog through a tripwire, which says
    // when a checkout is reserving stock: the kill lands mid-checkout.
    let catalog: std::net::SocketAddr =
        stack.catalog.trim_start_matches("http://").parse().unwrap();
    let tripwire = Tripwire::start(catalog, b"POST /reservations").await;
    let mut env = order_env(&stack, &broker, &dir, port);
    for (key, value) in &mut env {
        if key == "CATALOG_SERVICE_URL" {
            *value = format!("http://127.0.0.1:{}", tripwire.port);
        }
    }
    let mut order = OrderProcess::start(env, url.clone(), &dir);
    order.wait_ready(&stack.http).await;

    // A stream of checkouts and payments; the service is killed twice in
    // the middle of it, while a checkout is in flight.
    let plenty = stack.product("Plenty", "2.50", 1000).await;
    let (mut kills, mut placed_orders, mut paid) = (0, 0, 0);
    for round in 0..60 {
        let user = format!("stream{round}");
        stack.add_to_cart(&user, plenty, 1).await;
        let place = || {
            stack
                .http
                .post(format!("{url}/orders"))
                .json(&json!({"user_id": user}))
                .send()
        };
        if round == 20 || round == 40 {
            let in_flight = checkout_reaching(&tripwire, place).await;
            order.kill();
            kills += 1;
            let _ = in_flight.await;
            order.restart();
            order.wait_ready(&stack.http).await;
            continue;
        }
        let Ok(response) = place().await else {
            continue;
        };
        let Ok(body) = response.json::<Value>().await else {
            continue;
        };
        let Some(id) = body["id"].as_i64() else {
            continue;
        };
        placed_orders += 1;
        let payment = stack
            .http
            .post(format!("{url}/orders/{id}/payment"))
            .send()
            .await;
        if payment.is_ok_and(|r| r.status() == StatusCode::OK) {
            paid += 1;
        }
    }
    // Every round but the two killed placed and paid an order: a checkout
    // path refusing everything cannot pass.
    assert_eq!(kills, 2);
    assert!(
        placed_orders >= 50 && paid >= 50,
        "only {placed_orders} orders placed and {paid} paid of 58"
    );
    wait_for_empty_backlog(&stack.http, &url, Duration::from_secs(60)).await;

    let mut committed = Vec::new();
    let mut after = 0;
    loop {
        let page: Value = stack
            .http
            .get(format!("{url}/events?after={after}&limit=1000"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let page = page.as_array().unwrap().clone();
        if page.is_empty() {
            break;
        }
        after = page.last().unwrap()["sequence"].as_i64().unwrap();
        committed.extend(page);
    }
    let expected: HashSet<String> = committed
        .iter()
        .map(|e| e["event_id"].as_str().unwrap().to_owned())
        .collect();
    let bootstrap = broker.bootstrap();
    let wanted = expected.clone();
    let received = tokio::task::spawn_blocking(move || {
        consume(&bootstrap, Duration::from_secs(30), Duration::ZERO, |r| {
            distinct_ids(r).is_superset(&wanted)
        })
    })
    .await
    .unwrap();
    let on_topic = distinct_ids(&received);
    let missing: Vec<_> = expected.difference(&on_topic).collect();
    assert!(
        missing.is_empty(),
        "committed events missing from the topic: {missing:?}"
    );
    // Each acknowledged order and payment committed its event (the killed
    // checkouts may add theirs, once recovery finished them).
    assert!(
        expected.len() >= placed_orders + paid,
        "{} committed events for {placed_orders} orders and {paid} payments",
        expected.len()
    );
    assert_in_sequence(&per_order(&received));
    println!(
        "kill -9: {kills} kills, {} committed events, all on the topic ({} messages, {} redelivered)",
        expected.len(),
        received.len(),
        received.len() - on_topic.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_order_replicas_relay_every_event_once_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start(restartable_port(), dir.path().join("tansu.log"));
    let shop = Replicas::start(&[("KAFKA_BOOTSTRAP_SERVERS", broker.bootstrap())]).await;
    let http = &shop.http;
    // Each order's changes go through both replicas in turn.
    for i in 0..30 {
        let (a, b) = (i % 2, (i + 1) % 2);
        let user = format!("twin{i}");
        let added = http
            .post(format!("{}/cart/{user}/items", shop.cart[a]))
            .json(&json!({"product_id": 2, "quantity": 1}))
            .send()
            .await
            .unwrap();
        assert_eq!(added.status(), StatusCode::OK);
        let order: Value = http
            .post(format!("{}/orders", shop.order[a]))
            .json(&json!({"user_id": user}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let id = order["id"].as_i64().expect("an order");
        let paid = http
            .post(format!("{}/orders/{id}/payment", shop.order[b]))
            .send()
            .await
            .unwrap();
        assert_eq!(paid.status(), StatusCode::OK);
        let shipped = http
            .put(format!("{}/orders/{id}/status", shop.order[a]))
            .json(&json!({"status": "processing"}))
            .send()
            .await
            .unwrap();
        assert_eq!(shipped.status(), StatusCode::OK);
    }
    let feed: Value = http
        .get(format!("{}/events?limit=1000", shop.order[1]))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let committed: HashSet<String> = feed
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(committed.len(), 90);
    let sequences: Vec<i64> = feed
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["sequence"].as_i64().unwrap())
        .collect();
    assert!(
        sequences.windows(2).all(|w| w[0] < w[1]),
        "one sequence for both replicas"
    );

    let bootstrap = broker.bootstrap();
    let wanted = committed.clone();
    let received = tokio::task::spawn_blocking(move || {
        consume(
            &bootstrap,
            Duration::from_secs(30),
            Duration::from_secs(3),
            |r| distinct_ids(r).is_superset(&wanted),
        )
    })
    .await
    .unwrap();
    assert!(distinct_ids(&received).is_superset(&committed));
    // Exactly once: with nothing failing, only the replica holding the
    // outbox lock publishes, so no event arrives twice (read for 3 s after
    // the last one arrived, to see a second copy).
    let mut copies: HashMap<&str, usize> = HashMap::new();
    for r in &received {
        *copies
            .entry(r.event["event_id"].as_str().unwrap())
            .or_default() += 1;
    }
    let twice: Vec<_> = copies.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.is_empty(),
        "events published more than once: {twice:?}"
    );
    assert_eq!(
        received.len(),
        committed.len(),
        "one message per committed event"
    );
    let orders = per_order(&received);
    assert_in_sequence(&orders);
    for events in orders.values() {
        let types: Vec<&str> = events
            .iter()
            .map(|e| e["event_type"].as_str().unwrap())
            .collect();
        assert_eq!(
            types,
            ["order_created", "order_paid", "order_status_updated"]
        );
    }
}
