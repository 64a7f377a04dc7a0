//! The `shop` binary as a user runs it.

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{any_free_ports, num, printed, printed_urls, urls_in, Running};

fn shop() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_shop"));
    command.env_remove("RUST_LOG").env("LOG_FORMAT", "json");
    command
}

fn run(command: &mut Command) -> Output {
    command.stdin(Stdio::null()).output().expect("shop runs")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn help_and_version() {
    let help = run(shop().arg("--help"));
    assert!(help.status.success());
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(text.contains("up") && text.contains("serve"), "{text}");
    let version = run(shop().arg("--version"));
    assert_eq!(
        String::from_utf8_lossy(&version.stdout).trim(),
        format!("shop {}", env!("CARGO_PKG_VERSION"))
    );
    let bad = run(shop().args(["serve", "inventory"]));
    assert!(!bad.status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_exits_zero_only_for_a_healthy_url() {
    let stack = crate::helpers::Stack::start().await;
    let healthy = format!("{}/health", stack.catalog);
    let missing = format!("{}/no-such-route", stack.catalog);
    let down = crate::helpers::dead_url().await;
    let outcome = |url: String| {
        tokio::task::spawn_blocking(move || run(shop().args(["check", &url])).status.success())
    };
    assert!(outcome(healthy).await.unwrap());
    assert!(!outcome(missing).await.unwrap());
    assert!(!outcome(format!("{down}/health")).await.unwrap());
}

#[test]
fn a_bad_setting_is_one_line_naming_it_and_exit_code_2() {
    let dir = tempfile::tempdir().unwrap();
    for (name, value, service) in [
        ("PAYMENT_SUCCESS_RATE", "1.5", "payment"),
        ("PORT", "eighty", "catalog"),
        ("CATALOG_SERVICE_URL", "not a url", "cart"),
        ("LOG_FORMAT", "xml", "order"),
        ("HTTP_REQUEST_TIMEOUT_MS", "-5", "gateway"),
    ] {
        let output = run(shop()
            .args(["serve", service])
            .env("DB_PATH", dir.path().join("x.db"))
            .env(name, value));
        assert_eq!(output.status.code(), Some(2), "{name}: {}", stderr(&output));
        let err = stderr(&output);
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(err.contains(name), "{err}");
    }
}

#[test]
fn a_busy_port_or_unusable_data_dir_stops_start_up() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port().to_string();
    let dir = tempfile::tempdir().unwrap();
    let output = run(shop()
        .args(["serve", "catalog"])
        .env("BIND", "127.0.0.1")
        .env("PORT", &port)
        .env("DB_PATH", dir.path().join("catalog.db")));
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(err.contains(&format!("127.0.0.1:{port}")), "{err}");

    let file = dir.path().join("a-file");
    std::fs::write(&file, "not a directory").unwrap();
    let output = run(shop().args(["up", "--data-dir"]).arg(&file));
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("data directory"),
        "{}",
        stderr(&output)
    );

    let output = run(shop()
        .args(["serve", "order"])
        .env("DB_PATH", file.join("order.db")));
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("order.db"), "{}", stderr(&output));
}

#[test]
fn an_unreachable_database_is_retried_then_named() {
    let refused = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = refused.local_addr().unwrap().port();
    drop(refused);
    let output = run(shop()
        .args(["serve", "catalog"])
        .env(
            "DATABASE_URL",
            format!("postgres://postgres@127.0.0.1:{port}/shop"),
        )
        .env("DB_ACQUIRE_TIMEOUT_MS", "200")
        .env("DB_STARTUP_TIMEOUT_MS", "1000"));
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(err.contains(&format!("127.0.0.1:{port}/shop")), "{err}");
    // It kept trying for the start-up timeout before giving up.
    assert!(err.contains("retrying"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shop_up_serves_a_purchase_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("shop.log");
    let child = shop()
        .args(["up", "--no-auth", "--data-dir"])
        .arg(dir.path())
        .args(any_free_ports())
        .env("PAYMENT_SUCCESS_RATE", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut running = Running(child);
    let gateway = printed_urls(&mut running)
        .into_iter()
        .find(|(name, _)| name == "gateway")
        .map(|(_, url)| url);
    let gateway = gateway.expect("shop up printed the gateway URL");
    for db in [
        "catalog.db",
        "cart.db",
        "order.db",
        "payment.db",
        "identity.db",
    ] {
        assert!(dir.path().join(db).exists(), "{db} created");
    }

    let http = reqwest::Client::new();
    let api = format!("{gateway}/api");
    let add = http
        .post(format!("{api}/cart/cart/cli-user/items"))
        .json(&json!({"product_id": 3, "quantity": 2}))
        .send()
        .await
        .unwrap();
    assert_eq!(add.status(), StatusCode::OK);
    let order: serde_json::Value = http
        .post(format!("{api}/order/orders"))
        .json(&json!({"user_id": "cli-user"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(num(&order["total_amount"]), "159.98");
    let paid = http
        .post(format!("{api}/order/orders/{}/payment", order["id"]))
        .send()
        .await
        .unwrap();
    assert_eq!(paid.status(), StatusCode::OK);

    let pid = running.0.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = running.0.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "shop up did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "exit status {status}");

    // The purchase's business events, at INFO with their ids.
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect();
    let event = |message: &str| {
        lines
            .iter()
            .find(|line| line["message"] == message)
            .unwrap_or_else(|| panic!("no {message:?} line"))
    };
    let placed = event("order placed");
    assert_eq!(placed["level"], "INFO");
    assert_eq!(placed["order_id"], order["id"]);
    assert_eq!(placed["user_id"], "cli-user");
    let paid_line = event("order paid");
    assert_eq!(paid_line["order_id"], order["id"]);
    assert_eq!(paid_line["payment_id"].as_str().map(str::len), Some(36));
}

/// `shop up` (accounts on by default): the first staff account is made and its password
/// printed once; customers see only their own cart, through the gateway
/// and on the services' ports; a second start makes no second account.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shop_up_with_auth_makes_the_first_staff_account_and_checks_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let start = || {
        let child = shop()
            .args(["up", "--data-dir"])
            .arg(dir.path())
            .args(any_free_ports())
            .env_remove("AUTH")
            .env_remove("SHOP_ADMIN_EMAIL")
            .env_remove("SHOP_ADMIN_PASSWORD")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut running = Running(child);
        let lines = printed(&mut running);
        (running, lines)
    };
    let (running, lines) = start();
    let password = lines
        .iter()
        .find_map(|line| line.split(" with password ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no staff password in {lines:?}"))
        .to_owned();
    let urls = urls_in(&lines);
    let url = |name: &str| {
        urls.iter()
            .find(|(n, _)| n == name)
            .map(|(_, u)| u.clone())
            .unwrap()
    };
    let (gateway, cart) = (url("gateway"), url("cart"));
    assert!(
        lines
            .iter()
            .any(|line| line.starts_with(&format!("Sign in or register at {gateway}/signin"))),
        "{lines:?}"
    );
    let http = reqwest::Client::new();
    let post = |url: String, body: serde_json::Value, token: Option<String>| {
        let mut request = http.post(url).json(&body);
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        async move {
            let response = request.send().await.unwrap();
            (
                response.status(),
                response.json::<serde_json::Value>().await.unwrap(),
            )
        }
    };
    let (status, staff) = post(
        format!("{gateway}/api/identity/auth/login"),
        json!({"email": "admin@shop.local", "password": password}),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{staff}");
    assert_eq!(staff["account"]["role"], "staff");
    post(
        format!("{gateway}/api/identity/auth/register"),
        json!({"email": "ada@example.com", "password": "ada passphrase", "name": "Ada"}),
        None,
    )
    .await;
    let (_, ada) = post(
        format!("{gateway}/api/identity/auth/login"),
        json!({"email": "ada@example.com", "password": "ada passphrase"}),
        None,
    )
    .await;
    let ada_id = ada["account"]["id"].as_str().unwrap().to_owned();
    let ada_token = ada["access_token"].as_str().unwrap().to_owned();
    let add = json!({"product_id": 2, "quantity": 1});
    for base in [format!("{gateway}/api/cart"), cart.clone()] {
        let (status, _) = post(format!("{base}/cart/{ada_id}/items"), add.clone(), None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let (status, _) = post(
            format!("{base}/cart/someone/items"),
            add.clone(),
            Some(ada_token.clone()),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, body) = post(
            format!("{base}/cart/{ada_id}/items"),
            add.clone(),
            Some(ada_token.clone()),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    drop(running);

    // A second start keeps the staff account and makes no other.
    let (_running, lines) = start();
    assert!(
        lines.iter().all(|line| !line.contains("with password")),
        "{lines:?}"
    );
}

/// A line logged while a request is handled names that request's id
/// (here the warning of a call to a catalog that is down, inside an add to
/// cart), with no trace export configured.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_line_logged_inside_a_request_names_its_request_id() {
    let (id, warning) = warning_inside_a_request(&[], None).await;
    assert_eq!(warning["request_id"], id.as_str(), "{warning}");
    assert!(warning.get("trace_id").is_none(), "{warning}");
}

/// With spans exported, such a line also names the trace and the span it
/// was logged in: the client's trace, continued.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_traces_exported_a_line_names_its_trace_and_span() {
    let collector = crate::helpers::dead_url().await;
    let trace = "5bf92f3577b34da6a3ce929d0e0e4736";
    let (id, warning) = warning_inside_a_request(
        &[("OTEL_EXPORTER_OTLP_ENDPOINT", collector)],
        Some(&format!("00-{trace}-00f067aa0ba902b7-01")),
    )
    .await;
    assert_eq!(warning["request_id"], id.as_str(), "{warning}");
    assert_eq!(warning["trace_id"], trace, "{warning}");
    let span = warning["span_id"].as_str().unwrap_or_default();
    assert_eq!(span.len(), 16, "{warning}");
    assert_ne!(
        span, "00f067aa0ba902b7",
        "the client's span, not the service's"
    );
}

/// `shop serve cart` (JSON logs, `env` besides) with its catalog down: an
/// add to cart (with `traceparent`, if any) is answered 503 and logs a
/// warning inside the request. The request's id and that warning.
async fn warning_inside_a_request(
    env: &[(&str, String)],
    traceparent: Option<&str>,
) -> (String, serde_json::Value) {
    use std::io::{BufRead, BufReader};

    let dir = tempfile::tempdir().unwrap();
    let mut command = shop();
    command
        .args(["serve", "cart"])
        .env("PORT", "0")
        .env("BIND", "127.0.0.1")
        .env("DB_PATH", dir.path().join("cart.db"))
        .env("CATALOG_SERVICE_URL", crate::helpers::dead_url().await)
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .envs(env.iter().map(|(name, value)| (name, value)))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = command.spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    let _running = Running(child);
    let (lines, read) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    let next_line = |wanted: &dyn Fn(&serde_json::Value) -> bool| loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = read
            .recv_timeout(left)
            .expect("the line was logged in time");
        if let Ok(line) = serde_json::from_str::<serde_json::Value>(&line) {
            if wanted(&line) {
                return line;
            }
        }
    };
    let listening = next_line(&|line| line["message"] == "listening");
    let addr = listening["addr"].as_str().expect("the address listened on");

    let mut request = reqwest::Client::new()
        .post(format!("http://{addr}/cart/someone/items"))
        .json(&json!({"product_id": 1, "quantity": 1}));
    if let Some(traceparent) = traceparent {
        request = request.header("traceparent", traceparent);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let warning = next_line(&|line| {
        line["level"] == "WARN"
            && line["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("call "))
    });
    (id, warning)
}
