//! Cart HTTP handlers.

use std::sync::Arc;

use axum::extract::rejection::RawPathParamsRejection;
use axum::extract::State;
use axum::extract::{FromRequestParts, RawPathParams};
use axum::http::request::Parts;
use shop_common::access::Caller;
use shop_common::auth::service_only;
use shop_common::error::ErrorBody;
use shop_common::extract::{Json, OptionalJson, Path, Query};
use shop_common::quantity::{Quantity, MAX_QUANTITY};
use shop_common::read_cache::{self, Scope, Writes};
use shop_common::{now_rfc3339, ApiError, UserId};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::client::CatalogProduct;
use crate::domain::{
    new_quantity, AddItem, Cart, CartItem, Line, Message, QuantityQuery, RemoveItems, SetQuantity,
    Total, MAX_LINES,
};
use crate::store::{self, Refusal, StoredItem};
use crate::AppState;

/// The cart routes, each declared once for the router and the document.
pub fn router(state: AppState) -> OpenApiRouter {
    let internal = service_only(
        OpenApiRouter::new()
            .routes(routes!(checkout_lines))
            .routes(routes!(remove_items))
            .routes(routes!(restore_items)),
        state.service_token.clone(),
    );
    let writes = Writes {
        cache: state.lines.clone(),
        scope: cart_of,
    };
    OpenApiRouter::new()
        .routes(routes!(get_cart, clear_cart))
        .routes(routes!(add_item))
        .routes(routes!(update_item, remove_item))
        .merge(internal)
        .route_layer(axum::middleware::from_fn_with_state(
            writes,
            read_cache::track_writes,
        ))
        .with_state(state)
}

/// A write changes the cart its path names, and no other: the key its
/// reads are kept under ([`get_cart`]), read as [`Owner`] reads it.
fn cart_of(params: Option<&RawPathParams>) -> Scope<String> {
    params
        .and_then(path_user)
        .and_then(|raw| UserId::parse(raw).ok())
        .map_or(Scope::All, |user| Scope::Only(user.as_str().to_owned()))
}

/// The `{user_id}` a cart route's path gives, percent-decoded.
fn path_user(params: &RawPathParams) -> Option<&str> {
    params
        .iter()
        .find(|(name, _)| *name == "user_id")
        .map(|(_, value)| value)
}

/// The user whose cart a request names, once the caller may act for them:
/// 401 for an anonymous caller, 422 for a bad user id, 403 for another
/// customer, all before the body is read (auth off: anyone, as the seed).
pub struct Owner(pub UserId);

impl<S: Send + Sync> FromRequestParts<S> for Owner {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Owner, ApiError> {
        let caller = Caller::from_request_parts(parts, state).await?;
        caller.signed_in()?;
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|err: RawPathParamsRejection| ApiError::Unprocessable(err.body_text()))?;
        let raw = path_user(&params)
            .ok_or_else(|| ApiError::internal("a cart route without {user_id}"))?;
        let user = UserId::parse(raw)?;
        caller.act_for(user.as_str())?;
        Ok(Owner(user))
    }
}

fn insufficient_stock() -> ApiError {
    ApiError::BadRequest("Insufficient stock".to_owned())
}

fn not_in_cart(product_id: i64) -> ApiError {
    ApiError::NotFound(format!("Item {product_id} not found in cart"))
}

fn cart_item(stored: StoredItem, product: Option<&CatalogProduct>) -> CartItem {
    CartItem {
        id: stored.id,
        user_id: stored.user_id,
        product_id: stored.product_id,
        quantity: stored.quantity,
        product_name: product.map(|p| p.name.clone()),
        product_price: product.map(|p| p.price),
        created_at: stored.created_at,
    }
}

/// A user's cart with current names and prices (one catalog call).
#[utoipa::path(get, path = "/cart/{user_id}", tag = "cart",
    params(("user_id" = String, Path, description = "Any user id, percent-encoded")),
    responses(
        (status = 401, description = "Auth on: no valid access token", body = ErrorBody),
        (status = 403, description = "Auth on: the cart's owner or staff", body = ErrorBody),
        (status = 200, description = "The cart (empty when the user has none)", body = Cart),
        (status = 503, description = "Catalog unreachable", body = ErrorBody),
        (status = 422, description = "User id is not 1 to 128 characters", body = ErrorBody)))]
pub async fn get_cart(
    Owner(user): Owner,
    State(state): State<AppState>,
) -> Result<Json<Cart>, ApiError> {
    let key = user.as_str().to_owned();
    let stored = match state.lines.get(&key) {
        Some(kept) => kept,
        None => {
            let ticket = state.lines.ticket(&key);
            let stored = Arc::new(store::items(&state.db.reader, user.as_str()).await?);
            state.lines.keep(ticket, key, stored.clone());
            stored
        }
    };
    let ids: Vec<i64> = stored.iter().map(|i| i.product_id).collect();
    let products = state.catalog.products(&ids).await?;
    let mut total = Total::default();
    let mut items = Vec::with_capacity(stored.len());
    for line in stored.iter() {
        let product = products.get(&line.product_id);
        if let Some(p) = product {
            total.add(p.price, line.quantity);
        }
        items.push(cart_item(line.clone(), product));
    }
    Ok(Json(Cart {
        user_id: user.as_str().to_owned(),
        items,
        total,
    }))
}

/// Add units of a product; the line's total may not exceed the stock.
#[utoipa::path(post, path = "/cart/{user_id}/items", tag = "cart", request_body = AddItem,
    params(("user_id" = String, Path, description = "Any user id, percent-encoded")),
    responses(
        (status = 401, description = "Auth on: no valid access token", body = ErrorBody),
        (status = 403, description = "Auth on: the cart's owner or staff", body = ErrorBody),
        (status = 200, description = "The cart line after the add", body = CartItem),
        (status = 400, description = "Insufficient stock", body = ErrorBody),
        (status = 404, description = "No such product", body = ErrorBody),
        (status = 422, description = "Invalid body, a bad user id, or a new product for a cart of 1000 products", body = ErrorBody),
        (status = 503, description = "Catalog unreachable", body = ErrorBody)))]
pub async fn add_item(
    Owner(user): Owner,
    State(state): State<AppState>,
    Json(add): Json<AddItem>,
) -> Result<Json<CartItem>, ApiError> {
    let product = state.catalog.product(add.product_id).await?;
    let limit = product.stock.min(MAX_QUANTITY);
    let stored = store::add(
        &state.db.writer,
        user.as_str(),
        product.id,
        add.quantity.get(),
        limit,
        &now_rfc3339(),
    )
    .await?;
    match stored {
        Some(stored) => Ok(Json(cart_item(stored, Some(&product)))),
        None => match store::refusal(&state.db.writer, user.as_str(), product.id).await? {
            Refusal::Limit => Err(insufficient_stock()),
            Refusal::Full => Err(ApiError::Unprocessable(format!(
                "A cart holds at most {MAX_LINES} different products"
            ))),
        },
    }
}

/// Set a line's quantity (`?quantity=n` or `{"quantity": n}`).
#[utoipa::path(put, path = "/cart/{user_id}/items/{product_id}", tag = "cart",
    request_body(content = Option<SetQuantity>, description = "Optional; instead of ?quantity="),
    params(
        ("user_id" = String, Path, description = "Any user id, percent-encoded"),
        ("product_id" = i64, Path, description = "Product id"),
        QuantityQuery),
    responses(
        (status = 401, description = "Auth on: no valid access token", body = ErrorBody),
        (status = 403, description = "Auth on: the cart's owner or staff", body = ErrorBody),
        (status = 200, description = "Updated", body = Message),
        (status = 400, description = "Quantity must be positive, or insufficient stock", body = ErrorBody),
        (status = 404, description = "Not in the cart, or no such product", body = ErrorBody),
        (status = 422, description = "Missing, non-integer or too large quantity, or a product id that is not a 64-bit integer", body = ErrorBody)))]
pub async fn update_item(
    Owner(user): Owner,
    State(state): State<AppState>,
    Path((_user_id, product_id)): Path<(String, i64)>,
    Query(query): Query<QuantityQuery>,
    OptionalJson(body): OptionalJson<SetQuantity>,
) -> Result<Json<Message>, ApiError> {
    let quantity = query
        .quantity
        .or(body.map(|b| b.quantity))
        .ok_or_else(|| ApiError::Unprocessable("quantity is required (?quantity=n)".to_owned()))
        .and_then(new_quantity)?;
    let product = state.catalog.product(product_id).await?;
    if quantity.get() > product.stock {
        return Err(insufficient_stock());
    }
    if store::set_quantity(&state.db.writer, user.as_str(), product_id, quantity.get()).await? {
        Ok(Json(Message::new("Item quantity updated")))
    } else {
        Err(not_in_cart(product_id))
    }
}

/// Remove a line.
#[utoipa::path(delete, path = "/cart/{user_id}/items/{product_id}", tag = "cart",
    params(
        ("user_id" = String, Path, description = "Any user id, percent-encoded"),
        ("product_id" = i64, Path, description = "Product id")),
    responses(
        (status = 401, description = "Auth on: no valid access token", body = ErrorBody),
        (status = 403, description = "Auth on: the cart's owner or staff", body = ErrorBody),
        (status = 200, description = "Removed", body = Message),
        (status = 404, description = "Not in the cart", body = ErrorBody),
        (status = 422, description = "Bad user id, or a product id that is not a 64-bit integer", body = ErrorBody)))]
pub async fn remove_item(
    Owner(user): Owner,
    State(state): State<AppState>,
    Path((_user_id, product_id)): Path<(String, i64)>,
) -> Result<Json<Message>, ApiError> {
    if store::remove(&state.db.writer, user.as_str(), product_id).await? {
        Ok(Json(Message::new("Item removed from cart")))
    } else {
        Err(not_in_cart(product_id))
    }
}

/// Empty a cart.
#[utoipa::path(delete, path = "/cart/{user_id}", tag = "cart",
    params(("user_id" = String, Path, description = "Any user id, percent-encoded")),
    responses(
        (status = 401, description = "Auth on: no valid access token", body = ErrorBody),
        (status = 403, description = "Auth on: the cart's owner or staff", body = ErrorBody),(status = 200, description = "Cleared", body = Message),
        (status = 422, description = "User id is not 1 to 128 characters", body = ErrorBody)))]
pub async fn clear_cart(
    Owner(user): Owner,
    State(state): State<AppState>,
) -> Result<Json<Message>, ApiError> {
    store::clear(&state.db.writer, user.as_str()).await?;
    Ok(Json(Message::new("Cart cleared")))
}

/// The cart's lines as they are, unpriced (the order service only: a
/// checkout reads what to reserve, and the catalog prices it then).
#[utoipa::path(get, path = "/cart/{user_id}/checkout-lines", tag = "cart",
    params(("user_id" = String, Path, description = "Any user id, percent-encoded")),
    responses(
        (status = 200, description = "The cart's lines, oldest first (empty when the user has none)", body = [Line]),
        (status = 401, description = "Without the service credential", body = ErrorBody),
        (status = 422, description = "A bad user id", body = ErrorBody)))]
pub async fn checkout_lines(
    State(state): State<AppState>,
    Path(user_id): Path<String>,
) -> Result<Json<Vec<Line>>, ApiError> {
    let user = UserId::parse(user_id)?;
    let stored = store::items(&state.db.reader, user.as_str()).await?;
    let lines = stored
        .into_iter()
        .map(|item| {
            let quantity = Quantity::new(item.quantity).ok_or_else(|| {
                ApiError::internal(format!("cart line {} holds {}", item.id, item.quantity))
            })?;
            Ok(Line {
                product_id: item.product_id,
                quantity,
            })
        })
        .collect::<Result<_, ApiError>>()?;
    Ok(Json(lines))
}

/// Take a checkout's lines out of the cart under its key, all or none (the
/// order service only: it needs the service credential, and the gateway
/// never routes it), before the order is stored: so a cart is ordered at
/// most once, whenever it was read. Units added since stay. Applied once
/// however often it is sent under one key.
#[utoipa::path(post, path = "/cart/{user_id}/remove-items", tag = "cart", request_body = RemoveItems,
    params(("user_id" = String, Path, description = "Any user id, percent-encoded")),
    responses(
        (status = 200, description = "Removed (now, or before under this key)", body = Message),
        (status = 401, description = "Without the service credential", body = ErrorBody),
        (status = 409, description = "The cart no longer holds every line, or the key was given back: nothing removed", body = ErrorBody),
        (status = 422, description = "Invalid body (a product named twice, more than 1000 lines), or a bad user id", body = ErrorBody)))]
pub async fn remove_items(
    State(state): State<AppState>,
    Path(user_id): Path<String>,
    Json(remove): Json<RemoveItems>,
) -> Result<Json<Message>, ApiError> {
    let user = UserId::parse(user_id)?;
    let lines = remove.lines()?;
    let key = remove.key.as_str();
    // One transaction in one message: every line taken, or none.
    let removal = store::removal_of(
        key,
        user.as_str(),
        &lines,
        &now_rfc3339(),
        state.db.is_postgres(),
    );
    if !state.db.writer.commit(removal).await?.is_empty() {
        return Ok(Json(Message::new("Items removed from cart")));
    }
    match store::removal(&state.db.writer, key).await? {
        store::Removal::Taken => Ok(Json(Message::new("Items already removed from cart"))),
        store::Removal::Restored => Err(ApiError::Conflict(
            "The items of this checkout were given back to the cart".to_owned(),
        )),
        store::Removal::Unknown => Err(ApiError::Conflict(
            "The cart no longer holds these items".to_owned(),
        )),
    }
}

/// Give back what a failed checkout took out of the cart under its key
/// (the order service only), once however often it is sent; a key never
/// used is recorded, so that a removal under it arriving late takes
/// nothing.
#[utoipa::path(post, path = "/cart/{user_id}/restore-items", tag = "cart", request_body = RemoveItems,
    params(("user_id" = String, Path, description = "Any user id, percent-encoded")),
    responses(
        (status = 200, description = "Given back (now, before, or nothing was taken)", body = Message),
        (status = 401, description = "Without the service credential", body = ErrorBody),
        (status = 422, description = "Invalid body, or a bad user id", body = ErrorBody)))]
pub async fn restore_items(
    State(state): State<AppState>,
    Path(user_id): Path<String>,
    Json(restore): Json<RemoveItems>,
) -> Result<Json<Message>, ApiError> {
    let user = UserId::parse(user_id)?;
    let lines = restore.lines()?;
    let key = restore.key.as_str();
    let now = now_rfc3339();
    let mut batch = state.db.writer.batch().await?;
    if batch.run(store::claim_restore(key)).await?.is_empty() {
        batch
            .commit(store::refuse_later(key, user.as_str(), &now))
            .await?;
        return Ok(Json(Message::new(
            "Nothing is out of the cart under this key",
        )));
    }
    batch
        .commit(store::put_back(user.as_str(), &lines, &now))
        .await?;
    Ok(Json(Message::new("Items given back to the cart")))
}
