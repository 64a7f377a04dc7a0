//! SQL for checkouts: each checkout's progress, written before each call
//! to another service (see `crate::workflow::checkout`). A checkout's
//! order is the one under its key (`orders.reservation_key`); the table's
//! `order_id`, which earlier versions filled in, is no longer read.

use shop_common::db::{is_unique_violation, Connections, Statements};
use shop_common::now_rfc3339;
use shop_common::paging::Arg;
use sqlx::any::AnyRow;
use sqlx::{Any, Executor, Row};

use crate::domain::{CartLine, Checkout, CheckoutState};

const COLUMNS: &str = "key, user_id, items, state, detail";

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

/// How claiming a user's checkout went.
pub enum Claim {
    /// This checkout now holds the user's cart.
    Claimed(Checkout),
    /// A checkout with this key exists already (a racing retry).
    KeyExists,
    /// Another checkout of the user is under way.
    UserBusy,
}

/// Records a new checkout of the cart `lines` read: one open checkout per
/// user (unique index `checkouts_one_open_per_user`).
pub async fn claim(
    db: &Connections,
    key: &str,
    user_id: &str,
    lines: &[CartLine],
) -> Result<Claim, sqlx::Error> {
    let items = serde_json::to_string(lines).map_err(|err| sqlx::Error::Encode(err.into()))?;
    let now = now_rfc3339();
    let claim = Statements::new().push(
        "INSERT INTO checkouts (key, user_id, items, total_cents, state, created_at, updated_at) \
         VALUES ($1, $2, $3, 0, 'reserving', $4, $4) ON CONFLICT (key) DO NOTHING RETURNING key",
        vec![
            Arg::from(key),
            Arg::from(user_id),
            Arg::from(items),
            Arg::from(now),
        ],
    );
    match db.commit(claim).await {
        Ok(claimed) if !claimed.is_empty() => Ok(Claim::Claimed(Checkout {
            key: key.to_owned(),
            user_id: user_id.to_owned(),
            lines: lines.to_vec(),
            state: CheckoutState::Reserving,
            detail: None,
        })),
        Ok(_) => Ok(Claim::KeyExists),
        Err(err) if is_unique_violation(&err) => Ok(Claim::UserBusy),
        Err(err) => Err(err),
    }
}

/// Moves a checkout from `from` to `to`; false when it was not in `from`.
pub async fn advance<'c>(
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

/// The last step of a checkout, in the transaction that stores its order:
/// marks it done, if it is still `reserving`, before the order's insert
/// (which takes place only for a checkout so marked, and only while no
/// order holds its key: see `orders::insert`). Marking first makes racing
/// placings of one checkout queue on its row (PostgreSQL), so that only
/// the first stores an order; the order is found by its key
/// (`orders::of_checkout`). The statements, for a batch, with the order's.
pub fn mark_done(key: &str, total_cents: i64, order: Statements) -> Statements {
    Statements::new()
        .push(
            "UPDATE checkouts SET state = 'done', total_cents = $2, updated_at = $3 \
             WHERE key = $1 AND state = 'reserving'",
            vec![key.into(), total_cents.into(), now_rfc3339().into()],
        )
        .then(order)
}
