//! Product reads answered from memory until the catalog changes.
//!
//! Browsing and product pages are most of a shop's traffic and change
//! seldom, so the catalog keeps its answers to `GET /products/{id}` and to
//! `GET /products` without a search (by their query, which also shapes
//! their `Link` header), and answers them again without the database.
//!
//! Exact for this process's own writes. Every request that may change the
//! catalog (any method but `GET`, `HEAD` and `OPTIONS`: product writes,
//! reservations and their release) passes [`track_writes`]: it runs to its
//! end on a task of its own, even when its caller hangs up, and when it
//! ends every kept answer is forgotten (unless it was refused with a 4xx,
//! which changes nothing). An answer read from the database is kept only
//! if no write was under way at any moment from before its read to its
//! keeping ([`ReadCache::ticket`]): so an answer read before a write
//! committed is never kept after it, and a read that starts after a write
//! answered never sees what preceded it.
//!
//! Changes made by anything else (`shop seed` into a running shop, another
//! replica on the same PostgreSQL database) are seen after at most
//! `CATALOG_CACHE_MS`, the longest an answer is kept: 1 s by default on
//! SQLite, where the catalog is the only service of its file, and in
//! `shop up`, which runs one catalog; off (0) by default for a catalog on
//! PostgreSQL otherwise, whose replicas must see each other's writes at
//! once. Memory is bounded by [`MAX_BYTES`] of kept answers.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use shop_common::ApiError;

/// At most this many bytes of bodies are kept; beyond, all is forgotten
/// and keeping starts over.
pub const MAX_BYTES: usize = 64 << 20;

/// What an answer is kept under.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Key {
    /// `GET /products/{id}`.
    Product(i64),
    /// `GET /products?{query}`, no search.
    Page(Option<String>),
}

/// The catalog's kept answers (cheap to clone: one shared store).
#[derive(Debug, Clone)]
pub struct ReadCache {
    inner: Option<Arc<Mutex<Inner>>>,
    keep_for: Duration,
}

#[derive(Debug, Default)]
struct Inner {
    /// Moves on when a write begins and when it ends: an answer read under
    /// one generation is kept only while it lasts.
    generation: u64,
    /// Writes under way.
    writing: usize,
    answers: HashMap<Key, Kept>,
    bytes: usize,
}

#[derive(Debug)]
struct Kept {
    headers: HeaderMap,
    body: Bytes,
    until: Instant,
}

/// Proof that no write ended since it was taken (see [`ReadCache::keep`]).
#[derive(Debug, Clone, Copy)]
pub struct Ticket(Option<u64>);

impl ReadCache {
    /// Keeps answers for `keep_for`; nothing when it is zero.
    pub fn new(keep_for: Duration) -> ReadCache {
        ReadCache {
            inner: (!keep_for.is_zero()).then(Default::default),
            keep_for,
        }
    }

    fn lock(&self) -> Option<MutexGuard<'_, Inner>> {
        // A panic while holding the lock cannot leave `Inner` half changed
        // in a way that matters: at worst an answer is forgotten.
        let inner = self.inner.as_ref()?;
        Some(
            inner
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        )
    }

    /// The answer kept under `key`, if it is still fresh.
    pub fn get(&self, key: &Key) -> Option<Response> {
        self.get_at(key, Instant::now())
    }

    fn get_at(&self, key: &Key, now: Instant) -> Option<Response> {
        let inner = self.lock()?;
        let kept = inner.answers.get(key)?;
        if kept.until <= now {
            return None;
        }
        let mut response = Response::new(Body::from(kept.body.clone()));
        *response.headers_mut() = kept.headers.clone();
        Some(response)
    }

    /// Taken before reading what [`ReadCache::keep`] may keep: `None` when
    /// a write is under way (then nothing read now is kept).
    pub fn ticket(&self) -> Ticket {
        Ticket(
            self.lock()
                .filter(|inner| inner.writing == 0)
                .map(|inner| inner.generation),
        )
    }

    /// Keeps a 200 `response` under `key` if no write was under way or ended
    /// since `ticket`; gives the response back either way.
    pub async fn keep(&self, ticket: Ticket, key: Key, response: Response) -> Response {
        let Ticket(Some(generation)) = ticket else {
            return response;
        };
        if response.status() != StatusCode::OK {
            return response;
        }
        let (parts, body) = response.into_parts();
        // The handlers' bodies are whole already: this only takes them out.
        let body = match axum::body::to_bytes(body, usize::MAX).await {
            Ok(body) => body,
            Err(err) => {
                return ApiError::internal(format!("answer body: {err}")).into_response();
            }
        };
        if let Some(mut inner) = self.lock() {
            if inner.generation == generation {
                if inner.bytes + body.len() > MAX_BYTES {
                    inner.answers.clear();
                    inner.bytes = 0;
                }
                inner.bytes += body.len();
                let kept = Kept {
                    headers: parts.headers.clone(),
                    body: body.clone(),
                    until: Instant::now() + self.keep_for,
                };
                if let Some(old) = inner.answers.insert(key, kept) {
                    inner.bytes -= old.body.len();
                }
            }
        }
        Response::from_parts(parts, Body::from(body))
    }

    /// A write begins: until it ends, nothing read is kept.
    fn write_begins(&self) -> WriteUnderWay {
        if let Some(mut inner) = self.lock() {
            inner.writing += 1;
            inner.generation += 1;
        }
        WriteUnderWay {
            cache: self.clone(),
            changed: true,
        }
    }
}

/// A write under way; when it ends (or its task panics), the kept answers
/// are forgotten unless it changed nothing.
struct WriteUnderWay {
    cache: ReadCache,
    changed: bool,
}

impl Drop for WriteUnderWay {
    fn drop(&mut self) {
        if let Some(mut inner) = self.cache.lock() {
            inner.writing -= 1;
            inner.generation += 1;
            if self.changed {
                inner.answers.clear();
                inner.bytes = 0;
            }
        }
    }
}

/// The layer around the catalog's routes that tells the cache of writes:
/// each runs to its end on a task of its own, then the cache forgets.
pub async fn track_writes(
    State(cache): State<ReadCache>,
    request: Request,
    next: Next,
) -> Response {
    if matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    ) {
        return next.run(request).await;
    }
    let mut write = cache.write_begins();
    let done = tokio::spawn(async move {
        let response = next.run(request).await;
        // "Bad input gets a 4xx and changes nothing."
        write.changed = !response.status().is_client_error();
        drop(write);
        response
    });
    match done.await {
        Ok(response) => response,
        Err(err) => ApiError::internal(format!("catalog write: {err}")).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(text: &str) -> Response {
        Response::new(Body::from(text.to_owned()))
    }

    async fn text(response: Response) -> String {
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    fn cache() -> ReadCache {
        ReadCache::new(Duration::from_secs(60))
    }

    #[tokio::test]
    async fn a_kept_answer_is_answered_again_with_its_headers() {
        let cache = cache();
        let mut response = answer("laptop");
        response
            .headers_mut()
            .insert("link", "<?after=x>".parse().unwrap());
        let given = cache.keep(cache.ticket(), Key::Product(1), response).await;
        assert_eq!(text(given).await, "laptop");
        let hit = cache.get(&Key::Product(1)).expect("kept");
        assert_eq!(hit.headers()["link"], "<?after=x>");
        assert_eq!(text(hit).await, "laptop");
        assert!(cache.get(&Key::Product(2)).is_none());
        assert!(cache.get(&Key::Page(None)).is_none());
    }

    #[tokio::test]
    async fn only_successful_answers_are_kept() {
        let cache = cache();
        let mut missing = answer("{}");
        *missing.status_mut() = StatusCode::NOT_FOUND;
        cache.keep(cache.ticket(), Key::Product(1), missing).await;
        assert!(cache.get(&Key::Product(1)).is_none());
    }

    #[tokio::test]
    async fn a_write_forgets_everything_and_what_was_read_before_it_is_not_kept() {
        let cache = cache();
        cache
            .keep(cache.ticket(), Key::Product(1), answer("old"))
            .await;
        // Read before the write began, kept while it is under way.
        let early = cache.ticket();
        let write = cache.write_begins();
        assert!(cache.get(&Key::Product(1)).is_some(), "not yet changed");
        cache.keep(early, Key::Page(None), answer("old")).await;
        // Read while it is under way, kept after it.
        let during = cache.ticket();
        drop(write);
        assert!(cache.get(&Key::Product(1)).is_none());
        cache.keep(early, Key::Page(None), answer("old")).await;
        cache.keep(during, Key::Page(None), answer("old")).await;
        assert!(cache.get(&Key::Page(None)).is_none());
        // Read after it: kept.
        cache
            .keep(cache.ticket(), Key::Page(None), answer("new"))
            .await;
        assert_eq!(text(cache.get(&Key::Page(None)).unwrap()).await, "new");
    }

    #[tokio::test]
    async fn a_write_that_changed_nothing_forgets_nothing() {
        let cache = cache();
        cache
            .keep(cache.ticket(), Key::Product(1), answer("a"))
            .await;
        let mut refused = cache.write_begins();
        let during = cache.ticket();
        refused.changed = false;
        drop(refused);
        assert!(cache.get(&Key::Product(1)).is_some());
        cache.keep(during, Key::Product(2), answer("b")).await;
        assert!(cache.get(&Key::Product(2)).is_none(), "read during a write");
    }

    #[tokio::test]
    async fn answers_are_kept_no_longer_than_the_setting() {
        let cache = ReadCache::new(Duration::from_millis(100));
        cache
            .keep(cache.ticket(), Key::Product(1), answer("a"))
            .await;
        let later = Instant::now() + Duration::from_millis(100);
        assert!(cache.get_at(&Key::Product(1), later).is_none());

        let off = ReadCache::new(Duration::ZERO);
        off.keep(off.ticket(), Key::Product(1), answer("a")).await;
        assert!(off.get(&Key::Product(1)).is_none());
    }

    #[tokio::test]
    async fn kept_bodies_stay_within_the_bound() {
        let cache = cache();
        let big = "x".repeat(MAX_BYTES / 3 + 1);
        for id in 0..7 {
            cache
                .keep(cache.ticket(), Key::Product(id), answer(&big))
                .await;
            assert!(cache.lock().unwrap().bytes <= MAX_BYTES);
        }
        assert!(cache.get(&Key::Product(6)).is_some());
        assert!(cache.get(&Key::Product(0)).is_none());
    }
}
