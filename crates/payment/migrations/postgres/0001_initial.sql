-- Every payment attempt; `seq` orders them by arrival.
CREATE TABLE payments (
    seq          BIGSERIAL PRIMARY KEY,
    id           TEXT   NOT NULL UNIQUE,
    order_id     BIGINT NOT NULL,
    amount_cents BIGINT NOT NULL CHECK (amount_cents >= 0),
    status       TEXT   NOT NULL CHECK (status IN ('pending', 'success', 'failed')),
    created_at   TEXT   NOT NULL
);

CREATE INDEX payments_order ON payments (order_id, seq);
-- An order is charged at most once, whatever calls the service.
CREATE UNIQUE INDEX payments_one_success_per_order ON payments (order_id) WHERE status = 'success';

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
