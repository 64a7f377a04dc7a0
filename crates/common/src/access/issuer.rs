//! An issuer whose access tokens a service accepts: Shop's identity
//! service, or an external OpenID Connect provider (Keycloak, Auth0,
//! Entra ID, Google), each with its own keys, audience and way of saying
//! who is staff.

use jsonwebtoken::{Algorithm, Header, Validation};
use serde_json::Value;

use super::key_set::{KeySet, KeysAt};
use crate::error::ApiError;
use crate::user::UserId;

/// How a token says its subject is staff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Roles {
    /// Shop's own: the claim `role` is `staff` or `customer` (anything
    /// else is refused).
    Shop,
    /// The claim at `path` (`realm_access.roles`: a claim within a claim)
    /// is `staff`, or a list holding it; anyone else is a customer.
    Claim { path: String, staff: String },
}

/// What a service checks of an issuer's tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuerSettings {
    /// Its tokens' `iss`, exactly.
    pub issuer: String,
    pub keys: KeysAt,
    /// The `aud` its tokens must carry.
    pub audience: String,
    pub roles: Roles,
}

impl IssuerSettings {
    /// The signature algorithms accepted: Shop's own tokens are EdDSA;
    /// a provider's may be signed by any asymmetric algorithm (RSA, RSA-PSS,
    /// ECDSA, EdDSA). Never `none`, never a shared secret (HS*), whose
    /// "secret" would be the public key.
    fn algorithms(&self) -> &'static [Algorithm] {
        use Algorithm::*;
        match self.roles {
            Roles::Shop => &[EdDSA],
            Roles::Claim { .. } => &[
                RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, EdDSA,
            ],
        }
    }
}

/// Who a valid token speaks for, and until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    /// The token's `sub`: the user id of their cart and orders.
    pub id: String,
    pub staff: bool,
    /// Expiry, seconds since the epoch.
    pub exp: u64,
    /// The `email` claim, when the token has one.
    pub email: Option<String>,
    /// The `name` claim (else `preferred_username`), when it has one.
    pub name: Option<String>,
}

/// An issuer, and its keys.
#[derive(Debug)]
pub struct Issuer {
    pub settings: IssuerSettings,
    pub keys: KeySet,
}

/// What a service checks of Shop's own tokens (and the identity service
/// of its own): EdDSA only, issued by `issuer` for `audience`, not
/// expired, no leeway.
pub fn validation(algorithm: Algorithm, issuer: &str, audience: &str) -> Validation {
    let mut validation = Validation::new(algorithm);
    validation.set_issuer(&[issuer]);
    validation.set_audience(&[audience]);
    validation.leeway = 0;
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    validation
}

fn invalid() -> ApiError {
    super::invalid_token()
}

impl Issuer {
    /// The issuer of `settings`, its keys fetched with `http` from where
    /// they say.
    pub fn new(settings: IssuerSettings, http: reqwest::Client) -> Issuer {
        let publisher = match settings.roles {
            Roles::Shop => "The identity service",
            Roles::Claim { .. } => "The identity provider",
        };
        let keys = KeySet::new(settings.keys.clone(), publisher, http);
        Issuer { settings, keys }
    }

    /// The subject of `token` (whose header is `header`) if this issuer
    /// signed it with a key of its set, for its audience, unexpired, with
    /// a valid user id and role; and whether its key set was fetched
    /// again on the way.
    pub async fn check(&self, token: &str, header: &Header) -> Result<(Subject, bool), ApiError> {
        let settings = &self.settings;
        if !settings.algorithms().contains(&header.alg) {
            return Err(invalid());
        }
        let kid = header.kid.as_deref().ok_or_else(invalid)?;
        let lookup = self.keys.key(kid).await?;
        let key = lookup.key.ok_or_else(invalid)?;
        if key
            .algorithm
            .is_some_and(|algorithm| algorithm != header.alg)
        {
            return Err(invalid());
        }
        let validation = validation(header.alg, &settings.issuer, &settings.audience);
        let claims = jsonwebtoken::decode::<Value>(token, &key.decoding, &validation)
            .map_err(|_| invalid())?
            .claims;
        let id = claims["sub"].as_str().ok_or_else(invalid)?;
        UserId::parse(id).map_err(|_| invalid())?;
        let staff = match &settings.roles {
            Roles::Shop => match claims["role"].as_str() {
                Some("staff") => true,
                Some("customer") => false,
                _ => return Err(invalid()),
            },
            Roles::Claim { path, staff } => holds(&claims, path, staff),
        };
        let subject = Subject {
            id: id.to_owned(),
            staff,
            exp: claims["exp"].as_u64().ok_or_else(invalid)?,
            email: claims["email"].as_str().map(str::to_owned),
            name: claims["name"]
                .as_str()
                .or(claims["preferred_username"].as_str())
                .map(str::to_owned),
        };
        Ok((subject, lookup.refetched))
    }
}

/// Whether the claim at the dotted `path` is `value`, or a list holding it.
fn holds(claims: &Value, path: &str, value: &str) -> bool {
    let claim = path
        .split('.')
        .try_fold(claims, |claim, name| claim.get(name));
    match claim {
        Some(Value::String(one)) => one == value,
        Some(Value::Array(many)) => many.iter().any(|one| one.as_str() == Some(value)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn roles_are_read_from_a_claim_within_claims_or_a_list() {
        let claims = json!({
            "realm_access": {"roles": ["offline_access", "shop-staff"]},
            "groups": "shop-staff",
            "role": ["customer"],
        });
        assert!(holds(&claims, "realm_access.roles", "shop-staff"));
        assert!(holds(&claims, "groups", "shop-staff"));
        assert!(!holds(&claims, "realm_access.roles", "staff"));
        assert!(!holds(&claims, "realm_access", "shop-staff"));
        assert!(!holds(&claims, "missing.roles", "shop-staff"));
        assert!(!holds(&claims, "role", "staff"));
    }
}
