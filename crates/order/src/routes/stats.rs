//! `GET /stats`: how the shop is doing, for staff ([`crate::stats`]).

use axum::extract::State;
use shop_common::access::Staff;
use shop_common::error::ErrorBody;
use shop_common::extract::{Json, Query};
use shop_common::{rfc3339, ApiError};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::stats::{summarize, Stats, StatsQuery};
use crate::store;
use crate::AppState;

/// The statistics route.
pub fn router(state: AppState) -> OpenApiRouter {
    OpenApiRouter::new()
        .routes(routes!(get_stats))
        .with_state(state)
}

/// Statistics of the orders placed in a range (default: the last 30 days):
/// how many, by status; revenue (paid, processing, shipped and delivered
/// orders; a refunded order is cancelled and never revenue); the average
/// order value; refunds; and orders and revenue per day or hour. Exact to
/// the cent, from one aggregate over an index.
#[utoipa::path(get, path = "/stats", tag = "order", params(StatsQuery),
    responses(
        (status = 200, description = "The figures of the range", body = Stats),
        (status = 401, description = "Auth on: no valid access token", body = ErrorBody),
        (status = 403, description = "Auth on: not staff", body = ErrorBody),
        (status = 422, description = "A bad date, from not before to, or too many buckets", body = ErrorBody)))]
pub async fn get_stats(
    _staff: Staff,
    State(state): State<AppState>,
    Query(query): Query<StatsQuery>,
) -> Result<Json<Stats>, ApiError> {
    let range = query.range(chrono::Utc::now())?;
    let groups = store::stats::groups(
        &state.db.reader,
        &rfc3339(range.from),
        &rfc3339(range.to),
        range.bucket,
    )
    .await?;
    Ok(Json(summarize(range, &groups)?))
}
