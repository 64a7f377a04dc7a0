//! SQL for products. Functions take an executor so a caller can run them
//! on a pool or inside a transaction; placeholders are `$n` for both
//! backends.

use shop_common::db::Statements;
use shop_common::Money;
use sqlx::any::AnyRow;
use sqlx::{Any, Executor, Row};

use shop_common::paging::{self, like_substring, Arg, Cursor, Filters, Key, Page, Sort, Statement};

use crate::domain::{NewProduct, Product, ProductFilter, ProductSort, ProductUpdate};

const COLUMNS: &str = "id, name, description, price_cents, stock, category, created_at";

pub fn product(row: &AnyRow) -> Result<Product, sqlx::Error> {
    let price_cents: i64 = row.try_get("price_cents")?;
    Ok(Product {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        price: Money::from_cents(price_cents).ok_or_else(|| {
            sqlx::Error::Decode(format!("price_cents out of range: {price_cents}").into())
        })?,
        stock: row.try_get("stock")?,
        category: row.try_get("category")?,
        created_at: row.try_get("created_at")?,
    })
}

/// Search texts shorter than this are matched by a scan (`LIKE`), longer
/// ones through the trigram index, which needs three characters.
pub const INDEXED_SEARCH_CHARS: usize = 3;

/// How `filter` sorts: by id, or by name or price then id.
pub fn sort_of(filter: &ProductFilter) -> Sort {
    Sort {
        key: match filter.sort {
            ProductSort::Id => None,
            ProductSort::Name => Some(Key {
                column: "name",
                text: true,
            }),
            ProductSort::Price => Some(Key {
                column: "price_cents",
                text: false,
            }),
        },
        id: "id",
        descending: filter.descending,
    }
}

/// The page of products `filter` asks for, by id unless sorted by name or
/// price.
pub async fn page<'c>(
    db: impl Executor<'c, Database = Any>,
    postgres: bool,
    filter: &ProductFilter,
) -> Result<Page<Product>, sqlx::Error> {
    if filter.ids.as_ref().is_some_and(Vec::is_empty) {
        return Ok(Page {
            rows: Vec::new(),
            next: None,
            prev: None,
        });
    }
    paging::fetch(
        db,
        &page_statement(postgres, filter),
        &filter.window,
        product,
        |p: &Product| Cursor {
            key: match filter.sort {
                ProductSort::Id => None,
                ProductSort::Name => Some(Arg::from(p.name.as_str())),
                ProductSort::Price => Some(Arg::Int(p.price.cents())),
            },
            id: p.id,
        },
    )
    .await
}

/// The statement of [`page`]. Every filter and sort is served by an index
/// (see the migrations): `products_category (LOWER(category), id)`,
/// `products_price`, `products_name`, and for `search` the trigram index of
/// each backend: FTS5 on SQLite (a quoted phrase of the text), pg_trgm on
/// PostgreSQL (`ILIKE`). A search shorter than [`INDEXED_SEARCH_CHARS`] is a
/// scan, stopped by the page's limit; so is `in_stock`, which nearly every
/// product passes (an index on stock would cost every reservation).
pub fn page_statement(postgres: bool, filter: &ProductFilter) -> Statement {
    paging::statement(
        &format!("SELECT {COLUMNS} FROM products"),
        conditions(postgres, filter),
        sort_of(filter),
        &filter.window,
    )
}

/// How many products `filter` selects in all (its paging aside).
pub async fn count<'c>(
    db: impl Executor<'c, Database = Any>,
    postgres: bool,
    filter: &ProductFilter,
) -> Result<i64, sqlx::Error> {
    if filter.ids.as_ref().is_some_and(Vec::is_empty) {
        return Ok(0);
    }
    paging::count(db, "products", conditions(postgres, filter)).await
}

/// The conditions of `filter` (see [`page_statement`]).
fn conditions(postgres: bool, filter: &ProductFilter) -> Filters {
    let mut filters = Filters::new();
    if let Some(category) = &filter.category {
        filters.add("LOWER(category) = LOWER(?)", [Arg::from(category.as_str())]);
    }
    if let Some(ids) = filter.ids.as_ref().filter(|ids| !ids.is_empty()) {
        let marks = vec!["?"; ids.len()].join(", ");
        filters.add(
            &format!("id IN ({marks})"),
            ids.iter().map(|&id| Arg::Int(id)),
        );
    }
    if let Some(min) = filter.price_min {
        filters.add("price_cents >= ?", [Arg::Int(min.cents())]);
    }
    if let Some(max) = filter.price_max {
        filters.add("price_cents <= ?", [Arg::Int(max.cents())]);
    }
    match filter.in_stock {
        Some(true) => filters.add("stock > 0", []),
        Some(false) => filters.add("stock = 0", []),
        None => {}
    }
    if let Some(text) = &filter.search {
        let pattern = Arg::Text(like_substring(text));
        if postgres {
            // The planner walks the ids for a common text and reads the
            // trigram indexes for a rare one: with the columns' statistics
            // raised to 1,000 (migration 0004) it tells them apart.
            filters.add(
                "name ILIKE ? OR description ILIKE ?",
                [pattern.clone(), pattern],
            );
        } else if text.chars().count() >= INDEXED_SEARCH_CHARS {
            let phrase = format!("\"{}\"", text.replace('"', "\"\""));
            filters.add(
                "id IN (SELECT rowid FROM products_fts WHERE products_fts MATCH ?)",
                [Arg::Text(phrase)],
            );
        } else {
            filters.add(
                "name LIKE ? ESCAPE '\\' OR description LIKE ? ESCAPE '\\'",
                [pattern.clone(), pattern],
            );
        }
    }
    filters
}

/// The most categories [`categories`] names.
pub const MAX_CATEGORIES: i64 = 1000;

/// The statement of [`categories`]: a loose index scan of
/// `products_category (LOWER(category), id)`. Each step seeks the next
/// category past the last one, so the catalog's size does not matter, only
/// how many categories there are; each is named as its first product
/// wrote it.
pub const CATEGORIES_SQL: &str = "WITH RECURSIVE c(key, n) AS ( \
    SELECT (SELECT LOWER(category) FROM products WHERE LOWER(category) > '' \
            ORDER BY LOWER(category) LIMIT 1), 1 \
    UNION ALL \
    SELECT (SELECT LOWER(category) FROM products WHERE LOWER(category) > c.key \
            ORDER BY LOWER(category) LIMIT 1), n + 1 \
    FROM c WHERE c.key IS NOT NULL AND n < $1) \
    SELECT (SELECT category FROM products WHERE LOWER(category) = c.key \
            ORDER BY LOWER(category), id LIMIT 1) AS name \
    FROM c WHERE c.key IS NOT NULL ORDER BY c.key";

/// The categories products are in: distinct whatever their case, sorted,
/// at most [`MAX_CATEGORIES`].
pub async fn categories<'c>(
    db: impl Executor<'c, Database = Any>,
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query(CATEGORIES_SQL)
        .bind(MAX_CATEGORIES)
        .fetch_all(db)
        .await?
        .iter()
        .map(|row| row.try_get("name"))
        .collect()
}

/// One product.
pub async fn get<'c>(
    db: impl Executor<'c, Database = Any>,
    id: i64,
) -> Result<Option<Product>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM products WHERE id = $1");
    sqlx::query(&sql)
        .bind(id)
        .fetch_optional(db)
        .await?
        .as_ref()
        .map(product)
        .transpose()
}

/// Stores a new product: the statement, for a batch, returning its row
/// (see [`product`]).
pub fn insert(new: &NewProduct, now: &str) -> Statements {
    Statements::new().push(
        format!(
            "INSERT INTO products (name, description, price_cents, stock, category, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING {COLUMNS}"
        ),
        vec![
            new.name.as_str().into(),
            new.description.as_ref().map(|d| d.as_str().to_owned()).into(),
            new.price.cents().into(),
            new.stock.get().into(),
            new.category.as_ref().map(|c| c.as_str().to_owned()).into(),
            now.into(),
        ],
    )
}

/// Changes the given fields; `None` when the product does not exist.
pub async fn update<'c>(
    db: impl Executor<'c, Database = Any>,
    id: i64,
    change: &ProductUpdate,
    now: &str,
) -> Result<Option<Product>, sqlx::Error> {
    let sql = format!(
        "UPDATE products SET name = COALESCE($1, name), description = COALESCE($2, description), \
         price_cents = COALESCE($3, price_cents), stock = COALESCE($4, stock), \
         category = COALESCE($5, category), updated_at = $6 WHERE id = $7 RETURNING {COLUMNS}"
    );
    sqlx::query(&sql)
        .bind(change.name.as_ref().map(|v| v.as_str().to_owned()))
        .bind(change.description.as_ref().map(|v| v.as_str().to_owned()))
        .bind(change.price.map(Money::cents))
        .bind(change.stock.map(|s| s.get()))
        .bind(change.category.as_ref().map(|v| v.as_str().to_owned()))
        .bind(now.to_owned())
        .bind(id)
        .fetch_optional(db)
        .await?
        .as_ref()
        .map(product)
        .transpose()
}

/// Deletes a product; false when it did not exist.
pub async fn delete<'c>(
    db: impl Executor<'c, Database = Any>,
    id: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM products WHERE id = $1")
        .bind(id)
        .execute(db)
        .await?;
    Ok(done.rows_affected() > 0)
}
