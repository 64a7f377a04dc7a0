//! The identity service's SQL, one module per table.
//!
//! - [`accounts`]: customers and staff.
//! - [`refresh_tokens`]: refresh tokens by hash, in families.
//! - [`signing_keys`]: the signing key's seed.

pub mod accounts;
pub mod refresh_tokens;
pub mod signing_keys;
