//! How an order is paid: shared by the order service (which asks for a
//! payment) and the payment service (which records it).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// How a payment is taken.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum PaymentMethod {
    /// Charged through Shop (`POST /orders/{id}/payment`); approved with
    /// probability `PAYMENT_SUCCESS_RATE`.
    #[default]
    Card,
    /// Taken outside Shop (cash, bank transfer) and recorded by staff:
    /// `PUT /orders/{id}/status` to `paid` ("mark as paid"); always succeeds.
    Manual,
}

impl PaymentMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentMethod::Card => "card",
            PaymentMethod::Manual => "manual",
        }
    }

    pub fn parse(raw: &str) -> Option<PaymentMethod> {
        [PaymentMethod::Card, PaymentMethod::Manual]
            .into_iter()
            .find(|m| m.as_str() == raw)
    }
}
