//! Unpaid orders expire: an order still `pending` or `confirmed` without a
//! payment `ORDER_PAYMENT_TIMEOUT` after it was placed is cancelled with
//! reason `expired`, and its stock goes back, so abandoned or hostile
//! orders cannot keep a product off sale.
//!
//! Runs in every recovery pass. An order a payment attempt holds is left
//! alone (the attempt settles first: paid, or payable again and expired on
//! a later pass), and the cancel is conditional on the order being unpaid
//! and unclaimed, so a payment racing the expiry either pays the order or
//! is refused before any charge, never both. The stock goes back as for any
//! cancellation: exactly once, retried by recovery when the catalog is down.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::json;
use shop_common::rfc3339;

use crate::domain::{EventType, Order};
use crate::store::{orders, outbox};
use crate::workflow::status;
use crate::AppState;

/// `order` as clients see it: with `expires_at` while it is payable and
/// orders expire.
pub fn shown(timeout: Option<Duration>, mut order: Order) -> Order {
    order.expires_at = match timeout {
        Some(timeout) if order.status.is_payable() => {
            DateTime::parse_from_rfc3339(&order.created_at)
                .ok()
                .zip(chrono::Duration::from_std(timeout).ok())
                .map(|(placed, timeout)| rfc3339(placed.with_timezone(&Utc) + timeout))
        }
        _ => None,
    };
    order
}

/// Expires up to `batch` unpaid orders placed more than `timeout` ago;
/// how many it expired.
pub async fn expire_due(
    state: &AppState,
    timeout: Duration,
    batch: i64,
) -> Result<usize, sqlx::Error> {
    let timeout = chrono::Duration::from_std(timeout).unwrap_or(chrono::Duration::MAX);
    let Some(cutoff) = Utc::now().checked_sub_signed(timeout) else {
        return Ok(0);
    };
    let cutoff = rfc3339(cutoff);
    let mut expired = 0;
    for order in orders::due_for_expiry(&state.db.writer, &cutoff, batch).await? {
        let mut tx = state.db.writer.begin().await?;
        let Some(cancelled) = orders::expire(&mut *tx, order.id, order.status, &cutoff).await?
        else {
            // Paid, claimed by a payment or changed meanwhile.
            continue;
        };
        outbox::record(
            &mut tx,
            EventType::OrderCancelled,
            &cancelled,
            json!({"previous_status": order.status, "reason": orders::EXPIRED}),
        )
        .await?;
        tx.commit().await?;
        state.feed.wrote();
        state.metrics.became(cancelled.status);
        tracing::info!(order_id = order.id, "unpaid order expired");
        status::release_stock(state, &cancelled).await;
        expired += 1;
    }
    Ok(expired)
}
