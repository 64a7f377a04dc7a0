-- Products and their stock. Money is integer cents; stock never negative.
CREATE TABLE products (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT    NOT NULL,
    description TEXT,
    price_cents INTEGER NOT NULL CHECK (price_cents >= 0),
    stock       INTEGER NOT NULL DEFAULT 0 CHECK (stock >= 0),
    category    TEXT,
    created_at  TEXT    NOT NULL,
    updated_at  TEXT    NOT NULL
);

CREATE INDEX products_category ON products (category);

-- The seed's four sample products, in a catalog created empty.
INSERT INTO products (name, description, price_cents, stock, category, created_at, updated_at) VALUES
    ('Laptop',   'High-performance laptop',    99999, 10, 'Electronics', strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    ('Mouse',    'Wireless optical mouse',      2999, 50, 'Electronics', strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    ('Keyboard', 'Mechanical keyboard',         7999, 30, 'Electronics', strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    ('Monitor',  '27-inch 4K monitor',         39999, 20, 'Electronics', strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), strftime('%Y-%m-%dT%H:%M:%fZ', 'now'));
