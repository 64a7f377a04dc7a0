-- Every payment attempt, successful or not. `seq` orders them by arrival.
CREATE TABLE payments (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    id           TEXT    NOT NULL UNIQUE,
    order_id     INTEGER NOT NULL,
    amount_cents INTEGER NOT NULL CHECK (amount_cents >= 0),
    status       TEXT    NOT NULL CHECK (status IN ('pending', 'success', 'failed')),
    created_at   TEXT    NOT NULL
);

CREATE INDEX payments_order ON payments (order_id, seq);
