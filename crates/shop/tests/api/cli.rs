//! The `shop` binary as a user runs it.

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{num, printed_urls, Running};

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
    let child = shop()
        .args(["up", "--data-dir"])
        .arg(dir.path())
        .args([
            "--gateway-port",
            "0",
            "--catalog-port",
            "0",
            "--cart-port",
            "0",
        ])
        .args([
            "--order-port",
            "0",
            "--payment-port",
            "0",
            "--identity-port",
            "0",
        ])
        .env("PAYMENT_SUCCESS_RATE", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
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
}
