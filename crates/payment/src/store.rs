//! SQL for payments.

use shop_common::Money;
use sqlx::any::AnyRow;
use sqlx::{Any, Executor, Row};

use shop_common::PaymentMethod;

use crate::domain::{Payment, PaymentStatus};

const COLUMNS: &str = "id, order_id, amount_cents, status, method, created_at";

fn payment(row: &AnyRow) -> Result<Payment, sqlx::Error> {
    let cents: i64 = row.try_get("amount_cents")?;
    let status: String = row.try_get("status")?;
    let method: String = row.try_get("method")?;
    Ok(Payment {
        id: row.try_get("id")?,
        order_id: row.try_get("order_id")?,
        amount: Money::from_cents(cents)
            .ok_or_else(|| sqlx::Error::Decode(format!("negative amount {cents}").into()))?,
        status: PaymentStatus::parse(&status)
            .ok_or_else(|| sqlx::Error::Decode(format!("unknown status {status}").into()))?,
        method: PaymentMethod::parse(&method)
            .ok_or_else(|| sqlx::Error::Decode(format!("unknown method {method}").into()))?,
        created_at: row.try_get("created_at")?,
    })
}

/// Stores a payment.
pub async fn insert<'c>(
    db: impl Executor<'c, Database = Any>,
    payment: &Payment,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO payments (id, order_id, amount_cents, status, method, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(payment.id.clone())
    .bind(payment.order_id)
    .bind(payment.amount.cents())
    .bind(payment.status.as_str())
    .bind(payment.method.as_str())
    .bind(payment.created_at.clone())
    .execute(db)
    .await?;
    Ok(())
}

/// One payment by id.
pub async fn get<'c>(
    db: impl Executor<'c, Database = Any>,
    id: &str,
) -> Result<Option<Payment>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM payments WHERE id = $1");
    sqlx::query(&sql)
        .bind(id.to_owned())
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
            let sql = format!("SELECT {COLUMNS} FROM payments WHERE order_id = $1 ORDER BY seq DESC LIMIT $2 OFFSET $3");
            sqlx::query(&sql)
                .bind(order_id)
                .bind(limit)
                .bind(skip)
                .fetch_all(db)
                .await?
        }
        None => {
            let sql =
                format!("SELECT {COLUMNS} FROM payments ORDER BY seq DESC LIMIT $1 OFFSET $2");
            sqlx::query(&sql)
                .bind(limit)
                .bind(skip)
                .fetch_all(db)
                .await?
        }
    };
    rows.iter().map(payment).collect()
}

/// The successful payment of an order, if it has one.
pub async fn success_of<'c>(
    db: impl Executor<'c, Database = Any>,
    order_id: i64,
) -> Result<Option<Payment>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM payments WHERE order_id = $1 AND status = 'success'");
    sqlx::query(&sql)
        .bind(order_id)
        .fetch_optional(db)
        .await?
        .as_ref()
        .map(payment)
        .transpose()
}
