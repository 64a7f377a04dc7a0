//! Payment HTTP handlers.

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use shop_common::access::Caller;
use shop_common::access::SignedIn;
use shop_common::auth::{service_only, SERVICE_TOKEN_HEADER};
use shop_common::db::is_unique_violation;
use shop_common::db::{Guard, Statements};
use shop_common::error::ErrorBody;
use shop_common::extract::{Json, Path, Query};
use shop_common::idempotency::{begin, commit_answer, first_answer, Idempotency, Keyed};
use shop_common::paging::{self, Position, Window};
use shop_common::{now_rfc3339, ApiError};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use shop_common::PaymentMethod;

use crate::domain::{ListQuery, NewPayment, Payment, PaymentStatus};
use crate::{store, AppState};

/// The payment routes, each declared once for the router and the document.
pub fn router(state: AppState) -> OpenApiRouter {
    let token = state.service_token.clone();
    OpenApiRouter::new()
        .routes(routes!(list_payments, create_payment))
        .routes(routes!(get_payment))
        .routes(routes!(latest_payment_of_order))
        .routes(service_only(routes!(refund_payment), token))
        .with_state(state)
}

/// Create a payment. With the service credential, the order service
/// records its payment attempt (below). Without it, a client pays an order
/// the seed's way: through the order's own flow ([`pay_for_client`]). A `card` payment (the default) succeeds with
/// probability `PAYMENT_SUCCESS_RATE`; a `manual` one (money taken outside
/// Shop) always does. A declined payment is stored too, with status
/// `failed`. A payment is recorded only for an existing order, for its
/// exact total, under the Idempotency-Key of the attempt that holds the
/// order (the payment service asks the order service); an order is charged
/// at most once. A retry with the same key returns the first answer and
/// charges nothing.
#[utoipa::path(post, path = "/payments", tag = "payment", request_body = NewPayment,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe")),
    responses(
        (status = 201, description = "The payment, `success` or `failed`", body = Payment),
        (status = 400, description = "The order is not payable", body = ErrorBody),
        (status = 401, description = "A wrong service credential, or auth on and no valid access token", body = ErrorBody),
        (status = 404, description = "No such order", body = ErrorBody),
        (status = 409, description = "The order was already paid, or the key is not the order's payment attempt", body = ErrorBody),
        (status = 422, description = "Invalid body, an amount other than the order's total, or the key was used for another request", body = ErrorBody),
        (status = 503, description = "The order service is unreachable", body = ErrorBody)))]
pub async fn create_payment(
    caller: Caller,
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(new): Json<NewPayment>,
) -> Result<Response, ApiError> {
    if new.order_id < 1 {
        return Err(ApiError::Unprocessable(
            "order_id must be at least 1".to_owned(),
        ));
    }
    if let Some(token) = &state.service_token {
        if headers.contains_key(SERVICE_TOKEN_HEADER) && !token.admits(&headers) {
            return Err(ApiError::Unauthorized(
                "The service credential is wrong".to_owned(),
            ));
        }
        if !token.admits(&headers) {
            return pay_for_client(&state, &caller, &headers, &new).await;
        }
    }
    let idem = match begin(&headers, "POST /payments", &new, &state.db.reader).await? {
        Keyed::Replay(first) => return Ok(first),
        Keyed::Proceed(idem) => idem,
    };
    if let Err(refused) = check_attempt(&state, &new, idem.as_ref()).await {
        // A racing request with the same key may have recorded its payment
        // (and the order service marked the order paid with it) meanwhile:
        // its answer is this request's answer too.
        if let Some(idem) = &idem {
            if let Some(first) = idem.replay(&state.db.reader).await? {
                return Ok(first.into_response());
            }
        }
        return Err(refused);
    }
    // A manual payment records money taken outside Shop: nothing to decline.
    let status = if new.method == PaymentMethod::Manual || state.decider.approve() {
        PaymentStatus::Success
    } else {
        PaymentStatus::Failed
    };
    let payment = Payment {
        id: uuid::Uuid::new_v4().to_string(),
        order_id: new.order_id,
        amount: new.amount,
        status,
        method: new.method,
        created_at: now_rfc3339(),
        refund: None,
    };
    // One transaction in one message: the payment unless the order is paid
    // already, and the record of its answer if it was stored.
    let record = match &idem {
        Some(idem) => {
            let stored = Guard::new("payments WHERE id = $1", vec![payment.id.as_str().into()]);
            idem.recorded_first_when(StatusCode::CREATED, &payment, &stored)?
        }
        None => Statements::new(),
    };
    let readers = &state.db.reader;
    let stored = state
        .db
        .writer
        .commit(store::insert_unless_paid(&payment).then(record))
        .await;
    match stored {
        Ok(rows) if !rows.is_empty() => {
            state
                .payments
                .with_label_values(&[payment.status.as_str(), payment.method.as_str()])
                .inc();
            Ok((StatusCode::CREATED, Json(payment)).into_response())
        }
        Ok(_) => {
            let paid = store::success_of(readers, new.order_id).await?;
            let paid = paid.map(|paid| format!(" (payment {})", paid.id));
            let refusal = ApiError::Conflict(format!(
                "Order {} is already paid{}",
                new.order_id,
                paid.unwrap_or_default()
            ));
            let batch = state.db.writer.batch().await?;
            let answered = commit_answer(
                idem.as_ref(),
                batch,
                Statements::new(),
                readers,
                refusal.status(),
                &refusal.body(),
            )
            .await?;
            Ok(answered?)
        }
        Err(err) => {
            if let Some(first) = first_answer(idem.as_ref(), &err, readers).await? {
                return Ok(first);
            }
            if is_unique_violation(&err) {
                // A concurrent request (another replica) charged the order first.
                return Err(ApiError::Conflict(format!(
                    "Order {} is already paid",
                    new.order_id
                )));
            }
            Err(err.into())
        }
    }
}

/// A client's `POST /payments` (the seed's way to pay): the order is paid
/// through its own flow, with the same claim and at-most-once charge as
/// `POST /orders/{id}/payment`; the answer is the seed's, the payment made,
/// `success` or `failed` (201). With auth on, only the order's owner and
/// staff may (another's order is 404).
async fn pay_for_client(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    new: &NewPayment,
) -> Result<Response, ApiError> {
    caller.signed_in()?;
    let missing = || ApiError::NotFound(format!("Order {} not found", new.order_id));
    let attempt = state.orders.attempt(new.order_id).await?;
    if !caller.sees(&attempt.user_id) {
        return Err(missing());
    }
    if new.amount != attempt.total_amount {
        return Err(ApiError::Unprocessable(format!(
            "amount must be the order's total, {}",
            attempt.total_amount
        )));
    }
    let key = headers.get(shop_common::idempotency::HEADER);
    let paid = match state.orders.pay(new.order_id, key).await {
        Ok(order) => order.payment_id,
        // Declined: the failed attempt is the answer.
        Err(ApiError::BadRequest(detail)) if detail == "Payment failed" => None,
        Err(other) => return Err(other),
    };
    let payment = match paid {
        Some(id) => store::get(&state.db.reader, &id).await?,
        None => store::list(&state.db.reader, Some(new.order_id), 0, 1)
            .await?
            .into_iter()
            .next(),
    };
    let payment = payment.ok_or_else(|| {
        ApiError::internal(format!(
            "order {} paid without a payment record",
            new.order_id
        ))
    })?;
    Ok((StatusCode::CREATED, Json(payment)).into_response())
}

/// Refuses a payment that is not the order service's current attempt: for
/// an order that does not exist (404), another amount than its total
/// (422), an order that cannot be paid (400), or another key or method than
/// the attempt's (409). Nothing is recorded then.
async fn check_attempt(
    state: &AppState,
    new: &NewPayment,
    idem: Option<&Idempotency>,
) -> Result<(), ApiError> {
    let attempt = state.orders.attempt(new.order_id).await?;
    if new.amount != attempt.total_amount {
        return Err(ApiError::Unprocessable(format!(
            "amount must be the order's total, {}",
            attempt.total_amount
        )));
    }
    if !attempt.is_payable() {
        return Err(ApiError::BadRequest(format!(
            "Order is not in pending status (it is {})",
            attempt.status
        )));
    }
    let ours = idem.is_some_and(|idem| attempt.key.as_deref() == Some(idem.key()));
    if !ours || attempt.method != new.method {
        return Err(ApiError::Conflict(format!(
            "Order {} is not being paid under this key; pay it through POST /orders/{}/payment",
            attempt.order_id, attempt.order_id
        )));
    }
    Ok(())
}

/// Refund a payment in full, for the order service when it cancels a paid
/// order (service only: a client cancels the order). Only a successful
/// payment of a cancelled order is refunded, and at most once: asking again
/// (a retry, recovery after a crash, a racing cancel) answers the refund
/// already made, with 200 instead of 201.
#[utoipa::path(post, path = "/payments/{payment_id}/refund", tag = "payment",
    params(("payment_id" = String, Path, description = "Payment UUID")),
    responses(
        (status = 201, description = "Refunded now: the payment with its refund", body = Payment),
        (status = 200, description = "Refunded before: the payment with that refund", body = Payment),
        (status = 401, description = "Without the service credential", body = ErrorBody),
        (status = 404, description = "No such payment", body = ErrorBody),
        (status = 409, description = "The payment did not succeed, or its order is not cancelled", body = ErrorBody),
        (status = 503, description = "The order service is unreachable", body = ErrorBody)))]
pub async fn refund_payment(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let db = &state.db.writer;
    let payment = store::get(db, &id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("Payment {id} not found")))?;
    if payment.refund.is_some() {
        return Ok((StatusCode::OK, Json(payment)).into_response());
    }
    if payment.status != PaymentStatus::Success {
        return Err(ApiError::Conflict(format!(
            "Payment {id} is {}: only a successful payment can be refunded",
            payment.status.as_str()
        )));
    }
    let order = state.orders.attempt(payment.order_id).await?;
    if order.status != "cancelled" {
        return Err(ApiError::Conflict(format!(
            "Order {} is {}: a payment is refunded when its order is cancelled",
            payment.order_id, order.status
        )));
    }
    let created = store::refund(db, &payment, &now_rfc3339()).await?;
    let refunded = store::get(db, &id)
        .await?
        .ok_or_else(|| ApiError::internal(format!("payment {id} vanished while refunded")))?;
    let status = if created {
        tracing::info!(payment_id = %id, order_id = payment.order_id, "payment refunded");
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(refunded)).into_response())
}

/// One payment.
#[utoipa::path(get, path = "/payments/{payment_id}", tag = "payment",
    params(("payment_id" = String, Path, description = "Payment UUID")),
    responses(
        (status = 401, description = "Auth on: no valid access token", body = ErrorBody),
        (status = 200, description = "The payment", body = Payment),
        (status = 404, description = "No such payment", body = ErrorBody)))]
pub async fn get_payment(
    SignedIn(caller): SignedIn,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Payment>, ApiError> {
    let missing = || ApiError::NotFound(format!("Payment {id} not found"));
    let payment = store::get(&state.db.reader, &id)
        .await?
        .ok_or_else(missing)?;
    // Another customer's payment is as if it did not exist.
    if !state.orders.visible(&caller, payment.order_id).await? {
        return Err(missing());
    }
    Ok(Json(payment))
}

/// The most recent payment of an order.
#[utoipa::path(get, path = "/payments/order/{order_id}", tag = "payment",
    params(("order_id" = i64, Path, description = "Order id")),
    responses(
        (status = 401, description = "Auth on: no valid access token", body = ErrorBody),
        (status = 200, description = "The order's latest payment", body = Payment),
        (status = 404, description = "The order has no payment", body = ErrorBody),
        (status = 422, description = "The order id is not a 64-bit integer", body = ErrorBody)))]
pub async fn latest_payment_of_order(
    SignedIn(caller): SignedIn,
    State(state): State<AppState>,
    Path(order_id): Path<i64>,
) -> Result<Json<Payment>, ApiError> {
    let missing = || ApiError::NotFound(format!("No payment found for order {order_id}"));
    if !state.orders.visible(&caller, order_id).await? {
        return Err(missing());
    }
    store::list(&state.db.reader, Some(order_id), 0, 1)
        .await?
        .into_iter()
        .next()
        .map(Json)
        .ok_or_else(missing)
}

/// Payments, newest first; `order_id` lists one order's attempts. Paged by
/// `skip`/`limit` or by the cursors of the `Link` header.
#[utoipa::path(get, path = "/payments", tag = "payment", params(ListQuery),
    responses(
        (status = 401, description = "Auth on: no valid access token", body = ErrorBody),
        (status = 403, description = "Auth on: a customer without ?order_id=", body = ErrorBody),
        (status = 200, description = "Payments, newest first; `Link` names the next and previous pages", body = [Payment]),
        (status = 422, description = "Bad query", body = ErrorBody)))]
pub async fn list_payments(
    SignedIn(caller): SignedIn,
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
    Query(query): Query<ListQuery>,
) -> Result<Response, ApiError> {
    let window = Window::new(Position {
        skip: query.skip,
        limit: query.limit,
        after: query.after.as_deref(),
        before: query.before.as_deref(),
        last: query.last,
    })?;
    window.fits(&store::SORT)?;
    if caller.only_user().is_some() {
        // A customer lists the payments of one of their own orders.
        let Some(order_id) = query.order_id else {
            return Err(ApiError::Forbidden(
                "Customers list the payments of one of their orders: ?order_id=".to_owned(),
            ));
        };
        if !state.orders.visible(&caller, order_id).await? {
            return Ok(Json(Vec::<Payment>::new()).into_response());
        }
    }
    let page = store::page(&state.db.reader, query.order_id, &window).await?;
    Ok(paging::response(raw.as_deref(), page, None))
}
