//! SQL for stock reservations: taken all or none with conditional updates,
//! released once, released keys kept as tombstones.

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

pub async fn insert(
    conn: &mut AnyConnection,
    key: &str,
    state: ReservationState,
    items: &[ReservedLine],
    now: &str,
) -> Result<bool, sqlx::Error> {
    let items = serde_json::to_string(items).map_err(|err| sqlx::Error::Encode(err.into()))?;
    let state = match state {
        ReservationState::Held => "held",
        ReservationState::Released => "released",
    };
    let done = sqlx::query(
        "INSERT INTO reservations (key, state, items, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $4) ON CONFLICT (key) DO NOTHING",
    )
    .bind(key.to_owned())
    .bind(state)
    .bind(items)
    .bind(now.to_owned())
    .execute(conn)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// Takes `line`'s units unless the product lacks them; the error names it.
pub async fn take(
    conn: &mut AnyConnection,
    line: Line,
    now: &str,
) -> Result<ReservedLine, ApiError> {
    let units = line.quantity.get();
    let taken = sqlx::query(
        "UPDATE products SET stock = stock - $1, updated_at = $2 WHERE id = $3 AND stock >= $1 \
         RETURNING name, price_cents",
    )
    .bind(units)
    .bind(now.to_owned())
    .bind(line.product_id)
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(row) = taken {
        let cents: i64 = row.try_get("price_cents")?;
        return Ok(ReservedLine {
            product_id: line.product_id,
            quantity: line.quantity,
            name: row.try_get("name")?,
            price: Money::from_cents(cents)
                .ok_or_else(|| ApiError::internal(format!("negative price {cents}")))?,
        });
    }
    let product = sqlx::query("SELECT name, stock FROM products WHERE id = $1")
        .bind(line.product_id)
        .fetch_optional(&mut *conn)
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
    Err(ApiError::StockConflict {
        product_id: line.product_id,
        detail,
    })
}

/// Marks `key` released if it holds stock, and gives that stock back (a
/// product deleted meanwhile has none to return to).
pub async fn release(conn: &mut AnyConnection, key: &str, now: &str) -> Result<(), sqlx::Error> {
    let flipped = sqlx::query(
        "UPDATE reservations SET state = 'released', updated_at = $1 WHERE key = $2 AND state = 'held' \
         RETURNING items",
    )
    .bind(now.to_owned())
    .bind(key.to_owned())
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(row) = flipped {
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
    Ok(())
}
