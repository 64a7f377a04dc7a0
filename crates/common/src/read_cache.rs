//! Reads answered from memory until a write through this service may have
//! changed them (`READ_CACHE_MS`).
//!
//! A service keeps what it read under a key and answers it again without
//! the database. Exact for the service's own writes: every request that may
//! change something (any method but `GET`, `HEAD` and `OPTIONS`) passes
//! [`track_writes`], which runs it to its end on a task of its own, even
//! when its caller hangs up, and then forgets what it may have changed (its
//! [`Scope`]), unless it was refused with a 4xx ("bad input changes
//! nothing"). A value read from the database is kept only if no write of
//! its key's scope began or ended from before its read to its keeping
//! ([`ReadCache::ticket`]): a value read before a write committed is never
//! kept after it, so a read that starts after a write has answered never
//! sees what preceded it. Writes of other keys do not stop it.
//!
//! Changes made around the service (`shop seed` into a running shop,
//! another replica on the same PostgreSQL database) are seen once a kept
//! value expires, at most `READ_CACHE_MS` after it was read: 1 s by default
//! on SQLite, where a service is alone on its file, and in `shop up`, which
//! runs one of each service; 0 (nothing kept) by default on PostgreSQL
//! otherwise, whose replicas must see each other's writes at once. What is
//! kept is bounded by a weight ([`ReadCache::new`]); beyond it everything
//! is forgotten and keeping starts over.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::extract::rejection::RawPathParamsRejection;
use axum::extract::{RawPathParams, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::config::{ConfigError, Env};
use crate::db::DbSettings;
use crate::telemetry::within_request;
use crate::ApiError;

/// `READ_CACHE_MS`: how long a kept value may be answered; 1000 by default
/// on SQLite, 0 on PostgreSQL (see the module's documentation).
pub fn keep_for_from_env(env: &Env, db: &DbSettings) -> Result<Duration, ConfigError> {
    let default = if db.target.is_postgres() { 0 } else { 1000 };
    let ms: u64 = env.count("READ_CACHE_MS", default, 0..=3_600_000, "milliseconds")?;
    Ok(Duration::from_millis(ms))
}

/// What a write may have changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope<K> {
    /// Anything kept.
    All,
    /// What is kept under this key only.
    Only(K),
}

/// Values kept by key (cheap to clone: one shared store).
pub struct ReadCache<K, V> {
    inner: Option<Arc<Mutex<Inner<K, V>>>>,
    keep_for: Duration,
    weigh: fn(&V) -> usize,
    max_weight: usize,
}

impl<K, V> Clone for ReadCache<K, V> {
    fn clone(&self) -> Self {
        ReadCache {
            inner: self.inner.clone(),
            keep_for: self.keep_for,
            weigh: self.weigh,
            max_weight: self.max_weight,
        }
    }
}

impl<K, V> std::fmt::Debug for ReadCache<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadCache")
            .field("keep_for", &self.keep_for)
            .field("max_weight", &self.max_weight)
            .finish_non_exhaustive()
    }
}

struct Inner<K, V> {
    /// Moves on when a write begins and when it ends; a ticket is its
    /// reading when taken.
    clock: u64,
    /// Writes of everything.
    all: Changes,
    /// Writes of one key, while under way and for a while after.
    keys: HashMap<K, Changes>,
    /// Changes of keys no longer in `keys` happened at or before this.
    forgotten_at: u64,
    kept: HashMap<K, Kept<V>>,
    weight: usize,
}

/// Writes of one scope: how many are under way, and the clock when one
/// last began or ended.
#[derive(Debug, Default, Clone, Copy)]
struct Changes {
    writing: usize,
    at: u64,
}

/// Beyond this many keys with writes, those of ended writes are forgotten
/// (tickets older than that then keep nothing of them).
const MAX_TRACKED_KEYS: usize = 10_000;

impl<K: Eq + Hash, V> Inner<K, V> {
    /// The writes that may change `key`'s value: under way, and the latest
    /// clock at which one began or ended.
    fn changes_of(&self, key: &K) -> Changes {
        let own = self.keys.get(key).copied().unwrap_or(Changes {
            writing: 0,
            at: self.forgotten_at,
        });
        Changes {
            writing: own.writing + self.all.writing,
            at: own.at.max(self.all.at),
        }
    }
}

struct Kept<V> {
    value: V,
    until: Instant,
}

/// Taken before a read whose value may be kept ([`ReadCache::keep`]).
#[derive(Debug, Clone, Copy)]
pub struct Ticket(Option<u64>);

impl<K: Eq + Hash + Clone, V: Clone> ReadCache<K, V> {
    /// Keeps values for `keep_for` (nothing when zero), at most
    /// `max_weight` of them as `weigh` counts.
    pub fn new(keep_for: Duration, weigh: fn(&V) -> usize, max_weight: usize) -> Self {
        let inner = Inner {
            clock: 0,
            all: Changes::default(),
            keys: HashMap::new(),
            forgotten_at: 0,
            kept: HashMap::new(),
            weight: 0,
        };
        ReadCache {
            inner: (!keep_for.is_zero()).then(|| Arc::new(Mutex::new(inner))),
            keep_for,
            weigh,
            max_weight,
        }
    }

    fn lock(&self) -> Option<MutexGuard<'_, Inner<K, V>>> {
        // A panic while holding the lock leaves nothing half changed that
        // matters: at worst a value is forgotten.
        let inner = self.inner.as_ref()?;
        Some(
            inner
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        )
    }

    /// The value kept under `key`, while it is fresh.
    pub fn get(&self, key: &K) -> Option<V> {
        self.get_at(key, Instant::now())
    }

    fn get_at(&self, key: &K, now: Instant) -> Option<V> {
        let inner = self.lock()?;
        let kept = inner.kept.get(key)?;
        (kept.until > now).then(|| kept.value.clone())
    }

    /// Taken before reading `key`'s value to keep: while a write that may
    /// change it is under way, a ticket that keeps nothing.
    pub fn ticket(&self, key: &K) -> Ticket {
        Ticket(
            self.lock()
                .filter(|inner| inner.changes_of(key).writing == 0)
                .map(|inner| inner.clock),
        )
    }

    /// Keeps `value` under `key` if no write that may change it began or
    /// ended since `ticket`.
    pub fn keep(&self, ticket: Ticket, key: K, value: V) {
        let Ticket(Some(taken)) = ticket else {
            return;
        };
        let Some(mut inner) = self.lock() else {
            return;
        };
        let changes = inner.changes_of(&key);
        if changes.writing > 0 || changes.at > taken {
            return;
        }
        let weight = (self.weigh)(&value);
        if inner.weight + weight > self.max_weight {
            inner.kept.clear();
            inner.weight = 0;
        }
        inner.weight += weight;
        let until = Instant::now() + self.keep_for;
        if let Some(old) = inner.kept.insert(key, Kept { value, until }) {
            inner.weight -= (self.weigh)(&old.value);
        }
    }

    /// A write begins: until it ends, nothing it may change is kept.
    fn write_begins(&self, scope: Scope<K>) -> WriteUnderWay<K, V> {
        if let Some(mut inner) = self.lock() {
            inner.clock += 1;
            let at = inner.clock;
            let changes = match &scope {
                Scope::All => &mut inner.all,
                Scope::Only(key) => inner.keys.entry(key.clone()).or_default(),
            };
            changes.writing += 1;
            changes.at = at;
        }
        WriteUnderWay {
            cache: self.clone(),
            scope,
            changed: true,
        }
    }
}

/// A write under way; when it ends (or its task panics), what it may have
/// changed is forgotten, unless it changed nothing.
struct WriteUnderWay<K: Eq + Hash + Clone, V: Clone> {
    cache: ReadCache<K, V>,
    scope: Scope<K>,
    changed: bool,
}

impl<K: Eq + Hash + Clone, V: Clone> Drop for WriteUnderWay<K, V> {
    fn drop(&mut self) {
        let weigh = self.cache.weigh;
        let Some(mut inner) = self.cache.lock() else {
            return;
        };
        inner.clock += 1;
        let at = inner.clock;
        match &self.scope {
            Scope::All => {
                inner.all = Changes {
                    writing: inner.all.writing - 1,
                    at,
                };
                if self.changed {
                    inner.kept.clear();
                    inner.weight = 0;
                }
            }
            Scope::Only(key) => {
                if let Some(changes) = inner.keys.get_mut(key) {
                    changes.writing -= 1;
                    changes.at = at;
                }
                if self.changed {
                    if let Some(old) = inner.kept.remove(key) {
                        inner.weight -= weigh(&old.value);
                    }
                }
                if inner.keys.len() > MAX_TRACKED_KEYS {
                    inner.keys.retain(|_, changes| changes.writing > 0);
                    inner.forgotten_at = at;
                }
            }
        }
    }
}

/// What [`track_writes`] needs: the cache, and what a write may change.
pub struct Writes<K, V> {
    pub cache: ReadCache<K, V>,
    /// The scope of a write from its path parameters (`None` when they
    /// cannot be read).
    pub scope: fn(Option<&RawPathParams>) -> Scope<K>,
}

impl<K, V> Clone for Writes<K, V> {
    fn clone(&self) -> Self {
        Writes {
            cache: self.cache.clone(),
            scope: self.scope,
        }
    }
}

/// The layer (a `route_layer`, so that path parameters are known) that
/// tells the cache of writes: each runs to its end on a task of its own,
/// then what it may have changed is forgotten.
pub async fn track_writes<K, V>(
    State(writes): State<Writes<K, V>>,
    params: Result<RawPathParams, RawPathParamsRejection>,
    request: Request,
    next: Next,
) -> Response
where
    K: Eq + Hash + Clone + Send + 'static,
    V: Clone + Send + 'static,
{
    if matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    ) {
        return next.run(request).await;
    }
    let scope = (writes.scope)(params.as_ref().ok());
    let mut write = writes.cache.write_begins(scope);
    let done = tokio::spawn(within_request(async move {
        let response = next.run(request).await;
        // "Bad input gets a 4xx and changes nothing."
        write.changed = !response.status().is_client_error();
        drop(write);
        response
    }));
    match done.await {
        Ok(response) => response,
        Err(err) => ApiError::internal(format!("write task: {err}")).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache() -> ReadCache<i64, String> {
        ReadCache::new(Duration::from_secs(60), String::len, 100)
    }

    fn keep_now(cache: &ReadCache<i64, String>, key: i64, value: &str) {
        cache.keep(cache.ticket(&key), key, value.to_owned());
    }

    #[test]
    fn a_kept_value_is_answered_again() {
        let cache = cache();
        keep_now(&cache, 1, "laptop");
        assert_eq!(cache.get(&1).as_deref(), Some("laptop"));
        assert_eq!(cache.get(&2), None);
    }

    #[test]
    fn a_write_forgets_its_scope_and_what_was_read_before_it_is_not_kept() {
        let cache = cache();
        keep_now(&cache, 1, "old");
        keep_now(&cache, 2, "other");
        // Read before the write began, kept while it is under way.
        let early = cache.ticket(&1);
        let write = cache.write_begins(Scope::Only(1));
        assert!(cache.get(&1).is_some(), "not yet changed");
        cache.keep(early, 1, "old".to_owned());
        // Read while it is under way, kept after it.
        let during = cache.ticket(&1);
        drop(write);
        assert_eq!(cache.get(&1), None);
        assert_eq!(cache.get(&2).as_deref(), Some("other"), "out of scope");
        cache.keep(early, 1, "old".to_owned());
        cache.keep(during, 1, "old".to_owned());
        assert_eq!(cache.get(&1), None);
        // Read after it: kept.
        keep_now(&cache, 1, "new");
        assert_eq!(cache.get(&1).as_deref(), Some("new"));

        let early = cache.ticket(&3);
        drop(cache.write_begins(Scope::All));
        assert_eq!(cache.get(&1), None);
        assert_eq!(cache.get(&2), None);
        cache.keep(early, 3, "old".to_owned());
        assert_eq!(cache.get(&3), None, "read before a write of everything");
    }

    #[test]
    fn writes_of_other_keys_do_not_stop_keeping() {
        let cache = cache();
        let ticket = cache.ticket(&1);
        let other = cache.write_begins(Scope::Only(2));
        assert!(cache.ticket(&2).0.is_none(), "its own key waits");
        let during = cache.ticket(&1);
        drop(other);
        cache.keep(ticket, 1, "a".to_owned());
        assert_eq!(cache.get(&1).as_deref(), Some("a"));
        cache.keep(during, 1, "b".to_owned());
        assert_eq!(cache.get(&1).as_deref(), Some("b"));
    }

    #[test]
    fn a_ticket_older_than_forgotten_writes_keeps_nothing() {
        let cache = cache();
        let early = cache.ticket(&0);
        drop(cache.write_begins(Scope::Only(0)));
        for key in 1..=MAX_TRACKED_KEYS as i64 {
            drop(cache.write_begins(Scope::Only(key)));
        }
        assert!(cache.lock().unwrap().keys.len() <= MAX_TRACKED_KEYS);
        cache.keep(early, 0, "old".to_owned());
        assert_eq!(cache.get(&0), None);
        keep_now(&cache, 0, "new");
        assert_eq!(cache.get(&0).as_deref(), Some("new"));
    }

    #[test]
    fn a_write_that_changed_nothing_forgets_nothing() {
        let cache = cache();
        keep_now(&cache, 1, "a");
        let mut refused = cache.write_begins(Scope::All);
        let during = cache.ticket(&2);
        refused.changed = false;
        drop(refused);
        assert!(cache.get(&1).is_some());
        cache.keep(during, 2, "b".to_owned());
        assert_eq!(cache.get(&2), None, "read during a write");
    }

    #[test]
    fn values_are_kept_no_longer_than_the_setting() {
        let cache = ReadCache::new(Duration::from_millis(100), String::len, 100);
        keep_now(&cache, 1, "a");
        let later = Instant::now() + Duration::from_millis(100);
        assert_eq!(cache.get_at(&1, later), None);

        let off: ReadCache<i64, String> = ReadCache::new(Duration::ZERO, String::len, 100);
        keep_now(&off, 1, "a");
        assert_eq!(off.get(&1), None);
    }

    #[test]
    fn what_is_kept_stays_within_its_weight() {
        let cache = cache();
        for id in 0..7 {
            keep_now(&cache, id, &"x".repeat(34));
            assert!(cache.lock().unwrap().weight <= 100);
        }
        assert!(cache.get(&6).is_some());
        assert_eq!(cache.get(&0), None);
        // Keeping a key again counts its weight once.
        keep_now(&cache, 6, &"x".repeat(34));
        keep_now(&cache, 6, &"x".repeat(34));
        assert!(cache.lock().unwrap().weight <= 68);
    }
}
