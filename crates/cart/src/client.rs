//! The catalog, as the cart sees it: names, prices and stock.

use std::collections::HashMap;

use serde::Deserialize;
use shop_common::client::ServiceClient;
use shop_common::{ApiError, Money};

/// The fields of a catalog product the cart needs.
#[derive(Debug, Clone, Deserialize)]
pub struct CatalogProduct {
    pub id: i64,
    pub name: String,
    pub price: Money,
    pub stock: i64,
}

#[derive(Debug, Clone)]
pub struct Catalog {
    client: ServiceClient,
}

impl Catalog {
    pub fn new(client: ServiceClient) -> Catalog {
        Catalog { client }
    }

    /// One product; 404 from the catalog becomes "Product N not found".
    pub async fn product(&self, id: i64) -> Result<CatalogProduct, ApiError> {
        self.client
            .get(&format!("/products/{id}"))
            .await
            .map_err(|err| match err {
                ApiError::NotFound(_) => ApiError::NotFound(format!("Product {id} not found")),
                other => other,
            })
    }

    /// Several products in one call, by id; missing ones are absent.
    pub async fn products(&self, ids: &[i64]) -> Result<HashMap<i64, CatalogProduct>, ApiError> {
        let mut found = HashMap::with_capacity(ids.len());
        // The most ids one catalog read takes.
        for chunk in ids.chunks(1000) {
            let list: Vec<String> = chunk.iter().map(i64::to_string).collect();
            let products: Vec<CatalogProduct> = self
                .client
                .get(&format!("/products?ids={}", list.join(",")))
                .await?;
            found.extend(products.into_iter().map(|p| (p.id, p)));
        }
        Ok(found)
    }
}
