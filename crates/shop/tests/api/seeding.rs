//! `shop seed`: a history the services accept as their own. Every order
//! adds up, every paid one has its one successful payment, every cancelled
//! paid one its refund, only recent orders are unpaid, and `/stats` and the
//! lists count it all.

use std::collections::BTreeMap;

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::Stack;

fn cents(value: &Value) -> i64 {
    (value.as_f64().unwrap() * 100.0).round() as i64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seeded_history_keeps_every_rule_of_the_shop() {
    let stack = Stack::start().await;
    let printed = stack.seed(&["--orders", "600", "--products", "80", "--days", "30"]);
    assert!(
        printed.contains("Added 80 products, 600 orders"),
        "{printed}"
    );

    let orders = stack
        .list(&format!("{}/orders?limit=1000", stack.order))
        .await;
    assert_eq!(orders.len(), 600);
    let products = stack
        .list(&format!("{}/products?limit=1000", stack.catalog))
        .await;
    assert_eq!(products.len(), 84, "the four sample products and 80 more");
    let prices: BTreeMap<i64, i64> = products
        .iter()
        .map(|p| (p["id"].as_i64().unwrap(), cents(&p["price"])))
        .collect();
    let payments = stack
        .list(&format!("{}/payments?limit=1000", stack.payment))
        .await;
    let mut successes: BTreeMap<i64, Vec<&Value>> = BTreeMap::new();
    for payment in payments.iter().filter(|p| p["status"] == "success") {
        successes
            .entry(payment["order_id"].as_i64().unwrap())
            .or_default()
            .push(payment);
    }
    let recent = chrono::Utc::now() - chrono::Duration::minutes(25);
    let mut by_status: BTreeMap<String, i64> = BTreeMap::new();
    let (mut refunds, mut revenue) = (0, 0);
    for order in &orders {
        let id = order["id"].as_i64().unwrap();
        let status = order["status"].as_str().unwrap();
        *by_status.entry(status.to_owned()).or_default() += 1;
        let total = cents(&order["total_amount"]);
        let lines: i64 = order["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|item| {
                let product = item["product_id"].as_i64().unwrap();
                assert_eq!(prices[&product], cents(&item["price"]), "{order}");
                cents(&item["price"]) * item["quantity"].as_i64().unwrap()
            })
            .sum();
        assert_eq!(lines, total, "{order}");
        let charged = successes.get(&id).map(Vec::as_slice).unwrap_or(&[]);
        match status {
            "pending" | "confirmed" => {
                assert!(charged.is_empty(), "{order}");
                let placed =
                    chrono::DateTime::parse_from_rfc3339(order["created_at"].as_str().unwrap())
                        .unwrap();
                assert!(placed > recent, "an old unpaid order would expire: {order}");
            }
            "paid" | "processing" | "shipped" | "delivered" => {
                assert_eq!(charged.len(), 1, "{order}");
                assert_eq!(charged[0]["id"], order["payment_id"]);
                assert_eq!(cents(&charged[0]["amount"]), total);
                assert!(charged[0].get("refund").is_none());
                revenue += total;
            }
            "cancelled" if order["payment_id"].is_string() => {
                assert_eq!(charged.len(), 1, "{order}");
                assert_eq!(order["refund_status"], "refunded", "{order}");
                assert_eq!(charged[0]["refund"]["id"], order["refund_id"]);
                assert_eq!(cents(&charged[0]["refund"]["amount"]), total);
                refunds += 1;
            }
            "cancelled" => assert!(charged.is_empty(), "{order}"),
            other => panic!("status {other}"),
        }
    }
    for status in ["delivered", "cancelled"] {
        assert!(
            by_status.get(status).copied().unwrap_or(0) > 0,
            "{by_status:?}"
        );
    }
    assert!(refunds > 0, "no refunded order among {by_status:?}");

    let from = (chrono::Utc::now() - chrono::Duration::days(40)).format("%Y-%m-%d");
    let (status, stats) = stack
        .get(&format!("{}/stats?from={from}", stack.order))
        .await;
    assert_eq!(status, StatusCode::OK, "{stats}");
    assert_eq!(stats["orders"], 600);
    assert_eq!(stats["refunds"], refunds);
    assert_eq!(cents(&stats["revenue"]), revenue);
    for (status, n) in &by_status {
        assert_eq!(stats["by_status"][status], *n, "{status}");
    }
    // The seeded products are searchable.
    let name = products[50]["name"].as_str().unwrap();
    let found = stack
        .list(&format!(
            "{}/products?search={}",
            stack.catalog,
            name.replace(' ', "%20")
        ))
        .await;
    assert!(found.iter().any(|p| p["name"] == name), "{name}: {found:?}");
}
