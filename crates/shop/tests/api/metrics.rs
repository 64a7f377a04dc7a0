//! `/metrics` stays small whatever methods and paths clients make up.

use futures::StreamExt;
use rand::distr::{Alphanumeric, Uniform};
use rand::Rng;
use reqwest::Method;

use crate::helpers::Stack;

const METHODS: [&str; 10] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT", "other",
];

fn random_token(rng: &mut impl Rng) -> String {
    let len = rng.sample(Uniform::new(6, 12).unwrap());
    (0..len)
        .map(|_| char::from(rng.sample(Alphanumeric)).to_ascii_uppercase())
        .filter(char::is_ascii_alphabetic)
        .collect::<String>()
        + "X"
}

/// The values of `label` in the lines of `metric`.
fn label_values<'a>(text: &'a str, metric: &str, label: &str) -> Vec<&'a str> {
    let needle = format!("{label}=\"");
    text.lines()
        .filter(|line| line.starts_with(metric))
        .filter_map(|line| {
            let start = line.find(&needle)? + needle.len();
            let end = start + line[start..].find('"')?;
            Some(&line[start..end])
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn made_up_methods_and_paths_do_not_grow_metrics() {
    let stack = Stack::start().await;
    let targets = [
        (
            format!("{}/metrics", stack.catalog),
            stack.catalog.clone(),
            "",
        ),
        (
            format!("{}/metrics", stack.gateway),
            stack.gateway.clone(),
            "/api/catalog",
        ),
        (
            format!("{}/metrics", stack.gateway),
            stack.gateway.clone(),
            "",
        ),
    ];
    // Every route and status the test will hit once, so the baseline has
    // the labels honest traffic makes.
    for (metrics, base, prefix) in &targets {
        for method in [Method::GET, Method::from_bytes(b"MADEUP").unwrap()] {
            let _ = stack
                .http
                .request(method, format!("{base}{prefix}/no-such/route"))
                .send()
                .await
                .unwrap();
        }
        let _ = stack.get(metrics).await;
    }
    let before: Vec<usize> = {
        let mut sizes = Vec::new();
        for (metrics, _, _) in &targets {
            sizes.push(
                stack
                    .raw(Method::GET, metrics)
                    .await
                    .text()
                    .await
                    .unwrap()
                    .len(),
            );
        }
        sizes
    };

    let mut rng = rand::rng();
    let mut tokens = Vec::new();
    let mut requests = Vec::new();
    for i in 0..3_000 {
        let (_, base, prefix) = &targets[i % targets.len()];
        let method = random_token(&mut rng);
        let path = random_token(&mut rng).to_ascii_lowercase();
        requests.push((method.clone(), format!("{base}{prefix}/{path}")));
        tokens.push(method);
        tokens.push(path);
    }
    let statuses: Vec<u16> = futures::stream::iter(requests)
        .map(|(method, url)| {
            let http = stack.http.clone();
            async move {
                let method = Method::from_bytes(method.as_bytes()).unwrap();
                http.request(method, url)
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    assert!(
        statuses.iter().all(|s| (400..500).contains(s)),
        "{:?}",
        statuses
            .iter()
            .filter(|s| !(400..500).contains(*s))
            .collect::<Vec<_>>()
    );

    for ((metrics, _, _), before) in targets.iter().zip(before) {
        let text = stack.raw(Method::GET, metrics).await.text().await.unwrap();
        println!("{metrics}: {before} bytes before, {} after", text.len());
        assert!(
            text.len() < before + 16 * 1024,
            "{metrics} grew from {before} to {} bytes",
            text.len()
        );
        for method in label_values(&text, "http_request", "method") {
            assert!(METHODS.contains(&method), "method label {method:?}");
        }
        for route in label_values(&text, "http_request", "route") {
            assert!(
                !tokens.iter().any(|t| route.contains(t.as_str())),
                "route label {route:?}"
            );
        }
    }
}

/// The value of the series of `metric` whose labels include `labels`
/// (`name="value"` pairs), summed over the series that match; 0 when none.
fn series(text: &str, metric: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (name, rest) = line.split_at(line.find(['{', ' '])?);
            (name == metric).then_some(rest)
        })
        .filter(|rest| labels.iter().all(|label| rest.contains(label)))
        .map(|rest| {
            let value = rest.rsplit(' ').next().unwrap_or("0");
            value.parse::<f64>().unwrap_or(f64::NAN)
        })
        .sum()
}

async fn scrape(stack: &Stack, base: &str) -> String {
    let response = stack
        .http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success());
    response.text().await.unwrap()
}

/// One declined payment, one purchase and its refund move the business
/// counters by exactly those, and the standard series are there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purchase_and_its_refund_move_the_business_counters_by_exactly_those() {
    let decider = crate::helpers::Switch::approving(false);
    let stack = Stack::start_with(crate::helpers::Options {
        payment_decider: Some(decider.clone()),
        ..crate::helpers::Options::default()
    })
    .await;
    let product = stack.product("Metered lamp", "25.00", 10).await;
    let services = [&stack.order, &stack.payment, &stack.catalog];
    let mut before = Vec::new();
    for base in services {
        before.push(scrape(&stack, base).await);
    }

    stack.add_to_cart("metered", product, 2).await;
    let order = stack.place_order("metered").await;
    let id = order["id"].as_i64().unwrap();
    let (status, declined) = stack.pay(id).await;
    assert_eq!(status, reqwest::StatusCode::BAD_REQUEST, "{declined}");
    decider.set(true);
    let (status, paid) = stack.pay(id).await;
    assert_eq!(status, reqwest::StatusCode::OK, "{paid}");
    let (status, cancelled) = stack.set_status(id, "cancelled").await;
    assert_eq!(status, reqwest::StatusCode::OK, "{cancelled}");
    assert_eq!(cancelled["refund_status"], "refunded", "{cancelled}");

    let mut after = Vec::new();
    for base in services {
        after.push(scrape(&stack, base).await);
    }
    let moved = |at: usize, metric: &str, labels: &[&str]| {
        series(&after[at], metric, labels) - series(&before[at], metric, labels)
    };
    let (order, payment, catalog) = (0, 1, 2);
    assert_eq!(moved(order, "shop_orders_created_total", &[]), 1.0);
    for (status, times) in [
        ("pending", 1.0),
        ("confirmed", 0.0),
        ("paid", 1.0),
        ("processing", 0.0),
        ("shipped", 0.0),
        ("delivered", 0.0),
        ("cancelled", 1.0),
    ] {
        let label = format!("status=\"{status}\"");
        assert_eq!(
            moved(order, "shop_order_status_changes_total", &[&label]),
            times,
            "{status}"
        );
    }
    assert_eq!(moved(order, "shop_revenue_cents_total", &[]), 5000.0);
    assert_eq!(moved(order, "shop_refunds_total", &[]), 1.0);
    assert_eq!(moved(order, "shop_refunded_cents_total", &[]), 5000.0);
    assert_eq!(series(&after[order], "shop_checkouts_in_flight", &[]), 0.0);
    assert_eq!(moved(order, "shop_checkouts_recovered_total", &[]), 0.0);
    assert_eq!(
        moved(payment, "shop_payments_total", &["outcome=\"failed\""]),
        1.0
    );
    assert_eq!(
        moved(payment, "shop_payments_total", &["outcome=\"success\""]),
        1.0
    );
    assert_eq!(
        moved(
            catalog,
            "shop_stock_reservations_total",
            &["outcome=\"held\""]
        ),
        1.0
    );
    assert_eq!(
        moved(
            catalog,
            "shop_stock_reservations_total",
            &["outcome=\"released\""]
        ),
        1.0
    );

    for (text, service) in after.iter().zip(["order", "payment", "catalog"]) {
        let of = format!("service=\"{service}\"");
        assert_eq!(series(text, "shop_build_info", &[&of]), 1.0, "{text}");
        assert!(series(text, "process_resident_memory_bytes", &[]) > 0.0);
        assert!(series(text, "process_open_fds", &[]) > 0.0);
        assert!(
            series(text, "shop_db_connections_max", &[&of]) >= 1.0,
            "{text}"
        );
        assert!(text.contains("shop_db_connections{"), "{text}");
    }
    // The stack's PAYMENT_SUCCESS_RATE, which the failure alert compares with.
    assert_eq!(
        series(&after[payment], "shop_payment_success_rate", &[]),
        1.0
    );

    // Every series the alert rules use is one of those: a rule on a series
    // nobody exports never fires.
    let rules = include_str!("../../../../k8s/components/monitoring/rules.yml");
    let exported: Vec<&str> = after
        .iter()
        .flat_map(|text| text.lines())
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.split(['{', ' ']).next())
        .collect();
    let used = series_named(rules);
    assert!(used.len() >= 8, "{used:?}");
    for name in used {
        assert!(
            exported.contains(&name),
            "{name}, used by an alert, is not exported"
        );
    }

    // And so is every series the Grafana dashboard charts, panel by panel.
    let dashboard: serde_json::Value = serde_json::from_str(include_str!(
        "../../../../k8s/components/monitoring/dashboard.json"
    ))
    .expect("the dashboard is JSON");
    assert_eq!(dashboard["uid"], "shop-overview");
    let panels = dashboard["panels"].as_array().expect("panels");
    assert!(panels.len() >= 10, "{} panels", panels.len());
    let mut ids = std::collections::HashSet::new();
    for panel in panels {
        let title = panel["title"].as_str().unwrap_or_default();
        assert!(
            ids.insert(panel["id"].as_i64()),
            "two panels with one id: {title}"
        );
        assert!(
            panel["gridPos"]["w"].as_i64().is_some(),
            "{title} has no place"
        );
        let targets = panel["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "{title} charts nothing");
        for target in targets {
            let expr = target["expr"].as_str().expect("an expression");
            let used = series_named(expr);
            assert!(!used.is_empty(), "{title}: {expr}");
            for name in used {
                assert!(exported.contains(&name), "{title}: {name} is not exported");
            }
        }
    }
}

/// The series of Shop's own a text names (`shop_`, `http_`, `outbox_`,
/// `process_` names), each once.
fn series_named(text: &str) -> Vec<&str> {
    let mut names: Vec<&str> = text
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .filter(|token| {
            ["shop_", "http_", "outbox_", "process_"]
                .iter()
                .any(|prefix| token.starts_with(prefix))
        })
        .collect();
    names.sort_unstable();
    names.dedup();
    names
}
