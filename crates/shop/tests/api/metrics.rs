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
