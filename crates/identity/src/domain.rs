//! Accounts and tokens as the API shows them, and the rules of what a
//! client may send.

use serde::{Deserialize, Serialize};
use shop_common::{ApiError, Text};
use utoipa::ToSchema;

/// What an account may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Their own cart, orders, payments and events.
    Customer,
    /// Everything: every user's data, product writes, status changes.
    Staff,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Customer => "customer",
            Role::Staff => "staff",
        }
    }

    pub fn parse(raw: &str) -> Option<Role> {
        match raw {
            "customer" => Some(Role::Customer),
            "staff" => Some(Role::Staff),
            _ => None,
        }
    }
}

/// An account (never its password hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Account {
    /// The user id: the token's subject, and the `user_id` of the account's
    /// cart and orders.
    pub id: String,
    pub email: String,
    pub name: String,
    pub role: Role,
    /// RFC 3339, UTC.
    pub created_at: String,
}

/// A person's name on an account.
pub type Name = Text<1, 100>;

/// The body of `POST /auth/register` and `POST /auth/staff`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct NewAccount {
    pub email: String,
    /// At least 10 characters, not the email.
    pub password: String,
    pub name: Name,
}

/// The body of `POST /auth/login`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct Credentials {
    pub email: String,
    pub password: String,
}

/// The body of `POST /auth/refresh` and `POST /auth/logout`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

/// What login and refresh answer.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Tokens {
    /// A JWT (EdDSA) to send as `Authorization: Bearer ...`.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// Opaque; exchanged once for new tokens at `POST /auth/refresh`.
    pub refresh_token: String,
    pub account: Account,
}

/// The body of `POST /auth/sessions/access` and `POST /auth/sessions/end`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SessionRequest {
    pub session_token: String,
}

/// The body of `POST /auth/sessions/provider`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ProviderSessionRequest {
    /// An access token of the external provider (`OIDC_ISSUER`) for Shop.
    pub access_token: String,
}

/// An access token and whose it is.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SessionAccess {
    /// A JWT (EdDSA) to send as `Authorization: Bearer ...`.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    pub account: Account,
}

/// A new browser session: its token (which the gateway keeps in its
/// cookie) and a first access token.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SessionTokens {
    /// Opaque; exchanged for access tokens until the session ends.
    pub session_token: String,
    /// Seconds until the session expires.
    pub session_expires_in: u64,
    #[serde(flatten)]
    pub access: SessionAccess,
}

/// A plain answer.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Message {
    pub message: String,
}

/// The shortest password.
pub const MIN_PASSWORD_CHARS: usize = 10;
/// The longest password (hashing cost is bounded).
pub const MAX_PASSWORD_CHARS: usize = 256;
/// The longest email address (RFC 5321).
pub const MAX_EMAIL_CHARS: usize = 254;

/// An email address as stored: trimmed, lowercase; `local@domain` with a
/// dot in the domain, no white space or control characters.
pub fn normalize_email(raw: &str) -> Result<String, ApiError> {
    let email = raw.trim().to_lowercase();
    let invalid =
        || ApiError::Unprocessable("email must be an address such as ada@example.com".to_owned());
    if email.is_empty() || email.chars().count() > MAX_EMAIL_CHARS {
        return Err(invalid());
    }
    if email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid());
    }
    let (local, domain) = email.rsplit_once('@').ok_or_else(invalid)?;
    let domain_ok = domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains('@');
    if local.is_empty() || !domain_ok {
        return Err(invalid());
    }
    Ok(email)
}

/// The password rules: 10 to 256 characters, not the email address.
pub fn check_password(password: &str, email: &str) -> Result<(), ApiError> {
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        return Err(ApiError::Unprocessable(format!(
            "password must be at least {MIN_PASSWORD_CHARS} characters"
        )));
    }
    if chars > MAX_PASSWORD_CHARS {
        return Err(ApiError::Unprocessable(format!(
            "password must be at most {MAX_PASSWORD_CHARS} characters"
        )));
    }
    if password.trim().to_lowercase() == email {
        return Err(ApiError::Unprocessable(
            "password must not be the email address".to_owned(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(
            normalize_email("  Ada@Example.COM ").unwrap(),
            "ada@example.com"
        );
        for bad in [
            "",
            "ada",
            "ada@",
            "@example.com",
            "ada@example",
            "a da@example.com",
            "ada@.com",
        ] {
            assert!(normalize_email(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn passwords_are_long_enough_and_not_the_email() {
        assert!(check_password("correct horse", "ada@example.com").is_ok());
        assert!(check_password("short", "ada@example.com").is_err());
        assert!(check_password("ADA@example.com", "ada@example.com").is_err());
        assert!(check_password(&"x".repeat(257), "ada@example.com").is_err());
    }
}
