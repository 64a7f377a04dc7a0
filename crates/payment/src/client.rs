//! The order service, as the payment service asks it before recording a
//! payment.

use axum::http::{HeaderMap, HeaderName, HeaderValue, Method};
use serde::Deserialize;
use shop_common::access::Caller;
use shop_common::client::ServiceClient;
use shop_common::idempotency;
use shop_common::{ApiError, Money};

use shop_common::PaymentMethod;

/// What the order service says of an order's payment attempt.
#[derive(Debug, Clone, Deserialize)]
pub struct PaymentAttempt {
    pub order_id: i64,
    /// Whose order it is.
    pub user_id: String,
    pub total_amount: Money,
    /// The order's status, e.g. `pending`.
    pub status: String,
    /// The attempt under way (or the one that paid).
    pub key: Option<String>,
    pub method: PaymentMethod,
}

impl PaymentAttempt {
    /// Whether a payment may be taken for the order now.
    pub fn is_payable(&self) -> bool {
        matches!(self.status.as_str(), "pending" | "confirmed")
    }
}

/// What the order service answers when it paid an order.
#[derive(Debug, Clone, Deserialize)]
pub struct PaidOrder {
    pub payment_id: Option<String>,
}

/// The order service.
#[derive(Debug, Clone)]
pub struct Orders {
    pub client: ServiceClient,
}

impl Orders {
    /// The payment attempt of `order_id`; 404 when there is no such order.
    pub async fn attempt(&self, order_id: i64) -> Result<PaymentAttempt, ApiError> {
        self.client
            .get(&format!("/orders/{order_id}/payment-attempt"))
            .await
    }

    /// Pays `order_id` through the order's own flow (`POST
    /// /orders/{id}/payment`, as a service), under the client's
    /// `Idempotency-Key` when it sent one.
    pub async fn pay(
        &self,
        order_id: i64,
        key: Option<&HeaderValue>,
    ) -> Result<PaidOrder, ApiError> {
        let mut headers = HeaderMap::new();
        if let Some(key) = key {
            headers.insert(HeaderName::from_static(idempotency::HEADER), key.clone());
        }
        self.client
            .call(
                Method::POST,
                &format!("/orders/{order_id}/payment"),
                None::<&()>,
                headers,
            )
            .await
    }

    /// Whether `caller` may see the payments of `order_id` (their own
    /// order, or staff); a customer's question costs one call.
    pub async fn visible(&self, caller: &Caller, order_id: i64) -> Result<bool, ApiError> {
        if caller.only_user().is_none() {
            return Ok(caller.sees(""));
        }
        match self.attempt(order_id).await {
            Ok(attempt) => Ok(caller.sees(&attempt.user_id)),
            Err(ApiError::NotFound(_)) => Ok(false),
            Err(other) => Err(other),
        }
    }
}
