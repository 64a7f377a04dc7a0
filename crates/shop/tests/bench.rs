//! `shop bench --smoke`, as CI runs it: every scenario for a second against
//! a shop the benchmark starts itself. It passes only when every answer of
//! every scenario was right (no anomaly, 5xx or transport error); timings
//! are reported, never judged.

use std::process::Command;

use serde_json::Value;

#[test]
fn a_smoke_run_of_every_scenario_finds_every_answer_right() {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("bench.json");
    let output = Command::new(env!("CARGO_BIN_EXE_shop"))
        .args(["bench", "--smoke", "--json"])
        .arg(&report)
        .env_remove("DATABASE_URL")
        .env_remove("SHOP_ADMIN_PASSWORD")
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    let report: Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    let results = report["results"].as_array().unwrap();
    for scenario in [
        "ceiling",
        "browse",
        "product",
        "cart_read",
        "add_to_cart",
        "checkout",
        "checkout_synchronous_full",
    ] {
        let outcome = results
            .iter()
            .find(|o| o["scenario"] == scenario)
            .unwrap_or_else(|| panic!("no {scenario} in {report}"));
        assert!(outcome["per_second"].as_f64().unwrap() > 0.0, "{outcome}");
        for problem in ["anomalies", "server_errors", "transport_errors"] {
            assert_eq!(outcome[problem], 0, "{outcome}");
        }
        // What each loop cost the shop's process: known for the shops the
        // run started, not for the ceiling (it shares the client's).
        for cost in ["cpu_us_per_loop", "switches_per_loop"] {
            if scenario == "ceiling" {
                assert!(outcome[cost].is_null(), "{outcome}");
            } else {
                assert!(outcome[cost].as_f64().unwrap() > 0.0, "{outcome}");
            }
        }
        if scenario != "ceiling" {
            let system = outcome["system_share"].as_f64().unwrap();
            assert!((0.0..=1.0).contains(&system), "{outcome}");
        }
    }
    // The table: a row per scenario, shares of the ceiling, the shop's costs.
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with("| ")).count(),
        1 + 7,
        "{stdout}"
    );
    assert!(stdout.contains(" % |"), "{stdout}");
    assert!(stdout.contains("shop CPU µs per loop"), "{stdout}");
}
