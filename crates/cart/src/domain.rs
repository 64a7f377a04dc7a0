//! Carts as the API shows them and as clients change them.

use serde::{Deserialize, Serialize};
use shop_common::quantity::MAX_QUANTITY;
use shop_common::{ApiError, Money, Quantity, Text};
use utoipa::{IntoParams, ToSchema};

/// A line of a cart, with the product's current name and price.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CartItem {
    pub id: i64,
    pub user_id: String,
    pub product_id: i64,
    pub quantity: i64,
    /// `null` when the product no longer exists in the catalog.
    pub product_name: Option<String>,
    /// `null` when the product no longer exists in the catalog.
    pub product_price: Option<Money>,
    /// RFC 3339, UTC.
    pub created_at: String,
}

/// A user's cart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Cart {
    pub user_id: String,
    pub items: Vec<CartItem>,
    /// Sum of price x quantity over the items whose product exists.
    pub total: Total,
}

/// A cart's total: the exact sum of price x quantity, however large it
/// grows (a price raised after the units were added can take it past what
/// one order may cost, and the cart is still shown). On the wire, like
/// [`Money`]: a JSON number with two decimals.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Total(i128);

impl Total {
    /// Adds `quantity` units at `price`.
    pub fn add(&mut self, price: Money, quantity: i64) {
        let line = i128::from(price.cents()).saturating_mul(i128::from(quantity));
        self.0 = self.0.saturating_add(line);
    }

    pub fn cents(self) -> i128 {
        self.0
    }
}

impl std::fmt::Display for Total {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{:02}", self.0 / 100, self.0 % 100)
    }
}

impl Serialize for Total {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let number: serde_json::Number = self
            .to_string()
            .parse()
            .map_err(serde::ser::Error::custom)?;
        number.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Total {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = serde_json::Number::deserialize(deserializer)?.to_string();
        let (units, cents) = text.split_once('.').unwrap_or((&text, "0"));
        let cents = format!("{cents:0<2}");
        let parsed = match (units.parse::<i128>(), cents.parse::<i128>()) {
            (Ok(units), Ok(cents)) if cents < 100 && units >= 0 => {
                units.checked_mul(100).and_then(|u| u.checked_add(cents))
            }
            _ => None,
        };
        parsed.map(Total).ok_or_else(|| {
            serde::de::Error::custom(
                "a total must be a non-negative amount with at most two decimals",
            )
        })
    }
}

impl utoipa::PartialSchema for Total {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, SchemaType, Type};
        ObjectBuilder::new()
            .schema_type(SchemaType::Type(Type::Number))
            .minimum(Some(0.0))
            .multiple_of(Some(0.01))
            .description(Some(
                "A total: a JSON number with two decimals, as large as the cart's lines make it",
            ))
            .examples([serde_json::json!(2029.97)])
            .into()
    }
}

impl ToSchema for Total {}

/// The body of `POST /cart/{user_id}/items`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct AddItem {
    pub product_id: i64,
    #[serde(default = "one")]
    pub quantity: Quantity,
}

fn one() -> Quantity {
    Quantity::new(1).expect("1 is a valid quantity")
}

/// `?quantity=` of `PUT /cart/{user_id}/items/{product_id}`.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct QuantityQuery {
    /// The new quantity, from 1 to 1000000 (or send `{"quantity": n}` as
    /// the body). 0 or below is 400 "Quantity must be positive", as the
    /// seed platform answers.
    pub quantity: Option<i64>,
}

/// The optional body of `PUT /cart/{user_id}/items/{product_id}`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct SetQuantity {
    /// From 1 to 1000000.
    pub quantity: i64,
}

/// A quantity a line is set to: 0 or below is the seed's 400, above the
/// largest quantity a 422.
pub fn new_quantity(units: i64) -> Result<Quantity, ApiError> {
    if units <= 0 {
        return Err(ApiError::BadRequest("Quantity must be positive".to_owned()));
    }
    Quantity::new(units).ok_or_else(|| {
        ApiError::Unprocessable(format!(
            "quantity must be from 1 to {MAX_QUANTITY}, got {units}"
        ))
    })
}

/// The most different products one cart holds (what one order can
/// reserve, and one catalog read can price).
pub const MAX_LINES: i64 = 1000;

/// One product and a quantity of it.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
pub struct Line {
    pub product_id: i64,
    pub quantity: Quantity,
}

/// The body of `POST /cart/{user_id}/remove-items` and
/// `POST /cart/{user_id}/restore-items`: a checkout's key and its lines.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RemoveItems {
    /// The checkout's key: its lines leave the cart once under it, and
    /// come back once.
    #[schema(value_type = String)]
    pub key: Text<1, 200>,
    /// Each product at most once, at most 1000 lines.
    pub items: Vec<Line>,
}

impl RemoveItems {
    /// The lines as (product id, units): 422 when a product is named twice
    /// or there are more lines than a cart holds.
    pub fn lines(&self) -> Result<Vec<(i64, i64)>, ApiError> {
        if self.items.len() as i64 > MAX_LINES {
            return Err(ApiError::Unprocessable(format!(
                "items: at most {MAX_LINES} lines"
            )));
        }
        let mut seen = std::collections::HashSet::new();
        self.items
            .iter()
            .map(|line| {
                if !seen.insert(line.product_id) {
                    return Err(ApiError::Unprocessable(format!(
                        "items: product {} is named twice",
                        line.product_id
                    )));
                }
                Ok((line.product_id, line.quantity.get()))
            })
            .collect()
    }
}

/// A plain confirmation.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Message {
    pub message: String,
}

impl Message {
    pub fn new(text: &str) -> Message {
        Message {
            message: text.to_owned(),
        }
    }
}
