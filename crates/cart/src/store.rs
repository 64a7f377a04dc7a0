//! SQL for cart lines.

use shop_common::db::Statements;
use sqlx::any::AnyRow;
use sqlx::{Any, Executor, Row};

/// A stored cart line, before the catalog's data is joined in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredItem {
    pub id: i64,
    pub user_id: String,
    pub product_id: i64,
    pub quantity: i64,
    pub created_at: String,
}

const COLUMNS: &str = "id, user_id, product_id, quantity, created_at";

fn item(row: &AnyRow) -> Result<StoredItem, sqlx::Error> {
    Ok(StoredItem {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        product_id: row.try_get("product_id")?,
        quantity: row.try_get("quantity")?,
        created_at: row.try_get("created_at")?,
    })
}

/// A user's lines, oldest first.
pub async fn items<'c>(
    db: impl Executor<'c, Database = Any>,
    user_id: &str,
) -> Result<Vec<StoredItem>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM cart_items WHERE user_id = $1 ORDER BY id");
    sqlx::query(&sql)
        .bind(user_id.to_owned())
        .fetch_all(db)
        .await?
        .iter()
        .map(item)
        .collect()
}

/// The most different products one cart holds (what one order can
/// reserve, and one catalog read can price).
pub const MAX_LINES: i64 = 1000;

/// Adds `quantity` to the user's line of `product_id` unless the line would
/// then exceed `limit`, creating the line only while the cart holds fewer
/// than [`MAX_LINES`]; `None` when refused ([`refusal`] says why). One
/// statement, so two concurrent adds cannot both pass a check.
pub async fn add<'c>(
    db: impl Executor<'c, Database = Any>,
    user_id: &str,
    product_id: i64,
    quantity: i64,
    limit: i64,
    now: &str,
) -> Result<Option<StoredItem>, sqlx::Error> {
    if quantity > limit {
        return Ok(None);
    }
    let sql = format!(
        "INSERT INTO cart_items (user_id, product_id, quantity, created_at) SELECT $1, $2, $3, $4 \
         WHERE (SELECT COUNT(*) FROM cart_items WHERE user_id = $1) < $6 \
         OR EXISTS (SELECT 1 FROM cart_items WHERE user_id = $1 AND product_id = $2) \
         ON CONFLICT (user_id, product_id) DO UPDATE SET quantity = cart_items.quantity + excluded.quantity \
         WHERE cart_items.quantity + excluded.quantity <= $5 RETURNING {COLUMNS}"
    );
    sqlx::query(&sql)
        .bind(user_id.to_owned())
        .bind(product_id)
        .bind(quantity)
        .bind(now.to_owned())
        .bind(limit)
        .bind(MAX_LINES)
        .fetch_optional(db)
        .await?
        .as_ref()
        .map(item)
        .transpose()
}

/// Why [`add`] refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The line would exceed its limit (the stock).
    Limit,
    /// A new line, and the cart holds [`MAX_LINES`] already.
    Full,
}

/// Why [`add`] refused `product_id` for `user_id`.
pub async fn refusal<'c>(
    db: impl Executor<'c, Database = Any>,
    user_id: &str,
    product_id: i64,
) -> Result<Refusal, sqlx::Error> {
    let row = sqlx::query(
        "SELECT COUNT(*) AS lines, \
         COALESCE(SUM(CASE WHEN product_id = $2 THEN 1 ELSE 0 END), 0) AS has_line \
         FROM cart_items WHERE user_id = $1",
    )
    .bind(user_id.to_owned())
    .bind(product_id)
    .fetch_one(db)
    .await?;
    let lines: i64 = row.try_get("lines")?;
    let has_line: i64 = row.try_get("has_line")?;
    Ok(if has_line == 0 && lines >= MAX_LINES {
        Refusal::Full
    } else {
        Refusal::Limit
    })
}

/// Sets the quantity of an existing line; false when there is no such line.
pub async fn set_quantity<'c>(
    db: impl Executor<'c, Database = Any>,
    user_id: &str,
    product_id: i64,
    quantity: i64,
) -> Result<bool, sqlx::Error> {
    let done =
        sqlx::query("UPDATE cart_items SET quantity = $1 WHERE user_id = $2 AND product_id = $3")
            .bind(quantity)
            .bind(user_id.to_owned())
            .bind(product_id)
            .execute(db)
            .await?;
    Ok(done.rows_affected() > 0)
}

/// Removes one line; false when there was none.
pub async fn remove<'c>(
    db: impl Executor<'c, Database = Any>,
    user_id: &str,
    product_id: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM cart_items WHERE user_id = $1 AND product_id = $2")
        .bind(user_id.to_owned())
        .bind(product_id)
        .execute(db)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// Removes every line of a user.
pub async fn clear<'c>(
    db: impl Executor<'c, Database = Any>,
    user_id: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM cart_items WHERE user_id = $1")
        .bind(user_id.to_owned())
        .execute(db)
        .await?;
    Ok(())
}

/// Takes `quantity` units of `product_id` out of a user's cart (what an
/// order bought), deleting the line when nothing is left. Units added after
/// the order was placed stay. The statements, for a batch.
pub fn take(user_id: &str, product_id: i64, quantity: i64) -> Statements {
    Statements::new()
        .push(
            "DELETE FROM cart_items WHERE user_id = $1 AND product_id = $2 AND quantity <= $3",
            vec![user_id.into(), product_id.into(), quantity.into()],
        )
        .push(
            "UPDATE cart_items SET quantity = quantity - $1 WHERE user_id = $2 AND product_id = $3",
            vec![quantity.into(), user_id.into(), product_id.into()],
        )
}

/// Records that the removal under `key` is applied, in the removal's
/// transaction: the statement, for a batch, returning the key when it was
/// not applied before.
pub fn claim_removal(key: &str, user_id: &str, now: &str) -> Statements {
    Statements::new().push(
        "INSERT INTO applied_removals (key, user_id, created_at) VALUES ($1, $2, $3) \
         ON CONFLICT (key) DO NOTHING RETURNING key",
        vec![key.into(), user_id.into(), now.into()],
    )
}
