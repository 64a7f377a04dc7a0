-- One line per user and product; quantities always positive.
CREATE TABLE cart_items (
    id         BIGSERIAL PRIMARY KEY,
    user_id    TEXT   NOT NULL,
    product_id BIGINT NOT NULL,
    quantity   BIGINT NOT NULL CHECK (quantity > 0),
    created_at TEXT   NOT NULL,
    UNIQUE (user_id, product_id)
);

-- Keys of the order removals already applied.
CREATE TABLE applied_removals (
    key        TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL,
    created_at TEXT NOT NULL
);
