//! SQL for refresh tokens: stored by hash, grouped in families (one per
//! login), each used at most once.

use sqlx::{Any, AnyConnection, Executor, Row};

/// A stored refresh token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub family: String,
    pub account_id: String,
    pub expires_at: String,
    pub used: bool,
    pub revoked: bool,
}

/// Stores a token of `family`.
pub async fn insert<'c>(
    db: impl Executor<'c, Database = Any>,
    hash: &str,
    family: &str,
    account_id: &str,
    expires_at: &str,
    now: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO refresh_tokens (token_hash, family, account_id, expires_at, created_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(hash.to_owned())
    .bind(family.to_owned())
    .bind(account_id.to_owned())
    .bind(expires_at.to_owned())
    .bind(now.to_owned())
    .execute(db)
    .await?;
    Ok(())
}

/// The token with `hash`.
pub async fn get<'c>(
    db: impl Executor<'c, Database = Any>,
    hash: &str,
) -> Result<Option<Stored>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT family, account_id, expires_at, used_at, revoked_at FROM refresh_tokens \
         WHERE token_hash = $1",
    )
    .bind(hash.to_owned())
    .fetch_optional(db)
    .await?;
    row.map(|row| {
        let used: Option<String> = row.try_get("used_at")?;
        let revoked: Option<String> = row.try_get("revoked_at")?;
        Ok(Stored {
            family: row.try_get("family")?,
            account_id: row.try_get("account_id")?,
            expires_at: row.try_get("expires_at")?,
            used: used.is_some(),
            revoked: revoked.is_some(),
        })
    })
    .transpose()
}

/// Marks the token used; false when it already was (or was revoked): a
/// replay, or a refresh that lost a race.
pub async fn use_up(conn: &mut AnyConnection, hash: &str, now: &str) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE refresh_tokens SET used_at = $1 \
         WHERE token_hash = $2 AND used_at IS NULL AND revoked_at IS NULL",
    )
    .bind(now.to_owned())
    .bind(hash.to_owned())
    .execute(conn)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// Revokes every token of `family`.
pub async fn revoke_family<'c>(
    db: impl Executor<'c, Database = Any>,
    family: &str,
    now: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE refresh_tokens SET revoked_at = $1 WHERE family = $2 AND revoked_at IS NULL",
    )
    .bind(now.to_owned())
    .bind(family.to_owned())
    .execute(db)
    .await?;
    Ok(())
}

/// Whether any token of `family` is revoked.
pub async fn family_revoked<'c>(
    db: impl Executor<'c, Database = Any>,
    family: &str,
) -> Result<bool, sqlx::Error> {
    let row = sqlx::query(
        "SELECT COUNT(*) AS n FROM refresh_tokens WHERE family = $1 AND revoked_at IS NOT NULL",
    )
    .bind(family.to_owned())
    .fetch_one(db)
    .await?;
    Ok(row.try_get::<i64, _>("n")? > 0)
}
