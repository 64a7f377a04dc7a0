//! Who a cart or an order belongs to.

use crate::error::ApiError;
use crate::extract::check_user_id;

/// A user id: 1 to 128 characters, taken literally (`victim#` is not
/// `victim`), without control characters or white space at either end,
/// and neither `.` nor `..` (which no URL path can carry).
/// The cart and order services both parse path and body ids into it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UserId(String);

impl UserId {
    pub fn parse(raw: impl Into<String>) -> Result<UserId, ApiError> {
        let raw = raw.into();
        check_user_id(&raw)?;
        Ok(UserId(raw))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for UserId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_ids_are_taken_literally_but_never_padded_or_controlled() {
        assert_eq!(UserId::parse("victim#").unwrap().as_str(), "victim#");
        assert_eq!(UserId::parse("...").unwrap().as_str(), "...");
        assert_eq!(UserId::parse(".alice").unwrap().as_str(), ".alice");
        assert_eq!(UserId::parse("Zoë 山田").unwrap().to_string(), "Zoë 山田");
        for bad in [
            "",
            " ",
            "alice ",
            " alice",
            "a\r\nb",
            "a\u{0}",
            ".",
            "..",
            &"x".repeat(129),
        ] {
            assert!(UserId::parse(bad).is_err(), "{bad:?}");
        }
    }
}
