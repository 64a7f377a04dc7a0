-- One line per user and product; quantities always positive.
CREATE TABLE cart_items (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id    TEXT    NOT NULL,
    product_id INTEGER NOT NULL,
    quantity   INTEGER NOT NULL CHECK (quantity > 0),
    created_at TEXT    NOT NULL,
    UNIQUE (user_id, product_id)
);
