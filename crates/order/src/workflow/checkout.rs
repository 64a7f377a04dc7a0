//! Checkout: a cart becomes an order, with its stock reserved and its
//! lines taken out of the cart before the order is stored.
//!
//! The cart's lines are read, then written to the `checkouts` table with
//! the checkout's key before any call that changes another service, and
//! every such call is keyed, so the same checkout can be resumed from any
//! step — by a retry with the same `Idempotency-Key`, or by
//! [`crate::workflow::recovery`] after a crash:
//!
//! 1. `reserving`: the checkout holds the user's claim (one open checkout
//!    per user) and its lines. The catalog reserves their stock under the
//!    key, all or none, and prices them; then the cart takes them out
//!    under the key, all or none.
//! 2. `done`: in one transaction the order is stored and the checkout
//!    marked done (only if it is still `reserving`).
//!
//! A cart is ordered at most once although it is read before the claim:
//! its lines leave the cart only all together and only while the cart
//! still holds them, so of two checkouts that read the same lines (the
//! second read them before the first took them) the second finds them gone
//! and orders nothing. Units added meanwhile are a new cart, and may be
//! ordered.
//!
//! A checkout that cannot be completed (the catalog refuses it, the cart no
//! longer holds its lines, an outcome is unknown because a service timed
//! out or the process died) is abandoned: first marked `releasing` — from
//! then on it can never be done — then its key is released in the catalog,
//! which returns any stock taken and makes a late reserve under that key
//! take nothing, then its lines are given back to the cart, which likewise
//! makes a late removal take nothing, and only then is it `failed`.
//!
//! Checkouts stored by earlier versions may be `placed` (the order stored,
//! the lines still to leave the cart): they are finished by
//! [`clear_cart`].

use serde_json::json;
use shop_common::db::UNKNOWN_ID;
use shop_common::money::MAX_CENTS;
use shop_common::{now_rfc3339, ApiError, Money, PaymentMethod, UserId};

use crate::client::ReservedLine;
use crate::domain::{Checkout, CheckoutState, EventType, Order, OrderItem, OrderStatus};
use crate::store::checkouts::{self, advance, find, Claim};
use crate::store::{orders, outbox};
use crate::workflow::{commit_order, Answer};
use crate::AppState;

/// Places an order for the user's cart under `key`, resuming the checkout
/// if one exists under that key.
///
/// A new checkout claims the user's cart with the lines it read (one open
/// checkout per user, held until its order is stored or it failed), so
/// racing checkouts of one cart are 409 while one is under way, and find
/// the cart empty, or its lines gone, after.
///
/// A new order's answer is recorded in the transaction that stores it.
pub async fn place_order(
    state: &AppState,
    user: &UserId,
    key: &str,
    answer: &Answer<'_>,
) -> Result<Order, ApiError> {
    let user_id = user.as_str();
    let lines = state.cart.lines(user_id).await?;
    if lines.is_empty() {
        // A retry of a checkout that took the cart's lines: its answer.
        return match find(&state.db.reader, key).await? {
            Some(existing) => resume(state, existing, answer).await,
            None => Err(ApiError::BadRequest("Cart is empty".to_owned())),
        };
    }
    let claim = checkouts::claim(&state.db.writer, key, user_id, &lines).await?;
    let busy = match claim {
        Claim::Claimed(checkout) => return resume(state, checkout, answer).await,
        Claim::KeyExists => false,
        Claim::UserBusy => true,
    };
    // A retry, or a racing request with the same key (on PostgreSQL it can
    // trip the user's one-open-checkout index before the key's conflict):
    // resume it.
    match find(&state.db.reader, key).await? {
        Some(existing) => resume(state, existing, answer).await,
        None if busy => Err(ApiError::Conflict(
            "Another checkout of this cart is in progress; try again shortly".to_owned(),
        )),
        None => Err(ApiError::internal(format!("checkout {key} vanished"))),
    }
}

/// Takes a checkout from wherever it is to `done` (or `failed`).
pub async fn resume(
    state: &AppState,
    checkout: Checkout,
    answer: &Answer<'_>,
) -> Result<Order, ApiError> {
    let key = checkout.key.as_str();
    match checkout.state {
        CheckoutState::Failed | CheckoutState::Releasing => Err(ApiError::Conflict(
            checkout.detail.unwrap_or_else(|| ABANDONED.to_owned()),
        )),
        // An earlier version's claim still reading the cart; recovery
        // abandons it if it never goes on.
        CheckoutState::Reserving if checkout.lines.is_empty() => Err(ApiError::Conflict(
            "This checkout is in progress; try again shortly".to_owned(),
        )),
        CheckoutState::Reserving => complete(state, &checkout, answer).await,
        CheckoutState::Placed | CheckoutState::Done => {
            let order = orders::of_checkout(&state.db.reader, key)
                .await?
                .ok_or_else(|| ApiError::internal(format!("checkout {key} has no order")))?;
            if checkout.state == CheckoutState::Placed {
                // The order stands either way; recovery finishes a failed clear.
                let _ = clear_cart(state, &checkout).await;
            }
            Ok(order)
        }
    }
}

pub const ABANDONED: &str = "The checkout could not be completed; nothing was ordered. Try again";

/// Sum of price x quantity, or `None` above the largest order total.
fn total(items: &[OrderItem]) -> Option<Money> {
    items.iter().try_fold(Money::ZERO, |total, item| {
        item.price
            .times(item.quantity)
            .and_then(|line| total.plus(line))
            .filter(|sum| sum.cents() <= MAX_CENTS)
    })
}

const CART_CHANGED: &str = "The cart changed during the checkout; nothing was ordered. Try again";

/// Steps 1 and 2: reserve (which prices), take the lines out of the cart,
/// then store the order. Any failure before the order is stored abandons
/// the checkout.
async fn complete(
    state: &AppState,
    checkout: &Checkout,
    answer: &Answer<'_>,
) -> Result<Order, ApiError> {
    let reserved = match state.catalog.reserve(&checkout.key, &checkout.lines).await {
        Ok(reserved) => reserved,
        Err(err) => {
            // A refusal (stock, a deleted product) is final; after an
            // unknown outcome the stock may be held: release it now, or
            // recovery does when the catalog does not answer.
            let detail = err.status().is_client_error().then(|| err.to_string());
            abandon(state, checkout, detail.as_deref().unwrap_or(ABANDONED)).await;
            return Err(err);
        }
    };
    let items = in_cart_order(checkout, reserved);
    let Some(total) = total(&items) else {
        let too_much = "Order total exceeds the maximum of 1000000000.00";
        abandon(state, checkout, too_much).await;
        return Err(ApiError::BadRequest(too_much.to_owned()));
    };
    if let Err(err) = state
        .cart
        .remove(&checkout.user_id, &checkout.key, &checkout.lines)
        .await
    {
        if err.status().is_client_error() {
            // The cart no longer holds every line (another checkout took
            // them, or the user changed the cart): nothing was taken.
            abandon(state, checkout, CART_CHANGED).await;
            return Err(ApiError::Conflict(CART_CHANGED.to_owned()));
        }
        abandon(state, checkout, ABANDONED).await;
        return Err(err);
    }
    place(state, checkout, &items, total, answer).await
}

/// The reserved lines as order items, in the cart's order (the catalog
/// answers by product id).
fn in_cart_order(checkout: &Checkout, reserved: Vec<ReservedLine>) -> Vec<OrderItem> {
    let mut items: Vec<OrderItem> = reserved
        .into_iter()
        .map(|line| OrderItem {
            product_id: line.product_id,
            product_name: line.name,
            quantity: line.quantity,
            price: line.price,
        })
        .collect();
    items.sort_by_key(|item| {
        checkout
            .lines
            .iter()
            .position(|line| line.product_id == item.product_id)
    });
    items
}

/// Step 2: in one transaction, sent in one message, the checkout marked
/// done (only if it is still `reserving`), its order (only if it was), the
/// `order_created` event and the answer. The event and the answer are
/// built before the order has its id, and take it from the stored order;
/// they are written only if the order was.
async fn place(
    state: &AppState,
    checkout: &Checkout,
    items: &[OrderItem],
    total: Money,
    answer: &Answer<'_>,
) -> Result<Order, ApiError> {
    let key = checkout.key.as_str();
    let now = now_rfc3339();
    let order = Order {
        id: UNKNOWN_ID,
        user_id: checkout.user_id.clone(),
        status: OrderStatus::Pending,
        total_amount: total,
        items: items.to_vec(),
        payment_id: None,
        created_at: now.clone(),
        updated_at: now.clone(),
        reservation_key: Some(key.to_owned()),
        stock_released: false,
        paying_key: None,
        paying_method: PaymentMethod::default(),
        reason: None,
        expires_at: None,
        refund_status: None,
        refund_id: None,
        refunded_at: None,
    };
    let stored = orders::inserted(&order);
    let created = outbox::event_when(
        state.db.is_postgres(),
        EventType::OrderCreated,
        &order,
        json!({"items": order.items}),
        &stored,
        outbox::event_id(EventType::OrderCreated, key),
    )?;
    // The event last: on PostgreSQL its insert waits for the outbox's lock
    // (see `outbox::event_when`).
    let statements = checkouts::mark_done(key, total.cents(), orders::insert(&order)?)
        .then(answer.recording_when(state, &order, &stored)?)
        .then(created);
    if let Some(order) = commit_order(state, statements, answer).await? {
        return Ok(order);
    }
    // Recovery abandoned it, or a racing request stored it: theirs stands.
    let now = find(&state.db.reader, key)
        .await?
        .ok_or_else(|| ApiError::internal(format!("checkout {key} vanished")))?;
    match now.state {
        CheckoutState::Reserving => Err(ApiError::internal(format!("checkout {key} stuck"))),
        _ => Box::pin(resume(state, now, answer)).await,
    }
}

/// Finishes a checkout an earlier version left `placed` (its order stored
/// before its lines left the cart): the lines leave the cart under its
/// key, or are gone already, and it is `done`. On failure it stays
/// `placed` (recovery retries) and the error is returned.
pub async fn clear_cart(state: &AppState, checkout: &Checkout) -> Result<(), ApiError> {
    match state
        .cart
        .remove(&checkout.user_id, &checkout.key, &checkout.lines)
        .await
    {
        // Taken now or before; or no longer all in the cart, the user having
        // taken some out: the order stands either way.
        Ok(()) => {}
        Err(err) if err.status().is_client_error() => {}
        Err(err) => {
            tracing::warn!(key = checkout.key, error = %err, "ordered items stay in the cart until recovery");
            return Err(err);
        }
    }
    advance(
        &state.db.writer,
        &checkout.key,
        CheckoutState::Placed,
        CheckoutState::Done,
        None,
    )
    .await?;
    Ok(())
}

/// Gives up a checkout that holds no order, saying why (`detail`): marks it
/// `releasing` (so it can no longer be done), releases its key in the
/// catalog, gives its lines back to the cart, then marks it `failed`. When
/// either service does not answer it stays `releasing` and recovery goes on
/// later. Whether this call gave it up (marked it `failed`).
pub async fn abandon(state: &AppState, checkout: &Checkout, detail: &str) -> bool {
    let key = checkout.key.as_str();
    if checkout.state == CheckoutState::Reserving {
        match advance(
            &state.db.writer,
            key,
            CheckoutState::Reserving,
            CheckoutState::Releasing,
            Some(detail),
        )
        .await
        {
            Ok(true) => {}
            // Done meanwhile (then it must not be released) or gone.
            Ok(false) => return false,
            Err(err) => {
                tracing::warn!(key, error = %err, "cannot abandon checkout");
                return false;
            }
        }
    }
    if let Err(err) = state.catalog.release(key).await {
        tracing::warn!(key, error = %err, "stock release left to recovery");
        return false;
    }
    if let Err(err) = state
        .cart
        .restore(&checkout.user_id, key, &checkout.lines)
        .await
    {
        tracing::warn!(key, error = %err, "giving the lines back left to recovery");
        return false;
    }
    match advance(
        &state.db.writer,
        key,
        CheckoutState::Releasing,
        CheckoutState::Failed,
        None,
    )
    .await
    {
        Ok(failed) => failed,
        Err(err) => {
            tracing::warn!(key, error = %err, "cannot mark checkout failed");
            false
        }
    }
}
