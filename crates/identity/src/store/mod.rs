//! The identity service's SQL, one module per table.
//!
//! - [`accounts`]: customers and staff.
//! - [`refresh_tokens`]: refresh tokens by hash, in families.
//! - [`sessions`]: the gateway's browser sessions by hash.
//! - [`signing_keys`]: the signing key's seed.

pub mod accounts;
pub mod refresh_tokens;
pub mod sessions;
pub mod signing_keys;
