-- Each checkout's progress, written before each call to another service,
-- so a restart can finish or undo what a crash interrupted.
--   reserving: stock may be held under `key` in the catalog; no order yet
--   releasing: abandoned, never to be placed; the key is being released
--   placed:    the order exists; its items may still be in the cart
--   done:      the ordered items left the cart
--   failed:    no order; any stock held under `key` was released
CREATE TABLE checkouts (
    key         TEXT    PRIMARY KEY,
    user_id     TEXT    NOT NULL,
    items       TEXT    NOT NULL,
    total_cents INTEGER NOT NULL,
    state       TEXT    NOT NULL CHECK (state IN ('reserving', 'releasing', 'placed', 'done', 'failed')),
    order_id    INTEGER,
    detail      TEXT,
    created_at  TEXT    NOT NULL,
    updated_at  TEXT    NOT NULL
);

CREATE INDEX checkouts_state ON checkouts (state, updated_at);

-- The catalog reservation holding the order's stock, and whether a
-- cancelled order's stock went back.
ALTER TABLE orders ADD COLUMN reservation_key TEXT;
ALTER TABLE orders ADD COLUMN stock_released INTEGER NOT NULL DEFAULT 0;
-- The key of the payment attempt under way (or the one that paid): one at
-- a time per order, also sent as the payment's Idempotency-Key; and since
-- when it is under way (an attempt changes nothing a client sees, so it
-- leaves updated_at alone).
ALTER TABLE orders ADD COLUMN paying_key TEXT;
ALTER TABLE orders ADD COLUMN paying_since TEXT;

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
