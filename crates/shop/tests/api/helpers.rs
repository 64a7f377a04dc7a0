//! The test harness: real services on port 0 with temporary databases.
//!
//! [`Stack::start`] runs catalog, cart, order, payment and the gateway in
//! this process, each on its own listener, wired over HTTP by the same
//! description `shop up` uses ([`shop::services`]). Every test starts its
//! own stack, so tests share no data, port or directory.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use shop::services::{build_all, BuildOptions, DataHome, Peers, ServiceName};
use shop_common::config::{Env, ServerSettings};
use shop_common::service::Service;
use shop_payment::domain::Decider;
use tempfile::TempDir;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// How a test wants its stack.
#[derive(Debug, Clone)]
pub struct Options {
    /// `PAYMENT_SUCCESS_RATE`.
    pub payment_success_rate: f64,
    /// Settings applied to every service (e.g. timeouts).
    pub extra_env: Vec<(&'static str, String)>,
    /// Decides payments instead of `payment_success_rate` when set.
    pub payment_decider: Option<Arc<dyn Decider>>,
    /// The services reach each other by name (`localhost`), so over HTTP
    /// as in separate processes, not in-process as `shop up` runs them.
    pub over_network: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            payment_success_rate: 1.0,
            extra_env: Vec::new(),
            payment_decider: None,
            over_network: false,
        }
    }
}

/// A payment decider a test switches between approving and declining.
#[derive(Debug, Default)]
pub struct Switch(AtomicBool);

impl Switch {
    pub fn approving(approve: bool) -> Arc<Switch> {
        Arc::new(Switch(AtomicBool::new(approve)))
    }

    pub fn set(&self, approve: bool) {
        self.0.store(approve, Ordering::SeqCst);
    }
}

impl Decider for Switch {
    fn approve(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// A running set of services. Dropping it stops them.
pub struct Stack {
    pub catalog: String,
    pub cart: String,
    pub order: String,
    pub payment: String,
    pub identity: String,
    pub gateway: String,
    pub http: reqwest::Client,
    /// A client that speaks for a service: it sends the stack's
    /// `SERVICE_TOKEN` (for the service-only endpoints).
    pub service_http: reqwest::Client,
    /// The stack's `SERVICE_TOKEN`.
    pub service_token: String,
    pub dir: TempDir,
    shutdown: CancellationToken,
    /// The test's own PostgreSQL database, when the tests run on PostgreSQL.
    pub database: Option<TestDatabase>,
}

/// A PostgreSQL database of one test (`SHOP_TEST_BACKEND=postgres`),
/// created empty and dropped afterwards. The services each use their own
/// schema in it, as `shop up --database-url` does.
pub struct TestDatabase {
    pub url: String,
    name: String,
    admin_url: String,
}

impl TestDatabase {
    /// A new database when the tests run on PostgreSQL, else `None`.
    pub async fn for_this_run() -> Option<TestDatabase> {
        match std::env::var("SHOP_TEST_BACKEND").as_deref() {
            Ok("postgres") => Some(TestDatabase::create().await),
            Ok("sqlite") | Err(_) => None,
            Ok(other) => panic!("SHOP_TEST_BACKEND must be sqlite or postgres, not {other}"),
        }
    }

    pub async fn create() -> TestDatabase {
        use sqlx::Connection;
        let admin_url = std::env::var("SHOP_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
        let name = format!("shop_test_{}", uuid_simple());
        let mut admin = sqlx::PgConnection::connect(&admin_url)
            .await
            .expect("PostgreSQL answers (scripts/test.sh starts it)");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .expect("create the test database");
        let mut url = reqwest::Url::parse(&admin_url).expect("a URL");
        url.set_path(&format!("/{name}"));
        TestDatabase {
            url: url.to_string(),
            name,
            admin_url,
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        // Drop runs outside any runtime the test may still be using.
        let _ = std::thread::spawn(move || {
            use sqlx::Connection;
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            runtime.block_on(async {
                if let Ok(mut admin) = sqlx::PgConnection::connect(&admin_url).await {
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .execute(&mut admin)
                        .await;
                }
            });
        })
        .join();
    }
}

/// Where a test's services keep their data: its PostgreSQL database when
/// the tests run on PostgreSQL, else SQLite files in its directory.
fn data_home(dir: &TempDir, database: Option<&TestDatabase>) -> DataHome {
    match database {
        Some(database) => DataHome::Postgres(database.url.clone()),
        None => DataHome::Dir(dir.path().to_owned()),
    }
}

fn uuid_simple() -> String {
    format!("{:032x}", rand::random::<u128>())
}

impl Drop for Stack {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// A client that sends `token` as the service credential.
pub fn service_client(token: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        shop_common::auth::SERVICE_TOKEN_HEADER,
        token.parse().expect("a header value"),
    );
    reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .expect("a client")
}

/// A bound listener on 127.0.0.1 and its URL.
pub async fn listener() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind port 0");
    let addr: SocketAddr = listener.local_addr().expect("local addr");
    (listener, format!("http://{addr}"))
}

/// A URL where nothing listens (a service that is down).
pub async fn dead_url() -> String {
    let (listener, url) = listener().await;
    drop(listener);
    url
}

/// A URL where something accepts connections but never answers (a service
/// that hangs). The connections are held until the test's runtime stops.
pub async fn hung_url() -> String {
    let (listener, url) = listener().await;
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    url
}

fn spawn(
    service: Service,
    listener: TcpListener,
    server: ServerSettings,
    shutdown: &CancellationToken,
) {
    let token = shutdown.clone();
    tokio::spawn(async move {
        service
            .run(listener, server, token)
            .await
            .expect("service runs");
    });
}

/// `peers`, except the URLs `env` sets (a test's dead or hung service).
fn peers_unless_set(mut peers: Peers, env: &Env) -> Peers {
    for service in ServiceName::BACKENDS {
        if let (Some(var), Some(url)) = (service.url_var(), peers.get_mut(service)) {
            *url = env.url(var, url).expect("a valid URL");
        }
    }
    peers
}

/// Builds `services` as `shop up` does (with `options`) and serves each on
/// its listener until `shutdown`.
async fn start_services(
    services: &[ServiceName],
    listeners: Vec<TcpListener>,
    (env, peers, data): (&Env, &Peers, &DataHome),
    options: &BuildOptions,
    shutdown: &CancellationToken,
) {
    let peers = peers_unless_set(peers.clone(), env);
    let built = build_all(services, env, &peers, data, options)
        .await
        .expect("services start");
    let server = ServerSettings::from_env(env).unwrap();
    for (service, listener) in built.into_iter().zip(listeners) {
        spawn(service, listener, server, shutdown);
    }
}

impl Stack {
    /// Every service with the default options (payments always succeed).
    pub async fn start() -> Stack {
        Stack::start_with(Options::default()).await
    }

    pub async fn start_with(options: Options) -> Stack {
        let dir = tempfile::tempdir().expect("temp dir");
        let shutdown = CancellationToken::new();
        let mut listeners = Vec::new();
        let mut urls = Vec::new();
        for _ in ServiceName::ALL {
            let (l, url) = listener().await;
            listeners.push(l);
            urls.push(url);
        }
        let [catalog, cart, order, payment, identity, gateway] =
            <[String; 6]>::try_from(urls).unwrap();

        let service_token = shop_common::auth::ServiceToken::generate()
            .expose()
            .to_owned();
        let mut env = Env::from_pairs([
            ("SERVICE_TOKEN", service_token.clone()),
            (
                "PAYMENT_SUCCESS_RATE",
                options.payment_success_rate.to_string(),
            ),
        ]);
        for (name, value) in &options.extra_env {
            env = env.with(name, value.clone());
        }
        let database = TestDatabase::for_this_run().await;
        let data = data_home(&dir, database.as_ref());
        let env = data.env(env);
        let by_name = |url: &String| match options.over_network {
            true => url.replace("127.0.0.1", "localhost"),
            false => url.clone(),
        };
        let peers = Peers {
            catalog: by_name(&catalog),
            cart: by_name(&cart),
            order: by_name(&order),
            payment: by_name(&payment),
            identity: Some(by_name(&identity)),
        };
        let options = BuildOptions {
            payment_decider: options.payment_decider.clone(),
        };
        start_services(
            &ServiceName::ALL,
            listeners,
            (&env, &peers, &data),
            &options,
            &shutdown,
        )
        .await;

        Stack {
            catalog,
            cart,
            order,
            payment,
            identity,
            gateway,
            http: reqwest::Client::new(),
            service_http: service_client(&service_token),
            service_token,
            dir,
            shutdown,
            database,
        }
    }

    /// Where the services reach each other.
    pub fn peers(&self) -> Peers {
        Peers {
            catalog: self.catalog.clone(),
            cart: self.cart.clone(),
            order: self.order.clone(),
            payment: self.payment.clone(),
            identity: Some(self.identity.clone()),
        }
    }

    /// Sends a request with an optional JSON body; returns status and body
    /// (JSON, or a JSON string holding the text when it is not JSON).
    pub async fn send(
        &self,
        method: Method,
        url: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        send_json(&self.http, method, url, body).await
    }

    /// Sends a request as a service (with the service credential).
    pub async fn send_as_service(
        &self,
        method: Method,
        url: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        send_json(&self.service_http, method, url, body).await
    }

    /// Sends a raw body (for malformed JSON and oversized bodies).
    pub async fn send_raw(
        &self,
        method: Method,
        url: &str,
        body: impl Into<reqwest::Body>,
    ) -> (StatusCode, Value) {
        send_body(&self.http, method, url, body).await
    }

    /// Sends a raw body as a service.
    pub async fn send_raw_as_service(
        &self,
        method: Method,
        url: &str,
        body: impl Into<reqwest::Body>,
    ) -> (StatusCode, Value) {
        send_body(&self.service_http, method, url, body).await
    }

    pub async fn get(&self, url: &str) -> (StatusCode, Value) {
        self.send(Method::GET, url, None).await
    }

    /// `GET url`, which must answer 200 with a JSON array.
    pub async fn list(&self, url: &str) -> Vec<Value> {
        let (status, list) = self.get(url).await;
        assert_eq!(status, StatusCode::OK, "{url}: {list}");
        list.as_array()
            .unwrap_or_else(|| panic!("{url}: not an array: {list}"))
            .clone()
    }

    pub async fn post(&self, url: &str, body: Value) -> (StatusCode, Value) {
        self.send(Method::POST, url, Some(body)).await
    }

    pub async fn put(&self, url: &str, body: Value) -> (StatusCode, Value) {
        self.send(Method::PUT, url, Some(body)).await
    }

    pub async fn delete(&self, url: &str) -> (StatusCode, Value) {
        self.send(Method::DELETE, url, None).await
    }

    /// Sends a request with an `Idempotency-Key` header and an optional
    /// JSON body.
    pub async fn send_with_key(
        &self,
        method: Method,
        url: &str,
        key: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .http
            .request(method, url)
            .header("idempotency-key", key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        read(request.send().await.expect("request sent")).await
    }

    /// Sends a request without a body but with one header.
    pub async fn send_raw_with_header(
        &self,
        method: Method,
        url: &str,
        (name, value): (&str, &str),
    ) -> (StatusCode, Value) {
        let response = self
            .http
            .request(method, url)
            .header(name, value)
            .send()
            .await
            .expect("request sent");
        read(response).await
    }

    /// Sends a request without a body and returns the raw response (for
    /// headers and non-JSON bodies).
    pub async fn raw(&self, method: Method, url: &str) -> reqwest::Response {
        self.http
            .request(method, url)
            .send()
            .await
            .expect("request sent")
    }

    /// Another instance of `service` on this stack's database, with
    /// `extra_env` over the stack's settings (e.g. `CATALOG_SERVICE_URL` =
    /// [`dead_url`]); it stops with the stack.
    pub async fn service_with(&self, service: ServiceName, extra_env: &[(&str, String)]) -> String {
        let (listener, url) = listener().await;
        let mut env = Env::from_pairs([("SERVICE_TOKEN", self.service_token.clone())]);
        for (name, value) in extra_env {
            env = env.with(name, value.clone());
        }
        let data = data_home(&self.dir, self.database.as_ref());
        let env = data.env(env);
        start_services(
            &[service],
            vec![listener],
            (&env, &self.peers(), &data),
            &BuildOptions::default(),
            &self.shutdown,
        )
        .await;
        url
    }

    /// Creates a product and returns its id (with the service credential,
    /// which may, with auth on or off).
    pub async fn product(&self, name: &str, price: &str, stock: i64) -> i64 {
        let body: Value = serde_json::from_str(&format!(
            r#"{{"name": "{name}", "price": {price}, "stock": {stock}, "category": "Test"}}"#
        ))
        .unwrap();
        let (status, product) = self
            .send_as_service(
                Method::POST,
                &format!("{}/products", self.catalog),
                Some(body),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{product}");
        product["id"].as_i64().unwrap()
    }

    /// Adds `quantity` of `product_id` to `user`'s cart.
    pub async fn add_to_cart(&self, user: &str, product_id: i64, quantity: i64) {
        let (status, body) = self
            .post(
                &format!("{}/cart/{user}/items", self.cart),
                serde_json::json!({"product_id": product_id, "quantity": quantity}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    /// `POST /orders/{id}/payment` (no key).
    pub async fn pay(&self, id: i64) -> (StatusCode, Value) {
        let url = format!("{}/orders/{id}/payment", self.order);
        self.send(Method::POST, &url, None).await
    }

    /// `PUT /orders/{id}/status` with `{"status": status}`.
    pub async fn set_status(&self, id: i64, status: &str) -> (StatusCode, Value) {
        let url = format!("{}/orders/{id}/status", self.order);
        self.put(&url, serde_json::json!({ "status": status }))
            .await
    }

    /// `shop accounts create-staff` on the stack's identity database;
    /// what it printed.
    pub fn create_staff(&self, email: &str, password: Option<&str>) -> String {
        let mut args = vec!["create-staff", "--email", email];
        if let Some(password) = password {
            args.extend(["--password", password]);
        }
        self.accounts(&args)
    }

    /// `shop accounts <args>` on the stack's identity database; what it
    /// printed (it must succeed).
    pub fn accounts(&self, args: &[&str]) -> String {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_shop"));
        command
            .arg("accounts")
            .args(args)
            .env_remove("DATABASE_URL")
            .env_remove("SHOP_ADMIN_PASSWORD");
        match &self.database {
            Some(database) => command.args(["--database-url", &database.url]),
            None => command.arg("--data-dir").arg(self.dir.path()),
        };
        let output = command.output().expect("shop runs");
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(
            output.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        stdout
    }

    /// Registers a customer (unless `email` has an account) and logs in:
    /// the login's answer (tokens and account).
    pub async fn log_in(&self, email: &str, password: &str) -> Value {
        self.post(
            &format!("{}/auth/register", self.identity),
            serde_json::json!({"email": email, "password": password, "name": "Test"}),
        )
        .await;
        let (status, tokens) = self
            .post(
                &format!("{}/auth/login", self.identity),
                serde_json::json!({"email": email, "password": password}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{tokens}");
        tokens
    }

    /// Places an order from `user`'s cart and returns it.
    pub async fn place_order(&self, user: &str) -> Value {
        let (status, order) = self
            .post(
                &format!("{}/orders", self.order),
                serde_json::json!({"user_id": user}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{order}");
        order
    }
}

/// Sends a request with an optional JSON body through `client`.
async fn send_json(
    client: &reqwest::Client,
    method: Method,
    url: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = client.request(method, url);
    if let Some(body) = body {
        request = request.json(&body);
    }
    read(request.send().await.expect("request sent")).await
}

/// Sends a raw JSON body through `client`.
async fn send_body(
    client: &reqwest::Client,
    method: Method,
    url: &str,
    body: impl Into<reqwest::Body>,
) -> (StatusCode, Value) {
    let response = client
        .request(method, url)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("request sent");
    read(response).await
}

async fn read(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    let text = response.text().await.expect("body read");
    let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, value)
}

/// Sends `body` raw (or no body); it must be refused with `expected` and
/// the error envelope.
pub async fn expect_rejected(
    stack: &Stack,
    method: Method,
    url: &str,
    body: Option<String>,
    expected: StatusCode,
) {
    let (status, answer) = match body.clone() {
        Some(body) => stack.send_raw(method, url, body).await,
        None => stack.send(method, url, None).await,
    };
    assert_eq!(status, expected, "{url} body {body:?}: {answer}");
    detail(status, &answer, expected);
}

/// The exact JSON text of a number, e.g. `"2029.97"`: money is compared as
/// written, never through floating point.
pub fn num(value: &Value) -> String {
    assert!(value.is_number(), "not a number: {value}");
    value.to_string()
}

/// Asserts an error envelope with `status` and returns its detail: the body
/// is a JSON object with a string `detail` and nothing else but, on a stock
/// conflict, the `product_id` it concerns.
pub fn detail(status: StatusCode, body: &Value, expected: StatusCode) -> String {
    assert_eq!(status, expected, "{body}");
    let object = body
        .as_object()
        .unwrap_or_else(|| panic!("error body is not a JSON object: {body}"));
    for key in object.keys() {
        assert!(
            key == "detail" || (key == "product_id" && object[key].is_i64()),
            "error body has more than detail: {body}"
        );
    }
    body["detail"]
        .as_str()
        .unwrap_or_else(|| panic!("no string detail in {body}"))
        .to_owned()
}

/// Polls `check` until it returns `Some` or `deadline` passes.
#[allow(dead_code)] // for tests that must wait; none does yet
pub async fn eventually<T, F, Fut>(deadline: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            start.elapsed() < deadline,
            "condition not met within {deadline:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The operational endpoints every service has: `/health`, `/ready`,
/// `/metrics` (counting `call`, whose route template is `route`),
/// `/openapi.json` (listing `paths`), `/docs/`, and JSON 404 and 405
/// answers (`no_method` is a path that exists but not for PATCH).
pub async fn check_ops(
    stack: &Stack,
    base: &str,
    service: &str,
    call: &str,
    route: &str,
    paths: &[&str],
    no_method: &str,
) {
    let (status, health) = stack.get(&format!("{base}/health")).await;
    assert_eq!(status, StatusCode::OK, "{health}");
    assert_eq!(
        health,
        serde_json::json!({"status": "healthy", "service": service})
    );

    let (status, ready) = stack.get(&format!("{base}/ready")).await;
    assert_eq!(status, StatusCode::OK, "{ready}");
    assert_eq!(ready["ready"], true, "{ready}");
    assert_eq!(ready["service"], service, "{ready}");

    let (status, _) = stack.get(&format!("{base}{call}")).await;
    assert!(status.as_u16() < 500, "{call} answered {status}");
    let metrics = stack.raw(Method::GET, &format!("{base}/metrics")).await;
    assert_eq!(metrics.status(), StatusCode::OK);
    let content_type = metrics
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    let text = metrics.text().await.unwrap();
    assert!(text.contains("http_requests_total"), "{text}");
    let line = text
        .lines()
        .find(|l| {
            l.starts_with("http_requests_total{") && l.contains(&format!("route=\"{route}\""))
        })
        .unwrap_or_else(|| panic!("no http_requests_total with route=\"{route}\" in\n{text}"));
    assert!(line.contains(&format!("service=\"{service}\"")), "{line}");

    let (status, openapi) = stack.get(&format!("{base}/openapi.json")).await;
    assert_eq!(status, StatusCode::OK);
    let documented = openapi["paths"]
        .as_object()
        .unwrap_or_else(|| panic!("no paths in {openapi}"));
    for path in paths.iter().chain(&["/health", "/ready", "/metrics"]) {
        assert!(
            documented.contains_key(*path),
            "{path} not in {:?}",
            documented.keys().collect::<Vec<_>>()
        );
    }

    let docs = stack.raw(Method::GET, &format!("{base}/docs/")).await;
    assert_eq!(docs.status(), StatusCode::OK);
    let content_type = docs
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(content_type.starts_with("text/html"), "{content_type}");
    let html = docs.text().await.unwrap();
    assert!(html.to_lowercase().contains("<html"), "{html}");

    // CORS allows any origin, preflight included.
    let preflight = stack
        .http
        .request(Method::OPTIONS, format!("{base}{call}"))
        .header("origin", "http://elsewhere.example")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success(), "{}", preflight.status());
    let allowed = preflight
        .headers()
        .get("access-control-allow-origin")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(
        allowed == "*" || allowed == "http://elsewhere.example",
        "allow-origin {allowed:?}"
    );

    let (status, body) = stack.get(&format!("{base}/no/such/file.json")).await;
    assert_eq!(detail(status, &body, StatusCode::NOT_FOUND), "Not Found");

    let (status, body) = stack
        .send(Method::PATCH, &format!("{base}{no_method}"), None)
        .await;
    detail(status, &body, StatusCode::METHOD_NOT_ALLOWED);
}

// --- Order events -------------------------------------------------------

/// The JSON Schemas of `docs/events/`, by event type.
pub fn event_schemas() -> HashMap<String, jsonschema::Validator> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/events");
    let mut schemas = HashMap::new();
    for entry in std::fs::read_dir(dir).expect("docs/events exists") {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let Some(event_type) = name.strip_suffix(".schema.json") else {
            continue;
        };
        let schema: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let validator = jsonschema::validator_for(&schema).expect("a valid JSON Schema");
        schemas.insert(event_type.to_owned(), validator);
    }
    assert_eq!(schemas.len(), 6, "one schema per event type");
    schemas
}

/// Asserts `event` is valid against the schema of its type.
pub fn assert_valid(schemas: &HashMap<String, jsonschema::Validator>, event: &Value) {
    let event_type = event["event_type"].as_str().expect("event_type");
    let validator = schemas
        .get(event_type)
        .unwrap_or_else(|| panic!("no schema for {event_type}"));
    let errors: Vec<String> = validator
        .iter_errors(event)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{event} is invalid: {errors:?}");
}

/// One order through every kind of event: created, payment failed, paid,
/// status updated; and a second order created then cancelled.
pub async fn every_kind_of_event(stack: &Stack, decider: &Switch) -> (i64, i64) {
    stack.add_to_cart("evelyn", 1, 1).await;
    let first = stack.place_order("evelyn").await["id"].as_i64().unwrap();
    let pay = format!("{}/orders/{first}/payment", stack.order);
    decider.set(false);
    let (status, _) = stack.send(Method::POST, &pay, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    decider.set(true);
    let (status, _) = stack.send(Method::POST, &pay, None).await;
    assert_eq!(status, StatusCode::OK);
    let status_url = format!("{}/orders/{first}/status", stack.order);
    let (status, _) = stack
        .put(&status_url, json!({"status": "processing"}))
        .await;
    assert_eq!(status, StatusCode::OK);

    stack.add_to_cart("evelyn", 2, 2).await;
    let second = stack.place_order("evelyn").await["id"].as_i64().unwrap();
    let (status, _) = stack
        .put(
            &format!("{}/orders/{second}/status", stack.order),
            json!({"status": "cancelled"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    (first, second)
}

/// What [`every_kind_of_event`] produces, by order.
pub fn expected_types(first: i64, second: i64) -> Vec<(i64, &'static str)> {
    vec![
        (first, "order_created"),
        (first, "order_payment_failed"),
        (first, "order_paid"),
        (first, "order_status_updated"),
        (second, "order_created"),
        (second, "order_cancelled"),
    ]
}

// --- Replicas on one PostgreSQL database --------------------------------

/// Two instances of every service on one PostgreSQL database (its own,
/// dropped afterwards). Replica `i` of order calls replica `i` of cart,
/// catalog and payment; a test alternates between replicas to spread its
/// requests, as a round-robin load balancer would.
pub struct Replicas {
    pub catalog: [String; 2],
    pub cart: [String; 2],
    pub order: [String; 2],
    pub payment: [String; 2],
    pub http: reqwest::Client,
    shutdown: CancellationToken,
    pub database: TestDatabase,
}

impl Drop for Replicas {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl Replicas {
    /// Starts both replicas of each service with `extra_env` (and payments
    /// always approved unless `extra_env` says otherwise).
    pub async fn start(extra_env: &[(&str, String)]) -> Replicas {
        let database = TestDatabase::create().await;
        Replicas::start_on(database, extra_env).await
    }

    /// As [`Replicas::start`], on a given database URL (e.g. through a proxy).
    pub async fn start_on(database: TestDatabase, extra_env: &[(&str, String)]) -> Replicas {
        Replicas::start_with_url(database.url.clone(), database, extra_env).await
    }

    pub async fn start_with_url(
        url: String,
        database: TestDatabase,
        extra_env: &[(&str, String)],
    ) -> Replicas {
        const CATALOG: usize = 0;
        const CART: usize = 1;
        const ORDER: usize = 2;
        const PAYMENT: usize = 3;
        let shutdown = CancellationToken::new();
        // urls[replica][service]
        let mut urls: [[String; 4]; 2] = Default::default();
        let mut listeners = Vec::new();
        for replica in urls.iter_mut() {
            for slot in replica.iter_mut() {
                let (l, u) = listener().await;
                listeners.push(l);
                *slot = u;
            }
        }
        let mut listeners = listeners.into_iter();
        let token = shop_common::auth::ServiceToken::generate();
        let data = DataHome::Postgres(url);
        for replica in &urls {
            let mut env = Env::from_pairs([
                ("SERVICE_TOKEN", token.expose().to_owned()),
                ("PAYMENT_SUCCESS_RATE", "1".to_owned()),
            ]);
            for (name, value) in extra_env {
                env = env.with(name, value.clone());
            }
            let env = data.env(env);
            let peers = Peers {
                catalog: replica[CATALOG].clone(),
                cart: replica[CART].clone(),
                order: replica[ORDER].clone(),
                payment: replica[PAYMENT].clone(),
                identity: None,
            };
            start_services(
                &ServiceName::BACKENDS,
                listeners.by_ref().take(4).collect(),
                (&env, &peers, &data),
                &BuildOptions::default(),
                &shutdown,
            )
            .await;
        }
        let pair = |service: usize| [urls[0][service].clone(), urls[1][service].clone()];
        Replicas {
            catalog: pair(CATALOG),
            cart: pair(CART),
            order: pair(ORDER),
            payment: pair(PAYMENT),
            http: reqwest::Client::new(),
            shutdown,
            database,
        }
    }
}

/// A TCP proxy a test can cut and restore: "the database went away".
pub struct TcpProxy {
    pub port: u16,
    enabled: Arc<AtomicBool>,
    connections: Arc<std::sync::Mutex<Vec<tokio::task::AbortHandle>>>,
}

impl TcpProxy {
    pub async fn start(upstream: SocketAddr) -> TcpProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let enabled = Arc::new(AtomicBool::new(true));
        let connections: Arc<std::sync::Mutex<Vec<tokio::task::AbortHandle>>> = Arc::default();
        let (on, conns) = (enabled.clone(), connections.clone());
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if !on.load(Ordering::SeqCst) {
                    continue; // dropped: the connection is refused at once
                }
                let task = tokio::spawn(async move {
                    if let Ok(mut server) = tokio::net::TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                conns.lock().expect("lock").push(task.abort_handle());
            }
        });
        TcpProxy {
            port,
            enabled,
            connections,
        }
    }

    /// Closes every connection and refuses new ones.
    pub fn cut(&self) {
        self.enabled.store(false, Ordering::SeqCst);
        for task in self.connections.lock().expect("lock").drain(..) {
            task.abort();
        }
    }

    pub fn restore(&self) {
        self.enabled.store(true, Ordering::SeqCst);
    }
}

/// A child process (e.g. `shop up`) killed and reaped when the test ends,
/// whether it passed or not.
pub struct Running(pub std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `count` free ports, all different, below the kernel's ephemeral range,
/// for a process a test kills and starts again on the same port: a port
/// from that range (what binding port 0 or connecting out picks) could be
/// taken by some connection of another test while the process is down, or
/// between choosing it and the first start, and the start would then fail.
pub fn restartable_ports(count: usize) -> Vec<u16> {
    let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse::<u16>().ok())
        .filter(|&low| low > 21_000)
        .unwrap_or(32_768);
    // Held until all are chosen, so no port is chosen twice.
    let held: Vec<std::net::TcpListener> = (0..count)
        .map(|_| {
            std::iter::repeat_with(|| rand::random_range(20_000..ephemeral_low))
                .take(1000)
                .find_map(|port| std::net::TcpListener::bind(("127.0.0.1", port)).ok())
                .expect("a free port below the ephemeral range")
        })
        .collect();
    held.iter()
        .map(|listener| listener.local_addr().expect("local addr").port())
        .collect()
}

/// `shop up`'s arguments that put every service on a free port
/// (`--catalog-port 0` ...), one per service it runs.
pub fn any_free_ports() -> Vec<String> {
    ServiceName::ALL
        .iter()
        .flat_map(|service| [format!("--{}-port", service.name()), "0".to_owned()])
        .collect()
}

/// The `(service, base URL)` lines `shop up` prints at start (gateway
/// first), read from its piped stdout until it says it is up (30 s at most).
pub fn printed_urls(running: &mut Running) -> Vec<(String, String)> {
    urls_in(&printed(running))
}

/// The `name url` lines among `lines`.
pub fn urls_in(lines: &[String]) -> Vec<(String, String)> {
    let mut urls = Vec::new();
    for line in lines {
        let mut words = line.split_whitespace();
        if let (Some(name), Some(url)) = (words.next(), words.next()) {
            if url.starts_with("http://") {
                urls.push((name.to_owned(), url.trim_end_matches('/').to_owned()));
            }
        }
    }
    urls
}

/// What `shop up` printed until it said it is up.
pub fn printed(running: &mut Running) -> Vec<String> {
    use std::io::{BufRead, BufReader};
    let stdout = running.0.stdout.take().expect("stdout piped");
    let (lines_tx, lines_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        let Ok(line) = lines_rx.recv_timeout(Duration::from_millis(100)) else {
            continue;
        };
        let done = line.contains("Press Ctrl+C");
        lines.push(line);
        if done {
            break;
        }
    }
    lines
}

/// Clients reading URLs without pause until [`Readers::stop`], each read
/// asserted a 200: reads racing a test's writes.
pub struct Readers {
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Readers {
    /// `count` clients, the i-th reading `urls[i % urls.len()]`.
    pub fn start(http: &reqwest::Client, urls: &[String], count: usize) -> Readers {
        let stop = Arc::new(AtomicBool::new(false));
        let tasks = (0..count)
            .map(|i| {
                let (http, url, stop) = (http.clone(), urls[i % urls.len()].clone(), stop.clone());
                tokio::spawn(async move {
                    while !stop.load(Ordering::Relaxed) {
                        let response = http.get(&url).send().await.expect("read");
                        assert_eq!(response.status(), StatusCode::OK, "{url}");
                    }
                })
            })
            .collect();
        Readers { stop, tasks }
    }

    /// Stops them; panics if any read was not a 200.
    pub async fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        for task in self.tasks {
            task.await.expect("reads answered 200");
        }
    }
}

impl Stack {
    /// `shop seed` with `args` into this stack's databases, while it runs;
    /// returns what it printed, after asserting it succeeded.
    pub fn seed(&self, args: &[&str]) -> String {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_shop"));
        command.arg("seed").args(args).env_remove("DATABASE_URL");
        match &self.database {
            Some(database) => command.args(["--database-url", &database.url]),
            None => command.arg("--data-dir").arg(self.dir.path()),
        };
        let output = command.output().expect("shop seed runs");
        let printed = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(
            output.status.success(),
            "{printed}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        printed
    }
}
