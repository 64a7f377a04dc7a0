//! Crash safety (SPEC §3, guarantee 6): "a process killed at any instant
//! (kill -9) loses no acknowledged write, and after restart the system
//! converges".
//!
//! The four services run as separate `shop serve` processes, each with its
//! own SQLite file. Concurrent shoppers fill carts, check out (sometimes
//! twice at once, under two keys), pay (sometimes twice at once; or staff
//! mark the order paid) and sometimes cancel, retrying with the same `Idempotency-Key` whenever an
//! answer is lost, as a careful client would. Meanwhile the order, catalog,
//! payment and cart services are SIGKILLed in turn at random instants and
//! restarted on the same port and database. When the shoppers stop, the
//! system must converge (recovery finishing or undoing what the kills
//! interrupted) to a state where:
//!
//! - a. stock: every unit a product lost is in an order that is not cancelled;
//! - b. payments: every successful payment (card, or manual when staff mark
//!   an order paid) is its order's `payment_id`, one per order, and no order
//!   is paid without one;
//! - c. carts: every unit acknowledged into a cart is still there or in one
//!   of the user's orders;
//! - d. money: every order's total is the exact sum of its lines, priced as
//!   the catalog prices them;
//! - e. acknowledged writes: every order, payment and cancellation a client
//!   was told about is there as it was told;
//! - f. refunds: every cancelled order that was paid has exactly one refund,
//!   of its payment, for its total, and says so; no other order has one.
//!
//! A second test kills the order service at the one instant a refund's
//! crash safety hangs on: after the payment service refunded, before the
//! order recorded it.

#[allow(dead_code)]
#[path = "api/helpers.rs"]
mod helpers;

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use reqwest::{RequestBuilder, StatusCode};
use serde_json::{json, Value};
use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Concurrent shoppers.
const TASKS: usize = 8;
/// Kills in all (a third per service, in rotation) ...
const MIN_KILLS: usize = 21;
/// ... and for at least this long.
const KILL_PHASE: Duration = Duration::from_secs(25);
/// What a run must have done, so that a checkout path refusing everything
/// (all 409 or 503) cannot pass: acknowledged orders, card or manual
/// payments, manual payments ("mark as paid"). A run on two cores makes
/// about 1,400 orders, 1,200 payments and 250 manual ones.
const MIN_ORDERS: usize = 200;
const MIN_PAYMENTS: usize = 100;
const MIN_MANUAL: usize = 20;
/// Cancelled paid orders (each refunded): about 200 in a run.
const MIN_REFUNDS: usize = 20;
/// How long a client keeps retrying a request whose answer it did not get.
const RETRY_BUDGET: Duration = Duration::from_secs(10);
/// How long recovery may take to settle everything once the kills stop.
const CONVERGENCE_DEADLINE: Duration = Duration::from_secs(30);
/// How long a (re)started service may take to answer `/ready`.
const READY_DEADLINE: Duration = Duration::from_secs(20);
/// Rounds (add, check out, pay) per user: later rounds find what an earlier
/// refused checkout left in the cart.
const ROUNDS_PER_USER: usize = 3;

/// The products the shoppers buy: name, price (with cents), stock. Two are
/// scarce, so checkouts also race for the last units and get refused; the
/// others last the whole run.
const PRODUCTS: [(&str, &str, i64); 6] = [
    ("Crash kettle", "12.34", 30),
    ("Crash mug", "0.99", 40),
    ("Crash lamp", "199.95", 2000),
    ("Crash socks", "5.10", 3000),
    ("Crash chair", "1234.56", 4000),
    ("Crash tea", "7.07", 5000),
];

// ---------------------------------------------------------------------------
// The cluster of processes.

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Service {
    Catalog,
    Cart,
    Order,
    Payment,
}

impl Service {
    const ALL: [Service; 4] = [
        Service::Catalog,
        Service::Cart,
        Service::Order,
        Service::Payment,
    ];

    fn name(self) -> &'static str {
        match self {
            Service::Catalog => "catalog",
            Service::Cart => "cart",
            Service::Order => "order",
            Service::Payment => "payment",
        }
    }
}

/// The kill rotation of the spec ("kill -9 the order service, then the
/// catalog, then the payment service, at random instants"), plus the cart:
/// a cart killed while an order's items are being removed must not let the
/// user's next checkout order them again.
const VICTIMS: [Service; 4] = [
    Service::Order,
    Service::Catalog,
    Service::Payment,
    Service::Cart,
];

/// Base URLs of the services.
#[derive(Debug, Clone)]
struct Urls {
    catalog: String,
    cart: String,
    order: String,
    payment: String,
}

/// The four services as child processes. Dropping it kills them all; when
/// the test is failing it first prints the tails of their logs and keeps the
/// directory (databases and logs) for a post-mortem.
struct Cluster {
    dir: Option<TempDir>,
    ports: BTreeMap<Service, u16>,
    /// The services' shared `SERVICE_TOKEN`.
    service_token: String,
    children: BTreeMap<Service, Child>,
    starts: usize,
    http: reqwest::Client,
    /// Where the order service reaches the payment service (the payment
    /// service itself unless a test puts something between them).
    payment_url_for_order: Option<String>,
}

/// One port per service, free to take again after each kill.
fn service_ports() -> BTreeMap<Service, u16> {
    Service::ALL
        .into_iter()
        .zip(helpers::restartable_ports(Service::ALL.len()))
        .collect()
}

impl Cluster {
    /// Starts every service and waits until each is ready.
    async fn start_all() -> Cluster {
        Cluster::start_all_with(|_| None).await
    }

    /// [`Cluster::start_all`], with the order service reaching the payment
    /// service at the URL `payment_url` makes of the payment service's.
    async fn start_all_with(payment_url: impl FnOnce(&str) -> Option<String>) -> Cluster {
        let mut cluster = Cluster {
            dir: Some(tempfile::tempdir().expect("temp dir")),
            ports: service_ports(),
            service_token: format!("crash-{:032x}", rand::random::<u128>()),
            children: BTreeMap::new(),
            starts: 0,
            http: reqwest::Client::builder()
                .timeout(Duration::from_millis(500))
                .build()
                .expect("http client"),
            payment_url_for_order: None,
        };
        cluster.payment_url_for_order = payment_url(&cluster.url(Service::Payment));
        for service in Service::ALL {
            cluster.start(service).await;
        }
        cluster
    }

    fn dir(&self) -> &Path {
        self.dir.as_ref().expect("directory kept").path()
    }

    fn url(&self, service: Service) -> String {
        format!("http://127.0.0.1:{}", self.ports[&service])
    }

    fn urls(&self) -> Urls {
        Urls {
            catalog: self.url(Service::Catalog),
            cart: self.url(Service::Cart),
            order: self.url(Service::Order),
            payment: self.url(Service::Payment),
        }
    }

    fn log_path(&self, service: Service) -> PathBuf {
        self.dir().join(format!("{}.log", service.name()))
    }

    /// Launches the process (same port, settings and database every time);
    /// stdout and stderr are appended to its log.
    fn spawn(&mut self, service: Service) {
        self.starts += 1;
        let log_path = self.log_path(service);
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .expect("open log");
        let _ = writeln!(log, "--- test: start #{} ---", self.starts);
        let stderr: File = log.try_clone().expect("clone log handle");
        let payment_url = match (service, &self.payment_url_for_order) {
            (Service::Order, Some(url)) => url.clone(),
            _ => self.url(Service::Payment),
        };
        let child = Command::new(env!("CARGO_BIN_EXE_shop"))
            .args(["serve", service.name()])
            .env("BIND", "127.0.0.1")
            .env("PORT", self.ports[&service].to_string())
            .env("DB_PATH", self.dir().join(format!("{}.db", service.name())))
            .env("SERVICE_TOKEN", &self.service_token)
            .env("ORDER_SERVICE_URL", self.url(Service::Order))
            .env("CATALOG_SERVICE_URL", self.url(Service::Catalog))
            .env("CART_SERVICE_URL", self.url(Service::Cart))
            .env("PAYMENT_SERVICE_URL", payment_url)
            .env("PAYMENT_SUCCESS_RATE", "0.7")
            // Recovery must step in quickly, or the test would wait for it.
            .env("RECOVERY_INTERVAL_MS", "200")
            .env("RECOVERY_STALE_MS", "1000")
            // Unpaid orders expire during the run (their stock goes back).
            .env("ORDER_PAYMENT_TIMEOUT", "2")
            // A dead dependency must cost little, so work goes on.
            .env("HTTP_CONNECT_TIMEOUT_MS", "300")
            .env("HTTP_REQUEST_TIMEOUT_MS", "2000")
            .env("RUST_LOG", "warn")
            .env("LOG_FORMAT", "json")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(stderr)
            .spawn()
            .expect("spawn shop serve");
        self.children.insert(service, child);
    }

    /// Starts `service` and waits until it answers `/ready`.
    async fn start(&mut self, service: Service) {
        let deadline = Instant::now() + READY_DEADLINE;
        let ready_url = format!("{}/ready", self.url(service));
        self.spawn(service);
        loop {
            if let Ok(response) = self.http.get(&ready_url).send().await {
                if response.status() == StatusCode::OK {
                    return;
                }
            }
            let child = self.children.get_mut(&service).expect("spawned");
            if let Ok(Some(status)) = child.try_wait() {
                // A restart may find the port not yet free again; the
                // service then stops at once (exit code 1): try again.
                assert!(
                    Instant::now() < deadline,
                    "{} keeps exiting at start-up ({status})",
                    service.name()
                );
                self.spawn(service);
            }
            assert!(
                Instant::now() < deadline,
                "{} not ready within {READY_DEADLINE:?}",
                service.name()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// The process id of `service`.
    fn pid(&self, service: Service) -> u32 {
        self.children[&service].id()
    }

    /// Reaps `service` after something else killed it.
    fn reap(&mut self, service: Service) {
        let mut child = self.children.remove(&service).expect("service started");
        child.wait().expect("reap service");
    }

    /// kill -9, and waits until the process is gone.
    fn kill(&mut self, service: Service) {
        let mut child = self.children.remove(&service).expect("service running");
        // `Child::kill` sends SIGKILL on unix: no shutdown code runs.
        child.kill().expect("SIGKILL");
        child.wait().expect("reap killed service");
    }

    /// The last lines of every service's log.
    fn log_tails(&self) -> String {
        let mut out = String::new();
        for service in Service::ALL {
            let text = std::fs::read_to_string(self.log_path(service)).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            let tail = &lines[lines.len().saturating_sub(15)..];
            out.push_str(&format!(
                "===== {} log (last {} lines) =====\n{}\n",
                service.name(),
                tail.len(),
                tail.join("\n")
            ));
        }
        out
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for (_, mut child) in std::mem::take(&mut self.children) {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!("{}", self.log_tails());
            if let Some(dir) = self.dir.take() {
                eprintln!("databases and logs kept in {}", dir.keep().display());
            }
        }
    }
}

/// Kills the victims in rotation, each after a random 100-600 ms, and
/// restarts each at once, until enough kills over a long enough time.
/// Returns the number of kills.
async fn kill_in_rotation(cluster: &mut Cluster, rng: &mut StdRng) -> usize {
    let started = Instant::now();
    let mut kills = 0;
    for &victim in VICTIMS.iter().cycle() {
        if kills >= MIN_KILLS && started.elapsed() >= KILL_PHASE {
            break;
        }
        tokio::time::sleep(Duration::from_millis(rng.random_range(100..=600))).await;
        cluster.kill(victim);
        cluster.start(victim).await;
        kills += 1;
    }
    kills
}

// ---------------------------------------------------------------------------
// Talking to the services.

/// What a request came back with.
#[derive(Debug)]
enum Reply {
    Answer(StatusCode, Value),
    /// No answer (refused, reset, timed out): it may or may not have
    /// taken effect.
    Lost(String),
}

impl Reply {
    fn describe(&self) -> String {
        match self {
            Reply::Answer(status, body) => format!("{status} {body}"),
            Reply::Lost(why) => format!("no answer ({why})"),
        }
    }
}

async fn send(request: RequestBuilder) -> Reply {
    let response = match request.send().await {
        Ok(response) => response,
        Err(err) => return Reply::Lost(err.to_string()),
    };
    let status = response.status();
    match response.text().await {
        Ok(text) => Reply::Answer(
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        ),
        Err(err) => Reply::Lost(err.to_string()),
    }
}

/// Sends the request `make` builds (the same one each time, with its
/// Idempotency-Key) until it gets an answer `retry` does not ask to retry,
/// or [`RETRY_BUDGET`] is spent; returns the last reply. Counts re-sends in
/// `resent`.
async fn send_retrying(
    make: impl Fn() -> RequestBuilder,
    retry: impl Fn(StatusCode) -> bool,
    resent: &mut usize,
) -> Reply {
    let deadline = Instant::now() + RETRY_BUDGET;
    loop {
        let reply = send(make()).await;
        let again = match &reply {
            Reply::Answer(status, _) => retry(*status),
            Reply::Lost(_) => true,
        };
        if !again || Instant::now() >= deadline {
            return reply;
        }
        *resent += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn detail(body: &Value) -> &str {
    body["detail"].as_str().unwrap_or("")
}

/// GETs every page of a list endpoint (`skip`/`limit`).
async fn get_all(http: &reqwest::Client, url: &str) -> Result<Vec<Value>, String> {
    const LIMIT: usize = 1000;
    let mut all = Vec::new();
    loop {
        let sep = if url.contains('?') { '&' } else { '?' };
        let page_url = format!("{url}{sep}skip={}&limit={LIMIT}", all.len());
        let page = match send(http.get(&page_url)).await {
            Reply::Answer(StatusCode::OK, Value::Array(page)) => page,
            other => return Err(format!("GET {page_url}: {}", other.describe())),
        };
        let done = page.len() < LIMIT;
        all.extend(page);
        if done {
            return Ok(all);
        }
    }
}

/// An amount in cents, from the exact text of a JSON number (never through
/// f64): `12.34`, `12.3`, `12`.
fn cents(value: &Value) -> Option<i64> {
    let Value::Number(number) = value else {
        return None;
    };
    let text = number.to_string();
    let (whole, fraction) = text.split_once('.').unwrap_or((&text, ""));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || fraction.len() > 2 || (!fraction.is_empty() && !digits(fraction)) {
        return None;
    }
    let fraction_cents = match fraction.len() {
        0 => 0,
        1 => fraction.parse::<i64>().ok()? * 10,
        _ => fraction.parse::<i64>().ok()?,
    };
    whole
        .parse::<i64>()
        .ok()?
        .checked_mul(100)?
        .checked_add(fraction_cents)
}

// ---------------------------------------------------------------------------
// The shoppers.

/// What every shopper task shares.
#[derive(Clone)]
struct Shop {
    http: reqwest::Client,
    urls: Urls,
    products: Arc<Vec<i64>>,
    stop: Arc<AtomicBool>,
}

/// What one user was told was added to the cart.
#[derive(Debug, Clone, Default)]
struct UserLedger {
    user: String,
    /// Units per product the cart acknowledged (200).
    added: BTreeMap<i64, i64>,
    /// An add got no answer: what the cart holds is unknown.
    uncertain: bool,
    /// A checkout got no final answer: this cart must not be checked out
    /// under another key (that would be a second order of the same lines).
    retired: bool,
    /// Units in the orders this user was told about.
    ordered: i64,
}

impl UserLedger {
    /// Whether the cart surely holds nothing (then checking out is moot).
    fn cart_known_empty(&self) -> bool {
        !self.uncertain && self.added.values().sum::<i64>() == self.ordered
    }
}

/// What one shopper task did and was told.
#[derive(Debug, Default)]
struct Ledger {
    users: Vec<UserLedger>,
    checkouts: usize,
    /// Orders acknowledged with 201, as answered.
    orders: Vec<Value>,
    /// (order id, payment id) acknowledged as paid.
    payments: Vec<(i64, String)>,
    /// Of those, marked paid by hand (manual payments).
    manual: usize,
    declined: usize,
    /// Checkouts refused with 409 (short of stock, or abandoned after a
    /// crash) and with 400 (empty cart).
    refused: usize,
    empty: usize,
    /// Requests sent again after a lost answer or a 503.
    resent: usize,
    /// Order ids acknowledged as cancelled.
    cancellations: Vec<i64>,
    /// Answers no correct service gives (e.g. a 500).
    anomalies: Vec<String>,
    /// Checkouts sent twice at once, and orders paid by two racing payers.
    double_checkouts: usize,
    racing_payments: usize,
    /// Payments refused (card or by hand) because the order had expired.
    too_late: usize,
}

impl Ledger {
    /// Adds what a helper ledger (a racing request's) recorded.
    fn absorb(&mut self, other: Ledger) {
        self.payments.extend(other.payments);
        self.declined += other.declined;
        self.too_late += other.too_late;
        self.resent += other.resent;
        self.anomalies.extend(other.anomalies);
    }

    fn anomaly(&mut self, what: &str, reply: &Reply) {
        self.anomalies
            .push(format!("{what}: unexpected {}", reply.describe()));
    }
}

/// One shopper: rounds of add, check out, pay (and maybe cancel) until told
/// to stop. A round in progress is finished, so nothing is left in flight.
async fn shopper(task: usize, shop: Shop, seed: u64) -> Ledger {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut ledger = Ledger::default();
    let mut user_no = 0;
    let mut user = UserLedger {
        user: format!("t{task}-u{user_no}"),
        ..UserLedger::default()
    };
    let mut rounds_of_user = 0;
    while !shop.stop.load(Ordering::SeqCst) {
        round(&shop, &mut rng, &mut user, &mut ledger).await;
        rounds_of_user += 1;
        // A user whose cart or checkout is in doubt is not used again.
        if rounds_of_user == ROUNDS_PER_USER || user.uncertain || user.retired {
            rounds_of_user = 0;
            user_no += 1;
            let next = UserLedger {
                user: format!("t{task}-u{user_no}"),
                ..UserLedger::default()
            };
            ledger.users.push(std::mem::replace(&mut user, next));
        }
    }
    ledger.users.push(user);
    ledger
}

async fn round(shop: &Shop, rng: &mut StdRng, user: &mut UserLedger, ledger: &mut Ledger) {
    add_to_cart(shop, rng, user, ledger).await;
    if user.cart_known_empty() {
        // Every add was refused (a scarce product ran out, the catalog was
        // down): no checkout this round.
        return;
    }
    // A careless client sometimes sends the checkout twice at once, under
    // two keys: the cart must still become at most one order.
    let twice = rng.random_bool(0.25);
    for order in check_out(shop, user, ledger, twice).await {
        user.ordered += units_in([&order]).values().sum::<i64>();
        let Some(order_id) = order["id"].as_i64() else {
            ledger
                .anomalies
                .push(format!("order without an id: {order}"));
            continue;
        };
        ledger.orders.push(order);
        if rng.random_bool(0.2) {
            // Staff mark it paid: a manual payment, one success all the same.
            mark_paid(shop, order_id, ledger).await;
        } else if rng.random_bool(0.25) {
            // Two pay clicks at once, under two keys: one charge at most.
            let mut other = Ledger::default();
            futures::join!(
                pay(shop, &user.user, order_id, ledger, "a"),
                pay(shop, &user.user, order_id, &mut other, "b"),
            );
            ledger.absorb(other);
            ledger.racing_payments += 1;
        } else if rng.random_bool(0.9) {
            pay(shop, &user.user, order_id, ledger, "a").await;
        }
        if rng.random_bool(0.2) {
            cancel(shop, order_id, ledger).await;
        }
    }
}

/// Adds 1-2 products, 1-3 units each; counts only what was acknowledged.
async fn add_to_cart(shop: &Shop, rng: &mut StdRng, user: &mut UserLedger, ledger: &mut Ledger) {
    let mut products = shop.products.to_vec();
    products.shuffle(rng);
    products.truncate(rng.random_range(1..=2));
    for product_id in products {
        let quantity: i64 = rng.random_range(1..=3);
        let url = format!("{}/cart/{}/items", shop.urls.cart, user.user);
        let body = json!({"product_id": product_id, "quantity": quantity});
        let reply = send(shop.http.post(&url).json(&body)).await;
        match &reply {
            Reply::Answer(StatusCode::OK, _) => {
                *user.added.entry(product_id).or_default() += quantity;
            }
            // Not added: out of stock, or the catalog was down.
            Reply::Answer(StatusCode::BAD_REQUEST | StatusCode::SERVICE_UNAVAILABLE, _) => {}
            Reply::Answer(status, _) if status.is_client_error() => {
                ledger.anomaly(&format!("POST {url} {body}"), &reply);
            }
            Reply::Answer(..) => {
                ledger.anomaly(&format!("POST {url} {body}"), &reply);
                user.uncertain = true;
            }
            Reply::Lost(_) => user.uncertain = true,
        }
    }
}

/// Checks the cart out under a fresh key (`twice`: two at once, under two
/// keys), each retried with its key until a final answer. Returns the
/// orders placed.
async fn check_out(
    shop: &Shop,
    user: &mut UserLedger,
    ledger: &mut Ledger,
    twice: bool,
) -> Vec<Value> {
    let url = format!("{}/orders", shop.urls.order);
    let body = json!({"user_id": user.user});
    let keys: Vec<String> = (0..if twice { 2 } else { 1 })
        .map(|_| {
            ledger.checkouts += 1;
            format!("{}-checkout-{}", user.user, ledger.checkouts)
        })
        .collect();
    let mut resent = vec![0usize; keys.len()];
    let (url, body) = (&url, &body);
    let replies =
        futures::future::join_all(keys.iter().zip(resent.iter_mut()).map(|(key, resent)| {
            send_retrying(
                move || {
                    shop.http
                        .post(url)
                        .header("Idempotency-Key", key)
                        .json(body)
                },
                |status| status == StatusCode::SERVICE_UNAVAILABLE,
                resent,
            )
        }))
        .await;
    ledger.resent += resent.iter().sum::<usize>();
    if twice {
        ledger.double_checkouts += 1;
    }
    let mut placed = Vec::new();
    for (key, reply) in keys.iter().zip(replies) {
        match reply {
            Reply::Answer(StatusCode::CREATED, order) => placed.push(order),
            // Refused: short of stock, abandoned after a crash, or the other
            // of two racing checkouts in progress. Nothing was ordered.
            Reply::Answer(StatusCode::CONFLICT, _) => ledger.refused += 1,
            // After an add without an answer, which added nothing, or the
            // other of two racing checkouts took the cart.
            Reply::Answer(StatusCode::BAD_REQUEST, body) if detail(&body) == "Cart is empty" => {
                ledger.empty += 1;
            }
            Reply::Answer(StatusCode::SERVICE_UNAVAILABLE, _) | Reply::Lost(_) => {
                user.retired = true;
            }
            other => {
                ledger.anomaly(&format!("POST {url} {body} key {key}"), &other);
                user.retired = true;
            }
        }
    }
    placed
}

/// Pays an order; after a decline, tries once more under a new key.
/// `clicker` tells apart the keys of two payers racing for one order.
async fn pay(shop: &Shop, user: &str, order_id: i64, ledger: &mut Ledger, clicker: &str) {
    let url = format!("{}/orders/{order_id}/payment", shop.urls.order);
    for attempt in 0..2 {
        let key = format!("{user}-pay-{order_id}-{clicker}{attempt}");
        let reply = send_retrying(
            || shop.http.post(&url).header("Idempotency-Key", &key),
            |status| status == StatusCode::SERVICE_UNAVAILABLE,
            &mut ledger.resent,
        )
        .await;
        match &reply {
            Reply::Answer(StatusCode::OK, order) => {
                match (order["status"].as_str(), order["payment_id"].as_str()) {
                    (Some("paid"), Some(payment_id)) => {
                        ledger.payments.push((order_id, payment_id.to_owned()));
                    }
                    _ => ledger.anomaly(&format!("POST {url} key {key}"), &reply),
                }
                return;
            }
            Reply::Answer(StatusCode::BAD_REQUEST, body) if detail(body) == "Payment failed" => {
                ledger.declined += 1;
            }
            // Another attempt holds the order; recovery settles it.
            Reply::Answer(StatusCode::CONFLICT, _) => return,
            // A racing payer paid it first, or it expired unpaid.
            Reply::Answer(StatusCode::BAD_REQUEST, body)
                if detail(body).starts_with("Order is not in pending status") =>
            {
                if detail(body).contains("expired unpaid") {
                    ledger.too_late += 1;
                }
                return;
            }
            // Outcome unknown: recovery settles it under this key.
            Reply::Answer(StatusCode::SERVICE_UNAVAILABLE, _) | Reply::Lost(_) => return,
            _ => {
                ledger.anomaly(&format!("POST {url} key {key}"), &reply);
                return;
            }
        }
    }
}

/// Marks an order paid (a manual payment), retrying while it cannot tell.
async fn mark_paid(shop: &Shop, order_id: i64, ledger: &mut Ledger) {
    let url = format!("{}/orders/{order_id}/status", shop.urls.order);
    let reply = send_retrying(
        || shop.http.put(&url).json(&json!({"status": "paid"})),
        |status| status == StatusCode::SERVICE_UNAVAILABLE,
        &mut ledger.resent,
    )
    .await;
    match &reply {
        Reply::Answer(StatusCode::OK, order) => {
            match (order["status"].as_str(), order["payment_id"].as_str()) {
                (Some("paid"), Some(payment_id)) => {
                    ledger.manual += 1;
                    ledger.payments.push((order_id, payment_id.to_owned()));
                }
                _ => ledger.anomaly(&format!("PUT {url} paid"), &reply),
            }
        }
        // An earlier attempt whose answer was lost holds the order;
        // recovery settles it.
        Reply::Answer(StatusCode::CONFLICT | StatusCode::SERVICE_UNAVAILABLE, _)
        | Reply::Lost(_) => {}
        // Nothing cancels an order before it is marked paid but its expiry
        // (retries through an outage can outlast ORDER_PAYMENT_TIMEOUT).
        Reply::Answer(StatusCode::BAD_REQUEST, body)
            if detail(body).contains("from cancelled to paid") =>
        {
            ledger.too_late += 1;
        }
        _ => ledger.anomaly(&format!("PUT {url} paid"), &reply),
    }
}

/// Cancels an order, retrying while a payment attempt holds it.
async fn cancel(shop: &Shop, order_id: i64, ledger: &mut Ledger) {
    let url = format!("{}/orders/{order_id}/status", shop.urls.order);
    let reply = send_retrying(
        || shop.http.put(&url).json(&json!({"status": "cancelled"})),
        |status| status == StatusCode::SERVICE_UNAVAILABLE || status == StatusCode::CONFLICT,
        &mut ledger.resent,
    )
    .await;
    match &reply {
        Reply::Answer(StatusCode::OK, order) if order["status"] == "cancelled" => {
            ledger.cancellations.push(order_id);
        }
        Reply::Answer(StatusCode::SERVICE_UNAVAILABLE | StatusCode::CONFLICT, _)
        | Reply::Lost(_) => {}
        _ => ledger.anomaly(&format!("PUT {url} cancelled"), &reply),
    }
}

// ---------------------------------------------------------------------------
// Setting up the catalog.

/// Creates the test's products; returns their ids.
async fn create_products(http: &reqwest::Client, urls: &Urls) -> Vec<i64> {
    let mut ids = Vec::new();
    for (name, price, stock) in PRODUCTS {
        let price: Value = serde_json::from_str(price).expect("price literal");
        let body = json!({"name": name, "price": price, "stock": stock, "category": "crash"});
        let reply = send(http.post(format!("{}/products", urls.catalog)).json(&body)).await;
        match reply {
            Reply::Answer(StatusCode::CREATED, product) => {
                ids.push(product["id"].as_i64().expect("product id"));
            }
            other => panic!("creating {name}: {}", other.describe()),
        }
    }
    ids
}

/// Stock of every product (the seeded ones too), by id.
async fn stock_levels(http: &reqwest::Client, urls: &Urls) -> Result<BTreeMap<i64, i64>, String> {
    let products = get_all(http, &format!("{}/products", urls.catalog)).await?;
    products
        .iter()
        .map(|p| match (p["id"].as_i64(), p["stock"].as_i64()) {
            (Some(id), Some(stock)) => Ok((id, stock)),
            _ => Err(format!("product without id or stock: {p}")),
        })
        .collect()
}

// ---------------------------------------------------------------------------
// The invariants.

/// What the services hold, read over their APIs.
struct World {
    /// Product id -> product.
    products: BTreeMap<i64, Value>,
    /// Order id -> order.
    orders: BTreeMap<i64, Value>,
    payments: Vec<Value>,
    /// User -> product -> units in the cart.
    carts: BTreeMap<String, BTreeMap<i64, i64>>,
    /// User -> that user's orders, as `GET /orders/user/{user}` lists them.
    user_orders: BTreeMap<String, Vec<Value>>,
}

async fn observe(http: &reqwest::Client, urls: &Urls, users: &[&str]) -> Result<World, String> {
    let by_id = |items: Vec<Value>| -> Result<BTreeMap<i64, Value>, String> {
        items
            .into_iter()
            .map(|item| match item["id"].as_i64() {
                Some(id) => Ok((id, item)),
                None => Err(format!("no id: {item}")),
            })
            .collect()
    };
    let products = by_id(get_all(http, &format!("{}/products", urls.catalog)).await?)?;
    let orders = by_id(get_all(http, &format!("{}/orders", urls.order)).await?)?;
    let payments = get_all(http, &format!("{}/payments", urls.payment)).await?;
    let mut carts = BTreeMap::new();
    let mut user_orders = BTreeMap::new();
    for &user in users {
        let url = format!("{}/cart/{user}", urls.cart);
        let cart = match send(http.get(&url)).await {
            Reply::Answer(StatusCode::OK, cart) => cart,
            other => return Err(format!("GET {url}: {}", other.describe())),
        };
        let mut units = BTreeMap::new();
        for item in cart["items"].as_array().into_iter().flatten() {
            match (item["product_id"].as_i64(), item["quantity"].as_i64()) {
                (Some(id), Some(quantity)) => *units.entry(id).or_default() += quantity,
                _ => return Err(format!("bad cart line of {user}: {item}")),
            }
        }
        carts.insert(user.to_owned(), units);
        let listed = get_all(http, &format!("{}/orders/user/{user}", urls.order)).await?;
        user_orders.insert(user.to_owned(), listed);
    }
    Ok(World {
        products,
        orders,
        payments,
        carts,
        user_orders,
    })
}

/// Counts every comparison and keeps the failed ones.
#[derive(Debug, Default)]
struct Checks {
    count: usize,
    violations: Vec<String>,
    /// Orders cancelled because they expired unpaid.
    expired: usize,
    /// Cancelled orders that were paid (and so refunded).
    refunds: usize,
}

impl Checks {
    fn expect(&mut self, holds: bool, violation: impl FnOnce() -> String) {
        self.count += 1;
        if !holds {
            self.violations.push(violation());
        }
    }
}

/// Units per product over some orders' lines.
fn units_in<'a>(orders: impl IntoIterator<Item = &'a Value>) -> BTreeMap<i64, i64> {
    let mut units = BTreeMap::new();
    for order in orders {
        for item in order["items"].as_array().into_iter().flatten() {
            if let (Some(id), Some(quantity)) =
                (item["product_id"].as_i64(), item["quantity"].as_i64())
            {
                *units.entry(id).or_default() += quantity;
            }
        }
    }
    units
}

/// a. Initial stock = stock now + units in orders not cancelled: nothing
/// stays reserved for an order that does not exist, cancelled orders gave
/// their stock back exactly once, nothing was oversold.
fn check_stock(world: &World, initial: &BTreeMap<i64, i64>, checks: &mut Checks) {
    let sold = units_in(world.orders.values().filter(|o| o["status"] != "cancelled"));
    for (&id, &start) in initial {
        let now = world.products.get(&id).and_then(|p| p["stock"].as_i64());
        checks.expect(now.is_some(), || format!("product {id} vanished"));
        let Some(now) = now else { continue };
        let sold = sold.get(&id).copied().unwrap_or(0);
        checks.expect(now >= 0, || format!("product {id}: negative stock {now}"));
        checks.expect(start == now + sold, || {
            format!(
                "product {id}: initial stock {start} != stock {now} + {sold} units in live orders \
                 (difference {})",
                start - now - sold
            )
        });
    }
}

/// b. One successful payment per paid order, named by the order, for its
/// total; no order paid without one.
fn check_payments(world: &World, checks: &mut Checks) {
    let mut successes: BTreeMap<i64, Vec<&Value>> = BTreeMap::new();
    for payment in &world.payments {
        if payment["status"] == "success" {
            if let Some(order_id) = payment["order_id"].as_i64() {
                successes.entry(order_id).or_default().push(payment);
            }
        }
    }
    for payment in world.payments.iter().filter(|p| p["status"] == "success") {
        let order = payment["order_id"]
            .as_i64()
            .and_then(|id| world.orders.get(&id));
        checks.expect(order.is_some(), || {
            format!("successful payment of no order: {payment}")
        });
        let Some(order) = order else { continue };
        let status = order["status"].as_str().unwrap_or("");
        checks.expect(
            matches!(
                status,
                "paid" | "processing" | "shipped" | "delivered" | "cancelled"
            ),
            || {
                format!(
                    "payment {} succeeded but order is {status}: {order}",
                    payment["id"]
                )
            },
        );
        checks.expect(order["payment_id"] == payment["id"], || {
            format!(
                "payment {} succeeded but order {} names payment {}",
                payment["id"], order["id"], order["payment_id"]
            )
        });
        checks.expect(
            cents(&payment["amount"]).is_some()
                && cents(&payment["amount"]) == cents(&order["total_amount"]),
            || {
                format!(
                    "payment {} charged {} for order {} of {}",
                    payment["id"], payment["amount"], order["id"], order["total_amount"]
                )
            },
        );
    }
    for (&id, order) in &world.orders {
        let status = order["status"].as_str().unwrap_or("");
        if order["reason"] == "expired" {
            // Expired unpaid: cancelled, never charged.
            checks.expired += 1;
            checks.expect(
                status == "cancelled"
                    && order["payment_id"].is_null()
                    && !successes.contains_key(&id),
                || format!("order {id} expired but is {status} or was charged: {order}"),
            );
        }
        let paid_status = matches!(status, "paid" | "processing" | "shipped" | "delivered");
        checks.expect(!paid_status || order["payment_id"].is_string(), || {
            format!("order {id} is {status} without a payment: {order}")
        });
        if order["payment_id"].is_null() {
            continue;
        }
        let of_order = successes.get(&id).map(Vec::as_slice).unwrap_or(&[]);
        checks.expect(of_order.len() == 1, || {
            format!(
                "order {id} has {} successful payments: {of_order:?}",
                of_order.len()
            )
        });
        checks.expect(
            of_order
                .iter()
                .any(|payment| payment["id"] == order["payment_id"]),
            || {
                format!(
                    "order {id} names payment {}, not a successful one",
                    order["payment_id"]
                )
            },
        );
    }
}

/// c. Every unit acknowledged into a cart is still in it or in one of the
/// user's orders: no cart is cleared without its order, nothing is ordered
/// twice.
fn check_carts(world: &World, users: &[&UserLedger], checks: &mut Checks) {
    for user in users.iter().filter(|u| !u.uncertain) {
        let cart = &world.carts[&user.user];
        let ordered = units_in(&world.user_orders[&user.user]);
        let mut products: Vec<i64> = user.added.keys().copied().collect();
        products.extend(cart.keys());
        products.extend(ordered.keys());
        products.sort_unstable();
        products.dedup();
        for id in products {
            let added = user.added.get(&id).copied().unwrap_or(0);
            let in_cart = cart.get(&id).copied().unwrap_or(0);
            let in_orders = ordered.get(&id).copied().unwrap_or(0);
            checks.expect(added == in_cart + in_orders, || {
                format!(
                    "user {} product {id}: {added} units added != {in_cart} in cart + {in_orders} in orders",
                    user.user
                )
            });
        }
        // The user's list must be exactly their orders in the full list.
        let listed: Vec<&Value> = world.user_orders[&user.user].iter().collect();
        let owned: Vec<&Value> = world
            .orders
            .values()
            .rev()
            .filter(|o| o["user_id"] == user.user.as_str())
            .collect();
        checks.expect(listed == owned, || {
            format!("GET /orders/user/{} differs from GET /orders", user.user)
        });
    }
}

/// d. Every total is the exact sum of price x quantity, at the catalog's
/// price (prices never change in this test), compared in cents.
fn check_money(world: &World, checks: &mut Checks) {
    for (&id, order) in &world.orders {
        let mut sum = Some(0i64);
        for item in order["items"].as_array().into_iter().flatten() {
            let price = cents(&item["price"]);
            let catalog_price = item["product_id"]
                .as_i64()
                .and_then(|p| world.products.get(&p))
                .and_then(|p| cents(&p["price"]));
            checks.expect(price.is_some() && price == catalog_price, || {
                format!(
                    "order {id}: line {item} priced differently from the catalog ({catalog_price:?} cents)"
                )
            });
            sum = match (sum, price, item["quantity"].as_i64()) {
                (Some(sum), Some(price), Some(quantity)) => Some(sum + price * quantity),
                _ => None,
            };
        }
        let total = cents(&order["total_amount"]);
        checks.expect(total.is_some() && total == sum, || {
            format!(
                "order {id}: total_amount {} != sum of lines ({sum:?} cents)",
                order["total_amount"]
            )
        });
    }
}

/// e. What a client was told stays true.
fn check_acknowledged(world: &World, ledgers: &[Ledger], checks: &mut Checks) {
    for ledger in ledgers {
        for told in &ledger.orders {
            let stored = told["id"].as_i64().and_then(|id| world.orders.get(&id));
            checks.expect(
                stored.is_some_and(|stored| {
                    stored["user_id"] == told["user_id"]
                        && stored["items"] == told["items"]
                        && stored["total_amount"] == told["total_amount"]
                }),
                || format!("acknowledged order lost or changed: told {told}, now {stored:?}"),
            );
        }
        for (order_id, payment_id) in &ledger.payments {
            let stored = world.orders.get(order_id);
            checks.expect(
                stored.is_some_and(|o| o["payment_id"] == payment_id.as_str()),
                || format!("order {order_id} acknowledged paid by {payment_id}, now {stored:?}"),
            );
        }
        for order_id in &ledger.cancellations {
            let stored = world.orders.get(order_id);
            checks.expect(stored.is_some_and(|o| o["status"] == "cancelled"), || {
                format!("order {order_id} acknowledged cancelled, now {stored:?}")
            });
        }
    }
}

/// f. Every cancelled order that was paid has exactly one refund, of its
/// payment, for its total, and says so; no payment of an order that stands
/// is refunded. (One refund per payment is the payment service's primary
/// key; this checks that none is missing, misplaced or misreported.)
fn check_refunds(world: &World, checks: &mut Checks) {
    let refunds: BTreeMap<&str, &Value> = world
        .payments
        .iter()
        .filter(|p| !p["refund"].is_null())
        .filter_map(|p| Some((p["id"].as_str()?, p)))
        .collect();
    for (&id, order) in &world.orders {
        let Some(payment_id) = order["payment_id"].as_str() else {
            continue;
        };
        let refunded = refunds.get(payment_id);
        if order["status"] != "cancelled" {
            checks.expect(refunded.is_none(), || {
                format!(
                    "order {id} is {} but its payment was refunded: {refunded:?}",
                    order["status"]
                )
            });
            continue;
        }
        checks.refunds += 1;
        checks.expect(order["refund_status"] == "refunded", || {
            format!("cancelled paid order {id} is not refunded: {order}")
        });
        let Some(payment) = refunded else {
            checks.expect(false, || {
                format!("cancelled paid order {id}: payment {payment_id} has no refund")
            });
            continue;
        };
        let refund = &payment["refund"];
        checks.expect(refund["id"] == order["refund_id"], || {
            format!(
                "order {id} names refund {}, its payment has {refund}",
                order["refund_id"]
            )
        });
        checks.expect(
            cents(&refund["amount"]).is_some()
                && cents(&refund["amount"]) == cents(&order["total_amount"]),
            || format!("order {id} of {} refunded {refund}", order["total_amount"]),
        );
    }
}

/// Every invariant over one observation.
async fn check_all(
    http: &reqwest::Client,
    urls: &Urls,
    initial: &BTreeMap<i64, i64>,
    ledgers: &[Ledger],
) -> Checks {
    let users: Vec<&UserLedger> = ledgers.iter().flat_map(|l| &l.users).collect();
    let names: Vec<&str> = users.iter().map(|u| u.user.as_str()).collect();
    let mut checks = Checks::default();
    match observe(http, urls, &names).await {
        Ok(world) => {
            check_stock(&world, initial, &mut checks);
            check_payments(&world, &mut checks);
            check_carts(&world, &users, &mut checks);
            check_money(&world, &mut checks);
            check_acknowledged(&world, ledgers, &mut checks);
            check_refunds(&world, &mut checks);
        }
        Err(err) => checks.expect(false, || format!("cannot read the services: {err}")),
    }
    checks
}

/// How the system converged.
struct Convergence {
    /// The last checks: all passed, or the deadline passed.
    checks: Checks,
    took: Duration,
    /// Violations at the first check (what recovery still had to do).
    at_first: usize,
}

/// Checks until every invariant holds or the deadline passes.
async fn converge(
    http: &reqwest::Client,
    urls: &Urls,
    initial: &BTreeMap<i64, i64>,
    ledgers: &[Ledger],
) -> Convergence {
    let started = Instant::now();
    let mut at_first = None;
    loop {
        let checks = check_all(http, urls, initial, ledgers).await;
        let at_first = *at_first.get_or_insert(checks.violations.len());
        if checks.violations.is_empty() || started.elapsed() >= CONVERGENCE_DEADLINE {
            return Convergence {
                checks,
                took: started.elapsed(),
                at_first,
            };
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_nine_during_checkouts_loses_nothing() {
    let seed: u64 = rand::random();
    println!("crash run seed {seed}");
    let mut cluster = Cluster::start_all().await;
    let urls = cluster.urls();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("http client");

    let products = create_products(&http, &urls).await;
    let initial = stock_levels(&http, &urls).await.expect("initial stock");

    let shop = Shop {
        http: http.clone(),
        urls: urls.clone(),
        products: Arc::new(products),
        stop: Arc::new(AtomicBool::new(false)),
    };
    let shoppers: Vec<_> = (0..TASKS)
        .map(|task| {
            tokio::spawn(shopper(
                task,
                shop.clone(),
                seed.wrapping_add(task as u64 + 1),
            ))
        })
        .collect();

    let mut rng = StdRng::seed_from_u64(seed);
    let kills = kill_in_rotation(&mut cluster, &mut rng).await;

    // Every service is up again; let the shoppers finish their rounds.
    shop.stop.store(true, Ordering::SeqCst);
    let mut ledgers = Vec::new();
    for handle in shoppers {
        let ledger = tokio::time::timeout(Duration::from_secs(60), handle)
            .await
            .expect("a shopper hangs")
            .expect("a shopper panicked");
        ledgers.push(ledger);
    }

    let Convergence {
        checks,
        took,
        at_first,
    } = converge(&http, &urls, &initial, &ledgers).await;
    let anomalies: Vec<&String> = ledgers.iter().flat_map(|l| &l.anomalies).collect();
    let violations = checks.violations.len() + anomalies.len();
    let sum = |f: fn(&Ledger) -> usize| ledgers.iter().map(f).sum::<usize>();
    println!(
        "crash run: {kills} kills, {} checkouts, {} orders, {} invariant checks, {violations} violations",
        sum(|l| l.checkouts),
        sum(|l| l.orders.len()),
        checks.count,
    );
    println!(
        "  checkouts: {} refused (409), {} with an empty cart; {} requests re-sent; \
         {} paid ({} marked paid, {} raced by two payers), {} declined, {} cancelled \
         ({} of them paid, so refunded), {} expired unpaid ({} payments too late); \
         {} checkouts sent twice at once; {} users ({} uncertain, {} retired); \
         {} process starts; {at_first} violations at the first check, {} after {took:?}",
        sum(|l| l.refused),
        sum(|l| l.empty),
        sum(|l| l.resent),
        sum(|l| l.payments.len()),
        sum(|l| l.manual),
        sum(|l| l.racing_payments),
        sum(|l| l.declined),
        sum(|l| l.cancellations.len()),
        checks.refunds,
        checks.expired,
        sum(|l| l.too_late),
        sum(|l| l.double_checkouts),
        sum(|l| l.users.len()),
        sum(|l| l.users.iter().filter(|u| u.uncertain).count()),
        sum(|l| l.users.iter().filter(|u| u.retired).count()),
        cluster.starts,
        checks.violations.len(),
    );
    let report = [
        ("invariant violation", checks.violations.iter().collect()),
        ("unexpected answer", anomalies),
    ];
    for (what, list) in &report {
        for line in list.iter().take(40) {
            println!("  {what}: {line}");
        }
    }
    assert!(
        kills >= MIN_KILLS,
        "only {kills} kills (want at least {MIN_KILLS})"
    );
    for (what, done, floor) in [
        ("acknowledged orders", sum(|l| l.orders.len()), MIN_ORDERS),
        (
            "acknowledged payments",
            sum(|l| l.payments.len()),
            MIN_PAYMENTS,
        ),
        ("manual payments", sum(|l| l.manual), MIN_MANUAL),
    ] {
        assert!(
            done >= floor,
            "only {done} {what} (want at least {floor}): the run did too little to prove anything"
        );
    }
    assert!(
        checks.expired > 0,
        "no order expired: the invariants were not checked across expiries"
    );
    assert!(
        checks.refunds >= MIN_REFUNDS,
        "only {} paid orders cancelled (want at least {MIN_REFUNDS}): refunds were hardly checked",
        checks.refunds
    );
    assert_eq!(
        violations, 0,
        "{violations} violations after {took:?} (seed {seed}); see above"
    );
}

// ---------------------------------------------------------------------------
// A kill at the refund's one fragile instant.

/// A TCP proxy from the order service to the payment service. Armed with a
/// process id, it kill -9s that process as soon as the payment service's
/// next answer arrives, and never forwards the answer: the payment service
/// has done the work, the caller never learns it.
struct KillOnAnswer {
    url: String,
    armed: Arc<AtomicU32>,
    fired: Arc<AtomicBool>,
}

impl KillOnAnswer {
    /// Starts the proxy in front of `upstream` (a base URL).
    fn start(upstream: &str) -> KillOnAnswer {
        let upstream = upstream.trim_start_matches("http://").to_owned();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("non-blocking");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
        let armed = Arc::new(AtomicU32::new(0));
        let fired = Arc::new(AtomicBool::new(false));
        let (arm, fire) = (armed.clone(), fired.clone());
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (armed, fired, upstream) = (arm.clone(), fire.clone(), upstream.clone());
                tokio::spawn(async move {
                    let Ok(server) = tokio::net::TcpStream::connect(&upstream).await else {
                        return;
                    };
                    let (mut client_read, mut client_write) = client.into_split();
                    let (mut server_read, mut server_write) = server.into_split();
                    let requests = tokio::spawn(async move {
                        let _ = tokio::io::copy(&mut client_read, &mut server_write).await;
                    });
                    let mut buf = vec![0u8; 16 * 1024];
                    loop {
                        let n = match server_read.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        let pid = armed.swap(0, Ordering::SeqCst);
                        if pid != 0 {
                            let killed = Command::new("kill")
                                .args(["-9", &pid.to_string()])
                                .status()
                                .expect("kill runs");
                            assert!(killed.success(), "kill -9 {pid}");
                            fired.store(true, Ordering::SeqCst);
                            break;
                        }
                        if client_write.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                    requests.abort();
                });
            }
        });
        KillOnAnswer { url, armed, fired }
    }

    fn arm(&self, pid: u32) {
        self.armed.store(pid, Ordering::SeqCst);
    }

    fn fired(&self) -> bool {
        self.fired.load(Ordering::SeqCst)
    }
}

async fn get_json(http: &reqwest::Client, url: &str) -> Value {
    match send(http.get(url)).await {
        Reply::Answer(StatusCode::OK, body) => body,
        other => panic!("GET {url}: {}", other.describe()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_between_the_refund_and_the_order_update_refunds_once() {
    let mut proxy = None;
    let mut cluster = Cluster::start_all_with(|payment| {
        let started = KillOnAnswer::start(payment);
        let url = started.url.clone();
        proxy = Some(started);
        Some(url)
    })
    .await;
    let proxy = proxy.expect("proxy started");
    let urls = cluster.urls();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("http client");

    // A paid order (payments succeed 70 % of the time here: pay until one
    // does, well within the order's 2 s to be paid).
    let product = create_products(&http, &urls).await[0];
    let body = json!({"product_id": product, "quantity": 2});
    let added = send(
        http.post(format!("{}/cart/refunder/items", urls.cart))
            .json(&body),
    )
    .await;
    assert!(
        matches!(added, Reply::Answer(StatusCode::OK, _)),
        "{}",
        added.describe()
    );
    let placed = send(
        http.post(format!("{}/orders", urls.order))
            .json(&json!({"user_id": "refunder"})),
    )
    .await;
    let Reply::Answer(StatusCode::CREATED, order) = placed else {
        panic!("order: {}", placed.describe());
    };
    let id = order["id"].as_i64().expect("order id");
    let pay_url = format!("{}/orders/{id}/payment", urls.order);
    let payment_id = helpers::eventually(Duration::from_secs(2), || async {
        match send(http.post(&pay_url)).await {
            Reply::Answer(StatusCode::OK, paid) => paid["payment_id"].as_str().map(str::to_owned),
            Reply::Answer(StatusCode::BAD_REQUEST, body) if detail(&body) == "Payment failed" => {
                None
            }
            other => panic!("paying: {}", other.describe()),
        }
    })
    .await;

    // Cancel it; the order service dies the instant the refund is made.
    proxy.arm(cluster.pid(Service::Order));
    let status_url = format!("{}/orders/{id}/status", urls.order);
    let cancel = send(http.put(&status_url).json(&json!({"status": "cancelled"}))).await;
    assert!(matches!(cancel, Reply::Lost(_)), "{}", cancel.describe());
    assert!(
        proxy.fired(),
        "the order service was killed before it asked for the refund"
    );
    cluster.reap(Service::Order);
    let payment_url = format!("{}/payments/{payment_id}", urls.payment);
    let refund = get_json(&http, &payment_url).await["refund"].clone();
    assert!(
        refund["id"].is_string(),
        "the payment service refunded: {refund}"
    );

    // Restarted, the order service's recovery records that same refund.
    cluster.start(Service::Order).await;
    let order_url = format!("{}/orders/{id}", urls.order);
    let refunded = helpers::eventually(Duration::from_secs(20), || async {
        let order = get_json(&http, &order_url).await;
        (order["refund_status"] == "refunded").then_some(order)
    })
    .await;
    assert_eq!(refunded["status"], "cancelled", "{refunded}");
    assert_eq!(refunded["refund_id"], refund["id"], "{refunded}");
    assert_eq!(get_json(&http, &payment_url).await["refund"], refund);
    let events = get_json(&http, &format!("{}/events?after=0&limit=1000", urls.order)).await;
    let of_type = |event_type: &str| {
        events
            .as_array()
            .expect("events")
            .iter()
            .filter(|e| e["data"]["order_id"] == id && e["event_type"] == event_type)
            .count()
    };
    assert_eq!(of_type("order_cancelled"), 1, "{events}");
    assert_eq!(of_type("order_refunded"), 1, "{events}");
}
