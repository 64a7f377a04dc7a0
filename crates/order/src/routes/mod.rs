//! Order HTTP handlers: extract, call a workflow or the store, map the
//! answer. The work itself is in [`crate::workflow`]; the event feed's
//! handlers are in [`events`], the statistics' in [`stats`].

pub mod events;
pub mod stats;

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use shop_common::access::{Caller, SignedIn};
use shop_common::auth::service_only;
use shop_common::error::ErrorBody;
use shop_common::extract::{Json, OptionalJson, Path, Query};
use shop_common::idempotency::{begin, Idempotency, Keyed};
use shop_common::paging;
use shop_common::{ApiError, PaymentMethod, UserId};

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::domain::{
    NewOrder, Order, OrderFilter, OrderQuery, OrderStatus, PaymentAttempt, StatusQuery,
    StatusUpdate,
};
use crate::store::orders;
use crate::workflow::{checkout, load, not_found, paying, status, Answer};
use crate::AppState;

/// The order routes, each declared once for the router and the document.
pub fn router(state: AppState) -> OpenApiRouter {
    let token = state.service_token.clone();
    OpenApiRouter::new()
        .routes(routes!(list_orders, create_order))
        .routes(routes!(get_order))
        .routes(routes!(list_user_orders))
        .routes(routes!(update_status))
        .routes(routes!(pay_order))
        .routes(service_only(routes!(payment_attempt), token))
        .with_state(state)
}

/// Answers `result`, recording it under the Idempotency-Key unless the
/// workflow recorded it already, or it is a 5xx (which a retry should run
/// again).
async fn answer(
    state: &AppState,
    answer: &Answer<'_>,
    result: Result<Order, ApiError>,
) -> Result<Response, ApiError> {
    let result = result.map(|order| state.shown(order));
    let (status, body) = match &result {
        Ok(order) => (answer.status(), serde_json::to_value(order)),
        Err(err) => (err.status(), serde_json::to_value(err.body())),
    };
    let recorded = result.is_ok() && answer.recorded();
    if let (Some(idem), Ok(body), false) = (answer.idem(), &body, recorded) {
        // A racing request with the same key may have recorded first; both
        // answers describe the same order.
        idem.record(&state.db.writer, status, body).await?;
    }
    result.map(|order| (status, Json(order)).into_response())
}

/// Turn a user's cart into a pending order: stock reserved and priced by
/// the catalog now, all items or none; then the ordered items leave the
/// cart. With an `Idempotency-Key`, a retry returns the first answer and
/// orders nothing more.
#[utoipa::path(post, path = "/orders", tag = "order", request_body = NewOrder,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe")),
    responses(
        (status = 401, description = "Auth on: no valid access token", body = ErrorBody),
        (status = 403, description = "Auth on: for another user", body = ErrorBody),
        (status = 201, description = "The new order", body = Order),
        (status = 400, description = "Cart is empty", body = ErrorBody),
        (status = 409, description = "Not enough stock (the body names the product) or a product no longer exists; nothing changed", body = ErrorBody),
        (status = 422, description = "Invalid body, or the key was used for another request", body = ErrorBody),
        (status = 503, description = "Cart or catalog unreachable", body = ErrorBody)))]
pub async fn create_order(
    SignedIn(caller): SignedIn,
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(new): Json<NewOrder>,
) -> Result<Response, ApiError> {
    let user = UserId::parse(new.user_id.as_str())?;
    caller.act_for(user.as_str())?;
    // A key belongs to the user who sent it: another user's same key is
    // another key, so it can neither replay nor pre-empt their order.
    let scope = format!("POST /orders user:{user}");
    let idem = match begin(&headers, scope, &new, &state.db.reader).await? {
        Keyed::Replay(first) => return Ok(first),
        Keyed::Proceed(idem) => idem,
    };
    let client_key = idem.as_ref().map(Idempotency::key);
    let key = state.keys.derive(&format!("checkout:{user}"), client_key);
    let answering = Answer::new(idem.as_ref(), StatusCode::CREATED);
    let in_flight = state.metrics.checkout();
    let result = checkout::place_order(&state, &user, &key, &answering).await;
    drop(in_flight);
    answer(&state, &answering, result).await
}

/// Orders, newest first; with auth on, a customer's own only. Filters,
/// sorts and cursor paging as the query says: the cursors of the next and
/// previous pages are in the `Link` header.
#[utoipa::path(get, path = "/orders", tag = "order", params(OrderQuery),
    responses(
        (status = 401, description = "Auth on: no valid access token", body = ErrorBody),
        (status = 403, description = "Auth on: a customer naming another user", body = ErrorBody),
        (status = 200, description = "Orders, newest first unless sorted otherwise; `Link` names the next and previous pages; with `count=true`, `X-Total-Count` how many in all", body = [Order]),
        (status = 422, description = "Bad paging, filter or sort", body = ErrorBody)))]
pub async fn list_orders(
    SignedIn(caller): SignedIn,
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
    Query(query): Query<OrderQuery>,
) -> Result<Response, ApiError> {
    let filter = query.checked()?;
    if let Some(user) = &filter.user_id {
        caller.act_for(user)?;
    }
    // A customer's list holds only their own orders.
    listed(&state, raw, &filter, caller.only_user()).await
}

/// The page of orders `filter` asks for, with its `Link` header.
async fn listed(
    state: &AppState,
    raw_query: Option<String>,
    filter: &OrderFilter,
    owner: Option<&str>,
) -> Result<Response, ApiError> {
    filter.window.fits(&orders::sort_of(filter))?;
    let page = orders::page(&state.db.reader, filter, owner).await?;
    let total = match filter.count {
        true => Some(orders::count(&state.db.reader, filter, owner).await?),
        false => None,
    };
    let page = page.map(|o| state.shown(o));
    Ok(paging::response(raw_query.as_deref(), page, total))
}

/// One order.
#[utoipa::path(get, path = "/orders/{order_id}", tag = "order",
    params(("order_id" = i64, Path, description = "Order id")),
    responses(
        (status = 401, description = "Auth on: no valid access token", body = ErrorBody),
        (status = 200, description = "The order", body = Order),
        (status = 404, description = "No such order", body = ErrorBody),
        (status = 422, description = "The order id is not a 64-bit integer", body = ErrorBody)))]
pub async fn get_order(
    SignedIn(caller): SignedIn,
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<Order>, ApiError> {
    orders::get(&state.db.reader, id)
        .await?
        .filter(|order| caller.sees(&order.user_id))
        .map(|order| Json(state.shown(order)))
        .ok_or_else(|| not_found(id))
}

/// The order `id` if `caller` may see it; another customer's is 404, as if
/// it did not exist.
async fn own_order(state: &AppState, caller: &Caller, id: i64) -> Result<Order, ApiError> {
    let order = load(state, id).await?;
    if caller.sees(&order.user_id) {
        Ok(order)
    } else {
        Err(not_found(id))
    }
}

/// A user's orders, newest first (ties broken by id), with the filters,
/// sorts and cursors of `GET /orders`.
#[utoipa::path(get, path = "/orders/user/{user_id}", tag = "order",
    params(("user_id" = String, Path, description = "Any user id, percent-encoded"), OrderQuery),
    responses(
        (status = 401, description = "Auth on: no valid access token", body = ErrorBody),
        (status = 403, description = "Auth on: another user's orders", body = ErrorBody),
        (status = 200, description = "The user's orders, newest first unless sorted otherwise; `Link` names the next and previous pages", body = [Order]),
        (status = 422, description = "Bad user id, paging, filter or sort", body = ErrorBody)))]
pub async fn list_user_orders(
    SignedIn(caller): SignedIn,
    State(state): State<AppState>,
    Path(user_id): Path<String>,
    RawQuery(raw): RawQuery,
    Query(query): Query<OrderQuery>,
) -> Result<Response, ApiError> {
    let user = UserId::parse(user_id)?;
    caller.act_for(user.as_str())?;
    let filter = query.checked()?;
    if filter
        .user_id
        .as_deref()
        .is_some_and(|u| u != user.as_str())
    {
        return Err(ApiError::Unprocessable(
            "user_id is the path's; leave it out of the query".to_owned(),
        ));
    }
    listed(&state, raw, &filter, Some(user.as_str())).await
}

/// Change an order's status along the allowed transitions. Cancelling
/// gives the order's stock back to the catalog, exactly once. `paid` (from
/// pending or confirmed) records a `manual` payment for the order's total
/// with the payment service: "mark as paid", for money taken outside Shop.
#[utoipa::path(put, path = "/orders/{order_id}/status", tag = "order",
    request_body(content = Option<StatusUpdate>, description = "Or ?status="),
    params(("order_id" = i64, Path, description = "Order id"), StatusQuery),
    responses(
        (status = 401, description = "Auth on: no valid access token", body = ErrorBody),
        (status = 403, description = "Auth on: a customer may only cancel their own unpaid order", body = ErrorBody),
        (status = 200, description = "The order (unchanged when already in that status)", body = Order),
        (status = 400, description = "Transition not allowed (names both states)", body = ErrorBody),
        (status = 404, description = "No such order", body = ErrorBody),
        (status = 409, description = "A payment is in progress, or the order changed meanwhile", body = ErrorBody),
        (status = 422, description = "Missing or unknown status, or an order id that is not a 64-bit integer", body = ErrorBody),
        (status = 503, description = "Payment service unreachable (marking as paid)", body = ErrorBody)))]
pub async fn update_status(
    SignedIn(caller): SignedIn,
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Query(query): Query<StatusQuery>,
    OptionalJson(body): OptionalJson<StatusUpdate>,
) -> Result<Json<Order>, ApiError> {
    let next = body
        .map(|b| b.status)
        .or(query.status)
        .ok_or_else(|| ApiError::Unprocessable("status is required".to_owned()))?;
    let order = own_order(&state, &caller, id).await?;
    // A customer may only cancel their own order before it is paid; every
    // other move is staff's.
    let cancels_unpaid = next == OrderStatus::Cancelled
        && matches!(order.status, OrderStatus::Pending | OrderStatus::Confirmed);
    if caller.only_user().is_some() && !cancels_unpaid {
        return Err(ApiError::Forbidden(
            "Customers may only cancel their own pending or confirmed orders".to_owned(),
        ));
    }
    let changed = status::change(&state, id, next).await?;
    Ok(Json(state.shown(changed)))
}

/// Pay an order through the payment service: charged at most once, `paid`
/// only with a successful payment. With an `Idempotency-Key`, a retry
/// returns the first answer.
#[utoipa::path(post, path = "/orders/{order_id}/payment", tag = "order",
    params(
        ("order_id" = i64, Path, description = "Order id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe")),
    responses(
        (status = 401, description = "Auth on: no valid access token", body = ErrorBody),
        (status = 200, description = "The paid order", body = Order),
        (status = 400, description = "Not payable (names its status), or payment failed", body = ErrorBody),
        (status = 404, description = "No such order", body = ErrorBody),
        (status = 409, description = "Another payment for the order is in progress", body = ErrorBody),
        (status = 503, description = "Payment service unreachable", body = ErrorBody),
        (status = 422, description = "The order id is not a 64-bit integer", body = ErrorBody)))]
pub async fn pay_order(
    SignedIn(caller): SignedIn,
    State(state): State<AppState>,
    Path(id): Path<i64>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let order = own_order(&state, &caller, id).await?;
    let scope = format!("POST /orders/{id}/payment");
    let idem = match begin(&headers, scope, &(), &state.db.reader).await? {
        Keyed::Replay(first) => return Ok(first),
        Keyed::Proceed(idem) => idem,
    };
    let key = state.keys.derive(
        &format!("payment:{id}"),
        idem.as_ref().map(Idempotency::key),
    );
    let answering = Answer::new(idem.as_ref(), StatusCode::OK);
    let result = paying::pay(&state, order, &key, PaymentMethod::Card, &answering).await;
    answer(&state, &answering, result).await
}

/// The payment attempt that holds an order (service only: the payment
/// service asks before it records a payment, so no payment made outside
/// this service's own flow can exist, let alone block the order).
#[utoipa::path(get, path = "/orders/{order_id}/payment-attempt", tag = "internal",
    params(("order_id" = i64, Path, description = "Order id")),
    responses(
        (status = 200, description = "The order's total, status and current payment attempt", body = PaymentAttempt),
        (status = 401, description = "Without the service credential", body = ErrorBody),
        (status = 404, description = "No such order", body = ErrorBody),
        (status = 422, description = "The order id is not a 64-bit integer", body = ErrorBody)))]
pub async fn payment_attempt(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<PaymentAttempt>, ApiError> {
    let order = load(&state, id).await?;
    Ok(Json(PaymentAttempt {
        order_id: order.id,
        user_id: order.user_id,
        total_amount: order.total_amount,
        status: order.status,
        key: order.paying_key,
        method: order.paying_method,
    }))
}
