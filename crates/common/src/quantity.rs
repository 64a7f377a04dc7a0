//! Whole numbers of units: quantities in carts and orders, stock levels.

use serde::{de, Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

/// The most units of one product a cart line or order line may hold.
pub const MAX_QUANTITY: i64 = 1_000_000;
/// The most units of one product the catalog may hold.
pub const MAX_STOCK: i64 = 1_000_000_000;

/// A quantity of at least 1 and at most [`MAX_QUANTITY`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, ToSchema)]
#[schema(value_type = i64, description = "Units, from 1 to 1000000")]
pub struct Quantity(i64);

impl Quantity {
    pub fn new(units: i64) -> Option<Quantity> {
        (1..=MAX_QUANTITY)
            .contains(&units)
            .then_some(Quantity(units))
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

impl<'de> Deserialize<'de> for Quantity {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let units = i64::deserialize(deserializer)?;
        Quantity::new(units).ok_or_else(|| {
            de::Error::custom(format!(
                "quantity must be from 1 to {MAX_QUANTITY}, got {units}"
            ))
        })
    }
}

/// A stock level from 0 to [`MAX_STOCK`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, ToSchema)]
#[schema(value_type = i64, description = "Units in stock, from 0 to 1000000000")]
pub struct Stock(i64);

impl Stock {
    pub fn new(units: i64) -> Option<Stock> {
        (0..=MAX_STOCK).contains(&units).then_some(Stock(units))
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

impl<'de> Deserialize<'de> for Stock {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let units = i64::deserialize(deserializer)?;
        Stock::new(units).ok_or_else(|| {
            de::Error::custom(format!("stock must be from 0 to {MAX_STOCK}, got {units}"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_are_enforced_when_parsing() {
        assert!(serde_json::from_str::<Quantity>("0").is_err());
        assert!(serde_json::from_str::<Quantity>("-3").is_err());
        assert!(serde_json::from_str::<Quantity>("1.5").is_err());
        assert!(serde_json::from_str::<Quantity>("\"2\"").is_err());
        assert!(serde_json::from_str::<Quantity>("99999999999999999999").is_err());
        assert_eq!(serde_json::from_str::<Quantity>("3").unwrap().get(), 3);
        assert!(serde_json::from_str::<Stock>("-1").is_err());
        assert_eq!(serde_json::from_str::<Stock>("0").unwrap().get(), 0);
    }
}
