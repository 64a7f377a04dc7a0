//! Recovery: finishing or undoing what a crash or an outage interrupted.
//!
//! Runs at start-up and then every `RECOVERY_INTERVAL_MS`. Everything it
//! does is keyed and repeatable, so it may overlap a request (or another
//! replica's recovery) working on the same thing. It only touches work not
//! updated for `RECOVERY_STALE_MS`, to leave requests in flight alone:
//!
//! - a checkout still `reserving`: abandoned (its stock released, its
//!   lines given back to the cart);
//! - a checkout `releasing`: its release and return retried;
//! - a checkout `placed` by an earlier version: its items taken out of the
//!   cart;
//! - a cancelled order whose stock has not gone back: released;
//! - a cancelled paid order whose refund is pending: refunded ([`refund`]);
//! - a payment attempt without an outcome: asked again under its key;
//! - an unpaid order past `ORDER_PAYMENT_TIMEOUT`: expired ([`expiry`]).

use std::time::Duration;

use chrono::Utc;
use tokio_util::sync::CancellationToken;

use crate::domain::CheckoutState;
use crate::store::{checkouts, orders};
use crate::workflow::{checkout, expiry, paying, refund, status, Answer};
use crate::AppState;

/// How often and after how long recovery steps in.
#[derive(Debug, Clone, Copy)]
pub struct RecoverySettings {
    pub interval: Duration,
    pub stale_after: Duration,
}

/// Runs recovery passes until `shutdown`.
pub async fn run(state: AppState, settings: RecoverySettings, shutdown: CancellationToken) {
    loop {
        if let Err(err) = pass(&state, settings.stale_after).await {
            tracing::warn!(error = %err, "recovery pass failed; retrying");
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(settings.interval) => {}
        }
    }
}

/// One pass over everything unfinished.
pub async fn pass(state: &AppState, stale_after: Duration) -> Result<(), sqlx::Error> {
    let stale = chrono::Duration::from_std(stale_after).unwrap_or(chrono::Duration::zero());
    let before = shop_common::rfc3339(Utc::now() - stale);
    const BATCH: i64 = 100;

    for state_to_fix in [CheckoutState::Reserving, CheckoutState::Releasing] {
        for stuck in checkouts::stale(&state.db.writer, state_to_fix, &before, BATCH).await? {
            tracing::info!(key = stuck.key, "recovery: abandoning checkout");
            if checkout::abandon(state, &stuck, checkout::ABANDONED).await {
                state.metrics.recovered(false);
                tracing::info!(key = stuck.key, "recovery: checkout undone");
            }
        }
    }
    for placed in checkouts::stale(&state.db.writer, CheckoutState::Placed, &before, BATCH).await? {
        tracing::info!(
            key = placed.key,
            "recovery: clearing ordered items from the cart"
        );
        if checkout::clear_cart(state, &placed).await.is_ok() {
            state.metrics.recovered(true);
            tracing::info!(key = placed.key, "recovery: checkout finished");
        }
    }
    for cancelled in orders::unreleased_cancellations(&state.db.writer, BATCH).await? {
        status::release_stock(state, &cancelled).await;
    }
    for order in orders::pending_refunds(&state.db.writer, &before, BATCH).await? {
        tracing::info!(order_id = order.id, "recovery: finishing refund");
        if let Err(err) = refund::finish(state, &order).await {
            tracing::info!(order_id = order.id, error = %err, "recovery: refund");
        }
    }
    for order in orders::stale_payments(&state.db.writer, &before, BATCH).await? {
        if let Some(key) = order.paying_key.as_deref() {
            tracing::info!(order_id = order.id, "recovery: settling payment attempt");
            if let Err(err) = paying::settle(state, &order, key, &Answer::unrecorded()).await {
                tracing::info!(order_id = order.id, error = %err, "recovery: payment attempt");
            }
        }
    }
    if let Some(timeout) = state.payment_timeout {
        expiry::expire_due(state, timeout, BATCH).await?;
    }
    Ok(())
}
