//! Long-lived responses (server-sent events): how many may be open at once,
//! in all and per client address, and how long each may last.
//!
//! A stream holds a connection for as long as it lasts, so without a bound
//! one client could hold every connection a process has. The order service
//! and the gateway each admit a stream through a [`StreamLimiter`] before
//! they start it; a stream over a cap is answered `503` with `Retry-After`
//! and `Connection: close` (the refused client's connection is not kept
//! either). A stream ends after [`StreamSettings::max_lifetime`]; its client
//! reconnects with `Last-Event-ID` and misses nothing.
//!
//! The client address is the peer's, or, when the peer is one of the
//! [`TrustedProxies`] (the gateway in front of a service), the address the
//! proxy put in `X-Forwarded-For`.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use ipnet::IpNet;

use crate::config::{ConfigError, Env};
use crate::error::try_again_later;

/// The header a proxy appends the client's address to.
pub const FORWARDED_FOR: &str = "x-forwarded-for";

/// How many streams, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamSettings {
    /// `EVENT_STREAMS_MAX`, default 512: open streams in this process.
    pub max: usize,
    /// `EVENT_STREAMS_PER_CLIENT`, default 8: open streams of one client
    /// address.
    pub per_client: usize,
    /// `EVENT_STREAM_MAX_LIFETIME_MS`, default 300000 (5 minutes): a stream
    /// is ended this long after it started.
    pub max_lifetime: Duration,
}

impl StreamSettings {
    pub fn from_env(env: &Env) -> Result<StreamSettings, ConfigError> {
        Ok(StreamSettings {
            max: env.count("EVENT_STREAMS_MAX", 512, 1..=1_000_000, "streams")?,
            per_client: env.count("EVENT_STREAMS_PER_CLIENT", 8, 1..=1_000_000, "streams")?,
            max_lifetime: env.millis("EVENT_STREAM_MAX_LIFETIME_MS", 300_000)?,
        })
    }
}

impl Default for StreamSettings {
    fn default() -> Self {
        StreamSettings {
            max: 512,
            per_client: 8,
            max_lifetime: Duration::from_secs(300),
        }
    }
}

/// What a process that serves streams checks before it starts one: the
/// caps, and whom it believes about client addresses.
#[derive(Debug, Clone)]
pub struct StreamGate {
    pub limiter: StreamLimiter,
    pub trusted: TrustedProxies,
}

impl StreamGate {
    pub fn new(settings: StreamSettings, trusted: TrustedProxies) -> StreamGate {
        StreamGate {
            limiter: StreamLimiter::new(settings),
            trusted,
        }
    }

    /// Admits a stream of the client of a request from `peer`.
    pub fn admit(
        &self,
        peer: SocketAddr,
        headers: &HeaderMap,
    ) -> Result<StreamPermit, StreamsBusy> {
        let client = self.trusted.client(peer, headers);
        self.limiter.admit(client).inspect_err(|busy| {
            tracing::info!(%client, reason = %busy, "event stream refused");
        })
    }
}

/// Counts open streams and admits new ones within the caps.
#[derive(Debug, Clone)]
pub struct StreamLimiter {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    settings: StreamSettings,
    open: Mutex<Open>,
}

#[derive(Debug, Default)]
struct Open {
    total: usize,
    by_client: HashMap<IpAddr, usize>,
}

/// A stream over a cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StreamsBusy {
    #[error("Too many event streams are open, try again later")]
    Total,
    #[error("Too many event streams are open from this address, close one first")]
    Client,
}

/// How long a refused client should wait before it tries again.
const RETRY_AFTER_SECS: u64 = 5;

impl IntoResponse for StreamsBusy {
    fn into_response(self) -> Response {
        let mut response = try_again_later(self.to_string(), RETRY_AFTER_SECS);
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        response
    }
}

/// One admitted stream; dropping it (when the stream ends) frees its place.
#[derive(Debug)]
pub struct StreamPermit {
    inner: Arc<Inner>,
    client: IpAddr,
}

impl StreamLimiter {
    pub fn new(settings: StreamSettings) -> StreamLimiter {
        StreamLimiter {
            inner: Arc::new(Inner {
                settings,
                open: Mutex::new(Open::default()),
            }),
        }
    }

    pub fn settings(&self) -> StreamSettings {
        self.inner.settings
    }

    /// A place for one more stream of `client`, or why there is none.
    pub fn admit(&self, client: IpAddr) -> Result<StreamPermit, StreamsBusy> {
        let settings = self.inner.settings;
        let mut open = self.inner.open.lock().unwrap_or_else(|e| e.into_inner());
        if open.total >= settings.max {
            return Err(StreamsBusy::Total);
        }
        let of_client = open.by_client.entry(client).or_default();
        if *of_client >= settings.per_client {
            return Err(StreamsBusy::Client);
        }
        *of_client += 1;
        open.total += 1;
        Ok(StreamPermit {
            inner: self.inner.clone(),
            client,
        })
    }

    /// How many streams are open.
    pub fn open(&self) -> usize {
        self.inner
            .open
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .total
    }
}

impl Drop for StreamPermit {
    fn drop(&mut self) {
        let mut open = self.inner.open.lock().unwrap_or_else(|e| e.into_inner());
        open.total = open.total.saturating_sub(1);
        if let Some(count) = open.by_client.get_mut(&self.client) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.by_client.remove(&self.client);
            }
        }
    }
}

/// The proxies whose `X-Forwarded-For` is believed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TrustedProxies {
    networks: Vec<IpNet>,
}

/// What a service trusts unless told otherwise: loopback and the private
/// networks, where the gateway runs in front of it (Compose, Kubernetes,
/// `shop up`).
pub const PRIVATE_NETWORKS: &str =
    "127.0.0.0/8,::1/128,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,fc00::/7";

impl TrustedProxies {
    /// `TRUSTED_PROXIES`: comma-separated addresses or networks
    /// (`10.0.0.0/8`), `none` for none; `default` when unset.
    pub fn from_env(env: &Env, default: &str) -> Result<TrustedProxies, ConfigError> {
        let raw = env.string("TRUSTED_PROXIES", default);
        TrustedProxies::parse(&raw).ok_or_else(|| {
            env.error(
                "TRUSTED_PROXIES",
                "comma-separated addresses or networks such as 10.0.0.0/8, or none",
            )
        })
    }

    /// Parses a comma-separated list of addresses and networks (or `none`).
    pub fn parse(raw: &str) -> Option<TrustedProxies> {
        let raw = raw.trim();
        if raw.is_empty() || raw.eq_ignore_ascii_case("none") {
            return Some(TrustedProxies::default());
        }
        let networks = raw
            .split(',')
            .map(|part| {
                let part = part.trim();
                part.parse::<IpNet>()
                    .ok()
                    .or_else(|| part.parse::<IpAddr>().ok().map(IpNet::from))
            })
            .collect::<Option<Vec<IpNet>>>()?;
        Some(TrustedProxies { networks })
    }

    fn trusts(&self, address: IpAddr) -> bool {
        let address = canonical(address);
        self.networks.iter().any(|net| net.contains(&address))
    }

    /// Whether the connection's peer is a trusted proxy (whose
    /// `X-Forwarded-*` headers may be believed).
    pub fn trusts_peer(&self, peer: SocketAddr) -> bool {
        self.trusts(peer.ip())
    }

    /// The client of a request from `peer`: walking `X-Forwarded-For` from
    /// the right while the hop that added an entry is trusted, the first
    /// address not vouched for by a trusted proxy.
    pub fn client(&self, peer: SocketAddr, headers: &HeaderMap) -> IpAddr {
        let mut client = canonical(peer.ip());
        if !self.trusts(client) {
            return client;
        }
        let forwarded = headers
            .get_all(FORWARDED_FOR)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .collect::<Vec<&str>>();
        for entry in forwarded.iter().rev() {
            let Ok(address) = entry.trim().parse::<IpAddr>() else {
                // Garbage from an untrusted hop: stop at the last good one.
                break;
            };
            client = canonical(address);
            if !self.trusts(client) {
                break;
            }
        }
        client
    }
}

/// An IPv4 address in an IPv6 socket counted as the IPv4 address.
fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn caps_in_all_and_per_client_and_frees_on_drop() {
        let limiter = StreamLimiter::new(StreamSettings {
            max: 3,
            per_client: 2,
            max_lifetime: Duration::from_secs(1),
        });
        let a1 = limiter.admit(ip("10.0.0.1")).unwrap();
        let _a2 = limiter.admit(ip("10.0.0.1")).unwrap();
        assert_eq!(
            limiter.admit(ip("10.0.0.1")).unwrap_err(),
            StreamsBusy::Client
        );
        let _b1 = limiter.admit(ip("10.0.0.2")).unwrap();
        assert_eq!(
            limiter.admit(ip("10.0.0.3")).unwrap_err(),
            StreamsBusy::Total
        );
        assert_eq!(limiter.open(), 3);
        drop(a1);
        assert_eq!(limiter.open(), 2);
        limiter.admit(ip("10.0.0.1")).unwrap();
    }

    #[test]
    fn refusals_say_when_to_retry_and_close_the_connection() {
        let response = StreamsBusy::Total.into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], "5");
        assert_eq!(response.headers()[header::CONNECTION], "close");
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let trusted = TrustedProxies::parse(PRIVATE_NETWORKS).unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(FORWARDED_FOR, "6.6.6.6, 203.0.113.9".parse().unwrap());
        let gateway: SocketAddr = "10.1.2.3:5000".parse().unwrap();
        let stranger: SocketAddr = "198.51.100.7:5000".parse().unwrap();
        // The gateway vouches for its client (the rightmost entry); what
        // the client wrote itself (6.6.6.6) is not believed.
        assert_eq!(trusted.client(gateway, &headers), ip("203.0.113.9"));
        assert_eq!(trusted.client(stranger, &headers), ip("198.51.100.7"));
        // A trusted peer without the header is the client itself.
        assert_eq!(trusted.client(gateway, &HeaderMap::new()), ip("10.1.2.3"));
        // Trusting none: the peer, always.
        let none = TrustedProxies::parse("none").unwrap();
        assert_eq!(none.client(gateway, &headers), ip("10.1.2.3"));
        // Garbage stops the walk at the last address vouched for.
        headers.insert(FORWARDED_FOR, "203.0.113.9, nonsense".parse().unwrap());
        assert_eq!(trusted.client(gateway, &headers), ip("10.1.2.3"));
        let mapped: SocketAddr = "[::ffff:198.51.100.7]:1".parse().unwrap();
        assert_eq!(trusted.client(mapped, &headers), ip("198.51.100.7"));
        assert!(TrustedProxies::parse("10.0.0.0/8, bad").is_none());
        assert!(TrustedProxies::parse("10.0.0.1, ::1").is_some());
    }
}
