//! Checkout: a cart becomes an order, with its stock reserved, and only then
//! leaves the cart.
//!
//! Each step is written to the `checkouts` table before the call that
//! follows it, and every call is keyed by the checkout's key, so the same
//! checkout can be resumed from any step — by a retry with the same
//! `Idempotency-Key`, or by [`crate::recovery`] after a crash:
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

use serde::{Deserialize, Serialize};
use serde_json::json;
use shop_common::db::is_unique_violation;
use shop_common::money::MAX_CENTS;
use shop_common::{now_rfc3339, ApiError, Money};
use sqlx::any::AnyRow;
use sqlx::{Any, Executor, Row};

use crate::client::CartLine;
use crate::domain::{Order, OrderItem};
use crate::events::{self, EventType};
use crate::{store, AppState};

/// Where a checkout is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckoutState {
    Reserving,
    Releasing,
    Placed,
    Done,
    Failed,
}

impl CheckoutState {
    fn as_str(self) -> &'static str {
        match self {
            CheckoutState::Reserving => "reserving",
            CheckoutState::Releasing => "releasing",
            CheckoutState::Placed => "placed",
            CheckoutState::Done => "done",
            CheckoutState::Failed => "failed",
        }
    }

    fn parse(raw: &str) -> Option<CheckoutState> {
        [
            CheckoutState::Reserving,
            CheckoutState::Releasing,
            CheckoutState::Placed,
            CheckoutState::Done,
            CheckoutState::Failed,
        ]
        .into_iter()
        .find(|s| s.as_str() == raw)
    }
}

/// A checkout as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Checkout {
    pub key: String,
    pub user_id: String,
    /// The cart lines being ordered.
    pub lines: Vec<CartLine>,
    pub state: CheckoutState,
    pub order_id: Option<i64>,
    /// Why it failed.
    pub detail: Option<String>,
}

const COLUMNS: &str = "key, user_id, items, state, order_id, detail";

fn checkout(row: &AnyRow) -> Result<Checkout, sqlx::Error> {
    let items: String = row.try_get("items")?;
    let state: String = row.try_get("state")?;
    Ok(Checkout {
        key: row.try_get("key")?,
        user_id: row.try_get("user_id")?,
        lines: serde_json::from_str(&items)
            .map_err(|err| sqlx::Error::Decode(format!("checkout items: {err}").into()))?,
        state: CheckoutState::parse(&state)
            .ok_or_else(|| sqlx::Error::Decode(format!("checkout state {state}").into()))?,
        order_id: row.try_get("order_id")?,
        detail: row.try_get("detail")?,
    })
}

pub async fn find<'c>(
    db: impl Executor<'c, Database = Any>,
    key: &str,
) -> Result<Option<Checkout>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM checkouts WHERE key = $1");
    sqlx::query(&sql)
        .bind(key.to_owned())
        .fetch_optional(db)
        .await?
        .as_ref()
        .map(checkout)
        .transpose()
}

/// Checkouts in `state` not touched since `before` (oldest first).
pub async fn stale<'c>(
    db: impl Executor<'c, Database = Any>,
    state: CheckoutState,
    before: &str,
    limit: i64,
) -> Result<Vec<Checkout>, sqlx::Error> {
    let sql = format!(
        "SELECT {COLUMNS} FROM checkouts WHERE state = $1 AND updated_at < $2 ORDER BY updated_at LIMIT $3"
    );
    sqlx::query(&sql)
        .bind(state.as_str())
        .bind(before.to_owned())
        .bind(limit)
        .fetch_all(db)
        .await?
        .iter()
        .map(checkout)
        .collect()
}

/// A user's checkouts whose order exists but whose items may still be in
/// the cart.
async fn placed_of_user<'c>(
    db: impl Executor<'c, Database = Any>,
    user_id: &str,
) -> Result<Vec<Checkout>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM checkouts WHERE user_id = $1 AND state = 'placed'");
    sqlx::query(&sql)
        .bind(user_id.to_owned())
        .fetch_all(db)
        .await?
        .iter()
        .map(checkout)
        .collect()
}

/// How claiming a user's checkout went.
enum Claim {
    /// This checkout now holds the user's cart.
    Claimed,
    /// A checkout with this key exists already (a racing retry).
    KeyExists,
    /// Another checkout of the user is under way.
    UserBusy,
}

/// Records a new checkout holding the user's cart, with no lines yet: one
/// open checkout per user (unique index `checkouts_one_open_per_user`).
async fn claim<'c>(
    db: impl Executor<'c, Database = Any>,
    key: &str,
    user_id: &str,
) -> Result<Claim, ApiError> {
    let now = now_rfc3339();
    let done = sqlx::query(
        "INSERT INTO checkouts (key, user_id, items, total_cents, state, created_at, updated_at) \
         VALUES ($1, $2, '[]', 0, 'reserving', $3, $3) ON CONFLICT (key) DO NOTHING",
    )
    .bind(key.to_owned())
    .bind(user_id.to_owned())
    .bind(now)
    .execute(db)
    .await;
    match done {
        Ok(done) if done.rows_affected() > 0 => Ok(Claim::Claimed),
        Ok(_) => Ok(Claim::KeyExists),
        Err(err) if is_unique_violation(&err) => Ok(Claim::UserBusy),
        Err(err) => Err(err.into()),
    }
}

/// Records the cart lines a claimed checkout orders.
async fn set_lines<'c>(
    db: impl Executor<'c, Database = Any>,
    key: &str,
    lines: &[CartLine],
) -> Result<bool, ApiError> {
    let items = serde_json::to_string(lines).map_err(|err| ApiError::Internal(err.to_string()))?;
    let done = sqlx::query(
        "UPDATE checkouts SET items = $1, updated_at = $2 WHERE key = $3 AND state = 'reserving'",
    )
    .bind(items)
    .bind(now_rfc3339())
    .bind(key.to_owned())
    .execute(db)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// Gives up a claim that took nothing (the cart was empty or unreachable):
/// the row goes, so a retry with the same key starts afresh.
async fn unclaim<'c>(db: impl Executor<'c, Database = Any>, key: &str) -> Result<(), ApiError> {
    sqlx::query("DELETE FROM checkouts WHERE key = $1 AND state = 'reserving' AND items = '[]'")
        .bind(key.to_owned())
        .execute(db)
        .await?;
    Ok(())
}

/// Moves a checkout from `from` to `to`; false when it was not in `from`.
async fn advance<'c>(
    db: impl Executor<'c, Database = Any>,
    key: &str,
    from: CheckoutState,
    to: CheckoutState,
    detail: Option<&str>,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE checkouts SET state = $1, detail = COALESCE($2, detail), updated_at = $3 \
         WHERE key = $4 AND state = $5",
    )
    .bind(to.as_str())
    .bind(detail.map(str::to_owned))
    .bind(now_rfc3339())
    .bind(key.to_owned())
    .bind(from.as_str())
    .execute(db)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// Places an order for the user's cart under `key`, resuming the checkout
/// if one exists under that key.
///
/// A new checkout first claims the user's cart (one open checkout per
/// user, held from before the cart is read until the ordered lines have
/// left it), so racing checkouts of one cart order it once: the others are
/// 409 while it is under way, and find the cart empty after.
pub async fn place_order(state: &AppState, user_id: &str, key: &str) -> Result<Order, ApiError> {
    if let Some(existing) = find(&state.db.writer, key).await? {
        return resume(state, existing).await;
    }
    // The user's earlier orders must have left the cart first, or this
    // checkout would order their lines again (and they hold the claim).
    for earlier in placed_of_user(&state.db.writer, user_id).await? {
        clear_cart(state, &earlier).await?;
    }
    match claim(&state.db.writer, key, user_id).await? {
        Claim::Claimed => {}
        Claim::KeyExists => {
            // A racing request with the same key: resume it.
            let existing = find(&state.db.writer, key)
                .await?
                .ok_or_else(|| ApiError::Internal(format!("checkout {key} vanished")))?;
            return resume(state, existing).await;
        }
        Claim::UserBusy => {
            return Err(ApiError::Conflict(
                "Another checkout of this cart is in progress; try again shortly".to_owned(),
            ))
        }
    }
    let lines = match state.cart.lines(user_id).await {
        Ok(lines) if !lines.is_empty() => lines,
        outcome => {
            unclaim(&state.db.writer, key).await?;
            outcome?;
            return Err(ApiError::BadRequest("Cart is empty".to_owned()));
        }
    };
    if !set_lines(&state.db.writer, key, &lines).await? {
        // Recovery abandoned the claim meanwhile (it had no lines).
        return Err(ApiError::Conflict(ABANDONED.to_owned()));
    }
    let checkout = find(&state.db.writer, key)
        .await?
        .ok_or_else(|| ApiError::Internal(format!("checkout {key} vanished")))?;
    resume(state, checkout).await
}

/// Takes a checkout from wherever it is to `done` (or `failed`).
pub async fn resume(state: &AppState, checkout: Checkout) -> Result<Order, ApiError> {
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
                Some(read) => Box::pin(resume(state, read)).await,
                None => Err(ApiError::BadRequest("Cart is empty".to_owned())),
            };
        }
        CheckoutState::Reserving => reserve_and_place(state, &checkout).await?,
        CheckoutState::Placed | CheckoutState::Done => {
            let id = checkout
                .order_id
                .ok_or_else(|| ApiError::Internal(format!("checkout {key} has no order")))?;
            store::get(&state.db.writer, id).await?.ok_or_else(|| {
                ApiError::Internal(format!("order {id} of checkout {key} missing"))
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
        match find(&state.db.writer, key).await? {
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

/// Step 1 and 2: reserve (which prices), then store the order.
async fn reserve_and_place(state: &AppState, checkout: &Checkout) -> Result<Order, ApiError> {
    let key = checkout.key.as_str();
    let reserved = match state.catalog.reserve(key, &checkout.lines).await {
        Ok(reserved) => reserved,
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
            return Err(err);
        }
        Err(err) => {
            // Unknown whether the stock was taken: release the key now, or
            // leave it to recovery when the catalog does not answer.
            abandon(state, checkout).await;
            return Err(err);
        }
    };

    // In the cart's order (the catalog answers by product id).
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
    let Some(total) = total(&items) else {
        abandon(state, checkout).await;
        return Err(ApiError::BadRequest(
            "Order total exceeds the maximum of 1000000000.00".to_owned(),
        ));
    };

    let mut tx = state.db.writer.begin().await?;
    let order = store::insert(
        &mut *tx,
        &checkout.user_id,
        &items,
        total,
        key,
        &now_rfc3339(),
    )
    .await?;
    let placed = sqlx::query(
        "UPDATE checkouts SET state = 'placed', order_id = $1, total_cents = $2, updated_at = $3 \
         WHERE key = $4 AND state = 'reserving'",
    )
    .bind(order.id)
    .bind(total.cents())
    .bind(now_rfc3339())
    .bind(key.to_owned())
    .execute(&mut *tx)
    .await?;
    if placed.rows_affected() == 0 {
        // Recovery abandoned it, or a racing request placed it: theirs stands.
        tx.rollback().await?;
        let now = find(&state.db.writer, key)
            .await?
            .ok_or_else(|| ApiError::Internal(format!("checkout {key} vanished")))?;
        return match now.state {
            CheckoutState::Reserving => Err(ApiError::Internal(format!("checkout {key} stuck"))),
            _ => Box::pin(resume(state, now)).await,
        };
    }
    events::record(
        &mut tx,
        EventType::OrderCreated,
        &order,
        json!({"items": order.items}),
    )
    .await?;
    tx.commit().await?;
    state.feed.written.notify_waiters();
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
