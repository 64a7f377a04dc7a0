//! SQL for the signing key's seed.

use shop_common::db::Connections;
use sqlx::{Any, Executor, Row};

/// The seed in use (the first made), making one if there is none. Replicas
/// starting together may each insert one; all then read the same first.
pub async fn current_or_create(
    db: &Connections,
    kid: &str,
    seed_hex: &str,
    now: &str,
) -> Result<String, sqlx::Error> {
    if let Some(seed) = current(db).await? {
        return Ok(seed);
    }
    sqlx::query(
        "INSERT INTO signing_keys (kid, seed, created_at) VALUES ($1, $2, $3) ON CONFLICT (kid) DO NOTHING",
    )
    .bind(kid.to_owned())
    .bind(seed_hex.to_owned())
    .bind(now.to_owned())
    .execute(db)
    .await?;
    current(db).await?.ok_or_else(|| sqlx::Error::RowNotFound)
}

async fn current<'c>(db: impl Executor<'c, Database = Any>) -> Result<Option<String>, sqlx::Error> {
    let row = sqlx::query("SELECT seed FROM signing_keys ORDER BY created_at, kid LIMIT 1")
        .fetch_optional(db)
        .await?;
    row.map(|row| row.try_get("seed")).transpose()
}
