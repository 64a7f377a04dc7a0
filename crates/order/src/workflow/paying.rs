//! Paying an order: at most one charge, and `paid` only with that charge.
//!
//! An attempt first claims the order under its key (`paying_key`): one
//! attempt at a time, so concurrent pay calls cannot each charge. The key is
//! sent to the payment service as the Idempotency-Key, so asking again with
//! it (a retry, or [`crate::workflow::recovery`] after a crash) gets the same answer
//! instead of a second charge. Success marks the order `paid` with the
//! payment's id; a decline frees the order for another attempt. While an
//! attempt holds the order it cannot be cancelled.

use serde_json::json;
use shop_common::{now_rfc3339, ApiError};

use crate::client::PaymentOutcome;
use shop_common::PaymentMethod;

use crate::domain::{EventType, Order, OrderStatus};
use crate::store::{orders, outbox};
use crate::workflow::{commit_order, load, Answer};
use crate::AppState;

/// The seed's answer, naming the status.
fn not_payable(order: &Order) -> ApiError {
    let why = match order.reason.as_deref() {
        Some(crate::store::orders::EXPIRED) => ": it expired unpaid, so its stock went back",
        _ => "",
    };
    ApiError::BadRequest(format!(
        "Order is not in pending status (it is {}{why})",
        order.status.as_str()
    ))
}

/// Pays `order` (as read before this attempt) by `method` with attempt `key`: `card` charges through
/// the payment service, `manual` records money taken outside Shop. Either
/// way the order is `paid` only with its one successful payment, and the
/// answer of that payment is recorded with it.
pub async fn pay(
    state: &AppState,
    order: Order,
    key: &str,
    method: PaymentMethod,
    answer: &Answer<'_>,
) -> Result<Order, ApiError> {
    let id = order.id;
    if paid_by(&order, key) {
        // This very attempt paid it (a retry after the answer was lost).
        return Ok(order);
    }
    if !order.status.is_payable() {
        return Err(not_payable(&order));
    }
    let Some(claimed) = orders::claim_payment(&state.db.writer, id, key, method).await? else {
        let now = load(state, id).await?;
        return if paid_by(&now, key) {
            // A racing request with the same key paid it.
            Ok(now)
        } else if now.status.is_payable() {
            Err(ApiError::Conflict(format!(
                "A payment for order {id} is already in progress; try again shortly"
            )))
        } else {
            Err(not_payable(&now))
        };
    };
    settle(state, &claimed, key, answer).await
}

/// Whether attempt `key` is the one that paid `order`.
fn paid_by(order: &Order, key: &str) -> bool {
    order.payment_id.is_some()
        && !order.status.is_payable()
        && order.paying_key.as_deref() == Some(key)
}

/// Asks the payment service under `key`, by the method the attempt was
/// claimed with, and applies its answer. On an
/// unknown outcome (the service unreachable) the claim stays, and the next
/// call with the same key — or recovery — asks again.
pub async fn settle(
    state: &AppState,
    order: &Order,
    key: &str,
    answer: &Answer<'_>,
) -> Result<Order, ApiError> {
    let id = order.id;
    let method = order.paying_method;
    let payment = match state
        .payments
        .pay(id, order.total_amount, method, key)
        .await
    {
        Ok(payment) => payment,
        Err(err @ ApiError::Conflict(_)) => {
            // Already charged outside this attempt (e.g. the payment service
            // called directly): nothing more may be charged.
            orders::release_payment_claim(&state.db.writer, id, key).await?;
            return Err(err);
        }
        Err(err) => return Err(err),
    };
    if payment.status == PaymentOutcome::Success {
        // One transaction in one message: the order marked paid, and its
        // event and the answer if it was. The attempt holds the order, so
        // nothing but its status and time changes meanwhile: the paid
        // order is this one so marked.
        let now = now_rfc3339();
        let paid = Order {
            status: OrderStatus::Paid,
            payment_id: Some(payment.id.clone()),
            updated_at: now.clone(),
            ..order.clone()
        };
        let marked = orders::marked_paid(id, &payment.id, &now);
        let event = outbox::event_when(
            state.db.is_postgres(),
            EventType::OrderPaid,
            &paid,
            json!({"payment_id": payment.id, "method": method}),
            &marked,
            outbox::event_id(EventType::OrderPaid, &format!("{id}:{}", payment.id)),
        )?;
        // The event last, as in `checkout::place`.
        let statements = orders::mark_paid(id, key, &payment.id, &now)
            .then(answer.recording_when(state, &paid, &marked)?)
            .then(event);
        if let Some(paid) = commit_order(state, statements, answer).await? {
            return Ok(paid);
        }
        // A concurrent settle of the same attempt got there first.
        let now = load(state, id).await?;
        if now.payment_id.as_deref() == Some(payment.id.as_str()) {
            return Ok(now);
        }
        return Err(ApiError::internal(format!(
            "payment {} succeeded for order {id}, which is {}",
            payment.id,
            now.status.as_str()
        )));
    }
    let mut tx = state.db.writer.begin().await?;
    if let Some(payable) = orders::release_payment_claim(&mut *tx, id, key).await? {
        let failed = json!({"payment_id": payment.id, "reason": "Payment failed"});
        outbox::record(&mut tx, EventType::OrderPaymentFailed, &payable, failed).await?;
    }
    tx.commit().await?;
    state.feed.wrote();
    tracing::info!(order_id = id, payment_id = payment.id, "payment declined");
    Err(ApiError::BadRequest("Payment failed".to_owned()))
}
