//! SQL for cart lines.

use shop_common::db::{Connections, Statements};
use shop_common::paging::Arg;
use shop_common::quantity::MAX_QUANTITY;
use sqlx::any::AnyRow;
use sqlx::{Any, Executor, Row};

use crate::domain::MAX_LINES;

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

/// Adds `quantity` to the user's line of `product_id` unless the line would
/// then exceed `limit`, creating the line only while the cart holds fewer
/// than [`MAX_LINES`]; `None` when refused ([`refusal`] says why). One
/// statement, so two concurrent adds cannot both pass a check.
pub async fn add(
    db: &Connections,
    user_id: &str,
    product_id: i64,
    quantity: i64,
    limit: i64,
    now: &str,
) -> Result<Option<StoredItem>, sqlx::Error> {
    if quantity > limit {
        return Ok(None);
    }
    let add = Statements::new().push(
        format!(
            "INSERT INTO cart_items (user_id, product_id, quantity, created_at) SELECT $1, $2, $3, $4 \
             WHERE (SELECT COUNT(*) FROM cart_items WHERE user_id = $1) < $6 \
             OR EXISTS (SELECT 1 FROM cart_items WHERE user_id = $1 AND product_id = $2) \
             ON CONFLICT (user_id, product_id) DO UPDATE SET quantity = cart_items.quantity + excluded.quantity \
             WHERE cart_items.quantity + excluded.quantity <= $5 RETURNING {COLUMNS}"
        ),
        vec![
            Arg::from(user_id),
            Arg::Int(product_id),
            Arg::Int(quantity),
            Arg::from(now),
            Arg::Int(limit),
            Arg::Int(MAX_LINES),
        ],
    );
    db.commit(add).await?.first().map(item).transpose()
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

/// A removal's lines: each product once, with the units to take or give
/// back.
pub type Lines<'a> = &'a [(i64, i64)];

/// A checkout's removal under `key`, for one batch with its commit: the key
/// claimed (`taking`) only if it is new and the cart holds every line (at
/// least its units); each line taken while this transaction's claim is
/// `taking`; the claim then `taken`, returning the key. So every line is
/// taken, once, or none, and a row comes back only when they were taken
/// now. The user's lines are locked first on PostgreSQL, so nothing changes
/// them between the check and the takes (SQLite's one writer holds the
/// whole transaction); `taking` is never committed.
pub fn removal_of(
    key: &str,
    user_id: &str,
    lines: Lines<'_>,
    now: &str,
    postgres: bool,
) -> Statements {
    const TAKING: &str =
        "EXISTS (SELECT 1 FROM applied_removals WHERE key = $2 AND state = 'taking')";
    let claim = if lines.is_empty() {
        // Nothing to check or take (a VALUES list cannot be empty).
        Statements::new().push(
            "INSERT INTO applied_removals (key, user_id, created_at, state) \
             VALUES ($2, $1, $3, 'taking') ON CONFLICT (key) DO NOTHING",
            vec![user_id.into(), key.into(), now.into()],
        )
    } else {
        let lock = if postgres { " FOR UPDATE" } else { "" };
        let held = format!(
            "{}, held AS (SELECT product_id, quantity FROM cart_items WHERE user_id = $1{lock}) \
             INSERT INTO applied_removals (key, user_id, created_at, state) \
             SELECT $2, $1, $3, 'taking' WHERE (SELECT COUNT(*) FROM wanted \
             JOIN held ON held.product_id = wanted.product_id \
             AND held.quantity >= wanted.quantity) = {} \
             ON CONFLICT (key) DO NOTHING",
            wanted(lines.len(), 4),
            lines.len()
        );
        // The takes' statements share their lines and values ($1 user, $2 key).
        let wanted_here = wanted(lines.len(), 3);
        let take_values = || with_lines(vec![user_id.into(), key.into()], lines);
        Statements::new()
            .push(
                held,
                with_lines(vec![user_id.into(), key.into(), now.into()], lines),
            )
            .push(
                format!(
                    "{wanted_here} DELETE FROM cart_items WHERE user_id = $1 \
                     AND (product_id, quantity) IN (SELECT product_id, quantity FROM wanted) \
                     AND {TAKING}"
                ),
                take_values(),
            )
            .push(
                format!(
                    "{wanted_here} UPDATE cart_items \
                     SET quantity = cart_items.quantity - wanted.quantity \
                     FROM wanted WHERE cart_items.user_id = $1 \
                     AND cart_items.product_id = wanted.product_id AND {TAKING}"
                ),
                take_values(),
            )
    };
    claim.push(
        "UPDATE applied_removals SET state = 'taken' WHERE key = $1 AND state = 'taking' \
         RETURNING key",
        vec![key.into()],
    )
}

/// `WITH wanted (product_id, quantity) AS (VALUES …)` of `lines` lines,
/// their parameters numbered from `$first`.
fn wanted(lines: usize, first: usize) -> String {
    let rows = (0..lines)
        .map(|i| format!("(${}, ${})", first + 2 * i, first + 2 * i + 1))
        .collect::<Vec<_>>()
        .join(", ");
    format!("WITH wanted (product_id, quantity) AS (VALUES {rows})")
}

/// `values`, then each line's product and units (the parameters of
/// [`wanted`]).
fn with_lines(mut values: Vec<Arg>, lines: Lines<'_>) -> Vec<Arg> {
    for &(product_id, quantity) in lines {
        values.push(product_id.into());
        values.push(quantity.into());
    }
    values
}

/// How a removal under a key stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removal {
    /// Never asked for under this key.
    Unknown,
    /// Its lines are out of the cart.
    Taken,
    /// Given back (or refused before anything was taken).
    Restored,
}

/// How the removal under `key` stands.
pub async fn removal<'c>(
    db: impl Executor<'c, Database = Any>,
    key: &str,
) -> Result<Removal, sqlx::Error> {
    let row = sqlx::query("SELECT state FROM applied_removals WHERE key = $1")
        .bind(key.to_owned())
        .fetch_optional(db)
        .await?;
    Ok(match row {
        None => Removal::Unknown,
        Some(row) if row.try_get::<String, _>("state")? == "taken" => Removal::Taken,
        Some(_) => Removal::Restored,
    })
}

/// The first statement of giving back a removal: marks `key` restored if
/// its lines were taken, returning the key when it did; then
/// [`put_back`] (it did) or [`refuse_later`] (it did not), with the commit.
pub fn claim_restore(key: &str) -> Statements {
    Statements::new().push(
        "UPDATE applied_removals SET state = 'restored' WHERE key = $1 AND state = 'taken' \
         RETURNING key",
        vec![key.into()],
    )
}

/// Puts the lines taken under a key back into the user's cart (on top of
/// what was added since, up to [`MAX_QUANTITY`] a line).
pub fn put_back(user_id: &str, lines: Lines<'_>, now: &str) -> Statements {
    lines
        .iter()
        .fold(Statements::new(), |puts, &(product_id, quantity)| {
            puts.push(
                "INSERT INTO cart_items (user_id, product_id, quantity, created_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (user_id, product_id) DO UPDATE SET quantity = \
             CASE WHEN cart_items.quantity + excluded.quantity > $5 THEN $5 \
             ELSE cart_items.quantity + excluded.quantity END",
                vec![
                    user_id.into(),
                    product_id.into(),
                    quantity.into(),
                    now.into(),
                    MAX_QUANTITY.into(),
                ],
            )
        })
}

/// Records a key given back before anything was taken under it, so that a
/// removal arriving late takes nothing.
pub fn refuse_later(key: &str, user_id: &str, now: &str) -> Statements {
    Statements::new().push(
        "INSERT INTO applied_removals (key, user_id, created_at, state) \
         VALUES ($1, $2, $3, 'restored') ON CONFLICT (key) DO NOTHING",
        vec![key.into(), user_id.into(), now.into()],
    )
}
