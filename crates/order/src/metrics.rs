//! What the order service counts of the shop's business, on its
//! `/metrics`: orders placed and the statuses they reach, revenue and
//! refunds, checkouts under way and those recovery finished or undid.

use prometheus::{IntCounter, IntCounterVec, IntGauge, Registry};
use shop_common::metrics::{counter, counters, gauge};

use crate::domain::{Order, OrderStatus};

#[derive(Debug, Clone)]
pub struct Metrics {
    created: IntCounter,
    statuses: IntCounterVec,
    revenue: IntCounter,
    refunds: IntCounter,
    refunded: IntCounter,
    in_flight: IntGauge,
    recovered: IntCounterVec,
}

impl Metrics {
    pub fn register(registry: &Registry) -> Metrics {
        let statuses = counters(
            registry,
            "shop_order_status_changes_total",
            "Orders that reached each status (pending: placed; cancelled: by staff or expired)",
            &["status"],
        );
        for status in OrderStatus::ALL {
            statuses.with_label_values(&[status.as_str()]);
        }
        let recovered = counters(
            registry,
            "shop_checkouts_recovered_total",
            "Interrupted checkouts recovery finished (their order stands) or undid (stock and cart given back)",
            &["outcome"],
        );
        for outcome in ["finished", "undone"] {
            recovered.with_label_values(&[outcome]);
        }
        Metrics {
            created: counter(registry, "shop_orders_created_total", "Orders placed"),
            statuses,
            revenue: counter(
                registry,
                "shop_revenue_cents_total",
                "The totals of orders paid, in cents (refunds not taken off: shop_refunded_cents_total)",
            ),
            refunds: counter(registry, "shop_refunds_total", "Paid orders cancelled and refunded"),
            refunded: counter(
                registry,
                "shop_refunded_cents_total",
                "The totals of orders refunded, in cents",
            ),
            in_flight: gauge(
                registry,
                "shop_checkouts_in_flight",
                "Checkouts (POST /orders) being placed now",
            ),
            recovered,
        }
    }

    /// `order` was stored as it is now: placed (pending) or paid.
    pub fn stored(&self, order: &Order) {
        match order.status {
            OrderStatus::Pending => self.created.inc(),
            OrderStatus::Paid => self.paid(order),
            _ => {}
        }
        self.became(order.status);
    }

    fn paid(&self, order: &Order) {
        self.revenue.inc_by(cents(order));
    }

    /// An order reached `status`.
    pub fn became(&self, status: OrderStatus) {
        self.statuses.with_label_values(&[status.as_str()]).inc();
    }

    /// `order`'s payment was refunded.
    pub fn refunded(&self, order: &Order) {
        self.refunds.inc();
        self.refunded.inc_by(cents(order));
    }

    /// A checkout is under way until the guard is dropped.
    pub fn checkout(&self) -> InFlight {
        self.in_flight.inc();
        InFlight(self.in_flight.clone())
    }

    /// Recovery finished (`true`) or undid an interrupted checkout.
    pub fn recovered(&self, finished: bool) {
        let outcome = if finished { "finished" } else { "undone" };
        self.recovered.with_label_values(&[outcome]).inc();
    }
}

fn cents(order: &Order) -> u64 {
    u64::try_from(order.total_amount.cents()).unwrap_or(0)
}

/// A checkout under way ([`Metrics::checkout`]).
#[derive(Debug)]
pub struct InFlight(IntGauge);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}
