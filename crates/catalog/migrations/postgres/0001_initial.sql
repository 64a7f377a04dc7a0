-- Products and their stock (see migrations/sqlite for the history).
CREATE TABLE products (
    id          BIGSERIAL PRIMARY KEY,
    name        TEXT   NOT NULL,
    description TEXT,
    price_cents BIGINT NOT NULL CHECK (price_cents >= 0),
    stock       BIGINT NOT NULL DEFAULT 0 CHECK (stock >= 0),
    category    TEXT,
    created_at  TEXT   NOT NULL,
    updated_at  TEXT   NOT NULL
);

CREATE INDEX products_category ON products (category);

-- The seed's four sample products, in a catalog created empty.
INSERT INTO products (name, description, price_cents, stock, category, created_at, updated_at)
SELECT name, description, price_cents, stock, 'Electronics', now_text, now_text
FROM (VALUES
        ('Laptop',   'High-performance laptop', 99999, 10),
        ('Mouse',    'Wireless optical mouse',   2999, 50),
        ('Keyboard', 'Mechanical keyboard',      7999, 30),
        ('Monitor',  '27-inch 4K monitor',      39999, 20)
     ) AS sample (name, description, price_cents, stock),
     (SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS now_text) AS clock;

-- Stock held for orders, keyed by the caller; 'released' rows are tombstones.
CREATE TABLE reservations (
    key        TEXT PRIMARY KEY,
    state      TEXT NOT NULL CHECK (state IN ('held', 'released')),
    items      TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

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
