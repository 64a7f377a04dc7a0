//! How a router is served to clients that may be slow, idle or hostile.
//!
//! [`serve`] runs HTTP/1.1 (hyper) on a bound listener with the limits of
//! [`ServerSettings`]:
//!
//! - at most `max_connections` open connections per listener: one more is
//!   answered `503` with the JSON envelope and closed at once, so a flood
//!   on one port never holds the file descriptors the other ports need;
//! - a request's line and headers must arrive within `header_read_timeout`
//!   of their first byte; a new connection waits as long for that byte, a
//!   kept-alive one `idle_timeout`. Past either the connection is closed
//!   (slowloris, idle floods);
//! - a request body must have arrived `body_read_timeout` after its
//!   headers: reading it then fails with [`BodyTimedOut`], which the
//!   extractors answer `408`.
//!
//! On shutdown it stops accepting, lets in-flight requests finish for at
//! most [`DRAIN_TIMEOUT`], and returns. It never reads the environment.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::ConnectInfo;
use axum::http::{header, HeaderValue};
use axum::Router;
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

use crate::config::ServerSettings;

/// How long in-flight requests may take to finish after shutdown starts.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// The largest request line plus headers hyper buffers (it answers a
/// larger head `431`).
pub const MAX_HEAD_BYTES: usize = 64 * 1024;

/// Connections over the cap being answered `503` at one time; beyond
/// that they are closed without an answer.
const REFUSALS_IN_FLIGHT: usize = 64;

/// How long a refused connection may take to receive its `503`.
const REFUSAL_TIMEOUT: Duration = Duration::from_secs(1);

const BUSY_BODY: &str = r#"{"detail":"Too many connections, try again"}"#;

/// Serves `router` on `listener` until `shutdown` is cancelled, then lets
/// in-flight requests finish, for at most [`DRAIN_TIMEOUT`] (a client that
/// never hangs up cannot hold the process).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    settings: ServerSettings,
    shutdown: CancellationToken,
) -> io::Result<()> {
    let connections = Arc::new(Semaphore::new(settings.max_connections));
    let refusals = Arc::new(Semaphore::new(REFUSALS_IN_FLIGHT));
    let tasks = TaskTracker::new();
    // Services of this process call this one without the network while
    // it accepts connections.
    let listing = listener
        .local_addr()
        .ok()
        .map(|addr| crate::local::list(addr, router.clone(), tasks.clone()));
    loop {
        let (stream, remote) = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of file descriptors (EMFILE) or a connection reset
                    // before it was accepted: the listener itself is fine.
                    tracing::warn!(error = %err, "cannot accept a connection");
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = tokio::time::sleep(Duration::from_millis(50)) => continue,
                    }
                }
            },
        };
        let Ok(permit) = connections.clone().try_acquire_owned() else {
            refuse(stream, &refusals, &tasks);
            continue;
        };
        let _ = stream.set_nodelay(true);
        tasks.spawn(serve_connection(
            stream,
            remote,
            router.clone(),
            settings,
            shutdown.clone(),
            permit,
        ));
    }
    drop(listing);
    drop(listener);
    tasks.close();
    if tokio::time::timeout(DRAIN_TIMEOUT, tasks.wait())
        .await
        .is_err()
    {
        tracing::warn!("connections still open after the drain timeout; closing them");
    }
    Ok(())
}

/// Serves one connection until it ends; on shutdown, finishes the request
/// in flight and closes.
async fn serve_connection(
    stream: TcpStream,
    remote: SocketAddr,
    router: Router,
    settings: ServerSettings,
    shutdown: CancellationToken,
    _permit: OwnedSemaphorePermit,
) {
    let reads = Arc::new(AtomicU64::new(0));
    let io = TokioIo::new(Watched {
        stream,
        reads: reads.clone(),
    });
    let body_timeout = settings.body_read_timeout;
    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        let deadline = tokio::time::Instant::now() + body_timeout;
        let (mut parts, body) = request.into_parts();
        let body = DeadlineBody::new(body, deadline);
        let read = body.read.clone();
        parts.extensions.insert(ConnectInfo(remote));
        let request = hyper::Request::from_parts(parts, Body::new(body));
        let answer = router.clone().oneshot(request);
        async move {
            let mut response = answer.await?;
            // A body left unread (a 413 on its announced length, an error
            // before it was parsed) makes hyper close the connection
            // after this response; saying so keeps the client from
            // sending its next request on a connection being closed.
            if !read.load(Ordering::Acquire) {
                response
                    .headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            Ok::<_, std::convert::Infallible>(response)
        }
    });
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(HeadTimer {
            reads,
            waits: Arc::new(AtomicU64::new(0)),
            header: settings.header_read_timeout,
            idle: settings.idle_timeout,
        })
        .header_read_timeout(settings.header_read_timeout)
        .max_buf_size(MAX_HEAD_BYTES)
        .keep_alive(true)
        .serve_connection(io, service);
    let mut connection = std::pin::pin!(connection);
    let result = tokio::select! {
        result = connection.as_mut() => result,
        _ = shutdown.cancelled() => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(err) = result {
        // Timeouts, malformed requests, clients that hung up.
        tracing::debug!(error = %err, %remote, "connection ended");
    }
}

/// Answers a connection over the cap `503` and closes it, without letting
/// refusals themselves pile up.
fn refuse(mut stream: TcpStream, refusals: &Arc<Semaphore>, tasks: &TaskTracker) {
    let Ok(permit) = refusals.clone().try_acquire_owned() else {
        return;
    };
    tracing::debug!("connection refused: too many connections");
    tasks.spawn(async move {
        let _permit = permit;
        let answer = format!(
            "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
             content-length: {}\r\nretry-after: 1\r\nconnection: close\r\n\r\n{BUSY_BODY}",
            BUSY_BODY.len()
        );
        let _ = tokio::time::timeout(REFUSAL_TIMEOUT, async {
            stream.write_all(answer.as_bytes()).await?;
            stream.shutdown().await?;
            // Read what the client sent until it hangs up: closing with
            // unread data would reset the connection and lose the answer.
            let mut sink = [0u8; 4096];
            while stream.read(&mut sink).await? > 0 {}
            Ok::<_, io::Error>(())
        })
        .await;
    });
}

/// A client connection that counts the reads that brought bytes, so the
/// [`HeadTimer`] knows when a request has started to arrive.
struct Watched {
    stream: TcpStream,
    reads: Arc<AtomicU64>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.stream).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.reads.fetch_add(1, Ordering::Relaxed);
        }
        result
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// The timer of hyper's header read timeout, one per connection.
///
/// hyper starts that timer as soon as it waits for a request, so alone it
/// would close a kept-alive connection after the header timeout too. This
/// one gives the wait before the first byte of a request `idle` (after the
/// first request; `header` for a new connection) and the head from its
/// first byte `header`.
#[derive(Clone)]
struct HeadTimer {
    reads: Arc<AtomicU64>,
    /// How many requests the connection has waited for.
    waits: Arc<AtomicU64>,
    header: Duration,
    idle: Duration,
}

impl hyper::rt::Timer for HeadTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(TokioSleep(Box::pin(tokio::time::sleep(duration))))
    }

    fn sleep_until(&self, _deadline: Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        // hyper uses this timer for the header read timeout only.
        let first = self.waits.fetch_add(1, Ordering::Relaxed) == 0;
        let now = tokio::time::Instant::now();
        let wait = if first { self.header } else { self.idle };
        Box::pin(HeadDeadline {
            header: self.header,
            reads: self.reads.clone(),
            reads_at_start: self.reads.load(Ordering::Relaxed),
            first_byte_seen: false,
            sleep: Box::pin(tokio::time::sleep_until(now + wait)),
        })
    }
}

struct TokioSleep(Pin<Box<tokio::time::Sleep>>);

impl Future for TokioSleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.0.as_mut().poll(cx)
    }
}

impl hyper::rt::Sleep for TokioSleep {}

/// Fires `wait` after it started while no byte came, or `header` after the
/// first byte. hyper polls it each time a read leaves the head incomplete,
/// so it sees the first byte when it comes.
struct HeadDeadline {
    header: Duration,
    reads: Arc<AtomicU64>,
    reads_at_start: u64,
    first_byte_seen: bool,
    sleep: Pin<Box<tokio::time::Sleep>>,
}

impl Future for HeadDeadline {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if !self.first_byte_seen && self.reads.load(Ordering::Relaxed) != self.reads_at_start {
            self.first_byte_seen = true;
            let deadline = tokio::time::Instant::now() + self.header;
            self.sleep.as_mut().reset(deadline);
        }
        self.sleep.as_mut().poll(cx)
    }
}

impl hyper::rt::Sleep for HeadDeadline {}

/// Reading a request body took longer than the body read timeout.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the request body did not arrive in time")]
pub struct BodyTimedOut;

/// A request body that fails with [`BodyTimedOut`] once its deadline has
/// passed, however the bytes trickle in.
pub struct DeadlineBody<B> {
    inner: B,
    deadline: tokio::time::Instant,
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
    /// Set once the body has been read to its end (at once for an empty
    /// one).
    pub read: Arc<AtomicBool>,
}

impl<B: HttpBody> DeadlineBody<B> {
    pub fn new(inner: B, deadline: tokio::time::Instant) -> DeadlineBody<B> {
        let read = Arc::new(AtomicBool::new(inner.is_end_stream()));
        DeadlineBody {
            inner,
            deadline,
            sleep: None,
            read,
        }
    }
}

impl<B> HttpBody for DeadlineBody<B>
where
    B: HttpBody<Data = Bytes> + Unpin,
    B::Error: Into<axum::BoxError>,
{
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if let Poll::Ready(frame) = Pin::new(&mut self.inner).poll_frame(cx) {
            if frame.as_ref().is_none_or(Result::is_ok) && self.inner.is_end_stream() {
                self.read.store(true, Ordering::Release);
            }
            return Poll::Ready(frame.map(|result| result.map_err(Into::into)));
        }
        // Only a body that makes the handler wait needs a timer.
        let deadline = self.deadline;
        let sleep = self
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        match sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(BodyTimedOut)))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
