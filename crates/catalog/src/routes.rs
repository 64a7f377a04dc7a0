//! Catalog HTTP handlers: extract, call the store, map.

use std::time::Duration;

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use shop_common::access::Staff;
use shop_common::db::Statements;
use shop_common::error::{try_again_later, ErrorBody};
use shop_common::extract::{Json, Path, Query};
use shop_common::idempotency::{begin, commit_answer, Keyed};
use shop_common::paging;
use shop_common::telemetry::within_request;
use shop_common::{now_rfc3339, ApiError};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::cache;
use crate::domain::{ListQuery, Message, NewProduct, Product, ProductFilter, ProductUpdate};
use crate::store::products as store;
use crate::AppState;

/// The product routes, each declared once for the router and the document.
pub fn router(state: AppState) -> OpenApiRouter {
    OpenApiRouter::new()
        .routes(routes!(list_products, create_product))
        .routes(routes!(get_product, update_product, delete_product))
        .routes(routes!(list_categories))
        .with_state(state)
}

fn not_found(id: i64) -> ApiError {
    ApiError::NotFound(format!("Product {id} not found"))
}

/// List products, filtered, sorted and paged: the seed's `skip`/`limit`,
/// or the cursors of the `Link` header. A search (`search=`) takes its turn
/// among `SEARCH_CONCURRENCY` and has the database's statement timeout.
#[utoipa::path(get, path = "/products", tag = "catalog", params(ListQuery),
    responses(
        (status = 200, description = "Products, by id unless sorted otherwise; `Link` names the next and previous pages; with `count=true`, `X-Total-Count` how many in all", body = [Product]),
        (status = 422, description = "Bad query", body = ErrorBody),
        (status = 503, description = "Too many searches at once, or a search ran out of time", body = ErrorBody)))]
pub async fn list_products(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
    Query(query): Query<ListQuery>,
) -> Result<Response, ApiError> {
    let filter = ProductFilter::try_from(query)?;
    filter.window.fits(&store::sort_of(&filter))?;
    let postgres = state.db.is_postgres();
    let (page, total) = if filter.search.is_none() {
        let key = cache::Key::Page(raw.clone());
        if let Some(kept) = cache::get(&state.cache, &key) {
            return Ok(kept);
        }
        let ticket = state.cache.ticket(&key);
        let (page, total) = listed(&state.db.reader, postgres, &filter).await?;
        let response = paging::response(raw.as_deref(), page, total);
        return Ok(cache::keep(&state.cache, ticket, key, response).await);
    } else {
        let Ok(Ok(permit)) =
            tokio::time::timeout(SEARCH_QUEUE_WAIT, state.searches.clone().acquire_owned()).await
        else {
            return Ok(try_again_later("Too many searches at once, try again", 1));
        };
        // The search keeps its turn until its statement is done, even when
        // this request stops waiting for it: a statement that runs on (as
        // SQLite's do) still holds a reader, so searches never hold more
        // than SEARCH_CONCURRENCY of them.
        let reader = state.db.reader.clone();
        let search = tokio::spawn(within_request(async move {
            let listed = listed(&reader, postgres, &filter).await;
            drop(permit);
            listed
        }));
        match tokio::time::timeout(state.search_timeout, search).await {
            Ok(Ok(page)) => page?,
            Ok(Err(join)) => return Err(ApiError::internal(format!("search task: {join}"))),
            Err(_) => {
                return Ok(try_again_later(
                    "The search took too long, try a more specific one",
                    1,
                ))
            }
        }
    };
    Ok(paging::response(raw.as_deref(), page, total))
}

/// The page `filter` asks for, and how many products it selects when
/// `count=true`.
async fn listed(
    db: &shop_common::db::Connections,
    postgres: bool,
    filter: &ProductFilter,
) -> Result<(paging::Page<Product>, Option<i64>), sqlx::Error> {
    let page = store::page(db, postgres, filter).await?;
    let total = match filter.count {
        true => Some(store::count(db, postgres, filter).await?),
        false => None,
    };
    Ok((page, total))
}

/// The categories products are in (anyone): distinct whatever their case,
/// sorted, each as its first product wrote it; at most 1000. For a
/// category filter, without reading the catalog.
#[utoipa::path(get, path = "/categories", tag = "catalog",
    responses(
        (status = 200, description = "Category names, sorted", body = [String])))]
pub async fn list_categories(State(state): State<AppState>) -> Result<Json<Vec<String>>, ApiError> {
    Ok(Json(store::categories(&state.db.reader).await?))
}

/// How long a search waits for its turn (`SEARCH_CONCURRENCY`).
const SEARCH_QUEUE_WAIT: Duration = Duration::from_secs(1);

/// One product.
#[utoipa::path(get, path = "/products/{product_id}", tag = "catalog",
    params(("product_id" = i64, Path, description = "Product id")),
    responses(
        (status = 200, description = "The product", body = Product),
        (status = 404, description = "No such product", body = ErrorBody),
        (status = 422, description = "The product id is not a 64-bit integer", body = ErrorBody)))]
pub async fn get_product(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    let key = cache::Key::Product(id);
    if let Some(kept) = cache::get(&state.cache, &key) {
        return Ok(kept);
    }
    let ticket = state.cache.ticket(&key);
    let product = store::get(&state.db.reader, id)
        .await?
        .ok_or_else(|| not_found(id))?;
    let response = Json(product).into_response();
    Ok(cache::keep(&state.cache, ticket, key, response).await)
}

/// Create a product. With an `Idempotency-Key`, a retry returns the first
/// answer and creates nothing.
#[utoipa::path(post, path = "/products", tag = "catalog", request_body = NewProduct,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe")),
    responses(
        (status = 401, description = "Auth on: no valid access token", body = ErrorBody),
        (status = 403, description = "Auth on: staff only", body = ErrorBody),
        (status = 201, description = "Created", body = Product),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 422, description = "Invalid product, or the key was used for another request", body = ErrorBody)))]
pub async fn create_product(
    _staff: Staff,
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(new): Json<NewProduct>,
) -> Result<Response, ApiError> {
    let idem = match begin(&headers, "POST /products", &new, &state.db.writer).await? {
        Keyed::Replay(first) => return Ok(first),
        Keyed::Proceed(idem) => idem,
    };
    // The product and the record of the answer commit together.
    let mut batch = state.db.writer.batch().await?;
    let stored = batch.run(store::insert(&new, &now_rfc3339())).await?;
    let product = stored
        .first()
        .map(store::product)
        .transpose()?
        .ok_or_else(|| ApiError::internal("new product not returned"))?;
    let answered = commit_answer(
        idem.as_ref(),
        batch,
        Statements::new(),
        &state.db.reader,
        StatusCode::CREATED,
        &product,
    )
    .await?;
    Ok(answered?)
}

/// Change a product's fields; absent fields stay as they are. A body that
/// sets no field is 400 "No fields to update", as the seed platform answers.
#[utoipa::path(put, path = "/products/{product_id}", tag = "catalog", request_body = ProductUpdate,
    params(("product_id" = i64, Path, description = "Product id")),
    responses(
        (status = 401, description = "Auth on: no valid access token", body = ErrorBody),
        (status = 403, description = "Auth on: staff only", body = ErrorBody),
        (status = 200, description = "The updated product", body = Product),
        (status = 400, description = "No fields to update", body = ErrorBody),
        (status = 404, description = "No such product", body = ErrorBody),
        (status = 422, description = "Invalid fields, or a product id that is not a 64-bit integer", body = ErrorBody)))]
pub async fn update_product(
    _staff: Staff,
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Json(change): Json<ProductUpdate>,
) -> Result<Json<Product>, ApiError> {
    if change.is_empty() {
        // The missing product's 404 comes first, as in the seed.
        store::get(&state.db.reader, id)
            .await?
            .ok_or_else(|| not_found(id))?;
        return Err(ApiError::BadRequest("No fields to update".to_owned()));
    }
    store::update(&state.db.writer, id, &change, &now_rfc3339())
        .await?
        .map(Json)
        .ok_or_else(|| not_found(id))
}

/// Delete a product.
#[utoipa::path(delete, path = "/products/{product_id}", tag = "catalog",
    params(("product_id" = i64, Path, description = "Product id")),
    responses(
        (status = 401, description = "Auth on: no valid access token", body = ErrorBody),
        (status = 403, description = "Auth on: staff only", body = ErrorBody),
        (status = 200, description = "Deleted", body = Message),
        (status = 404, description = "No such product", body = ErrorBody),
        (status = 422, description = "The product id is not a 64-bit integer", body = ErrorBody)))]
pub async fn delete_product(
    _staff: Staff,
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<Message>, ApiError> {
    if store::delete(&state.db.writer, id).await? {
        Ok(Json(Message {
            message: "Product deleted successfully".to_owned(),
        }))
    } else {
        Err(not_found(id))
    }
}
