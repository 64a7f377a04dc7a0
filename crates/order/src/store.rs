//! SQL for orders.

use shop_common::Money;
use sqlx::any::AnyRow;
use sqlx::{Any, Executor, Row};

use crate::domain::{Order, OrderItem, OrderStatus};

const COLUMNS: &str = "id, user_id, status, total_cents, items, payment_id, created_at, updated_at";

fn decode_err(what: String) -> sqlx::Error {
    sqlx::Error::Decode(what.into())
}

fn order(row: &AnyRow) -> Result<Order, sqlx::Error> {
    let status: String = row.try_get("status")?;
    let total: i64 = row.try_get("total_cents")?;
    let items: String = row.try_get("items")?;
    Ok(Order {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        status: OrderStatus::parse(&status)
            .ok_or_else(|| decode_err(format!("unknown status {status}")))?,
        total_amount: Money::from_cents(total)
            .ok_or_else(|| decode_err(format!("negative total {total}")))?,
        items: serde_json::from_str::<Vec<OrderItem>>(&items)
            .map_err(|err| decode_err(format!("order items: {err}")))?,
        payment_id: row.try_get("payment_id")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// Stores a new pending order.
pub async fn insert<'c>(
    db: impl Executor<'c, Database = Any>,
    user_id: &str,
    items: &[OrderItem],
    total: Money,
    now: &str,
) -> Result<Order, sqlx::Error> {
    let items = serde_json::to_string(items).map_err(|err| sqlx::Error::Encode(err.into()))?;
    let sql = format!(
        "INSERT INTO orders (user_id, status, total_cents, items, created_at, updated_at) \
         VALUES ($1, 'pending', $2, $3, $4, $4) RETURNING {COLUMNS}"
    );
    let row = sqlx::query(&sql)
        .bind(user_id.to_owned())
        .bind(total.cents())
        .bind(items)
        .bind(now.to_owned())
        .fetch_one(db)
        .await?;
    order(&row)
}

/// One order.
pub async fn get<'c>(
    db: impl Executor<'c, Database = Any>,
    id: i64,
) -> Result<Option<Order>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM orders WHERE id = $1");
    sqlx::query(&sql)
        .bind(id)
        .fetch_optional(db)
        .await?
        .as_ref()
        .map(order)
        .transpose()
}

/// Orders newest first (highest id first: ids grow with time, and unlike
/// timestamps they never tie), optionally of one user.
pub async fn list<'c>(
    db: impl Executor<'c, Database = Any>,
    user_id: Option<&str>,
    skip: i64,
    limit: i64,
) -> Result<Vec<Order>, sqlx::Error> {
    let rows = match user_id {
        Some(user_id) => {
            let sql = format!("SELECT {COLUMNS} FROM orders WHERE user_id = $1 ORDER BY id DESC LIMIT $2 OFFSET $3");
            sqlx::query(&sql)
                .bind(user_id.to_owned())
                .bind(limit)
                .bind(skip)
                .fetch_all(db)
                .await?
        }
        None => {
            let sql = format!("SELECT {COLUMNS} FROM orders ORDER BY id DESC LIMIT $1 OFFSET $2");
            sqlx::query(&sql)
                .bind(limit)
                .bind(skip)
                .fetch_all(db)
                .await?
        }
    };
    rows.iter().map(order).collect()
}

/// Moves an order from `from` to `to` (and sets `payment_id` when given);
/// `None` when it is no longer in `from`, so racing changes cannot both win.
pub async fn transition<'c>(
    db: impl Executor<'c, Database = Any>,
    id: i64,
    from: OrderStatus,
    to: OrderStatus,
    payment_id: Option<&str>,
    now: &str,
) -> Result<Option<Order>, sqlx::Error> {
    let sql = format!(
        "UPDATE orders SET status = $1, payment_id = COALESCE($2, payment_id), updated_at = $3 \
         WHERE id = $4 AND status = $5 RETURNING {COLUMNS}"
    );
    sqlx::query(&sql)
        .bind(to.as_str())
        .bind(payment_id.map(str::to_owned))
        .bind(now.to_owned())
        .bind(id)
        .bind(from.as_str())
        .fetch_optional(db)
        .await?
        .as_ref()
        .map(order)
        .transpose()
}
