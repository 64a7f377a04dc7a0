-- Refunds: a cancelled order that was paid gives its money back. At most
-- one refund per payment (the primary key), for its full amount, however
-- often or concurrently the order service asks.
CREATE TABLE refunds (
    payment_id   TEXT   NOT NULL PRIMARY KEY,
    id           TEXT   NOT NULL UNIQUE,
    order_id     BIGINT NOT NULL,
    amount_cents BIGINT NOT NULL CHECK (amount_cents >= 0),
    created_at   TEXT   NOT NULL
);
