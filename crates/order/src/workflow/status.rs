//! Status changes (`PUT /orders/{id}/status`): along the status machine,
//! each change and its event in one transaction; cancelling gives the stock
//! back, exactly once, and refunds a paid order ([`refund`]); `paid` is
//! "mark as paid" (a manual payment).

use shop_common::ApiError;

use shop_common::PaymentMethod;

use crate::domain::{Order, OrderStatus};
use crate::store::{orders, outbox};
use crate::workflow::{load, paying, refund, Answer};
use crate::AppState;

/// Moves order `id` to `next`; the same status again is a no-op.
pub async fn change(state: &AppState, id: i64, next: OrderStatus) -> Result<Order, ApiError> {
    let order = load(state, id).await?;
    if order.status == next {
        return Ok(order);
    }
    if !order.status.can_become(next) {
        return Err(ApiError::BadRequest(format!(
            "Cannot change order {id} from {} to {}",
            order.status.as_str(),
            next.as_str()
        )));
    }
    if next == OrderStatus::Paid {
        // "Mark as paid": a manual payment for the total, by the same one
        // attempt at a time as a card payment, so racing both ends with
        // exactly one successful payment.
        let key = uuid::Uuid::new_v4().to_string();
        return paying::pay(
            state,
            order,
            &key,
            PaymentMethod::Manual,
            &Answer::unrecorded(),
        )
        .await;
    }
    let Some(changed) = apply(state, &order, next).await? else {
        return lost_race(state, id, next).await;
    };
    state.feed.wrote();
    state.metrics.became(changed.status);
    tracing::info!(
        order_id = id,
        from = order.status.as_str(),
        to = changed.status.as_str(),
        "order status changed"
    );
    if changed.status != OrderStatus::Cancelled {
        return Ok(changed);
    }
    let changed = refund::after_cancel(state, changed).await;
    release_stock(state, &changed).await;
    Ok(changed)
}

/// Moves `order` from its status to `next` (not `paid`), with its event,
/// in one transaction; `None` when another change came first.
async fn apply(
    state: &AppState,
    order: &Order,
    next: OrderStatus,
) -> Result<Option<Order>, ApiError> {
    let mut tx = state.db.writer.begin().await?;
    let changed = if next == OrderStatus::Cancelled {
        orders::cancel(&mut *tx, order.id, order.status).await?
    } else {
        orders::transition(&mut *tx, order.id, order.status, next).await?
    };
    if let Some(changed) = &changed {
        outbox::record_status_change(&mut tx, changed, order.status).await?;
    }
    tx.commit().await?;
    Ok(changed)
}

/// The answer when a racing request changed the order first: the same
/// change is success; a payment under way or another change is a 409.
async fn lost_race(state: &AppState, id: i64, next: OrderStatus) -> Result<Order, ApiError> {
    let now = load(state, id).await?;
    if now.status == next {
        return Ok(now);
    }
    if now.status.is_payable() && now.paying_key.is_some() {
        return Err(ApiError::Conflict(format!(
            "A payment for order {id} is in progress; try again shortly"
        )));
    }
    Err(ApiError::Conflict(format!(
        "Order {id} changed meanwhile (now {}); reload it and try again",
        now.status.as_str()
    )))
}

/// Gives a cancelled order's stock back (exactly once: the catalog releases
/// a key once). When the catalog does not answer, recovery retries.
pub async fn release_stock(state: &AppState, order: &Order) {
    if let Some(key) = order.reservation_key.as_deref() {
        if let Err(err) = state.catalog.release(key).await {
            tracing::warn!(order_id = order.id, error = %err, "stock release left to recovery");
            return;
        }
    }
    if let Err(err) = orders::mark_stock_released(&state.db.writer, order.id).await {
        tracing::warn!(order_id = order.id, error = %err, "cannot record stock release");
    }
}
