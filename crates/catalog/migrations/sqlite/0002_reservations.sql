-- Stock held for orders, keyed by the caller. 'released' rows are
-- tombstones: a released key can never take stock again.
CREATE TABLE reservations (
    key        TEXT PRIMARY KEY,
    state      TEXT NOT NULL CHECK (state IN ('held', 'released')),
    items      TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

-- Responses of requests sent with an Idempotency-Key.
CREATE TABLE idempotency_keys (
    scope      TEXT    NOT NULL,
    key        TEXT    NOT NULL,
    request    TEXT    NOT NULL,
    status     INTEGER NOT NULL,
    body       TEXT    NOT NULL,
    created_at TEXT    NOT NULL,
    PRIMARY KEY (scope, key)
);
