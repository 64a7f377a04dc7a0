//! `shop accounts`: accounts made and signing keys rotated from the command
//! line, on the identity service's database (the one `shop up` uses unless
//! told otherwise).

use std::path::PathBuf;

use clap::Args;
use shop_common::config::Env;
use shop_common::db::Db;
use shop_common::service::Service;
use shop_identity::accounts::create_account;
use shop_identity::domain::{Name, NewAccount, Role};
use shop_identity::passwords::Hasher;
use shop_identity::store::signing_keys::{self, Rotation};

use crate::services::DataHome;
use crate::{default_data_dir, Failure};

#[derive(Debug, Args)]
pub struct CreateStaffArgs {
    /// The staff member's email address (their login).
    #[arg(long)]
    email: String,
    /// Their name.
    #[arg(long, default_value = "Staff")]
    name: String,
    /// Their password (at least 10 characters); made up and printed once
    /// when not given.
    #[arg(long, env = "SHOP_ADMIN_PASSWORD", hide_env_values = true)]
    password: Option<String>,
    #[command(flatten)]
    store: Store,
}

/// Where the identity service keeps its data.
#[derive(Debug, Args)]
pub struct Store {
    /// The data directory of `shop up` (its identity.db).
    #[arg(long, default_value_os_t = default_data_dir())]
    data_dir: PathBuf,
    /// The PostgreSQL database instead (schema identity).
    #[arg(long, env = "DATABASE_URL")]
    database_url: Option<String>,
}

impl Store {
    /// The identity service's settings (from `env`) and its database.
    async fn open(&self, env: Env) -> Result<(shop_identity::Config, Db), Failure> {
        let data = match &self.database_url {
            Some(url) => DataHome::Postgres(url.clone()),
            None => DataHome::Dir(self.data_dir.clone()),
        };
        let mut config = shop_identity::Config::from_env(&data.env(env))?;
        config.db.target = data.target(shop_identity::NAME);
        let service =
            Service::with_database(shop_identity::NAME, &config.db, shop_identity::migrations())
                .await?;
        Ok((config, service.db))
    }
}

/// `shop accounts create-staff`: prints the account (and the password it
/// made up, if it did).
pub async fn create_staff(args: CreateStaffArgs, env: Env) -> Result<(), Failure> {
    let (_, db) = args.store.open(env).await?;
    let (password, made_up) = match args.password {
        Some(password) => (password, false),
        None => (shop_identity::passwords::generate(), true),
    };
    let name = Name::parse(&args.name).map_err(|err| Failure::Start(format!("--name {err}")))?;
    let new = NewAccount {
        email: args.email,
        password: password.clone(),
        name,
    };
    let account = create_account(&db, &Hasher::new(1), new, Role::Staff)
        .await
        .map_err(|err| Failure::Start(err.to_string()))?;
    db.close().await;
    println!("Staff account {} ({})", account.email, account.id);
    if made_up {
        println!("Password (shown once): {password}");
    }
    Ok(())
}

#[derive(Debug, Args)]
pub struct RotateKeyArgs {
    #[command(flatten)]
    store: Store,
}

/// `shop accounts rotate-key`: one step of a rotation of the signing keys
/// kept in the database (`shop_identity::rotation`), and the keys after it.
pub async fn rotate_key(args: RotateKeyArgs, env: Env) -> Result<(), Failure> {
    if env.get("IDENTITY_SIGNING_KEY_FILE").is_some() {
        return Err(Failure::Start(
            "the signing keys come from IDENTITY_SIGNING_KEY_FILE: rotate them by replacing \
             its files (docs/security.md)"
                .to_owned(),
        ));
    }
    let (config, db) = args.store.open(env).await?;
    let rotated = shop_identity::rotation::rotate(&db.writer, config.tokens.access_ttl).await;
    let keys = signing_keys::all(&db.writer).await;
    db.close().await;
    match rotated.map_err(Failure::Start)? {
        Rotation::Staged { next } => println!(
            "Published the next signing key {next}; tokens are still signed with the current \
             one. Run `shop accounts rotate-key` again to sign with it (once every verifier \
             outside Shop has fetched the key set)."
        ),
        Rotation::Switched {
            from,
            to,
            retire_at,
        } => println!(
            "Tokens are now signed with {to} (every running identity service within {} s). \
             {} stays published until {retire_at}, when its last tokens have expired.",
            shop_identity::rotation::RELOAD_EVERY.as_secs(),
            from.join(", "),
        ),
    }
    for key in keys.map_err(|err| Failure::Start(err.to_string()))? {
        let until = key
            .retire_at
            .map(|at| format!(" until {at}"))
            .unwrap_or_default();
        println!("  {} {}{until}", key.kid, key.state);
    }
    Ok(())
}
