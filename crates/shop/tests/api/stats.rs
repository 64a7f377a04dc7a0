//! `GET /stats`: the orders of a range counted by status, revenue without
//! refunds, the average order value and a series, exact to the cent.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{detail, num, Stack};

async fn stats(stack: &Stack, query: &str) -> Value {
    let (status, body) = stack.get(&format!("{}/stats{query}", stack.order)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// Places an order of `quantity` x the product for `user`; its id.
async fn order(stack: &Stack, user: &str, product: i64, quantity: i64) -> i64 {
    stack.add_to_cart(user, product, quantity).await;
    stack.place_order(user).await["id"].as_i64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_count_every_order_and_revenue_to_the_cent() {
    let stack = Stack::start().await;
    let before = stats(&stack, "").await;
    assert_eq!(before["orders"], 0, "{before}");
    assert_eq!(num(&before["revenue"]), "0.00", "{before}");
    // 30 days by day: 30 or 31 points (the first bucket starts at midnight).
    let points = before["series"].as_array().unwrap().len();
    assert!((30..=31).contains(&points), "{points}");

    let cheap = stack.product("Pencil", "0.10", 1000).await;
    let odd = stack.product("Lamp", "33.33", 1000).await;
    // Paid: 3 x 0.10 = 0.30 and 1 x 33.33; processing: 2 x 33.33 = 66.66.
    let paid = order(&stack, "ada", cheap, 3).await;
    let paid_too = order(&stack, "bob", odd, 1).await;
    let processing = order(&stack, "cy", odd, 2).await;
    for id in [paid, paid_too, processing] {
        assert_eq!(stack.pay(id).await.0, StatusCode::OK);
    }
    assert_eq!(
        stack.set_status(processing, "processing").await.0,
        StatusCode::OK
    );
    // Paid then cancelled: refunded, not revenue (4 x 0.10).
    let refunded = order(&stack, "dee", cheap, 4).await;
    assert_eq!(stack.pay(refunded).await.0, StatusCode::OK);
    assert_eq!(
        stack.set_status(refunded, "cancelled").await.0,
        StatusCode::OK
    );
    // Never paid: pending, and cancelled unpaid.
    order(&stack, "eve", odd, 5).await;
    let dropped = order(&stack, "fay", cheap, 1).await;
    assert_eq!(
        stack.set_status(dropped, "cancelled").await.0,
        StatusCode::OK
    );

    let now = stats(&stack, "").await;
    assert_eq!(now["orders"], 6, "{now}");
    let by_status = &now["by_status"];
    for (status, n) in [
        ("pending", 1),
        ("confirmed", 0),
        ("paid", 2),
        ("processing", 1),
        ("shipped", 0),
        ("delivered", 0),
        ("cancelled", 2),
    ] {
        assert_eq!(by_status[status], n, "{status}: {now}");
    }
    assert_eq!(now["paid_orders"], 3, "{now}");
    assert_eq!(num(&now["revenue"]), "100.29", "{now}");
    // 100.29 / 3 = 33.43
    assert_eq!(num(&now["average_order_value"]), "33.43", "{now}");
    assert_eq!(now["refunds"], 1, "{now}");
    assert_eq!(num(&now["refunded"]), "0.40", "{now}");
    // The series adds up to the totals.
    let (orders, revenue) = series_totals(&now);
    assert_eq!((orders, revenue), (6, 10_029), "{now}");

    // By hour since yesterday: one point per hour up to now.
    let yesterday = (chrono::Utc::now() - chrono::Duration::days(1)).format("%Y-%m-%d");
    let hourly = stats(&stack, &format!("?from={yesterday}&bucket=hour")).await;
    assert_eq!(hourly["bucket"], "hour");
    assert_eq!(series_totals(&hourly), (6, 10_029), "{hourly}");
    let to = chrono::DateTime::parse_from_rfc3339(hourly["to"].as_str().unwrap()).unwrap();
    let hours = to.format("%H").to_string().parse::<usize>().unwrap() + 1;
    assert_eq!(hourly["series"].as_array().unwrap().len(), 24 + hours);
    // A range before any order is empty.
    let past = stats(&stack, "?from=2020-01-01&to=2020-02-01").await;
    assert_eq!(past["orders"], 0, "{past}");
    assert_eq!(past["series"].as_array().unwrap().len(), 31);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_range_is_422_saying_why() {
    let stack = Stack::start().await;
    for (query, says) in [
        ("?from=2026-02-01&to=2026-01-01", "from must be before to"),
        ("?from=last-week", "from must be a date"),
        ("?to=2026-13-01", "to must be a date"),
        ("?from=2000-01-01&to=2026-01-01&bucket=hour", "buckets"),
        ("?bucket=week", "bucket"),
    ] {
        let (status, body) = stack.get(&format!("{}/stats{query}", stack.order)).await;
        let message = detail(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(message.contains(says), "{query}: {message}");
    }
}

/// Orders and revenue (in cents) over the series' points.
fn series_totals(stats: &Value) -> (i64, i64) {
    stats["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let cents = (p["revenue"].as_f64().unwrap() * 100.0).round() as i64;
            (p["orders"].as_i64().unwrap(), cents)
        })
        .fold((0, 0), |(o, c), (po, pc)| (o + po, c + pc))
}
