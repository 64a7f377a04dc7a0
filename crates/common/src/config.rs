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

use crate::db::{DbSettings, DbTarget};

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
    let pool_size: u32 = env.parse(
        "DB_POOL_SIZE",
        default_pool,
        "a number of connections from 1 to 64",
    )?;
    if !(1..=64).contains(&pool_size) {
        return Err(env.error("DB_POOL_SIZE", "a number of connections from 1 to 64"));
    }
    Ok(DbSettings {
        target,
        pool_size,
        acquire_timeout: env.millis("DB_ACQUIRE_TIMEOUT_MS", 5_000)?,
        statement_timeout: env.millis("DB_STATEMENT_TIMEOUT_MS", 5_000)?,
        startup_timeout: env.millis("DB_STARTUP_TIMEOUT_MS", 30_000)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let db = db_settings_from_env(&env, "order").unwrap();
        assert_eq!(
            db.target,
            DbTarget::Sqlite(PathBuf::from("./data/order.db"))
        );
    }
}
