//! SQL for the service's own secrets (table `secrets`).

use shop_common::db::Connections;
use sqlx::Row;

/// The secret `name`, stored as `fresh` when there is none yet. Replicas
/// starting together: the first insert wins, and all read that one.
pub async fn get_or_create(
    db: &Connections,
    name: &str,
    fresh: &str,
) -> Result<String, sqlx::Error> {
    sqlx::query("INSERT INTO secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING")
        .bind(name.to_owned())
        .bind(fresh.to_owned())
        .execute(db)
        .await?;
    let row = sqlx::query("SELECT value FROM secrets WHERE name = $1")
        .bind(name.to_owned())
        .fetch_one(db)
        .await?;
    row.try_get("value")
}
