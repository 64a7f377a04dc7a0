//! SQL for `GET /stats`: one aggregate over the orders placed in a range,
//! served by the covering index `orders_by_created` (created_at, status,
//! refund_status, total_cents), so it reads the index, never the orders.

use sqlx::{Any, Executor, Row};

use crate::stats::{Bucket, Group};
use crate::store::orders;

/// Orders placed in `[from, to)` (RFC 3339 strings as stored), counted and
/// summed by bucket, status and refund status.
pub async fn groups<'c>(
    db: impl Executor<'c, Database = Any>,
    from: &str,
    to: &str,
    bucket: Bucket,
) -> Result<Vec<Group>, sqlx::Error> {
    // The prefix length is one of two constants, not input.
    let len = bucket.prefix_len();
    let sql = format!(
        "SELECT substr(created_at, 1, {len}) AS bucket, status, refund_status, \
         COUNT(*) AS orders, CAST(COALESCE(SUM(total_cents), 0) AS BIGINT) AS cents \
         FROM orders WHERE created_at >= $1 AND created_at < $2 \
         GROUP BY substr(created_at, 1, {len}), status, refund_status"
    );
    let rows = sqlx::query(&sql)
        .bind(from.to_owned())
        .bind(to.to_owned())
        .fetch_all(db)
        .await?;
    rows.iter()
        .map(|row| {
            Ok(Group {
                bucket: row.try_get("bucket")?,
                status: orders::status(row)?,
                refund: orders::refund_status(row)?,
                orders: row.try_get("orders")?,
                cents: row.try_get("cents")?,
            })
        })
        .collect()
}
