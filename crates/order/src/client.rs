//! The services the order service calls: cart, catalog and payment.

use std::collections::HashMap;

use axum::http::{HeaderMap, Method};
use serde::{Deserialize, Serialize};
use shop_common::client::ServiceClient;
use shop_common::{ApiError, Money};

/// A cart line as the order service needs it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CartLine {
    pub product_id: i64,
    pub quantity: i64,
}

#[derive(Debug, Clone, Deserialize)]
struct CartView {
    items: Vec<CartLine>,
}

#[derive(Debug, Clone, Serialize)]
struct RemoveItems<'a> {
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
        let view: CartView = self
            .client
            .get(&format!("/cart/{}", encode(user_id)))
            .await?;
        Ok(view.items)
    }

    /// Takes what an order bought out of the cart.
    pub async fn remove(&self, user_id: &str, lines: &[CartLine]) -> Result<(), ApiError> {
        let _: serde_json::Value = self
            .client
            .call(
                Method::POST,
                &format!("/cart/{}/remove-items", encode(user_id)),
                Some(&RemoveItems { items: lines }),
                HeaderMap::new(),
            )
            .await?;
        Ok(())
    }
}

/// A product as the order service needs it.
#[derive(Debug, Clone, Deserialize)]
pub struct CatalogProduct {
    pub id: i64,
    pub name: String,
    pub price: Money,
    pub stock: i64,
}

/// The catalog service.
#[derive(Debug, Clone)]
pub struct Catalog {
    pub client: ServiceClient,
}

impl Catalog {
    /// Several products in one call, by id; missing ones are absent.
    pub async fn products(&self, ids: &[i64]) -> Result<HashMap<i64, CatalogProduct>, ApiError> {
        let list: Vec<String> = ids.iter().map(i64::to_string).collect();
        let products: Vec<CatalogProduct> = self
            .client
            .get(&format!("/products?ids={}", list.join(",")))
            .await?;
        Ok(products.into_iter().map(|p| (p.id, p)).collect())
    }
}

/// A payment as the payment service answers it.
#[derive(Debug, Clone, Deserialize)]
pub struct PaymentResult {
    pub id: String,
    pub status: String,
}

#[derive(Debug, Clone, Serialize)]
struct NewPayment {
    order_id: i64,
    amount: Money,
}

/// The payment service.
#[derive(Debug, Clone)]
pub struct Payments {
    pub client: ServiceClient,
}

impl Payments {
    /// Asks for a payment of `amount` for `order_id`.
    pub async fn pay(&self, order_id: i64, amount: Money) -> Result<PaymentResult, ApiError> {
        self.client
            .call(
                Method::POST,
                "/payments",
                Some(&NewPayment { order_id, amount }),
                HeaderMap::new(),
            )
            .await
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
