//! How the shop is doing (`GET /stats`): counts by status, revenue,
//! refunds, average order value and a series over time, for the orders
//! placed in a range. Exact to the cent (integer cents throughout), and
//! computed by one SQL aggregate over a covering index
//! ([`crate::store::stats`]), never by loading orders.

use chrono::{DateTime, Duration, DurationRound, Utc};
use serde::{Deserialize, Serialize};
use shop_common::extract::instant;
use shop_common::{rfc3339, ApiError, Money};
use utoipa::{IntoParams, ToSchema};

use crate::domain::{OrderStatus, RefundStatus};

/// The default range: the last 30 days.
pub const DEFAULT_DAYS: i64 = 30;
/// The most points a series may have.
pub const MAX_BUCKETS: i64 = 10_000;

/// Query of `GET /stats`.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatsQuery {
    /// Orders placed at or after this instant: RFC 3339 (`2026-11-01T00:00:00Z`)
    /// or a date (`2026-11-01`, midnight UTC). Default: 30 days before `to`.
    pub from: Option<String>,
    /// Orders placed before this instant (same forms). Default: now.
    pub to: Option<String>,
    /// The series' step: `day` (default) or `hour`, in UTC.
    pub bucket: Option<Bucket>,
}

/// The step of a series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Bucket {
    #[default]
    Day,
    Hour,
}

impl Bucket {
    fn name(self) -> &'static str {
        match self {
            Bucket::Day => "day",
            Bucket::Hour => "hour",
        }
    }

    fn step(self) -> Duration {
        match self {
            Bucket::Day => Duration::days(1),
            Bucket::Hour => Duration::hours(1),
        }
    }

    /// How many leading characters of a stored RFC 3339 timestamp name its
    /// bucket: `2026-11-01` or `2026-11-01T10`.
    pub fn prefix_len(self) -> usize {
        match self {
            Bucket::Day => 10,
            Bucket::Hour => 13,
        }
    }
}

/// A checked range: `from` < `to`, at most [`MAX_BUCKETS`] buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub bucket: Bucket,
}

impl StatsQuery {
    /// The range asked for, with the defaults; 422 naming what is wrong.
    pub fn range(&self, now: DateTime<Utc>) -> Result<Range, ApiError> {
        let to = match &self.to {
            Some(raw) => instant("to", raw)?,
            None => now,
        };
        let from = match &self.from {
            Some(raw) => instant("from", raw)?,
            None => to - Duration::days(DEFAULT_DAYS),
        };
        if from >= to {
            return Err(ApiError::Unprocessable("from must be before to".to_owned()));
        }
        let bucket = self.bucket.unwrap_or_default();
        let buckets = (to - from).num_seconds() / bucket.step().num_seconds();
        if buckets > MAX_BUCKETS {
            return Err(ApiError::Unprocessable(format!(
                "The range holds {buckets} buckets of one {}; at most {MAX_BUCKETS}: \
                 choose a shorter range or bucket=day",
                bucket.name()
            )));
        }
        Ok(Range { from, to, bucket })
    }
}

/// Orders of each status.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct StatusCounts {
    pub pending: i64,
    pub confirmed: i64,
    pub paid: i64,
    pub processing: i64,
    pub shipped: i64,
    pub delivered: i64,
    pub cancelled: i64,
}

impl StatusCounts {
    fn add(&mut self, status: OrderStatus, n: i64) {
        let slot = match status {
            OrderStatus::Pending => &mut self.pending,
            OrderStatus::Confirmed => &mut self.confirmed,
            OrderStatus::Paid => &mut self.paid,
            OrderStatus::Processing => &mut self.processing,
            OrderStatus::Shipped => &mut self.shipped,
            OrderStatus::Delivered => &mut self.delivered,
            OrderStatus::Cancelled => &mut self.cancelled,
        };
        *slot += n;
    }
}

/// One point of the series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct StatsPoint {
    /// Where the bucket starts (RFC 3339, UTC).
    pub start: String,
    /// Orders placed in it.
    pub orders: i64,
    /// Revenue of those orders.
    pub revenue: Money,
}

/// `GET /stats`: the orders placed in `[from, to)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Stats {
    /// RFC 3339, UTC.
    pub from: String,
    /// RFC 3339, UTC (exclusive).
    pub to: String,
    pub bucket: Bucket,
    /// Orders placed in the range.
    pub orders: i64,
    /// Those orders by their status now.
    pub by_status: StatusCounts,
    /// Orders that count as revenue: paid and not cancelled (paid,
    /// processing, shipped, delivered).
    pub paid_orders: i64,
    /// Their totals. A refunded order is cancelled, so never revenue.
    pub revenue: Money,
    /// Revenue / paid orders, rounded half up to the cent (0 without any).
    pub average_order_value: Money,
    /// Cancelled orders whose payment was refunded (or is being refunded).
    pub refunds: i64,
    /// What those refunds gave back.
    pub refunded: Money,
    /// Every bucket from the one holding `from` to the one holding the end
    /// of the range, empty ones included, oldest first.
    pub series: Vec<StatsPoint>,
}

/// One row of the aggregate: orders of a bucket, status and refund status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// The bucket's prefix of `created_at` (`2026-11-01` or `2026-11-01T10`).
    pub bucket: String,
    pub status: OrderStatus,
    pub refund: Option<RefundStatus>,
    pub orders: i64,
    pub cents: i64,
}

/// Whether orders in `status` count as revenue.
pub fn is_revenue(status: OrderStatus) -> bool {
    matches!(
        status,
        OrderStatus::Paid | OrderStatus::Processing | OrderStatus::Shipped | OrderStatus::Delivered
    )
}

fn money(cents: i64) -> Result<Money, ApiError> {
    Money::from_cents(cents).ok_or_else(|| ApiError::internal(format!("amount {cents} cents")))
}

/// The figures of `range` from the aggregate's `groups`.
pub fn summarize(range: Range, groups: &[Group]) -> Result<Stats, ApiError> {
    let mut by_status = StatusCounts::default();
    let (mut orders, mut paid_orders, mut revenue) = (0i64, 0i64, 0i64);
    let (mut refunds, mut refunded) = (0i64, 0i64);
    let mut per_bucket: std::collections::HashMap<&str, (i64, i64)> = Default::default();
    for group in groups {
        orders += group.orders;
        by_status.add(group.status, group.orders);
        let point = per_bucket.entry(group.bucket.as_str()).or_default();
        point.0 += group.orders;
        if is_revenue(group.status) {
            paid_orders += group.orders;
            revenue += group.cents;
            point.1 += group.cents;
        }
        if group.status == OrderStatus::Cancelled && group.refund.is_some() {
            refunds += group.orders;
            refunded += group.cents;
        }
    }
    let average = if paid_orders == 0 {
        0
    } else {
        (2 * revenue + paid_orders) / (2 * paid_orders)
    };
    let step = range.bucket.step();
    let mut start = range
        .from
        .duration_trunc(step)
        .map_err(|err| ApiError::internal(format!("bucket start: {err}")))?;
    let mut series = Vec::new();
    while start < range.to {
        let stamp = rfc3339(start);
        let (n, cents) = per_bucket
            .get(&stamp[..range.bucket.prefix_len()])
            .copied()
            .unwrap_or_default();
        series.push(StatsPoint {
            start: start.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            orders: n,
            revenue: money(cents)?,
        });
        start += step;
    }
    Ok(Stats {
        from: rfc3339(range.from),
        to: rfc3339(range.to),
        bucket: range.bucket,
        orders,
        by_status,
        paid_orders,
        revenue: money(revenue)?,
        average_order_value: money(average)?,
        refunds,
        refunded: money(refunded)?,
        series,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(raw: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(raw)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn group(bucket: &str, status: OrderStatus, orders: i64, cents: i64) -> Group {
        Group {
            bucket: bucket.to_owned(),
            status,
            refund: None,
            orders,
            cents,
        }
    }

    #[test]
    fn ranges_default_to_thirty_days_and_are_checked() {
        let now = at("2026-12-06T10:00:00Z");
        let range = StatsQuery::default().range(now).unwrap();
        assert_eq!(range.to, now);
        assert_eq!(range.from, at("2026-11-06T10:00:00Z"));
        let query = |from: &str, to: &str, bucket| StatsQuery {
            from: Some(from.to_owned()),
            to: Some(to.to_owned()),
            bucket,
        };
        let dates = query("2026-11-01", "2026-11-02T12:00:00+02:00", None)
            .range(now)
            .unwrap();
        assert_eq!(dates.from, at("2026-11-01T00:00:00Z"));
        assert_eq!(dates.to, at("2026-11-02T10:00:00Z"));
        for (from, to, bucket, says) in [
            ("2026-11-02", "2026-11-01", None, "before"),
            ("2026-11-01", "2026-11-01", None, "before"),
            ("yesterday", "2026-11-01", None, "not \"yesterday\""),
            ("2020-01-01", "2026-01-01", Some(Bucket::Hour), "buckets"),
        ] {
            let err = query(from, to, bucket).range(now).unwrap_err();
            assert!(
                matches!(&err, ApiError::Unprocessable(m) if m.contains(says)),
                "{from} {to}: {err:?}"
            );
        }
    }

    #[test]
    fn figures_are_exact_to_the_cent_and_refunds_are_not_revenue() {
        let range = Range {
            from: at("2026-11-01T12:00:00Z"),
            to: at("2026-11-04T00:00:00Z"),
            bucket: Bucket::Day,
        };
        let mut refunded = group("2026-11-02", OrderStatus::Cancelled, 2, 2_000);
        refunded.refund = Some(RefundStatus::Refunded);
        let groups = [
            group("2026-11-01", OrderStatus::Paid, 2, 1_001),
            group("2026-11-01", OrderStatus::Pending, 1, 500),
            group("2026-11-02", OrderStatus::Delivered, 1, 2),
            group("2026-11-02", OrderStatus::Cancelled, 3, 900),
            refunded,
        ];
        let stats = summarize(range, &groups).unwrap();
        assert_eq!(stats.orders, 9);
        assert_eq!(stats.by_status.cancelled, 5);
        assert_eq!(stats.paid_orders, 3);
        assert_eq!(stats.revenue.cents(), 1_003);
        // 10.03 / 3 = 3.3433… -> 3.34
        assert_eq!(stats.average_order_value.cents(), 334);
        assert_eq!((stats.refunds, stats.refunded.cents()), (2, 2_000));
        let points: Vec<(&str, i64, i64)> = stats
            .series
            .iter()
            .map(|p| (p.start.as_str(), p.orders, p.revenue.cents()))
            .collect();
        assert_eq!(
            points,
            vec![
                ("2026-11-01T00:00:00Z", 3, 1_001),
                ("2026-11-02T00:00:00Z", 6, 2),
                ("2026-11-03T00:00:00Z", 0, 0),
            ]
        );
    }

    #[test]
    fn averages_round_half_up() {
        let range = Range {
            from: at("2026-11-01T00:00:00Z"),
            to: at("2026-11-01T02:00:00Z"),
            bucket: Bucket::Hour,
        };
        let stats = summarize(range, &[group("2026-11-01T01", OrderStatus::Paid, 2, 5)]).unwrap();
        assert_eq!(stats.average_order_value.cents(), 3);
        assert_eq!(stats.series.len(), 2);
        assert_eq!(stats.series[1].orders, 2);
    }
}
