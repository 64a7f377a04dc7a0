//! Orders, their status machine and payments, checkouts, order events,
//! and what clients send: the order service's types, free of SQL and HTTP.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use shop_common::extract::{instant, money_range};
use shop_common::paging::{Position, SortOrder, Window};
use shop_common::{rfc3339, ApiError, Money, PaymentMethod, UserId};
use utoipa::{IntoParams, ToSchema};

/// Where an order is in its life.
///
/// ```text
/// pending -> confirmed -> paid -> processing -> shipped -> delivered
///    \___________\__________\________\______-> cancelled
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum OrderStatus {
    Pending,
    Confirmed,
    Paid,
    Processing,
    Shipped,
    Delivered,
    Cancelled,
}

impl OrderStatus {
    pub const ALL: [OrderStatus; 7] = [
        OrderStatus::Pending,
        OrderStatus::Confirmed,
        OrderStatus::Paid,
        OrderStatus::Processing,
        OrderStatus::Shipped,
        OrderStatus::Delivered,
        OrderStatus::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Pending => "pending",
            OrderStatus::Confirmed => "confirmed",
            OrderStatus::Paid => "paid",
            OrderStatus::Processing => "processing",
            OrderStatus::Shipped => "shipped",
            OrderStatus::Delivered => "delivered",
            OrderStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(raw: &str) -> Option<OrderStatus> {
        OrderStatus::ALL.into_iter().find(|s| s.as_str() == raw)
    }

    /// Whether a payment may be taken for an order in this status.
    pub fn is_payable(self) -> bool {
        matches!(self, OrderStatus::Pending | OrderStatus::Confirmed)
    }

    /// Whether `PUT /orders/{id}/status` may move an order from `self` to
    /// `next`. Moving a payable order to `paid` records a manual payment
    /// ("mark as paid"): `paid` always comes with its one successful payment.
    pub fn can_become(self, next: OrderStatus) -> bool {
        use OrderStatus::*;
        matches!(
            (self, next),
            (Pending, Confirmed)
                | (Pending | Confirmed, Paid)
                | (Paid, Processing)
                | (Processing, Shipped)
                | (Shipped, Delivered)
                | (Pending | Confirmed | Paid | Processing, Cancelled)
        )
    }

    /// The statuses `PUT /orders/{id}/status` may move to from `self`.
    pub fn next_statuses(self) -> Vec<OrderStatus> {
        OrderStatus::ALL
            .into_iter()
            .filter(|next| self.can_become(*next))
            .collect()
    }
}

/// One line of an order, priced when the order was placed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OrderItem {
    pub product_id: i64,
    pub product_name: String,
    pub quantity: i64,
    /// Unit price at order time.
    pub price: Money,
}

/// An order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Order {
    pub id: i64,
    pub user_id: String,
    pub status: OrderStatus,
    /// Sum of price x quantity, exact to the cent.
    pub total_amount: Money,
    pub items: Vec<OrderItem>,
    /// The successful payment's id, once paid.
    pub payment_id: Option<String>,
    /// RFC 3339, UTC.
    pub created_at: String,
    /// RFC 3339, UTC.
    pub updated_at: String,
    /// The catalog reservation holding the order's stock (internal).
    #[serde(skip)]
    pub reservation_key: Option<String>,
    /// Whether a cancelled order's stock went back (internal).
    #[serde(skip)]
    pub stock_released: bool,
    /// The payment attempt under way, or the one that paid (internal).
    #[serde(skip)]
    pub paying_key: Option<String>,
    /// How that attempt is paid (internal).
    #[serde(skip)]
    pub paying_method: PaymentMethod,
    /// Why a cancelled order was cancelled: `expired` when it was not paid
    /// within `ORDER_PAYMENT_TIMEOUT`; absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// When an unpaid order expires (RFC 3339, UTC): only while it is
    /// payable and orders expire.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// A cancelled order that was paid gets its payment refunded: `pending`
    /// until the payment service recorded it, then `refunded`. Absent for
    /// any other order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refund_status: Option<RefundStatus>,
    /// The refund's id (the payment's `refund.id`), once refunded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refund_id: Option<String>,
    /// When it was refunded (RFC 3339, UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refunded_at: Option<String>,
}

/// Where the refund of a cancelled paid order is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RefundStatus {
    /// Cancelled; the refund is being made (recovery finishes it).
    Pending,
    /// The payment service recorded the refund.
    Refunded,
}

impl RefundStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RefundStatus::Pending => "pending",
            RefundStatus::Refunded => "refunded",
        }
    }

    pub fn parse(raw: &str) -> Option<RefundStatus> {
        [RefundStatus::Pending, RefundStatus::Refunded]
            .into_iter()
            .find(|s| s.as_str() == raw)
    }
}

/// The payment attempt that holds an order, as the payment service checks
/// it (`GET /orders/{order_id}/payment-attempt`, service only).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PaymentAttempt {
    pub order_id: i64,
    /// Whose order it is (the payment service shows a customer only the
    /// payments of their own orders).
    pub user_id: String,
    /// What a payment for the order must charge.
    pub total_amount: Money,
    pub status: OrderStatus,
    /// The attempt under way (or the one that paid): the only
    /// Idempotency-Key a payment for the order may be recorded under.
    pub key: Option<String>,
    pub method: PaymentMethod,
}

/// The body of `POST /orders`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct NewOrder {
    /// The user whose cart becomes the order.
    pub user_id: String,
}

/// The body of `PUT /orders/{order_id}/status`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct StatusUpdate {
    pub status: OrderStatus,
}

/// `?status=` of `PUT /orders/{order_id}/status`.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatusQuery {
    /// The new status (or send `{"status": "..."}` as the body).
    pub status: Option<OrderStatus>,
}

/// Query of `GET /orders` and `GET /orders/user/{user_id}`: the seed's
/// `skip`/`limit`, or cursors; filters; a sort.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OrderQuery {
    /// Orders to skip (default 0; not with `after` or `before`).
    pub skip: Option<i64>,
    /// Orders to return, 0 to 1000 (default 100).
    pub limit: Option<i64>,
    /// The next page: the cursor in the `Link` header's `rel="next"`.
    pub after: Option<String>,
    /// The previous page: the cursor in its `rel="prev"`.
    pub before: Option<String>,
    /// `true`: the last page (`rel="last"`).
    pub last: Option<bool>,
    /// Only orders in this status.
    pub status: Option<OrderStatus>,
    /// Only this user's orders (`GET /orders`; a customer may name only
    /// themselves).
    pub user_id: Option<String>,
    /// Placed at or after: a date (`2026-11-01`) or an RFC 3339 time.
    pub created_from: Option<String>,
    /// Placed before: a date or an RFC 3339 time.
    pub created_to: Option<String>,
    /// A total of at least this amount.
    pub total_min: Option<String>,
    /// A total of at most this amount.
    pub total_max: Option<String>,
    /// `created` (the default; by id, which grows with time) or `total`.
    pub sort: Option<OrderSort>,
    /// `desc` (the default: newest or largest first) or `asc`.
    pub order: Option<SortOrder>,
    /// `true`: the `X-Total-Count` header says how many orders the filters
    /// select in all (one more query, counting along an index).
    pub count: Option<bool>,
}

/// What an order list is sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum OrderSort {
    #[default]
    Created,
    Total,
}

/// A checked [`OrderQuery`].
#[derive(Debug, Clone, PartialEq)]
pub struct OrderFilter {
    pub window: Window,
    pub status: Option<OrderStatus>,
    pub user_id: Option<String>,
    /// RFC 3339, as stored.
    pub created_from: Option<String>,
    pub created_to: Option<String>,
    pub total_min: Option<Money>,
    pub total_max: Option<Money>,
    pub sort: OrderSort,
    pub descending: bool,
    pub count: bool,
}

impl OrderQuery {
    /// The checked filter; 422 naming the parameter at fault.
    pub fn checked(&self) -> Result<OrderFilter, ApiError> {
        let window = Window::new(Position {
            skip: self.skip,
            limit: self.limit,
            after: self.after.as_deref(),
            before: self.before.as_deref(),
            last: self.last,
        })?;
        let user_id = match &self.user_id {
            Some(raw) => Some(UserId::parse(raw.as_str())?.as_str().to_owned()),
            None => None,
        };
        let created_from = self
            .created_from
            .as_deref()
            .map(|raw| instant("created_from", raw))
            .transpose()?;
        let created_to = self
            .created_to
            .as_deref()
            .map(|raw| instant("created_to", raw))
            .transpose()?;
        if let (Some(from), Some(to)) = (created_from, created_to) {
            if from >= to {
                return Err(ApiError::Unprocessable(
                    "created_from must be before created_to".to_owned(),
                ));
            }
        }
        let (total_min, total_max) = money_range(
            "total",
            self.total_min.as_deref(),
            self.total_max.as_deref(),
        )?;
        Ok(OrderFilter {
            window,
            status: self.status,
            user_id,
            created_from: created_from.map(rfc3339),
            created_to: created_to.map(rfc3339),
            total_min,
            total_max,
            sort: self.sort.unwrap_or_default(),
            descending: self.order != Some(SortOrder::Asc),
            count: self.count == Some(true),
        })
    }
}

// ---------------------------------------------------------------------------
// Checkouts: a cart on its way to becoming an order (`crate::workflow::checkout`).

/// A cart line as the order service orders it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CartLine {
    pub product_id: i64,
    pub quantity: i64,
}

/// Where a checkout is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckoutState {
    Reserving,
    Releasing,
    Placed,
    Done,
    Failed,
}

impl CheckoutState {
    pub fn as_str(self) -> &'static str {
        match self {
            CheckoutState::Reserving => "reserving",
            CheckoutState::Releasing => "releasing",
            CheckoutState::Placed => "placed",
            CheckoutState::Done => "done",
            CheckoutState::Failed => "failed",
        }
    }

    pub fn parse(raw: &str) -> Option<CheckoutState> {
        [
            CheckoutState::Reserving,
            CheckoutState::Releasing,
            CheckoutState::Placed,
            CheckoutState::Done,
            CheckoutState::Failed,
        ]
        .into_iter()
        .find(|s| s.as_str() == raw)
    }
}

/// A checkout as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Checkout {
    pub key: String,
    pub user_id: String,
    /// The cart lines being ordered.
    pub lines: Vec<CartLine>,
    pub state: CheckoutState,
    /// Why it failed.
    pub detail: Option<String>,
}

// ---------------------------------------------------------------------------
// Events: what happened to orders (the outbox, `GET /events`, Kafka).

/// What happened to an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EventType {
    OrderCreated,
    OrderStatusUpdated,
    OrderPaid,
    OrderPaymentFailed,
    OrderCancelled,
    OrderRefunded,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::OrderCreated => "order_created",
            EventType::OrderStatusUpdated => "order_status_updated",
            EventType::OrderPaid => "order_paid",
            EventType::OrderPaymentFailed => "order_payment_failed",
            EventType::OrderCancelled => "order_cancelled",
            EventType::OrderRefunded => "order_refunded",
        }
    }

    pub fn parse(raw: &str) -> Option<EventType> {
        [
            EventType::OrderCreated,
            EventType::OrderStatusUpdated,
            EventType::OrderPaid,
            EventType::OrderPaymentFailed,
            EventType::OrderCancelled,
            EventType::OrderRefunded,
        ]
        .into_iter()
        .find(|t| t.as_str() == raw)
    }
}

/// An event as published and served: the seed's shape plus `event_id` (for
/// de-duplication) and `sequence` (the outbox position).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct OrderEvent {
    /// UUID v4; a redelivered event keeps its id.
    pub event_id: String,
    pub event_type: EventType,
    /// RFC 3339, UTC: when the change was committed.
    pub timestamp: String,
    /// Increases with every event.
    pub sequence: i64,
    /// `order_id`, `user_id`, `total_amount`, `status`, and per type:
    /// `items` (created), `previous_status` (status updated, cancelled),
    /// `payment_id` (paid, payment failed, refunded), `refund_id` and
    /// `refunded_at` (refunded).
    #[schema(value_type = Object)]
    pub data: Value,
}

impl OrderEvent {
    /// The user whose order the event is about (a customer sees only
    /// theirs).
    pub fn user_id(&self) -> Option<&str> {
        self.data["user_id"].as_str()
    }
}

#[cfg(test)]
mod tests {
    use super::OrderStatus::*;
    use super::*;

    #[test]
    fn status_machine_follows_the_seed() {
        assert!(Pending.can_become(Confirmed));
        assert!(Paid.can_become(Processing));
        assert!(Processing.can_become(Shipped));
        assert!(Shipped.can_become(Delivered));
        for s in [Pending, Confirmed, Paid, Processing] {
            assert!(s.can_become(Cancelled), "{s:?}");
        }
        for s in [Shipped, Delivered, Cancelled] {
            assert!(!s.can_become(Cancelled), "{s:?}");
        }
        for s in OrderStatus::ALL {
            assert_eq!(
                s.can_become(Paid),
                s.is_payable(),
                "marked paid only from a payable status, not from {s:?}"
            );
        }
        assert!(!Pending.can_become(Shipped));
        assert!(!Delivered.can_become(Pending));
        assert_eq!(Delivered.next_statuses(), vec![]);
    }

    #[test]
    fn statuses_parse_from_their_names() {
        for s in OrderStatus::ALL {
            assert_eq!(OrderStatus::parse(s.as_str()), Some(s));
        }
        assert!(serde_json::from_str::<StatusUpdate>(r#"{"status":"lost"}"#).is_err());
    }
}
