//! Stock reservations: how an order takes stock and gives it back.
//!
//! A reservation is keyed by its caller (the order service uses one key per
//! checkout). Reserving takes the stock of every item in one transaction,
//! all items or none, with conditional updates (`stock >= quantity`), so no
//! concurrency can oversell. Reserving again with the same key changes
//! nothing; releasing returns the stock exactly once, however often it is
//! repeated or raced. Releasing a key never reserved leaves a `released`
//! tombstone, so a reserve call that arrives late (after its checkout was
//! abandoned) cannot take stock any more.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Router;
use serde::{Deserialize, Serialize};
use shop_common::error::ErrorBody;
use shop_common::extract::{Json, Path};
use shop_common::{now_rfc3339, ApiError, Money, Quantity, Text};
use sqlx::any::AnyRow;
use sqlx::{Any, AnyConnection, Executor, Row};
use utoipa::ToSchema;

use crate::AppState;

/// The most lines one reservation may hold.
pub const MAX_LINES: usize = 1000;

/// Units of one product.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Line {
    pub product_id: i64,
    pub quantity: Quantity,
}

/// The body of `POST /reservations`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct NewReservation {
    /// The caller's key; the same key always means the same reservation.
    pub key: Text<1, 200>,
    /// At least one line, at most 1000.
    pub items: Vec<Line>,
}

/// Whether a reservation still holds its stock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ReservationState {
    Held,
    Released,
}

/// A reserved line, with the product's name and price when it was reserved:
/// the price an order built on this reservation charges.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ReservedLine {
    pub product_id: i64,
    pub quantity: Quantity,
    pub name: String,
    pub price: Money,
}

/// A reservation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Reservation {
    pub key: String,
    pub state: ReservationState,
    /// One line per product, by product id.
    pub items: Vec<ReservedLine>,
    pub created_at: String,
    pub updated_at: String,
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/reservations", post(create_reservation))
        .route("/reservations/{key}", get(get_reservation))
        .route("/reservations/{key}/release", post(release_reservation))
        .with_state(state)
}

/// Same products summed into one line each, by product id (so concurrent
/// transactions lock rows in one order).
fn merge(lines: &[Line]) -> Result<Vec<Line>, ApiError> {
    let mut merged: BTreeMap<i64, i64> = BTreeMap::new();
    for line in lines {
        *merged.entry(line.product_id).or_default() += line.quantity.get();
    }
    merged
        .into_iter()
        .map(|(product_id, units)| {
            Quantity::new(units)
                .map(|quantity| Line {
                    product_id,
                    quantity,
                })
                .ok_or_else(|| {
                    ApiError::Unprocessable(format!("too many units of product {product_id}"))
                })
        })
        .collect()
}

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

async fn find<'c>(
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

async fn insert(
    conn: &mut AnyConnection,
    key: &str,
    state: ReservationState,
    items: &[ReservedLine],
    now: &str,
) -> Result<bool, ApiError> {
    let items = serde_json::to_string(items).map_err(|err| ApiError::Internal(err.to_string()))?;
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
async fn take(conn: &mut AnyConnection, line: Line, now: &str) -> Result<ReservedLine, ApiError> {
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
                .ok_or_else(|| ApiError::Internal(format!("negative price {cents}")))?,
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

/// The answer to reserving a key that exists: the reservation while it
/// holds, a conflict once released.
fn already(existing: Reservation) -> Result<(StatusCode, Json<Reservation>), ApiError> {
    match existing.state {
        ReservationState::Held => Ok((StatusCode::OK, Json(existing))),
        ReservationState::Released => Err(ApiError::Conflict(format!(
            "Reservation {} was released; reserve under a new key",
            existing.key
        ))),
    }
}

/// Reserve the stock of every item, all or none.
#[utoipa::path(post, path = "/reservations", tag = "reservations", request_body = NewReservation,
    responses(
        (status = 201, description = "Reserved", body = Reservation),
        (status = 200, description = "Already reserved under this key", body = Reservation),
        (status = 409, description = "Not enough stock for a product (named, with `product_id`), or the key was released", body = ErrorBody),
        (status = 422, description = "Invalid body", body = ErrorBody)))]
pub async fn create_reservation(
    State(state): State<AppState>,
    Json(new): Json<NewReservation>,
) -> Result<(StatusCode, Json<Reservation>), ApiError> {
    if new.items.is_empty() || new.items.len() > MAX_LINES {
        return Err(ApiError::Unprocessable(format!(
            "items must hold from 1 to {MAX_LINES} lines"
        )));
    }
    let lines = merge(&new.items)?;
    let key = new.key.as_str();
    let now = now_rfc3339();
    let mut tx = state.db.writer.begin().await?;
    if let Some(existing) = find(&mut *tx, key).await? {
        return already(existing);
    }
    let mut items = Vec::with_capacity(lines.len());
    for line in lines {
        // An error drops `tx`, which rolls back every line taken so far.
        items.push(take(&mut tx, line, &now).await?);
    }
    if !insert(&mut tx, key, ReservationState::Held, &items, &now).await? {
        // Another transaction reserved this key first (PostgreSQL replicas):
        // undo ours and answer with theirs.
        tx.rollback().await?;
        let existing = find(&state.db.writer, key)
            .await?
            .ok_or_else(|| ApiError::Internal(format!("reservation {key} vanished")))?;
        return already(existing);
    }
    tx.commit().await?;
    let reserved = Reservation {
        key: key.to_owned(),
        state: ReservationState::Held,
        items,
        created_at: now.clone(),
        updated_at: now,
    };
    Ok((StatusCode::CREATED, Json(reserved)))
}

/// One reservation.
#[utoipa::path(get, path = "/reservations/{key}", tag = "reservations",
    params(("key" = String, Path, description = "The reservation's key")),
    responses(
        (status = 200, description = "The reservation", body = Reservation),
        (status = 404, description = "No such reservation", body = ErrorBody)))]
pub async fn get_reservation(
    State(state): State<AppState>,
    Path(key): Path<String>,
) -> Result<Json<Reservation>, ApiError> {
    find(&state.db.reader, &key)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("Reservation {key} not found")))
}

/// Give a reservation's stock back, exactly once.
#[utoipa::path(post, path = "/reservations/{key}/release", tag = "reservations",
    params(("key" = String, Path, description = "The reservation's key")),
    responses(
        (status = 200, description = "Released (now or before); a key never reserved is marked released", body = Reservation),
        (status = 422, description = "Invalid key", body = ErrorBody)))]
pub async fn release_reservation(
    State(state): State<AppState>,
    Path(key): Path<String>,
) -> Result<Json<Reservation>, ApiError> {
    let key = Text::<1, 200>::parse(&key)
        .map_err(|why| ApiError::Unprocessable(format!("key {why}")))?
        .into_string();
    let now = now_rfc3339();
    let mut tx = state.db.writer.begin().await?;
    // A tombstone when the key is new; nothing when it exists.
    insert(&mut tx, &key, ReservationState::Released, &[], &now).await?;
    let flipped = sqlx::query(
        "UPDATE reservations SET state = 'released', updated_at = $1 WHERE key = $2 AND state = 'held' \
         RETURNING items",
    )
    .bind(now.clone())
    .bind(key.clone())
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(row) = flipped {
        let items: String = row.try_get("items")?;
        let items: Vec<ReservedLine> = serde_json::from_str(&items)
            .map_err(|err| ApiError::Internal(format!("reservation items: {err}")))?;
        for line in items {
            // A product deleted meanwhile has no stock to return to.
            sqlx::query("UPDATE products SET stock = stock + $1, updated_at = $2 WHERE id = $3")
                .bind(line.quantity.get())
                .bind(now.clone())
                .bind(line.product_id)
                .execute(&mut *tx)
                .await?;
        }
    }
    let released = find(&mut *tx, &key)
        .await?
        .ok_or_else(|| ApiError::Internal(format!("reservation {key} vanished")))?;
    tx.commit().await?;
    Ok(Json(released))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(product_id: i64, units: i64) -> Line {
        Line {
            product_id,
            quantity: Quantity::new(units).unwrap(),
        }
    }

    #[test]
    fn lines_of_one_product_are_merged_in_id_order() {
        let merged = merge(&[line(3, 1), line(1, 2), line(3, 4)]).unwrap();
        assert_eq!(merged, vec![line(1, 2), line(3, 5)]);
        assert!(merge(&[line(1, 1_000_000), line(1, 1)]).is_err());
    }
}
