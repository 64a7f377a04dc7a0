//! Products as the API shows them and as clients send them.
//!
//! Input types parse, they do not merely validate: a [`NewProduct`] cannot
//! hold an empty name, a negative price or a price with three decimals.

use serde::{Deserialize, Serialize};
use shop_common::extract::money_range;
use shop_common::paging::{Position, SortOrder, Window};
use shop_common::{ApiError, Money, Quantity, Stock, Text};
use utoipa::{IntoParams, ToSchema};

/// A product name: 1 to 200 characters.
pub type ProductName = Text<1, 200>;
/// A description: at most 2000 characters; tabs and newlines allowed.
pub type Description = Text<0, 2000, true>;
/// A category: at most 100 characters.
pub type Category = Text<0, 100>;

/// A product in the catalog.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Product {
    pub id: i64,
    pub name: String,
    pub description: Option<String>,
    pub price: Money,
    /// Units available to order.
    pub stock: i64,
    pub category: Option<String>,
    /// RFC 3339, UTC.
    pub created_at: String,
}

/// The body of `POST /products`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct NewProduct {
    pub name: ProductName,
    #[serde(default)]
    pub description: Option<Description>,
    pub price: Money,
    #[serde(default = "no_stock")]
    pub stock: Stock,
    #[serde(default)]
    pub category: Option<Category>,
}

fn no_stock() -> Stock {
    Stock::new(0).expect("0 is a valid stock")
}

/// The body of `PUT /products/{product_id}`: absent or null fields stay as
/// they are.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct ProductUpdate {
    pub name: Option<ProductName>,
    pub description: Option<Description>,
    pub price: Option<Money>,
    pub stock: Option<Stock>,
    pub category: Option<Category>,
}

impl ProductUpdate {
    /// Whether the update sets no field.
    pub fn is_empty(&self) -> bool {
        self.name.is_none()
            && self.description.is_none()
            && self.price.is_none()
            && self.stock.is_none()
            && self.category.is_none()
    }
}

/// Query of `GET /products`: the seed's `skip`/`limit`, `category` and
/// `search`, or cursors; filters; a sort.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Products to skip (default 0; not with `after` or `before`).
    pub skip: Option<i64>,
    /// Products to return, 0 to 1000 (default 100; with `ids`, 1000).
    pub limit: Option<i64>,
    /// The next page: the cursor in the `Link` header's `rel="next"`.
    pub after: Option<String>,
    /// The previous page: the cursor in its `rel="prev"`.
    pub before: Option<String>,
    /// `true`: the last page (`rel="last"`).
    pub last: Option<bool>,
    /// Only this category (case-insensitive).
    pub category: Option<String>,
    /// Case-insensitive substring of the name or description, at most 100
    /// characters.
    pub search: Option<String>,
    /// Only these ids, comma-separated (at most 1000): `ids=1,2,3`.
    pub ids: Option<String>,
    /// A price of at least this amount.
    pub price_min: Option<String>,
    /// A price of at most this amount.
    pub price_max: Option<String>,
    /// `true`: only products with stock; `false`: only those without.
    pub in_stock: Option<bool>,
    /// `true`: the `X-Total-Count` header says how many products the
    /// filters select in all (one more query).
    pub count: Option<bool>,
    /// `id` (the default; the order products were created in), `name` or
    /// `price`.
    pub sort: Option<ProductSort>,
    /// `asc` (the default) or `desc`.
    pub order: Option<SortOrder>,
}

/// What a product list is sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ProductSort {
    #[default]
    Id,
    Name,
    Price,
}

/// The longest `search` text (422 beyond).
pub const MAX_SEARCH_CHARS: usize = 100;

/// The longest `category` filter (422 beyond).
pub const MAX_CATEGORY_CHARS: usize = 200;

/// The most products one `GET /products` returns.
pub const MAX_LIMIT: i64 = 1000;

/// A checked [`ListQuery`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductFilter {
    pub window: Window,
    pub category: Option<String>,
    pub search: Option<String>,
    pub ids: Option<Vec<i64>>,
    pub price_min: Option<Money>,
    pub price_max: Option<Money>,
    pub in_stock: Option<bool>,
    pub sort: ProductSort,
    pub descending: bool,
    pub count: bool,
}

impl TryFrom<ListQuery> for ProductFilter {
    type Error = ApiError;

    fn try_from(q: ListQuery) -> Result<Self, Self::Error> {
        let invalid = |message: String| ApiError::Unprocessable(message);
        let ids = match q.ids.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(raw) => {
                let ids = raw
                    .split(',')
                    .map(|id| id.trim().parse::<i64>())
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|_| invalid("ids must be comma-separated integers".to_owned()))?;
                if ids.len() > MAX_LIMIT as usize {
                    return Err(invalid(format!(
                        "ids may name at most {MAX_LIMIT} products"
                    )));
                }
                Some(ids)
            }
        };
        let limit = q.limit.or(ids.as_ref().map(|_| MAX_LIMIT));
        let window = Window::new(Position {
            skip: q.skip,
            limit,
            after: q.after.as_deref(),
            before: q.before.as_deref(),
            last: q.last,
        })?;
        let bounded = |name: &str, value: Option<String>, max: usize| match value {
            Some(v) if v.chars().count() > max => {
                Err(invalid(format!("{name} must be at most {max} characters")))
            }
            Some(v) if v.trim().is_empty() => Ok(None),
            other => Ok(other.map(|v| v.trim().to_owned())),
        };
        let (price_min, price_max) =
            money_range("price", q.price_min.as_deref(), q.price_max.as_deref())?;
        Ok(ProductFilter {
            window,
            category: bounded("category", q.category, MAX_CATEGORY_CHARS)?,
            search: bounded("search", q.search, MAX_SEARCH_CHARS)?,
            ids,
            price_min,
            price_max,
            in_stock: q.in_stock,
            sort: q.sort.unwrap_or_default(),
            descending: q.order == Some(SortOrder::Desc),
            count: q.count == Some(true),
        })
    }
}

/// The answer of `DELETE /products/{product_id}`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Message {
    pub message: String,
}

// ---------------------------------------------------------------------------
// Reservations: stock held for orders (`crate::reservations`).

/// The most lines one reservation may hold.
pub const MAX_LINES: usize = 1000;

/// Units of one product.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Line {
    pub product_id: i64,
    pub quantity: Quantity,
}

/// The body of `POST /reservations`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct NewReservation {
    /// The caller's key; the same key always means the same reservation.
    pub key: Text<1, 200>,
    /// At least one line, at most 1000.
    pub items: Vec<Line>,
}

/// Whether a reservation still holds its stock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ReservationState {
    Held,
    Released,
}

/// A reserved line, with the product's name and price when it was reserved:
/// the price an order built on this reservation charges.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ReservedLine {
    pub product_id: i64,
    pub quantity: Quantity,
    pub name: String,
    pub price: Money,
}

/// A reservation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Reservation {
    pub key: String,
    pub state: ReservationState,
    /// One line per product, by product id.
    pub items: Vec<ReservedLine>,
    pub created_at: String,
    pub updated_at: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(q: ListQuery) -> Result<ProductFilter, ApiError> {
        ProductFilter::try_from(q)
    }

    #[test]
    fn limits_and_ids_are_checked() {
        assert_eq!(filter(ListQuery::default()).unwrap().window.limit, 100);
        let ids = ListQuery {
            ids: Some("3, 1,2".into()),
            ..Default::default()
        };
        let f = filter(ids).unwrap();
        assert_eq!(f.ids, Some(vec![3, 1, 2]));
        assert_eq!(f.window.limit, 1000);
        for bad in [
            ListQuery {
                limit: Some(1001),
                ..Default::default()
            },
            ListQuery {
                skip: Some(-1),
                ..Default::default()
            },
            ListQuery {
                ids: Some("1,x".into()),
                ..Default::default()
            },
            ListQuery {
                search: Some("x".repeat(201)),
                ..Default::default()
            },
            ListQuery {
                price_min: Some("3".into()),
                price_max: Some("2.99".into()),
                ..Default::default()
            },
            ListQuery {
                price_max: Some("1.001".into()),
                ..Default::default()
            },
        ] {
            assert!(filter(bad).is_err());
        }
    }

    #[test]
    fn new_product_rejects_bad_fields() {
        let ok = r#"{"name":" Pen ","price":1.5,"stock":3}"#;
        let p: NewProduct = serde_json::from_str(ok).unwrap();
        assert_eq!(p.name.as_str(), "Pen");
        assert_eq!(p.price.cents(), 150);
        for bad in [
            r#"{"name":"","price":1}"#,
            r#"{"name":"a","price":-1}"#,
            r#"{"name":"a","price":1.001}"#,
            r#"{"name":"a","price":1,"stock":-1}"#,
            r#"{"name":"a","price":"1"}"#,
            r#"{"price":1}"#,
        ] {
            assert!(serde_json::from_str::<NewProduct>(bad).is_err(), "{bad}");
        }
    }
}
