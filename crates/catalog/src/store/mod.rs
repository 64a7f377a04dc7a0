//! The catalog's SQL, one module per table.
//!
//! - [`products`]: products and their filters.
//! - [`reservations`]: stock held for orders.

pub mod products;
pub mod reservations;
