//! Failed logins, limited per account and per client address.
//!
//! Each account (by its normalised email, known or not) and each client
//! address may fail `LOGIN_FAILURES_PER_ACCOUNT` (default 20) and
//! `LOGIN_FAILURES_PER_ADDRESS` (default 10) times in a row; the allowance
//! then comes back evenly over `LOGIN_FAILURE_WINDOW_SECS` (default 900),
//! one more try at a time (governor's GCRA, a keyed limiter per kind). The
//! failure that goes over locks the account or address until the next one
//! is allowed: until then every login for it is 429 with `Retry-After`,
//! without its password being checked. Successful logins cost nothing.
//!
//! The address limit is the tighter one, so a client guessing one
//! account's password is stopped before the account is, and its owner
//! still signs in from elsewhere; a guesser spread over many addresses
//! meets the account limit, which then holds for everyone (the price of
//! stopping it). Counts live in each identity process.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use shop_common::config::{ConfigError, Env};
use shop_common::ApiError;

/// How many failures are allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleSettings {
    pub per_account: u32,
    pub per_address: u32,
    pub window: Duration,
}

impl ThrottleSettings {
    pub fn from_env(env: &Env) -> Result<ThrottleSettings, ConfigError> {
        let count = |name: &str, default: usize| {
            env.count(name, default, 1..=1_000_000, "failed logins")
                .map(|n| u32::try_from(n).unwrap_or(u32::MAX))
        };
        let window = env.count("LOGIN_FAILURE_WINDOW_SECS", 900, 1..=86_400, "seconds")?;
        Ok(ThrottleSettings {
            per_account: count("LOGIN_FAILURES_PER_ACCOUNT", 20)?,
            per_address: count("LOGIN_FAILURES_PER_ADDRESS", 10)?,
            window: Duration::from_secs(window as u64),
        })
    }
}

impl Default for ThrottleSettings {
    fn default() -> Self {
        ThrottleSettings {
            per_account: 20,
            per_address: 10,
            window: Duration::from_secs(900),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Account(String),
    Address(IpAddr),
}

/// Failures between clean-ups of forgotten keys.
const CLEAN_EVERY: u64 = 1024;

/// The limiters, shared by the service's handlers.
#[derive(Clone)]
pub struct LoginThrottle {
    accounts: Arc<DefaultKeyedRateLimiter<String>>,
    addresses: Arc<DefaultKeyedRateLimiter<IpAddr>>,
    locked: Arc<Mutex<HashMap<Key, Instant>>>,
    failures: Arc<AtomicU64>,
}

impl std::fmt::Debug for LoginThrottle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginThrottle").finish_non_exhaustive()
    }
}

fn quota(burst: u32, window: Duration) -> Quota {
    let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
    let period = (window / burst.get()).max(Duration::from_millis(1));
    Quota::with_period(period)
        .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
        .allow_burst(burst)
}

fn too_many(wait: Duration) -> ApiError {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    ApiError::TooManyRequests {
        detail: format!("Too many failed logins; try again in {secs} s"),
        retry_after_secs: secs.max(1),
    }
}

impl LoginThrottle {
    pub fn new(settings: ThrottleSettings) -> LoginThrottle {
        LoginThrottle {
            accounts: Arc::new(RateLimiter::keyed(quota(
                settings.per_account,
                settings.window,
            ))),
            addresses: Arc::new(RateLimiter::keyed(quota(
                settings.per_address,
                settings.window,
            ))),
            locked: Arc::new(Mutex::new(HashMap::new())),
            failures: Arc::new(AtomicU64::new(0)),
        }
    }

    fn keys(account: &str, address: IpAddr) -> [Key; 2] {
        [Key::Account(account.to_owned()), Key::Address(address)]
    }

    /// Before a password is checked: 429 while the account or the address
    /// is locked.
    pub fn check(&self, account: &str, address: IpAddr) -> Result<(), ApiError> {
        let now = Instant::now();
        let locked = self.locked.lock().unwrap_or_else(|e| e.into_inner());
        let until = Self::keys(account, address)
            .iter()
            .filter_map(|key| locked.get(key).copied())
            .max();
        match until {
            Some(until) if until > now => Err(too_many(until - now)),
            _ => Ok(()),
        }
    }

    /// After a wrong password: counts it against both; `Some(429)` when it
    /// was one too many (and the account or address is now locked).
    pub fn failed(&self, account: &str, address: IpAddr) -> Option<ApiError> {
        let clock = DefaultClock::default();
        let waits = [
            self.accounts
                .check_key(&account.to_owned())
                .err()
                .map(|not_until| not_until.wait_time_from(clock.now())),
            self.addresses
                .check_key(&address)
                .err()
                .map(|not_until| not_until.wait_time_from(clock.now())),
        ];
        let now = Instant::now();
        let mut locked = self.locked.lock().unwrap_or_else(|e| e.into_inner());
        let mut longest = None;
        for (key, wait) in Self::keys(account, address).into_iter().zip(waits) {
            if let Some(wait) = wait {
                tracing::warn!(?key, wait_secs = wait.as_secs(), "failed logins: locked");
                locked.insert(key, now + wait);
                longest = longest.max(Some(wait));
            }
        }
        if self.failures.fetch_add(1, Ordering::Relaxed) % CLEAN_EVERY == CLEAN_EVERY - 1 {
            locked.retain(|_, until| *until > now);
            self.accounts.retain_recent();
            self.addresses.retain_recent();
        }
        longest.map(too_many)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn throttle(per_account: u32, per_address: u32) -> LoginThrottle {
        LoginThrottle::new(ThrottleSettings {
            per_account,
            per_address,
            window: Duration::from_secs(600),
        })
    }

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 2));

    #[test]
    fn an_address_is_locked_after_its_failures_and_others_are_not() {
        let throttle = throttle(5, 3);
        for _ in 0..3 {
            assert!(throttle.check("ada@x.io", A).is_ok());
            assert!(throttle.failed("ada@x.io", A).is_none());
        }
        // The fourth failure goes over: locked, with a wait.
        let Some(ApiError::TooManyRequests {
            retry_after_secs, ..
        }) = throttle.failed("ada@x.io", A)
        else {
            panic!("not locked");
        };
        // 600 s / 3 per failure.
        assert!((1..=200).contains(&retry_after_secs), "{retry_after_secs}");
        assert!(throttle.check("ada@x.io", A).is_err());
        assert!(throttle.check("bob@x.io", A).is_err());
        // The account has 4 of its 5: its owner elsewhere still gets in.
        assert!(throttle.check("ada@x.io", B).is_ok());
    }

    #[test]
    fn an_account_is_locked_for_every_address_after_its_failures() {
        let throttle = throttle(2, 10);
        assert!(throttle.failed("ada@x.io", A).is_none());
        assert!(throttle.failed("ada@x.io", B).is_none());
        let third = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 3));
        assert!(throttle.failed("ada@x.io", third).is_some());
        assert!(throttle.check("ada@x.io", B).is_err());
        assert!(throttle.check("bob@x.io", B).is_ok());
    }
}
