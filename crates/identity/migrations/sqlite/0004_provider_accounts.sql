-- Accounts of an external identity provider's users (OIDC_ISSUER), made
-- or updated when they sign in through it: `issuer` is the provider's
-- (NULL for Shop's own accounts), `id` the provider's subject, and their
-- `password_hash` is '!', which no password matches.
ALTER TABLE accounts ADD COLUMN issuer TEXT;
