-- An order is charged at most once, whatever calls the service.
CREATE UNIQUE INDEX payments_one_success_per_order ON payments (order_id) WHERE status = 'success';

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
