//! Checkout: a cart becomes an order, with its stock reserved, and only then
//! leaves the cart.
//!
//! Each step is written to the `checkouts` table before the call that
//! follows it, and every call is keyed by the checkout's key, so the same
//! checkout can be resumed from any step — by a retry with the same
//! `Idempotency-Key`, or by [`crate::workflow::recovery`] after a crash:
//!
//! 1. `reserving`: the cart's lines are recorded; the catalog reserves their
//!    stock under the key, all or none, and prices them.
//! 2. `placed`: in one transaction the order is stored and the checkout
//!    marked placed (only if it is still `reserving`).
//! 3. `done`: the cart service takes the ordered lines out of the cart,
//!    once per key.
//!
//! A checkout that the catalog refuses is `failed`. One whose outcome is
//! unknown (the catalog timed out, the process died) is abandoned: first
//! marked `releasing` — from then on it can never be placed — then its key
//! is released in the catalog, which returns any stock taken and makes a
//! late reserve under that key take nothing, and only then is it `failed`.

use serde_json::json;
use shop_common::money::MAX_CENTS;
use shop_common::{now_rfc3339, ApiError, Money, UserId};

use crate::client::ReservedLine;
use crate::domain::{Checkout, CheckoutState, EventType, Order, OrderItem};
use crate::store::checkouts::{self, advance, find, Claim};
use crate::store::{orders, outbox};
use crate::workflow::Answer;
use crate::AppState;

/// Places an order for the user's cart under `key`, resuming the checkout
/// if one exists under that key.
///
/// A new checkout first claims the user's cart (one open checkout per
/// user, held from before the cart is read until the ordered lines have
/// left it), so racing checkouts of one cart order it once: the others are
/// 409 while it is under way, and find the cart empty after.
///
/// A new order's answer is recorded in the transaction that stores it.
pub async fn place_order(
    state: &AppState,
    user: &UserId,
    key: &str,
    answer: &Answer<'_>,
) -> Result<Order, ApiError> {
    let user_id = user.as_str();
    let mut earlier_cleared = false;
    loop {
        match checkouts::claim(&state.db.writer, key, user_id).await? {
            Claim::Claimed => break,
            Claim::KeyExists => {
                // A retry, or a racing request with the same key: resume it.
                let existing = find(&state.db.reader, key)
                    .await?
                    .ok_or_else(|| ApiError::internal(format!("checkout {key} vanished")))?;
                return resume(state, existing, answer).await;
            }
            Claim::UserBusy => {
                // On PostgreSQL a racing request with the same key can trip
                // the user's one-open-checkout index before the key's
                // conflict: the checkout holding the cart is then this one.
                if let Some(existing) = find(&state.db.reader, key).await? {
                    return resume(state, existing, answer).await;
                }
                // The user's earlier orders hold the claim until their lines
                // have left the cart: take them out, then claim again.
                if !earlier_cleared {
                    earlier_cleared = true;
                    let placed = checkouts::placed_of_user(&state.db.reader, user_id).await?;
                    for earlier in &placed {
                        clear_cart(state, earlier).await?;
                    }
                    if !placed.is_empty() {
                        continue;
                    }
                }
                return Err(ApiError::Conflict(
                    "Another checkout of this cart is in progress; try again shortly".to_owned(),
                ));
            }
        }
    }
    let lines = match state.cart.lines(user_id).await {
        Ok(lines) if !lines.is_empty() => lines,
        outcome => {
            checkouts::unclaim(&state.db.writer, key).await?;
            outcome?;
            return Err(ApiError::BadRequest("Cart is empty".to_owned()));
        }
    };
    let Some(checkout) = checkouts::set_lines(&state.db.writer, key, &lines).await? else {
        // Recovery abandoned the claim meanwhile (it had no lines).
        return Err(ApiError::Conflict(ABANDONED.to_owned()));
    };
    resume(state, checkout, answer).await
}

/// Takes a checkout from wherever it is to `done` (or `failed`).
pub async fn resume(
    state: &AppState,
    checkout: Checkout,
    answer: &Answer<'_>,
) -> Result<Order, ApiError> {
    let key = checkout.key.as_str();
    let order = match checkout.state {
        CheckoutState::Failed | CheckoutState::Releasing => {
            return Err(ApiError::Conflict(
                checkout.detail.unwrap_or_else(|| ABANDONED.to_owned()),
            ))
        }
        CheckoutState::Reserving if checkout.lines.is_empty() => {
            // Claimed by a racing request with the same key, which is still
            // reading the cart: wait for it, then go on with its checkout.
            return match lines_read(state, key).await? {
                Some(read) => Box::pin(resume(state, read, answer)).await,
                None => Err(ApiError::BadRequest("Cart is empty".to_owned())),
            };
        }
        CheckoutState::Reserving => reserve_and_place(state, &checkout, answer).await?,
        CheckoutState::Placed | CheckoutState::Done => {
            let id = checkout
                .order_id
                .ok_or_else(|| ApiError::internal(format!("checkout {key} has no order")))?;
            orders::get(&state.db.reader, id).await?.ok_or_else(|| {
                ApiError::internal(format!("order {id} of checkout {key} missing"))
            })?
        }
    };
    if checkout.state != CheckoutState::Done {
        // The order stands either way; recovery finishes a failed clear.
        let _ = clear_cart(state, &checkout).await;
    }
    Ok(order)
}

/// How long a request waits for a racing request with the same key to read
/// the cart (one call to the cart service, itself bounded by its timeout).
const CLAIM_WAIT: std::time::Duration = std::time::Duration::from_secs(6);

/// The checkout `key` once its claim has read the cart: `None` when the
/// cart was empty (the claim went away), a 409 when it takes too long.
async fn lines_read(state: &AppState, key: &str) -> Result<Option<Checkout>, ApiError> {
    let deadline = tokio::time::Instant::now() + CLAIM_WAIT;
    loop {
        match find(&state.db.reader, key).await? {
            None => return Ok(None),
            Some(read) if read.state != CheckoutState::Reserving || !read.lines.is_empty() => {
                return Ok(Some(read))
            }
            Some(_) if tokio::time::Instant::now() >= deadline => {
                return Err(ApiError::Conflict(
                    "This checkout is in progress; try again shortly".to_owned(),
                ))
            }
            Some(_) => tokio::time::sleep(std::time::Duration::from_millis(10)).await,
        }
    }
}

const ABANDONED: &str = "The checkout could not be completed; nothing was ordered. Try again";

/// Sum of price x quantity, or `None` above the largest order total.
fn total(items: &[OrderItem]) -> Option<Money> {
    items.iter().try_fold(Money::ZERO, |total, item| {
        item.price
            .times(item.quantity)
            .and_then(|line| total.plus(line))
            .filter(|sum| sum.cents() <= MAX_CENTS)
    })
}

/// Steps 1 and 2: reserve (which prices), then store the order.
async fn reserve_and_place(
    state: &AppState,
    checkout: &Checkout,
    answer: &Answer<'_>,
) -> Result<Order, ApiError> {
    let reserved = reserve(state, checkout).await?;
    let items = in_cart_order(checkout, reserved);
    let Some(total) = total(&items) else {
        abandon(state, checkout).await;
        return Err(ApiError::BadRequest(
            "Order total exceeds the maximum of 1000000000.00".to_owned(),
        ));
    };
    place(state, checkout, &items, total, answer).await
}

/// Step 1: the catalog reserves the lines' stock under the checkout's key,
/// all or none, and prices them. A refusal is final (`failed`); an unknown
/// outcome abandons the checkout (its key released now, or by recovery).
async fn reserve(state: &AppState, checkout: &Checkout) -> Result<Vec<ReservedLine>, ApiError> {
    let key = checkout.key.as_str();
    match state.catalog.reserve(key, &checkout.lines).await {
        Ok(reserved) => Ok(reserved),
        Err(err) if err.status().is_client_error() => {
            // The catalog's answer is final (stock, a deleted product).
            advance(
                &state.db.writer,
                key,
                CheckoutState::Reserving,
                CheckoutState::Failed,
                Some(&err.to_string()),
            )
            .await?;
            Err(err)
        }
        Err(err) => {
            // Unknown whether the stock was taken: release the key now, or
            // leave it to recovery when the catalog does not answer.
            abandon(state, checkout).await;
            Err(err)
        }
    }
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

/// Step 2: in one transaction the order, the checkout marked placed (only
/// if it is still `reserving`), the `order_created` event and the answer,
/// in two messages: the order and the mark, then the event and the answer
/// with the commit.
async fn place(
    state: &AppState,
    checkout: &Checkout,
    items: &[OrderItem],
    total: Money,
    answer: &Answer<'_>,
) -> Result<Order, ApiError> {
    let key = checkout.key.as_str();
    let mut batch = state.db.writer.batch().await?;
    let stored = batch
        .run(
            orders::insert(&checkout.user_id, items, total, key, &now_rfc3339())?
                .then(checkouts::mark_placed(key, total.cents())),
        )
        .await?;
    let (Some(order), placed) = (stored.first(), stored.len() == 2) else {
        return Err(ApiError::internal(format!(
            "order of checkout {key} not returned"
        )));
    };
    let order = orders::order(order)?;
    if !placed {
        // Recovery abandoned it, or a racing request placed it: theirs stands.
        batch.rollback().await?;
        let now = find(&state.db.reader, key)
            .await?
            .ok_or_else(|| ApiError::internal(format!("checkout {key} vanished")))?;
        return match now.state {
            CheckoutState::Reserving => Err(ApiError::internal(format!("checkout {key} stuck"))),
            _ => Box::pin(resume(state, now, answer)).await,
        };
    }
    let created = outbox::event(
        state.db.is_postgres(),
        EventType::OrderCreated,
        &order,
        json!({"items": order.items}),
    );
    batch
        .commit(created.then(answer.recording(state, &order)?))
        .await?;
    answer.committed();
    state.feed.wrote();
    Ok(order)
}

/// Step 3: the ordered lines leave the cart (once per key). On failure the
/// checkout stays `placed` (recovery retries) and the error is returned.
pub async fn clear_cart(state: &AppState, checkout: &Checkout) -> Result<(), ApiError> {
    if let Err(err) = state
        .cart
        .remove(&checkout.user_id, &checkout.key, &checkout.lines)
        .await
    {
        tracing::warn!(key = checkout.key, error = %err, "ordered items stay in the cart until recovery");
        return Err(err);
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

/// Gives up a checkout that holds no order: marks it `releasing` (so it can
/// no longer be placed), releases its key in the catalog, then marks it
/// `failed`. When the catalog does not answer it stays `releasing` and
/// recovery releases it later.
pub async fn abandon(state: &AppState, checkout: &Checkout) {
    let key = checkout.key.as_str();
    if checkout.state == CheckoutState::Reserving {
        match advance(
            &state.db.writer,
            key,
            CheckoutState::Reserving,
            CheckoutState::Releasing,
            Some(ABANDONED),
        )
        .await
        {
            Ok(true) => {}
            // Placed meanwhile (then it must not be released) or gone.
            Ok(false) => return,
            Err(err) => {
                tracing::warn!(key, error = %err, "cannot abandon checkout");
                return;
            }
        }
    }
    match state.catalog.release(key).await {
        Ok(()) => {
            if let Err(err) = advance(
                &state.db.writer,
                key,
                CheckoutState::Releasing,
                CheckoutState::Failed,
                None,
            )
            .await
            {
                tracing::warn!(key, error = %err, "cannot mark checkout failed");
            }
        }
        Err(err) => tracing::warn!(key, error = %err, "stock release left to recovery"),
    }
}
