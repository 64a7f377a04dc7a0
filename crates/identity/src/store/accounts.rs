//! SQL for accounts.

use sqlx::any::AnyRow;
use sqlx::{Any, Executor, Row};

use crate::domain::{Account, Role};

const COLUMNS: &str = "id, email, name, role, created_at";

fn account(row: &AnyRow) -> Result<Account, sqlx::Error> {
    let role: String = row.try_get("role")?;
    Ok(Account {
        id: row.try_get("id")?,
        email: row.try_get("email")?,
        name: row.try_get("name")?,
        role: Role::parse(&role)
            .ok_or_else(|| sqlx::Error::Decode(format!("role {role}").into()))?,
        created_at: row.try_get("created_at")?,
    })
}

/// Stores `account` with its password hash; false when its email is taken
/// (one statement: racing registrations of one email make one account).
pub async fn create<'c>(
    db: impl Executor<'c, Database = Any>,
    account: &Account,
    password_hash: &str,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO accounts (id, email, name, role, password_hash, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (email) DO NOTHING",
    )
    .bind(account.id.clone())
    .bind(account.email.clone())
    .bind(account.name.clone())
    .bind(account.role.as_str())
    .bind(password_hash.to_owned())
    .bind(account.created_at.clone())
    .execute(db)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// The account of `email` (normalised) and its password hash.
pub async fn by_email<'c>(
    db: impl Executor<'c, Database = Any>,
    email: &str,
) -> Result<Option<(Account, String)>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS}, password_hash FROM accounts WHERE email = $1");
    let row = sqlx::query(&sql)
        .bind(email.to_owned())
        .fetch_optional(db)
        .await?;
    row.map(|row| Ok((account(&row)?, row.try_get("password_hash")?)))
        .transpose()
}

/// The account `id`.
pub async fn by_id<'c>(
    db: impl Executor<'c, Database = Any>,
    id: &str,
) -> Result<Option<Account>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM accounts WHERE id = $1");
    sqlx::query(&sql)
        .bind(id.to_owned())
        .fetch_optional(db)
        .await?
        .as_ref()
        .map(account)
        .transpose()
}

/// How many accounts have `role`.
pub async fn count_with_role<'c>(
    db: impl Executor<'c, Database = Any>,
    role: Role,
) -> Result<i64, sqlx::Error> {
    sqlx::query("SELECT COUNT(*) AS n FROM accounts WHERE role = $1")
        .bind(role.as_str())
        .fetch_one(db)
        .await?
        .try_get("n")
}

/// The password hash of a provider's account: no password matches it.
pub const NO_PASSWORD: &str = "!";

/// Makes or updates the account of a provider's user (`new.id` is the
/// provider's subject): its email, name and role as the provider says now.
/// `None` when the id is one of Shop's own accounts or another provider's.
/// An email another account holds is a unique violation.
pub async fn upsert_from_provider<'c>(
    db: impl Executor<'c, Database = Any>,
    new: &Account,
    issuer: &str,
) -> Result<Option<Account>, sqlx::Error> {
    let sql = format!(
        "INSERT INTO accounts (id, email, name, role, password_hash, created_at, issuer) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (id) DO UPDATE SET email = excluded.email, name = excluded.name, \
         role = excluded.role WHERE accounts.issuer = excluded.issuer \
         RETURNING {COLUMNS}"
    );
    sqlx::query(&sql)
        .bind(new.id.clone())
        .bind(new.email.clone())
        .bind(new.name.clone())
        .bind(new.role.as_str())
        .bind(NO_PASSWORD)
        .bind(new.created_at.clone())
        .bind(issuer.to_owned())
        .fetch_optional(db)
        .await?
        .as_ref()
        .map(account)
        .transpose()
}
