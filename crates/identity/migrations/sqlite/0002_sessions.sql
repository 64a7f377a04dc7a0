-- Browser sessions, kept by the gateway for the dashboard (its cookie holds
-- the session token; the browser never sees an access token). By the
-- SHA-256 of the token, like refresh tokens. A session does not rotate: the
-- gateway exchanges it for a fresh access token whenever it needs one, until
-- the session expires or is ended (sign-out).
CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    expires_at TEXT NOT NULL,
    ended_at   TEXT,
    created_at TEXT NOT NULL
);
