//! All of the order service's SQL, one module per table. Nothing here
//! calls another service or knows HTTP; the workflows compose these calls.
//!
//! - [`orders`]: orders, their status, payment claim and stock release.
//! - [`checkouts`]: each checkout's progress (the saga's log).
//! - [`outbox`]: order events, and which replica relays them.
//! - [`secrets`]: the service's own secrets.
//! - [`stats`]: the aggregate behind `GET /stats`.

pub mod checkouts;
pub mod orders;
pub mod outbox;
pub mod secrets;
pub mod stats;
