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
use shop_common::db::DbTarget;
use shop_common::service::{bind, shutdown_on_signals, Service};
use tokio::net::TcpListener;
use tokio::task::JoinSet;

use crate::{default_data_dir, reachable, Failure};

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

pub async fn run(args: UpArgs, env: Env) -> Result<(), Failure> {
    let db_file = |name: &str| match &args.database_url {
        Some(url) => DbTarget::Postgres {
            url: url.clone(),
            schema: name.to_owned(),
        },
        None => DbTarget::Sqlite(args.data_dir.join(format!("{name}.db"))),
    };
    let env = match &args.database_url {
        // Checked like every service's DATABASE_URL, then applied per schema.
        Some(url) => env.with("DATABASE_URL", url.clone()),
        None => {
            check_data_dir(&args.data_dir)?;
            env
        }
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

    let (catalog_l, catalog_url) = listen("catalog", args.bind, args.catalog_port).await?;
    let (cart_l, cart_url) = listen("cart", args.bind, args.cart_port).await?;
    let (order_l, order_url) = listen("order", args.bind, args.order_port).await?;
    let (payment_l, payment_url) = listen("payment", args.bind, args.payment_port).await?;
    let (gateway_l, gateway_url) = listen("gateway", args.bind, args.gateway_port).await?;

    let mut catalog = shop_catalog::Config::from_env(&env)?;
    catalog.db.target = db_file("catalog");
    let mut cart = shop_cart::Config::from_env(&env)?;
    cart.db.target = db_file("cart");
    cart.catalog_url = catalog_url.clone();
    let mut order = shop_order::Config::from_env(&env)?;
    order.db.target = db_file("order");
    order.cart_url = cart_url.clone();
    order.catalog_url = catalog_url.clone();
    order.payment_url = payment_url.clone();
    let mut payment = shop_payment::Config::from_env(&env)?;
    payment.db.target = db_file("payment");
    payment.order_url = order_url.clone();
    let mut gateway = shop_gateway::Config::from_env(&env)?;
    gateway.catalog_url = catalog_url.clone();
    gateway.cart_url = cart_url.clone();
    gateway.order_url = order_url.clone();
    gateway.payment_url = payment_url.clone();

    let services: Vec<(Service, TcpListener)> = vec![
        (shop_catalog::build(&catalog).await?, catalog_l),
        (shop_cart::build(&cart).await?, cart_l),
        (shop_order::build(&order).await?, order_l),
        (shop_payment::build(&payment).await?, payment_l),
        (shop_gateway::build(&gateway).await?, gateway_l),
    ];

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

    let data = match &args.database_url {
        Some(_) => catalog
            .db
            .target
            .describe()
            .replace("schema catalog", "one schema per service"),
        None => args.data_dir.display().to_string(),
    };
    println!("Shop is up (data in {data}):");
    println!("  gateway   {gateway_url}/   (API under /api/<service>/)");
    println!("  catalog   {catalog_url}   docs: {catalog_url}/docs/");
    println!("  cart      {cart_url}   docs: {cart_url}/docs/");
    println!("  order     {order_url}   docs: {order_url}/docs/");
    println!("  payment   {payment_url}   docs: {payment_url}/docs/");
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
