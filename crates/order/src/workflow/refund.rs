//! Refunds: cancelling a `paid` or `processing` order gives its money back,
//! exactly once.
//!
//! The cancel itself marks the refund `pending`, in the transaction that
//! cancels the order ([`crate::store::orders::cancel`]), so a cancelled paid
//! order is never without a refund on the way, whatever crashes next. Then
//! the payment service refunds the payment: one refund per payment, and
//! asking again answers the same refund. Last, the order records it and
//! `order_refunded` is written, in one transaction that only the first
//! caller wins. A cancel whose refund could not finish (the payment service
//! down, a crash between the refund and the order's update) is finished by
//! [`crate::workflow::recovery`].

use serde_json::json;
use shop_common::ApiError;

use crate::domain::{EventType, Order, RefundStatus};
use crate::store::{orders, outbox};
use crate::workflow::load;
use crate::AppState;

/// Finishes the pending refund of cancelled `order`: the refund made (or
/// found made) at the payment service, then recorded on the order with its
/// event. The order as it is afterwards.
pub async fn finish(state: &AppState, order: &Order) -> Result<Order, ApiError> {
    let Some(payment_id) = order.payment_id.as_deref() else {
        return Err(ApiError::internal(format!(
            "order {} has a refund pending but no payment",
            order.id
        )));
    };
    let refund = state.payments.refund(payment_id).await?;
    let mut tx = state.db.writer.begin().await?;
    let Some(refunded) =
        orders::mark_refunded(&mut *tx, order.id, &refund.id, &refund.created_at).await?
    else {
        // A racing cancel, or recovery, recorded it first.
        tx.rollback().await?;
        return load(state, order.id).await;
    };
    outbox::record(
        &mut tx,
        EventType::OrderRefunded,
        &refunded,
        json!({
            "payment_id": payment_id,
            "refund_id": refund.id,
            "refunded_at": refund.created_at,
        }),
    )
    .await?;
    tx.commit().await?;
    state.feed.wrote();
    state.metrics.refunded(&refunded);
    tracing::info!(order_id = order.id, payment_id, "order refunded");
    Ok(refunded)
}

/// [`finish`] for a request that just cancelled `order`: when the refund
/// cannot be made now, the cancel still stands (its refund `pending`) and
/// recovery finishes it.
pub async fn after_cancel(state: &AppState, order: Order) -> Order {
    if order.refund_status != Some(RefundStatus::Pending) {
        return order;
    }
    match finish(state, &order).await {
        Ok(refunded) => refunded,
        Err(err) => {
            tracing::warn!(order_id = order.id, error = %err, "refund left to recovery");
            order
        }
    }
}
