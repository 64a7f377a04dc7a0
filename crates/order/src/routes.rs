//! Order HTTP handlers.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use axum::Router;
use shop_common::error::ErrorBody;
use shop_common::extract::{Json, OptionalJson, Path, Query};
use shop_common::money::MAX_CENTS;
use shop_common::{now_rfc3339, ApiError, Money};

use crate::domain::{
    check_user_id, NewOrder, Order, OrderItem, OrderStatus, Page, StatusQuery, StatusUpdate,
};
use crate::{store, AppState};

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/orders", get(list_orders).post(create_order))
        .route("/orders/{order_id}", get(get_order))
        .route("/orders/user/{user_id}", get(list_user_orders))
        .route("/orders/{order_id}/status", put(update_status))
        .route("/orders/{order_id}/payment", post(pay_order))
        .with_state(state)
}

fn too_large() -> ApiError {
    ApiError::BadRequest("Order total exceeds the maximum of 1000000000.00".to_owned())
}

fn not_found(id: i64) -> ApiError {
    ApiError::NotFound(format!("Order {id} not found"))
}

async fn load(state: &AppState, id: i64) -> Result<Order, ApiError> {
    store::get(&state.db.writer, id)
        .await?
        .ok_or_else(|| not_found(id))
}

/// Turn a user's cart into a pending order, priced by the catalog now.
#[utoipa::path(post, path = "/orders", tag = "order", request_body = NewOrder,
    responses(
        (status = 201, description = "The new order", body = Order),
        (status = 400, description = "Cart is empty", body = ErrorBody),
        (status = 409, description = "A product in the cart no longer exists", body = ErrorBody),
        (status = 422, description = "Invalid body", body = ErrorBody),
        (status = 503, description = "Cart or catalog unreachable", body = ErrorBody)))]
pub async fn create_order(
    State(state): State<AppState>,
    Json(new): Json<NewOrder>,
) -> Result<(StatusCode, Json<Order>), ApiError> {
    check_user_id(&new.user_id)?;
    let lines = state.cart.lines(&new.user_id).await?;
    if lines.is_empty() {
        return Err(ApiError::BadRequest("Cart is empty".to_owned()));
    }
    let ids: Vec<i64> = lines.iter().map(|l| l.product_id).collect();
    let products = state.catalog.products(&ids).await?;
    let mut items = Vec::with_capacity(lines.len());
    let mut total = Money::ZERO;
    for line in &lines {
        let product = products.get(&line.product_id).ok_or_else(|| {
            ApiError::Conflict(format!(
                "Product {} in the cart no longer exists; remove it from the cart",
                line.product_id
            ))
        })?;
        total = product
            .price
            .times(line.quantity)
            .and_then(|sum| total.plus(sum))
            .filter(|sum| sum.cents() <= MAX_CENTS)
            .ok_or_else(too_large)?;
        items.push(OrderItem {
            product_id: product.id,
            product_name: product.name.clone(),
            quantity: line.quantity,
            price: product.price,
        });
    }
    let order = store::insert(
        &state.db.writer,
        &new.user_id,
        &items,
        total,
        &now_rfc3339(),
    )
    .await?;
    if let Err(err) = state.cart.remove(&new.user_id, &lines).await {
        // The order stands; the cart keeps lines the user can remove.
        tracing::warn!(order_id = order.id, error = %err, "could not clear the ordered items from the cart");
    }
    Ok((StatusCode::CREATED, Json(order)))
}

/// All orders, newest first.
#[utoipa::path(get, path = "/orders", tag = "order", params(Page),
    responses(
        (status = 200, description = "Orders, newest first", body = [Order]),
        (status = 422, description = "Bad paging", body = ErrorBody)))]
pub async fn list_orders(
    State(state): State<AppState>,
    Query(page): Query<Page>,
) -> Result<Json<Vec<Order>>, ApiError> {
    let (skip, limit) = page.checked()?;
    Ok(Json(
        store::list(&state.db.reader, None, skip, limit).await?,
    ))
}

/// One order.
#[utoipa::path(get, path = "/orders/{order_id}", tag = "order",
    params(("order_id" = i64, Path, description = "Order id")),
    responses(
        (status = 200, description = "The order", body = Order),
        (status = 404, description = "No such order", body = ErrorBody)))]
pub async fn get_order(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<Order>, ApiError> {
    store::get(&state.db.reader, id)
        .await?
        .map(Json)
        .ok_or_else(|| not_found(id))
}

/// A user's orders, newest first (ties broken by id).
#[utoipa::path(get, path = "/orders/user/{user_id}", tag = "order",
    params(("user_id" = String, Path, description = "Any user id, percent-encoded"), Page),
    responses(
        (status = 200, description = "The user's orders, newest first", body = [Order]),
        (status = 422, description = "Bad user id or paging", body = ErrorBody)))]
pub async fn list_user_orders(
    State(state): State<AppState>,
    Path(user_id): Path<String>,
    Query(page): Query<Page>,
) -> Result<Json<Vec<Order>>, ApiError> {
    check_user_id(&user_id)?;
    let (skip, limit) = page.checked()?;
    Ok(Json(
        store::list(&state.db.reader, Some(&user_id), skip, limit).await?,
    ))
}

/// Change an order's status along the allowed transitions.
#[utoipa::path(put, path = "/orders/{order_id}/status", tag = "order",
    request_body(content = Option<StatusUpdate>, description = "Or ?status="),
    params(("order_id" = i64, Path, description = "Order id"), StatusQuery),
    responses(
        (status = 200, description = "The order (unchanged when already in that status)", body = Order),
        (status = 400, description = "Transition not allowed", body = ErrorBody),
        (status = 404, description = "No such order", body = ErrorBody),
        (status = 422, description = "Missing or unknown status", body = ErrorBody)))]
pub async fn update_status(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Query(query): Query<StatusQuery>,
    OptionalJson(body): OptionalJson<StatusUpdate>,
) -> Result<Json<Order>, ApiError> {
    let next = body
        .map(|b| b.status)
        .or(query.status)
        .ok_or_else(|| ApiError::Unprocessable("status is required".to_owned()))?;
    let order = load(&state, id).await?;
    if order.status == next {
        return Ok(Json(order));
    }
    if next == OrderStatus::Paid {
        return Err(ApiError::BadRequest(format!(
            "Order {id} becomes paid only through a successful payment (POST /orders/{id}/payment)"
        )));
    }
    if !order.status.can_become(next) {
        return Err(ApiError::BadRequest(format!(
            "Cannot change order {id} from {} to {}",
            order.status.as_str(),
            next.as_str()
        )));
    }
    store::transition(
        &state.db.writer,
        id,
        order.status,
        next,
        None,
        &now_rfc3339(),
    )
    .await?
    .map(Json)
    .ok_or_else(|| {
        ApiError::Conflict(format!(
            "Order {id} changed meanwhile; reload it and try again"
        ))
    })
}

/// Pay an order through the payment service.
#[utoipa::path(post, path = "/orders/{order_id}/payment", tag = "order",
    params(("order_id" = i64, Path, description = "Order id")),
    responses(
        (status = 200, description = "The paid order", body = Order),
        (status = 400, description = "Not payable, or payment failed", body = ErrorBody),
        (status = 404, description = "No such order", body = ErrorBody),
        (status = 503, description = "Payment service unreachable", body = ErrorBody)))]
pub async fn pay_order(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<Order>, ApiError> {
    let order = load(&state, id).await?;
    if !order.status.is_payable() {
        return Err(ApiError::BadRequest(format!(
            "Order {id} cannot be paid: its status is {}",
            order.status.as_str()
        )));
    }
    let payment = state.payments.pay(id, order.total_amount).await?;
    if payment.status != "success" {
        return Err(ApiError::BadRequest("Payment failed".to_owned()));
    }
    store::transition(
        &state.db.writer,
        id,
        order.status,
        OrderStatus::Paid,
        Some(&payment.id),
        &now_rfc3339(),
    )
    .await?
    .map(Json)
    .ok_or_else(|| ApiError::Conflict(format!("Order {id} changed while it was being paid")))
}
