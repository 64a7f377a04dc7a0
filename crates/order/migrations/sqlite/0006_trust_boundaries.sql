-- One open checkout per user: a checkout claims the user's cart before it
-- reads it and holds the claim until the ordered items have left the cart,
-- so racing checkouts of one cart make at most one order (the others are
-- told the cart is empty, or 409 while the first is in progress).
CREATE UNIQUE INDEX checkouts_one_open_per_user ON checkouts (user_id)
    WHERE state IN ('reserving', 'placed');

-- This service's secrets, made on first start and shared by its replicas:
-- 'derived_keys' keys the HMAC that turns a client's Idempotency-Key into
-- the checkout and payment-attempt keys sent to other services, so those
-- keys cannot be derived from what a client sends.
CREATE TABLE secrets (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
