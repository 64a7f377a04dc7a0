//! The services the order service calls: cart, catalog and payment. Every
//! call that changes something is keyed, so repeating it is harmless.

use axum::http::{HeaderMap, HeaderName, HeaderValue, Method};
use serde::{Deserialize, Serialize};
use shop_common::client::ServiceClient;
use shop_common::idempotency;
use shop_common::{ApiError, Money};

use shop_common::PaymentMethod;

use crate::domain::CartLine;

#[derive(Debug, Clone, Serialize)]
struct RemoveItems<'a> {
    key: &'a str,
    items: &'a [CartLine],
}

/// The cart service.
#[derive(Debug, Clone)]
pub struct Cart {
    pub client: ServiceClient,
}

impl Cart {
    /// The lines of a user's cart.
    pub async fn lines(&self, user_id: &str) -> Result<Vec<CartLine>, ApiError> {
        self.client
            .get(&format!("/cart/{}/checkout-lines", encode(user_id)))
            .await
    }

    /// Takes a checkout's lines out of the cart under `key`, all or none,
    /// once however often called: a 409 when the cart no longer holds them
    /// (or they were given back under `key`).
    pub async fn remove(
        &self,
        user_id: &str,
        key: &str,
        lines: &[CartLine],
    ) -> Result<(), ApiError> {
        self.send(user_id, "remove-items", key, lines).await
    }

    /// Gives back what [`Cart::remove`] took under `key`, once however
    /// often called; when nothing was taken, a later removal under `key`
    /// takes nothing.
    pub async fn restore(
        &self,
        user_id: &str,
        key: &str,
        lines: &[CartLine],
    ) -> Result<(), ApiError> {
        self.send(user_id, "restore-items", key, lines).await
    }

    async fn send(
        &self,
        user_id: &str,
        action: &str,
        key: &str,
        lines: &[CartLine],
    ) -> Result<(), ApiError> {
        let _: serde_json::Value = self
            .client
            .call(
                Method::POST,
                &format!("/cart/{}/{action}", encode(user_id)),
                Some(&RemoveItems { key, items: lines }),
                HeaderMap::new(),
            )
            .await?;
        Ok(())
    }
}

/// A reserved line, priced by the catalog when it was reserved.
#[derive(Debug, Clone, Deserialize)]
pub struct ReservedLine {
    pub product_id: i64,
    pub quantity: i64,
    pub name: String,
    pub price: Money,
}

#[derive(Debug, Clone, Deserialize)]
struct Reservation {
    items: Vec<ReservedLine>,
}

#[derive(Debug, Clone, Serialize)]
struct NewReservation<'a> {
    key: &'a str,
    items: &'a [CartLine],
}

/// The catalog service's stock reservations.
#[derive(Debug, Clone)]
pub struct Catalog {
    pub client: ServiceClient,
}

impl Catalog {
    /// Reserves the lines' stock under `key`, all or none (again under the
    /// same key: the same reservation). 409 names a product short of stock.
    pub async fn reserve(
        &self,
        key: &str,
        lines: &[CartLine],
    ) -> Result<Vec<ReservedLine>, ApiError> {
        let reservation: Reservation = self
            .client
            .call(
                Method::POST,
                "/reservations",
                Some(&NewReservation { key, items: lines }),
                HeaderMap::new(),
            )
            .await?;
        Ok(reservation.items)
    }

    /// Returns the stock held under `key`, exactly once however often called.
    pub async fn release(&self, key: &str) -> Result<(), ApiError> {
        let _: serde_json::Value = self
            .client
            .call(
                Method::POST,
                &format!("/reservations/{}/release", encode(key)),
                None::<&()>,
                HeaderMap::new(),
            )
            .await?;
        Ok(())
    }
}

/// A payment as the payment service answers it.
#[derive(Debug, Clone, Deserialize)]
pub struct PaymentResult {
    pub id: String,
    pub status: PaymentOutcome,
}

/// What the payment service decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PaymentOutcome {
    Pending,
    Success,
    Failed,
}

#[derive(Debug, Clone, Serialize)]
struct NewPayment {
    order_id: i64,
    amount: Money,
    method: PaymentMethod,
}

/// The payment service.
#[derive(Debug, Clone)]
pub struct Payments {
    pub client: ServiceClient,
}

impl Payments {
    /// Asks for a payment of `amount` for `order_id` by `method`. The attempt's `key`
    /// goes as the Idempotency-Key, so asking again after a crash or a
    /// timeout answers the same and charges at most once.
    pub async fn pay(
        &self,
        order_id: i64,
        amount: Money,
        method: PaymentMethod,
        key: &str,
    ) -> Result<PaymentResult, ApiError> {
        let mut headers = HeaderMap::new();
        let value = HeaderValue::from_str(key)
            .map_err(|_| ApiError::internal(format!("unusable payment key {key}")))?;
        headers.insert(HeaderName::from_static(idempotency::HEADER), value);
        self.client
            .call(
                Method::POST,
                "/payments",
                Some(&NewPayment {
                    order_id,
                    amount,
                    method,
                }),
                headers,
            )
            .await
    }
}

/// A refund as the payment service answers it.
#[derive(Debug, Clone, Deserialize)]
pub struct RefundResult {
    pub id: String,
    pub created_at: String,
}

#[derive(Debug, Clone, Deserialize)]
struct RefundedPayment {
    refund: Option<RefundResult>,
}

impl Payments {
    /// Refunds payment `payment_id` in full, once however often asked (the
    /// payment service keeps one refund per payment and answers it again).
    pub async fn refund(&self, payment_id: &str) -> Result<RefundResult, ApiError> {
        let payment: RefundedPayment = self
            .client
            .call(
                Method::POST,
                &format!("/payments/{}/refund", encode(payment_id)),
                None::<&()>,
                HeaderMap::new(),
            )
            .await?;
        payment.refund.ok_or_else(|| {
            ApiError::internal(format!("payment {payment_id} answered without its refund"))
        })
    }
}

/// Percent-encodes a path segment (a user id may hold `/`, `#`, `?`...).
pub fn encode(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for byte in segment.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::encode;

    #[test]
    fn path_segments_are_encoded() {
        assert_eq!(encode("victim#"), "victim%23");
        assert_eq!(encode("a/b?x=1"), "a%2Fb%3Fx%3D1");
        assert_eq!(encode("é"), "%C3%A9");
        assert_eq!(encode("user-1_ok.~"), "user-1_ok.~");
    }
}
