//! What every Shop service shares.
//!
//! - [`config`]: settings typed once from the environment.
//! - [`error`]: the `{"detail": ...}` envelope and [`ApiError`].
//! - [`extract`]: `Json`, `Path` and `Query` that reject with the envelope.
//! - [`money`]: [`Money`], exact integer cents.
//! - [`db`]: the database (SQLite in WAL mode: one writer, pooled readers);
//!   [`read_cache`]: reads answered from memory until a write changes them.
//! - [`auth`]: the service credential of service-only endpoints;
//!   [`access`]: callers' access tokens and who may do what.
//! - [`client`]: calls to other services with timeouts;
//!   [`local`]: the same calls between services of one process, in-process.
//! - [`telemetry`]: logs, request ids and request metrics.
//! - [`service`]: the standard endpoints and layers.
//! - [`server`]: serving connections with timeouts and a cap.
//! - [`streams`]: caps and lifetime of event streams; client addresses.
//!
//! - [`user`], [`payment_method`]: the two domain types two services share
//!   (a user id; how a payment is taken).
//!
//! Nothing else here knows about products, carts, orders or payments.

pub mod access;
pub mod auth;
pub mod client;
pub mod config;
pub mod db;
pub mod error;
pub mod extract;
pub mod idempotency;
pub mod local;
pub mod log_writer;
pub mod messages;
pub mod metrics;
pub mod money;
pub mod paging;
pub mod payment_method;
pub mod quantity;
pub mod read_cache;
pub mod server;
pub mod service;
pub mod streams;
pub mod telemetry;
pub mod text;
pub mod traces;
pub mod user;

pub use error::ApiError;
pub use money::Money;
pub use payment_method::PaymentMethod;
pub use quantity::{Quantity, Stock};
pub use text::Text;
pub use user::UserId;

/// `at` as an RFC 3339 UTC timestamp with microseconds: the one form
/// timestamps are stored in, so they compare as text.
pub fn rfc3339(at: chrono::DateTime<chrono::Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// The current time as [`rfc3339`] writes it.
pub fn now_rfc3339() -> String {
    rfc3339(chrono::Utc::now())
}

/// What is kept of a bearer secret (a refresh or session token): its
/// SHA-256, hex, so a stolen store or cache holds nothing usable.
pub fn token_hash(token: &str) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
