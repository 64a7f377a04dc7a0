-- Orders (see migrations/sqlite for the history and docs/checkout.md).
CREATE TABLE orders (
    id              BIGSERIAL PRIMARY KEY,
    user_id         TEXT   NOT NULL,
    status          TEXT   NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'confirmed', 'paid', 'processing', 'shipped', 'delivered', 'cancelled')),
    total_cents     BIGINT NOT NULL CHECK (total_cents >= 0),
    items           TEXT   NOT NULL,
    payment_id      TEXT,
    created_at      TEXT   NOT NULL,
    updated_at      TEXT   NOT NULL,
    reservation_key TEXT,
    stock_released  BIGINT NOT NULL DEFAULT 0,
    paying_key      TEXT,
    paying_since    TEXT
);

CREATE INDEX orders_user ON orders (user_id, id);

-- Each checkout's progress: reserving, releasing, placed, done, failed.
CREATE TABLE checkouts (
    key         TEXT   PRIMARY KEY,
    user_id     TEXT   NOT NULL,
    items       TEXT   NOT NULL,
    total_cents BIGINT NOT NULL,
    state       TEXT   NOT NULL CHECK (state IN ('reserving', 'releasing', 'placed', 'done', 'failed')),
    order_id    BIGINT,
    detail      TEXT,
    created_at  TEXT   NOT NULL,
    updated_at  TEXT   NOT NULL
);

CREATE INDEX checkouts_state ON checkouts (state, updated_at);
CREATE INDEX checkouts_user_state ON checkouts (user_id, state);

-- Responses of requests sent with an Idempotency-Key.
CREATE TABLE idempotency_keys (
    scope      TEXT   NOT NULL,
    key        TEXT   NOT NULL,
    request    TEXT   NOT NULL,
    status     BIGINT NOT NULL,
    body       TEXT   NOT NULL,
    created_at TEXT   NOT NULL,
    PRIMARY KEY (scope, key)
);

-- Order events, written in the same transaction as their change.
CREATE TABLE outbox (
    seq          BIGSERIAL PRIMARY KEY,
    event_id     TEXT   NOT NULL UNIQUE,
    order_id     BIGINT NOT NULL,
    event_type   TEXT   NOT NULL,
    data         TEXT   NOT NULL,
    created_at   TEXT   NOT NULL,
    published_at TEXT
);

CREATE INDEX outbox_unpublished ON outbox (order_id, seq) WHERE published_at IS NULL;
CREATE INDEX outbox_published ON outbox (published_at) WHERE published_at IS NOT NULL;
