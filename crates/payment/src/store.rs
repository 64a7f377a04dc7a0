//! SQL for payments.

use shop_common::db::Statements;
use shop_common::paging::{self, Arg, Cursor, Filters, Page, Sort, Statement, Window};
use shop_common::Money;
use sqlx::any::AnyRow;
use sqlx::{Any, Executor, Row};

use shop_common::PaymentMethod;

use crate::domain::{Payment, PaymentStatus, Refund};

/// A payment with its refund, if any (`FROM {PAYMENTS}`).
const COLUMNS: &str = "p.id, p.order_id, p.amount_cents, p.status, p.method, p.created_at, \
     r.id AS refund_id, r.amount_cents AS refund_cents, r.created_at AS refunded_at";
const PAYMENTS: &str = "payments p LEFT JOIN refunds r ON r.payment_id = p.id";

fn money(cents: i64) -> Result<Money, sqlx::Error> {
    Money::from_cents(cents)
        .ok_or_else(|| sqlx::Error::Decode(format!("negative amount {cents}").into()))
}

pub fn payment(row: &AnyRow) -> Result<Payment, sqlx::Error> {
    let cents: i64 = row.try_get("amount_cents")?;
    let status: String = row.try_get("status")?;
    let method: String = row.try_get("method")?;
    let refund = match row.try_get::<Option<String>, _>("refund_id")? {
        Some(id) => Some(Refund {
            id,
            amount: money(row.try_get("refund_cents")?)?,
            created_at: row.try_get("refunded_at")?,
        }),
        None => None,
    };
    Ok(Payment {
        id: row.try_get("id")?,
        order_id: row.try_get("order_id")?,
        amount: money(cents)?,
        status: PaymentStatus::parse(&status)
            .ok_or_else(|| sqlx::Error::Decode(format!("unknown status {status}").into()))?,
        method: PaymentMethod::parse(&method)
            .ok_or_else(|| sqlx::Error::Decode(format!("unknown method {method}").into()))?,
        created_at: row.try_get("created_at")?,
        refund,
    })
}

/// Stores a payment unless its order has a successful one (then it
/// returns no row): one statement, for a batch. Two racing successes of
/// one order, each finding none before (PostgreSQL), meet the unique index
/// `payments_one_success_per_order`, and the second fails.
pub fn insert_unless_paid(payment: &Payment) -> Statements {
    Statements::new().push(
        "INSERT INTO payments (id, order_id, amount_cents, status, method, created_at) \
         SELECT $1, $2, $3, $4, $5, $6 WHERE NOT EXISTS \
         (SELECT 1 FROM payments WHERE order_id = $2 AND status = 'success') RETURNING id",
        vec![
            payment.id.as_str().into(),
            payment.order_id.into(),
            payment.amount.cents().into(),
            payment.status.as_str().into(),
            payment.method.as_str().into(),
            payment.created_at.as_str().into(),
        ],
    )
}

/// One payment by id.
pub async fn get<'c>(
    db: impl Executor<'c, Database = Any>,
    id: &str,
) -> Result<Option<Payment>, sqlx::Error> {
    one_where(db, "p.id = $1", id.into()).await
}

/// The payment `condition` finds, its `$1` being `value`.
async fn one_where<'c>(
    db: impl Executor<'c, Database = Any>,
    condition: &str,
    value: Arg,
) -> Result<Option<Payment>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM {PAYMENTS} WHERE {condition}");
    paging::bind(sqlx::query(&sql), &value)
        .fetch_optional(db)
        .await?
        .as_ref()
        .map(payment)
        .transpose()
}

/// Payments, newest first, optionally of one order.
pub async fn list<'c>(
    db: impl Executor<'c, Database = Any>,
    order_id: Option<i64>,
    skip: i64,
    limit: i64,
) -> Result<Vec<Payment>, sqlx::Error> {
    let rows = match order_id {
        Some(order_id) => {
            let sql = format!("SELECT {COLUMNS} FROM {PAYMENTS} WHERE p.order_id = $1 ORDER BY p.seq DESC LIMIT $2 OFFSET $3");
            sqlx::query(&sql)
                .bind(order_id)
                .bind(limit)
                .bind(skip)
                .fetch_all(db)
                .await?
        }
        None => {
            let sql =
                format!("SELECT {COLUMNS} FROM {PAYMENTS} ORDER BY p.seq DESC LIMIT $1 OFFSET $2");
            sqlx::query(&sql)
                .bind(limit)
                .bind(skip)
                .fetch_all(db)
                .await?
        }
    };
    rows.iter().map(payment).collect()
}

/// The page `window` of payments, newest first (by arrival), optionally of
/// one order; keyed on `seq`, the primary key.
pub async fn page<'c>(
    db: impl Executor<'c, Database = Any>,
    order_id: Option<i64>,
    window: &Window,
) -> Result<Page<Payment>, sqlx::Error> {
    let page = paging::fetch(
        db,
        &page_statement(order_id, window),
        window,
        |row| Ok((row.try_get::<i64, _>("seq")?, payment(row)?)),
        |(seq, _)| Cursor {
            key: None,
            id: *seq,
        },
    )
    .await?;
    Ok(page.map(|(_, payment)| payment))
}

/// The statement of [`page`]: by the primary key, or `payments_order
/// (order_id, seq)` for one order's.
pub fn page_statement(order_id: Option<i64>, window: &Window) -> Statement {
    let mut filters = Filters::new();
    if let Some(order_id) = order_id {
        filters.add("p.order_id = ?", [Arg::Int(order_id)]);
    }
    let select = format!("SELECT p.seq, {COLUMNS} FROM {PAYMENTS}");
    paging::statement(&select, filters, SORT, window)
}

/// Payments are listed newest first, by arrival.
pub const SORT: Sort = Sort {
    key: None,
    id: "p.seq",
    descending: true,
};

/// The successful payment of an order, if it has one.
pub async fn success_of<'c>(
    db: impl Executor<'c, Database = Any>,
    order_id: i64,
) -> Result<Option<Payment>, sqlx::Error> {
    one_where(
        db,
        "p.order_id = $1 AND p.status = 'success'",
        order_id.into(),
    )
    .await
}

/// Records the refund of `payment` (its full amount) unless it has one;
/// whether this call recorded it. The primary key on the payment makes it
/// one refund however many calls race.
pub async fn refund<'c>(
    db: impl Executor<'c, Database = Any>,
    payment: &Payment,
    now: &str,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO refunds (payment_id, id, order_id, amount_cents, created_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (payment_id) DO NOTHING",
    )
    .bind(payment.id.clone())
    .bind(uuid::Uuid::new_v4().to_string())
    .bind(payment.order_id)
    .bind(payment.amount.cents())
    .bind(now.to_owned())
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}
