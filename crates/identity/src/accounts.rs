//! The work behind the routes (and `shop accounts`): making accounts,
//! signing in, rotating refresh tokens, signing out.

use std::net::IpAddr;
use std::sync::Arc;

use chrono::Utc;
use shop_common::access::Access;
use shop_common::db::Db;
use shop_common::{now_rfc3339, rfc3339, token_hash, ApiError};

use crate::domain::{
    check_password, normalize_email, Account, NewAccount, Role, SessionAccess, SessionTokens,
    Tokens,
};
use crate::passwords::Hasher;
use crate::rotation::SigningKeys;
use crate::store::{accounts, refresh_tokens, sessions};
use crate::throttle::LoginThrottle;
use crate::tokens::{self, TokenSettings};

/// What the work needs.
#[derive(Debug, Clone)]
pub struct Identity {
    pub db: Db,
    pub hasher: Hasher,
    pub keys: Arc<SigningKeys>,
    pub tokens: TokenSettings,
    pub throttle: LoginThrottle,
    /// An external provider whose users may start sessions.
    pub provider: Option<Provider>,
}

/// An external OpenID Connect provider, as the identity service knows it.
#[derive(Debug, Clone)]
pub struct Provider {
    /// Its issuer URL.
    pub issuer: String,
    /// Checks its access tokens.
    pub access: Access,
    /// How long a session started through it lasts.
    pub session: std::time::Duration,
}

fn invalid_credentials() -> ApiError {
    ApiError::Unauthorized("Invalid email or password".to_owned())
}

fn invalid_refresh() -> ApiError {
    ApiError::Unauthorized(
        "The refresh token is invalid, expired or revoked; log in again".to_owned(),
    )
}

impl Identity {
    /// Makes an account with `role`: 409 when the email (in any case) has
    /// one, 422 for a bad email or a weak password.
    pub async fn create_account(&self, new: NewAccount, role: Role) -> Result<Account, ApiError> {
        create_account(&self.db, &self.hasher, new, role).await
    }

    /// Tokens for the account of `email` and `password`, from the client
    /// at `address`; 401 otherwise (the same answer, and about the same
    /// time, for an unknown email), 429 after too many failures.
    pub async fn login(
        &self,
        email: &str,
        password: &str,
        address: IpAddr,
    ) -> Result<Tokens, ApiError> {
        let account = self.check_credentials(email, password, address).await?;
        let family = uuid::Uuid::new_v4().to_string();
        self.tokens_for(account, &family).await
    }

    /// The account of `email` and `password`; 401 otherwise, 429 while
    /// the account or `address` has failed too often ([`LoginThrottle`]).
    async fn check_credentials(
        &self,
        email: &str,
        password: &str,
        address: IpAddr,
    ) -> Result<Account, ApiError> {
        let key: String = email
            .trim()
            .to_lowercase()
            .chars()
            .take(crate::domain::MAX_EMAIL_CHARS)
            .collect();
        self.throttle.check(&key, address)?;
        let failed = || {
            self.throttle
                .failed(&key, address)
                .unwrap_or_else(invalid_credentials)
        };
        let Ok(email) = normalize_email(email) else {
            return Err(failed());
        };
        let found = accounts::by_email(&self.db.reader, &email).await?;
        // A provider's account has no password: checked as an unknown
        // email is, against the decoy, in the same time.
        let hash = found
            .as_ref()
            .map(|(_, hash)| hash.as_str())
            .filter(|hash| *hash != accounts::NO_PASSWORD);
        if !self.hasher.verify(password, hash).await? {
            return Err(failed());
        }
        found
            .map(|(account, _)| account)
            .ok_or_else(invalid_credentials)
    }

    /// A browser session for `email` and `password` (what the gateway
    /// keeps behind its cookie), with a first access token.
    pub async fn start_session(
        &self,
        email: &str,
        password: &str,
        address: IpAddr,
    ) -> Result<SessionTokens, ApiError> {
        let account = self.check_credentials(email, password, address).await?;
        self.session_for(account, self.tokens.refresh_ttl).await
    }

    /// A new session of `account` lasting `ttl`, with a first access token.
    async fn session_for(
        &self,
        account: Account,
        ttl: std::time::Duration,
    ) -> Result<SessionTokens, ApiError> {
        let session_token = tokens::new_opaque_token();
        sessions::insert(
            &self.db.writer,
            &token_hash(&session_token),
            &account.id,
            &expiry(ttl)?,
            &now_rfc3339(),
        )
        .await?;
        let access = self.access_for(account).await?;
        Ok(SessionTokens {
            session_token,
            session_expires_in: ttl.as_secs(),
            access,
        })
    }

    /// A browser session for the user of the provider's `access_token`
    /// (what the gateway's sign-in through the provider ends with): their
    /// account is made or updated from the token (its `sub`, `email`,
    /// `name` and role), and the session lasts the provider's session
    /// time. 404 without a provider; 401 for a token it did not issue for
    /// Shop; 422 without an email claim; 409 when the email belongs to
    /// another account, or the subject is one of Shop's own accounts.
    pub async fn start_provider_session(
        &self,
        access_token: &str,
    ) -> Result<SessionTokens, ApiError> {
        let provider = self.provider.as_ref().ok_or_else(|| {
            ApiError::NotFound("No identity provider is set up (OIDC_ISSUER)".to_owned())
        })?;
        let subject = provider.access.subject(access_token).await?;
        let email = subject.email.as_deref().ok_or_else(|| {
            ApiError::Unprocessable(
                "The provider's access token carries no email claim; map one (Keycloak: the email scope)"
                    .to_owned(),
            )
        })?;
        let email = normalize_email(email)?;
        let name = subject
            .name
            .as_deref()
            .and_then(|name| crate::domain::Name::parse(name).ok())
            .or_else(|| crate::domain::Name::parse(email.split('@').next()?).ok())
            .ok_or_else(|| ApiError::Unprocessable("The provider names no user".to_owned()))?;
        let new = Account {
            id: subject.id,
            email,
            name: name.into_string(),
            role: if subject.staff {
                Role::Staff
            } else {
                Role::Customer
            },
            created_at: now_rfc3339(),
        };
        let account =
            match accounts::upsert_from_provider(&self.db.writer, &new, &provider.issuer).await {
                Ok(Some(account)) => account,
                Ok(None) => {
                    return Err(ApiError::Conflict(
                        "This user id belongs to an account of Shop's own".to_owned(),
                    ))
                }
                Err(err) if shop_common::db::is_unique_violation(&err) => return Err(taken()),
                Err(err) => return Err(err.into()),
            };
        tracing::info!(account = %account.id, role = account.role.as_str(), "signed in through the provider");
        self.session_for(account, provider.session).await
    }

    /// A fresh access token for a live session; 401 once it has ended or
    /// expired (or its account is gone).
    pub async fn session_access(&self, session_token: &str) -> Result<SessionAccess, ApiError> {
        let hash = token_hash(session_token);
        let ended = || ApiError::Unauthorized("The session has ended; sign in again".to_owned());
        let (account_id, _) = sessions::live(&self.db.reader, &hash, &now_rfc3339())
            .await?
            .ok_or_else(ended)?;
        let account = accounts::by_id(&self.db.reader, &account_id)
            .await?
            .ok_or_else(ended)?;
        self.access_for(account).await
    }

    /// Ends a session (nothing when it is unknown or ended already).
    pub async fn end_session(&self, session_token: &str) -> Result<(), ApiError> {
        let hash = token_hash(session_token);
        sessions::end(&self.db.writer, &hash, &now_rfc3339()).await?;
        Ok(())
    }

    async fn access_for(&self, account: Account) -> Result<SessionAccess, ApiError> {
        Ok(SessionAccess {
            access_token: tokens::issue(&*self.keys.ring().await, &self.tokens, &account)?,
            token_type: "Bearer".to_owned(),
            expires_in: self.tokens.access_ttl.as_secs(),
            account,
        })
    }

    /// New tokens for a refresh token, which is then used up. A used or
    /// revoked one revokes its whole family (someone replayed it): 401.
    pub async fn refresh(&self, refresh_token: &str) -> Result<Tokens, ApiError> {
        let hash = token_hash(refresh_token);
        let stored = refresh_tokens::get(&self.db.writer, &hash)
            .await?
            .ok_or_else(invalid_refresh)?;
        let now = now_rfc3339();
        if stored.used || stored.revoked {
            refresh_tokens::revoke_family(&self.db.writer, &stored.family, &now).await?;
            tracing::warn!(family = %stored.family, "refresh token replayed: family revoked");
            return Err(invalid_refresh());
        }
        if stored.expires_at <= now {
            return Err(invalid_refresh());
        }
        let mut tx = self.db.writer.begin().await?;
        if !refresh_tokens::use_up(&mut tx, &hash, &now).await? {
            // Used by a racing refresh a moment ago: a replay too.
            tx.rollback().await?;
            refresh_tokens::revoke_family(&self.db.writer, &stored.family, &now).await?;
            return Err(invalid_refresh());
        }
        tx.commit().await?;
        let account = accounts::by_id(&self.db.reader, &stored.account_id)
            .await?
            .ok_or_else(invalid_refresh)?;
        self.tokens_for(account, &stored.family).await
    }

    /// Revokes the family of `refresh_token` (nothing when it is unknown).
    pub async fn logout(&self, refresh_token: &str) -> Result<(), ApiError> {
        let hash = token_hash(refresh_token);
        if let Some(stored) = refresh_tokens::get(&self.db.writer, &hash).await? {
            refresh_tokens::revoke_family(&self.db.writer, &stored.family, &now_rfc3339()).await?;
        }
        Ok(())
    }

    /// The account of a valid access token.
    pub async fn account_of(&self, access_token: &str) -> Result<Account, ApiError> {
        let claims = tokens::verify(&*self.keys.ring().await, &self.tokens.issuer, access_token)?;
        accounts::by_id(&self.db.reader, &claims.sub)
            .await?
            .ok_or_else(|| ApiError::Unauthorized("The account no longer exists".to_owned()))
    }

    async fn tokens_for(&self, account: Account, family: &str) -> Result<Tokens, ApiError> {
        let refresh_token = tokens::new_opaque_token();
        refresh_tokens::insert(
            &self.db.writer,
            &token_hash(&refresh_token),
            family,
            &account.id,
            &expiry(self.tokens.refresh_ttl)?,
            &now_rfc3339(),
        )
        .await?;
        let access = self.access_for(account).await?;
        Ok(Tokens {
            access_token: access.access_token,
            token_type: access.token_type,
            expires_in: access.expires_in,
            refresh_token,
            account: access.account,
        })
    }
}

/// With no staff account yet, makes one for `email` and `password`; `None`
/// when staff exist already (what `shop up` does with auth on).
pub async fn first_staff(
    db: &Db,
    email: &str,
    password: &str,
) -> Result<Option<Account>, ApiError> {
    if accounts::count_with_role(&db.reader, Role::Staff).await? > 0 {
        return Ok(None);
    }
    let name = crate::domain::Name::parse("Staff").map_err(ApiError::Unprocessable)?;
    let new = NewAccount {
        email: email.to_owned(),
        password: password.to_owned(),
        name,
    };
    create_account(db, &Hasher::new(1), new, Role::Staff)
        .await
        .map(Some)
}

fn taken() -> ApiError {
    ApiError::Conflict("An account with this email already exists".to_owned())
}

/// Makes an account with `role` in `db` (see [`Identity::create_account`]).
pub async fn create_account(
    db: &Db,
    hasher: &Hasher,
    new: NewAccount,
    role: Role,
) -> Result<Account, ApiError> {
    let email = normalize_email(&new.email)?;
    check_password(&new.password, &email)?;
    if accounts::by_email(&db.reader, &email).await?.is_some() {
        return Err(taken());
    }
    let hash = hasher.hash(&new.password).await?;
    let account = Account {
        id: uuid::Uuid::new_v4().to_string(),
        email,
        name: new.name.into_string(),
        role,
        created_at: now_rfc3339(),
    };
    if !accounts::create(&db.writer, &account, &hash).await? {
        return Err(taken());
    }
    tracing::info!(account = %account.id, role = role.as_str(), "account created");
    Ok(account)
}

/// The moment `ttl` from now, as stored.
fn expiry(ttl: std::time::Duration) -> Result<String, ApiError> {
    let ttl = chrono::Duration::from_std(ttl).map_err(ApiError::internal)?;
    Ok(rfc3339(Utc::now() + ttl))
}
