//! SQL for browser sessions: stored by hash, live until they expire or are
//! ended.

use sqlx::{Any, Executor, Row};

/// Stores a session of `account_id`.
pub async fn insert<'c>(
    db: impl Executor<'c, Database = Any>,
    hash: &str,
    account_id: &str,
    expires_at: &str,
    now: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO sessions (token_hash, account_id, expires_at, created_at) \
         VALUES ($1, $2, $3, $4)",
    )
    .bind(hash.to_owned())
    .bind(account_id.to_owned())
    .bind(expires_at.to_owned())
    .bind(now.to_owned())
    .execute(db)
    .await?;
    Ok(())
}

/// The account and expiry of the live session with `hash` (not ended, not
/// expired at `now`).
pub async fn live<'c>(
    db: impl Executor<'c, Database = Any>,
    hash: &str,
    now: &str,
) -> Result<Option<(String, String)>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT account_id, expires_at FROM sessions \
         WHERE token_hash = $1 AND ended_at IS NULL AND expires_at > $2",
    )
    .bind(hash.to_owned())
    .bind(now.to_owned())
    .fetch_optional(db)
    .await?;
    row.map(|row| Ok((row.try_get("account_id")?, row.try_get("expires_at")?)))
        .transpose()
}

/// Ends the session with `hash` (nothing when it is unknown or ended).
pub async fn end<'c>(
    db: impl Executor<'c, Database = Any>,
    hash: &str,
    now: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE sessions SET ended_at = $1 WHERE token_hash = $2 AND ended_at IS NULL")
        .bind(now.to_owned())
        .bind(hash.to_owned())
        .execute(db)
        .await?;
    Ok(())
}
