//! SQL for orders.

use shop_common::db::{Connections, Guard, Statements};
use shop_common::paging::{self, Arg, Cursor, Filters, Key, Page, Sort, Statement};
use shop_common::{now_rfc3339, Money};
use sqlx::any::AnyRow;
use sqlx::{Any, Executor, Row};

use shop_common::PaymentMethod;

use crate::domain::{Order, OrderFilter, OrderItem, OrderSort, OrderStatus, RefundStatus};

const COLUMNS: &str =
    "id, user_id, status, total_cents, items, payment_id, created_at, updated_at, \
     reservation_key, stock_released, paying_key, paying_method, cancel_reason, \
     refund_status, refund_id, refunded_at";

fn decode_err(what: String) -> sqlx::Error {
    sqlx::Error::Decode(what.into())
}

/// The row's `status` column.
pub(crate) fn status(row: &AnyRow) -> Result<OrderStatus, sqlx::Error> {
    let status: String = row.try_get("status")?;
    OrderStatus::parse(&status).ok_or_else(|| decode_err(format!("unknown status {status}")))
}

/// The row's `refund_status` column.
pub(crate) fn refund_status(row: &AnyRow) -> Result<Option<RefundStatus>, sqlx::Error> {
    row.try_get::<Option<String>, _>("refund_status")?
        .map(|raw| {
            RefundStatus::parse(&raw)
                .ok_or_else(|| decode_err(format!("unknown refund status {raw}")))
        })
        .transpose()
}

pub fn order(row: &AnyRow) -> Result<Order, sqlx::Error> {
    let total: i64 = row.try_get("total_cents")?;
    let items: String = row.try_get("items")?;
    let method: String = row.try_get("paying_method")?;
    Ok(Order {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        status: status(row)?,
        total_amount: Money::from_cents(total)
            .ok_or_else(|| decode_err(format!("negative total {total}")))?,
        items: serde_json::from_str::<Vec<OrderItem>>(&items)
            .map_err(|err| decode_err(format!("order items: {err}")))?,
        payment_id: row.try_get("payment_id")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        reservation_key: row.try_get("reservation_key")?,
        stock_released: row.try_get::<i64, _>("stock_released")? != 0,
        paying_key: row.try_get("paying_key")?,
        paying_method: PaymentMethod::parse(&method)
            .ok_or_else(|| decode_err(format!("unknown payment method {method}")))?,
        reason: row.try_get("cancel_reason")?,
        expires_at: None,
        refund_status: refund_status(row)?,
        refund_id: row.try_get("refund_id")?,
        refunded_at: row.try_get("refunded_at")?,
    })
}

/// Stores `order`, new and pending, whose stock is held under its
/// `reservation_key`, if the checkout of that key was just marked done and
/// no order holds that key yet (see `checkouts::mark_done`): the
/// statement, for a batch, returning the order with its id (no row when
/// the checkout is not so).
pub fn insert(order: &Order) -> Result<Statements, sqlx::Error> {
    let items =
        serde_json::to_string(&order.items).map_err(|err| sqlx::Error::Encode(err.into()))?;
    Ok(Statements::new().push(
        format!(
            "INSERT INTO orders (user_id, status, total_cents, items, reservation_key, created_at, updated_at) \
             SELECT $1, $2, $3, $4, $5, $6, $7 \
             WHERE EXISTS (SELECT 1 FROM checkouts WHERE key = $5 AND state = 'done') \
             AND NOT EXISTS (SELECT 1 FROM orders WHERE reservation_key = $5) \
             RETURNING {COLUMNS}"
        ),
        vec![
            text(&order.user_id),
            text(order.status.as_str()),
            Arg::Int(order.total_amount.cents()),
            Arg::Text(items),
            order.reservation_key.clone().into(),
            text(&order.created_at),
            text(&order.updated_at),
        ],
    ))
}

/// The order [`insert`] stored, for the writes of its batch that follow
/// it: the one under its key with its time.
pub fn inserted(order: &Order) -> Guard {
    Guard::new(
        "orders WHERE reservation_key = $1 AND created_at = $2",
        vec![
            order.reservation_key.clone().into(),
            text(&order.created_at),
        ],
    )
}

/// The order among a batch's `rows` (the other statements' rows have
/// other columns), if a statement returned it.
pub fn returned(rows: &[AnyRow]) -> Result<Option<Order>, sqlx::Error> {
    rows.iter()
        .find(|row| row.try_column("total_cents").is_ok())
        .map(order)
        .transpose()
}

/// The order of the checkout under `key` (its stock's reservation key).
pub async fn of_checkout<'c>(
    db: impl Executor<'c, Database = Any>,
    key: &str,
) -> Result<Option<Order>, sqlx::Error> {
    one_where(db, "reservation_key = $1", key.into()).await
}

/// One order.
pub async fn get<'c>(
    db: impl Executor<'c, Database = Any>,
    id: i64,
) -> Result<Option<Order>, sqlx::Error> {
    one_where(db, "id = $1", id.into()).await
}

/// The order `condition` finds, its `$1` being `value` (a unique column).
async fn one_where<'c>(
    db: impl Executor<'c, Database = Any>,
    condition: &str,
    value: Arg,
) -> Result<Option<Order>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM orders WHERE {condition}");
    paging::bind(sqlx::query(&sql), &value)
        .fetch_optional(db)
        .await?
        .as_ref()
        .map(order)
        .transpose()
}

/// The page of orders `filter` asks for (a customer's own only when
/// `owner` is set), sorted by id (ids grow with time, and unlike timestamps
/// they never tie) or by total then id.
pub async fn page<'c>(
    db: impl Executor<'c, Database = Any>,
    filter: &OrderFilter,
    owner: Option<&str>,
) -> Result<Page<Order>, sqlx::Error> {
    let by_total = filter.sort == OrderSort::Total;
    paging::fetch(
        db,
        &page_statement(filter, owner),
        &filter.window,
        order,
        |o: &Order| Cursor {
            key: by_total.then(|| Arg::Int(o.total_amount.cents())),
            id: o.id,
        },
    )
    .await
}

/// The statement of [`page`]. Each filter and sort has its index:
/// `orders_status (status, id)`, `orders_user (user_id, id)`,
/// `orders_by_created (created_at, …)`, `orders_total (total_cents, id)`.
pub fn page_statement(filter: &OrderFilter, owner: Option<&str>) -> Statement {
    paging::statement(
        &format!("SELECT {COLUMNS} FROM orders"),
        conditions(filter, owner),
        sort_of(filter),
        &filter.window,
    )
}

/// How many orders `filter` (and `owner`) select, whatever the page.
pub async fn count<'c>(
    db: impl Executor<'c, Database = Any>,
    filter: &OrderFilter,
    owner: Option<&str>,
) -> Result<i64, sqlx::Error> {
    paging::count(db, "orders", conditions(filter, owner)).await
}

/// The conditions of `filter`, each served by an index (see [`page_statement`]).
fn conditions(filter: &OrderFilter, owner: Option<&str>) -> Filters {
    let mut filters = Filters::new();
    if let Some(user) = owner {
        filters.add("user_id = ?", [Arg::from(user)]);
    }
    if let Some(user) = &filter.user_id {
        filters.add("user_id = ?", [Arg::from(user.as_str())]);
    }
    if let Some(status) = filter.status {
        filters.add("status = ?", [Arg::from(status.as_str())]);
    }
    if let Some(from) = &filter.created_from {
        filters.add("created_at >= ?", [Arg::from(from.as_str())]);
    }
    if let Some(to) = &filter.created_to {
        filters.add("created_at < ?", [Arg::from(to.as_str())]);
    }
    if let Some(min) = filter.total_min {
        filters.add("total_cents >= ?", [Arg::Int(min.cents())]);
    }
    if let Some(max) = filter.total_max {
        filters.add("total_cents <= ?", [Arg::Int(max.cents())]);
    }
    filters
}

/// How `filter` sorts.
///
/// Orders placed in a date range are read through `orders_by_created` and
/// then sorted, never by walking the primary key from the newest id and
/// skipping the rest: ids and dates rise together, which PostgreSQL's
/// planner does not know, so it can take a range far in the past for a
/// short walk and read most of the table. `+id`, the same column to
/// every reader, is no index's column to the planner.
pub fn sort_of(filter: &OrderFilter) -> Sort {
    let dated = filter.created_from.is_some() || filter.created_to.is_some();
    Sort {
        key: match filter.sort {
            OrderSort::Created => None,
            OrderSort::Total => Some(TOTAL),
        },
        id: if dated && filter.sort == OrderSort::Created {
            "+id"
        } else {
            "id"
        },
        descending: filter.descending,
    }
}

/// The sort key of `sort=total`.
const TOTAL: Key = Key {
    column: "total_cents",
    text: false,
};

async fn update_returning<'c>(
    db: impl Executor<'c, Database = Any>,
    set_where: &str,
    binds: Vec<Arg>,
) -> Result<Option<Order>, sqlx::Error> {
    let sql = format!("UPDATE orders SET {set_where} RETURNING {COLUMNS}");
    binds
        .iter()
        .fold(sqlx::query(&sql), paging::bind)
        .fetch_optional(db)
        .await?
        .as_ref()
        .map(order)
        .transpose()
}

fn text(value: &str) -> Arg {
    Arg::from(value)
}

/// Moves an order from `from` to `to` (not to `cancelled`: see [`cancel`]);
/// `None` when it is no longer in `from`, so racing changes cannot both win.
pub async fn transition<'c>(
    db: impl Executor<'c, Database = Any>,
    id: i64,
    from: OrderStatus,
    to: OrderStatus,
) -> Result<Option<Order>, sqlx::Error> {
    update_returning(
        db,
        "status = $1, updated_at = $2 WHERE id = $3 AND status = $4",
        vec![
            text(to.as_str()),
            text(&now_rfc3339()),
            Arg::Int(id),
            text(from.as_str()),
        ],
    )
    .await
}

/// Cancels an order in `from`, unless a payment for it is under way;
/// `None` when that, or another change, came first. A paid order's refund
/// becomes `pending` in the same statement, so no cancelled paid order is
/// ever without its refund on the way.
pub async fn cancel<'c>(
    db: impl Executor<'c, Database = Any>,
    id: i64,
    from: OrderStatus,
) -> Result<Option<Order>, sqlx::Error> {
    update_returning(
        db,
        "status = 'cancelled', updated_at = $1, \
         refund_status = CASE WHEN payment_id IS NULL THEN NULL ELSE 'pending' END \
         WHERE id = $2 AND status = $3 \
         AND NOT (status IN ('pending', 'confirmed') AND paying_key IS NOT NULL)",
        vec![text(&now_rfc3339()), Arg::Int(id), text(from.as_str())],
    )
    .await
}

/// The reason of an expiry.
pub const EXPIRED: &str = "expired";

/// Unpaid orders (payable, no payment attempt under way) placed before
/// `placed_before`, oldest first.
pub async fn due_for_expiry<'c>(
    db: impl Executor<'c, Database = Any>,
    placed_before: &str,
    limit: i64,
) -> Result<Vec<Order>, sqlx::Error> {
    let sql = format!(
        "SELECT {COLUMNS} FROM orders WHERE status IN ('pending', 'confirmed') \
         AND created_at < $1 AND paying_key IS NULL ORDER BY created_at LIMIT $2"
    );
    sqlx::query(&sql)
        .bind(placed_before.to_owned())
        .bind(limit)
        .fetch_all(db)
        .await?
        .iter()
        .map(order)
        .collect()
}

/// Cancels an unpaid order in `from` placed before `placed_before` as
/// expired, unless a payment attempt holds it; `None` when that, or
/// another change, came first (so a payment and the expiry cannot both
/// win).
pub async fn expire<'c>(
    db: impl Executor<'c, Database = Any>,
    id: i64,
    from: OrderStatus,
    placed_before: &str,
) -> Result<Option<Order>, sqlx::Error> {
    update_returning(
        db,
        "status = 'cancelled', cancel_reason = $1, updated_at = $2 WHERE id = $3 AND status = $4 \
         AND status IN ('pending', 'confirmed') AND paying_key IS NULL AND created_at < $5",
        vec![
            text(EXPIRED),
            text(&now_rfc3339()),
            Arg::Int(id),
            text(from.as_str()),
            text(placed_before),
        ],
    )
    .await
}

/// Claims the right to take a payment by `method` for a payable order with
/// attempt `key`: only one attempt at a time (the same key may claim again,
/// to resume). `None` when the order is not payable or another attempt
/// holds it.
pub async fn claim_payment(
    db: &Connections,
    id: i64,
    key: &str,
    method: PaymentMethod,
) -> Result<Option<Order>, sqlx::Error> {
    let claim = Statements::new().push(
        format!(
            "UPDATE orders SET paying_key = $1, paying_since = $2, paying_method = $3 \
             WHERE id = $4 AND status IN ('pending', 'confirmed') \
             AND (paying_key IS NULL OR paying_key = $1) RETURNING {COLUMNS}"
        ),
        vec![
            text(key),
            text(&now_rfc3339()),
            text(method.as_str()),
            Arg::Int(id),
        ],
    );
    db.commit(claim).await?.first().map(order).transpose()
}

/// Marks the order paid by `payment_id` at `now`, if attempt `key` still
/// holds it: the statement, for a batch, returning the paid order (no row
/// when it is no longer held by `key`).
pub fn mark_paid(id: i64, key: &str, payment_id: &str, now: &str) -> Statements {
    Statements::new().push(
        format!(
            "UPDATE orders SET status = 'paid', payment_id = $1, updated_at = $2 \
             WHERE id = $3 AND paying_key = $4 AND status IN ('pending', 'confirmed') \
             RETURNING {COLUMNS}"
        ),
        vec![text(payment_id), text(now), Arg::Int(id), text(key)],
    )
}

/// The order [`mark_paid`] marked at `now`, for the writes of its batch
/// that follow it.
pub fn marked_paid(id: i64, payment_id: &str, now: &str) -> Guard {
    Guard::new(
        "orders WHERE id = $1 AND payment_id = $2 AND updated_at = $3",
        vec![Arg::Int(id), text(payment_id), text(now)],
    )
}

/// Ends attempt `key` without payment: the order is payable again.
pub async fn release_payment_claim<'c>(
    db: impl Executor<'c, Database = Any>,
    id: i64,
    key: &str,
) -> Result<Option<Order>, sqlx::Error> {
    update_returning(
        db,
        "paying_key = NULL, paying_since = NULL WHERE id = $1 AND paying_key = $2 \
         AND status IN ('pending', 'confirmed')",
        vec![Arg::Int(id), text(key)],
    )
    .await
}

/// Records that a cancelled order's stock went back.
pub async fn mark_stock_released<'c>(
    db: impl Executor<'c, Database = Any>,
    id: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE orders SET stock_released = 1 WHERE id = $1")
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

/// Cancelled orders whose stock has not gone back yet.
pub async fn unreleased_cancellations<'c>(
    db: impl Executor<'c, Database = Any>,
    limit: i64,
) -> Result<Vec<Order>, sqlx::Error> {
    let sql = format!(
        "SELECT {COLUMNS} FROM orders WHERE status = 'cancelled' AND stock_released = 0 ORDER BY id LIMIT $1"
    );
    sqlx::query(&sql)
        .bind(limit)
        .fetch_all(db)
        .await?
        .iter()
        .map(order)
        .collect()
}

/// Payable orders with a payment attempt not touched since `before`.
pub async fn stale_payments<'c>(
    db: impl Executor<'c, Database = Any>,
    before: &str,
    limit: i64,
) -> Result<Vec<Order>, sqlx::Error> {
    let sql = format!(
        "SELECT {COLUMNS} FROM orders WHERE status IN ('pending', 'confirmed') AND paying_key IS NOT NULL \
         AND paying_since < $1 ORDER BY id LIMIT $2"
    );
    sqlx::query(&sql)
        .bind(before.to_owned())
        .bind(limit)
        .fetch_all(db)
        .await?
        .iter()
        .map(order)
        .collect()
}

/// Records the refund of a cancelled order whose refund is pending; `None`
/// when it was recorded already (a racing request or recovery).
pub async fn mark_refunded<'c>(
    db: impl Executor<'c, Database = Any>,
    id: i64,
    refund_id: &str,
    refunded_at: &str,
) -> Result<Option<Order>, sqlx::Error> {
    update_returning(
        db,
        "refund_status = 'refunded', refund_id = $1, refunded_at = $2, updated_at = $3 \
         WHERE id = $4 AND refund_status = 'pending'",
        vec![
            text(refund_id),
            text(refunded_at),
            text(&now_rfc3339()),
            Arg::Int(id),
        ],
    )
    .await
}

/// Cancelled orders whose refund is pending, untouched since `before`.
pub async fn pending_refunds<'c>(
    db: impl Executor<'c, Database = Any>,
    before: &str,
    limit: i64,
) -> Result<Vec<Order>, sqlx::Error> {
    let sql = format!(
        "SELECT {COLUMNS} FROM orders WHERE refund_status = 'pending' AND updated_at < $1 \
         ORDER BY id LIMIT $2"
    );
    sqlx::query(&sql)
        .bind(before.to_owned())
        .bind(limit)
        .fetch_all(db)
        .await?
        .iter()
        .map(order)
        .collect()
}
