//! `shop bench`: how fast the shop serves its main paths, and how that
//! compares with what this machine can serve at all.
//!
//! The ceiling is an axum hello-world server in this process (on a runtime
//! of its own), measured in the same run as the shop, so that each figure
//! can be read as a share of it whatever the machine. Then, through the
//! gateway as a client sees it: browse (`GET /products`), one product, a
//! cart read (3 items), add to cart, and the checkout flow (add, order,
//! pay), each at every `--concurrency`. Closed-loop workers (each sends its
//! next request when its last one is answered) over keep-alive connections,
//! a warm-up, latencies in an HDR histogram, and every answer checked: a
//! wrong one (a status, a body, a paid order without its payment id) is an
//! anomaly, counted apart from 5xx answers and transport errors.
//!
//! Without `--target` it starts its own shop (`shop up` on a fresh data
//! directory or `--database-url`, accounts on, every payment approved) and
//! stops it afterwards. It makes staff's products to buy and one customer
//! per worker. Of a shop it started (or `--target-pid`), it also reports
//! what each loop cost the shop's process ([`usage`]).

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressStyle};
use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde_json::{json, Value};

use crate::Failure;
use usage::Usage;

mod usage;

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// A running shop's gateway (http://host:3000); without it, a shop is
    /// started for the run on a fresh data directory and stopped after.
    #[arg(long)]
    pub target: Option<String>,
    /// With --target: the shop's process on this machine, to report its
    /// CPU time and context switches per loop.
    #[arg(long, requires = "target")]
    pub target_pid: Option<u32>,
    /// With --target: a staff account, to make the products the scenarios
    /// buy.
    #[arg(long, env = "SHOP_ADMIN_EMAIL", default_value = "admin@shop.local")]
    pub admin_email: String,
    /// With --target: that account's password.
    #[arg(long, env = "SHOP_ADMIN_PASSWORD")]
    pub admin_password: Option<String>,
    /// The shop it starts keeps its data in this PostgreSQL database (a
    /// schema per service) instead of SQLite files.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,
    /// Closed-loop workers; every scenario runs at each of these.
    #[arg(long, value_delimiter = ',', default_value = "8,64")]
    pub concurrency: Vec<usize>,
    /// Seconds each scenario is measured.
    #[arg(long, default_value_t = 5.0)]
    pub seconds: f64,
    /// Seconds of warm-up before each measurement.
    #[arg(long, default_value_t = 1.0)]
    pub warmup: f64,
    /// Also write the results as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// A quick check for CI: every scenario for one second at concurrency
    /// 2, no warm-up; fails on any anomaly, 5xx or transport error, never
    /// on a timing.
    #[arg(long)]
    pub smoke: bool,
    /// Only these scenarios (the ceiling is always measured); all when
    /// not given.
    #[arg(long = "scenario", value_enum, value_delimiter = ',')]
    pub scenarios: Vec<Scenario>,
}

/// What a scenario does, once per loop of a worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Scenario {
    /// `GET /` of the hello-world server.
    #[value(skip)]
    Ceiling,
    /// `GET /api/catalog/products`.
    Browse,
    /// `GET /api/catalog/products/{id}`.
    Product,
    /// `GET /api/cart/cart/{user}`, 3 items.
    CartRead,
    /// `POST /api/cart/cart/{user}/items`.
    AddToCart,
    /// Add to cart, `POST /api/order/orders`, `POST /api/order/orders/{id}/payment`.
    Checkout,
    /// The same on a shop whose SQLite commits wait for the disk
    /// (`SQLITE_SYNCHRONOUS=full`; a shop the run starts, on SQLite).
    #[value(skip)]
    CheckoutSynchronousFull,
}

impl Scenario {
    const SHOP: [Scenario; 5] = [
        Scenario::Browse,
        Scenario::Product,
        Scenario::CartRead,
        Scenario::AddToCart,
        Scenario::Checkout,
    ];

    fn label(self) -> &'static str {
        match self {
            Scenario::Ceiling => "ceiling (axum hello-world)",
            Scenario::Browse => "browse (GET /products)",
            Scenario::Product => "product by id",
            Scenario::CartRead => "cart read (3 items)",
            Scenario::AddToCart => "add to cart",
            Scenario::Checkout => "checkout flow (add, order, pay)",
            Scenario::CheckoutSynchronousFull => "checkout flow, SQLITE_SYNCHRONOUS=full",
        }
    }
}

/// One scenario at one concurrency.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub scenario: Scenario,
    pub concurrency: usize,
    /// Loops completed per second (a checkout flow is one).
    pub per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// This rate over the ceiling's at the same concurrency.
    pub share_of_ceiling: Option<f64>,
    /// The shop process's CPU time per loop, user and system, in
    /// microseconds (a shop on this machine whose process is known).
    pub cpu_us_per_loop: Option<f64>,
    /// The kernel's part of that CPU time, 0 to 1.
    pub system_share: Option<f64>,
    /// The shop's threads' context switches per loop.
    pub switches_per_loop: Option<f64>,
    /// Answers that were not what the scenario expects.
    pub anomalies: u64,
    pub server_errors: u64,
    pub transport_errors: u64,
    /// The first few problems, in words.
    pub examples: Vec<String>,
}

impl Outcome {
    fn problems(&self) -> u64 {
        self.anomalies + self.server_errors + self.transport_errors
    }
}

/// What went wrong with one loop.
#[derive(Debug)]
enum Problem {
    Anomaly(String),
    Server(String),
    Transport(String),
}

fn anomaly(what: &str, status: StatusCode, body: &Value) -> Problem {
    let text = format!("{what}: {status} {}", truncate(&body.to_string()));
    if status.is_server_error() {
        Problem::Server(text)
    } else {
        Problem::Anomaly(text)
    }
}

fn truncate(text: &str) -> String {
    text.chars().take(160).collect()
}

/// A customer of the run (or a user id with accounts off).
#[derive(Debug, Clone)]
struct Customer {
    id: String,
    bearer: Option<String>,
}

/// What the scenarios need of the shop.
#[derive(Debug, Clone)]
struct World {
    gateway: String,
    /// The products a cart holds; the first is bought.
    products: [i64; 3],
    customers: Vec<Customer>,
}

/// One request through `client`: the status and the JSON body.
async fn call(
    client: &reqwest::Client,
    method: Method,
    url: &str,
    bearer: Option<&str>,
    body: Option<&Value>,
    key: Option<String>,
) -> Result<(StatusCode, Value), Problem> {
    let mut request = client.request(method, url);
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(body);
    }
    if let Some(key) = key {
        request = request.header("Idempotency-Key", key);
    }
    let response = request
        .send()
        .await
        .map_err(|err| Problem::Transport(format!("{url}: {err}")))?;
    let status = response.status();
    let bytes = response
        .bytes()
        .await
        .map_err(|err| Problem::Transport(format!("{url}: {err}")))?;
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Ok((status, body))
}

/// One loop of `scenario` for worker `worker`.
async fn run_once(
    scenario: Scenario,
    client: &reqwest::Client,
    world: &World,
    ceiling: &str,
    worker: usize,
) -> Result<(), Problem> {
    let customer = &world.customers[worker % world.customers.len().max(1)];
    let bearer = customer.bearer.as_deref();
    let g = &world.gateway;
    let user = &customer.id;
    let product = world.products[0];
    let add = || {
        let url = format!("{g}/api/cart/cart/{user}/items");
        let body = json!({"product_id": product, "quantity": 1});
        async move {
            let (status, body) =
                call(client, Method::POST, &url, bearer, Some(&body), None).await?;
            if status.is_success() && body["product_id"] == product {
                Ok(())
            } else {
                Err(anomaly("add to cart", status, &body))
            }
        }
    };
    match scenario {
        Scenario::Ceiling => {
            let (status, _) = call(client, Method::GET, ceiling, None, None, None).await?;
            match status {
                StatusCode::OK => Ok(()),
                status => Err(anomaly("ceiling", status, &Value::Null)),
            }
        }
        Scenario::Browse => {
            let url = format!("{g}/api/catalog/products");
            let (status, body) = call(client, Method::GET, &url, bearer, None, None).await?;
            match body.as_array() {
                Some(rows) if status == StatusCode::OK && !rows.is_empty() => Ok(()),
                _ => Err(anomaly("browse", status, &body)),
            }
        }
        Scenario::Product => {
            let url = format!("{g}/api/catalog/products/{product}");
            let (status, body) = call(client, Method::GET, &url, bearer, None, None).await?;
            if status == StatusCode::OK && body["id"] == product {
                Ok(())
            } else {
                Err(anomaly("product", status, &body))
            }
        }
        Scenario::CartRead => {
            let url = format!("{g}/api/cart/cart/{user}");
            let (status, body) = call(client, Method::GET, &url, bearer, None, None).await?;
            match body["items"].as_array() {
                Some(items) if status == StatusCode::OK && items.len() == 3 => Ok(()),
                _ => Err(anomaly("cart read", status, &body)),
            }
        }
        Scenario::AddToCart => add().await,
        Scenario::Checkout | Scenario::CheckoutSynchronousFull => {
            add().await?;
            let url = format!("{g}/api/order/orders");
            let order = json!({"user_id": user});
            let key = Some(uuid::Uuid::new_v4().to_string());
            let (status, order) =
                call(client, Method::POST, &url, bearer, Some(&order), key).await?;
            let Some(id) = order["id"]
                .as_i64()
                .filter(|_| status == StatusCode::CREATED)
            else {
                return Err(anomaly("place the order", status, &order));
            };
            let url = format!("{g}/api/order/orders/{id}/payment");
            let key = Some(uuid::Uuid::new_v4().to_string());
            let (status, paid) = call(client, Method::POST, &url, bearer, None, key).await?;
            if status == StatusCode::OK
                && paid["status"] == "paid"
                && paid["payment_id"].is_string()
            {
                Ok(())
            } else {
                Err(anomaly("pay", status, &paid))
            }
        }
    }
}

/// Runs `scenario` with `concurrency` closed-loop workers: `warmup`, then
/// `measure`, counting only loops that end within the measured span; and
/// what the span cost process `shop`, when given.
async fn measure(
    scenario: Scenario,
    concurrency: usize,
    world: &World,
    ceiling: &str,
    (warmup, span): (Duration, Duration),
    shop: Option<u32>,
) -> Outcome {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap_or_default();
    let started = Instant::now();
    let from = started + warmup;
    let until = from + span;
    let done = Arc::new(AtomicU64::new(0));
    // Every loop that ends within the span, begun before it or not: the
    // work the shop did while its counters were read.
    let ended = Arc::new(AtomicU64::new(0));
    let counters = shop.map(|pid| {
        let ended = ended.clone();
        tokio::spawn(async move {
            tokio::time::sleep_until(from.into()).await;
            let (start, loops) = (Usage::of(pid)?, ended.load(Ordering::Relaxed));
            tokio::time::sleep_until(until.into()).await;
            let end = Usage::of(pid)?;
            start.per_loop(&end, ended.load(Ordering::Relaxed) - loops)
        })
    });
    let progress = ProgressBar::new_spinner().with_style(
        ProgressStyle::with_template("{spinner} {msg}").unwrap_or(ProgressStyle::default_spinner()),
    );
    let ticker = {
        let (done, progress) = (done.clone(), progress.clone());
        let label = format!("{} c{concurrency}", scenario.label());
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(200)).await;
                let now = Instant::now();
                let measured = now.saturating_duration_since(from).as_secs_f64();
                let text = if measured == 0.0 {
                    format!("{label}: warming up")
                } else {
                    let rate = done.load(Ordering::Relaxed) as f64 / measured;
                    format!("{label}: {rate:.0}/s")
                };
                progress.set_message(text);
                progress.tick();
            }
        })
    };
    let mut workers = tokio::task::JoinSet::new();
    for worker in 0..concurrency {
        let (client, world, ceiling, done, ended_in_span) = (
            client.clone(),
            world.clone(),
            ceiling.to_owned(),
            done.clone(),
            ended.clone(),
        );
        workers.spawn(async move {
            let mut latencies = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)
                .unwrap_or_else(|_| Histogram::new(3).expect("a histogram"));
            let mut problems = Vec::new();
            loop {
                let begun = Instant::now();
                if begun >= until {
                    break;
                }
                let result = run_once(scenario, &client, &world, &ceiling, worker).await;
                let ended = Instant::now();
                if result.is_ok() && (from..=until).contains(&ended) {
                    ended_in_span.fetch_add(1, Ordering::Relaxed);
                }
                if begun < from || ended > until {
                    continue;
                }
                match result {
                    Ok(()) => {
                        let micros = (ended - begun).as_micros().max(1) as u64;
                        let _ = latencies.record(micros);
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(problem) => problems.push(problem),
                }
            }
            (latencies, problems)
        });
    }
    let mut latencies = Histogram::<u64>::new(3).expect("a histogram");
    let mut outcome = Outcome {
        scenario,
        concurrency,
        per_second: 0.0,
        p50_ms: 0.0,
        p99_ms: 0.0,
        max_ms: 0.0,
        share_of_ceiling: None,
        cpu_us_per_loop: None,
        system_share: None,
        switches_per_loop: None,
        anomalies: 0,
        server_errors: 0,
        transport_errors: 0,
        examples: Vec::new(),
    };
    while let Some(joined) = workers.join_next().await {
        let Ok((worker_latencies, problems)) = joined else {
            outcome.transport_errors += 1;
            continue;
        };
        let _ = latencies.add(&worker_latencies);
        for problem in problems {
            let text = match problem {
                Problem::Anomaly(text) => {
                    outcome.anomalies += 1;
                    text
                }
                Problem::Server(text) => {
                    outcome.server_errors += 1;
                    text
                }
                Problem::Transport(text) => {
                    outcome.transport_errors += 1;
                    text
                }
            };
            if outcome.examples.len() < 3 {
                outcome.examples.push(text);
            }
        }
    }
    ticker.abort();
    progress.finish_and_clear();
    if let Some(counters) = counters {
        if let Ok(Some(spent)) = counters.await {
            outcome.cpu_us_per_loop = Some(spent.cpu_us);
            outcome.system_share = Some(spent.system_share);
            outcome.switches_per_loop = Some(spent.switches);
        }
    }
    let ms = |micros: u64| micros as f64 / 1000.0;
    outcome.per_second = latencies.len() as f64 / span.as_secs_f64();
    outcome.p50_ms = ms(latencies.value_at_quantile(0.5));
    outcome.p99_ms = ms(latencies.value_at_quantile(0.99));
    outcome.max_ms = ms(latencies.max());
    outcome
}

/// The hello-world server: on a runtime of its own (two worker threads, as
/// the shop has on this machine), for as long as the process runs.
fn start_ceiling() -> Result<String, Failure> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.set_nonblocking(true).map(|()| l))
        .map_err(|err| Failure::Start(format!("the ceiling's listener: {err}")))?;
    let addr = listener
        .local_addr()
        .map_err(|err| Failure::Start(format!("the ceiling's listener: {err}")))?;
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build();
        let Ok(runtime) = runtime else { return };
        runtime.block_on(async move {
            let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                return;
            };
            let app =
                axum::Router::new().route("/", axum::routing::get(|| async { "Hello, World!" }));
            let _ = axum::serve(listener, app).await;
        });
    });
    Ok(format!("http://{addr}/"))
}

/// A shop started for the run: `shop up` on free ports, its data in a
/// scratch directory (or `database_url`); stopped when dropped.
struct OwnShop {
    child: std::process::Child,
    dir: tempfile::TempDir,
    gateway: String,
    admin_password: String,
}

impl Drop for OwnShop {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start_shop(
    database_url: Option<&str>,
    extra_env: &[(&str, &str)],
) -> Result<OwnShop, Failure> {
    let failed = |what: String| Failure::Start(format!("the shop for the benchmark: {what}"));
    let dir = tempfile::tempdir().map_err(|err| failed(err.to_string()))?;
    let log_path = dir.path().join("up.log");
    let log = std::fs::File::create(&log_path).map_err(|err| failed(err.to_string()))?;
    let exe = std::env::current_exe().map_err(|err| failed(err.to_string()))?;
    let admin_password = format!("bench {}", uuid::Uuid::new_v4());
    let mut command = std::process::Command::new(exe);
    command
        .arg("up")
        .arg("--data-dir")
        .arg(dir.path().join("data"));
    for port in [
        "--gateway-port",
        "--catalog-port",
        "--cart-port",
        "--order-port",
        "--payment-port",
        "--identity-port",
    ] {
        command.args([port, "0"]);
    }
    if let Some(url) = database_url {
        command.args(["--database-url", url]);
    }
    command.envs(extra_env.iter().copied());
    let child = command
        .env("SHOP_ADMIN_PASSWORD", &admin_password)
        .env("PAYMENT_SUCCESS_RATE", "1")
        .stdin(Stdio::null())
        .stdout(log.try_clone().map_err(|err| failed(err.to_string()))?)
        .stderr(log)
        .spawn()
        .map_err(|err| failed(err.to_string()))?;
    let mut shop = OwnShop {
        child,
        dir,
        gateway: String::new(),
        admin_password,
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let text = std::fs::read_to_string(&log_path).unwrap_or_default();
        if text.contains("Press Ctrl+C") {
            let gateway = text
                .lines()
                .find_map(|line| line.trim().strip_prefix("gateway"))
                .and_then(|rest| rest.split_whitespace().next())
                .map(|url| url.trim_end_matches('/').to_owned());
            shop.gateway = gateway.ok_or_else(|| failed(format!("no gateway in {text}")))?;
            return Ok(shop);
        }
        if let Ok(Some(status)) = shop.child.try_wait() {
            return Err(failed(format!(
                "shop up ended ({status}): {}",
                truncate(&text)
            )));
        }
        if Instant::now() > deadline {
            return Err(failed(format!("not up after 120 s: {}", truncate(&text))));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // (the scratch directory goes with `shop`)
}

/// Makes the run's products and customers (one per worker), each
/// customer's cart holding the three products ([`refill_carts`]).
async fn prepare(gateway: &str, admin: (&str, &str), customers: usize) -> Result<World, Failure> {
    let failed = |what: String| Failure::Start(format!("preparing the benchmark: {what}"));
    let client = reqwest::Client::new();
    let expect = |what: &str, (status, body): (StatusCode, Value), ok: StatusCode| {
        if status == ok {
            Ok(body)
        } else {
            Err(failed(format!(
                "{what}: {status} {}",
                truncate(&body.to_string())
            )))
        }
    };
    let unreachable = |problem: Problem| failed(format!("{problem:?}"));
    let session = call(
        &client,
        Method::GET,
        &format!("{gateway}/api/session"),
        None,
        None,
        None,
    )
    .await
    .map_err(unreachable)?;
    let auth = expect("GET /api/session", session, StatusCode::OK)?["auth"] == true;
    let login = |email: String, password: String| {
        let client = client.clone();
        let url = format!("{gateway}/api/identity/auth/login");
        async move {
            let body = json!({"email": email, "password": password});
            let answer = call(&client, Method::POST, &url, None, Some(&body), None)
                .await
                .map_err(unreachable)?;
            let body = expect("sign in", answer, StatusCode::OK)?;
            Ok::<_, Failure>((
                body["access_token"].as_str().unwrap_or_default().to_owned(),
                body["account"]["id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            ))
        }
    };
    let staff = match auth {
        true => Some(login(admin.0.to_owned(), admin.1.to_owned()).await?.0),
        false => None,
    };
    let run = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    let mut products = [0i64; 3];
    for (i, slot) in products.iter_mut().enumerate() {
        let body = json!({
            "name": format!("Bench item {run}-{i}"),
            "price": 4.99,
            "stock": 100_000_000,
            "category": "Bench",
        });
        let url = format!("{gateway}/api/catalog/products");
        let answer = call(
            &client,
            Method::POST,
            &url,
            staff.as_deref(),
            Some(&body),
            None,
        )
        .await
        .map_err(unreachable)?;
        *slot = expect("create a product", answer, StatusCode::CREATED)?["id"]
            .as_i64()
            .unwrap_or_default();
    }
    let mut made = Vec::new();
    for i in 0..customers {
        let customer = if auth {
            let email = format!("bench-{run}-{i}@bench.example");
            let password = format!("bench passphrase {run}");
            let body = json!({"email": email, "password": password, "name": format!("Bench {i}")});
            let url = format!("{gateway}/api/identity/auth/register");
            let answer = call(&client, Method::POST, &url, None, Some(&body), None)
                .await
                .map_err(unreachable)?;
            expect("register a customer", answer, StatusCode::CREATED)?;
            let (token, id) = login(email, password).await?;
            Customer {
                id,
                bearer: Some(token),
            }
        } else {
            Customer {
                id: format!("bench-{run}-{i}"),
                bearer: None,
            }
        };
        made.push(customer);
    }
    let world = World {
        gateway: gateway.to_owned(),
        products,
        customers: made,
    };
    refill_carts(&world).await?;
    Ok(world)
}

/// Empties the customers' carts, then puts the three products in them.
async fn refill_carts(world: &World) -> Result<(), Failure> {
    let client = reqwest::Client::new();
    for customer in &world.customers {
        let cart = format!("{}/api/cart/cart/{}", world.gateway, customer.id);
        let bearer = customer.bearer.as_deref();
        let cleared = call(&client, Method::DELETE, &cart, bearer, None, None).await;
        let mut ok = matches!(cleared, Ok((status, _)) if status.is_success());
        for product in world.products {
            let body = json!({"product_id": product, "quantity": 1});
            let url = format!("{cart}/items");
            let added = call(&client, Method::POST, &url, bearer, Some(&body), None).await;
            ok &= matches!(added, Ok((status, _)) if status.is_success());
        }
        if !ok {
            return Err(Failure::Start(format!(
                "could not refill the cart of {}",
                customer.id
            )));
        }
    }
    Ok(())
}

/// The table of a run, in Markdown.
pub fn table(outcomes: &[Outcome]) -> String {
    let mut out = String::from(
        "| scenario | concurrency | per second | p50 ms | p99 ms | of the ceiling | shop CPU µs per loop (system) | switches per loop | anomalies, 5xx, transport |\n|---|---|---|---|---|---|---|---|---|\n",
    );
    for o in outcomes {
        let share = o
            .share_of_ceiling
            .map_or("–".to_owned(), |s| format!("{:.1} %", s * 100.0));
        let cpu = match (o.cpu_us_per_loop, o.system_share) {
            (Some(cpu), Some(system)) => format!("{cpu:.0} ({:.0} %)", system * 100.0),
            _ => "–".to_owned(),
        };
        let switches = o
            .switches_per_loop
            .map_or("–".to_owned(), |s| format!("{s:.1}"));
        out.push_str(&format!(
            "| {} | {} | {:.0} | {:.2} | {:.2} | {share} | {cpu} | {switches} | {}, {}, {} |\n",
            o.scenario.label(),
            o.concurrency,
            o.per_second,
            o.p50_ms,
            o.p99_ms,
            o.anomalies,
            o.server_errors,
            o.transport_errors,
        ));
    }
    out
}

pub async fn bench(args: BenchArgs) -> Result<(), Failure> {
    let (seconds, warmup, concurrency) = if args.smoke {
        (1.0, 0.0, vec![2])
    } else {
        (args.seconds, args.warmup, args.concurrency.clone())
    };
    if concurrency.iter().any(|&c| c == 0 || c > 1024) || !(0.1..=3600.0).contains(&seconds) {
        return Err(Failure::Start(
            "--concurrency takes 1 to 1024 workers, --seconds 0.1 to 3600".to_owned(),
        ));
    }
    let chosen = |scenario| args.scenarios.is_empty() || args.scenarios.contains(&scenario);
    let span = Duration::from_secs_f64(seconds);
    let warmup = Duration::from_secs_f64(warmup.clamp(0.0, 600.0));
    let ceiling = start_ceiling()?;
    let own = match &args.target {
        Some(_) => None,
        None => Some(start_shop(args.database_url.as_deref(), &[]).await?),
    };
    let (gateway, admin_password) = match (&own, &args.target) {
        (Some(shop), _) => (shop.gateway.clone(), shop.admin_password.clone()),
        (None, Some(target)) => (
            target.trim_end_matches('/').to_owned(),
            args.admin_password.clone().unwrap_or_default(),
        ),
        (None, None) => unreachable!("a shop to measure"),
    };
    let most = concurrency.iter().copied().max().unwrap_or(1);
    let world = prepare(&gateway, (&args.admin_email, &admin_password), most).await?;
    eprintln!(
        "shop bench: {} at {gateway}{}, {} cores, {seconds} s per scenario after {:.0} s of warm-up",
        if own.is_some() { "a shop started for the run" } else { "the shop" },
        own.as_ref()
            .map(|shop| format!(" (data in {})", shop.dir.path().display()))
            .unwrap_or_default(),
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        warmup.as_secs_f64(),
    );
    let shop_pid = own.as_ref().map(|shop| shop.child.id()).or(args.target_pid);
    let timing = (warmup, span);
    let mut outcomes = Vec::new();
    for &c in &concurrency {
        outcomes.push(measure(Scenario::Ceiling, c, &world, &ceiling, timing, None).await);
        for scenario in Scenario::SHOP.into_iter().filter(|s| chosen(*s)) {
            if scenario == Scenario::CartRead {
                refill_carts(&world).await?;
            }
            outcomes.push(measure(scenario, c, &world, &ceiling, timing, shop_pid).await);
        }
    }
    // What durability costs: the checkout again on a shop of its own whose
    // SQLite commits each wait for the disk.
    if own.is_some() && args.database_url.is_none() && chosen(Scenario::Checkout) {
        let full = start_shop(None, &[("SQLITE_SYNCHRONOUS", "full")]).await?;
        let world = prepare(
            &full.gateway,
            (&args.admin_email, &full.admin_password),
            most,
        )
        .await?;
        for &c in &concurrency {
            let scenario = Scenario::CheckoutSynchronousFull;
            let pid = Some(full.child.id());
            outcomes.push(measure(scenario, c, &world, &ceiling, timing, pid).await);
        }
    }
    // Each scenario's rate over the ceiling's at the same concurrency.
    let roofs: Vec<(usize, f64)> = outcomes
        .iter()
        .filter(|o| o.scenario == Scenario::Ceiling)
        .map(|o| (o.concurrency, o.per_second))
        .collect();
    for outcome in outcomes
        .iter_mut()
        .filter(|o| o.scenario != Scenario::Ceiling)
    {
        let roof = roofs.iter().find(|(c, _)| *c == outcome.concurrency);
        outcome.share_of_ceiling = roof
            .filter(|(_, rate)| *rate > 0.0)
            .map(|(_, rate)| outcome.per_second / rate);
    }
    outcomes.sort_by_key(|o| (o.scenario as u8, o.concurrency));
    print!("{}", table(&outcomes));
    for o in outcomes.iter().filter(|o| o.problems() > 0) {
        eprintln!(
            "{} c{}: {}",
            o.scenario.label(),
            o.concurrency,
            o.examples.join("; ")
        );
    }
    if let Some(path) = &args.json {
        let report = json!({
            "date": shop_common::now_rfc3339(),
            "cores": std::thread::available_parallelism().map_or(1, |n| n.get()),
            "target": if own.is_some() { "started" } else { "given" },
            "backend": if args.database_url.is_some() { "postgres" } else { "sqlite" },
            "seconds": seconds,
            "warmup": warmup.as_secs_f64(),
            "results": outcomes,
        });
        std::fs::write(path, serde_json::to_vec_pretty(&report).unwrap_or_default())
            .map_err(|err| Failure::Start(format!("{}: {err}", path.display())))?;
    }
    drop(own);
    let problems: u64 = outcomes.iter().map(Outcome::problems).sum();
    if problems > 0 {
        return Err(Failure::Start(format!(
            "{problems} answers were wrong, 5xx or lost (listed above)"
        )));
    }
    Ok(())
}
