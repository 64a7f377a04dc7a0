//! `shop up`: every service in one process.
//!
//! All listeners are bound first (so a busy port stops start-up before
//! anything runs, and port 0 works), then each service is configured with
//! the others' real URLs and started. The first failure or a signal stops
//! them all.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use clap::Args;
use shop_common::auth::ServiceToken;
use shop_common::config::Env;
use shop_common::local::reachable;
use shop_common::service::{bind, shutdown_on_signals, Service};
use tokio::net::TcpListener;
use tokio::task::JoinSet;

use crate::services::{build_all, BuildOptions, DataHome, Peers, ServiceName};
use crate::{default_data_dir, Failure};

#[derive(Debug, Args)]
pub struct UpArgs {
    /// Where the services keep their SQLite files.
    #[arg(long, default_value_os_t = default_data_dir())]
    data_dir: PathBuf,
    /// Keep every service's data in this PostgreSQL database instead, each
    /// in its own schema (catalog, cart, order, payment).
    #[arg(long, env = "DATABASE_URL")]
    database_url: Option<String>,
    /// Address every listener binds (0.0.0.0 to serve other machines).
    #[arg(long, default_value = "127.0.0.1")]
    bind: IpAddr,
    /// Gateway (and dashboard) port.
    #[arg(long, default_value_t = shop_gateway::DEFAULT_PORT)]
    gateway_port: u16,
    #[arg(long, default_value_t = shop_catalog::DEFAULT_PORT)]
    catalog_port: u16,
    #[arg(long, default_value_t = shop_cart::DEFAULT_PORT)]
    cart_port: u16,
    #[arg(long, default_value_t = shop_order::DEFAULT_PORT)]
    order_port: u16,
    #[arg(long, default_value_t = shop_payment::DEFAULT_PORT)]
    payment_port: u16,
    #[arg(long, default_value_t = shop_identity::DEFAULT_PORT)]
    identity_port: u16,
    /// The seed's open API (AUTH=off): no accounts, for the seed's own
    /// clients and dashboard. Without it accounts are on (AUTH=on, unless
    /// AUTH says otherwise): every service checks access tokens, and with
    /// no staff account yet one is made and its password printed once
    /// (SHOP_ADMIN_EMAIL, default admin@shop.local; SHOP_ADMIN_PASSWORD,
    /// default made up).
    #[arg(long)]
    no_auth: bool,
}

impl UpArgs {
    fn port(&self, service: ServiceName) -> u16 {
        match service {
            ServiceName::Catalog => self.catalog_port,
            ServiceName::Cart => self.cart_port,
            ServiceName::Order => self.order_port,
            ServiceName::Payment => self.payment_port,
            ServiceName::Identity => self.identity_port,
            ServiceName::Gateway => self.gateway_port,
        }
    }
}

fn check_data_dir(dir: &Path) -> Result<(), Failure> {
    let unusable = |err: std::io::Error| {
        Failure::Start(format!(
            "data directory {} is not writable: {err}",
            dir.display()
        ))
    };
    std::fs::create_dir_all(dir).map_err(unusable)?;
    let probe = dir.join(".shop-write-test");
    std::fs::write(&probe, b"ok").map_err(unusable)?;
    let _ = std::fs::remove_file(probe);
    Ok(())
}

async fn listen(name: &str, bind_ip: IpAddr, port: u16) -> Result<(TcpListener, String), Failure> {
    let listener = bind(name, SocketAddr::new(bind_ip, port))
        .await
        .map_err(|err| Failure::Start(err.to_string()))?;
    let addr = listener
        .local_addr()
        .map_err(|err| Failure::Start(err.to_string()))?;
    let url = format!(
        "http://{}",
        SocketAddr::new(reachable(addr.ip()), addr.port())
    );
    Ok((listener, url))
}

/// With accounts `on` and no staff account yet, makes one: what to print
/// about it (the password once, when it was made up).
async fn first_staff(env: &Env, on: bool, built: &[Service]) -> Result<Option<String>, Failure> {
    let identity = built
        .iter()
        .find(|service| service.name == shop_identity::NAME)
        .and_then(|service| service.db.as_ref());
    let (true, Some(db)) = (on, identity) else {
        return Ok(None);
    };
    let email = env.string("SHOP_ADMIN_EMAIL", "admin@shop.local");
    let (password, made_up) = match env.get("SHOP_ADMIN_PASSWORD") {
        Some(password) => (password.to_owned(), false),
        None => (shop_identity::passwords::generate(), true),
    };
    let created = shop_identity::accounts::first_staff(db, &email, &password)
        .await
        .map_err(|err| Failure::Start(format!("the first staff account ({email}): {err}")))?;
    Ok(created.map(|account| {
        if made_up {
            format!(
                "Accounts are on. Staff account {} with password {password} (shown once; \
                 set SHOP_ADMIN_EMAIL / SHOP_ADMIN_PASSWORD to choose).",
                account.email
            )
        } else {
            format!(
                "Accounts are on. Staff account {} (password from SHOP_ADMIN_PASSWORD).",
                account.email
            )
        }
    }))
}

pub async fn run(args: UpArgs, env: Env) -> Result<(), Failure> {
    let data = match &args.database_url {
        Some(url) => DataHome::Postgres(url.clone()),
        None => {
            check_data_dir(&args.data_dir)?;
            DataHome::Dir(args.data_dir.clone())
        }
    };
    // DATABASE_URL is checked like every service's, then applied per schema.
    let env = data.env(env);
    let env = if args.no_auth {
        env.with("AUTH", "off")
    } else if env.get("AUTH").is_none() {
        env.with("AUTH", "on")
    } else {
        env
    };
    // This shop has one of each service, so every write to a service's
    // data but `shop seed`'s goes through it: what it keeps in memory is
    // exact on either backend (`shop_common::read_cache`).
    let env = match env.get("READ_CACHE_MS") {
        Some(_) => env,
        None => env.with("READ_CACHE_MS", "1000"),
    };
    // The services' shared secret for their service-only endpoints: one
    // per run unless given.
    let env = match env.get("SERVICE_TOKEN") {
        Some(_) => env,
        None => {
            let token = ServiceToken::generate();
            env.with("SERVICE_TOKEN", token.expose())
        }
    };

    let mut listeners = Vec::new();
    let mut urls = Vec::new();
    for service in ServiceName::ALL {
        let (listener, url) = listen(service.name(), args.bind, args.port(service)).await?;
        listeners.push(listener);
        urls.push(url);
    }
    let [catalog, cart, order, payment, identity, gateway_url] =
        <[String; 6]>::try_from(urls.clone())
            .unwrap_or_else(|_| unreachable!("one URL per service"));
    let peers = Peers {
        catalog,
        cart,
        order,
        payment,
        identity: Some(identity.clone()),
    };
    let built = build_all(
        &ServiceName::ALL,
        &env,
        &peers,
        &data,
        &BuildOptions::default(),
    )
    .await?;
    let auth = shop_common::access::AuthSettings::from_env(&env)?
        != shop_common::access::AuthSettings::Off;
    let admin = first_staff(&env, auth, &built).await?;
    let services: Vec<(Service, TcpListener)> = built.into_iter().zip(listeners).collect();

    let server = crate::server_settings(&env, services.len())?;
    let shutdown = shutdown_on_signals();
    let mut running = JoinSet::new();
    for (service, listener) in services {
        let token = shutdown.clone();
        running.spawn(async move {
            let name = service.name;
            (name, service.run(listener, server, token).await)
        });
    }

    println!("Shop is up (data in {}):", data.describe());
    println!("  gateway   {gateway_url}/   (API under /api/<service>/)");
    for (service, url) in ServiceName::BACKENDS.iter().zip(&urls) {
        println!("  {:<10}{url}   docs: {url}/docs/", service.name());
    }
    println!(
        "  {:<10}{identity}   docs: {identity}/docs/",
        shop_identity::NAME
    );
    if let Some(admin) = admin {
        println!("{admin}");
    }
    if auth {
        println!(
            "Sign in or register at {gateway_url}/signin (`shop up --no-auth` for the seed's open API)."
        );
    } else {
        println!("Accounts are off (AUTH=off): the seed's open API, anyone may do anything.");
    }
    println!("Press Ctrl+C to stop.");

    let mut failure = None;
    while let Some(joined) = running.join_next().await {
        // One service ending (error or not) stops the others.
        shutdown.cancel();
        match joined {
            Ok((_, Ok(()))) => {}
            Ok((name, Err(err))) => {
                failure.get_or_insert(Failure::Start(format!("{name}: {err}")));
            }
            Err(err) => {
                failure.get_or_insert(Failure::Start(format!("a service crashed: {err}")));
            }
        }
    }
    failure.map_or(Ok(()), Err)
}
