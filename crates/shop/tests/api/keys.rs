//! Signing keys: a rotation (`shop accounts rotate-key`) while requests
//! flow fails none of them, and the services' key-set cache cannot be
//! made to hammer whoever publishes the keys.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use futures::StreamExt;
use reqwest::Method;
use serde_json::{json, Value};
use shop::services::ServiceName;

use crate::helpers::{eventually, listener, Options, Stack};

fn kid_of(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

async fn key_set(stack: &Stack) -> Vec<String> {
    let (_, set) = stack
        .get(&format!("{}/.well-known/jwks.json", stack.identity))
        .await;
    set["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|key| key["kid"].as_str().unwrap().to_owned())
        .collect()
}

/// What the stream of requests saw.
#[derive(Default)]
struct Seen {
    loops: AtomicUsize,
    failures: Mutex<Vec<String>>,
    kids: Mutex<HashSet<String>>,
}

impl Seen {
    async fn loops_beyond(&self, more: usize) {
        let target = self.loops.load(Ordering::SeqCst) + more;
        eventually(Duration::from_secs(30), || async {
            (self.loops.load(Ordering::SeqCst) >= target).then_some(())
        })
        .await;
    }
}

/// One customer's requests until `stop`: a refresh (a token signed with
/// whatever key signs now), then their cart on the cart service and
/// through the gateway with it, and with their first token.
async fn customer(stack: Arc<Stack>, n: usize, seen: Arc<Seen>, stop: Arc<AtomicUsize>) {
    let tokens = stack
        .log_in(&format!("c{n}@example.com"), "a long passphrase")
        .await;
    let id = tokens["account"]["id"].as_str().unwrap().to_owned();
    let first = tokens["access_token"].as_str().unwrap().to_owned();
    let mut refresh = tokens["refresh_token"].clone();
    while stop.load(Ordering::SeqCst) == 0 {
        let (status, fresh) = stack
            .post(
                &format!("{}/auth/refresh", stack.identity),
                json!({ "refresh_token": refresh }),
            )
            .await;
        if status != StatusCode::OK {
            seen.failures
                .lock()
                .unwrap()
                .push(format!("refresh: {status} {fresh}"));
            return;
        }
        refresh = fresh["refresh_token"].clone();
        let access = fresh["access_token"].as_str().unwrap().to_owned();
        seen.kids.lock().unwrap().insert(kid_of(&access));
        for token in [&access, &first] {
            for url in [
                format!("{}/cart/{id}", stack.cart),
                format!("{}/api/cart/cart/{id}", stack.gateway),
            ] {
                let response = stack
                    .http
                    .request(Method::GET, &url)
                    .bearer_auth(token)
                    .send()
                    .await
                    .unwrap();
                if response.status() != StatusCode::OK {
                    let failure = format!("{url} ({}): {}", kid_of(token), response.status());
                    seen.failures.lock().unwrap().push(failure);
                }
            }
        }
        seen.loops.fetch_add(1, Ordering::SeqCst);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotation_in_the_middle_of_a_stream_of_requests_fails_none_of_them() {
    let stack = Arc::new(
        Stack::start_with(Options {
            extra_env: vec![("AUTH", "on".to_owned())],
            ..Options::default()
        })
        .await,
    );
    let old = key_set(&stack).await;
    assert_eq!(old.len(), 1);
    let seen = Arc::new(Seen::default());
    let stop = Arc::new(AtomicUsize::new(0));
    let customers: Vec<_> = (0..4)
        .map(|n| tokio::spawn(customer(stack.clone(), n, seen.clone(), stop.clone())))
        .collect();
    seen.loops_beyond(8).await;

    // First step: a next key, published beside the current one.
    let printed = stack.accounts(&["rotate-key"]);
    assert!(
        printed.contains("Published the next signing key"),
        "{printed}"
    );
    let staged = eventually(Duration::from_secs(10), || async {
        let set = key_set(&stack).await;
        (set.len() == 2).then_some(set)
    })
    .await;
    assert_eq!(staged[0], old[0], "the current key still signs");
    let next = staged[1].clone();
    seen.loops_beyond(8).await;
    assert_eq!(*seen.kids.lock().unwrap(), HashSet::from([old[0].clone()]));

    // Second step: tokens are signed with it, the old key still published.
    let printed = stack.accounts(&["rotate-key"]);
    assert!(
        printed.contains(&format!("now signed with {next}")),
        "{printed}"
    );
    eventually(Duration::from_secs(10), || async {
        seen.kids.lock().unwrap().contains(&next).then_some(())
    })
    .await;
    seen.loops_beyond(8).await;
    assert_eq!(key_set(&stack).await, [next.clone(), old[0].clone()]);

    stop.store(1, Ordering::SeqCst);
    for customer in customers {
        customer.await.unwrap();
    }
    let failures = seen.failures.lock().unwrap();
    assert!(
        failures.is_empty(),
        "{} failed: {failures:?}",
        failures.len()
    );
    assert_eq!(
        *seen.kids.lock().unwrap(),
        HashSet::from([old[0].clone(), next])
    );
}

/// A key set served by the test, counting its fetches.
async fn counted_key_set(set: Value) -> (String, Arc<AtomicUsize>) {
    let fetches = Arc::new(AtomicUsize::new(0));
    let counted = fetches.clone();
    let app = axum::Router::new().route(
        "/jwks.json",
        axum::routing::get(move || {
            counted.fetch_add(1, Ordering::SeqCst);
            let set = set.clone();
            async move { axum::Json(set) }
        }),
    );
    let (listener, url) = listener().await;
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("{url}/jwks.json"), fetches)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_made_up_key_ids_make_a_bounded_number_of_key_set_fetches() {
    let stack = Stack::start().await;
    let keys = shop_identity::keys::Keys::from_seed(&[3; 32]).unwrap();
    let ring = shop_identity::keys::KeyRing::new(keys.clone(), []);
    let (jwks_url, fetches) = counted_key_set(serde_json::to_value(ring.jwks()).unwrap()).await;
    let cart = stack
        .service_with(
            ServiceName::Cart,
            &[("AUTH", "on".to_owned()), ("AUTH_JWKS_URL", jwks_url)],
        )
        .await;
    let now = jsonwebtoken::get_current_timestamp();
    let token = |kid: String| {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
        header.kid = Some(kid);
        let claims = json!({
            "iss": "shop", "aud": "shop", "sub": "ada", "role": "customer",
            "email": "ada@example.com", "iat": now, "exp": now + 600,
        });
        jsonwebtoken::encode(&header, &claims, &keys.encoding).unwrap()
    };
    let get = |token: String| {
        let request = stack
            .http
            .get(format!("{cart}/cart/ada"))
            .bearer_auth(token);
        async move { request.send().await.unwrap().status() }
    };
    // The published key's tokens pass.
    assert_eq!(get(token(keys.kid.clone())).await, StatusCode::OK);
    let before = fetches.load(Ordering::SeqCst);
    assert_eq!(before, 1);

    let started = Instant::now();
    let statuses: Vec<StatusCode> = futures::stream::iter(0..1000)
        .map(|_| get(token(format!("made-up-{}", rand::random::<u64>()))))
        .buffer_unordered(250)
        .collect()
        .await;
    let elapsed = started.elapsed();
    assert!(statuses
        .iter()
        .all(|status| *status == StatusCode::UNAUTHORIZED));
    let made = fetches.load(Ordering::SeqCst) - before;
    // At most one fetch a second, and one more for the burst's stragglers.
    assert!(
        made <= elapsed.as_secs() as usize + 2,
        "{made} fetches in {elapsed:?}"
    );
    // Meanwhile and after, the published key's tokens still pass at once.
    assert_eq!(get(token(keys.kid.clone())).await, StatusCode::OK);

    // One made-up id sent again and again, one request after the other:
    // the fetch that found it absent answers the next ones too (without
    // that, each would wait for a fetch of its own, one a second).
    let before = fetches.load(Ordering::SeqCst);
    let made_up = format!("made-up-{}", rand::random::<u64>());
    for _ in 0..50 {
        assert_eq!(get(token(made_up.clone())).await, StatusCode::UNAUTHORIZED);
    }
    let made = fetches.load(Ordering::SeqCst) - before;
    assert!(made <= 2, "{made} fetches for one made-up id");
}
