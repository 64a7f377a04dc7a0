//! Shop's HTTP tests: every route of every service over real listeners.
//!
//! One test binary (fast to link); a module per service plus the gateway,
//! the end-to-end purchase and the `shop` command line.

// Shared with the other test binaries (crash, kafka, replicas), which use
// parts of it this one does not.
#[allow(dead_code)]
mod helpers;

mod access;
mod cart;
mod catalog;
mod checkout;
mod cli;
mod client_errors;
mod connections;
mod database;
mod docs;
mod e2e;
mod events;
mod expiry;
mod gateway;
mod hostile;
mod identity;
mod keys;
mod metrics;
mod oidc;
mod order;
mod paging;
mod payment;
mod plans;
mod provider;
mod raw;
mod refunds;
mod seed;
mod seeding;
mod session;
mod stats;
mod streams;
mod traces;
