//! `shop accounts`: accounts made from the command line, on the identity
//! service's database (the one `shop up` uses unless told otherwise).

use std::path::PathBuf;

use clap::Args;
use shop_common::config::Env;
use shop_common::service::Service;
use shop_identity::accounts::create_account;
use shop_identity::domain::{Name, NewAccount, Role};
use shop_identity::passwords::Hasher;

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
    /// The data directory of `shop up` (its identity.db).
    #[arg(long, default_value_os_t = default_data_dir())]
    data_dir: PathBuf,
    /// The PostgreSQL database instead (schema identity).
    #[arg(long, env = "DATABASE_URL")]
    database_url: Option<String>,
}

/// `shop accounts create-staff`: prints the account (and the password it
/// made up, if it did).
pub async fn create_staff(args: CreateStaffArgs, env: Env) -> Result<(), Failure> {
    let data = match &args.database_url {
        Some(url) => DataHome::Postgres(url.clone()),
        None => DataHome::Dir(args.data_dir.clone()),
    };
    let mut config = shop_identity::Config::from_env(&data.env(env))?;
    config.db.target = data.target(shop_identity::NAME);
    let service =
        Service::with_database(shop_identity::NAME, &config.db, shop_identity::migrations())
            .await?;
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
    let account = create_account(&service.db, &Hasher::new(1), new, Role::Staff)
        .await
        .map_err(|err| Failure::Start(err.to_string()))?;
    service.db.close().await;
    println!("Staff account {} ({})", account.email, account.id);
    if made_up {
        println!("Password (shown once): {password}");
    }
    Ok(())
}
