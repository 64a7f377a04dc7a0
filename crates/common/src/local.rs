//! Calls between services that run in one process, without the network.
//!
//! `shop up` runs every service in one process, each on its own port; the
//! gateway and the services still address each other by URL. While a
//! service is served ([`crate::server::serve`]) its router is listed here
//! under the address its URL names, and a call to that address is handed
//! to the router directly: no HTTP encoding, no loopback TCP, no wake-up
//! of another connection's task. Everything the callee does with the
//! request is the same (its layers, its checks of the service token and
//! of access tokens, its request log line and metrics), and it sees the
//! caller's address as a connection would show it.
//!
//! A call that may change something (any method but `GET`, `HEAD`,
//! `OPTIONS` and `TRACE`) runs on a task of its own, as under a
//! connection: a caller that gives up (its own timeout, its client hung
//! up) does not cut the callee's work short midway, and a service that
//! stops waits for those calls as for its connections' requests. A read
//! runs on the caller's task: it leaves nothing to finish, and saves a
//! task and a wake-up per call (5–10 % of a product read). It leaves the list
//! before it drains, so calls then go over HTTP and find it gone.
//! Services in separate processes (`shop serve`, Kubernetes) call each
//! other over HTTP as always.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{LazyLock, RwLock};

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderValue, Request, Response, StatusCode, Uri};
use axum::Router;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

use crate::error::error_response;

/// The routers served in this process, by the `host:port` that reaches them.
static SERVED: LazyLock<RwLock<HashMap<String, Listed>>> = LazyLock::new(Default::default);

/// Tells one listing from the next at the same address.
static NEXT_ID: AtomicU64 = AtomicU64::new(0);

struct Listed {
    id: u64,
    router: Router,
    /// The address a call to it comes from over loopback: its own IP.
    peer: SocketAddr,
    /// The `Host` a call to it names: its `host:port`.
    host: HeaderValue,
    /// Its server's tasks, which it drains before it stops.
    tasks: TaskTracker,
}

/// The address a client reaches a listener bound to `bind` at: a
/// listener on every interface (`0.0.0.0`, `::`) is reached on 127.0.0.1.
pub fn reachable(bind: IpAddr) -> IpAddr {
    if bind.is_unspecified() {
        IpAddr::from([127, 0, 0, 1])
    } else {
        bind
    }
}

/// `router` listed under the address a listener on `addr` is reached at,
/// until the listing is dropped.
pub struct Listing {
    authority: String,
    id: u64,
}

/// Lists `router`, served on `addr`, for in-process calls, which run
/// among `tasks`.
pub fn list(addr: SocketAddr, router: Router, tasks: TaskTracker) -> Listing {
    let peer = SocketAddr::new(reachable(addr.ip()), 0);
    let authority = SocketAddr::new(peer.ip(), addr.port()).to_string();
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let listed = Listed {
        id,
        router,
        peer,
        host: HeaderValue::from_str(&authority).expect("an address is a valid Host"),
        tasks,
    };
    write().insert(authority.clone(), listed);
    Listing { authority, id }
}

impl Drop for Listing {
    fn drop(&mut self) {
        let mut served = write();
        // A later listing at the same address is not this one's to remove.
        if served.get(&self.authority).map(|listed| listed.id) == Some(self.id) {
            served.remove(&self.authority);
        }
    }
}

fn write() -> std::sync::RwLockWriteGuard<'static, HashMap<String, Listed>> {
    SERVED
        .write()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The service served in this process at `authority` (`host:port`), if any.
pub fn served_at(authority: &str) -> Option<Local> {
    let served = SERVED
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    served.get(authority).map(|listed| Local {
        router: listed.router.clone(),
        peer: listed.peer,
        host: listed.host.clone(),
        tasks: listed.tasks.clone(),
    })
}

/// The `host:port` of a base URL (`http://127.0.0.1:8001` gives
/// `127.0.0.1:8001`), the key of [`served_at`].
pub fn authority_of(base: &str) -> Option<String> {
    let uri = base.parse::<Uri>().ok()?;
    let authority = uri.authority()?;
    let port = authority.port_u16().unwrap_or(80);
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']');
    let ip = host.parse::<IpAddr>().ok()?;
    Some(SocketAddr::new(ip, port).to_string())
}

/// A service served in this process.
pub struct Local {
    router: Router,
    peer: SocketAddr,
    host: HeaderValue,
    tasks: TaskTracker,
}

impl Local {
    /// Sends `request` (its URI the path and query only) and returns the
    /// answer's head as soon as the callee gives it; the body follows as
    /// the callee produces it.
    pub async fn call(self, mut request: Request<Body>) -> Response<Body> {
        request
            .headers_mut()
            .insert(axum::http::header::HOST, self.host);
        // Nothing of the caller's own handling travels (its matched path
        // parameters, say), as nothing of it would over a connection.
        *request.extensions_mut() = axum::http::Extensions::new();
        request.extensions_mut().insert(ConnectInfo(self.peer));
        if request.method().is_safe() {
            // A read leaves nothing to finish when its caller gives up: it
            // runs on the caller's task, without a task of its own.
            let Ok(response) = self.router.oneshot(request).await;
            return response;
        }
        let answer = self.tasks.spawn(self.router.oneshot(request));
        match answer.await {
            Ok(Ok(response)) => response,
            Ok(Err(never)) => match never {},
            // The callee's task was cancelled (the runtime is shutting
            // down) or panicked past its panic layer.
            Err(_) => error_response(
                StatusCode::SERVICE_UNAVAILABLE,
                "service unavailable, try again",
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authority_of_urls() {
        assert_eq!(
            authority_of("http://127.0.0.1:8001").as_deref(),
            Some("127.0.0.1:8001")
        );
        assert_eq!(authority_of("http://[::1]:9/").as_deref(), Some("[::1]:9"));
        assert_eq!(
            authority_of("http://10.0.0.1").as_deref(),
            Some("10.0.0.1:80")
        );
        // Names are resolved by the network, never taken for this process.
        assert_eq!(authority_of("http://catalog-service:8001"), None);
        assert_eq!(authority_of("not a url"), None);
    }

    #[tokio::test]
    async fn a_listing_ends_with_its_guard_and_not_with_an_earlier_one() {
        let addr: SocketAddr = "0.0.0.0:47001".parse().unwrap();
        let first = list(addr, Router::new(), TaskTracker::new());
        assert!(served_at("127.0.0.1:47001").is_some());
        let second = list(addr, Router::new(), TaskTracker::new());
        drop(first);
        assert!(
            served_at("127.0.0.1:47001").is_some(),
            "the earlier listing removed the later one"
        );
        drop(second);
        assert!(served_at("127.0.0.1:47001").is_none());
    }

    /// Something of the caller's own handling of its request.
    #[derive(Clone)]
    struct CallersOwn;

    #[tokio::test]
    async fn the_callee_sees_a_loopback_peer_its_own_host_and_nothing_of_the_caller() {
        let router = Router::new().route(
            "/who",
            axum::routing::get(
                |ConnectInfo(peer): ConnectInfo<SocketAddr>,
                 headers: axum::http::HeaderMap,
                 leaked: Option<axum::Extension<CallersOwn>>| async move {
                    let host = headers.get("host").and_then(|h| h.to_str().ok());
                    format!("{} {} {}", peer.ip(), host.unwrap_or(""), leaked.is_some())
                },
            ),
        );
        let _listing = list("0.0.0.0:47002".parse().unwrap(), router, TaskTracker::new());
        let local = served_at("127.0.0.1:47002").expect("listed");
        let mut request = Request::get("/who").body(Body::empty()).unwrap();
        request.extensions_mut().insert(CallersOwn);
        let response = local.call(request).await;
        assert_eq!(response.status(), StatusCode::OK);
        let body = axum::body::to_bytes(response.into_body(), 1024)
            .await
            .unwrap();
        assert_eq!(&body[..], b"127.0.0.1 127.0.0.1:47002 false");
    }

    #[tokio::test]
    async fn a_caller_that_gives_up_does_not_cut_the_callee_short() {
        use std::sync::atomic::AtomicBool;
        use std::sync::Arc;
        use tokio::sync::Notify;

        let go = Arc::new(Notify::new());
        let done = Arc::new(AtomicBool::new(false));
        let (wait, finish) = (go.clone(), done.clone());
        let router = Router::new().route(
            "/slow",
            axum::routing::post(move || async move {
                wait.notified().await;
                finish.store(true, Ordering::SeqCst);
            }),
        );
        let _listing = list(
            "127.0.0.1:47003".parse().unwrap(),
            router,
            TaskTracker::new(),
        );
        let local = served_at("127.0.0.1:47003").expect("listed");
        let request = Request::post("/slow").body(Body::empty()).unwrap();
        let gave_up =
            tokio::time::timeout(std::time::Duration::from_millis(20), local.call(request)).await;
        assert!(gave_up.is_err(), "the callee answered before it was let go");
        go.notify_one();
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        while !done.load(Ordering::SeqCst) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the callee was dropped with its caller"
            );
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }

    /// A service that stops leaves the list at once, and waits for the
    /// calls under way before it is done, as for its connections.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_stopping_service_waits_for_the_calls_under_way() {
        use std::sync::Arc;
        use std::time::Duration;
        use tokio::sync::Notify;
        use tokio_util::sync::CancellationToken;

        let (entered, go) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
        let (enter, wait) = (entered.clone(), go.clone());
        let router = Router::new().route(
            "/slow",
            axum::routing::post(move || async move {
                enter.notify_one();
                wait.notified().await;
                "done"
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let authority = listener.local_addr().unwrap().to_string();
        let settings = crate::config::ServerSettings {
            header_read_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(5),
            body_read_timeout: Duration::from_secs(5),
            max_connections: 16,
        };
        let shutdown = CancellationToken::new();
        let mut serving = tokio::spawn(crate::server::serve(
            listener,
            router,
            settings,
            shutdown.clone(),
        ));
        let local = loop {
            if let Some(local) = served_at(&authority) {
                break local;
            }
            assert!(!serving.is_finished(), "the server ended");
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        let call = tokio::spawn(local.call(Request::post("/slow").body(Body::empty()).unwrap()));
        entered.notified().await;

        shutdown.cancel();
        let still_serving = tokio::time::timeout(Duration::from_millis(200), &mut serving).await;
        assert!(still_serving.is_err(), "stopped with a call under way");
        assert!(
            served_at(&authority).is_none(),
            "still listed while stopping"
        );

        go.notify_one();
        let response = call.await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let body = axum::body::to_bytes(response.into_body(), 64)
            .await
            .unwrap();
        assert_eq!(&body[..], b"done");
        serving.await.unwrap().unwrap();
    }
}
