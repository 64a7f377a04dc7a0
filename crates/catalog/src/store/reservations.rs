//! SQL for stock reservations: taken all or none with conditional updates,
//! released once, released keys kept as tombstones.

use shop_common::db::Statements;
use shop_common::{ApiError, Money};
use sqlx::any::AnyRow;
use sqlx::{Any, AnyConnection, Executor, Row};

use crate::domain::{Line, Reservation, ReservationState, ReservedLine};

fn reservation(row: &AnyRow) -> Result<Reservation, sqlx::Error> {
    let state: String = row.try_get("state")?;
    let items: String = row.try_get("items")?;
    Ok(Reservation {
        key: row.try_get("key")?,
        state: if state == "held" {
            ReservationState::Held
        } else {
            ReservationState::Released
        },
        items: serde_json::from_str(&items)
            .map_err(|err| sqlx::Error::Decode(format!("reservation items: {err}").into()))?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

pub async fn find<'c>(
    db: impl Executor<'c, Database = Any>,
    key: &str,
) -> Result<Option<Reservation>, sqlx::Error> {
    sqlx::query("SELECT key, state, items, created_at, updated_at FROM reservations WHERE key = $1")
        .bind(key.to_owned())
        .fetch_optional(db)
        .await?
        .as_ref()
        .map(reservation)
        .transpose()
}

/// A new reservation: the statement, for the batch that took its stock. It
/// fails when the key exists (reserved or released by another request),
/// which rolls that batch back.
pub fn insert(key: &str, items: &[ReservedLine], now: &str) -> Result<Statements, sqlx::Error> {
    let items = serde_json::to_string(items).map_err(|err| sqlx::Error::Encode(err.into()))?;
    Ok(Statements::new().push(
        "INSERT INTO reservations (key, state, items, created_at, updated_at) \
         VALUES ($1, 'held', $2, $3, $3)",
        vec![key.into(), items.into(), now.into()],
    ))
}

/// Marks a key never reserved as released, so a late reserve under it
/// fails; nothing when the key exists.
pub async fn tombstone(conn: &mut AnyConnection, key: &str, now: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO reservations (key, state, items, created_at, updated_at) \
         VALUES ($1, 'released', '[]', $2, $2) ON CONFLICT (key) DO NOTHING",
    )
    .bind(key.to_owned())
    .bind(now.to_owned())
    .execute(conn)
    .await?;
    Ok(())
}

/// Takes each line's units unless its product lacks them: the statements,
/// for a batch; each returns its product's row when it took the units
/// (see [`reserved`]).
pub fn take(lines: &[Line], now: &str) -> Statements {
    lines.iter().fold(Statements::new(), |takes, line| {
        takes.push(
            "UPDATE products SET stock = stock - $1, updated_at = $2 WHERE id = $3 AND stock >= $1 \
             RETURNING id, name, price_cents",
            vec![line.quantity.get().into(), now.into(), line.product_id.into()],
        )
    })
}

/// The lines [`take`] took, priced; or the first line it could not take.
pub fn reserved(
    lines: &[Line],
    taken: &[AnyRow],
) -> Result<Result<Vec<ReservedLine>, Line>, ApiError> {
    let mut reserved = Vec::with_capacity(lines.len());
    for line in lines {
        let row = taken
            .iter()
            .find(|row| row.try_get::<i64, _>("id").ok() == Some(line.product_id));
        let Some(row) = row else {
            return Ok(Err(*line));
        };
        let cents: i64 = row.try_get("price_cents")?;
        reserved.push(ReservedLine {
            product_id: line.product_id,
            quantity: line.quantity,
            name: row.try_get("name")?,
            price: Money::from_cents(cents)
                .ok_or_else(|| ApiError::internal(format!("negative price {cents}")))?,
        });
    }
    Ok(Ok(reserved))
}

/// Why `line` could not be taken (the refusal to answer): its product is
/// gone, or has fewer units.
pub async fn shortage<'c>(
    db: impl Executor<'c, Database = Any>,
    line: Line,
) -> Result<ApiError, sqlx::Error> {
    let units = line.quantity.get();
    let product = sqlx::query("SELECT name, stock FROM products WHERE id = $1")
        .bind(line.product_id)
        .fetch_optional(db)
        .await?;
    let detail = match product {
        None => format!("Product {} no longer exists", line.product_id),
        Some(row) => {
            let name: String = row.try_get("name")?;
            let stock: i64 = row.try_get("stock")?;
            format!(
                "Insufficient stock for product {} ({name}): {stock} available, {units} requested",
                line.product_id
            )
        }
    };
    Ok(ApiError::StockConflict {
        product_id: line.product_id,
        detail,
    })
}

/// Marks `key` released if it holds stock, and gives that stock back (a
/// product deleted meanwhile has none to return to).
pub async fn release(conn: &mut AnyConnection, key: &str, now: &str) -> Result<bool, sqlx::Error> {
    let flipped = sqlx::query(
        "UPDATE reservations SET state = 'released', updated_at = $1 WHERE key = $2 AND state = 'held' \
         RETURNING items",
    )
    .bind(now.to_owned())
    .bind(key.to_owned())
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = flipped else {
        return Ok(false);
    };
    {
        let items: String = row.try_get("items")?;
        let items: Vec<ReservedLine> = serde_json::from_str(&items)
            .map_err(|err| sqlx::Error::Decode(format!("reservation items: {err}").into()))?;
        for line in items {
            sqlx::query("UPDATE products SET stock = stock + $1, updated_at = $2 WHERE id = $3")
                .bind(line.quantity.get())
                .bind(now.to_owned())
                .bind(line.product_id)
                .execute(&mut *conn)
                .await?;
        }
    }
    Ok(true)
}
