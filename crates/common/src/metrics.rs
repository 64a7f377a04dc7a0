//! Metrics every service has besides its requests' ([`HttpMetrics`]): the
//! build (`shop_build_info`), the process (CPU, memory, open files) and
//! its database connections; and the helpers the services make their own
//! business metrics with (orders, payments, reservations).

use prometheus::core::Collector;
use prometheus::{IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry};

use crate::db::{Connections, Db};
use crate::telemetry::HttpMetrics;

/// The commit the binary was built from (`SHOP_COMMIT` at build time, as
/// the Dockerfile passes it), or `unknown`.
pub const COMMIT: &str = match option_env!("SHOP_COMMIT") {
    Some(commit) => commit,
    None => "unknown",
};

/// `collector`, registered in `registry` (once: a second registration of
/// one name is a bug).
pub fn registered<C: Collector + Clone + 'static>(registry: &Registry, collector: C) -> C {
    registry
        .register(Box::new(collector.clone()))
        .expect("a metric registered once");
    collector
}

/// A counter, registered.
pub fn counter(registry: &Registry, name: &str, help: &str) -> IntCounter {
    registered(
        registry,
        IntCounter::new(name, help).expect("a valid metric definition"),
    )
}

/// Counters by `labels`, registered.
pub fn counters(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    registered(
        registry,
        IntCounterVec::new(Opts::new(name, help), labels).expect("a valid metric definition"),
    )
}

/// A gauge, registered.
pub fn gauge(registry: &Registry, name: &str, help: &str) -> IntGauge {
    registered(
        registry,
        IntGauge::new(name, help).expect("a valid metric definition"),
    )
}

/// What every service's registry holds besides its requests: the build
/// and the process.
pub(crate) fn register_standard(registry: &Registry, service: &'static str) {
    let build = IntGaugeVec::new(
        Opts::new(
            "shop_build_info",
            "The build serving: always 1, its version and commit as labels",
        )
        .const_label("service", service),
        &["version", "commit"],
    )
    .expect("a valid metric definition");
    registered(registry, build)
        .with_label_values(&[env!("CARGO_PKG_VERSION"), COMMIT])
        .set(1);
    // process_cpu_seconds_total, process_resident_memory_bytes,
    // process_open_fds, process_max_fds, process_start_time_seconds...
    registry
        .register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))
        .expect("a metric registered once");
}

/// The service's database connections, read at every scrape:
/// `shop_db_connections{pool, state}` in use and waiting, and their most.
pub fn watch_db(metrics: &HttpMetrics, db: &Db) {
    let connections = registered(
        &metrics.registry,
        IntGaugeVec::new(
            Opts::new(
                "shop_db_connections",
                "Database connections: in use, and requests waiting for one (state), by pool",
            )
            .const_label("service", metrics.service()),
            &["pool", "state"],
        )
        .expect("a valid metric definition"),
    );
    let most = registered(
        &metrics.registry,
        IntGaugeVec::new(
            Opts::new(
                "shop_db_connections_max",
                "The most database connections a pool opens",
            )
            .const_label("service", metrics.service()),
            &["pool"],
        )
        .expect("a valid metric definition"),
    );
    let pools: Vec<(&'static str, Connections)> = if db.is_postgres() {
        // One set serves reads and writes.
        vec![("all", db.writer.clone())]
    } else {
        vec![
            ("writer", db.writer.clone()),
            ("readers", db.reader.clone()),
        ]
    };
    metrics.on_scrape(move || {
        for (pool, set) in &pools {
            let usage = set.usage();
            let gauge = |state: &str, value: usize| {
                connections
                    .with_label_values(&[pool, state])
                    .set(i64::try_from(value).unwrap_or(i64::MAX));
            };
            gauge("in_use", usage.in_use);
            gauge("waiting", usage.waiting);
            most.with_label_values(&[pool])
                .set(i64::try_from(usage.max).unwrap_or(i64::MAX));
        }
    });
}
