//! Payments as the API shows them, and how a payment is decided.

use serde::{Deserialize, Serialize};
use shop_common::{Money, PaymentMethod};
use utoipa::{IntoParams, ToSchema};

/// A payment attempt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Payment {
    /// UUID v4.
    pub id: String,
    pub order_id: i64,
    pub amount: Money,
    pub status: PaymentStatus,
    /// How it was paid: `card` (through Shop) or `manual` (taken outside
    /// Shop and recorded by staff).
    pub method: PaymentMethod,
    /// RFC 3339, UTC.
    pub created_at: String,
    /// The money given back, once the order was cancelled: absent until
    /// then, and at most one per payment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refund: Option<Refund>,
}

/// The refund of a successful payment: its full amount, given back when
/// its order was cancelled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Refund {
    /// UUID v4.
    pub id: String,
    pub amount: Money,
    /// RFC 3339, UTC.
    pub created_at: String,
}

/// The outcome of a payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum PaymentStatus {
    Pending,
    Success,
    Failed,
}

impl PaymentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentStatus::Pending => "pending",
            PaymentStatus::Success => "success",
            PaymentStatus::Failed => "failed",
        }
    }

    pub fn parse(raw: &str) -> Option<PaymentStatus> {
        match raw {
            "pending" => Some(PaymentStatus::Pending),
            "success" => Some(PaymentStatus::Success),
            "failed" => Some(PaymentStatus::Failed),
            _ => None,
        }
    }
}

/// The body of `POST /payments`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct NewPayment {
    /// The order paid for; at least 1.
    pub order_id: i64,
    pub amount: Money,
    /// `card` (the default) or `manual`.
    #[serde(default)]
    pub method: PaymentMethod,
}

/// Query of `GET /payments`.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only the payments of this order.
    pub order_id: Option<i64>,
    /// Payments to skip (default 0; not with `after` or `before`).
    pub skip: Option<i64>,
    /// Payments to return, 0 to 1000 (default 100).
    pub limit: Option<i64>,
    /// The next page: the cursor in the `Link` header's `rel="next"`.
    pub after: Option<String>,
    /// The previous page: the cursor in its `rel="prev"`.
    pub before: Option<String>,
    /// `true`: the last page (`rel="last"`).
    pub last: Option<bool>,
}

/// Decides whether a payment goes through. Behind a trait so tests can
/// force either outcome.
pub trait Decider: Send + Sync + std::fmt::Debug {
    fn approve(&self) -> bool;
}

/// Approves with probability `rate` (`PAYMENT_SUCCESS_RATE`).
#[derive(Debug, Clone, Copy)]
pub struct RandomDecider {
    pub rate: f64,
}

impl Decider for RandomDecider {
    fn approve(&self) -> bool {
        rand::random::<f64>() < self.rate
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_zero_and_one_are_certain() {
        assert!((0..1000).all(|_| RandomDecider { rate: 1.0 }.approve()));
        assert!((0..1000).all(|_| !RandomDecider { rate: 0.0 }.approve()));
    }
}
