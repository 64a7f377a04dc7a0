//! Money as integer cents.
//!
//! On the wire money is a JSON number with at most two decimals (`999.99`).
//! Parsing reads the number's exact text (serde_json's `arbitrary_precision`)
//! so `0.1` is ten cents and `1.005` is rejected instead of being rounded;
//! arithmetic is checked integer arithmetic, never binary floating point.

use std::fmt;

use serde::{de, Deserialize, Deserializer, Serialize, Serializer};
use utoipa::openapi::{schema::SchemaType, ObjectBuilder, RefOr, Schema, Type};

/// The largest amount a client may send: one billion (in cents). Sums
/// computed here (totals) may exceed it; they are bounded only by `i64`.
pub const MAX_CENTS: i64 = 100_000_000_000;

/// A non-negative amount of money, held as integer cents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Money(i64);

/// Why a JSON number is not a valid amount of money.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("must be a number")]
    NotANumber,
    #[error("must not be negative")]
    Negative,
    #[error("must have at most two decimals")]
    TooPrecise,
    #[error("must be at most 1000000000.00")]
    TooLarge,
}

impl Money {
    pub const ZERO: Money = Money(0);

    /// An amount from cents; `None` when negative.
    pub fn from_cents(cents: i64) -> Option<Money> {
        (cents >= 0).then_some(Money(cents))
    }

    pub fn cents(self) -> i64 {
        self.0
    }

    /// `self * quantity`, or `None` on overflow or a negative quantity.
    pub fn times(self, quantity: i64) -> Option<Money> {
        self.0.checked_mul(quantity).and_then(Money::from_cents)
    }

    /// `self + other`, or `None` on overflow.
    pub fn plus(self, other: Money) -> Option<Money> {
        self.0.checked_add(other.0).and_then(Money::from_cents)
    }

    /// Parses the exact text of a JSON number: `12`, `12.5`, `12.50`,
    /// `1.25e1`. Anything that is not a whole number of cents is rejected.
    pub fn parse(text: &str) -> Result<Money, MoneyError> {
        let text = text.trim();
        let (negative, unsigned) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
            Some(at) => {
                let exp_text = &unsigned[at + 1..];
                let exp: i64 = exp_text.parse().map_err(|_| {
                    if exp_text.starts_with('-') {
                        MoneyError::TooPrecise
                    } else {
                        MoneyError::TooLarge
                    }
                })?;
                (&unsigned[..at], exp)
            }
            None => (unsigned, 0),
        };
        let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        if int_part.is_empty()
            || !int_part.bytes().all(|b| b.is_ascii_digit())
            || !frac_part.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(MoneyError::NotANumber);
        }
        // value = digits * 10^(exponent - frac_len); cents = value * 100.
        let digits = format!("{int_part}{frac_part}");
        let digits = digits.trim_start_matches('0');
        let is_zero = digits.trim_end_matches('0').is_empty();
        if is_zero {
            return Ok(Money::ZERO);
        }
        if negative {
            return Err(MoneyError::Negative);
        }
        let scale = exponent
            .checked_sub(frac_part.len() as i64)
            .and_then(|s| s.checked_add(2))
            .ok_or(MoneyError::TooLarge)?;
        let (digits, scale) = if scale < 0 {
            // Dropping digits is only allowed when they are zeros.
            let drop = usize::try_from(-scale).map_err(|_| MoneyError::TooPrecise)?;
            if drop > digits.len() || !digits[digits.len() - drop..].bytes().all(|b| b == b'0') {
                return Err(MoneyError::TooPrecise);
            }
            (&digits[..digits.len() - drop], 0)
        } else {
            (digits, scale)
        };
        if digits.len() as i64 + scale > 13 {
            return Err(MoneyError::TooLarge);
        }
        let mut cents: i64 = digits.parse().map_err(|_| MoneyError::TooLarge)?;
        for _ in 0..scale {
            cents = cents.checked_mul(10).ok_or(MoneyError::TooLarge)?;
        }
        if cents > MAX_CENTS {
            return Err(MoneyError::TooLarge);
        }
        Ok(Money(cents))
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:02}", self.0 / 100, self.0 % 100)
    }
}

impl Serialize for Money {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // The exact decimal text, emitted as a JSON number (`999.99`, `30.00`).
        let number: serde_json::Number = self
            .to_string()
            .parse()
            .map_err(serde::ser::Error::custom)?;
        number.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Money {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // serde's own errors ("missing field `price`", "invalid type") name
        // the problem better than a generic one would.
        let number = serde_json::Number::deserialize(deserializer)?;
        Money::parse(&number.to_string()).map_err(de::Error::custom)
    }
}

impl utoipa::PartialSchema for Money {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(SchemaType::Type(Type::Number))
            .minimum(Some(0.0))
            .maximum(Some(1_000_000_000.0))
            .multiple_of(Some(0.01))
            .description(Some("Money: a JSON number with at most two decimals"))
            .examples([serde_json::json!(999.99)])
            .into()
    }
}

impl utoipa::ToSchema for Money {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_exact_decimals() {
        assert_eq!(Money::parse("999.99").unwrap().cents(), 99_999);
        assert_eq!(Money::parse("0.1").unwrap().cents(), 10);
        assert_eq!(Money::parse("12").unwrap().cents(), 1_200);
        assert_eq!(Money::parse("12.50").unwrap().cents(), 1_250);
        assert_eq!(Money::parse("1.2345e2").unwrap().cents(), 12_345);
        assert_eq!(Money::parse("1.000").unwrap().cents(), 100);
        assert_eq!(Money::parse("0").unwrap(), Money::ZERO);
        assert_eq!(Money::parse("-0.00").unwrap(), Money::ZERO);
        assert_eq!(Money::parse("1000000000").unwrap().cents(), MAX_CENTS);
    }

    #[test]
    fn rejects_what_is_not_whole_cents() {
        assert_eq!(Money::parse("1.005"), Err(MoneyError::TooPrecise));
        assert_eq!(Money::parse("0.001"), Err(MoneyError::TooPrecise));
        assert_eq!(Money::parse("1e-3"), Err(MoneyError::TooPrecise));
        assert_eq!(Money::parse("-1"), Err(MoneyError::Negative));
        assert_eq!(Money::parse("1e400"), Err(MoneyError::TooLarge));
        assert_eq!(Money::parse("1000000000.01"), Err(MoneyError::TooLarge));
        assert_eq!(
            Money::parse("99999999999999999999999"),
            Err(MoneyError::TooLarge)
        );
        assert_eq!(
            Money::parse("1e-99999999999999999999"),
            Err(MoneyError::TooPrecise)
        );
    }

    #[test]
    fn json_round_trip_is_exact() {
        let m: Money = serde_json::from_str("0.3").unwrap();
        assert_eq!(serde_json::to_string(&m).unwrap(), "0.30");
        let sum = Money::parse("0.1")
            .unwrap()
            .plus(Money::parse("0.2").unwrap())
            .unwrap();
        assert_eq!(sum.to_string(), "0.30");
        assert!(serde_json::from_str::<Money>("\"1.00\"").is_err());
        #[derive(Debug, serde::Deserialize)]
        struct Priced {
            #[allow(dead_code)]
            price: Money,
        }
        let missing = serde_json::from_str::<Priced>("{}")
            .unwrap_err()
            .to_string();
        assert!(missing.contains("missing field `price`"), "{missing}");
        assert!(serde_json::from_str::<Money>("1e400").is_err());
    }

    #[test]
    fn arithmetic_is_checked() {
        let max = Money::from_cents(i64::MAX).unwrap();
        assert_eq!(max.times(2), None);
        assert_eq!(max.plus(Money::from_cents(1).unwrap()), None);
        assert_eq!(
            Money::from_cents(MAX_CENTS)
                .unwrap()
                .times(3)
                .unwrap()
                .cents(),
            3 * MAX_CENTS
        );
        assert_eq!(Money::from_cents(-1), None);
    }
}
