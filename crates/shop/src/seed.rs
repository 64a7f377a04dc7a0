//! `shop seed`: fills a shop's databases with a realistic history, so the
//! staff console, the statistics and the benchmarks have something to show:
//! products across categories and prices, customers, and orders placed over
//! the last days in every status, with their payments (card and manual,
//! declined attempts too) and the refunds of cancelled paid orders.
//!
//! It writes straight into the catalog, order and payment databases (those
//! of `shop up`, or a PostgreSQL database), in batches of multi-row inserts,
//! a transaction per batch: a million orders take a minute or two. It is
//! meant for a shop that is not taking orders meanwhile (it numbers the new
//! orders itself). The history is consistent where the services rely on it:
//! a paid order has exactly one successful payment, a cancelled paid one its
//! refund, a cancelled one its stock released, and only orders placed in the
//! last minutes are still unpaid (older ones would be expired). Stock is not
//! taken for the history: the catalog keeps the stock it is given.

use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Utc};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;
use shop_common::config::Env;
use shop_common::db::Db;
use shop_common::paging::{Arg, Statement};
use shop_common::rfc3339;
use sqlx::Row;

use crate::services::DataHome;
use crate::{default_data_dir, Failure};

#[derive(Debug, Args)]
pub struct SeedArgs {
    /// Orders to add.
    #[arg(long, default_value_t = 10_000)]
    pub orders: u64,
    /// Products to add.
    #[arg(long, default_value_t = 1_000)]
    pub products: u64,
    /// Customers the orders come from (default: one per ten orders).
    #[arg(long)]
    pub users: Option<u64>,
    /// The orders are placed over this many days, up to now.
    #[arg(long, default_value_t = 365)]
    pub days: u32,
    /// The random seed: the same seed on an empty shop makes the same shop.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// The data directory of `shop up`.
    #[arg(long, default_value_os_t = default_data_dir())]
    pub data_dir: PathBuf,
    /// A PostgreSQL database instead (a schema per service).
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,
}

/// What to add.
#[derive(Debug, Clone)]
pub struct Plan {
    pub orders: u64,
    pub products: u64,
    pub users: u64,
    pub days: u32,
    pub seed: u64,
}

/// What was added.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub products: u64,
    pub orders: u64,
    pub payments: u64,
    pub refunds: u64,
}

/// Rows per statement, and statements per transaction.
const ROWS_PER_INSERT: usize = 40;
const INSERTS_PER_TRANSACTION: usize = 100;

/// Only orders placed this recently are left unpaid (the default
/// `ORDER_PAYMENT_TIMEOUT` is 30 minutes: older ones would be expired).
const UNPAID_WINDOW: Duration = Duration::from_secs(20 * 60);

/// `shop seed`: fills the databases, drawing progress bars.
pub async fn seed(args: SeedArgs, env: Env) -> Result<(), Failure> {
    let data = match &args.database_url {
        Some(url) => DataHome::Postgres(url.clone()),
        None => DataHome::Dir(args.data_dir.clone()),
    };
    let plan = Plan {
        orders: args.orders,
        products: args.products,
        users: args.users.unwrap_or((args.orders / 10).max(1)),
        days: args.days.max(1),
        seed: args.seed,
    };
    println!("Seeding {} ({})", data.describe(), plan_text(&plan));
    let started = std::time::Instant::now();
    let summary = fill(&data, &env, &plan, &Bars).await?;
    println!(
        "Added {} products, {} orders, {} payments and {} refunds in {:.1?}",
        summary.products,
        summary.orders,
        summary.payments,
        summary.refunds,
        started.elapsed()
    );
    Ok(())
}

fn plan_text(plan: &Plan) -> String {
    format!(
        "{} products, {} orders from {} customers over {} days",
        plan.products, plan.orders, plan.users, plan.days
    )
}

/// Where progress goes.
pub trait Progress: Sync {
    /// A stage of `total` rows begins.
    fn begin(&self, stage: &'static str, total: u64) -> Box<dyn Fn(u64) + Send + Sync>;
}

/// No progress shown (tests).
pub struct Quiet;

impl Progress for Quiet {
    fn begin(&self, _: &'static str, _: u64) -> Box<dyn Fn(u64) + Send + Sync> {
        Box::new(|_| {})
    }
}

/// indicatif bars on the terminal.
struct Bars;

impl Progress for Bars {
    fn begin(&self, stage: &'static str, total: u64) -> Box<dyn Fn(u64) + Send + Sync> {
        let bar = ProgressBar::new(total).with_message(stage);
        bar.set_style(
            ProgressStyle::with_template(
                "{msg:>9} [{bar:40}] {human_pos}/{human_len} {per_sec} eta {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        Box::new(move |done| {
            bar.set_position(done);
            if done >= total {
                bar.finish();
            }
        })
    }
}

/// Adds `plan`'s history to the databases of `data`.
pub async fn fill(
    data: &DataHome,
    env: &Env,
    plan: &Plan,
    progress: &dyn Progress,
) -> Result<Summary, Failure> {
    let catalog = data
        .open(env, shop_catalog::NAME, shop_catalog::migrations())
        .await?;
    let mut rng = StdRng::seed_from_u64(plan.seed);
    let now = Utc::now();
    insert_products(&catalog, plan, &mut rng, now, progress).await?;
    let products = catalog_prices(&catalog).await?;

    let orders = data
        .open(env, shop_order::NAME, shop_order::migrations())
        .await?;
    let payments = data
        .open(env, shop_payment::NAME, shop_payment::migrations())
        .await?;
    let mut summary =
        insert_history(&orders, &payments, plan, &products, &mut rng, now, progress).await?;
    summary.products = plan.products;
    // Fresh statistics, so the planners know the new sizes at once.
    for db in [&catalog, &orders, &payments] {
        sqlx::query("ANALYZE")
            .execute(&db.writer)
            .await
            .map_err(db_failure)?;
        db.close().await;
    }
    Ok(summary)
}

fn db_failure(err: sqlx::Error) -> Failure {
    Failure::Start(format!("seeding: {err}"))
}

/// Inserts `rows` (each `columns.len()` values) into `table`, a multi-row
/// statement per [`ROWS_PER_INSERT`], a transaction per
/// [`INSERTS_PER_TRANSACTION`] of them.
async fn insert_rows(
    db: &Db,
    table: &str,
    columns: &[&str],
    rows: &[Vec<Arg>],
) -> Result<(), sqlx::Error> {
    for transaction in rows.chunks(ROWS_PER_INSERT * INSERTS_PER_TRANSACTION) {
        let mut tx = db.writer.begin().await?;
        for chunk in transaction.chunks(ROWS_PER_INSERT) {
            let width = columns.len();
            let values: Vec<String> = (0..chunk.len())
                .map(|r| {
                    let marks: Vec<String> =
                        (1..=width).map(|c| format!("${}", r * width + c)).collect();
                    format!("({})", marks.join(", "))
                })
                .collect();
            let sql = format!(
                "INSERT INTO {table} ({}) VALUES {}",
                columns.join(", "),
                values.join(", ")
            );
            let statement = Statement {
                sql,
                args: chunk.iter().flatten().cloned().collect(),
            };
            statement.query().execute(&mut *tx).await?;
        }
        tx.commit().await?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Products.

const CATEGORIES: [(&str, &[&str]); 6] = [
    (
        "Electronics",
        &[
            "Headphones",
            "Speaker",
            "Charger",
            "Keyboard",
            "Mouse",
            "Monitor",
            "Webcam",
            "Router",
        ],
    ),
    (
        "Home",
        &[
            "Lamp", "Vase", "Blanket", "Cushion", "Clock", "Mirror", "Rug", "Shelf",
        ],
    ),
    (
        "Kitchen",
        &[
            "Kettle", "Teapot", "Mug", "Knife", "Pan", "Bowl", "Grinder", "Scale",
        ],
    ),
    (
        "Outdoor",
        &[
            "Tent", "Backpack", "Lantern", "Bottle", "Hammock", "Stove", "Jacket", "Boots",
        ],
    ),
    (
        "Office",
        &[
            "Notebook",
            "Pen",
            "Desk",
            "Chair",
            "Stapler",
            "Folder",
            "Planner",
            "Organizer",
        ],
    ),
    (
        "Toys",
        &[
            "Puzzle", "Kite", "Robot", "Blocks", "Train", "Doll", "Yo-yo", "Drum",
        ],
    ),
];

const ADJECTIVES: [&str; 16] = [
    "Classic",
    "Compact",
    "Deluxe",
    "Ergonomic",
    "Foldable",
    "Handmade",
    "Heavy-duty",
    "Light",
    "Modern",
    "Portable",
    "Quiet",
    "Rustic",
    "Sleek",
    "Smart",
    "Vintage",
    "Wireless",
];

const MATERIALS: [&str; 12] = [
    "Bamboo", "Brass", "Canvas", "Ceramic", "Cotton", "Glass", "Leather", "Linen", "Oak", "Steel",
    "Walnut", "Wool",
];

async fn insert_products(
    db: &Db,
    plan: &Plan,
    rng: &mut StdRng,
    now: DateTime<Utc>,
    progress: &dyn Progress,
) -> Result<(), Failure> {
    let report = progress.begin("products", plan.products);
    let stamp = rfc3339(now);
    let mut done = 0u64;
    while done < plan.products {
        let batch = (plan.products - done).min(10_000);
        let rows: Vec<Vec<Arg>> = (0..batch)
            .map(|i| {
                let (category, nouns) = CATEGORIES[rng.random_range(0..CATEGORIES.len())];
                let noun = nouns[rng.random_range(0..nouns.len())];
                let adjective = ADJECTIVES[rng.random_range(0..ADJECTIVES.len())];
                let material = MATERIALS[rng.random_range(0..MATERIALS.len())];
                let number = done + i + 1;
                // Prices from 1.00 to about 1,000.00, most of them low.
                let price = (100.0 * 1000f64.powf(rng.random::<f64>())).round() as i64 - 1;
                let stock = if rng.random_bool(0.05) {
                    0
                } else {
                    rng.random_range(1..=500)
                };
                vec![
                    Arg::Text(format!("{adjective} {material} {noun} {number}")),
                    Arg::Text(format!(
                        "A {} {} {} in {}, item {number}.",
                        adjective.to_lowercase(),
                        material.to_lowercase(),
                        noun.to_lowercase(),
                        category.to_lowercase()
                    )),
                    Arg::Int(price.max(100)),
                    Arg::Int(stock),
                    Arg::from(category),
                    Arg::Text(stamp.clone()),
                    Arg::Text(stamp.clone()),
                ]
            })
            .collect();
        insert_rows(
            db,
            "products",
            &[
                "name",
                "description",
                "price_cents",
                "stock",
                "category",
                "created_at",
                "updated_at",
            ],
            &rows,
        )
        .await
        .map_err(db_failure)?;
        done += batch;
        report(done);
    }
    Ok(())
}

/// Every product's id, name and price (what an order line copies).
async fn catalog_prices(db: &Db) -> Result<Vec<(i64, String, i64)>, Failure> {
    let rows = sqlx::query("SELECT id, name, price_cents FROM products ORDER BY id")
        .fetch_all(&db.reader)
        .await
        .map_err(db_failure)?;
    let products = rows
        .iter()
        .map(|row| {
            Ok((
                row.try_get("id")?,
                row.try_get("name")?,
                row.try_get("price_cents")?,
            ))
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()
        .map_err(db_failure)?;
    if products.is_empty() {
        return Err(Failure::Start(
            "the catalog has no products to order: seed some with --products".to_owned(),
        ));
    }
    Ok(products)
}

// ---------------------------------------------------------------------------
// Orders, payments and refunds.

/// An order's status, by its age: the older, the further along.
fn status_for(rng: &mut StdRng, age: Duration) -> &'static str {
    let roll: f64 = rng.random();
    if age < UNPAID_WINDOW {
        return match roll {
            r if r < 0.35 => "pending",
            r if r < 0.45 => "confirmed",
            r if r < 0.85 => "paid",
            r if r < 0.97 => "processing",
            _ => "cancelled",
        };
    }
    let days = age.as_secs_f64() / 86_400.0;
    let cancelled = 0.06;
    if roll < cancelled {
        return "cancelled";
    }
    match days {
        d if d < 1.0 => ["paid", "processing", "processing", "shipped"][rng.random_range(0..4)],
        d if d < 4.0 => ["processing", "shipped", "shipped", "delivered"][rng.random_range(0..4)],
        d if d < 10.0 => ["shipped", "delivered", "delivered", "delivered"][rng.random_range(0..4)],
        _ => "delivered",
    }
}

async fn next_id(db: &Db, table: &str, column: &str) -> Result<i64, Failure> {
    let row = sqlx::query(&format!(
        "SELECT COALESCE(MAX({column}), 0) AS last FROM {table}"
    ))
    .fetch_one(&db.writer)
    .await
    .map_err(db_failure)?;
    Ok(row.try_get::<i64, _>("last").map_err(db_failure)? + 1)
}

/// After inserting explicit ids, PostgreSQL's sequence must catch up.
async fn advance_sequence(db: &Db, table: &str, column: &str) -> Result<(), Failure> {
    if db.is_postgres() {
        let sql = format!(
            "SELECT setval(pg_get_serial_sequence('{table}', '{column}'), \
             (SELECT MAX({column}) FROM {table}))"
        );
        sqlx::query(&sql)
            .execute(&db.writer)
            .await
            .map_err(db_failure)?;
    }
    Ok(())
}

const ORDER_COLUMNS: [&str; 15] = [
    "id",
    "user_id",
    "status",
    "total_cents",
    "items",
    "payment_id",
    "created_at",
    "updated_at",
    "stock_released",
    "paying_key",
    "paying_method",
    "cancel_reason",
    "refund_status",
    "refund_id",
    "refunded_at",
];

const PAYMENT_COLUMNS: [&str; 6] = [
    "id",
    "order_id",
    "amount_cents",
    "status",
    "method",
    "created_at",
];
const REFUND_COLUMNS: [&str; 5] = ["payment_id", "id", "order_id", "amount_cents", "created_at"];

#[allow(clippy::too_many_arguments)]
async fn insert_history(
    orders_db: &Db,
    payments_db: &Db,
    plan: &Plan,
    products: &[(i64, String, i64)],
    rng: &mut StdRng,
    now: DateTime<Utc>,
    progress: &dyn Progress,
) -> Result<Summary, Failure> {
    let report = progress.begin("orders", plan.orders);
    let first_id = next_id(orders_db, "orders", "id").await?;
    let span = chrono::Duration::days(i64::from(plan.days));
    let mut summary = Summary::default();
    let mut done = 0u64;
    while done < plan.orders {
        let batch = (plan.orders - done).min(10_000);
        let mut orders = Vec::with_capacity(batch as usize);
        let mut payments = Vec::new();
        let mut refunds = Vec::new();
        for i in 0..batch {
            let n = done + i;
            let id = first_id + n as i64;
            // Placed in time order (ids grow with time), spread over the span.
            let fraction = (n as f64 + rng.random::<f64>()) / plan.orders as f64;
            let placed = now - span
                + chrono::Duration::milliseconds(
                    (span.num_milliseconds() as f64 * fraction) as i64,
                );
            let age = (now - placed).to_std().unwrap_or_default();
            let user = format!("customer-{}", rng.random_range(1..=plan.users));
            let lines = rng.random_range(1..=4);
            let mut items = Vec::with_capacity(lines);
            let mut total = 0i64;
            for _ in 0..lines {
                let (product_id, name, price) = &products[rng.random_range(0..products.len())];
                if items
                    .iter()
                    .any(|item: &serde_json::Value| item["product_id"] == *product_id)
                {
                    continue;
                }
                let quantity = rng.random_range(1..=3i64);
                total += price * quantity;
                items.push(json!({
                    "product_id": product_id,
                    "product_name": name,
                    "quantity": quantity,
                    "price": shop_common::Money::from_cents(*price),
                }));
            }
            let status = status_for(rng, age);
            let placed_at = rfc3339(placed);
            let later = |minutes: i64| rfc3339(placed + chrono::Duration::minutes(minutes));
            // Paid (now or before a cancel) with a payment, declined ones first.
            let was_paid = match status {
                "pending" | "confirmed" => false,
                "cancelled" => rng.random_bool(0.5),
                _ => true,
            };
            let method = if rng.random_bool(0.1) {
                "manual"
            } else {
                "card"
            };
            if method == "card" && rng.random_bool(0.1) {
                payments.push(vec![
                    Arg::Text(uuid::Uuid::new_v4().to_string()),
                    Arg::Int(id),
                    Arg::Int(total),
                    Arg::from("failed"),
                    Arg::from("card"),
                    Arg::Text(later(1)),
                ]);
            }
            let (payment_id, paying_key) = if was_paid {
                let payment_id = uuid::Uuid::new_v4().to_string();
                payments.push(vec![
                    Arg::Text(payment_id.clone()),
                    Arg::Int(id),
                    Arg::Int(total),
                    Arg::from("success"),
                    Arg::from(method),
                    Arg::Text(later(2)),
                ]);
                (Some(payment_id), Some(uuid::Uuid::new_v4().to_string()))
            } else {
                (None, None)
            };
            let refunded = status == "cancelled" && was_paid;
            let (refund_status, refund_id, refunded_at) = match (&payment_id, refunded) {
                (Some(payment_id), true) => {
                    let refund_id = uuid::Uuid::new_v4().to_string();
                    let at = later(60);
                    refunds.push(vec![
                        Arg::Text(payment_id.clone()),
                        Arg::Text(refund_id.clone()),
                        Arg::Int(id),
                        Arg::Int(total),
                        Arg::Text(at.clone()),
                    ]);
                    (Some("refunded".to_owned()), Some(refund_id), Some(at))
                }
                _ => (None, None, None),
            };
            let cancel_reason = (status == "cancelled" && !was_paid && rng.random_bool(0.5))
                .then(|| "expired".to_owned());
            orders.push(vec![
                Arg::Int(id),
                Arg::Text(user),
                Arg::from(status),
                Arg::Int(total),
                Arg::Text(serde_json::Value::Array(items).to_string()),
                Arg::from(payment_id),
                Arg::Text(placed_at.clone()),
                Arg::Text(if status == "pending" {
                    placed_at
                } else {
                    later(90)
                }),
                Arg::Int(i64::from(status == "cancelled")),
                Arg::from(paying_key),
                Arg::from(method),
                Arg::from(cancel_reason),
                Arg::from(refund_status),
                Arg::from(refund_id),
                Arg::from(refunded_at),
            ]);
        }
        insert_rows(orders_db, "orders", &ORDER_COLUMNS, &orders)
            .await
            .map_err(db_failure)?;
        insert_rows(payments_db, "payments", &PAYMENT_COLUMNS, &payments)
            .await
            .map_err(db_failure)?;
        insert_rows(payments_db, "refunds", &REFUND_COLUMNS, &refunds)
            .await
            .map_err(db_failure)?;
        summary.payments += payments.len() as u64;
        summary.refunds += refunds.len() as u64;
        done += batch;
        report(done);
    }
    advance_sequence(orders_db, "orders", "id").await?;
    summary.orders = plan.orders;
    Ok(summary)
}
