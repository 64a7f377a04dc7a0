-- Accounts: customers and staff. `email` is normalised (trimmed,
-- lowercase) before it is stored, so the unique index is case-blind.
CREATE TABLE accounts (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE,
    name          TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('customer', 'staff')),
    password_hash TEXT NOT NULL,
    created_at    TEXT NOT NULL
);

-- Refresh tokens, by the SHA-256 of the token (the token itself is never
-- stored). A login starts a family; each refresh uses its token up and adds
-- the next one to the family; a used token presented again revokes the
-- whole family.
CREATE TABLE refresh_tokens (
    token_hash TEXT PRIMARY KEY,
    family     TEXT NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    expires_at TEXT NOT NULL,
    used_at    TEXT,
    revoked_at TEXT,
    created_at TEXT NOT NULL
);

CREATE INDEX refresh_tokens_family ON refresh_tokens (family);

-- The key that signs access tokens (an Ed25519 seed, hex), made on first
-- start and shared by replicas.
CREATE TABLE signing_keys (
    kid        TEXT PRIMARY KEY,
    seed       TEXT NOT NULL,
    created_at TEXT NOT NULL
);
