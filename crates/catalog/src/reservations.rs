//! Stock reservations: how an order takes stock and gives it back (the
//! handlers; the types are in [`crate::domain`], the SQL in
//! [`crate::store::reservations`]).
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
use shop_common::db::is_unique_violation;
use shop_common::error::ErrorBody;
use shop_common::extract::{Json, Path};
use shop_common::{now_rfc3339, ApiError, Quantity, Text};

use crate::domain::{Line, NewReservation, Reservation, ReservationState, MAX_LINES};
use crate::store::reservations as store;
use crate::AppState;

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
    // One transaction in two messages: every line's units (all or none),
    // then the reservation with the commit. A key that exists (a retry) is
    // found when its reservation cannot be stored, or the stock it took
    // cannot be taken again.
    let mut batch = state.db.writer.batch().await?;
    let taken = batch.run(store::take(&lines, &now)).await?;
    let items = match store::reserved(&lines, &taken)? {
        Ok(items) => items,
        Err(short) => {
            batch.rollback().await?;
            if let Some(existing) = store::find(&state.db.reader, key).await? {
                return already(existing);
            }
            return Err(store::shortage(&state.db.reader, short).await?);
        }
    };
    match batch.commit(store::insert(key, &items, &now)?).await {
        Ok(_) => {}
        Err(err) if is_unique_violation(&err) => {
            // Another request reserved or released this key first: the
            // batch rolled ours back; theirs stands.
            let existing = store::find(&state.db.reader, key)
                .await?
                .ok_or_else(|| ApiError::internal(format!("reservation {key} vanished")))?;
            return already(existing);
        }
        Err(err) => return Err(err.into()),
    }
    state.reservations.with_label_values(&["held"]).inc();
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
    store::find(&state.db.reader, &key)
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
    store::tombstone(&mut tx, &key, &now).await?;
    let gave_back = store::release(&mut tx, &key, &now).await?;
    let released = store::find(&mut *tx, &key)
        .await?
        .ok_or_else(|| ApiError::internal(format!("reservation {key} vanished")))?;
    tx.commit().await?;
    if gave_back {
        state.reservations.with_label_values(&["released"]).inc();
    }
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
