//! Settings read once at start-up from the environment.
//!
//! Every value is parsed into its type here; a bad value becomes a
//! [`ConfigError`] naming the variable, which the binary prints as one line
//! before exiting with code 2. Nothing reads the environment after start-up.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use crate::db::{DbSettings, DbTarget, Synchronous};

/// A bad setting.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid setting {name}={value:?}: {reason}")]
pub struct ConfigError {
    pub name: String,
    pub value: String,
    pub reason: String,
}

/// A snapshot of environment variables.
#[derive(Debug, Clone, Default)]
pub struct Env {
    vars: HashMap<String, String>,
}

impl Env {
    /// The process environment.
    pub fn from_process() -> Env {
        Env {
            vars: std::env::vars().collect(),
        }
    }

    /// Given variables only (tests, `shop up`).
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Env {
        Env {
            vars: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }

    /// This environment with `name` set to `value`.
    pub fn with(mut self, name: &str, value: impl Into<String>) -> Env {
        self.vars.insert(name.to_owned(), value.into());
        self
    }

    /// The raw value, if set and not empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.trim().is_empty())
    }

    /// A value parsed as `T`, or `default` when unset.
    pub fn parse<T: FromStr>(
        &self,
        name: &str,
        default: T,
        expected: &str,
    ) -> Result<T, ConfigError> {
        match self.get(name) {
            None => Ok(default),
            Some(raw) => raw.trim().parse().map_err(|_| self.error(name, expected)),
        }
    }

    /// A string value, or `default` when unset.
    pub fn string(&self, name: &str, default: &str) -> String {
        self.get(name).unwrap_or(default).to_owned()
    }

    /// An `http://` or `https://` base URL without a trailing slash.
    pub fn url(&self, name: &str, default: &str) -> Result<String, ConfigError> {
        let url = self.string(name, default);
        let valid = reqwest::Url::parse(&url)
            .map(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
            .unwrap_or(false);
        if valid {
            Ok(url.trim_end_matches('/').to_owned())
        } else {
            Err(self.error(name, "an http:// URL such as http://catalog-service:8001"))
        }
    }

    /// A whole number of `unit` within `range`, or `default` when unset
    /// ("a number of connections from 1 to 1000000" otherwise).
    pub fn count<T>(
        &self,
        name: &str,
        default: T,
        range: std::ops::RangeInclusive<T>,
        unit: &str,
    ) -> Result<T, ConfigError>
    where
        T: FromStr + PartialOrd + std::fmt::Display,
    {
        let expected = format!(
            "a number of {unit} from {} to {}",
            range.start(),
            range.end()
        );
        let value: T = self.parse(name, default, &expected)?;
        if range.contains(&value) {
            Ok(value)
        } else {
            Err(self.error(name, &expected))
        }
    }

    /// A duration given in milliseconds, at least 1.
    pub fn millis(&self, name: &str, default_ms: u64) -> Result<Duration, ConfigError> {
        let ms: u64 = self.parse(name, default_ms, "a whole number of milliseconds")?;
        if ms == 0 {
            return Err(self.error(name, "a whole number of milliseconds, at least 1"));
        }
        Ok(Duration::from_millis(ms))
    }

    /// A [`ConfigError`] for `name`'s current value.
    pub fn error(&self, name: &str, expected: &str) -> ConfigError {
        ConfigError {
            name: name.to_owned(),
            value: self.vars.get(name).cloned().unwrap_or_default(),
            reason: format!("expected {expected}"),
        }
    }
}

/// Where a service listens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listen {
    pub bind: IpAddr,
    pub port: u16,
}

impl Listen {
    /// `BIND` (default `0.0.0.0`) and `PORT` (default: the service's port).
    pub fn from_env(env: &Env, default_port: u16) -> Result<Listen, ConfigError> {
        Ok(Listen {
            bind: env.parse(
                "BIND",
                IpAddr::from([0, 0, 0, 0]),
                "an IP address such as 0.0.0.0",
            )?,
            port: env.parse("PORT", default_port, "a port number from 0 to 65535")?,
        })
    }
}

/// Timeouts for calls to other services.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpSettings {
    /// `HTTP_CONNECT_TIMEOUT_MS`, default 1000.
    pub connect_timeout: Duration,
    /// `HTTP_REQUEST_TIMEOUT_MS`, default 5000: the whole call, answer included.
    pub request_timeout: Duration,
}

impl HttpSettings {
    pub fn from_env(env: &Env) -> Result<HttpSettings, ConfigError> {
        Ok(HttpSettings {
            connect_timeout: env.millis("HTTP_CONNECT_TIMEOUT_MS", 1_000)?,
            request_timeout: env.millis("HTTP_REQUEST_TIMEOUT_MS", 5_000)?,
        })
    }
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            connect_timeout: Duration::from_secs(1),
            request_timeout: Duration::from_secs(5),
        }
    }
}

/// How a service treats the connections of its clients (see
/// [`crate::server`]). Every listener applies them on its own: one flooded
/// port cannot starve another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerSettings {
    /// `SERVER_HEADER_READ_TIMEOUT_MS`, default 10000: a request's line and
    /// headers must have arrived this long after their first byte (and a
    /// new connection must have sent its first request this long after it
    /// opened), else the connection is closed.
    pub header_read_timeout: Duration,
    /// `SERVER_IDLE_TIMEOUT_MS`, default 75000: a kept-alive connection
    /// with no new request for this long is closed. Longer than the
    /// services' own client pools keep idle connections (60 s), so a call
    /// between services never races the close.
    pub idle_timeout: Duration,
    /// `SERVER_BODY_READ_TIMEOUT_MS`, default 30000: a request's whole
    /// body must have arrived this long after its headers, else 408.
    pub body_read_timeout: Duration,
    /// `SERVER_MAX_CONNECTIONS`, default 2048: open connections per
    /// listener; one more is answered 503 and closed at once.
    pub max_connections: usize,
}

/// File descriptors kept free of client connections: databases, calls to
/// other services, logs.
const RESERVED_FILES: u64 = 256;

impl ServerSettings {
    pub fn from_env(env: &Env) -> Result<ServerSettings, ConfigError> {
        let max_connections =
            env.count("SERVER_MAX_CONNECTIONS", 2048, 1..=1_000_000, "connections")?;
        Ok(ServerSettings {
            header_read_timeout: env.millis("SERVER_HEADER_READ_TIMEOUT_MS", 10_000)?,
            idle_timeout: env.millis("SERVER_IDLE_TIMEOUT_MS", 75_000)?,
            body_read_timeout: env.millis("SERVER_BODY_READ_TIMEOUT_MS", 30_000)?,
            max_connections,
        })
    }

    /// These settings for `listeners` listeners in a process that may open
    /// `open_files` files: the connection cap lowered, if need be, so that
    /// full listeners still leave files for everything else. Returns the
    /// settings and whether the cap was lowered.
    pub fn fit_open_files(self, listeners: usize, open_files: u64) -> (ServerSettings, bool) {
        let listeners = listeners.max(1) as u64;
        let room = open_files.saturating_sub(RESERVED_FILES) / listeners;
        let room = usize::try_from(room).unwrap_or(usize::MAX).max(1);
        if self.max_connections <= room {
            return (self, false);
        }
        let fitted = ServerSettings {
            max_connections: room,
            ..self
        };
        (fitted, true)
    }
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(75),
            body_read_timeout: Duration::from_secs(30),
            max_connections: 2048,
        }
    }
}

/// The database of service `name`: `DATABASE_URL` (a `postgres://` URL:
/// PostgreSQL, in schema `DB_SCHEMA`, default the service's name) or else
/// the SQLite file `DB_PATH` (default `./data/<name>.db`); `DB_POOL_SIZE`
/// (default 4 for SQLite readers, 10 for PostgreSQL),
/// `DB_ACQUIRE_TIMEOUT_MS` (default 5000) and, for PostgreSQL,
/// `DB_STATEMENT_TIMEOUT_MS` (default 5000) and `DB_STARTUP_TIMEOUT_MS`
/// (default 30000: how long start-up waits for the database).
pub fn db_settings_from_env(env: &Env, name: &str) -> Result<DbSettings, ConfigError> {
    let target = match env.get("DATABASE_URL") {
        Some(url) => {
            let url = url.trim();
            let valid = reqwest::Url::parse(url)
                .map(|u| matches!(u.scheme(), "postgres" | "postgresql") && u.host().is_some())
                .unwrap_or(false);
            if !valid {
                return Err(env.error(
                    "DATABASE_URL",
                    "a PostgreSQL URL such as postgres://user:password@host:5432/shop",
                ));
            }
            let schema = env.string("DB_SCHEMA", name);
            let simple = !schema.is_empty()
                && schema.len() <= 63
                && schema.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
                && schema
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
            if !simple {
                return Err(env.error("DB_SCHEMA", "a lowercase name such as catalog"));
            }
            DbTarget::Postgres {
                url: url.to_owned(),
                schema,
            }
        }
        None => DbTarget::Sqlite(PathBuf::from(
            env.string("DB_PATH", &format!("./data/{name}.db")),
        )),
    };
    let default_pool = if target.is_postgres() { 10 } else { 4 };
    let pool_size: u32 = env.count("DB_POOL_SIZE", default_pool, 1..=64, "connections")?;
    Ok(DbSettings {
        target,
        pool_size,
        acquire_timeout: env.millis("DB_ACQUIRE_TIMEOUT_MS", 5_000)?,
        statement_timeout: env.millis("DB_STATEMENT_TIMEOUT_MS", 5_000)?,
        startup_timeout: env.millis("DB_STARTUP_TIMEOUT_MS", 30_000)?,
        synchronous: match env.string("SQLITE_SYNCHRONOUS", "normal").as_str() {
            "normal" => Synchronous::Normal,
            "full" => Synchronous::Full,
            _ => return Err(env.error("SQLITE_SYNCHRONOUS", "normal or full")),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_synchronous_is_normal_unless_full_is_asked() {
        let synchronous = |value: Option<&str>| {
            let env = Env::from_pairs(value.map(|v| ("SQLITE_SYNCHRONOUS", v)));
            db_settings_from_env(&env, "catalog").map(|s| s.synchronous)
        };
        assert_eq!(synchronous(None).unwrap(), Synchronous::Normal);
        assert_eq!(synchronous(Some("full")).unwrap(), Synchronous::Full);
        let err = synchronous(Some("off")).unwrap_err();
        assert_eq!(err.reason, "expected normal or full");
    }

    #[test]
    fn counts_are_parsed_within_their_range() {
        let env = Env::from_pairs([("N", "7"), ("BIG", "65"), ("WORD", "x")]);
        assert_eq!(env.count("N", 1, 1..=64, "things").unwrap(), 7);
        assert_eq!(env.count("UNSET", 3, 1..=64, "things").unwrap(), 3);
        for name in ["BIG", "WORD"] {
            let err = env.count(name, 1, 1..=64, "things").unwrap_err();
            assert_eq!(
                err.reason, "expected a number of things from 1 to 64",
                "{name}"
            );
        }
    }

    #[test]
    fn bad_values_name_the_variable() {
        let env = Env::from_pairs([("PORT", "80x"), ("CART_SERVICE_URL", "ftp://x")]);
        let err = Listen::from_env(&env, 8002).unwrap_err();
        assert_eq!(err.name, "PORT");
        assert!(err.to_string().contains("PORT=\"80x\""), "{err}");
        assert_eq!(
            env.url("CART_SERVICE_URL", "http://a").unwrap_err().name,
            "CART_SERVICE_URL"
        );
        let zero = Env::from_pairs([("HTTP_CONNECT_TIMEOUT_MS", "0")]);
        assert!(HttpSettings::from_env(&zero).is_err());
        for (name, value) in [
            ("SERVER_MAX_CONNECTIONS", "0"),
            ("SERVER_MAX_CONNECTIONS", "many"),
            ("SERVER_HEADER_READ_TIMEOUT_MS", "0"),
            ("SERVER_IDLE_TIMEOUT_MS", "1s"),
            ("SERVER_BODY_READ_TIMEOUT_MS", "-1"),
        ] {
            let err = ServerSettings::from_env(&Env::from_pairs([(name, value)])).unwrap_err();
            assert_eq!(err.name, name);
        }
    }

    #[test]
    fn defaults_apply_when_unset_or_empty() {
        let env = Env::from_pairs([("PORT", "")]);
        let listen = Listen::from_env(&env, 8003).unwrap();
        assert_eq!(listen.port, 8003);
        assert_eq!(
            env.url("X", "http://cart-service:8002/").unwrap(),
            "http://cart-service:8002"
        );
        assert_eq!(
            ServerSettings::from_env(&env).unwrap(),
            ServerSettings::default()
        );
        let db = db_settings_from_env(&env, "order").unwrap();
        assert_eq!(
            db.target,
            DbTarget::Sqlite(PathBuf::from("./data/order.db"))
        );
    }

    #[test]
    fn the_connection_cap_fits_the_open_files_limit() {
        let settings = ServerSettings::default();
        assert_eq!(settings.fit_open_files(5, 1_048_576), (settings, false));
        let (fitted, lowered) = settings.fit_open_files(5, 1024);
        assert!(lowered);
        assert_eq!(fitted.max_connections, (1024 - 256) / 5);
        assert_eq!(fitted.header_read_timeout, settings.header_read_timeout);
        assert_eq!(settings.fit_open_files(1, 10).0.max_connections, 1);
    }
}
