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

/// Escapes `%`, `_` and `\` for a `LIKE ... ESCAPE '\'` pattern.
fn like_pattern(needle: &str) -> String {
    let mut out = String::with_capacity(needle.len() + 2);
    out.push('%');
    for c in needle.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// Products matching `filter`, by id.
pub async fn list<'c>(
    db: impl Executor<'c, Database = Any>,
    filter: &ProductFilter,
) -> Result<Vec<Product>, sqlx::Error> {
    let mut sql = format!("SELECT {COLUMNS} FROM products WHERE 1 = 1");
    let mut n = 0;
    let mut next = || {
        n += 1;
        format!("${n}")
    };
    if filter.category.is_some() {
        sql += &format!(" AND LOWER(category) = LOWER({})", next());
    }
    let pattern = filter.search.as_deref().map(like_pattern);
    if pattern.is_some() {
        let p = next();
        sql += &format!(
            " AND (LOWER(name) LIKE {p} ESCAPE '\\' OR LOWER(COALESCE(description, '')) LIKE {p} ESCAPE '\\')"
        );
    }
    if let Some(ids) = &filter.ids {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let marks: Vec<String> = ids.iter().map(|_| next()).collect();
        sql += &format!(" AND id IN ({})", marks.join(", "));
    }
    sql += &format!(" ORDER BY id LIMIT {} OFFSET {}", next(), next());

    let mut query = sqlx::query(&sql);
    if let Some(category) = &filter.category {
        query = query.bind(category.clone());
    }
    if let Some(pattern) = pattern {
        query = query.bind(pattern);
    }
    for id in filter.ids.iter().flatten() {
        query = query.bind(*id);
    }
    query = query.bind(filter.limit).bind(filter.skip);
    query.fetch_all(db).await?.iter().map(product).collect()
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
    use super::like_pattern;

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(like_pattern("50%_Off\\"), "%50\\%\\_off\\\\%");
    }
}
