//! SQL for products. Functions take an executor so a caller can run them
//! on a pool or inside a transaction; placeholders are `$n` for both
//! backends.

use shop_common::Money;
use sqlx::any::AnyRow;
use sqlx::{Any, Executor, Row};

use crate::domain::{NewProduct, Product, ProductFilter, ProductUpdate};

const COLUMNS: &str = "id, name, description, price_cents, stock, category, created_at";

fn product(row: &AnyRow) -> Result<Product, sqlx::Error> {
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

/// Rows one statement of a search reads: a range of the primary key.
pub const SEARCH_CHUNK: i64 = 256;

/// The `WHERE` clause of `filter`'s category and ids (`$n` from `first`),
/// and whether the ids leave nothing to find.
fn conditions(filter: &ProductFilter, first: usize) -> (String, usize) {
    let mut sql = String::from("WHERE 1 = 1");
    let mut n = first;
    if filter.category.is_some() {
        sql += &format!(" AND LOWER(category) = LOWER(${n})");
        n += 1;
    }
    if let Some(ids) = &filter.ids {
        let marks: Vec<String> = (n..n + ids.len()).map(|i| format!("${i}")).collect();
        sql += &format!(" AND id IN ({})", marks.join(", "));
        n += ids.len();
    }
    (sql, n)
}

/// `query` with `filter`'s category and ids bound, in [`conditions`] order.
fn bind_conditions<'q>(
    mut query: sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>>,
    filter: &ProductFilter,
) -> sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>> {
    if let Some(category) = &filter.category {
        query = query.bind(category.clone());
    }
    for id in filter.ids.iter().flatten() {
        query = query.bind(*id);
    }
    query
}

/// Products matching `filter`'s category and ids, by id (its `search` is
/// [`search`]'s).
pub async fn list<'c>(
    db: impl Executor<'c, Database = Any>,
    filter: &ProductFilter,
) -> Result<Vec<Product>, sqlx::Error> {
    if filter.ids.as_ref().is_some_and(Vec::is_empty) {
        return Ok(Vec::new());
    }
    let (conditions, n) = conditions(filter, 1);
    let sql = format!(
        "SELECT {COLUMNS} FROM products {conditions} ORDER BY id LIMIT ${n} OFFSET ${}",
        n + 1
    );
    let query = bind_conditions(sqlx::query(&sql), filter)
        .bind(filter.limit)
        .bind(filter.skip);
    query.fetch_all(db).await?.iter().map(product).collect()
}

/// Whether `product`'s name or description holds `needle` (lowercase),
/// ignoring case. Linear in the text and the needle (`str::contains` is
/// the two-way algorithm), unlike SQL `LIKE`, whose cost a crafted pattern
/// makes grow with their product.
pub fn matches(product: &Product, needle: &str) -> bool {
    let holds = |text: &str| text.to_lowercase().contains(needle);
    holds(&product.name) || product.description.as_deref().is_some_and(holds)
}

/// Products matching `filter` with its search text `needle`, by id: read
/// [`SEARCH_CHUNK`] rows per statement along the primary key (no statement
/// does unbounded work, and a search holds a reader only one statement at a
/// time), matched with [`matches`]. `None` when `deadline` passed first.
pub async fn search(
    db: &sqlx::AnyPool,
    filter: &ProductFilter,
    needle: &str,
    deadline: tokio::time::Instant,
) -> Result<Option<Vec<Product>>, sqlx::Error> {
    if filter.ids.as_ref().is_some_and(Vec::is_empty) || filter.limit == 0 {
        return Ok(Some(Vec::new()));
    }
    let needle = needle.to_lowercase();
    let (conditions, n) = conditions(filter, 2);
    let sql =
        format!("SELECT {COLUMNS} FROM products {conditions} AND id > $1 ORDER BY id LIMIT ${n}");
    let limit = usize::try_from(filter.limit).unwrap_or(usize::MAX);
    let mut to_skip = filter.skip;
    let mut page = Vec::new();
    let mut after = i64::MIN;
    loop {
        let query = bind_conditions(sqlx::query(&sql).bind(after), filter).bind(SEARCH_CHUNK);
        let rows = match tokio::time::timeout_at(deadline, query.fetch_all(db)).await {
            Ok(rows) => rows?,
            Err(_) => return Ok(None),
        };
        for row in &rows {
            let product = product(row)?;
            after = product.id;
            if !matches(&product, &needle) {
                continue;
            }
            if to_skip > 0 {
                to_skip -= 1;
                continue;
            }
            page.push(product);
            if page.len() >= limit {
                return Ok(Some(page));
            }
        }
        if (rows.len() as i64) < SEARCH_CHUNK {
            return Ok(Some(page));
        }
        if tokio::time::Instant::now() >= deadline {
            return Ok(None);
        }
    }
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

/// Stores a new product.
pub async fn insert<'c>(
    db: impl Executor<'c, Database = Any>,
    new: &NewProduct,
    now: &str,
) -> Result<Product, sqlx::Error> {
    let sql = format!(
        "INSERT INTO products (name, description, price_cents, stock, category, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING {COLUMNS}"
    );
    let row = sqlx::query(&sql)
        .bind(new.name.as_str().to_owned())
        .bind(new.description.as_ref().map(|d| d.as_str().to_owned()))
        .bind(new.price.cents())
        .bind(new.stock.get())
        .bind(new.category.as_ref().map(|c| c.as_str().to_owned()))
        .bind(now.to_owned())
        .fetch_one(db)
        .await?;
    product(&row)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn product(name: &str, description: Option<&str>) -> Product {
        Product {
            id: 1,
            name: name.to_owned(),
            description: description.map(str::to_owned),
            price: Money::from_cents(100).unwrap(),
            stock: 1,
            category: None,
            created_at: String::new(),
        }
    }

    #[test]
    fn search_matches_name_or_description_ignoring_case_and_wildcards() {
        let mouse = product("Wireless MOUSE", Some("50%_off, Ärger-frei"));
        assert!(matches(&mouse, "mouse"));
        assert!(matches(&mouse, "50%_off"));
        assert!(matches(&mouse, "ärger"));
        assert!(!matches(&mouse, "50%off"));
        assert!(!matches(&mouse, "keyboard"));
        assert!(!matches(&product("Mouse", None), "wireless"));
    }
}
