//! The order events without a broker: the outbox read through `/events`
//! and `/events/stream`, each event valid against its JSON Schema in
//! `docs/events/`.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{
    assert_valid, detail, event_schemas, every_kind_of_event, expected_types, Options, Stack,
    Switch,
};

async fn switchable() -> (Stack, std::sync::Arc<Switch>) {
    let decider = Switch::approving(true);
    let stack = Stack::start_with(Options {
        payment_decider: Some(decider.clone()),
        ..Options::default()
    })
    .await;
    (stack, decider)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_change_has_its_event_in_order_and_valid() {
    let (stack, decider) = switchable().await;
    let (first, second) = every_kind_of_event(&stack, &decider).await;

    let (status, events) = stack.get(&format!("{}/events", stack.order)).await;
    assert_eq!(status, StatusCode::OK, "{events}");
    let events = events.as_array().unwrap();
    let got: Vec<(i64, &str)> = events
        .iter()
        .map(|e| {
            (
                e["data"]["order_id"].as_i64().unwrap(),
                e["event_type"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(got, expected_types(first, second));
    let schemas = event_schemas();
    for (i, event) in events.iter().enumerate() {
        assert_valid(&schemas, event);
        assert_eq!(event["sequence"], i as i64 + 1);
    }
    // The schemas do reject what breaks the contract.
    let mut broken = events[0].clone();
    broken["data"]["total_amount"] = json!("160.28");
    assert!(!schemas["order_created"].is_valid(&broken));
    let paid = &events[2];
    let (_, order) = stack.get(&format!("{}/orders/{first}", stack.order)).await;
    assert_eq!(paid["data"]["payment_id"], order["payment_id"]);
    assert_eq!(events[3]["data"]["previous_status"], "paid");
    assert_eq!(events[5]["data"]["previous_status"], "pending");
    let ids: std::collections::HashSet<&str> = events
        .iter()
        .map(|e| e["event_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), events.len(), "distinct event ids");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_feed_pages_by_sequence() {
    let (stack, decider) = switchable().await;
    every_kind_of_event(&stack, &decider).await;
    let stack = &stack;
    let page = |after: i64, limit: i64| {
        let url = format!("{}/events?after={after}&limit={limit}", stack.order);
        async move { stack.get(&url).await }
    };
    let (_, first_page) = page(0, 4).await;
    let (_, second_page) = page(4, 4).await;
    let sequences = |v: &Value| -> Vec<i64> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|e| e["sequence"].as_i64().unwrap())
            .collect()
    };
    assert_eq!(sequences(&first_page), [1, 2, 3, 4]);
    assert_eq!(sequences(&second_page), [5, 6]);
    let (_, none) = page(6, 10).await;
    assert_eq!(none, json!([]));
    // The latest, oldest first: how a feed fills itself on load.
    let (_, latest) = stack
        .get(&format!("{}/events?last=true&limit=4", stack.order))
        .await;
    assert_eq!(sequences(&latest), [3, 4, 5, 6]);
    // One order's events, all of them or its latest.
    let (_, all) = stack.get(&format!("{}/events", stack.order)).await;
    let order_id = all[0]["data"]["order_id"].as_i64().unwrap();
    let of_order: Vec<i64> = all
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["data"]["order_id"] == order_id)
        .map(|e| e["sequence"].as_i64().unwrap())
        .collect();
    assert!(of_order.len() >= 2, "{all}");
    let (_, mine) = stack
        .get(&format!("{}/events?order_id={order_id}", stack.order))
        .await;
    assert_eq!(sequences(&mine), of_order);
    let (_, last_one) = stack
        .get(&format!(
            "{}/events?order_id={order_id}&last=true&limit=1",
            stack.order
        ))
        .await;
    assert_eq!(sequences(&last_one), of_order[of_order.len() - 1..]);
    let (status, body) = stack
        .get(&format!("{}/events?order_id=987654", stack.order))
        .await;
    detail(status, &body, StatusCode::NOT_FOUND);
    for bad in [
        "after=-1",
        "limit=0",
        "limit=1001",
        "after=x",
        "after=2&last=true",
        "last=yes",
    ] {
        let (status, body) = stack.get(&format!("{}/events?{bad}", stack.order)).await;
        detail(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
    }
}

/// Reads server-sent events until `count` arrived; `(id, event)` pairs.
async fn read_stream(response: &mut reqwest::Response, count: usize) -> Vec<(i64, Value)> {
    let mut buffer = String::new();
    let mut events = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while events.len() < count {
        let chunk = tokio::time::timeout_at(deadline, response.chunk())
            .await
            .expect("events arrive in time")
            .expect("stream readable")
            .expect("stream still open");
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            let mut id = None;
            let mut data = None;
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("id:") {
                    id = v.trim().parse::<i64>().ok();
                } else if let Some(v) = line.strip_prefix("data:") {
                    data = serde_json::from_str::<Value>(v.trim()).ok();
                }
            }
            if let (Some(id), Some(data)) = (id, data) {
                events.push((id, data));
            }
        }
    }
    events
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stream_follows_live_and_resumes_from_last_event_id() {
    let (stack, decider) = switchable().await;
    let url = format!("{}/events/stream", stack.order);
    // Connected before anything happens: it follows new events live.
    let mut live = stack.http.get(&url).send().await.unwrap();
    assert_eq!(live.status(), StatusCode::OK);
    assert!(live.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let (first, second) = every_kind_of_event(&stack, &decider).await;
    let got = read_stream(&mut live, 6).await;
    let ids: Vec<i64> = got.iter().map(|(id, _)| *id).collect();
    assert_eq!(ids, [1, 2, 3, 4, 5, 6]);
    let types: Vec<(i64, &str)> = got
        .iter()
        .map(|(_, e)| {
            (
                e["data"]["order_id"].as_i64().unwrap(),
                e["event_type"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(types, expected_types(first, second));

    // A client reconnecting after event 4 gets 5 and 6.
    let mut resumed = stack
        .http
        .get(&url)
        .header("last-event-id", "4")
        .send()
        .await
        .unwrap();
    let got = read_stream(&mut resumed, 2).await;
    assert_eq!(got.iter().map(|(id, _)| *id).collect::<Vec<_>>(), [5, 6]);
    // Through the gateway too, from ?after=.
    let mut proxied = stack
        .http
        .get(format!("{}/api/order/events/stream?after=3", stack.gateway))
        .send()
        .await
        .unwrap();
    let got = read_stream(&mut proxied, 3).await;
    assert_eq!(got.iter().map(|(id, _)| *id).collect::<Vec<_>>(), [4, 5, 6]);

    let (status, body) = stack
        .send_raw_with_header(Method::GET, &url, ("last-event-id", "abc"))
        .await;
    detail(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
}

/// The sequences of a page of events.
fn sequences(events: &Value) -> Vec<i64> {
    events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["sequence"].as_i64().unwrap())
        .collect()
}

/// The last event's sequence now.
async fn last_sequence(stack: &Stack) -> i64 {
    let (_, before) = stack
        .get(&format!("{}/events?last=true&limit=1", stack.order))
        .await;
    sequences(&before).first().copied().unwrap_or(0)
}

/// Follows `after=N` from `start` while `writers` run, then once more;
/// asserts that the follower saw every event written since `start`, in
/// order, and that there are `expected` of them.
async fn follow_while(
    stack: &Stack,
    start: i64,
    mut writers: tokio::task::JoinSet<()>,
    expected: usize,
) {
    let mut seen = Vec::new();
    let mut cursor = start;
    let mut writing = true;
    loop {
        let url = format!("{}/events?after={cursor}&limit=1000", stack.order);
        let (_, page) = stack.get(&url).await;
        let page = sequences(&page);
        if let Some(&last) = page.last() {
            cursor = last;
        }
        seen.extend(page);
        if !writing {
            break;
        }
        writing = !writers.is_empty();
        while let Some(done) = writers.try_join_next() {
            done.unwrap();
        }
    }
    let url = format!("{}/events?after={start}&limit=1000", stack.order);
    let (_, all) = stack.get(&url).await;
    let all = sequences(&all);
    assert_eq!(all.len(), expected);
    assert_eq!(seen, all, "the follower stepped over events");
}

/// A reader following `after=N` sees every event, however many requests
/// write events at once. (On PostgreSQL an event's sequence is handed out
/// at its insert and seen at its commit, so without the outbox's write lock
/// a later sequence could be seen first, and the follower would step over
/// the earlier one for good.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_misses_no_event_written_concurrently() {
    let stack = std::sync::Arc::new(Stack::start().await);
    let product = stack.product("Widget", "1.00", 1_000).await;
    let mut orders = Vec::new();
    for i in 0..16 {
        let user = format!("follower-{i}");
        stack.add_to_cart(&user, product, 1).await;
        orders.push(stack.place_order(&user).await["id"].as_i64().unwrap());
    }
    let start = last_sequence(&stack).await;

    let mut writers = tokio::task::JoinSet::new();
    for id in orders {
        let stack = stack.clone();
        writers.spawn(async move {
            for status in ["confirmed", "paid", "processing", "shipped", "delivered"] {
                let (code, body) = stack.set_status(id, status).await;
                assert_eq!(code, StatusCode::OK, "{body}");
            }
        });
    }
    follow_while(&stack, start, writers, 16 * 5).await;
}

/// The same for the events of checkouts and payments, whose transactions
/// write their event in the same message as the order's change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_misses_no_event_of_concurrent_checkouts_and_payments() {
    let stack = std::sync::Arc::new(Stack::start().await);
    let product = stack.product("Widget", "1.00", 1_000).await;
    let start = last_sequence(&stack).await;

    let mut writers = tokio::task::JoinSet::new();
    for i in 0..16 {
        let stack = stack.clone();
        writers.spawn(async move {
            for round in 0..3 {
                let user = format!("buyer-{i}-{round}");
                stack.add_to_cart(&user, product, 1).await;
                let id = stack.place_order(&user).await["id"].as_i64().unwrap();
                let (code, body) = stack.pay(id).await;
                assert_eq!(code, StatusCode::OK, "{body}");
            }
        });
    }
    // Each purchase: order_created, then order_paid.
    follow_while(&stack, start, writers, 16 * 3 * 2).await;
}
