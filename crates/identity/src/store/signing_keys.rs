//! SQL for the signing keys' seeds and their place in a rotation: `next`
//! (published, not signing yet), `current` (signing) and `previous`
//! (published until `retire_at`).

use shop_common::db::Connections;
use sqlx::{Any, Executor, Row};

/// One stored key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredKey {
    pub kid: String,
    /// The Ed25519 seed, hex.
    pub seed: String,
    /// `next`, `current` or `previous`.
    pub state: String,
    /// When a previous key leaves the key set.
    pub retire_at: Option<String>,
}

/// What one step of a rotation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotation {
    /// A next key was made and published; nothing signs with it yet.
    Staged { next: String },
    /// The next key signs from now on; the keys it replaced stay
    /// published until `retire_at`.
    Switched {
        from: Vec<String>,
        to: String,
        retire_at: String,
    },
}

/// Makes the first key (current) unless there is one. Replicas starting
/// together may each insert one; all then sign with the first made.
pub async fn create_unless_any(
    db: &Connections,
    kid: &str,
    seed_hex: &str,
    now: &str,
) -> Result<(), sqlx::Error> {
    if !all(db).await?.is_empty() {
        return Ok(());
    }
    insert(db, kid, seed_hex, "current", now).await
}

async fn insert<'c>(
    db: impl Executor<'c, Database = Any>,
    kid: &str,
    seed_hex: &str,
    state: &str,
    now: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO signing_keys (kid, seed, created_at, state) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (kid) DO NOTHING",
    )
    .bind(kid.to_owned())
    .bind(seed_hex.to_owned())
    .bind(now.to_owned())
    .bind(state.to_owned())
    .execute(db)
    .await?;
    Ok(())
}

/// Every stored key, the oldest first.
pub async fn all<'c>(db: impl Executor<'c, Database = Any>) -> Result<Vec<StoredKey>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT kid, seed, state, retire_at FROM signing_keys ORDER BY created_at, kid",
    )
    .fetch_all(db)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(StoredKey {
                kid: row.try_get("kid")?,
                seed: row.try_get("seed")?,
                state: row.try_get("state")?,
                retire_at: row.try_get("retire_at")?,
            })
        })
        .collect()
}

/// One step of a rotation, at `now`: without a next key, the candidate
/// (`kid`, `seed_hex`) becomes it; with one, it becomes the current key,
/// and the current ones previous keys until `retire_at`. Previous keys
/// retired by `now` are dropped either way.
pub async fn rotate(
    db: &Connections,
    kid: &str,
    seed_hex: &str,
    now: &str,
    retire_at: &str,
) -> Result<Rotation, sqlx::Error> {
    let mut tx = db.begin().await?;
    sqlx::query("DELETE FROM signing_keys WHERE state = 'previous' AND retire_at <= $1")
        .bind(now.to_owned())
        .execute(&mut *tx)
        .await?;
    let keys = all(&mut *tx).await?;
    let next = keys.iter().find(|key| key.state == "next");
    let rotation = match next {
        None => {
            insert(&mut *tx, kid, seed_hex, "next", now).await?;
            Rotation::Staged {
                next: kid.to_owned(),
            }
        }
        Some(next) => {
            sqlx::query(
                "UPDATE signing_keys SET state = 'previous', retire_at = $1 WHERE state = 'current'",
            )
            .bind(retire_at.to_owned())
            .execute(&mut *tx)
            .await?;
            sqlx::query("UPDATE signing_keys SET state = 'current' WHERE kid = $1")
                .bind(next.kid.clone())
                .execute(&mut *tx)
                .await?;
            Rotation::Switched {
                from: keys
                    .iter()
                    .filter(|key| key.state == "current")
                    .map(|key| key.kid.clone())
                    .collect(),
                to: next.kid.clone(),
                retire_at: retire_at.to_owned(),
            }
        }
    };
    tx.commit().await?;
    Ok(rotation)
}
